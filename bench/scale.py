"""Scale benchmarks (issue 11): ingest, cold start, query latency and incremental runs at K×.

Corpora come from ``bench/make_scale_corpus.py`` (``/tmp/scale/x5.jsonl.gz`` …); the shared
corpus itself is the 1× point. Every stage prints one JSON line and appends it to
``bench/out/scale.jsonl`` (git-ignored), with the load average, so figures can be quoted.

    python bench/scale.py ingest --corpus /tmp/scale/x5.jsonl.gz --index /tmp/scale/ix-x5
    python bench/scale.py cold --index /tmp/scale/ix-x5            # `xunwen search` in new processes
    python bench/scale.py latency --index /tmp/scale/ix-x5         # keywords + phrases, first pass and warm
    python bench/scale.py latency --index /tmp/scale/ix-x5 --without-flat   # the same, flat postings aside
    python bench/scale.py incremental --index /tmp/scale/ix-inc --runs 20 --source /tmp/scale/x5.jsonl.gz \\
        --skip 72534                                               # 1,000 new articles a run
    python bench/scale.py tantivy --corpus /tmp/scale/x5.jsonl.gz --index /tmp/scale/tv-x5
    python bench/scale.py char-memory --corpus ../shared/corpus/news_articles.jsonl.gz   # character index write peak

``ingest`` runs ``reindex --rebuild`` (2 workers) in a fresh child process (bench/ingest.py's
child) and reports its wall time, CPU seconds of main process + workers, the main process's
peak RSS and the largest worker's peak RSS (``ru_maxrss``), and the index size on disk.
``cold`` times whole ``python -m search.cli search`` processes (interpreter start, imports,
jieba, index open, first query), with the commit's sidecar and — moved aside for the
measurement and put back — without it. ``latency`` answers the committed keyword queries and
the same quoted as phrases in one fresh process: the first pass (nothing cached) then
``--rounds`` warm passes. ``incremental`` feeds batches of ``--batch`` new articles (plus
``--resent`` re-sent copies of indexed ones, which must join their original's cluster) into an
existing index, one ``reindex`` process per batch like cron, and reports each run's seconds and
segment count, then the keyword latency afterwards; with ``--nightly-every N`` it also runs
``xunwen merge`` after every N runs (hourly runs and a nightly merge: N = 24) and reports its
seconds apart from the runs'; with ``--fresh DIR`` it then rebuilds the same articles (the
indexed prefix and every run's batch) into DIR and measures both indexes' keyword latency
back to back (the target is a p95 within 1.2× a fresh rebuild's). ``char-memory`` writes one segment's character index from the
first N articles of a corpus, with the writer's run budget, at each ``--sizes`` point, and reports
the write's peak traced memory (tracemalloc), which should not grow with the segment.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT_DIR, REPO, machine, percentiles, read_queries  # noqa: E402
from ingest import run_child  # noqa: E402

RESULTS = OUT_DIR / "scale.jsonl"


def _emit(rec: dict) -> dict:
    rec = {"stage": rec.pop("stage"), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "load_avg": [round(x, 2) for x in os.getloadavg()], "commit": _commit(), **rec}
    line = json.dumps(rec, ensure_ascii=False)
    print(line, flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "a", encoding="utf-8") as f:
        f.write(line + "\n")
    return rec


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "search"], cwd=REPO, capture_output=True,
                               text=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except OSError:
        return ""


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _generation(index: Path) -> Path:
    return index / (index / "CURRENT").read_text("utf-8").strip()


def _segments(index: Path) -> list[int]:
    code = ("import sys, json; from search.indexer import open_current; ix, _ = open_current(sys.argv[1]); "
            "print(json.dumps([s.doc_count_all() for s in ix._segments()]))")
    p = subprocess.run([sys.executable, "-c", code, str(index)], capture_output=True, text=True,
                       env=_env(), cwd=REPO)
    return json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else []


# ---------------------------------------------------------------- stages


def stage_ingest(args) -> dict:
    """Rebuild an index from a corpus file in a fresh child; report rate, CPU, RSS, size."""
    res = run_child("ours", Path(args.corpus), Path(args.index), args.procs)
    if "error" in res:
        raise SystemExit(res["error"])
    n = res["indexed"]
    return _emit({"stage": "ingest", "corpus": str(args.corpus), "articles": n,
                  "seconds": res["seconds"], "rate": res["rate"],
                  "cpu_ms_per_article": round(res["cpu_seconds"] / n * 1000, 2) if n else None,
                  "cpu_seconds": res["cpu_seconds"],
                  "main_peak_rss_mb": res["peak_rss_mb"], "worker_peak_rss_mb": res["peak_rss_worker_mb"],
                  "index_mib": round(res["index_bytes"] / 2**20, 1),
                  "segments": _segments(Path(args.index)),
                  "near_duplicates": res.get("summary", {}).get("near_duplicates"),
                  "load_avg_end": res.get("load_avg_1m_end"), "machine": machine()})


def _search_process(index: Path, q: str) -> float:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "search.cli", "search", "--index", str(index), q],
                       capture_output=True, text=True, env=_env(), cwd=REPO)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(p.stderr[-2000:])
    return wall


_FIRST_QUERY = """
import sys, time, json
t0 = time.perf_counter()
from search import SearchEngine, SearchRequest
from search.analysis import ensure_dictionary
ensure_dictionary()
t1 = time.perf_counter()
eng = SearchEngine(sys.argv[1])
page = eng.search(SearchRequest(q=sys.argv[2]))
t2 = time.perf_counter()
print(json.dumps({"imports_jieba_s": round(t1 - t0, 3), "open_and_first_query_s": round(t2 - t1, 3),
                  "total": page.total}))
