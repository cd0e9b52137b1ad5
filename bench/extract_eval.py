"""Score search.extract against the HTML extraction benchmark, next to trafilatura and GNE.

Usage:  python bench/extract_eval.py [--corpus DIR] [--sets cwced,gne,...] [--only ours] [--show-worst N]

Reads ../shared/corpus/html/index.jsonl (pages are gzip-compressed raw bytes) and reports per
set: mean body F1 (character-level LCS, whitespace removed), title and date accuracy where the
reference has them, pages whose output holds U+FFFD or mojibake, and how list pages fared.
trafilatura gets the raw bytes (its own charset handling); GNE needs a str and gets the text
as search.extract.decode_bytes decoded it, so GNE's numbers exclude charset errors.
Bench-only dependencies: trafilatura (+ lxml_html_clean), gne.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
    return {"title": a.title, "body": a.body, "date": day(a.published)}


def run_trafilatura(data: bytes, url: str | None) -> dict:
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(data, url=url, with_metadata=True, include_comments=False)
    except Exception as e:  # noqa: BLE001 - a third-party crash counts as no output
        return {"error": repr(e)}
    if not doc:
        return {"error": "no output", "list": True}
    d = doc if isinstance(doc, dict) else doc.as_dict()
    dt = parse_datetime(d.get("date") or "")
    return {"title": d.get("title"), "body": d.get("text"), "date": day(dt)}


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


EXTRACTORS = {"ours": run_ours, "trafilatura": run_trafilatura, "gne": run_gne}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--sets", default="")
    ap.add_argument("--only", default="", help="comma list of extractors (ours,trafilatura,gne)")
    ap.add_argument("--show-worst", type=int, default=0, help="print the N worst body F1 pages of ours per set")
    ap.add_argument("--json", type=Path, help="also write per-page results here")
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
    names = [n for n in EXTRACTORS if not args.only or n in args.only.split(",")]
    stats: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    per_page = []
    secs = defaultdict(float)
    for r in rows:
        data = gzip.open(html_dir / r["file"], "rb").read()
        exp = r.get("expected") or {}
        is_list = "list" in (r.get("expected_kind") or "")
        for name in names:
            t0 = time.perf_counter()
            out = EXTRACTORS[name](data, r.get("url"))
            secs[name] += time.perf_counter() - t0
            s = stats[r["set"]][name]
            rec = {"page": r["page_id"], "extractor": name, **{k: v for k, v in out.items() if k != "body"}}
            if is_list:
                s["list_rejected"].append(1.0 if "error" in out else 0.0)
                per_page.append(rec)
                continue
            s["rejected"].append(1.0 if "error" in out else 0.0)
            if exp.get("body"):
                rec["f1"] = f1(out.get("body"), exp["body"])
                s["f1"].append(rec["f1"])
            if exp.get("title"):
                s["title"].append(1.0 if squeeze(out.get("title")) == squeeze(exp["title"]) else 0.0)
            gd = gold_day(exp.get("publish_time"))
            if gd:
                s["date"].append(1.0 if out.get("date") == gd else 0.0)
            s["moji"].append(1.0 if mojibake(out.get("body")) or mojibake(out.get("title")) else 0.0)
            per_page.append(rec)
    print(f"pages: {len(rows)}; seconds per extractor: " + ", ".join(f"{n} {secs[n]:.1f}" for n in names))
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
