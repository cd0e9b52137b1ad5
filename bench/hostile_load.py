"""Expensive queries against ordinary ones: can a few attackers starve everybody else?

Starts ``xunwen serve`` over ``--index`` (e.g. 20,000 corpus articles plus one 300,000-
character article, id ``--long-id``) and runs ``--clients`` ordinary keep-alive clients
(the committed query set, ``bench/queries.txt``, through ``/api/search``) for ``--seconds``
alone, then again with ``--attackers`` clients sending expensive requests in turn: a quoted
run of 64 的, a pasted paragraph, 的 alone, an OR chain of single characters, and the long
article's page with ``?q=的``. Reports the ordinary clients' p50/p95/max in both phases,
every attacker answer's status and the slowest one, and 5xx / transport errors. A third
phase (``--slow``, 200 by default) runs the ordinary clients beside connections that send
one byte of a request line every 5 seconds.

    python bench/hostile_load.py --index /tmp/ix20k --long-id long-300k --seconds 60

Exit status 0 only when: ordinary p95 with attackers <= 3x alone, slowest expensive answer
<= ``--max-expensive`` seconds (4 by default: the 3 s budget plus slack), no 5xx at all
and no transport error; and beside the slow connections every ordinary answer within 1 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from common import machine, percentiles, read_queries, start_server, stop_server  # noqa: E402

PARAGRAPH = ("今天上午，省委常委会召开会议，传达学习中央有关会议精神，研究部署下一阶段的经济社会发展、"
             "乡村振兴、生态环境保护、安全生产和疫情防控等重点工作。会议强调，要坚持稳中求进工作总基调，"
             "完整准确全面贯彻新发展理念，加快构建新发展格局，着力推动高质量发展，统筹发展和安全，"
             "保持经济运行在合理区间，切实保障和改善民生，确保社会大局和谐稳定。") * 3


def attacks(long_id: str) -> list[str]:
    """The expensive requests, sent in turn by every attacker."""
    chars = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研"
    return [
        "/api/search?q=" + quote('"' + "的" * 64 + '"'),
        "/api/search?q=" + quote(PARAGRAPH[:1000]),
        "/api/search?q=" + quote("的"),
        "/api/search?q=" + quote(" OR ".join(chars[:200])),
        "/article/" + quote(long_id, safe="") + "?q=" + quote("的"),
        "/?q=" + quote("的 是 在"),
    ]


class Slow:
    """Connections that trickle one byte of a request line every ``every`` seconds, reopened when closed."""

    def __init__(self, port: int, n: int, every: float = 5.0):
        self.port, self.n, self.every = port, n, every
        self.stop = threading.Event()
        self.closed_by_server = 0
        self.socks: list[socket.socket | None] = []

    def _open(self) -> socket.socket | None:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(b"GET /api/search?q=")
            s.setblocking(False)
            return s
        except OSError:
            return None

    def _run(self) -> None:
        self.socks = [self._open() for _ in range(self.n)]
        while not self.stop.wait(self.every):
            for i, s in enumerate(self.socks):
                try:
                    if s is None:
                        raise OSError
                    s.send(b"x")
                    try:
                        if s.recv(1024) == b"":
                            raise OSError
                    except BlockingIOError:
                        pass
                except OSError:
                    if s is not None:
                        self.closed_by_server += 1
                        s.close()
                    self.socks[i] = self._open()
        for s in self.socks:
            if s is not None:
                s.close()

    def start(self) -> Slow:
        """Open the connections and start trickling."""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def finish(self) -> dict:
        """Close everything; return how many the server closed."""
        self.stop.set()
        self.thread.join(60)
        return {"slow_connections": self.n, "closed_by_server": self.closed_by_server}


class Load:
    """Client threads over a list of paths; every answer's status and latency is kept."""

    def __init__(self, port: int, paths: list[str], n: int):
        self.port, self.paths, self.n = port, paths, n
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.lat: list[float] = []
        self.by_path: dict[str, float] = {}
        self.status: Counter[str] = Counter()
        self.samples: list[str] = []
        self.threads: list[threading.Thread] = []
        self.started = 0.0

    def _run(self, i: int) -> None:
        conn = None
        k = i * 17
        while not self.stop.is_set():
            path = self.paths[k % len(self.paths)]
            k += 1
            t = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                code = str(resp.status)
                if resp.status == 503:
                    time.sleep(float(resp.getheader("Retry-After") or 1))
            except (OSError, http.client.HTTPException) as exc:
                code = "transport:" + type(exc).__name__
                conn = None
            dt = time.perf_counter() - t
            with self.lock:
                self.lat.append(dt)
                self.status[code] += 1
                self.by_path[path] = max(self.by_path.get(path, 0.0), dt)
                if code[0] in "5t" and len(self.samples) < 10:
                    self.samples.append(f"{code} {path[:120]}")

    def start(self) -> Load:
        """Start the client threads."""
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.n)]
        self.started = time.perf_counter()
        for t in self.threads:
            t.start()
        return self

    def finish(self) -> dict:
        """Stop the clients; return their figures."""
        self.stop.set()
        for t in self.threads:
            t.join(180)
        wall = time.perf_counter() - self.started
        pct = percentiles([x * 1000 for x in self.lat], (50, 95, 99))
        return {"requests": len(self.lat), "rps": round(len(self.lat) / wall, 1),
                **{k + "_ms": round(v, 1) for k, v in pct.items()},
                "max_ms": round(max(self.lat) * 1000, 1) if self.lat else None,
                "status": dict(self.status),
                "5xx": sum(v for s, v in self.status.items() if s.startswith("5")),
                "transport_errors": sum(v for s, v in self.status.items() if s.startswith("transport")),
                "samples": self.samples}


