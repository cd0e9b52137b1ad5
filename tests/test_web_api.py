"""The JSON API over a real index of the test corpus: shapes, parameters, errors."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from search import SearchEngine, SearchRequest
from web import create_app
from web.export import CSV_COLUMNS
from webutil import (  # noqa: F401 - fixtures are used by name
    CLUSTER_IDS,
    HOSTILE_ID,
    SOURCES,
    TRAD_ID,
    assert_error_shape,
    corpus_records,
    web_app,
    web_client,
    web_index,
)

HIT_KEYS = {
    "id", "title", "title_html", "url", "source", "region", "published", "score",
    "snippet_html", "similar_count", "cluster", "category",
}


def _search(client, **params):  # type: ignore[no-untyped-def]
    resp = client.get("/api/search", query_string=params)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["ok"] is True
    return body


def test_search_shape_and_hits_are_the_engines(web_client, web_index) -> None:
    body = _search(web_client, q="监督", size=5)
    for key in ("query", "total", "page", "size", "took_ms", "hits", "facets"):
        assert key in body
    assert body["query"] == "监督" and body["page"] == 1 and body["size"] == 5
    assert body["total"] >= 30
    assert len(body["hits"]) == 5
    for hit in body["hits"]:
        assert set(hit) == HIT_KEYS
        assert "<mark>" in hit["title_html"] + hit["snippet_html"]
    for name in ("source", "region", "month"):
        assert body["facets"][name], name
        for fv in body["facets"][name]:
            # region values also say where they sit in the 省 › 市 › 县 tree
            extra = {"level"} | ({"parent"} if fv.get("level", 0) > 1 else set()) if name == "region" else set()
            assert set(fv) == {"value", "count"} | extra and fv["count"] > 0
    assert {fv["value"] for fv in body["facets"]["source"]} >= set(SOURCES)
    # the API adds nothing to the engine's hits: the same request gives the same dicts
    page = SearchEngine(str(web_index)).search(SearchRequest(q="监督", size=5))
    assert body["hits"] == [h.to_dict() for h in page.hits]


def test_traditional_and_simplified_find_each_other(web_client) -> None:
    simp = {h["id"] for h in _search(web_client, q="监督", size=100)["hits"]}
    trad = {h["id"] for h in _search(web_client, q="監督", size=100)["hits"]}
    assert TRAD_ID in simp and TRAD_ID in trad


def test_pages_do_not_overlap(web_client) -> None:
    one = _search(web_client, q="监督", size=5, page=1)
    two = _search(web_client, q="监督", size=5, page=2)
    assert one["total"] == two["total"] and two["page"] == 2
    assert not {h["id"] for h in one["hits"]} & {h["id"] for h in two["hits"]}


@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_sort_by_date(web_client, sort: str) -> None:
    hits = _search(web_client, q="监督", size=20, sort=sort)["hits"]
    dates = [h["published"] for h in hits]
    assert all(dates)
    assert dates == sorted(dates, reverse=(sort == "newest"))


def test_date_range(web_client) -> None:
    body = _search(web_client, q="监督", size=100, **{"from": "2024-02-01", "to": "2024-03-31"})
    assert body["total"] > 0
    assert all("2024-02-01" <= h["published"][:10] <= "2024-03-31" for h in body["hits"])
    months = {fv["value"] for fv in body["facets"]["month"]}
    assert months <= {"2024-02", "2024-03"}


def test_source_filters_combine_as_or(web_client) -> None:
    one = _search(web_client, q="监督", size=100, source=SOURCES[0])
    assert one["total"] > 0 and {h["source"] for h in one["hits"]} == {SOURCES[0]}
    both = web_client.get(
        "/api/search", query_string=[("q", "监督"), ("size", "100"),
                                     ("source", SOURCES[0]), ("source", SOURCES[1])]
    ).get_json()
    assert {h["source"] for h in both["hits"]} == {SOURCES[0], SOURCES[1]}
    assert both["total"] > one["total"]


def test_region_and_category_filters(web_client) -> None:
    body = _search(web_client, q="监督", size=100, region="宜宾")
    assert body["total"] > 0
    assert all("宜宾" in h["region"] for h in body["hits"])
    cat = _search(web_client, q="四川", size=100, category="文旅")
    assert cat["total"] > 0 and {h["category"] for h in cat["hits"]} == {"文旅"}


def test_collapse_and_cluster(web_client) -> None:
    collapsed = _search(web_client, q="巡察整改", size=50)["hits"]
    copies = [h for h in collapsed if h["id"] in CLUSTER_IDS]
    assert len(copies) == 1 and copies[0]["similar_count"] == 2
    cluster = copies[0]["cluster"]
    expanded = _search(web_client, q="巡察整改", size=50, collapse="false")["hits"]
    assert set(CLUSTER_IDS) <= {h["id"] for h in expanded}
    only = _search(web_client, q="巡察整改", cluster=cluster, collapse="false")
    assert {h["id"] for h in only["hits"]} == set(CLUSTER_IDS)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": "监督", "page": "abc"}, "bad_page"),
        ({"q": "监督", "page": "-1"}, "bad_page"),
        ({"q": "监督", "page": "0"}, "bad_page"),
        ({"q": "监督", "size": "1.5"}, "bad_size"),
        ({"q": "监督", "size": "0"}, "bad_size"),
        ({"q": "监督", "size": "101"}, "bad_size"),
        ({"q": "监督", "size": "100", "page": "11"}, "window"),
        ({"q": "监督", "page": "99999999999999999999"}, "bad_page"),
        ({"q": "监督", "sort": "random"}, "bad_sort"),
        ({"q": "监督", "from": "2024-13-45"}, "bad_date"),
        ({"q": "监督", "to": "yesterday"}, "bad_date"),
        ({"q": "监督", "from": "2024-05-01", "to": "2024-04-01"}, "bad_date_range"),
        ({"q": "监督", "collapse": "maybe"}, "bad_boolean"),
        ({"q": "监督", "source": [f"s{i}" for i in range(25)]}, "too_many_filters"),
        ({"q": "监" * 1001}, "query_too_long"),
    ],
)
def test_bad_parameters_are_400_with_a_message_and_a_code(web_client, params, code) -> None:
    body = assert_error_shape(web_client.get("/api/search", query_string=params), 400)
    assert "Traceback" not in body["error"]
    assert body["code"] == code, body
    # the page says the same in Chinese, with no English sentence left in it
    resp = web_client.get("/", query_string=params)
    assert resp.status_code == 400
    import lxml.html

    text = lxml.html.document_fromstring(resp.get_data(as_text=True)).xpath(
        'string(//*[contains(@class, "notice")][contains(@class, "error")]//p[1])')
    assert re.search(r"[\u4e00-\u9fff]{4}", text), text
    assert not re.search(r"[A-Za-z]{3,} [A-Za-z]{3,} [A-Za-z]{3,}", text), text


@pytest.mark.parametrize(
    "raw",
    [
        "q=%ff%fe%00",  # invalid UTF-8 and NUL
        "q=%ED%A0%80",  # an unpaired surrogate, UTF-8-encoded
        "q=" + "监" * 10_000,
        "q=(((",
        "q=a%20OR%20OR%20b",
        "q=*",
        "q=%22",
        "q=nosuchfield%3Afoo",
        "q=%E7%9B%91%E7%9D%A3&page=%ff",
    ],
)
def test_hostile_queries_never_fail(web_client, raw: str) -> None:
    resp = web_client.get("/api/search?" + raw)
    assert resp.status_code in (200, 400), resp.get_data(as_text=True)[:300]
    if resp.status_code == 400:
        assert_error_shape(resp, 400)
    else:
        assert resp.get_json()["ok"] is True


def test_article_json(web_client) -> None:
    resp = web_client.get(f"/api/articles/{TRAD_ID}")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["ok"] is True
    art = body["article"]
    assert art["id"] == TRAD_ID and "監督" in art["body"] and art["title"].startswith("四川珙縣")
    assert art["published"].startswith("2024-04-29T13:45") and art["published"].endswith("+08:00")
    assert "origin" not in art  # server paths stay private


@pytest.mark.parametrize(
    "path",
    [
        "/api/articles/no-such-id",
        "/api/articles/..%2F..%2Fetc%2Fpasswd",
        "/api/articles/../../etc/passwd",
        "/api/articles/%00",
    ],
)
def test_unknown_article_is_404_json(web_client, path: str) -> None:
    assert_error_shape(web_client.get(path), 404)


def test_other_http_errors_are_json(web_client) -> None:
    assert_error_shape(web_client.get("/api/nothing-here"), 404)
    assert_error_shape(web_client.post("/api/search", data={"q": "x"}), 405)


def test_healthz(web_client) -> None:
    resp = web_client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"ok": True, "articles": len(corpus_records())}


def test_missing_index_is_503_with_the_fix(tmp_path) -> None:
    client = create_app({"INDEX_DIR": str(tmp_path / "none"), "TESTING": True}).test_client()
    for path in ("/api/search?q=x", "/healthz"):
        body = assert_error_shape(client.get(path), 503)
        assert "xunwen reindex" in body["error"]
    page = client.get("/?q=x")
    assert page.status_code == 503 and "xunwen reindex" in page.get_data(as_text=True)


def test_config_from_environment(monkeypatch, web_index) -> None:
    monkeypatch.setenv("XUNWEN_INDEX_DIR", str(web_index))
    monkeypatch.setenv("XUNWEN_API_PAGE_SIZE", "3")
    app = create_app()
    assert app.config["INDEX_DIR"] == str(web_index)
    assert len(app.test_client().get("/api/search?q=监督").get_json()["hits"]) == 3
    # test config wins over the environment
    app = create_app({"API_PAGE_SIZE": 4})
    assert len(app.test_client().get("/api/search?q=监督").get_json()["hits"]) == 4


# --------------------------------------------------------------------------- CSV


def _csv_rows(resp) -> list[list[str]]:  # type: ignore[no-untyped-def]
    data = resp.get_data()
    assert data.startswith("\ufeff".encode()), data[:20]
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_export_has_bom_header_and_all_matches(web_client) -> None:
    resp = web_client.get("/api/search.csv", query_string={"q": "监督"})
    assert resp.status_code == 200 and resp.is_streamed
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = _csv_rows(resp)
    assert tuple(rows[0]) == CSV_COLUMNS
    api = _search(web_client, q="监督", size=100)
    assert len(rows) - 1 == api["stories"] == int(resp.headers["X-Total-Count"])
    assert [r[0] for r in rows[1:]] == [h["id"] for h in api["hits"]]
    snippet = rows[1][CSV_COLUMNS.index("snippet")]
    assert snippet and "<mark>" not in snippet


def test_csv_walks_past_one_batch(web_app) -> None:
    app = create_app({**web_app.config, "EXPORT_BATCH": 7})
    rows = _csv_rows(app.test_client().get("/api/search.csv?q=监督&limit=20"))
    assert rows[-1][0] == "#truncated"  # 20 of more: the file says it was cut
    ids = [r[0] for r in rows[1:-1]]
    assert len(ids) == 20 == len(set(ids))


def test_export_cap_is_documented_and_a_cut_file_says_so(web_app, web_client) -> None:
    assert web_app.config["EXPORT_MAX_ROWS"] >= 100_000
    total = _search(web_client, q="监督")["stories"]
    app = create_app({**web_app.config, "EXPORT_MAX_ROWS": 9, "EXPORT_BATCH": 4})
    client = app.test_client()
    rows = _csv_rows(client.get("/api/search.csv?q=监督"))
    assert len(rows) == 1 + 9 + 1
    assert rows[-1][0] == "#truncated" and f"9 of {total}" in rows[-1][1] and "截断" in rows[-1][1]
    lines = client.get("/api/export?q=监督&format=jsonl").get_data(as_text=True).splitlines()
    records = [json.loads(x) for x in lines]
    assert len(records) == 10 and all("id" in r for r in records[:9])
    assert records[-1]["truncated"] is True and records[-1]["rows"] == 9 and records[-1]["total"] == total
    # an export that holds every match has no such line
    whole = _csv_rows(web_client.get("/api/search.csv?q=监督"))
    assert len(whole) - 1 == total and whole[-1][0] != "#truncated"


def test_jsonl_export_has_every_match(web_client) -> None:
    resp = web_client.get("/api/export?q=监督&format=jsonl&collapse=false")
    assert resp.status_code == 200 and resp.is_streamed
    assert resp.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    records = [json.loads(x) for x in resp.get_data(as_text=True).splitlines()]
    api = _search(web_client, q="监督", collapse="false", size=100)
    assert [r["id"] for r in records] == [h["id"] for h in api["hits"]] and len(records) == api["total"]
    assert all(isinstance(r["region"], list) and "<mark>" not in r["snippet"] for r in records)
    assert_error_shape(web_client.get("/api/export?q=监督&format=xlsx"), 400)


def test_csv_cells_are_formula_safe(web_client) -> None:
    rows = _csv_rows(web_client.get("/api/search.csv", query_string={"q": "监督", "collapse": "false"}))
    evil = [r for r in rows[1:] if r[0] == HOSTILE_ID]
    assert len(evil) == 1
    row = dict(zip(CSV_COLUMNS, evil[0]))
    assert row["source"].startswith("'=")
    for rec in rows[1:]:
        for name, cell in zip(CSV_COLUMNS, rec):
            if name != "score":
                assert not cell.lstrip(" \u3000").startswith(("=", "+", "-", "@")), (name, cell)


def test_csv_limit_and_errors(web_client) -> None:
    rows = _csv_rows(web_client.get("/api/search.csv?q=监督&limit=5"))
    assert len(rows) == 7 and rows[-1][0] == "#truncated"
    assert_error_shape(web_client.get("/api/search.csv?q=监督&limit=abc"), 400)
    assert assert_error_shape(web_client.get("/api/search.csv?q=监督&limit=500000"), 400)["code"] == "bad_limit"
    assert_error_shape(web_client.get("/api/search.csv?q=监督&from=2024-02-30x"), 400)
