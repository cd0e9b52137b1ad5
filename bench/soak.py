"""Soak test: N concurrent clients against a real ``xunwen serve`` on loopback for a while.

Usage::

    python bench/soak.py --index /path/to/index [--seconds 60] [--clients 16] [--window 10]
                         [--threads 8] [--pathological] [--json out.json] [--md out.md]

It starts ``xunwen serve`` (``python -m search.cli serve``) over the index on a free
127.0.0.1 port, warms it up (the first query builds per-index caches), then runs the clients
over the committed query set (``bench/queries.txt``): mostly ``/api/search`` (pages 1-3, both
sorts), some result pages ``/`` and article pages. It reports, per window of ``--window``
seconds, requests/s and latency percentiles, counts every 5xx and transport error, and
samples the server's resident memory (``VmRSS`` from ``/proc/PID/status``) once a second;
growth is measured from the end of the warm-up to the end of the run.

``--pathological`` then times a handful of worst-case queries (300 distinct single
characters, a long OR chain, a 1,000-character phrase...) one at a time against the same
server: how long one request can hold a worker.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUERIES, machine, percentiles, read_queries, start_server, stop_server  # noqa: E402


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_idle(port: int, limit: float) -> None:
    """Wait until /healthz answers quickly again (the server finished its slow work)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=limit)
            t0 = time.perf_counter()
            c.request("GET", "/healthz")
            c.getresponse().read()
            c.close()
            if time.perf_counter() - t0 < 1:
                return
        except OSError:
            pass
        time.sleep(1)


class Client(threading.Thread):
    """One keep-alive client looping over the query set until ``stop``."""

    def __init__(self, port: int, queries: list[str], seed: int, stop: threading.Event, sink: list):
        super().__init__(daemon=True)
        self.port, self.queries, self.rng, self.stop, self.sink = port, queries, random.Random(seed), stop, sink
        self.ids: list[str] = []
        self.conn: http.client.HTTPConnection | None = None

    def path(self) -> str:
        r = self.rng.random()
        q = self.rng.choice(self.queries)
        if r < 0.08 and self.ids:
            return "/article/" + quote(self.rng.choice(self.ids), safe="") + "?" + urlencode({"q": q})
        params = {"q": q, "page": self.rng.choice((1, 1, 1, 2, 3)), "sort": self.rng.choice(("relevance",) * 3 + ("newest",))}
        return ("/?" if r < 0.25 else "/api/search?") + urlencode(params)

    def get(self, path: str) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            self.conn.request("GET", path)
            resp = self.conn.getresponse()
            body = resp.read()
            if resp.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return resp.status, body
        except Exception:
            self.conn.close()
            self.conn = None
            raise

    def run(self) -> None:
        while not self.stop.is_set():
            path = self.path()
            t0 = time.perf_counter()
            try:
                status, body = self.get(path)
            except Exception as e:  # noqa: BLE001 - every transport error is counted
                self.sink.append((time.monotonic(), (time.perf_counter() - t0) * 1000, -1, f"{type(e).__name__}: {e}"))
                continue
            ms = (time.perf_counter() - t0) * 1000
            self.sink.append((time.monotonic(), ms, status, path if status >= 500 else ""))
            if status == 200 and path.startswith("/api/search") and len(self.ids) < 200:
                self.ids.extend(re.findall(r'"id":\s*"([^"]+)"', body.decode("utf-8", "replace"))[:3])


