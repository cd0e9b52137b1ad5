"""CPU of compiling the committed keyword queries, full scoring vs. strict matches only.

    python bench/compile_cost.py --index IX [--rounds 3]

Warms every query once, then times ``query.compile_query`` (CPU, per query) with full scoring
and with ``within=live, min_strict=10`` (the engine's strict-only scoring), alternated, over
``--rounds`` passes of bench/queries.txt. Prints p50/p95/mean per mode.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from common import read_queries  # noqa: E402
from search import SearchEngine, budget  # noqa: E402
from search.query import compile_query, parse_query  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    eng = SearchEngine(args.index)
    queries = read_queries()
    times: dict[str, list[float]] = {"full": [], "strict only": []}
    with budget.scope(3600), eng._view() as (snap, s):
        lex, post, chars = eng._lexicon(snap, s), eng._postings(snap, s), eng._chars(snap, s)
        modes = {"full": (eng.params,), "strict only": (eng.params, post.live, 10)}
        for q in queries:  # warm: postings, tables, character answers
            for extra in modes.values():
                compile_query(parse_query(q), s, lex, post, chars, *extra)
        for _ in range(args.rounds):
            for q in queries:
                for name, extra in modes.items():
                    t = time.process_time()
                    compile_query(parse_query(q), s, lex, post, chars, *extra)
                    times[name].append((time.process_time() - t) * 1000)
    for name, v in times.items():
        a = np.array(v)
        print(f"{name}: compile CPU ms p50 {np.percentile(a, 50):.2f} p95 {np.percentile(a, 95):.2f} "
              f"mean {a.mean():.2f} ({len(a)} compiles)")
    eng.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