"""


def _first_query(index: Path, q: str) -> dict:
    p = subprocess.run([sys.executable, "-c", _FIRST_QUERY, str(index), q], capture_output=True,
                       text=True, env=_env(), cwd=REPO)
    if p.returncode != 0:
        raise SystemExit(p.stderr[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def stage_cold(args) -> dict:
    """Time new processes answering their first query, with and without the sidecar."""
    index = Path(args.index)
    gen = _generation(index)
    queries = read_queries()[: args.n]
    out: dict = {"stage": "cold", "index": str(index)}
    side = sorted(gen.glob("open-*"))
    aside = Path(tempfile.mkdtemp(prefix="aside-", dir=index))
    modes = [("sidecar", False), ("no_sidecar", True)] if side else [("no_sidecar", False)]
    try:
        for mode, move in modes:
            if move:
                for d in side:
                    shutil.move(str(d), aside / d.name)
            cli = [_search_process(index, q) for q in queries]
            inproc = [_first_query(index, q) for q in queries]
            out[mode] = {"cli_wall_s": [round(x, 2) for x in cli], "cli_median_s": round(sorted(cli)[len(cli) // 2], 2),
                         "in_process": inproc}
    finally:
        for d in aside.iterdir():
            shutil.move(str(d), gen / d.name)
        aside.rmdir()
    return _emit(out)


_LATENCY = """
import sys, time, json
from search import BadQuery, SearchEngine, SearchRequest
from search.analysis import ensure_dictionary
ensure_dictionary()
qs = json.loads(sys.stdin.read())
refused = {}
def run(q, name):
    try:
        eng.search(SearchRequest(q=q))
    except BadQuery:  # over the engine's time budget: counted, and its time kept
        refused[name] = refused.get(name, 0) + 1
eng = SearchEngine(sys.argv[1])
rounds = int(sys.argv[2])
eng.search(SearchRequest(q="新闻"))  # open the index (the cold start is measured by `cold`)
out = {}
for name, queries in qs.items():
    first, warm = [], []
    for q in queries:
        t = time.perf_counter(); run(q, name + "_first"); first.append((time.perf_counter() - t) * 1e3)
    for _ in range(rounds):
        for q in queries:
            t = time.perf_counter(); run(q, name + "_warm"); warm.append((time.perf_counter() - t) * 1e3)
    out[name] = {"first": first, "warm": warm}
