"""Ingest benchmark: our pipeline vs. the naive Whoosh+jieba recipe vs. tantivy fed jieba tokens.

All pipelines read the same plain JSON-lines slice (the first N records of the shared corpus,
written once to bench/out/) so that reading and JSON parsing are in every figure. Each pipeline
runs in a fresh child process, so jieba start-up is counted and the peak RSS is its own:

* ``ours``    — ``search.indexer.reindex([slice], dir, rebuild=True, procs=2)`` (both cores);
* ``naive``   — Whoosh's default writer, ``jieba.analyse.ChineseAnalyzer``, title+body stored;
* ``tantivy`` — tantivy (1 indexing thread) fed jieba ``cut_for_search`` tokens, title+body stored.

Peak RSS is ``ru_maxrss`` of the child itself; for ``ours`` the largest worker's peak is
reported too (workers are separate processes, so the sum is an upper bound of the total).

    python bench/ingest.py --limit 20000                 # all three
    python bench/ingest.py --limit 0 --only ours --only tantivy   # the full corpus (72,534)
    python bench/ingest.py --limit 20000 --keep bench/out/ix       # keep the indexes for query_latency.py
    python bench/ingest.py --limit 5000 --only ours --ours-repo /tmp/before   # another checkout's indexer
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ARTICLES, OUT_DIR, REPO, dir_size, fresh_dir, iter_articles, machine, write_jsonl  # noqa: E402

PIPELINES = ("ours", "naive", "tantivy")


def slice_path(limit: int) -> Path:
    """Return (writing it once) a plain .jsonl file with the first ``limit`` records (0 = all)."""
    name = f"slice-{limit or 'all'}.jsonl"
    path = OUT_DIR / name
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        write_jsonl(iter_articles(limit or None, ARTICLES), tmp)
        tmp.replace(path)
    return path


def index_dir_for(root: Path, pipeline: str, limit: int) -> Path:
    """Return the conventional index directory of a pipeline (shared with query_latency.py)."""
    return root / f"{pipeline}-{limit or 'all'}"


def _iter_slice(path: Path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def worker(pipeline: str, src: Path, index_dir: Path, procs: int) -> dict:
    """Build one index in this (fresh) process and return the measurements."""
    t0 = time.perf_counter()
    extra: dict = {}
    if pipeline == "naive":
        from common import naive_build

        n = naive_build(_iter_slice(src), index_dir)
        read = n
    elif pipeline == "tantivy":
        from common import tantivy_build

        n = tantivy_build(_iter_slice(src), index_dir)
        read = n
    elif pipeline == "ours":
        from search.indexer import reindex

        if index_dir.exists():
            import shutil

            shutil.rmtree(index_dir)
        summary = reindex([src], index_dir, rebuild=True, procs=procs, progress=False)
        d = summary.to_dict() if hasattr(summary, "to_dict") else dict(summary)
        extra["summary"] = {k: v for k, v in d.items()
                            if isinstance(v, (int, float, str, dict, type(None)))}
        n = int(d.get("indexed", 0))
        read = int(d.get("read", n))
    else:
        raise ValueError(pipeline)
    seconds = time.perf_counter() - t0
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_kb, child_kb = me.ru_maxrss, kids.ru_maxrss
    # CPU seconds of the whole pipeline (workers included): robust to a busy machine,
    # where wall-clock rates of a 2-process pipeline are not.
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    return {
        "pipeline": pipeline, "read": read, "indexed": n, "seconds": round(seconds, 2),
        "rate": round(read / seconds, 1) if seconds else None,
        "cpu_seconds": round(cpu, 2), "load_avg_1m_end": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(self_kb / 1024, 1),
        "peak_rss_worker_mb": round(child_kb / 1024, 1),
        "index_bytes": dir_size(index_dir), **extra,
    }


def run_child(pipeline: str, src: Path, index_dir: Path, procs: int, repo: Path = REPO) -> dict:
    """Run one pipeline in a fresh interpreter (``search`` imported from ``repo``); return its JSON result."""
    cmd = [sys.executable, __file__, "--_worker", pipeline, "--_src", str(src),
           "--_index", str(index_dir), "--procs", str(procs)]
    env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(REPO))
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return {"pipeline": pipeline, "error": (p.stderr or p.stdout).strip()[-2000:]}
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["wall_seconds_incl_startup"] = round(wall, 2)
    return res


def table(results: list[dict], n: int) -> str:
    """Format results as a markdown table."""
    rows = ["| pipeline | articles | seconds | articles/s | CPU s | articles/CPU-s | peak RSS (main / largest worker) | index size |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['pipeline']} | failed: {r['error'].splitlines()[-1][:80]} | | | | | | |")
            continue
        rss = f"{r['peak_rss_mb']:,.0f} MiB"
        if r["pipeline"] == "ours":
            rss += f" / {r['peak_rss_worker_mb']:,.0f} MiB"
        rows.append(f"| {r['pipeline']} | {r['read']:,} | {r['seconds']:,.1f} | {r['rate']:,.0f} | "
                    f"{r['cpu_seconds']:,.0f} | {r['read'] / r['cpu_seconds']:,.0f} | "
                    f"{rss} | {r['index_bytes'] / 2**20:,.0f} MiB |")
    return "\n".join(rows)


def main(argv=None) -> int:
    """Run the requested pipelines and print a table (JSON in bench/out/)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=20_000, help="first N articles (0 = all 72,534)")
    ap.add_argument("--only", action="append", choices=PIPELINES,
                    help="run only this pipeline (repeatable); default: all three")
    ap.add_argument("--skip", action="append", choices=PIPELINES, default=[],
                    help="skip a pipeline (e.g. --skip naive on the full corpus: ~7 min)")
    ap.add_argument("--procs", type=int, default=2, help="worker processes for ours")
    ap.add_argument("--keep", type=Path, help="build the indexes in DIR and keep them")
    ap.add_argument("--ours-repo", type=Path, default=REPO,
                    help="checkout whose search package 'ours' runs (e.g. a git worktree of an older "
                         "commit, for back-to-back before/after runs); default: this one")
    ap.add_argument("--_worker", choices=PIPELINES, help=argparse.SUPPRESS)
    ap.add_argument("--_src", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_index", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._worker:
        print(json.dumps(worker(args._worker, args._src, args._index, args.procs), ensure_ascii=False))
        return 0

    pipelines = [p for p in (args.only or PIPELINES) if p not in args.skip]
    src = slice_path(args.limit)
    tmp = None
    root = args.keep
    if root is None:
        tmp = tempfile.TemporaryDirectory(prefix="xunwen-ingest-", dir=str(OUT_DIR))
        root = Path(tmp.name)
    root.mkdir(parents=True, exist_ok=True)
    results = []
    load0 = os.getloadavg()[0]
    for p in pipelines:
        d = index_dir_for(root, p, args.limit)
        if p != "ours":
            fresh_dir(d)
        print(f"[{time.strftime('%H:%M:%S')}] {p}: indexing {src.name} -> {d}", file=sys.stderr)
        r = run_child(p, src, d, args.procs, args.ours_repo.resolve() if p == "ours" else REPO)
        if p == "ours" and args.ours_repo.resolve() != REPO:
            r["repo"] = str(args.ours_repo)
        print(f"    {json.dumps(r, ensure_ascii=False)[:400]}", file=sys.stderr)
        results.append(r)
    out = {"limit": args.limit, "slice": src.name, "machine": machine(),
           "load_avg_1m_start": round(load0, 2),
           "when": time.strftime("%Y-%m-%d %H:%M"), "results": results}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"ingest-{args.limit or 'all'}.json").write_text(
        json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"ingest of the first {args.limit or 'all'} articles; {out['machine']}; "
          f"load average at start {load0:.1f}")
    print(table(results, args.limit))
    if tmp is not None:
        tmp.cleanup()
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
