"""The HTML pages, the feed and OpenSearch over a real index, read as a browser would read them."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest
from lxml import etree

from webutil import (  # noqa: F401 - fixtures are used by name
    CLUSTER_IDS,
    SOURCES,
    TRAD_ID,
    css,
    web_app,
    web_client,
    web_index,
)

ATOM = "{http://www.w3.org/2005/Atom}"


def _page(client, url: str, status: int = 200):  # type: ignore[no-untyped-def]
    resp = client.get(url)
    assert resp.status_code == status, (url, resp.status_code, resp.get_data(as_text=True)[:400])
    assert resp.mimetype == "text/html"
    return lxml.html.document_fromstring(resp.get_data(as_text=True))


def _hit_ids(doc) -> list[str]:  # type: ignore[no-untyped-def]
    return [urlsplit(a.get("href")).path.rsplit("/", 1)[-1] for a in css(doc, "li.hit h2 a")]


def _params(href: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(href).query)


def test_landing_page(web_client) -> None:
    doc = _page(web_client, "/")
    assert doc.get("lang") == "zh-CN"
    box = doc.get_element_by_id("q")
    assert box.get("name") == "q"
    assert css(doc, 'label[for="q"]'), "the search box has a label"
    assert css(doc, 'link[rel="search"][type="application/opensearchdescription+xml"]')
    assert css(doc, 'meta[name="viewport"]')
    assert "篇报道" in doc.text_content()


def test_results_page(web_client) -> None:
    doc = _page(web_client, "/?q=监督")
    assert doc.get_element_by_id("q").get("value") == "监督"
    hits = css(doc, "li.hit")
    assert len(hits) == 10
    assert css(doc, "li.hit h2 a mark"), "titles are highlighted"
    assert css(doc, "li.hit .snippet mark"), "snippets are highlighted"
    summary = css(doc, "h1.summary")[0].text_content()
    assert "共找到" in summary and "毫秒" in summary
    total = int(doc.get_element_by_id("total").text_content().replace(",", ""))
    assert total >= 30
    first = hits[0]
    href = css(first, "h2 a")[0].get("href")
    assert href.startswith("/article/") and _params(href)["q"] == ["监督"]
    assert css(first, ".meta .source") and css(first, ".meta time")
    original = css(first, "a.original")[0]
    assert original.get("href").startswith(("http://", "https://"))
    assert "noreferrer" in original.get("rel")
    # subscribe / export links carry the query
    feed = css(doc, 'link[rel="alternate"][type="application/atom+xml"]')[0].get("href")
    assert feed.startswith("/feed.xml") and _params(feed)["q"] == ["监督"]
    assert any(a.get("href").startswith("/api/search.csv?q=") for a in css(doc, "a"))


def test_source_facet_adds_and_removes_a_filter(web_client) -> None:
    doc = _page(web_client, "/?q=监督")
    links = css(doc, 'ul[data-facet="source"] a')
    assert {a.text.strip() for a in links} >= set(SOURCES)
    add = next(a for a in links if a.text.strip() == SOURCES[1])
    assert int(css(add, ".count")[0].text) > 0
    filtered = _page(web_client, add.get("href"))
    assert {s.text for s in css(filtered, "li.hit .source")} == {SOURCES[1]}
    on = css(filtered, 'ul[data-facet="source"] a.on')
    assert len(on) == 1 and on[0].get("aria-current") == "true"
    chips = css(filtered, "ul.chips a")
    assert chips and SOURCES[1] in chips[0].text_content()
    # following the selected facet again removes the filter
    back = _params(on[0].get("href"))
    assert "source" not in back and back["q"] == ["监督"]


def test_region_facet(web_client) -> None:
    doc = _page(web_client, "/?q=监督")
    link = next(a for a in css(doc, 'ul[data-facet="region"] a') if a.text.strip() == "宜宾")
    filtered = _page(web_client, link.get("href"))
    regions = [r.text for r in css(filtered, "li.hit .region")]
    assert regions and all("宜宾" in r for r in regions)


def test_sort_switch(web_client) -> None:
    doc = _page(web_client, "/?q=监督")
    newest = css(doc, 'a[data-sort="newest"]')[0]
    assert newest.text == "最新"
    assert css(doc, '.sort strong[aria-current="true"]')[0].text == "相关度"
    sorted_doc = _page(web_client, newest.get("href"))
    dates = [t.get("datetime") for t in css(sorted_doc, "li.hit time")]
    assert len(dates) == 10 and dates == sorted(dates, reverse=True)
    assert css(sorted_doc, '.sort strong[aria-current="true"]')[0].text == "最新"


def test_pagination(web_client) -> None:
    doc = _page(web_client, "/?q=监督")
    assert css(doc, '.pager strong[aria-current="page"]')[0].text == "1"
    nxt = css(doc, '.pager a[rel="next"]')[0]
    two = _page(web_client, nxt.get("href"))
    assert css(two, '.pager strong[aria-current="page"]')[0].text == "2"
    assert not set(_hit_ids(doc)) & set(_hit_ids(two))
    assert css(two, "ol.hits")[0].get("start") == "11"
    assert css(two, '.pager a[rel="prev"]')


def test_similar_reports_link_shows_the_copies(web_client) -> None:
    doc = _page(web_client, "/?q=巡察整改")
    links = [a for a in css(doc, "li.hit .similar a") if "篇相似报道" in a.text]
    assert links and links[0].text.startswith("2 ")
    copies = _page(web_client, links[0].get("href"))
    assert set(_hit_ids(copies)) == set(CLUSTER_IDS)


def test_month_timeline_bars_narrow_to_their_month(web_client) -> None:
    doc = _page(web_client, "/?q=监督")
    bars = css(doc, "figure.timeline svg a")
    assert len(bars) == 6  # January to June 2024
    labels = [b.get("aria-label") for b in bars]
    assert labels[0].startswith("2024-01") and labels[-1].startswith("2024-06")
    april = bars[3]
    params = _params(april.get("href"))
    assert params["from"] == ["2024-04-01"] and params["to"] == ["2024-04-30"]
    narrowed = _page(web_client, april.get("href"))
    dates = [t.get("datetime")[:7] for t in css(narrowed, "li.hit time")]
    assert dates and set(dates) == {"2024-04"}
    assert narrowed.get_element_by_id("from").get("value") == "2024-04-01"


def test_date_inputs_submit_with_the_search_form(web_client) -> None:
    doc = _page(web_client, "/?q=监督")
    for name in ("from", "to"):
        field = doc.get_element_by_id(name)
        assert field.get("type") == "date" and field.get("form") == "search-form"
        assert css(doc, f'label[for="{name}"]')


def test_empty_results_suggest_a_way_out(web_client) -> None:
    doc = _page(web_client, "/?q=旅游&source=不存在的来源&from=2024-06-20")
    text = doc.text_content()
    assert "没有找到" in text
    tips = css(doc, "section.empty li a")
    assert any("不存在的来源" in a.text for a in tips)
    drop_date = next(a for a in tips if "日期" in a.text)
    assert "from" not in _params(drop_date.get("href"))
    quoted = _page(web_client, '/?q="巡察整改 旅游"')
    assert any("不加引号" in a.text for a in css(quoted, "section.empty li a"))


def test_relaxed_results_say_so(web_client) -> None:
    doc = _page(web_client, "/?q=监督熊猫")  # no article mentions 熊猫
    assert css(doc, "p.relaxed") and "全部词语" in css(doc, "p.relaxed")[0].text_content()
    assert _hit_ids(doc) and all(i.startswith("sup-") for i in _hit_ids(doc))
    assert not css(_page(web_client, "/?q=监督"), "p.relaxed")


def test_bad_parameters_get_a_friendly_page(web_client) -> None:
    for url in ("/?q=监督&page=abc", "/?q=监督&from=2024-05-01&to=2024-01-01", "/?q=监督&size=5000"):
        doc = _page(web_client, url, status=400)
        assert "请求有误" in doc.text_content()
        assert doc.get_element_by_id("q").get("value") == "监督"


def test_article_page(web_client) -> None:
    doc = _page(web_client, "/?q=监督")
    href = css(doc, "li.hit h2 a")[0].get("href")
    art = _page(web_client, href)
    assert css(art, "article h1 mark"), "the title's matches are highlighted"
    assert css(art, "article .body mark"), "the text's matches are highlighted"
    meta = css(art, "dl.meta")[0].text_content()
    for label in ("来源", "发布时间", "地区", "原文"):
        assert label in meta
    assert css(art, "dl.meta a.original")[0].get("href").startswith("http")
    similar = css(art, "aside.similar-list li a")
    assert similar and all(a.get("href").startswith("/article/") for a in similar)
    assert css(art, 'p.back a')[0].get("href").startswith("/?q=")


def test_article_page_keeps_traditional_script_and_highlights(web_client) -> None:
    art = _page(web_client, f"/article/{TRAD_ID}?q=监督")
    marks = [m.text for m in css(art, "article .body mark")]
    assert marks and set(marks) == {"監督"}
    assert "珙縣紀委監委" in css(art, "article .body")[0].text_content()
    plain = _page(web_client, f"/article/{TRAD_ID}")
    assert not css(plain, "mark")


@pytest.mark.parametrize("path", ["/article/no-such-id", "/article/..%2F..%2Fpyproject.toml"])
def test_unknown_article_is_a_404_page(web_client, path: str) -> None:
    doc = _page(web_client, path, status=404)
    assert "找不到" in doc.text_content()
    assert css(doc, 'link[rel="search"]')


def test_atom_feed(web_client) -> None:
    resp = web_client.get("/feed.xml?q=监督")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/atom+xml")
    root = etree.fromstring(resp.get_data())
    assert root.tag == f"{ATOM}feed"
    assert "监督" in root.findtext(f"{ATOM}title")
    entries = root.findall(f"{ATOM}entry")
    assert 10 < len(entries) <= 20
    published = [e.findtext(f"{ATOM}published") for e in entries]
    assert published == sorted(published, reverse=True)
    for entry in entries:
        assert entry.findtext(f"{ATOM}id") and entry.findtext(f"{ATOM}updated")
        link = entry.find(f"{ATOM}link[@rel='alternate']").get("href")
        assert urlsplit(link).path.startswith("/article/")
    assert root.findtext(f"{ATOM}updated") == published[0]


def test_feed_filters_and_errors(web_client) -> None:
    root = etree.fromstring(web_client.get(f"/feed.xml?q=监督&source={SOURCES[2]}").get_data())
    authors = {e.findtext(f"{ATOM}author/{ATOM}name") for e in root.findall(f"{ATOM}entry")}
    assert authors == {SOURCES[2]}
    assert web_client.get("/feed.xml?q=监督&from=garbage").status_code == 400


def test_opensearch_description(web_client) -> None:
    resp = web_client.get("/opensearch.xml")
    assert resp.headers["Content-Type"].startswith("application/opensearchdescription+xml")
    root = etree.fromstring(resp.get_data())
    ns = "{http://a9.com/-/spec/opensearch/1.1/}"
    assert root.findtext(f"{ns}ShortName") == "寻闻"
    templates = {u.get("type"): u.get("template") for u in root.findall(f"{ns}Url")}
    assert templates["text/html"].endswith("/?q={searchTerms}")
    assert "{searchTerms}" in templates["application/atom+xml"]


@pytest.mark.parametrize("url", ["/", "/?q=监督", f"/article/{TRAD_ID}", "/no/such/page"])
def test_every_page_links_opensearch(web_client, url: str) -> None:
    resp = web_client.get(url)
    doc = lxml.html.document_fromstring(resp.get_data(as_text=True))
    assert css(doc, 'link[rel="search"]')[0].get("href") == "/opensearch.xml"


def test_article_page_links_the_other_versions_only_when_there_are_some(web_client) -> None:
    art = _page(web_client, f"/article/{CLUSTER_IDS[0]}")
    link = css(art, "p.cluster a")[0]
    assert "另有 2 个版本" in link.text
    versions = _page(web_client, link.get("href"))
    assert set(_hit_ids(versions)) == set(CLUSTER_IDS)
    assert not css(_page(web_client, f"/article/{TRAD_ID}"), "p.cluster")