out["refused"] = refused
print(json.dumps(out))
"""


def latency(index: Path, rounds: int, phrases: bool = True, result_cache: bool = True) -> dict:
    """Keyword (and phrase) latency (ms percentiles) in one fresh process (``result_cache``
    false: XUNWEN_RESULT_CACHE=0, so the warm passes compute every page again)."""
    kw = read_queries()
    qs = {"keywords": kw}
    if phrases:
        qs["phrases"] = ['"' + q.replace(" ", "") + '"' for q in kw]
    env = _env()
    env["XUNWEN_RESULT_CACHE"] = "512" if result_cache else "0"  # the engine's default is off
    p = subprocess.run([sys.executable, "-c", _LATENCY, str(index), str(rounds)], input=json.dumps(qs),
                       capture_output=True, text=True, env=env, cwd=REPO)
    if p.returncode != 0:
        raise SystemExit(p.stderr[-2000:])
    raw = json.loads(p.stdout.strip().splitlines()[-1])
    refused = raw.pop("refused")
    out: dict = {name: {"first": {k: round(v, 1) for k, v in percentiles(r["first"]).items()},
                        "warm": {k: round(v, 1) for k, v in percentiles(r["warm"]).items()}}
                 for name, r in raw.items()}
    out["refused_over_time_budget"] = refused
    return out


def stage_latency(args) -> dict:
    """Report keyword/phrase p50/p95/p99, first pass and warm (``--without-flat``: with the
    segments' flat postings moved aside for the run and put back, i.e. read from Whoosh's blocks)."""
    index = Path(args.index)
    gen = _generation(index)
    flat = [p for p in gen.iterdir() if p.suffix in (".xpk", ".xpi", ".xpw")]
    aside = Path(tempfile.mkdtemp(prefix="aside-", dir=index)) if args.without_flat else None
    try:
        if aside is not None:
            for p in flat:
                shutil.move(str(p), aside / p.name)
        have = bool(flat) and aside is None
        return _emit({"stage": "latency", "index": str(index), "segments": _segments(index),
                      "flat_postings": have, "result_cache": args.result_cache, "queries": len(read_queries()),
                      "rounds": args.rounds, **latency(index, args.rounds, result_cache=args.result_cache)})
    finally:
        if aside is not None:
            for p in aside.iterdir():
                shutil.move(str(p), gen / p.name)
            aside.rmdir()


def _lines(path: Path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        yield from f


def _read(path: Path):
    return map(json.loads, _lines(path))


def stage_incremental(args) -> dict:
    """N cron-like runs of ``--batch`` new articles into an index; per-run seconds and segments."""
    index = Path(args.index)
    src = _read(Path(args.source))
    fresh = iter(itertools.islice(src, args.skip, None))
    # Re-sent copies of articles already indexed (the first ``--skip`` of the source).
    originals = [r for r in itertools.islice(_read(Path(args.source)), 0, args.skip, 97)
                 if len(r.get("body") or "") > 400]
    before = latency(index, 2, phrases=False, result_cache=False)["keywords"] if args.latency else None
    runs = []
    nightly: list[dict] = []
    resent: list[tuple[str, str]] = []
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="inc-", dir=OUT_DIR))
    # --fresh: the same articles (the indexed prefix, then every run's batch) for a rebuild.
    fresh_src = Path(args.fresh).with_name(Path(args.fresh).name + ".jsonl.gz") if args.fresh else None
    fresh_out = gzip.open(fresh_src, "wt", encoding="utf-8", compresslevel=1) if fresh_src else None
    if fresh_out is not None:
        for line in itertools.islice(_lines(Path(args.source)), args.skip):
            fresh_out.write(line)
    try:
        for i in range(args.runs):
            batch = list(itertools.islice(fresh, args.batch))
            for j in range(args.resent):
                o = originals[(i * args.resent + j) % len(originals)]
                cid = f"{o['id']}-resent{i}"
                batch.append({**o, "id": cid, "body": o["body"] + "\n（完）"})
                resent.append((cid, o["id"]))
            path = work / f"run{i}.jsonl"
            with open(path, "w", encoding="utf-8") as f:
                for r in batch:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
            if fresh_out is not None:
                fresh_out.write(path.read_text(encoding="utf-8"))
            t = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "search.cli", "reindex", "--index", str(index),
                                "--json", "--no-progress", str(path)],
                               capture_output=True, text=True, env=_env(), cwd=REPO)
            secs = time.perf_counter() - t
            if p.returncode != 0:
                raise SystemExit(p.stderr[-2000:])
            summ = json.loads(p.stdout[p.stdout.index("{"):])
            segs = _segments(index)
            runs.append({"run": i, "seconds": round(secs, 1), "indexed": summ["indexed"],
                         "near_duplicates": summ["near_duplicates"], "segments": len(segs),
                         "largest": max(segs) if segs else 0, "load": round(os.getloadavg()[0], 2)})
            print(json.dumps(runs[-1]), flush=True)
            path.unlink()
            if args.nightly_every and (i + 1) % args.nightly_every == 0:
                nightly.append(_nightly_merge(index, i))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if fresh_out is not None:
            fresh_out.close()
    grouped = _check_clusters(index, resent)
    after = latency(index, 2, phrases=False, result_cache=False)["keywords"] if args.latency else None
    fresh = None
    if fresh_src is not None:  # a rebuild of the same articles, measured the same way just after
        built = run_child("ours", fresh_src, Path(args.fresh), 2)
        if "error" in built:
            raise SystemExit(built["error"])
        fresh_src.unlink()
        fresh = {"index": args.fresh, "articles": built["indexed"], "seconds": built["seconds"],
                 "segments": _segments(Path(args.fresh)),
                 "keywords": latency(Path(args.fresh), 2, phrases=False, result_cache=False)["keywords"]}
        fresh["after"] = latency(index, 2, phrases=False, result_cache=False)["keywords"]  # right after the rebuild's
        # Warm passes compute again (result cache off): with it on, a warm p95 rounds to 0.0 ms
        # and the ratio divided by zero at the end of a 100-run bench (session 13).
        for k in ("first", "warm"):
            base = fresh["keywords"][k]["p95"]
            fresh[f"p95_{k}_ratio"] = round(fresh["after"][k]["p95"] / base, 2) if base else None
    secs = [r["seconds"] for r in runs]
    return _emit({"stage": "incremental", "index": str(index), "runs": len(runs), "batch": args.batch,
                  "resent_per_run": args.resent, "seconds_max": max(secs), "seconds_median": sorted(secs)[len(secs) // 2],
                  "segments_after": _segments(index), "resent_grouped": grouped, "keywords_before": before,
                  "keywords_after": after, "fresh_rebuild": fresh, "nightly_every": args.nightly_every, "nightly": nightly,
                  "per_run": runs})


def _nightly_merge(index: Path, after_run: int) -> dict:
    """``xunwen merge`` as a nightly cron job would run it; its seconds and segments."""
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "search.cli", "merge", "--index", str(index), "--json"],
                       capture_output=True, text=True, env=_env(), cwd=REPO)
    if p.returncode != 0:
        raise SystemExit(p.stderr[-2000:])
    res = json.loads(p.stdout.strip().splitlines()[-1])
    rec = {"after_run": after_run, "seconds": round(time.perf_counter() - t, 1),
           "segments_before": len(res["segments_before"]), "segments_after": res["segments_after"],
           "load": round(os.getloadavg()[0], 2)}
    print(json.dumps({"nightly": rec}), flush=True)
    return rec


_CLUSTERS = """
import sys, json
from search.indexer import open_current
pairs = json.loads(sys.stdin.read())
ix, _ = open_current(sys.argv[1])
ok = 0
with ix.searcher() as s:
    def cluster(i):
        d = s.document_number(id=i)
        return None if d is None else s.stored_fields(d).get("cluster")
    for copy, orig in pairs:
        c, o = cluster(copy), cluster(orig)
        ok += c is not None and c == o
