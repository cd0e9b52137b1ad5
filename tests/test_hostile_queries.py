"""Hostile queries: whatever arrives in ``q`` or any other parameter, the answer is a 200
with the documented shape or a 400 with the one error shape, never a 5xx or a traceback.

Runs against ``web.create_app`` (Flask test client) over a small real index built from a
jsonl written here, and against ``SearchEngine`` and the CLI directly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_jsonl
from search import SearchEngine, SearchRequest
from search.errors import BadQuery
from search.indexer import reindex

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ("q", "page", "size", "sort", "from", "to", "source", "region", "category", "cluster",
          "collapse", "limit", "recency", "nonexistent")
OK_KEYS = {"ok", "query", "total", "page", "size", "took_ms", "hits", "facets"}
HIT_KEYS = {"id", "title", "title_html", "url", "source", "region", "published", "score",
            "snippet_html", "similar_count"}


def _records() -> list[dict]:
    topics = ("监督检查", "巡察整改", "乡村旅游", "防汛演练", "医保基金", "营商环境", "河长制", "食品安全")
    recs = []
    for i in range(40):
        t = topics[i % len(topics)]
        recs.append({
            "id": f"q-{i:03d}", "title": f"四川第{i}期{t}工作通报",
            "body": f"本期围绕{t}开展工作，编号{i * 7919 % 10007}。群众反映的问题已整改{i}项。"
                    f"C++ 与 A/B 测试、COVID-19、5G 网络在第{i}号文件中提到。",
            "url": f"https://news.example.cn/{i}.html", "source": ("四川日报", "中新网", "宜宾新闻网")[i % 3],
            "published": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 09:00", "category": "时政",
        })
    return recs


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hostile-queries")
    s = reindex([write_jsonl(d / "corpus.jsonl", _records())], d / "index", rebuild=True, procs=1)
    assert s.indexed == 40
    return d / "index"


@pytest.fixture(scope="module")
def app(index_dir):
    from web import create_app

    return create_app({"INDEX_DIR": str(index_dir), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def check_api(resp) -> dict:
    """Assert a 200 of the documented shape or a 400 of the error shape; return the body."""
    assert resp.status_code in (200, 400), (resp.status_code, resp.get_data()[:400])
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    if resp.status_code == 400:
        assert set(body) == {"ok", "error", "code", "status"}, body
        assert body["ok"] is False and body["status"] == 400
        assert isinstance(body["error"], str) and body["error"].strip()
        assert "Traceback" not in body["error"]
    else:
        assert body["ok"] is True
        assert OK_KEYS <= set(body), set(body)
        assert isinstance(body["total"], int) and body["total"] >= 0
        assert isinstance(body["hits"], list) and len(body["hits"]) <= body["size"]
        for h in body["hits"]:
            assert HIT_KEYS <= set(h), set(h)
        assert {"source", "region", "month"} <= set(body["facets"])
    return body


def encode(params: list[tuple[str, str]]) -> str:
    """Percent-encode as a browser would; unpaired surrogates go out as their raw (invalid) bytes."""
    return "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in params)


# Characters a query language might trip on, plus control characters and surrogates.
_nasty = st.sampled_from(list('"\'()[]{}*?~^:+-!|&\\/<>%#;=,.@$`') +
                         ["\x00", "\x01", "\x1b", "\x7f", "\u0085", "\u2028", "\ufeff", "\ud800", "\udfff",
                          "\u202e", "\u200b", "\uffff", "ＯＲ", " OR ", " AND ", " NOT ", "title:", "source:",
                          "region:", "site:", "标题:", "foo:", "监督", "整改", "四川", "COVID-19", "C++"])
_text = st.lists(st.one_of(_nasty, st.text(max_size=8)), max_size=12).map("".join)
_values = st.one_of(
    _text,
    st.sampled_from(["0", "-1", "1", "2", "100", "101", "1000", "999999999", "99999999999", "1e3", "0x10",
                     "１", " 5 ", "2024-01-01", "2024-12-31", "2024-02-30", "2024-13-01", "24-1-1",
                     "2024/01/01", "０２０２４-01-01", "9999-12-31", "0001-01-01", "true", "false", "yes",
                     "relevance", "newest", "oldest", "RELEVANCE", "random", "四川日报", "q-001"]),
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.lists(st.tuples(st.sampled_from(PARAMS), _values), max_size=8))
def test_api_search_any_parameters(client, params) -> None:
    check_api(client.get(f"/api/search?{encode(params)}"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.lists(st.tuples(st.sampled_from(PARAMS), _values), max_size=6))
def test_other_routes_any_parameters(client, params) -> None:
    query = encode(params)
    for path in ("/", "/api/search.csv", "/feed.xml", "/article/q-001"):
        resp = client.get(f"{path}?{query}")
        assert resp.status_code in (200, 400), (path, query, resp.status_code, resp.get_data()[:300])


@settings(max_examples=120, deadline=None)
@given(q=_text)
def test_engine_raises_nothing_but_badquery(index_dir, q) -> None:
    engine = _engine(index_dir)
    try:
        page = engine.search(SearchRequest(q=q))
    except BadQuery:
        return
    assert page.total + page.total_relaxed >= len(page.hits)  # looser matches follow a short list


_ENGINES: dict[Path, SearchEngine] = {}


def _engine(index_dir: Path) -> SearchEngine:
    if index_dir not in _ENGINES:
        _ENGINES[index_dir] = SearchEngine(index_dir)
    return _ENGINES[index_dir]


EXPLICIT = [
    ("q", "监" * 10_000),
    ("q", "监督 " * 2_000),
    ("q", "a" * 10_000),
    ("q", "\x00"),
    ("q", "监\x00督"),
    ("q", "".join(chr(c) for c in range(32)) + "\x7f"),
    ("q", "\ud800"),
    ("q", "监督\udc00"),
    ("q", '"'),
    ("q", '"监督'),
    ("q", "("),
    ("q", ")"),
    ("q", "((("),
    ("q", "监督)"),
    ("q", "*"),
    ("q", "?"),
    ("q", "~"),
    ("q", "监督~2"),
    ("q", "监*"),
    ("q", "*:*"),
    ("q", "OR"),
    ("q", "监督 OR OR 整改"),
    ("q", "AND NOT"),
    ("q", "-"),
    ("q", "--监督"),
    ("q", "-监督"),
    ("q", "nosuchfield:监督"),
    ("q", "body:监督"),
    ("q", "id:q-001"),
    ("q", "title:"),
    ("q", "site:"),
    ("q", "region:"),
    ("q", "source:\""),
    ("q", "site:http://[::1"),
    ("q", "\\"),
    ("q", "<script>alert(1)</script>"),
    ("page", "99999999999"),
    ("page", "999999999"),
    ("page", "0"),
    ("page", "-1"),
    ("page", "1.5"),
    ("size", "1000000"),
    ("size", "101"),
    ("size", "0"),
    ("size", "999999999"),
    ("from", "2024-13-01"),
    ("from", "2024-02-30"),
    ("from", "yesterday"),
    ("from", "0000-00-00"),
    ("to", "-2024-01-01"),
    ("to", "2024-01-01T25:00"),
    ("sort", "score desc"),
    ("collapse", "maybe"),
    ("cluster", "x" * 5000),
    ("source", "\x00"),
]


@pytest.mark.parametrize("name,value", EXPLICIT, ids=lambda v: repr(v)[:30])
def test_explicit_hostile_parameter(client, name, value) -> None:
    body = check_api(client.get(f"/api/search?{encode([(name, value)])}"))
    if name in ("page", "size") and value in ("99999999999", "999999999", "1000000", "0", "-1", "1.5", "101"):
        assert body["ok"] is False
    if name == "q" and len(value) >= 10_000:
        assert body["ok"] is False and "1000" in body["error"]


def test_from_after_to_is_a_clear_400(client) -> None:
    body = check_api(client.get("/api/search?q=监督&from=2024-05-01&to=2024-04-01"))
    assert body["ok"] is False and "from" in body["error"] and "to" in body["error"]


def test_huge_page_inside_window_is_empty_not_an_error(client) -> None:
    body = check_api(client.get("/api/search?q=监督&page=100&size=10"))
    assert body["ok"] is True and body["hits"] == []


@pytest.mark.parametrize("raw", [
    "q=%FF%FE", "q=%C0%AF", "q=%ED%A0%80", "q=%E7%9B", "q=%00", "q=%", "q=%zz", "q=%%%",
    "%FF=%FF", "q=%E7%9B%91%E7%9D%A3%FF", "page=%FF", "from=%FF", "source=%FF%FE&source=%FE",
    "q=a&q=b&q=%FF", "q=" + "%FF" * 3000, "&&&&", "=", "q", "q==", "q=%2B%2D%21",
])
def test_invalid_utf8_and_broken_escapes_in_the_url(client, raw) -> None:
    check_api(client.get(f"/api/search?{raw}"))
    assert client.get(f"/?{raw}").status_code in (200, 400)
    assert client.get(f"/api/search.csv?{raw}").status_code in (200, 400)


def test_many_filter_values_are_refused_cleanly(client) -> None:
    query = "&".join(f"source=s{i}" for i in range(500))
    body = check_api(client.get(f"/api/search?q=监督&{query}"))
    assert body["ok"] is False


@pytest.mark.slow
def test_cli_search_with_hostile_queries(index_dir) -> None:
    for q in ['"', "(((", "*", "\x01监督", "nosuch:x", "监" * 1500]:
        r = subprocess.run([sys.executable, "-m", "search.cli", "search", q, "--index", str(index_dir), "--json"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode in (0, 2), (q[:20], r.returncode, r.stderr[-500:])
        assert "Traceback" not in r.stderr
        if r.returncode == 0:
            assert json.loads(r.stdout)["total"] >= 0
