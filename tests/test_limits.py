"""Limits and headers: query length, page size, result window, request size, pathological
queries; security headers on every response, no debug mode, no path traversal.

Most checks use the Flask test client over a small real index; the request-size, raw-bytes
and debug-mode checks run against a real ``xunwen serve`` on a free loopback port, because
they are about what the production server does with the bytes on the wire.

Timings are not asserted here (bench/soak.py ``--pathological`` measures them); what is
asserted is that pathological queries are answered (200) or refused (400), never a 5xx.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import write_jsonl
from search import SearchEngine, SearchRequest
from search.engine import MAX_SIZE, MAX_WINDOW
from search.errors import BadQuery
from search.indexer import reindex
from search.query import MAX_QUERY_CHARS
from webutil import free_port, start_server, stop_server


def _records(n: int = 60) -> list[dict]:
    rng = random.Random(3)
    chars = [chr(0x4E00 + rng.randrange(0, 5000)) for _ in range(3000)]
    out = []
    for i in range(n):
        body = "".join(rng.choice(chars) for _ in range(300))
        out.append({"id": f"lim-{i:03d}", "title": f"第{i}号限制测试{body[:6]}", "body": f"监督检查{body}",
                    "url": f"https://lim.example.cn/{i}.html", "source": "测试源",
                    "published": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 10:00"})
    return out


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("limits")
    assert reindex([write_jsonl(d / "c.jsonl", _records())], d / "index", rebuild=True, procs=1).indexed == 60
    return d / "index"


@pytest.fixture(scope="module")
def client(index_dir):
    from web import create_app

    return create_app({"INDEX_DIR": str(index_dir), "TESTING": True}).test_client()


def err(resp) -> str:
    assert resp.status_code == 400, (resp.status_code, resp.get_data()[:300])
    body = resp.get_json()
    assert body["ok"] is False and body["status"] == 400
    return body["error"]


# ------------------------------------------------------------------ limits


def test_query_length_limit(client) -> None:
    assert client.get("/api/search?q=" + quote("监" * MAX_QUERY_CHARS)).status_code == 200
    msg = err(client.get("/api/search?q=" + quote("监" * (MAX_QUERY_CHARS + 1))))
    assert str(MAX_QUERY_CHARS) in msg.replace(",", "")


def test_size_limit(client) -> None:
    assert client.get(f"/api/search?q=监督&size={MAX_SIZE}").status_code == 200
    assert str(MAX_SIZE) in err(client.get(f"/api/search?q=监督&size={MAX_SIZE + 1}"))


def test_result_window(client) -> None:
    last_page = MAX_WINDOW // 10
    assert client.get(f"/api/search?q=监督&page={last_page}&size=10").status_code == 200
    msg = err(client.get(f"/api/search?q=监督&page={last_page + 1}&size=10"))
    assert str(MAX_WINDOW) in msg.replace(",", "")
    # The engine enforces the same window for library callers.
    with pytest.raises(BadQuery):
        SearchEngine(client.application.config["INDEX_DIR"]).search(SearchRequest(q="监督", page=11, size=100))


def test_request_body_limit_in_the_app(client) -> None:
    limit = client.application.config["MAX_CONTENT_LENGTH"]
    assert limit and limit <= 1024 * 1024
    resp = client.post("/api/search", data=b"x" * (limit + 1), content_type="application/octet-stream")
    assert resp.status_code in (405, 413), resp.status_code
    assert resp.get_json()["ok"] is False


def pathological(index_dir: Path) -> dict[str, str]:
    """Queries whose cost grows with their length: each compiles hundreds of terms."""
    rng = random.Random(11)
    chars = sorted({c for r in _records() for c in r["body"] if "\u4e00" <= c <= "\u9fff"})
    return {
        "300 distinct single characters": " ".join(rng.sample(chars, 300))[:MAX_QUERY_CHARS],
        "300 characters unspaced": "".join(rng.sample(chars, 300)),
        "OR chain of 200 characters": " OR ".join(rng.sample(chars, 200))[:MAX_QUERY_CHARS],
        "330 exclusions": " ".join("-" + c for c in rng.sample(chars, 330))[:MAX_QUERY_CHARS],
        "long phrase": '"' + "".join(rng.sample(chars, 400))[:MAX_QUERY_CHARS - 2] + '"',
    }


@pytest.mark.parametrize("name", list(pathological(Path())))
def test_pathological_queries_are_answered_or_refused(client, index_dir, name) -> None:
    q = pathological(index_dir)[name]
    resp = client.get("/api/search?q=" + quote(q))
    assert resp.status_code in (200, 400), (name, resp.status_code)
    if resp.status_code == 200:
        assert resp.get_json()["total"] >= 0


# ------------------------------------------------------------------ headers and routes


@pytest.mark.parametrize("url", [
    "/", "/?q=监督", "/?q=监督&page=abc", "/article/lim-001", "/article/nope", "/api/search?q=监督",
    "/api/search?size=x", "/api/articles/lim-001", "/api/articles/nope", "/api/search.csv?q=监督",
    "/feed.xml?q=监督", "/opensearch.xml", "/api/openapi.json", "/healthz", "/static/style.css",
    "/static/nope.css", "/nope", "/api/nope",
])
def test_security_headers_on_every_response(client, url) -> None:
    resp = client.get(url)
    assert resp.status_code < 500, (url, resp.status_code)
    csp = resp.headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    script = directives.get("script-src", directives.get("default-src"))
    assert script is not None, csp
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, csp
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"
    assert resp.headers.get("Referrer-Policy"), url


@pytest.mark.parametrize("path", [
    "/article/..%2f..%2fpyproject.toml", "/article/%2e%2e", "/article/../../etc/passwd",
    "/api/articles/..%2f..%2fpyproject.toml", "/api/articles/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/api/articles/..", "/static/../pyproject.toml", "/static/%2e%2e/pyproject.toml",
    "/static/..%2f..%2fpyproject.toml", "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/static/....//pyproject.toml",
    "/static/%252e%252e/pyproject.toml", "/static/..%5c..%5cpyproject.toml", "/static/%00../pyproject.toml",
    "/static//etc/passwd", "/static/../web/__init__.py",
])
def test_no_path_traversal(client, path) -> None:
    resp = client.get(path, follow_redirects=True)
    assert resp.status_code in (400, 404), (path, resp.status_code)
    data = resp.get_data()
    assert b"[project]" not in data and b"root:x:0:0" not in data and b"create_app" not in data


# ------------------------------------------------------------------ a real server


@pytest.fixture(scope="module")
def server(index_dir, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("limits-server") / "server.log"
    proc = start_server(index_dir, port, log)
    try:
        yield port, log
    finally:
        stop_server(proc)


def raw(port: int, request: bytes) -> tuple[int, bytes]:
    """Send raw bytes; return the status code and the whole response."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(request)
        except (ConnectionResetError, BrokenPipeError):
            # The server answered and closed before the whole request was sent (it refuses
            # an oversized body early); whatever it answered may still be readable.
            pass
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not b:
                break
            chunks.append(b)
    data = b"".join(chunks)
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data


