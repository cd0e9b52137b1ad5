"""Quoted half-titles as known items: does the article whose title was cut come first?

    python bench/phrase_known_items.py --index IX [--n 300] [--seed 7] [--corpus FILE]

For ``--n`` random articles of the corpus whose title starts with 4+ Han characters, the first
half of that run (at least 2 characters) is sent quoted through ``SearchEngine.search``; the
rank of the article (or of a hit with the same title: collapse shows one copy per story) among
the first 10 gives s@1 and MRR@10. This measures how a phrase's holders are ranked (they are
the same set whatever the ranking). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from search import SearchEngine, SearchRequest  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "news_articles.jsonl.gz"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--corpus", default=str(CORPUS))
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    with gzip.open(args.corpus, "rt", encoding="utf-8") as f:
        arts = [json.loads(line) for line in f]
    pick = random.Random(args.seed).sample(arts, min(len(arts), args.n * 2))
    eng = SearchEngine(args.index)
    rr = s1 = done = 0.0
    t0 = time.perf_counter()
    for a in pick:
        title = re.sub(r"\s+", "", a.get("title") or "")
        m = re.match(r"[\u4e00-\u9fff]{4,}", title)
        if not m:
            continue
        run = m.group(0)
        page = eng.search(SearchRequest(q='"' + run[: max(2, len(run) // 2)] + '"', size=10))
        ids = [h.id for h in page.hits]
        titles = [re.sub(r"\s+", "", h.title or "") for h in page.hits]
        rank = ids.index(a["id"]) + 1 if a["id"] in ids else (titles.index(title) + 1 if title in titles else 0)
        rr += 1 / rank if rank else 0
        s1 += rank == 1
        done += 1
        if done >= args.n:
            break
    print(json.dumps({"index": args.index, "queries": int(done), "s@1": round(s1 / done, 4),
                      "mrr@10": round(rr / done, 4), "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
