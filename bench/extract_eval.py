"""Score search.extract against the HTML extraction benchmark, next to readability, trafilatura and GNE.

Usage:  python bench/extract_eval.py [--corpus DIR] [--sets cwced,gne,...] [--only ours] [--show-worst N]
                                     [--cache DIR] [--repeat N] [--ours-repo DIR] [--speed-vs DIR] [--ensemble]

Reads ../shared/corpus/html/index.jsonl (pages are gzip-compressed raw bytes) and reports per
set: mean body F1 (character-level LCS, whitespace removed), title and date accuracy where the
reference has them, pages whose output holds U+FFFD or mojibake, and how list pages fared.
Every other extractor is fed the text as search.extract.decode_bytes decoded it (our charset
handling stays in front), so their numbers exclude charset errors.

Also reported: pages where ours is below 0.5 while an anchor (readability or trafilatura) is
above 0.9; bylines (author match where the reference has an author, and how many of all
author/source values we output are page furniture or markup); extraction speed of ours in
pages/s; for a set whose reference keeps related-news teaser lines (a headline closed by its date
or comment count), the F1 that returning exactly the article would score (the article-only
ceiling), and every extractor's F1 against that reference with its teaser lines removed.
``--ensemble`` also scores an agreement ensemble of ours, readability and trafilatura (per page
the output closest to the other two), as issue 12 suggests trying. ``--cache DIR`` keeps the
anchors' per-page output (they do not change while ours does), so that re-runs only time ours.
Bench-only dependencies: readability-lxml, trafilatura (+ lxml_html_clean), gne.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import re
import sys
import time
import unicodedata
from collections import defaultdict
from pathlib import Path


def _ours_repo() -> Path:
    # --ours-repo DIR imports search.extract from another checkout (a before/after speed check)
    if "--ours-repo" in sys.argv:
        return Path(sys.argv[sys.argv.index("--ours-repo") + 1]).resolve()
    return Path(__file__).resolve().parents[1]


sys.path.insert(0, str(_ours_repo()))

from search.errors import ExtractError  # noqa: E402
from search.extract import decode_bytes, extract_html, parse_datetime  # noqa: E402

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
_WS = re.compile(r"\s+")


def squeeze(text: str | None) -> str:
    """Remove all whitespace and NFKC-normalize, as the metric compares."""
    return _WS.sub("", unicodedata.normalize("NFKC", text or ""))


def lcs_len(a: str, b: str) -> int:
    """Return the LCS length of a and b (bit-parallel, Allison-Dix / Hyyrö)."""
    if not a or not b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    masks: dict[str, int] = {}
    for i, ch in enumerate(a):
        masks[ch] = masks.get(ch, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for ch in b:
        u = v & masks.get(ch, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - bin(v).count("1")


def f1(pred: str | None, gold: str | None) -> float:
    """Return character-level LCS F1 after removing whitespace."""
    p, g = squeeze(pred), squeeze(gold)
    if not p or not g:
        return 0.0
    n = lcs_len(p, g)
    if n == 0:
        return 0.0
    prec, rec = n / len(p), n / len(g)
    return 2 * prec * rec / (prec + rec)


_LATIN1_MOJI = re.compile(r"[ÃÂÅÆÇÐÑØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿ][\x80-\xbf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]")


def mojibake(text: str | None) -> bool:
    """Flag U+FFFD, Latin-1 mojibake, or UTF-8 bytes that were read as GBK."""
    if not text:
        return False
    if "\ufffd" in text or len(_LATIN1_MOJI.findall(text)) >= 3:
        return True
    han = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    if han < 20:
        return False
    try:
        again = text.encode("gb18030").decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return False
    # the GBK reading of UTF-8 bytes re-encodes to valid UTF-8 holding real Chinese
    return sum(1 for c in again if "\u4e00" <= c <= "\u9fff") >= han * 0.3


def day(dt) -> str | None:
    return dt.strftime("%Y-%m-%d") if dt else None


def gold_day(s: str | None) -> str | None:
    """Return YYYY-MM-DD when the reference time has a full date, else None (not scored)."""
    if not s or not isinstance(s, str):
        return None
    m = re.match(r"\s*((?:19|20)\d{2})[-/.年](\d{1,2})[-/.月](\d{1,2})", s)
    if not m:
        return None
    return f"{int(m.group(1)):04d}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"


def run_ours(data: bytes, url: str | None) -> dict:
    try:
        a = extract_html(data, url=url)
    except ExtractError as e:
        return {"error": str(e), "list": str(e).startswith("list page")}
    return {"title": a.title, "body": a.body, "date": day(a.published), "authors": list(a.authors),
            "source": a.source}


def run_trafilatura(data: bytes, url: str | None) -> dict:
    import trafilatura

    try:
        text, _enc = decode_bytes(data)
        doc = trafilatura.bare_extraction(text, url=url, with_metadata=True, include_comments=False)
    except Exception as e:  # noqa: BLE001 - a third-party crash counts as no output
        return {"error": repr(e)}
    if not doc:
        return {"error": "no output", "list": True}
    d = doc if isinstance(doc, dict) else doc.as_dict()
    dt = parse_datetime(d.get("date") or "")
    return {"title": d.get("title"), "body": d.get("text"), "date": day(dt)}


_BLOCKS = {"p", "div", "br", "li", "tr", "td", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
           "section", "article", "table", "dd", "dt"}


def html_to_text(fragment: str) -> str:
    """Return the text of an HTML fragment with a line break at each block element."""
    import lxml.html

    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    out: list[str] = []

    def walk(el) -> None:
        if isinstance(el.tag, str) and el.tag in _BLOCKS:
            out.append("\n")
        if el.text and isinstance(el.tag, str):
            out.append(el.text)
        for child in el:
            walk(child)
            if child.tail:
                out.append(child.tail)

    walk(root)
    return "\n".join(line.strip() for line in "".join(out).split("\n") if line.strip())


def run_readability(data: bytes, url: str | None) -> dict:
    from readability import Document

    try:
        text, _enc = decode_bytes(data)
        doc = Document(text, url=url)
        body = html_to_text(doc.summary(html_partial=True))
        title = doc.short_title()
    except Exception as e:  # noqa: BLE001
        return {"error": repr(e)}
    if not body:
        return {"error": "no output", "list": True}
    return {"title": title, "body": body}


_gne = None


def run_gne(data: bytes, url: str | None) -> dict:
    global _gne
    if _gne is None:
        from gne import GeneralNewsExtractor

        _gne = GeneralNewsExtractor()
    try:
        text, _enc = decode_bytes(data)
        d = _gne.extract(text)
    except Exception as e:  # noqa: BLE001
        return {"error": repr(e)}
    dt = parse_datetime(d.get("publish_time") or "")
    return {"title": d.get("title"), "body": d.get("content"), "date": day(dt)}


EXTRACTORS = {"ours": run_ours, "readability": run_readability, "trafilatura": run_trafilatura, "gne": run_gne}
ANCHORS = ("readability", "trafilatura")

# Byline values that are page furniture, not a person or a publisher: role and widget words,
# counters, markup. A value is furniture when it is one of these words, holds markup, or is
# mostly digits/punctuation.
_FURNITURE_WORDS = re.compile(
    r"^(?:责任编辑|責任編輯|编辑|編輯|责编|主编|记者|記者|本报记者|通讯员|通訊員|作者|来源|來源|稿源|出处|"
    r"已推荐|推荐|发布|發佈|发表|时间|時間|日期|浏览|瀏覽|点击|點擊|阅读|字号|打印|关闭|分享|评论|收藏|搜索|登录|注册|首页|"
    r"未知|佚名|匿名|本报|本站|本网|原创|转载|网友|admin|administrator)$", re.I)
_MARKUP = re.compile(r"[<>=\"{}]|&[a-z]+;|\b(?:size|color|style|class|href|font)\b", re.I)


def is_furniture(value: str) -> bool:
    """Return True when a byline value is furniture or markup, not a name."""
    v = squeeze(value)
    if not v:
        return True
    if _FURNITURE_WORDS.match(v) or _MARKUP.search(v):
        return True
    if re.search(r"(?:编辑|編輯|记者|記者|来源|來源|时间|時間|推荐)[:：]?$", v):
        return True  # a role label glued to nothing ("责任编辑：" cut short)
    letters = sum(ch.isalpha() for ch in v)
    return letters * 2 < len(v)


_NAME_SPLIT = re.compile(r"[\s、,，;；/]+")


def _name_key(text: str) -> str:
    return squeeze(text).strip("()（）[]【】")


def author_match(expected: str, authors: list[str], source: str | None) -> bool:
    """Return True when every name of the expected byline is one of our author/source values."""
    want = [_name_key(x) for x in _NAME_SPLIT.split(expected or "") if x.strip()]
    have = {_name_key(x) for x in [*authors, source or ""] if x}
    return bool(want) and all(w in have for w in want)


# A teaser line of a related-news list: a headline closed by its date or its comment count
# ("国泰君安暂停融券券源供给 2015/07/03", "证监会怒了！ 评论5463条").
_TEASER_RE = re.compile(r"(?:(?:19|20)\d{2}[/-]\d{1,2}[/-]\d{1,2}|评论\d+条)\s*$")


def article_only(ref: str) -> str:
    """Return the reference without its related-news teaser lines."""
    return "\n".join(line for line in ref.split("\n") if not _TEASER_RE.search(line))


def article_only_ceiling(rows: list[dict]) -> dict[str, tuple[float, float]]:
    """Per set: the share of reference characters on teaser lines and the F1 a perfect article-only extractor gets."""
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        ref = (r.get("expected") or {}).get("body")
        if not ref:
            continue
        kept = article_only(ref)
        out[r["set"]].append((1 - len(squeeze(kept)) / max(len(squeeze(ref)), 1), f1(kept, ref)))
    return {k: (sum(a for a, _ in v) / len(v), sum(b for _, b in v) / len(v)) for k, v in out.items()}


def print_article_only(set_name: str, rows: list[dict], names: list[str], bodies: dict) -> None:
    """Print each extractor's F1 against the set's reference with its teaser lines removed."""
    scores: dict[str, list[float]] = defaultdict(list)
    beaten = 0
    for r in rows:
        ref = (r.get("expected") or {}).get("body")
        if r["set"] != set_name or not ref or r["page_id"] not in bodies:
            continue
        kept = article_only(ref)
        page = {n: f1(bodies[r["page_id"]].get(n), kept) for n in names}
        for n, v in page.items():
            scores[n].append(v)
        if "ours" in page and any(page.get(a, 0.0) > page["ours"] + 0.001 for a in ANCHORS):
            beaten += 1
    print(f"{set_name} against the reference without its teaser lines: "
          + ", ".join(f"{n} {sum(v) / len(v):.3f}" for n, v in scores.items() if v)
          + (f"; pages where an anchor beats ours there: {beaten}" if "ours" in scores else ""))


def print_ensemble(rows: list[dict], bodies: dict) -> None:
    """Print per set the F1 of an agreement ensemble: per page, the output closest to the other two."""
    # the "runs more than one method and picks by agreement", scored here before anyone
    # pays for running three extractors per page at ingest
    picks: dict[str, list[float]] = defaultdict(list)
    picks_article: dict[str, list[float]] = defaultdict(list)
    chosen: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    names = ("ours", *ANCHORS)
    for r in rows:
        ref = (r.get("expected") or {}).get("body")
        got = bodies.get(r["page_id"])
        if not ref or not got:
            continue
        agree = {n: sum(f1(got.get(n), got.get(m)) for m in names if m != n) for n in names}
        best = max(names, key=lambda n: (agree[n], n == "ours"))
        picks[r["set"]].append(f1(got.get(best), ref))
        picks_article[r["set"]].append(f1(got.get(best), article_only(ref)))
        chosen[r["set"]][best] += 1
    for set_name, v in sorted(picks.items()):
        w = picks_article[set_name]
        print(f"ensemble by agreement, {set_name}: body F1 {sum(v) / len(v):.4f}"
              + (f", {sum(w) / len(w):.3f} against the reference without its teaser lines" if w != v else "")
              + " (picked " + ", ".join(f"{n} {k}" for n, k in sorted(chosen[set_name].items())) + ")")


def _cache_path(cache: Path | None, name: str) -> Path | None:
    return cache / f"{name}.jsonl" if cache else None


def _load_cache(path: Path | None) -> dict:
    if not path or not path.exists():
        return {}
    out = {}
    for line in path.open(encoding="utf-8"):
        rec = json.loads(line)
        out[rec.pop("_page")] = rec
    return out


def speed_vs(repo: Path, html_dir: Path, rows: list[dict], passes: int) -> int:
    """Time our extract_html and another checkout's, alternating per page; print CPU pages/s of both."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "search_baseline", repo / "search" / "__init__.py", submodule_search_locations=[str(repo / "search")])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules["search_baseline"] = pkg
    spec.loader.exec_module(pkg)
    base = importlib.import_module("search_baseline.extract")
    fns = {"baseline": base.extract_html, "ours": extract_html}
    pages = [gzip.open(html_dir / r["file"], "rb").read() for r in rows]
    cpu = {k: 0.0 for k in fns}
    for i in range(passes):
        for data in pages:
            order = list(fns) if i % 2 == 0 else list(fns)[::-1]
            for k in order:
                c0 = time.process_time()
                try:
                    fns[k](data)
                except Exception:  # noqa: BLE001 - rejected pages cost time too
                    pass
                cpu[k] += time.process_time() - c0
    n = len(pages) * passes
    print(f"speed over {n} page extractions each, interleaved: baseline {n / cpu['baseline']:.1f}, "
          f"ours {n / cpu['ours']:.1f} pages per CPU-second; ours/baseline = {cpu['baseline'] / cpu['ours']:.3f}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--sets", default="")
    ap.add_argument("--only", default="", help="comma list of extractors (ours,trafilatura,gne)")
    ap.add_argument("--show-worst", type=int, default=0, help="print the N worst body F1 pages of ours per set")
    ap.add_argument("--json", type=Path, help="also write per-page results here")
    ap.add_argument("--cache", type=Path, help="keep/reuse the other extractors' per-page output in this folder")
    ap.add_argument("--repeat", type=int, default=1, help="time ours over N passes (pages/s is the best pass)")
    ap.add_argument("--ours-repo", type=Path, help="import search.extract from this checkout instead (speed before/after)")
    ap.add_argument("--ensemble", action="store_true", help="also score an agreement ensemble of ours, readability "
                    "and trafilatura (per page the output closest to the other two)")
    ap.add_argument("--speed-vs", type=Path, help="only time ours against the search/ of this checkout, page by page "
                    "interleaved in one process (fair on a loaded machine), and exit")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    html_dir = args.corpus / "html"
    index = html_dir / "index.jsonl"
    if not index.exists():
        print(f"corpus not found: {index}", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in index.open(encoding="utf-8")]
    if args.sets:
        keep = set(args.sets.split(","))
        rows = [r for r in rows if r["set"] in keep]
    if args.speed_vs:
        return speed_vs(args.speed_vs, html_dir, rows, max(args.repeat, 1))
    names = [n for n in EXTRACTORS if not args.only or n in args.only.split(",")]
    stats: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    per_page = []
    secs = defaultdict(float)
    caches = {n: _load_cache(_cache_path(args.cache, n)) for n in names if n != "ours"}
    fresh: dict[str, list] = defaultdict(list)
    pages = [(r, gzip.open(html_dir / r["file"], "rb").read()) for r in rows]
    ours_passes, ours_cpu = [], []
    if "ours" in names:
        for _ in range(max(args.repeat, 1)):
            t0, c0 = time.perf_counter(), time.process_time()
            ours_out = [run_ours(data, r.get("url")) for r, data in pages]
            ours_passes.append(time.perf_counter() - t0)
            ours_cpu.append(time.process_time() - c0)
        secs["ours"] = min(ours_passes)
    f1_of: dict = defaultdict(dict)
    bodies: dict = defaultdict(dict)  # page -> extractor -> body, for the teaser and ensemble figures
    byl = {"expected": 0, "matched": 0, "values": 0, "furniture": 0, "furniture_examples": []}
    for pi, (r, data) in enumerate(pages):
        exp = r.get("expected") or {}
        is_list = "list" in (r.get("expected_kind") or "")
        for name in names:
            if name == "ours":
                out = ours_out[pi]
            elif r["page_id"] in caches[name]:
                out = caches[name][r["page_id"]]
            else:
                t0 = time.perf_counter()
                out = EXTRACTORS[name](data, r.get("url"))
                secs[name] += time.perf_counter() - t0
                fresh[name].append({"_page": r["page_id"], **out})
            s = stats[r["set"]][name]
            rec = {"page": r["page_id"], "extractor": name, **{k: v for k, v in out.items() if k != "body"}}
            if is_list:
                s["list_rejected"].append(1.0 if "error" in out else 0.0)
                per_page.append(rec)
                continue
            s["rejected"].append(1.0 if "error" in out else 0.0)
            if exp.get("body"):
                rec["f1"] = f1(out.get("body"), exp["body"])
                bodies[r["page_id"]][name] = out.get("body") or ""
                s["f1"].append(rec["f1"])
                f1_of[r["page_id"]][name] = rec["f1"]
            if name == "ours":
                values = [*(out.get("authors") or []), *([out["source"]] if out.get("source") else [])]
                byl["values"] += len(values)
                for v in values:
                    if is_furniture(v):
                        byl["furniture"] += 1
                        byl["furniture_examples"].append(f"{r['page_id']}: {v!r}")
                if exp.get("author") and is_furniture(exp["author"]):
                    # the reference itself holds furniture ("未知", GNE's "搜索"): no byline is expected
                    byl.setdefault("furniture_refs", []).append(f"{r['page_id']}: {exp['author']!r}")
                elif exp.get("author"):
                    byl["expected"] += 1
                    ok = author_match(exp["author"], out.get("authors") or [], out.get("source"))
                    byl["matched"] += ok
                    rec["author_ok"] = ok
                    if not ok:
                        byl.setdefault("misses", []).append(
                            f"{r['page_id']}: want {exp['author']!r} got {out.get('authors')} / {out.get('source')!r}")
            if exp.get("title"):
                s["title"].append(1.0 if squeeze(out.get("title")) == squeeze(exp["title"]) else 0.0)
            gd = gold_day(exp.get("publish_time"))
            if gd:
                s["date"].append(1.0 if out.get("date") == gd else 0.0)
            s["moji"].append(1.0 if mojibake(out.get("body")) or mojibake(out.get("title")) else 0.0)
            per_page.append(rec)
    for name, recs in fresh.items():
        path = _cache_path(args.cache, name)
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.writelines(json.dumps(x, ensure_ascii=False) + "\n" for x in recs)
    print(f"pages: {len(rows)}; seconds per extractor (this run, cached ones excluded): "
          + ", ".join(f"{n} {secs[n]:.1f}" for n in names))
    if "ours" in names:
        # CPU seconds of this process: on a shared, loaded machine wall time mostly measures the others
        print(f"ours: {len(pages) / min(ours_cpu):.1f} pages per CPU-second, {len(pages) / secs['ours']:.1f} pages/s wall "
              f"(best of {len(ours_passes)} passes; CPU " + ", ".join(f"{t:.2f}" for t in ours_cpu)
              + " s; wall " + ", ".join(f"{t:.2f}" for t in ours_passes) + " s)")
    header = "| set | extractor | pages | body F1 (n) | title acc (n) | date acc (n) | mojibake pages | rejected articles | list pages rejected |"
    print(header)
    print("|" + "---|" * 9)
    for set_name in sorted(stats, key=lambda s: (s != "cwced", s)):
        for name in names:
            s = stats[set_name][name]

            def fmt(xs: list[float], pct: bool = True) -> str:
                if not xs:
                    return "–"
                m = sum(xs) / len(xs)
                return (f"{100 * m:.1f} %" if pct else f"{m:.3f}") + f" ({len(xs)})"

            n_pages = len(s["rejected"]) + len(s["list_rejected"])
            print(
                f"| {set_name} | {name} | {n_pages} | {fmt(s['f1'], False)} | {fmt(s['title'])} | {fmt(s['date'])} "
                f"| {int(sum(s['moji']))} | {int(sum(s['rejected']))} | "
                f"{int(sum(s['list_rejected']))}/{len(s['list_rejected'])} |"
            )
    for set_name, (share, ceiling) in sorted(article_only_ceiling(rows).items()):
        if share >= 0.005:
            # the reference keeps related-news teasers: an extractor that returns exactly the
            # article (and no teaser) scores this, whatever its method
            print(f"{set_name}: reference teaser lines {100 * share:.1f} % of its characters; "
                  f"article-only ceiling body F1 {ceiling:.3f}")
            print_article_only(set_name, rows, names, bodies)
    if args.ensemble and all(n in names for n in ("ours", *ANCHORS)):
        print_ensemble(rows, bodies)
    for name in names:
        pooled = {k: [x for st in stats.values() for x in st[name][k]] for k in ("title", "date")}
        print(f"{name} over all sets: " + "; ".join(
            f"{k} acc {sum(v):.0f}/{len(v)} = {sum(v) / len(v):.3f}" for k, v in pooled.items() if v))
    if "ours" in names:
        low = [(p, d) for p, d in f1_of.items() if d.get("ours", 1.0) < 0.5 and max(d.get(a, 0.0) for a in ANCHORS) > 0.9]
        print(f"pages with ours < 0.5 where an anchor > 0.9: {len(low)}")
        for p, d in sorted(low):
            print(f"  low {p} " + " ".join(f"{k}={v:.3f}" for k, v in d.items()))
        if byl["expected"]:
            print(f"bylines: author match {byl['matched']}/{byl['expected']} = {byl['matched'] / byl['expected']:.3f}; "
                  f"furniture values {byl['furniture']} of {byl['values']} author/source values; "
                  f"{len(byl.get('furniture_refs', []))} references that are furniture themselves not scored: "
                  + ", ".join(byl.get("furniture_refs", [])))
        for line in byl["furniture_examples"][: args.show_worst or 0]:
            print(f"  furniture {line}")
        for line in byl.get("misses", [])[: args.show_worst * 10 if args.show_worst else 0]:
            print(f"  author miss {line}")
    if args.show_worst:
        for set_name in sorted(stats):
            ours = [p for p in per_page if p["extractor"] == "ours" and p["page"].startswith(set_name + "/") and "f1" in p]
            for p in sorted(ours, key=lambda p: p["f1"])[: args.show_worst]:
                print(f"worst {p['page']} f1={p['f1']:.3f} {p.get('error', '')} title={p.get('title')!r}")
    if args.json:
        args.json.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in per_page) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