def pathological_queries(queries: list[str]) -> dict[str, str]:
    rng = random.Random(7)
    chars = sorted({c for q in queries for c in q if "\u4e00" <= c <= "\u9fff"})
    words = sorted({w for q in queries for w in q.split() if len(w) >= 2})
    if len(chars) < 300:  # the query set is small: add common characters
        chars = sorted(set(chars) | {chr(0x4E00 + i * 37) for i in range(400)})
    phrase = "".join(rng.choice(words) for _ in range(400))[:998]
    return {
        "300 distinct characters, spaced": " ".join(rng.sample(chars, 300)),
        "300 distinct characters, unspaced": "".join(rng.sample(chars, 300)),
        "OR chain of 200 characters": " OR ".join(rng.sample(chars, 200))[:1000],
        "OR chain of words (1,000 chars)": " OR ".join(rng.sample(words, min(len(words), 300)))[:1000],
        "330 exclusions": " ".join("-" + c for c in rng.sample(chars, 330))[:1000],
        "1,000-character phrase": '"' + phrase + '"',
        "1,000 characters of query-set words": " ".join(rng.sample(words, min(len(words), 400)))[:1000],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True, type=Path)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--window", type=float, default=10)
    ap.add_argument("--threads", type=int, default=8, help="waitress threads of the server")
    ap.add_argument("--queries", type=Path, default=QUERIES)
    ap.add_argument("--pathological", action="store_true")
    ap.add_argument("--path-timeout", type=float, default=30, help="seconds to wait for one pathological query")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--log", type=Path, default=Path("/tmp/xunwen-soak-server.log"))
    args = ap.parse_args()

    queries = read_queries(args.queries)
    server, port = start_server(args.index.resolve(), args.threads, args.log, wait=300)
    result: dict = {"machine": machine(), "index": str(args.index), "clients": args.clients,
                    "server_threads": args.threads, "seconds": args.seconds, "queries": len(queries)}
    try:
        rss_start_server = rss_mb(server.pid)
        # Warm-up: every query once, over as many connections as the server has threads, so
        # that every server thread has opened its searcher (one per thread) and the engine's
        # bounded caches hold the working set before the baseline is taken.
        t0 = time.perf_counter()

        def warm_slice(i: int) -> None:
            c = Client(port, queries, 0, threading.Event(), [])
            for q in queries[i::args.threads]:
                c.get("/api/search?" + urlencode({"q": q}))
                c.get("/?" + urlencode({"q": q}))

        warmers = [threading.Thread(target=warm_slice, args=(i,)) for i in range(args.threads)]
        for w in warmers:
            w.start()
        for w in warmers:
            w.join()
        result["warmup_s"] = round(time.perf_counter() - t0, 1)
        rss0 = rss_mb(server.pid)
        samples: list = []
        rss: list[tuple[float, float]] = []
        stop = threading.Event()
        clients = [Client(port, queries, i + 1, stop, samples) for i in range(args.clients)]
        start = time.monotonic()
        for c in clients:
            c.start()
        while time.monotonic() - start < args.seconds:
            time.sleep(1.0)
            rss.append((time.monotonic() - start, rss_mb(server.pid)))
        stop.set()
        for c in clients:
            c.join(timeout=120)
        rss1 = rss_mb(server.pid)

        windows = []
        n_win = int(args.seconds // args.window + (1 if args.seconds % args.window else 0))
        for w in range(n_win):
            lo, hi = w * args.window, (w + 1) * args.window
            rows = [s for s in samples if lo <= s[0] - start < hi]
            ok = [s[1] for s in rows if 0 < s[2] < 500]
            pc = percentiles(ok)
            windows.append({
                "window": f"{lo:.0f}-{hi:.0f} s", "requests": len(rows), "rps": round(len(rows) / args.window, 1),
                "p50_ms": round(pc["p50"], 1), "p95_ms": round(pc["p95"], 1), "p99_ms": round(pc["p99"], 1),
                "max_ms": round(max(ok), 1) if ok else None,
                "5xx": sum(1 for s in rows if s[2] >= 500), "errors": sum(1 for s in rows if s[2] < 0),
                "rss_mb": round(max((m for t, m in rss if lo <= t < hi), default=float("nan")), 1),
            })
        all_ok = [s[1] for s in samples if 0 < s[2] < 500]
        pc = percentiles(all_ok)
        statuses: dict[str, int] = {}
        for s in samples:
            statuses[str(s[2])] = statuses.get(str(s[2]), 0) + 1
        result.update({
            "requests": len(samples), "rps": round(len(samples) / args.seconds, 1),
            "p50_ms": round(pc["p50"], 1), "p95_ms": round(pc["p95"], 1), "p99_ms": round(pc["p99"], 1),
            "statuses": statuses, "5xx": sum(1 for s in samples if s[2] >= 500),
            "errors": sum(1 for s in samples if s[2] < 0),
            "first_failures": [s[3] for s in samples if s[2] >= 500 or s[2] < 0][:5],
            "rss_server_start_mb": round(rss_start_server, 1), "rss_after_warmup_mb": round(rss0, 1),
            "rss_end_mb": round(rss1, 1), "rss_max_mb": round(max(m for _, m in rss), 1),
            "rss_growth_pct": round((rss1 - rss0) / rss0 * 100, 2),
            "windows": windows,
        })

        if args.pathological:
            worst = []
            for name, q in pathological_queries(queries).items():
                # One at a time, each on a fresh connection; a query still running at the
                # timeout is recorded as such (the server thread goes on working on it).
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=args.path_timeout)
                t0 = time.perf_counter()
                try:
                    conn.request("GET", "/api/search?" + urlencode({"q": q}))
                    resp = conn.getresponse()
                    body = resp.read()
                    status = resp.status
                    total = json.loads(body).get("total") if status == 200 else None
                except TimeoutError:
                    status, total = "timeout", None
                finally:
                    conn.close()
                ms = (time.perf_counter() - t0) * 1000
                worst.append({"query": name, "chars": len(q), "status": status, "total": total, "ms": round(ms)})
                print(json.dumps(worst[-1], ensure_ascii=False), file=sys.stderr)
                if status == "timeout":  # let the server finish it before the next one
                    wait_idle(port, args.path_timeout * 4)
            result["pathological"] = worst
    finally:
        stop_server(server)

    print(json.dumps(result, ensure_ascii=False, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), "utf-8")
    ok = result["5xx"] == 0 and result["errors"] == 0 and result["rss_growth_pct"] < 10
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