print(json.dumps({"pairs": len(pairs), "same_cluster": ok}))
"""


def _check_clusters(index: Path, pairs: list[tuple[str, str]]) -> dict:
    p = subprocess.run([sys.executable, "-c", _CLUSTERS, str(index)], input=json.dumps(pairs),
                       capture_output=True, text=True, env=_env(), cwd=REPO)
    if p.returncode != 0:
        raise SystemExit(p.stderr[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def stage_tantivy(args) -> dict:
    """Build the tantivy+jieba anchor (bench/ingest.py) for a corpus; report its size."""
    src = Path(args.corpus)
    plain = src
    if str(src).endswith(".gz"):  # the anchor's reader takes plain JSON lines
        plain = Path(args.index).with_suffix(".jsonl")
        with gzip.open(src, "rb") as fi, open(plain, "wb") as fo:
            shutil.copyfileobj(fi, fo, 1 << 20)
    try:
        res = run_child("tantivy", plain, Path(args.index), 1)
    finally:
        if plain != src:
            plain.unlink(missing_ok=True)
    if "error" in res:
        raise SystemExit(res["error"])
    return _emit({"stage": "tantivy", "corpus": str(src), "articles": res["indexed"], "seconds": res["seconds"],
                  "rate": res["rate"], "index_mib": round(res["index_bytes"] / 2**20, 1),
                  "peak_rss_mb": res["peak_rss_mb"]})


_CLUSTER_MEMORY = """
import sys, json, time, resource, hashlib
import numpy as np
from search import dedup
sigs = np.load(sys.argv[1], mmap_mode="r")
ids = open(sys.argv[2], encoding="utf-8").read().split("\\n")
kind = sys.argv[3]
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
base = rss()
c = dedup.DiskClusterer(sys.argv[4]) if kind == "disk" else dedup.Clusterer()
h = hashlib.sha1()
t = time.process_time()
marks = {}
for i in range(len(ids)):
    row = sigs[i]
    sig = () if row[-1] == 0 else tuple(int(x) for x in row)
    h.update(c.assign(ids[i], sig).encode())
    if (i + 1) % 72534 == 0:
        marks[i + 1] = round(rss() - base, 1)
