"""Query latency over the committed query set: our engine vs. the naive recipe (vs. tantivy).

* ``ours``    — ``SearchEngine(dir).search(SearchRequest(q=q, size=10))``: snippets, facets and
  near-duplicate collapse on (the defaults), i.e. everything a results page needs;
* ``naive``   — Whoosh ``MultifieldParser(["title", "body"])`` with jieba's ChineseAnalyzer,
  ``searcher.search(q, limit=10)`` and ``hit.highlights("body")`` for each hit;
* ``tantivy`` — tantivy + jieba tokens, top 10 and the stored fields, no snippets (a floor).

Indexes are the ones ``bench/ingest.py --keep DIR`` builds (``DIR/<pipeline>-<N>``); missing
ones are built here the same way. Each engine answers every query once as a warm-up, then
``--rounds`` timed passes; percentiles are over all timed calls (nearest rank).

    python bench/query_latency.py --limit 20000 --keep bench/out/ix
    python bench/query_latency.py --limit 0 --only ours --keep bench/out/ix     # full corpus

``--set phrases`` quotes each committed query with its words joined ("基石研究员"): exact
phrases, checked on positions and the stored text. ``--set summaries`` uses the first 240
LCSTS PART III summaries (long natural-language queries: information-share matching, query
likelihood). Both are for ``ours`` (the naive parser reads quotes differently); ``fts5`` (SQLite
FTS5 with its trigram tokenizer: count(*) plus the top 10 with snippet()) answers the phrases set
as the anchor of issue 9 (quoted text of 3+ characters).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT_DIR, REPO, machine, percentiles, read_queries  # noqa: E402
from ingest import index_dir_for, run_child, slice_path  # noqa: E402

ENGINES = ("ours", "naive", "tantivy", "fts5")


def ours_runner(index_dir: Path):
    """Return a function answering one query with our engine (and its hit count)."""
    sys.path.insert(0, str(REPO))
    from search import SearchEngine, SearchRequest

    engine = SearchEngine(index_dir)

    def run(q: str) -> int:
        page = engine.search(SearchRequest(q=q, size=10))
        return page.total

    return run, lambda: None


def naive_runner(index_dir: Path):
    """Return a function answering one query the naive way, with body highlights."""
    from whoosh import index

    from common import naive_searcher_query, quiet_jieba

    quiet_jieba()
    ix = index.open_dir(str(index_dir))
    searcher = ix.searcher()

    def run(q: str) -> int:
        results = searcher.search(naive_searcher_query(ix, q), limit=10)
        for hit in results:
            hit.highlights("body")
        return len(results)

    return run, searcher.close


def tantivy_runner(index_dir: Path):
    """Return a function answering one query with tantivy (stored fields, no snippets)."""
    import tantivy

    from common import quiet_jieba, tantivy_query

    quiet_jieba()
    ix = tantivy.Index.open(str(index_dir))
    ix.reload()
    searcher = ix.searcher()

    def run(q: str) -> int:
        query, _ = tantivy_query(ix, q)
        res = searcher.search(query, 10, count=True)
        for _score, addr in res.hits:
            searcher.doc(addr)
        return res.count

    return run, lambda: None


def build_fts5(src: Path, db: Path) -> None:
    """SQLite FTS5 with its built-in trigram tokenizer over title and body (the anchor)."""
    import sqlite3

    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    con.execute("CREATE VIRTUAL TABLE t USING fts5(id UNINDEXED, title, body, tokenize='trigram')")
    with open(src, encoding="utf-8") as f:
        rows = ((r["id"], r.get("title") or "", r.get("body") or "") for r in map(json.loads, f))
        con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    con.commit()
    con.close()
    tmp.replace(db)


def fts5_runner(index_dir: Path):
    """Return a function answering one quoted query with FTS5-trigram: count(*), top 10 by rank
    with ``snippet()``. Only quoted text of 3+ characters is answerable (trigrams); others 0."""
    import sqlite3

    con = sqlite3.connect(index_dir / "fts5.db", check_same_thread=False)

    def run(q: str) -> int:
        text = q.strip().strip('"').replace('"', "")
        if len(text) < 3:
            return 0
        m = '"' + text + '"'
        n = con.execute("SELECT count(*) FROM t WHERE t MATCH ?", (m,)).fetchone()[0]
        con.execute("SELECT id, snippet(t, 2, '<mark>', '</mark>', '…', 24) FROM t WHERE t MATCH ? "
                    "ORDER BY rank LIMIT 10", (m,)).fetchall()
        return n

    return run, con.close


RUNNERS = {"ours": ours_runner, "naive": naive_runner, "tantivy": tantivy_runner, "fts5": fts5_runner}


def breakdown(index_dir: Path, queries: list[str], slowest: int = 8) -> dict:
    """Time ours with snippets/facets/collapse switched off one by one; list the slowest queries."""
    sys.path.insert(0, str(REPO))
    from search import SearchEngine, SearchRequest

    engine = SearchEngine(index_dir)
    for q in queries:
        engine.search(SearchRequest(q=q))
    variants = {"all on": {}, "no facets": {"facets": False}, "no snippets": {"snippets": False},
                "no collapse": {"collapse": False},
                "all off": {"facets": False, "snippets": False, "collapse": False}}
    per: dict[str, dict[str, tuple[float, int]]] = {}
    for name, kw in variants.items():
        per[name] = {}
        for q in queries:
            c = time.process_time()
            page = engine.search(SearchRequest(q=q, **kw))
            per[name][q] = ((time.process_time() - c) * 1000.0, page.total)
    summary = {name: {k: round(v, 1) for k, v in percentiles([t for t, _ in d.values()]).items()}
               for name, d in per.items()}
    worst = sorted(per["all on"].items(), key=lambda kv: -kv[1][0])[:slowest]
    return {"cpu_ms_by_variant": summary,
            "slowest": [{"q": q, "matches": n, "cpu_ms": round(t, 1),
                         "cpu_ms_all_off": round(per["all off"][q][0], 1)} for q, (t, n) in worst]}


def measure(name: str, index_dir: Path, queries: list[str], rounds: int) -> dict:
    """Warm up, then time ``rounds`` passes over the queries; return percentiles in ms."""
    t0 = time.perf_counter()
    run, close = RUNNERS[name](index_dir)
    open_s = time.perf_counter() - t0
    zero = 0
    first: list[float] = []
    for q in queries:  # warm-up (opens readers, fills OS caches and our per-term postings cache)
        t = time.perf_counter()
        zero += run(q) == 0
        # The first time each query is seen: for ours, its terms' postings are not cached yet.
        first.append((time.perf_counter() - t) * 1000.0)
    times: list[float] = []
    cpu: list[float] = []
    for _ in range(rounds):
        for q in queries:
            c = time.process_time()
            t = time.perf_counter()
            run(q)
            times.append((time.perf_counter() - t) * 1000.0)
            cpu.append((time.process_time() - c) * 1000.0)
    close()
    pc = percentiles(times)
    # CPU time per query too: on a busy shared machine wall time includes waiting for a core.
    pcc = percentiles(cpu)
    pf = percentiles(first)
    return {"engine": name, "queries": len(queries), "calls": len(times),
            "zero_hit_queries": zero, "open_seconds": round(open_s, 2),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            **{k: round(v, 2) for k, v in pc.items()},
            **{f"cpu_{k}": round(v, 2) for k, v in pcc.items()},
            **{f"first_{k}": round(v, 2) for k, v in pf.items()}}


def main(argv=None) -> int:
    """Measure the requested engines and print a table (JSON in bench/out/)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=20_000, help="index of the first N articles (0 = all)")
    ap.add_argument("--only", action="append", choices=ENGINES)
    ap.add_argument("--skip", action="append", choices=ENGINES, default=[])
    ap.add_argument("--keep", type=Path, default=OUT_DIR / "ix",
                    help="directory holding (or receiving) the indexes built by ingest.py")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--set", dest="qset", choices=("keywords", "phrases", "summaries"), default="keywords",
                    help="the committed keyword queries (default), the same quoted as phrases, or "
                         "LCSTS summaries (long queries)")
    ap.add_argument("--breakdown", action="store_true",
                    help="also time ours with snippets/facets/collapse off and list the slowest queries")
    args = ap.parse_args(argv)

    queries = read_queries()
    if args.qset == "phrases":
        queries = ['"' + q.replace(" ", "") + '"' for q in queries]
    elif args.qset == "summaries":
        from common import LCSTS

        with open(LCSTS, encoding="utf-8") as f:
            queries = list(dict.fromkeys(json.loads(line)["summary"].strip() for line in f))[:240]
    engines = [e for e in (args.only or ENGINES) if e not in args.skip]
    results = []
    for name in engines:
        d = index_dir_for(args.keep, name, args.limit)
        if name == "fts5" and not (d / "fts5.db").exists():
            print(f"building {d} ...", file=sys.stderr)
            t = time.perf_counter()
            build_fts5(slice_path(args.limit), d / "fts5.db")
            print(f"    fts5 built in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        elif not d.exists() or not any(d.iterdir()):
            print(f"building {d} ...", file=sys.stderr)
            r = run_child(name, slice_path(args.limit), d, 2)
            if "error" in r:
                print(r["error"], file=sys.stderr)
                results.append({"engine": name, "error": r["error"][-300:]})
                continue
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {len(queries)} queries on {d}", file=sys.stderr)
        try:
            res = measure(name, d, queries, args.rounds)
        except Exception as e:  # keep the other engines' figures
            res = {"engine": name, "error": f"{type(e).__name__}: {e}"}
        print(f"    {res}", file=sys.stderr)
        results.append(res)

    out = {"limit": args.limit, "machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M"),
           "queries_file": "bench/queries.txt", "set": args.qset, "results": results}
    if args.breakdown and "ours" in engines:
        out["breakdown"] = bd = breakdown(index_dir_for(args.keep, "ours", args.limit), queries)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.qset == "keywords" else f"-{args.qset}"
    (OUT_DIR / f"query-{args.limit or 'all'}{suffix}.json").write_text(
        json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"query latency, index of the first {args.limit or 'all'} articles, "
          f"{len(queries)} {args.qset} queries x {args.rounds} rounds after a warm-up; {out['machine']}")
    print("| engine | p50 ms | p95 ms | p99 ms | mean ms | CPU p50 / p95 / p99 ms | first pass p50 / p95 / p99 ms "
          "| zero-hit queries | load avg |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        if "error" in r:
            print(f"| {r['engine']} | failed: {r['error'][:80]} | | | | | | | |")
        else:
            print(f"| {r['engine']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | "
                  f"{r['mean']:.1f} | {r['cpu_p50']:.1f} / {r['cpu_p95']:.1f} / {r['cpu_p99']:.1f} | "
                  f"{r['first_p50']:.1f} / {r['first_p95']:.1f} / {r['first_p99']:.1f} | "
                  f"{r['zero_hit_queries']} | {r['load_avg_1m']:.1f} |")
    if "breakdown" in out:
        print("\nours, CPU ms per query (p50 / p95 / p99):")
        for name, pc in bd["cpu_ms_by_variant"].items():
            print(f"  {name:12} {pc['p50']} / {pc['p95']} / {pc['p99']}")
        print("slowest (all on):")
        for w in bd["slowest"]:
            print(f"  {w['q']!r:30} matches={w['matches']:6}  {w['cpu_ms']:7.1f} ms  (all off {w['cpu_ms_all_off']:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
