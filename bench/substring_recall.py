"""Every quoted run finds every article that holds it: random needles against a plain scan.

Usage:
  python bench/substring_recall.py --index IX --corpus FILE.jsonl.gz [--needles 200] [--seed 7]
      [--min-len 2] [--max-len 6] [--json out.json]

Needles are runs of 2–6 characters cut at random out of random articles of the corpus (from a
random position of the title or body; runs that cross whitespace or clause punctuation are cut
again). A share of them are Han mixed with digits or Latin letters where the article has such a
run. Each needle is sent quoted through the public API (``SearchEngine.search``), and the
articles returned are compared with two scans of every article of the corpus:

* ``folded``: the needle's folded, squashed form (what the index promises: either script,
  full-/half-width, spaces and quotes ignored) is a substring of the title's or the body's;
* ``raw``: the needle as cut is a plain substring of the stored title or body (what ``grep``
  on the published text gives).

Recall and precision are over articles (micro-averaged), per needle set, against both scans;
"complete" counts needles whose every holder came back. Articles are matched by id; the ids of
the corpus must be those of the index (the index built from the same file). Needles with more
than ``--max-holders`` holders are compared by count only (the API serves 1,000 results).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search import SearchEngine, SearchRequest  # noqa: E402
from search.chars import units  # noqa: E402
from search.errors import BadQuery  # noqa: E402
from search.normalize import fold_text  # noqa: E402

_CUT = re.compile(r"[\s,.;:!?。、，．！？；：“”\"'()（）《》【】\[\]]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_MIXED = re.compile(r"[\u4e00-\u9fff][0-9A-Za-z]|[0-9A-Za-z][\u4e00-\u9fff]")


def read_corpus(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def cut_needle(rng: random.Random, text: str, lo: int, hi: int, mixed: bool) -> str | None:
    """A run of lo..hi characters of ``text`` without whitespace or clause punctuation."""
    if len(text) < lo:
        return None
    if mixed:
        spots = [m.start() for m in _MIXED.finditer(text)]
        if not spots:
            return None
        start = max(0, rng.choice(spots) - rng.randrange(hi))
    else:
        start = rng.randrange(len(text) - lo + 1)
    n = rng.randint(lo, hi)
    piece = _CUT.split(text[start:start + n])[0]
    if len(piece) < lo or not _HAN.search(piece):
        return None
    if mixed and not _MIXED.search(piece):
        return None
    return piece


def make_needles(rng: random.Random, recs: list[dict], count: int, lo: int, hi: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    tries = 0
    while len(out) < count and tries < count * 200:
        tries += 1
        r = rng.choice(recs)
        mixed = len(out) % 4 == 3  # every fourth needle mixes Han with digits or letters
        text = r.get("title") or "" if rng.random() < 0.15 else r.get("body") or ""
        nd = cut_needle(rng, text, lo, hi, mixed)
        if nd and nd not in seen:
            seen.add(nd)
            out.append((nd, "mixed" if mixed else "han"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True)
    ap.add_argument("--corpus", required=True, type=Path)
    ap.add_argument("--needles", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--min-len", type=int, default=2)
    ap.add_argument("--max-len", type=int, default=6)
    ap.add_argument("--max-holders", type=int, default=1000)
    ap.add_argument("--names", type=int, default=0,
                    help="also: this many unquoted names cut from real titles (3+ content words): "
                         "P@10 and reported total against the articles holding every word")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    t = time.perf_counter()
    recs = read_corpus(args.corpus)
    # The corpus may hold an id twice (the index keeps the last copy).
    by_id = {r["id"]: r for r in recs}
    recs = list(by_id.values())
    ids = [r["id"] for r in recs]
    titles = [r.get("title") or "" for r in recs]
    bodies = [r.get("body") or "" for r in recs]
    ft = [units(fold_text(x)) for x in titles]
    fb = [units(fold_text(x)) for x in bodies]
    print(f"corpus: {len(recs)} articles read and folded in {time.perf_counter() - t:.0f} s", file=sys.stderr)

    rng = random.Random(args.seed)
    needles = make_needles(rng, recs, args.needles, args.min_len, args.max_len)
    eng = SearchEngine(args.index)
    eng.warm_up()
    rows = []
    for nd, kind in needles:
        u = units(fold_text(nd))
        folded = {ids[i] for i in range(len(recs)) if u in ft[i] or u in fb[i]}
        raw = {ids[i] for i in range(len(recs)) if nd in titles[i] or nd in bodies[i]}
        t0 = time.perf_counter()
        try:
            page = eng.search(SearchRequest(q=f'"{nd}"', size=100, collapse=False, facets=False, snippets=False))
        except BadQuery as e:
            rows.append({"needle": nd, "kind": kind, "refused": str(e), "folded": len(folded), "raw": len(raw)})
            continue
        ms = (time.perf_counter() - t0) * 1000
        got: set[str] | None = None
        if page.total <= args.max_holders:
            got = set()
            p = 1
            while True:
                got |= {h.id for h in page.hits}
                if len(got) >= page.total or p * 100 >= 1000:
                    break
                p += 1
                page = eng.search(SearchRequest(q=f'"{nd}"', size=100, page=p, collapse=False, facets=False,
                                                snippets=False))
        rows.append({"needle": nd, "kind": kind, "total": page.total, "folded": len(folded), "raw": len(raw),
                     "ms": ms,
                     "tp_folded": len(got & folded) if got is not None else min(page.total, len(folded)),
                     "tp_raw": len(got & raw) if got is not None else min(page.total, len(raw)),
                     "returned": len(got) if got is not None else page.total,
                     "missed": sorted(folded - got)[:5] if got is not None else []})
    refused = [r for r in rows if "refused" in r]
    done = [r for r in rows if "refused" not in r]

    def rates(key: str, sub: list[dict]) -> tuple[float, float, int]:
        tp = sum(r["tp_" + key] for r in sub)
        rel = sum(r[key] for r in sub)
        ret = sum(r["returned"] for r in sub)
        complete = sum(1 for r in sub if r["tp_" + key] == r[key])
        return (tp / rel if rel else 1.0), (tp / ret if ret else 1.0), complete

    print(f"needles: {len(rows)} ({sum(r['kind'] == 'mixed' for r in rows)} mixed), refused: {len(refused)}")
    print("| needles | scan | recall | precision | complete |")
    print("|---|---|---|---|---|")
    for name, sub in (("all", done), ("han", [r for r in done if r["kind"] == "han"]),
                      ("mixed", [r for r in done if r["kind"] == "mixed"])):
        for key in ("folded", "raw"):
            rc, pr, cm = rates(key, sub)
            print(f"| {name} ({len(sub)}) | {key} | {rc:.4f} | {pr:.4f} | {cm}/{len(sub)} |")
    ms = sorted(r["ms"] for r in done)
    if ms:
        print(f"latency (first page of 100, no snippets): p50 {statistics.median(ms):.1f} ms, "
              f"p95 {ms[int(0.95 * (len(ms) - 1))]:.1f} ms, max {ms[-1]:.1f} ms")
    for r in done:
        if r["tp_folded"] != r["folded"] or r["returned"] != r["tp_folded"]:
            print(f"  off: {r['needle']!r} holders {r['folded']} (raw {r['raw']}) returned {r['returned']}"
                  f" missed {r['missed']}", file=sys.stderr)
    if args.names:
        names(eng, recs, ids, ft, fb, rng, args.names)
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


def names(eng, recs, ids, ft, fb, rng, count: int) -> None:
    """Unquoted multi-word names cut from titles: P@10 of holders and total / holders."""
    from search.analysis import query_words
    from search.query import STOPWORDS

    pos = {d: i for i, d in enumerate(ids)}
    p10, ratios, rel = [], [], 0
    examples = ["国家发展和改革委员会", "习近平会见越南总理"]
    tried = 0
    out = []
    while len(out) < count + len(examples) and tried < count * 50:
        tried += 1
        if examples:
            q = examples.pop(0)
        else:
            words = query_words(rng.choice(recs).get("title") or "")
            idx = [i for i, w in enumerate(words) if w not in STOPWORDS and len(w) > 1]
            if len(idx) < 3:
                continue
            k = rng.randint(3, min(6, len(idx)))
            a = rng.randrange(len(idx) - k + 1)
            q = "".join(words[idx[a]: idx[a + k - 1] + 1])
        need = [units(fold_text(w)) for w in query_words(q) if w not in STOPWORDS and len(w) > 1]
        if len(need) < 3 or any(w.isascii() for w in need):
            continue
        holders = {ids[i] for i in range(len(ids)) if all(w in ft[i] or w in fb[i] for w in need)}
        page = eng.search(SearchRequest(q=q, size=10, collapse=False, facets=False, snippets=False))
        top = [h.id for h in page.hits]
        good = sum(1 for h in top if h in holders)
        k = min(10, len(holders))
        if k:  # of the first min(10, holders) hits, those holding every word (looser ones follow)
            p10.append(sum(1 for h in top[:k] if h in holders) / k)
        if holders:
            ratios.append(page.total / len(holders))
        rel += page.relaxed
        out.append((q, len(holders), page.total, page.total_relaxed, good, len(top)))
    print(f"names: {len(out)} (first two: the issue's examples)")
    print(f"  P@min(10, holders) (hits holding every content word) mean {statistics.mean(p10):.3f}; "
          f"reported total / holders: median {statistics.median(ratios):.3f}, max {max(ratios):.3f}; "
          f"{rel} with looser matches after the strict ones")
    for q, h, t, tr, g, n in out[:6]:
        print(f"  {q}: holders {h}, total {t} (+{tr} looser), top {n}: {g} hold every word")
    pos.clear()


if __name__ == "__main__":
    raise SystemExit(main())