cpu = time.process_time() - t
if kind == "disk":
    c.close()
print(json.dumps({"kind": kind, "articles": len(ids), "rss_growth_mb_at": marks,
                  "us_per_article": round(cpu / len(ids) * 1e6, 1), "clusters_sha1": h.hexdigest()}))
"""


def stage_dedup_memory(args) -> dict:
    """Memory of the near-duplicate state over a K× corpus: in-memory vs on-disk clusterer."""
    sys.path.insert(0, str(REPO))
    from search import dedup
    from search.normalize import fold_text

    work = Path(tempfile.mkdtemp(prefix="dedupmem-", dir=OUT_DIR))
    try:
        ids, rows = [], []
        t = time.process_time()
        for r in itertools.islice(_read(Path(args.corpus)), args.limit or None):
            body = r.get("body") or ""
            # The state's size does not depend on folding; OpenCC would triple this stage's time.
            sig = dedup.signature(fold_text(body) if args.fold else body)
            ids.append(r["id"])
            rows.append(sig if sig else (0,) * (dedup.NUM_HASHES + 1))
        sig_us = (time.process_time() - t) / len(ids) * 1e6
        import numpy as np

        np.save(work / "sigs.npy", np.asarray(rows, dtype=np.uint32))
        (work / "ids.txt").write_text("\n".join(ids), "utf-8")
        del rows
        out = {"stage": "dedup_memory", "corpus": str(args.corpus), "articles": len(ids),
               "folded": args.fold, "signature_us_per_article": round(sig_us, 1)}
        for kind in ("memory", "disk"):
            p = subprocess.run([sys.executable, "-c", _CLUSTER_MEMORY, str(work / "sigs.npy"), str(work / "ids.txt"),
                                kind, str(work / "d.sqlite")], capture_output=True, text=True, env=_env(), cwd=REPO)
            if p.returncode != 0:
                raise SystemExit(p.stderr[-2000:])
            out[kind] = json.loads(p.stdout.strip().splitlines()[-1])
        out["same_clusters"] = out["memory"]["clusters_sha1"] == out["disk"]["clusters_sha1"]
        return _emit(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


_CHAR_MEMORY = r"""
import gzip, json, os, sys, tempfile, time, tracemalloc
from search.chars import CharPool
from search.normalize import fold_text
src, n, run_limit, tmp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pool = CharPool(tmp, run_limit=run_limit)
with (gzip.open(src, "rt", encoding="utf-8") if src.endswith(".gz") else open(src, encoding="utf-8")) as f:
    added = 0
    for line in f:
        if added >= n:
            break
        r = json.loads(line)
        pool.add(fold_text(r.get("title") or ""), fold_text(r.get("body") or ""))
        added += 1
