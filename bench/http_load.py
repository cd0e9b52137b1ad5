"""HTTP load on loopback against ``xunwen serve``: throughput, latency percentiles, errors.

Either point it at a running server (``--url``) or let it start ``xunwen serve`` itself over an
index (``--index``). N client threads (default 8), each with its own keep-alive connection, walk
the committed query set (``bench/queries.txt``) from different offsets until the time bound or the
request bound is reached, whichever comes first. Every request counts: a non-200 answer or a
connection error is an error.

    python bench/http_load.py --index /path/to/full-index --clients 8 --duration 30
    python bench/http_load.py --url http://127.0.0.1:8000 --path '/?q={q}'   # the HTML page

The client runs on the same machine as the server, so on a 2-core box the numbers include the
client's own CPU cost; they are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from common import start_server, stop_server  # noqa: E402

QUERIES = ROOT / "bench" / "queries.txt"
FALLBACK_QUERIES = ["监督", "巡察 整改", "乡村振兴", "\"一带一路\"", "四川 暴雨", "经济", "习近平", "教育"]

log = logging.getLogger("http_load")


def load_queries(path: Path) -> list[str]:
    """Return the query set (one per line, # comments skipped), or a few fallbacks."""
    if path.exists():
        qs = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
        qs = [q for q in qs if q and not q.startswith("#")]
        if qs:
            return qs
    log.warning("%s not found or empty: using %d fallback queries", path, len(FALLBACK_QUERIES))
    return list(FALLBACK_QUERIES)


def percentile(sorted_values: list[float], p: float) -> float:
    """Return the p-th percentile (nearest rank) of already sorted values."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def _client(
    host: str, port: int, paths: list[str], offset: int, stop: threading.Event,
    budget: list[int], lock: threading.Lock, out: list[tuple[float, int]],
) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    i = offset
    while not stop.is_set():
        with lock:
            if budget[0] <= 0:
                return
            budget[0] -= 1
        path = paths[i % len(paths)]
        i += 1
        t0 = time.perf_counter()
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
        out.append(((time.perf_counter() - t0) * 1000, status))
    conn.close()


def run_load(
    base: str, paths: list[str], clients: int, duration: float, max_requests: int
) -> dict[str, Any]:
    """Drive ``clients`` threads against ``base`` for at most ``duration`` s / ``max_requests``."""
    u = urlsplit(base)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    stop = threading.Event()
    lock = threading.Lock()
    budget = [max_requests]
    results: list[list[tuple[float, int]]] = [[] for _ in range(clients)]
    step = max(1, len(paths) // clients)
    threads = [
        threading.Thread(
            target=_client, args=(host, port, paths, c * step, stop, budget, lock, results[c]),
            daemon=True,
        )
        for c in range(clients)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    deadline = t0 + duration
    while any(t.is_alive() for t in threads) and time.perf_counter() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=35)
    elapsed = time.perf_counter() - t0
    flat = [r for rs in results for r in rs]
    lat = sorted(ms for ms, _ in flat)
    statuses = Counter(st for _, st in flat)
    errors = sum(n for st, n in statuses.items() if st != 200)
    return {
        "requests": len(flat),
        "errors": errors,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(elapsed, 2),
        "rps": round(len(flat) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(lat, 50), 1),
        "p95_ms": round(percentile(lat, 95), 1),
        "p99_ms": round(percentile(lat, 99), 1),
        "max_ms": round(lat[-1], 1) if lat else float("nan"),
        "mean_ms": round(statistics.fmean(lat), 1) if lat else float("nan"),
    }


def health(base: str) -> dict[str, Any]:
    """Return the server's /healthz answer."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)
    conn.request("GET", "/healthz")
    return json.loads(conn.getresponse().read())


def in_process(index: Path, queries: list[str]) -> dict[str, Any]:
    """Time each query once through the engine alone and through the Flask app (no HTTP)."""
    sys.path.insert(0, str(ROOT))
    from search import SearchEngine, SearchRequest
    from web import create_app

    engine = SearchEngine(str(index))
    engine.warm_up()
    client = create_app({"INDEX_DIR": str(index), "ENGINE": engine}).test_client()
    for q in queries[:20]:
        engine.search(SearchRequest(q=q))
    ways = {
        "engine.search": lambda q: engine.search(SearchRequest(q=q)),
        "app /api/search": lambda q: client.get("/api/search", query_string={"q": q}),
        "app / (HTML)": lambda q: client.get("/", query_string={"q": q}),
    }
    out: dict[str, Any] = {}
    for name, call in ways.items():
        lat = []
        for q in queries:
            t0 = time.perf_counter()
            call(q)
            lat.append((time.perf_counter() - t0) * 1000)
        lat.sort()
        out[name] = {"p50_ms": round(percentile(lat, 50), 1), "p95_ms": round(percentile(lat, 95), 1),
                     "mean_ms": round(statistics.fmean(lat), 1)}
    return out


def server_memory(pid: int) -> dict:
    """The server's memory after the load (MiB): peak and current RSS, and the anonymous part
    (file pages of the memory-mapped index count in RSS but are the page cache's to reclaim)."""
    out: dict = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                key, _, val = line.partition(":")
                if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                    out[{"VmHWM": "peak_rss", "VmRSS": "rss", "RssAnon": "rss_anon",
                         "RssFile": "rss_file"}[key]] = round(int(val.split()[0]) / 1024, 1)
    except OSError:
        pass
    return out


def main(argv: list[str] | None = None) -> None:
    """Run the load and print the result as JSON (and a Markdown table row)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="base URL of a running xunwen serve")
    where.add_argument("--index", type=Path, help="start xunwen serve over this index")
    ap.add_argument("--server-threads", type=int, default=8, help="waitress threads (with --index)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds, at most")
    ap.add_argument("--max-requests", type=int, default=20_000, help="requests, at most")
    ap.add_argument("--warmup", type=int, default=50, help="requests sent first and not counted")
    ap.add_argument("--path", default="/api/search?q={q}", help="request template; {q} = query")
    ap.add_argument("--queries", type=Path, default=QUERIES)
    ap.add_argument("--json-out", type=Path, help="also write the result here")
    ap.add_argument("--in-process", action="store_true",
                    help="with --index: time engine vs Flask app without HTTP, one query at a time")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    queries = load_queries(args.queries)
    if args.in_process:
        if not args.index:
            ap.error("--in-process needs --index")
        print(json.dumps(in_process(args.index, queries), ensure_ascii=False, indent=2))
        return
    paths = [args.path.replace("{q}", quote(q)) for q in queries]
    proc = None
    tmp = tempfile.TemporaryDirectory()
    try:
        if args.index:
            proc, port = start_server(args.index.resolve(), args.server_threads, Path(tmp.name) / "serve.log")
            base = f"http://127.0.0.1:{port}"
        else:
            base = args.url.rstrip("/")
        articles = health(base).get("articles")
        if args.warmup:
            run_load(base, paths, min(args.clients, 4), 120, args.warmup)
        res = run_load(base, paths, args.clients, args.duration, args.max_requests)
        if proc is not None:
            res["server_memory_mib"] = server_memory(proc.pid)
    finally:
        if proc is not None:
            stop_server(proc)
        tmp.cleanup()
    result = {
        "path": args.path,
        "queries": len(queries),
        "articles": articles,
        "clients": args.clients,
        "server_threads": args.server_threads if args.index else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        **res,
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(
        f"| `{args.path}` | {articles} | {args.clients} | {res['requests']} | {res['rps']} | "
        f"{res['p50_ms']} | {res['p95_ms']} | {res['p99_ms']} | {res['errors']} |"
    )
    if args.json_out:
        args.json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