def main(argv: list[str] | None = None) -> int:
    """Run the two phases and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--long-id", default="long-300k")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--attackers", type=int, default=6)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--max-expensive", type=float, default=4.0)
    ap.add_argument("--slow", type=int, default=200, help="slow connections in the third phase (0: none)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    ordinary = ["/api/search?q=" + quote(q) for q in read_queries()]
    log_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"xunwen-hostile-{os.getpid()}.log"
    proc, port = start_server(args.index, args.threads, log_file)
    try:
        warm = Load(port, ordinary, 2).start()
        time.sleep(min(20.0, args.seconds / 3))
        warm.finish()
        load_before = os.getloadavg()
        alone = Load(port, ordinary, args.clients).start()
        time.sleep(args.seconds)
        alone = alone.finish()
        base = Load(port, ordinary, args.clients).start()
        attack = Load(port, attacks(args.long_id), args.attackers).start()
        time.sleep(args.seconds)
        attack_res = attack.finish()
        with_attack = base.finish()
        slow_res = None
        if args.slow:
            slow = Slow(port, args.slow).start()
            time.sleep(2)
            under_slow = Load(port, ordinary, args.clients).start()
            time.sleep(args.seconds)
            slow_res = {"ordinary": under_slow.finish(), **slow.finish()}
        load_after = os.getloadavg()
    finally:
        stop_server(proc)
    text = log_file.read_text(errors="replace")
    log_file.unlink(missing_ok=True)
    slowest = max(attack.by_path.values()) if attack.by_path else 0.0
    result = {
        "machine": machine(), "load_before": load_before, "load_after": load_after,
        "index": str(args.index), "seconds": args.seconds, "clients": args.clients,
        "attackers": args.attackers, "threads": args.threads,
        "ordinary_alone": alone, "ordinary_with_attackers": with_attack, "attackers_result": attack_res,
        "slow_phase": slow_res,
        "slowest_expensive_s": round(slowest, 2),
        "slowest_by_request": {p[:80]: round(v, 2) for p, v in attack.by_path.items()},
        "tracebacks_in_server_log": text.count("Traceback"),
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), "utf-8")
    ratio = with_attack["p95_ms"] / alone["p95_ms"] if alone["p95_ms"] else float("inf")
    five = alone["5xx"] + with_attack["5xx"] + attack_res["5xx"]
    transport = alone["transport_errors"] + with_attack["transport_errors"] + attack_res["transport_errors"]
    ok = ratio <= 3.0 and slowest <= args.max_expensive and five == 0 and transport == 0
    if slow_res:
        o = slow_res["ordinary"]
        ok = ok and o["max_ms"] <= 1000 and o["5xx"] == 0 and o["transport_errors"] == 0
        print(f"with {args.slow} slow connections: ordinary p95 {o['p95_ms']} ms, max {o['max_ms']} ms, "
              f"{o['requests']} requests; the server closed {slow_res['closed_by_server']} slow connections")
    print(f"ordinary p95 alone {alone['p95_ms']} ms, with {args.attackers} attackers {with_attack['p95_ms']} ms "
          f"({ratio:.2f}x); slowest expensive answer {slowest:.2f} s; 5xx {five}; transport {transport}: "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