runs, chars = len(pool.runs), pool.next
class Out:
    def __init__(self, ext): self.f = open(os.path.join(tmp, "seg" + ext), "wb")
    def write(self, b): self.f.write(b)
    def close(self): self.f.close()
tracemalloc.start()
t = time.process_time()
pool.write(Out)
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"articles": added, "characters": chars, "runs": runs,
                  "write_cpu_s": round(time.process_time() - t, 1), "traced_peak_mib": round(peak / 2**20, 1)}))
"""


def stage_char_memory(args) -> dict:
    """Peak traced memory of one segment's character index write (``CharPool.write``: merging
    the sorted run files into the segment's files) at growing segment sizes, with the run budget
    of a 2-worker build. It should stay flat as the segment grows (session 8: 157.8 MiB at 72k
    before the ranges were cut by postings, 70.8 after)."""
    sys.path.insert(0, str(REPO))
    from search.store.writer import WRITER_LIMIT_MB

    # the writer's own run budget (search.store.segwriter: a sixth of its memory, 16 bytes a posting)
    run_limit = max(1024, int(WRITER_LIMIT_MB * 1024 * 1024 / 96))
    points = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="charmem-", dir=OUT_DIR) as tmp:
            p = subprocess.run([sys.executable, "-c", _CHAR_MEMORY, str(args.corpus), str(n), str(run_limit), tmp],
                               capture_output=True, text=True, env=_env(), cwd=REPO)
            if p.returncode != 0:
                raise SystemExit(p.stderr[-2000:])
            points.append(json.loads(p.stdout.strip().splitlines()[-1]))
    return _emit({"stage": "char_memory", "corpus": str(args.corpus), "run_limit": run_limit, "points": points})


def main(argv: list[str] | None = None) -> int:
    """Run one stage."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="stage", required=True)
    p = sub.add_parser("ingest")
    p.add_argument("--corpus", required=True)
    p.add_argument("--index", required=True)
    p.add_argument("--procs", type=int, default=2)
    p = sub.add_parser("cold")
    p.add_argument("--index", required=True)
    p.add_argument("--n", type=int, default=3, help="processes (one query each)")
    p = sub.add_parser("latency")
    p.add_argument("--index", required=True)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--without-flat", action="store_true", help="read postings from Whoosh's blocks (A/B)")
    p.add_argument("--no-result-cache", dest="result_cache", action="store_false",
                   help="XUNWEN_RESULT_CACHE=0: warm passes compute every page again")
    p = sub.add_parser("incremental")
    p.add_argument("--index", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--skip", type=int, required=True, help="source records already indexed")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--resent", type=int, default=5, help="re-sent copies of indexed articles per run")
    p.add_argument("--no-latency", dest="latency", action="store_false")
    p.add_argument("--fresh", default="", help="afterwards, rebuild the same articles into this index and "
                   "compare keyword latency (the 1.2x target is against a fresh rebuild)")
    p.add_argument("--nightly-every", type=int, default=0,
                   help="run `xunwen merge` (the nightly merge) after every N runs (0: never)")
    p = sub.add_parser("dedup-memory")
    p.add_argument("--corpus", required=True)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--fold", action="store_true", help="fold bodies first, as the indexer does")
    p = sub.add_parser("char-memory")
    p.add_argument("--corpus", required=True)
    p.add_argument("--sizes", type=int, nargs="+", default=[18000, 36000, 72534], help="articles in the segment")
    p = sub.add_parser("tantivy")
    p.add_argument("--corpus", required=True)
    p.add_argument("--index", required=True)
    args = ap.parse_args(argv)
    {"ingest": stage_ingest, "cold": stage_cold, "latency": stage_latency,
     "incremental": stage_incremental, "tantivy": stage_tantivy, "dedup-memory": stage_dedup_memory,
     "char-memory": stage_char_memory}[args.stage](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
