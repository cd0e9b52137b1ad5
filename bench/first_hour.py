"""The reader's and operator's first hour (issue 13), measured: how long `xunwen search` takes
from the shell on a small index, what gzip saves on the page, how fast an export streams, and
what the first pinyin query costs.

    python bench/first_hour.py --index /tmp/xw-sample [--runs 10]

Builds the index from the bundled sample if it does not exist. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine  # noqa: E402


def shell_search(index: Path, query: str, runs: int) -> list[float]:
    """Wall time of `python -m search.cli search QUERY` (a new process each run), seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "search.cli", "search", query, "--index", str(index),
                            "--size", "10"], cwd=ROOT, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        assert r.returncode == 0, r.stderr
    return times


def main() -> None:
    """Run the measurements and print them."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    from search.indexer import reindex

    if not args.index.exists():
        reindex([], args.index, rebuild=True, procs=1)
    print(f"machine: {machine()}; load average at start: {os.getloadavg()}")
    print()
    print("| measure | median | min | max | runs |")
    print("|---|---:|---:|---:|---:|")
    for q in ("监督", "jiandu", "发改委"):
        ts = shell_search(args.index, q, args.runs)
        print(f"| `xunwen search {q}` from the shell (s) | {statistics.median(ts):.2f} | {min(ts):.2f} "
              f"| {max(ts):.2f} | {len(ts)} |")

    from web import create_app

    app = create_app({"INDEX_DIR": str(args.index), "TESTING": True})
    client = app.test_client()
    print()
    print("| response | bytes | gzip bytes | saved |")
    print("|---|---:|---:|---:|")
    for url in ("/?q=监督", "/api/search?q=监督", "/feed.xml?q=监督", "/api/search.csv?q=监督"):
        plain = len(client.get(url).get_data())
        zipped = len(client.get(url, headers={"Accept-Encoding": "gzip"}).get_data())
        print(f"| `{url}` | {plain:,} | {zipped:,} | {100 * (1 - zipped / plain):.0f} % |")

    print()
    print("| export | rows | seconds | rows/s |")
    print("|---|---:|---:|---:|")
    for url in ("/api/search.csv?q=的", "/api/export?q=的&format=jsonl", "/api/search.csv?collapse=false"):
        t = time.perf_counter()
        data = client.get(url).get_data()
        secs = time.perf_counter() - t
        rows = data.count(b"\n") - (1 if "csv" in url and "jsonl" not in url else 0)
        print(f"| `{url}` | {rows:,} | {secs:.2f} | {rows / secs:,.0f} |")

    from search import SearchRequest, SearchEngine

    eng = SearchEngine(str(args.index))
    eng.warm_up()
    print()
    print("| in-process query (warm engine) | ms |")
    print("|---|---:|")
    for q in ("gongxian", "gongxian", "jiandu", "监督", "发改委", "监肚"):
        t = time.perf_counter()
        eng.search(SearchRequest(q=q))
        print(f"| search `{q}` | {1000 * (time.perf_counter() - t):.0f} |")
    for p in ("监", "gong", "发改"):
        t = time.perf_counter()
        eng.suggest(p)
        print(f"| suggest `{p}` | {1000 * (time.perf_counter() - t):.0f} |")
    t = time.perf_counter()
    eng.did_you_mean("监肚")
    print(f"| did you mean `监肚` | {1000 * (time.perf_counter() - t):.0f} |")
    print()
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