@pytest.mark.slow
def test_server_is_not_in_debug_mode(server) -> None:
    port, log = server
    status, data = raw(port, b"GET /api/search?page=%FF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 400
    assert b"Werkzeug Debugger" not in data and b"Traceback" not in data
    status, data = raw(port, b"GET /console HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 404 and b"Debugger" not in data
    text = log.read_text(errors="replace")
    assert "Debug mode: on" not in text and "Debugger is active" not in text
    assert "waitress" in text.lower() or "serving" in text.lower()


@pytest.mark.parametrize("request_line", [
    b"GET /api/search?q=\xff\xfe HTTP/1.1",
    b"GET /api/search?q=\xe7\x9b\x91\xff HTTP/1.1",
    b"GET /api/search?q=%FF%FE%00 HTTP/1.1",
    b"GET /?q=\x00\x01 HTTP/1.1",
    b"GET /article/\xff HTTP/1.1",
    b"GET /api/articles/%FF%FE HTTP/1.1",
])
def test_server_raw_bytes_in_the_url(server, request_line) -> None:
    status, data = raw(server[0], request_line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert 200 <= status < 500, (status, data[:300])


def test_server_refuses_big_bodies_and_headers(server) -> None:
    port, _ = server
    body = b"x" * (2 * 1024 * 1024)
    status, _ = raw(port, b"POST /api/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: "
                    + str(len(body)).encode() + b"\r\n\r\n" + body)
    # 405/413, or the connection cut before the body was taken (status 0): refused either way.
    assert status in (0, 405, 413), status
    status, _ = raw(port, b"GET /api/search?q=" + b"a" * (200 * 1024) + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert 400 <= status < 500, status
    status, _ = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200  # still serving


# ------------------------------------------------------------------ one budget per request


@pytest.fixture()
def spent_client(index_dir):
    """An app whose requests get a zero-second budget: spent before any stage starts."""
    from web import create_app

    return create_app({"INDEX_DIR": str(index_dir), "TESTING": True, "BUDGET_SECONDS": 0.0}).test_client()


def test_a_query_that_cannot_match_in_its_budget_is_a_400(spent_client) -> None:
    message = err(spent_client.get("/api/search?q=" + quote("监督 检查")))
    assert "too expensive" in message
    resp = spent_client.get("/?q=" + quote("监督"))
    assert resp.status_code == 400 and "太费时" in resp.get_data(as_text=True)  # the page speaks Chinese
    # Nothing to match (filters and dates only): answered as usual.
    ok = spent_client.get("/api/search?sort=newest&source=" + quote("测试源"))
    assert ok.status_code == 200 and ok.get_json()["total"] == 60


def test_the_article_page_past_its_budget_is_served_unmarked(client, spent_client) -> None:
    marked = client.get("/article/lim-001?q=" + quote("监督")).get_data(as_text=True)
    assert "<mark>监督</mark>" in marked
    resp = spent_client.get("/article/lim-001?q=" + quote("监督"))
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "<mark>" not in page and "监督检查" in page  # the text as written, all of it


def test_stages_past_the_budget_stop_and_mark_the_result_partial() -> None:
    from search.budget import Budget
    from search.highlight import highlight_html, snippet_html

    b = Budget(0.0)
    assert highlight_html("四川监督", ["监督"], budget=b) == "四川监督"
    assert b.partial
    b = Budget(60.0)
    assert highlight_html("四川监督", ["监督"], budget=b) == "四川<mark>监督</mark>" and not b.partial
    text = "监督" + "的" * 5000 + "检查"
    assert "<mark>" in snippet_html(text, ["监督", "检查"], budget=b) and not b.partial


def test_expensive_work_beyond_the_slots_and_queue_is_a_503_with_retry_after(index_dir, monkeypatch) -> None:
    from search import budget
    from web import create_app

    limiter = budget.Limiter(slots=1, waiting=0)
    monkeypatch.setattr(budget, "LIMITER", limiter)
    monkeypatch.setattr(budget, "EXPENSIVE_CPU", -1.0)  # every request counts as expensive here
    c = create_app({"INDEX_DIR": str(index_dir), "TESTING": True}).test_client()
    assert limiter.acquire(0)  # someone else is doing expensive work
    try:
        resp = c.get("/api/search?q=" + quote("监督"))
        assert resp.status_code == 503
        assert resp.headers["Retry-After"].isdigit()
        body = resp.get_json()
        assert body["ok"] is False and body["status"] == 503 and body["error"] and set(body) <= {"ok", "error", "status", "code"}
        assert c.get("/?q=" + quote("监督")).status_code == 503
    finally:
        limiter.release()
    # The slot is free again: the same request is answered, and gives its slot back.
    assert c.get("/api/search?q=" + quote("监督")).status_code == 200
    assert c.get("/api/search?q=" + quote("检查")).status_code == 200


def test_the_limiter_queues_within_the_budget_then_refuses() -> None:
    import threading

    from search.budget import Limiter, Overloaded

    lim = Limiter(slots=1, waiting=1)
    assert lim.acquire(0)
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(lim.acquire(30)))
    waiter.start()
    while lim._waiters == 0:  # the waiter is queued
        waiter.join(0.01)
    with pytest.raises(Overloaded):
        lim.acquire(30)  # the queue is full: refused at once
    lim.release()
    waiter.join(30)
    assert got == [True]
    assert not lim.acquire(0)  # the waiter holds the slot now
    lim.release()


# ------------------------------------------------------------------ linear highlighting


def test_highlighting_a_million_single_character_matches() -> None:
    from search.highlight import MAX_SCAN_CHARS, highlight_html, snippet_html

    text = "的" * 1_000_000
    html = highlight_html(text, ["的"])
    assert html.startswith("<mark>") and html.count("<mark>") >= 1
    assert html.endswith("的" * (1_000_000 - MAX_SCAN_CHARS))  # past the scan: as written
    snip = snippet_html(text, ["的"])
    assert "<mark>" in snip and len(snip) < 1000
    mixed = "".join("的一" for _ in range(100_000))
    assert highlight_html(mixed, ["的", "一"]).count("<mark>") >= 1


def test_the_article_page_of_a_long_article(tmp_path) -> None:
    from web import create_app

    body = ("的" * 50 + "。今天召开监督会议。\n") * 6000
    ix = tmp_path / "index"
    reindex([write_jsonl(tmp_path / "long.jsonl", [{"id": "long-1", "title": "长文", "body": body}])],
            ix, rebuild=True, procs=1)
    c = create_app({"INDEX_DIR": str(ix), "TESTING": True}).test_client()
    resp = c.get("/article/long-1?q=" + quote("的"))
    assert resp.status_code == 200 and "<mark>" in resp.get_data(as_text=True)
    resp = c.get("/api/search?q=" + quote("的 监督"))
    assert resp.status_code == 200 and resp.get_json()["total"] == 1


# ------------------------------------------------------------------ slow connections


@pytest.mark.slow
def test_slow_connections_do_not_stop_the_server(server) -> None:
    """200 connections that trickle a request's first bytes (what exhausted waitress's
    connection limit before): ordinary requests are still answered, and the server closes
    the slow ones once their headers are overdue (web.serve.HEADER_TIMEOUT)."""
    import time

    from web.serve import HEADER_TIMEOUT

    port, _ = server
    slow = []
    try:
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(b"GET /api/search?q=")
            slow.append(s)
        for _ in range(3):
            for s in slow:
                try:
                    s.sendall(b"x")
                except OSError:
                    pass
            status, _ = raw(port, b"GET /api/search?q=%E7%9B%91%E7%9D%A3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert status == 200
            time.sleep(1)
        # The slow ones are closed by the server (liveness bound, not a timing claim).
        deadline = time.monotonic() + HEADER_TIMEOUT + 60
        closed = 0
        for s in slow:
            try:
                while True:  # whatever the server says first, it must end the connection
                    s.settimeout(max(0.1, deadline - time.monotonic()))
                    if s.recv(1024) == b"":
                        closed += 1
                        break
            except ConnectionResetError:
                closed += 1
            except TimeoutError:
                pass
        assert closed == 200
    finally:
        for s in slow:
            s.close()
    status, _ = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200


def test_a_query_known_to_be_expensive_queues_before_it_starts(index_dir, monkeypatch) -> None:
    """Words whose postings add up to many passes over the collection need the expensive
    slot before matching starts; an ordinary query does not, even while the slot is taken."""
    from search import budget
    from web import create_app

    limiter = budget.Limiter(slots=1, waiting=0)
    monkeypatch.setattr(budget, "LIMITER", limiter)
    c = create_app({"INDEX_DIR": str(index_dir), "TESTING": True}).test_client()
    heavy = " ".join(["监督", "检查"] * 10)  # every article holds both: 20 passes over the index
    assert c.get("/api/search?q=" + quote(heavy)).status_code == 200
    assert limiter.acquire(0)
    try:
        resp = c.get("/api/search?q=" + quote(heavy))
        assert resp.status_code == 503 and resp.headers["Retry-After"].isdigit()
        assert c.get("/api/search?q=" + quote("监督")).status_code == 200
    finally:
        limiter.release()
