"""Query help and page conventions over real indexes: pinyin, aliases, "did you mean",
suggestions, region names and the province map, gzip, robots.txt, 405 and feed errors."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest
from lxml import etree

from webutil import (  # noqa: F401 - fixtures are used by name
    css,
    web_app,
    web_client,
    web_index,
)

ATOM = "{http://www.w3.org/2005/Atom}"


def _doc(client, url: str, status: int = 200):  # type: ignore[no-untyped-def]
    resp = client.get(url)
    assert resp.status_code == status, (url, resp.status_code, resp.get_data(as_text=True)[:300])
    return lxml.html.document_fromstring(resp.get_data(as_text=True))


def _api(client, **params):  # type: ignore[no-untyped-def]
    resp = client.get("/api/search", query_string={"size": 100, "collapse": "false", **params})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return resp.get_json()


def _texts(client, ident: str) -> str:  # type: ignore[no-untyped-def]
    art = client.get(f"/api/articles/{ident}").get_json()["article"]
    return art["title"] + art["body"]


# --------------------------------------------------------------------------- pinyin


@pytest.mark.parametrize("q", ["gongxian", "gong xian", "gong3xian4", "gǒngxiàn", "GongXian"])
def test_pinyin_finds_the_han_words_it_spells(web_client, q: str) -> None:
    body = _api(web_client, q=q)
    assert body["total"] > 0
    plain = _api(web_client, q="珙县")["total"]
    assert body["total"] >= plain > 0
    ids = {h["id"] for h in body["hits"]}
    assert {h["id"] for h in _api(web_client, q="珙县")["hits"]} <= ids
    # the page says what the pinyin was read as, with a link to the Han word
    assert body["expansions"] == [{"text": q, "alternatives": body["expansions"][0]["alternatives"],
                                   "kind": "pinyin", "field": None}]
    assert "珙县" in body["expansions"][0]["alternatives"]
    doc = _doc(web_client, "/?q=" + q)
    note = doc.get_element_by_id("expansion")
    assert "拼音" in note.text_content() and "珙县" in note.text_content()
    assert any(parse_qs(urlsplit(a.get("href")).query)["q"] == ["珙县"] for a in css(note, "a"))


def test_pinyin_of_a_common_word(web_client) -> None:
    hits = _api(web_client, q="jiandu")["hits"]
    assert hits
    for h in hits:
        text = _texts(web_client, h["id"])
        assert "监督" in text or "監督" in text, h["title"]


def test_a_word_that_is_not_pinyin_is_left_alone(web_client) -> None:
    assert _api(web_client, q="xyzzy")["total"] == 0  # no Han word is spelt by it
    assert _doc(web_client, "/?q=xyzzy").xpath('//*[@id="expansion"]') == []
    # a tone that the word does not have: no reading
    assert _api(web_client, q="gong1xian1")["total"] == 0
    # a Latin word that articles hold is a word, not pinyin
    assert _api(web_client, q="example")["total"] > 0
    assert _doc(web_client, "/?q=example").xpath('//*[@id="expansion"]') == []


# --------------------------------------------------------------------------- did you mean


def test_did_you_mean_offers_the_homophone(web_client) -> None:
    body = _api(web_client, q="监肚")
    assert body["total"] == 0 and body["did_you_mean"][0] == "监督"  # the API offers the same
    doc = _doc(web_client, "/?q=监肚")
    box = doc.get_element_by_id("didyoumean")
    offered = [parse_qs(urlsplit(a.get("href")).query)["q"][0] for a in css(box, "a")]
    assert offered[0] == "监督", offered
    assert _api(web_client, q=offered[0])["total"] > 10


def test_no_did_you_mean_when_results_are_many(web_client) -> None:
    assert _doc(web_client, "/?q=监督").xpath('//*[@id="didyoumean"]') == []


# --------------------------------------------------------------------------- suggestions


def test_opensearch_suggestions_endpoint(web_client) -> None:
    resp = web_client.get("/suggest?q=监")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/x-suggestions+json")
    prefix, words, descriptions, urls = json.loads(resp.get_data(as_text=True))
    assert prefix == "监" and "监督" in words
    assert all(w.startswith("监") for w in words[:2])
    assert len(descriptions) == len(urls) == len(words)
    assert parse_qs(urlsplit(urls[words.index("监督")]).query)["q"] == ["监督"]
    # pinyin as one types, and nothing for nothing
    assert "珙县" in json.loads(web_client.get("/suggest?q=gongxian").get_data(as_text=True))[1]
    assert json.loads(web_client.get("/suggest?q=").get_data(as_text=True)) == ["", [], [], []]


def test_opensearch_advertises_suggestions_and_the_page_works_without_script(web_client) -> None:
    root = etree.fromstring(web_client.get("/opensearch.xml").get_data())
    ns = "{http://a9.com/-/spec/opensearch/1.1/}"
    types = {u.get("type"): u.get("template") for u in root.iter(f"{ns}Url")}
    assert types["application/x-suggestions+json"].endswith("/suggest?q={searchTerms}")
    doc = _doc(web_client, "/")
    form = doc.get_element_by_id("search-form")
    assert form.get("action") == "/" and form.get("method") == "get"  # a plain GET form
    scripts = doc.xpath("//script")
    assert len(scripts) == 1 and scripts[0].get("src") == "/static/xunwen.js"
    assert scripts[0].get("defer") is not None and not (scripts[0].text or "").strip()


# --------------------------------------------------------------------------- regions


def test_region_filter_takes_full_names(web_client) -> None:
    short = _api(web_client, q="监督", region="四川")["total"]
    assert short > 0
    assert _api(web_client, q="监督", region="四川省")["total"] == short
    assert _api(web_client, q="监督", region="宜宾市")["total"] == _api(web_client, q="监督", region="宜宾")["total"] > 0


def test_province_map_and_region_tree(web_client) -> None:
    doc = _doc(web_client, "/?q=监督")
    svg = css(doc, "svg.region-map")
    assert len(svg) == 1
    tiles = svg[0].xpath(".//*[@data-region]")
    assert len(tiles) == 34 and len({t.get("data-region") for t in tiles}) == 34
    sichuan = [t for t in tiles if t.get("data-region") == "四川"][0]
    assert sichuan.tag.endswith("a")
    assert parse_qs(urlsplit(sichuan.get("href")).query)["region"] == ["四川"]
    facet = {f["value"]: f["count"] for f in _api(web_client, q="监督")["facets"]["region"]}
    assert f"{facet['四川']} 篇" in sichuan.get("aria-label")
    # a province with no results is no link
    assert [t for t in tiles if t.get("data-region") == "西藏"][0].tag.endswith("g")
    # accessible text equivalent
    assert "四川省" in css(doc, ".map-text")[0].text_content()
    # 省 › 市 › 县: cities hang under their province
    top = css(doc, 'ul[data-facet="region"]')[0]
    sc = [li for li in top.xpath("./li") if li.get("data-level") == "1" and "四川" in li.xpath("string(./a)")]
    assert sc, lxml.html.tostring(top)[:400]
    children = sc[0].xpath("./ul/li/a")
    assert children and {"宜宾", "成都"} <= {c.text.strip() for c in children}


# --------------------------------------------------------------------------- HTTP conventions


@pytest.mark.parametrize(
    ("url", "mimetype"),
    [
        ("/?q=监督", "text/html"),
        ("/api/search?q=监督", "application/json"),
        ("/api/search.csv?q=监督", "text/csv"),
        ("/api/export?q=监督&format=jsonl", "application/x-ndjson"),
        ("/feed.xml?q=监督", "application/atom+xml"),
    ],
)
def test_gzip_when_the_client_takes_it(web_client, url: str, mimetype: str) -> None:
    plain = web_client.get(url)
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.headers.get("Vary", "")
    zipped = web_client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.mimetype == mimetype and zipped.headers["Content-Encoding"] == "gzip"
    raw = zipped.get_data()

    def same(data: bytes) -> bytes:  # the time taken differs between two requests
        return re.sub(rb'"took_ms":[0-9.]+|\xe7\x94\xa8\xe6\x97\xb6 [0-9]+', b"", data)

    assert same(gzip.decompress(raw)) == same(plain.get_data())
    if mimetype != "text/csv":  # the CSV is streamed: compare the whole, not the sizes of small ones
        assert len(raw) < len(plain.get_data())
    refused = web_client.get(url, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers


def test_robots_and_meta_description(web_client) -> None:
    resp = web_client.get("/robots.txt")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    lines = resp.get_data(as_text=True).splitlines()
    assert "User-agent: *" in lines and "Disallow: /api/" in lines
    for url in ("/", "/?q=监督"):
        meta = _doc(web_client, url).xpath('//meta[@name="description"]/@content')
        assert meta and len(meta[0]) > 10


def test_405_has_allow(web_client) -> None:
    for url in ("/api/search", "/", "/feed.xml"):
        resp = web_client.post(url)
        assert resp.status_code == 405
        assert "GET" in {m.strip() for m in resp.headers["Allow"].split(",")}


def test_feed_errors_are_xml(web_client) -> None:
    resp = web_client.get("/feed.xml?q=监督&from=garbage")
    assert resp.status_code == 400 and resp.mimetype == "application/xml"
    root = etree.fromstring(resp.get_data())
    assert root.tag == f"{ATOM}feed"
    assert "日期" in root.findtext(f"{ATOM}subtitle")
    err = root.find("{urn:xunwen:error}error")
    assert err.get("code") == "bad_date" and err.get("status") == "400"


# --------------------------------------------------------------------------- mobile


def test_filters_come_before_the_results_in_a_panel(web_client) -> None:
    doc = _doc(web_client, "/?q=监督")
    panel = css(doc, "details.filters-panel")
    assert len(panel) == 1 and panel[0].get("open") is not None  # open without script
    assert panel[0].xpath("./summary") and css(panel[0], 'ul[data-facet="source"]')
    order = [el for el in doc.iter() if el is panel[0] or "hits" in (el.get("class") or "").split()]
    assert order[0] is panel[0]


def test_timeline_labels_its_years(web_client) -> None:
    doc = _doc(web_client, "/?q=监督")
    years = css(doc, "figure.timeline .years span")
    assert [y.text for y in years] == ["2024"]
    assert years[0].get("class") == "m6"  # the six months of bars


# --------------------------------------------------------------------------- aliases


ALIAS_RECORDS = [
    {"id": "ndrc-full", "title": "国家发展和改革委员会印发通知", "body": "国家发展和改革委员会日前印发通知，部署价格监测工作。",
     "source": "新华网", "published": "2024-03-01 10:00", "url": "https://example.com/a"},
    {"id": "ndrc-short", "title": "省发改委召开会议", "body": "省发改委召开会议，研究重点项目建设。",
     "source": "四川日报", "published": "2024-03-02 10:00", "url": "https://example.com/b"},
    {"id": "hrss", "title": "市人力资源和社会保障局发布招聘信息", "body": "市人力资源和社会保障局发布事业单位招聘信息。",
     "source": "中国新闻网(chinanews.com)", "published": "2024-03-03 10:00", "url": "https://www.chinanews.com.cn/c.html"},
    {"id": "other", "title": "春耕备耕有序推进", "body": "各地春耕备耕有序推进，农资供应充足。",
     "source": "中国新闻网(chinanews.com)", "published": "2024-03-04 10:00", "url": "https://www.chinanews.com.cn/d.html"},
    {"id": "nick", "title": "老张的故事", "body": "张三丰师傅在社区开办了免费书法课。",
     "source": "新华网", "published": "2024-03-05 10:00", "url": "https://example.com/e"},
]


@pytest.fixture(scope="module")
def alias_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import write_jsonl
    from search.indexer import reindex

    base = tmp_path_factory.mktemp("aliases")
    summary = reindex([write_jsonl(base / "a.jsonl", ALIAS_RECORDS)], base / "index", rebuild=True, procs=1)
    assert summary.indexed == len(ALIAS_RECORDS)
    return base / "index"


def _ids(client, q: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {h["id"] for h in _api(client, q=q)["hits"]}


def test_abbreviations_find_the_full_names_and_back(alias_index: Path) -> None:
    from web import create_app

    client = create_app({"INDEX_DIR": str(alias_index), "TESTING": True}).test_client()
    assert _ids(client, "发改委") == {"ndrc-full", "ndrc-short"}
    assert _ids(client, "国家发展和改革委员会") == {"ndrc-full", "ndrc-short"}
    assert _ids(client, "人社局") == {"hrss"}
    note = _doc(client, "/?q=人社局").get_element_by_id("expansion").text_content()
    assert "人力资源和社会保障局" in note
    # source labels go through the table too
    assert _ids(client, "source:中新网") == {"hrss", "other"}
    assert _ids(client, "source:中新网 春耕") == {"other"}


def test_a_user_alias_file_named_in_the_config(alias_index: Path, tmp_path: Path) -> None:
    from search import aliases
    from web import create_app

    user = tmp_path / "my-aliases.tsv"
    user.write_text("# our own\n张师傅\t张三丰\n", encoding="utf-8")
    try:
        client = create_app({"INDEX_DIR": str(alias_index), "TESTING": True,
                             "ALIASES_FILE": str(user)}).test_client()
        assert _ids(client, "张师傅") == {"nick"}
        assert _ids(client, "发改委") == {"ndrc-full", "ndrc-short"}  # the shipped table still applies
    finally:
        aliases.set_user_file(None)
    assert _ids(client, "张师傅") == set()


def test_alias_table_format() -> None:
    from search.aliases import AliasTable, parse_table, table

    groups = parse_table("# c\n甲\t乙\t丙\n\n单独\n")
    assert groups == [("甲", "乙", "丙")]
    t = AliasTable(groups)
    assert t.alternatives("乙") == ("甲", "丙") and t.alternatives("丁") == ()
    shipped = table()
    for short, full in [("发改委", "发展和改革委员会"), ("中新网", "中国新闻网"), ("人社局", "人力资源和社会保障局"),
                        ("市场监管局", "市场监督管理局")]:
        assert full in shipped.alternatives(short), short
    assert shipped.alternatives("發改委") == shipped.alternatives("发改委")  # keys are folded


@pytest.mark.parametrize("q", ["\x00", "-", '"', "a" * 100, "监" * 100, "OR", "title:", "%ff", "jian" * 30,
                               "zhuang" * 20, "ǎ1", "'''", "gong3xian4 jiāndū ü"])
def test_query_help_takes_any_input(web_client, q: str) -> None:
    resp = web_client.get("/suggest", query_string={"q": q})
    assert resp.status_code == 200
    prefix, words, _, _ = json.loads(resp.get_data(as_text=True))
    assert isinstance(words, list) and all(isinstance(w, str) for w in words)
    for url in ("/", "/api/search"):
        assert web_client.get(url, query_string={"q": q}).status_code == 200


def test_initials_where_unambiguous(alias_index: Path) -> None:
    from web import create_app

    client = create_app({"INDEX_DIR": str(alias_index), "TESTING": True}).test_client()
    body = _api(client, q="fgw")
    assert body["expansions"][0]["alternatives"][0] == "发改委"
    assert {h["id"] for h in body["hits"]} == {"ndrc-full", "ndrc-short"}  # and its aliases
    assert _api(client, q="bbq")["expansions"] == []
