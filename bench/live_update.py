"""Serve through live updates: HTTP clients while small incremental runs and deletes commit.

Copies an index to a scratch directory, starts ``xunwen serve`` over the copy, and runs
``--clients`` keep-alive client threads (API keyword searches, a quoted phrase, the HTML
result page, article pages of known ids) for ``--seconds`` twice: first alone, then while
``--writers`` loops run ``xunwen reindex tiny.jsonl --index IX --wait`` with two new
articles each and ``xunwen delete`` of an earlier one every third run. Reports, per phase,
requests, p50/p95/p99/max latency, 5xx and transport errors, and the writer runs done.

    python bench/live_update.py --index /tmp/ix3k --seconds 60 --clients 6

Exit status 0 only when the phase with writers had zero 5xx, zero transport errors, at
least ``--min-runs`` incremental runs, and a p95 within 2x of the phase without writers.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from common import machine, start_server, stop_server  # noqa: E402
from hostile_load import Load  # noqa: E402

KEYWORDS = ["监督", "巡察 整改", "乡村振兴", "四川 暴雨", "经济 发展", "教育", "疫情 防控", "旅游 OR 乡村",
            "-监督 会议", "title:整改", "习近平", "一带一路 合作"]
PHRASES = ['"新闻联播"', '"专项检查"', '"乡村振兴"']


def known_ids(index: Path, n: int = 200) -> list[str]:
    """Return up to ``n`` article ids of the index (for article-page requests)."""
    out = subprocess.run([sys.executable, "-m", "search.cli", "search", "--index", str(index), "--json",
                          "--size", "100", "新闻"], cwd=ROOT, capture_output=True, text=True)
    ids = []
    try:
        for h in json.loads(out.stdout)["hits"]:
            ids.append(h["id"])
    except (ValueError, KeyError):
        pass
    return ids[:n] or ["missing"]


def paths(ids: list[str], n: int = 240) -> list[str]:
    """The clients' requests: API keywords, a phrase sorted by date, the result page, article pages."""
    out = []
    for k in range(n):
        kind = k % 4
        if kind == 0:
            out.append("/api/search?q=" + quote(KEYWORDS[k % len(KEYWORDS)]))
        elif kind == 1:
            out.append("/api/search?q=" + quote(PHRASES[k % len(PHRASES)]) + "&sort=newest")
        elif kind == 2:
            out.append("/?q=" + quote(KEYWORDS[(k * 7) % len(KEYWORDS)]))
        else:
            out.append("/article/" + quote(ids[k % len(ids)], safe="") + "?q=" + quote("监督"))
    return out


def phase(port: int, clients: int, ids: list[str], seconds: float) -> dict:
    """Run the clients for ``seconds``; return the phase's figures."""
    load = Load(port, paths(ids), clients).start()
    time.sleep(seconds)
    return load.finish()


class Writers:
    """Loops of tiny incremental runs (two new articles each) and a delete every third run."""

    def __init__(self, index: Path, scratch: Path, n: int):
        self.index, self.scratch, self.n = index, scratch, n
        self.stop = threading.Event()
        self.runs = 0
        self.deletes = 0
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.counter = itertools.count()

    def _cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "search.cli", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)

    def _loop(self, w: int) -> None:
        added: list[str] = []
        while not self.stop.is_set():
            k = next(self.counter)
            path = self.scratch / f"tiny-{w}.jsonl"
            recs = []
            for j in range(2):
                aid = f"live-{k:05d}-{j}"
                recs.append({"id": aid, "title": f"实时更新第{k}批监督巡察通报{j}",
                             "body": f"第{k}批第{j}篇。当地开展监督检查和巡察整改，乡村振兴取得进展，记录号{k * 7919 + j}。",
                             "date": "2024-05-01", "source": "实时测试"})
                added.append(aid)
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), "utf-8")
            r = self._cli("reindex", str(path), "--index", str(self.index), "--wait", "--no-progress")
            with self.lock:
                if r.returncode == 0:
                    self.runs += 1
                else:
                    self.failures.append(f"reindex {r.returncode}: {r.stderr[-300:]}")
            if k % 3 == 2 and len(added) > 2:
                victim = added.pop(0)
                for _ in range(40):  # delete has no --wait: retry while another run holds the lock
                    d = self._cli("delete", victim, "--index", str(self.index))
                    if d.returncode == 0 or "another xunwen process is writing" not in d.stderr:
                        break
                    time.sleep(0.5)
                with self.lock:
                    if d.returncode == 0:
                        self.deletes += 1
                    else:
                        self.failures.append(f"delete {d.returncode}: {d.stderr.strip()[-200:]}")

    def start(self) -> list[threading.Thread]:
        """Start the writer loops."""
        threads = [threading.Thread(target=self._loop, args=(w,), daemon=True) for w in range(self.n)]
        for t in threads:
            t.start()
        return threads


def main(argv: list[str] | None = None) -> int:
    """Run both phases and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, required=True, help="index to copy and serve")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--writers", type=int, default=2, help="parallel writer loops (they queue on the lock)")
    ap.add_argument("--threads", type=int, default=16, help="server threads")
    ap.add_argument("--min-runs", type=int, default=30)
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="xunwen-live-"))
    try:
        ix = scratch / "index"
        shutil.copytree(args.index, ix, symlinks=True)
        ids = known_ids(ix)
        proc, port = start_server(ix, args.threads, scratch / "serve.log")
        try:
            for path in ("/api/search?q=" + quote(q) for q in KEYWORDS + PHRASES):  # warm the caches
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                c.request("GET", path)
                c.getresponse().read()
                c.close()
            alone = phase(port, args.clients, ids, args.seconds)
            writers = Writers(ix, scratch, args.writers)
            wt = writers.start()
            live = phase(port, args.clients, ids, args.seconds)
            writers.stop.set()
            for t in wt:
                t.join(300)
        finally:
            stop_server(proc)
        log_text = (scratch / "serve.log").read_text(errors="replace")
        result = {
            "machine": machine(), "load_before": os.getloadavg(), "index": str(args.index),
            "seconds": args.seconds, "clients": args.clients, "writers": args.writers,
            "alone": alone, "with_writers": live,
            "incremental_runs": writers.runs, "deletes": writers.deletes,
            "writer_failures": writers.failures[:10], "writer_failure_count": len(writers.failures),
            "tracebacks_in_server_log": log_text.count("Traceback"),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), "utf-8")
    ok = (live["5xx"] == 0 and live["transport_errors"] == 0 and writers.runs >= args.min_runs
          and live["p95_ms"] <= 2 * alone["p95_ms"])
    print(f"alone p95 {alone['p95_ms']} ms, with writers p95 {live['p95_ms']} ms, "
          f"5xx {live['5xx']}, transport {live['transport_errors']}, runs {writers.runs}, "
          f"deletes {writers.deletes}: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
