"""The reader's and operator's first hour (issue 13), measured: how long `xunwen search` takes
from the shell on a small index, what gzip saves on the page, how fast an export streams, and
what the first pinyin query costs.

    python bench/first_hour.py --index /tmp/xw-sample [--runs 10]

Builds the index from the bundled sample if it does not exist. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine  # noqa: E402


def shell_search(index: Path, query: str, runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of `python -m search.cli search QUERY`, a new process
    each run. On a shared machine the CPU time is what the command would take alone."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "search.cli", "search", query, "--index", str(index),
                            "--size", "10"], cwd=ROOT, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        assert r.returncode == 0, r.stderr
    return walls, cpus


_BREAKDOWN = """
import resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
out = []
c = cpu(); import search.engine as E; out.append(("import search.engine (whoosh, numpy, rjieba)", cpu() - c))
c = cpu(); from search import region; region._load(); out.append(("gazetteer: load and compile the matcher", cpu() - c))
c = cpu(); from search.analysis import ensure_dictionary; ensure_dictionary(); out.append(("jieba user dictionary (rest)", cpu() - c))
e = E.SearchEngine(sys.argv[1])
c = cpu(); view = e._view(); snap, s = view.__enter__(); e._columns(snap, s); e._postings(snap, s); out.append(("open the index, columns", cpu() - c))
c = cpu(); e._lexicon(snap, s); out.append(("Lexicon (every indexed word by character)", cpu() - c))
from search import SearchRequest
c = cpu(); e.search(SearchRequest(q="监督")); out.append(("the search itself", cpu() - c))
for name, secs in out:
    print(f"| {name} | {secs:.2f} |")
"""


def breakdown(index: Path) -> str:
    """CPU seconds of each stage of a one-shot search, in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", _BREAKDOWN, str(index)], cwd=ROOT, env=env,
                       capture_output=True, text=True, check=True)
    return r.stdout


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
    print("| `xunwen search` from the shell | wall median s | wall min s | CPU median s | CPU min s | runs |")
    print("|---|---:|---:|---:|---:|---:|")
    for q in ("监督", "jiandu", "发改委"):
        walls, cpus = shell_search(args.index, q, args.runs)
        print(f"| `{q}` | {statistics.median(walls):.2f} | {min(walls):.2f} | {statistics.median(cpus):.2f} "
              f"| {min(cpus):.2f} | {len(walls)} |")

    print()
    print("| stage of one `xunwen search 监督` (fresh process) | CPU s |")
    print("|---|---:|")
    print(breakdown(args.index), end="")

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

    from search import SearchEngine, SearchRequest

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
