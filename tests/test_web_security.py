"""Hostile article text is inert everywhere; headers; no traversal; parameters fuzzed."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import lxml.html
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from web.params import safe_url
from webutil import (  # noqa: F401 - fixtures are used by name
    HOSTILE,
    HOSTILE_ID,
    OWN_SCRIPT,
    active_content,
    assert_error_shape,
    css,
    web_app,
    web_client,
    web_index,
)

ATOM = "{http://www.w3.org/2005/Atom}"
EVIL_SOURCE = HOSTILE["source"]


def _html(client, url: str) -> str:  # type: ignore[no-untyped-def]
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    return resp.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/?q=监督&collapse=false&size=100",
        f"/?q=监督&source={quote(EVIL_SOURCE)}",
        "/?q=script",
        "/?q=alert",
        f"/article/{HOSTILE_ID}",
        f"/article/{HOSTILE_ID}?q=监督",
        f"/article/{HOSTILE_ID}?q=" + quote('<script>alert(1)</script>'),
    ],
)
def test_hostile_article_is_inert_on_pages(web_client, url: str) -> None:
    text = _html(web_client, url)
    assert active_content(text) == []
    assert text.count(OWN_SCRIPT) == 1
    assert "<script" not in text.replace(OWN_SCRIPT, "").lower()


def test_hostile_article_text_is_shown_not_dropped(web_client) -> None:
    doc = lxml.html.document_fromstring(_html(web_client, f"/article/{HOSTILE_ID}"))
    title = css(doc, "article h1")[0].text_content()
    assert '<script>alert("t")</script>' in title  # visible as text
    body = css(doc, "article .body")[0].text_content()
    assert "onclick=" in body and "=HYPERLINK(" in body
    # a javascript: URL is shown as text but never linked
    assert not css(doc, "a.original")
    assert "javascript:alert(document.cookie)" in css(doc, "dl.meta")[0].text_content()


def test_hostile_article_in_results(web_client) -> None:
    doc = lxml.html.document_fromstring(_html(web_client, "/?q=监督&collapse=false&size=100"))
    hit = next(li for li in css(doc, "li.hit") if HOSTILE_ID in css(li, "h2 a")[0].get("href"))
    assert not css(hit, "a.original")  # javascript: URL → no link
    assert "<script>" in css(hit, "h2")[0].text_content()
    facet_values = [a.text.strip() for a in css(doc, 'ul[data-facet="source"] a')]
    assert EVIL_SOURCE in facet_values


def test_hostile_article_in_feed(web_client) -> None:
    resp = web_client.get("/feed.xml?q=alert")
    root = etree.fromstring(resp.get_data())  # well-formed despite the markup in the data
    entry = next(e for e in root.findall(f"{ATOM}entry") if HOSTILE_ID in e.findtext(f"{ATOM}id"))
    assert entry.findtext(f"{ATOM}title") == HOSTILE["title"]
    assert entry.find(f"{ATOM}link[@rel='related']") is None
    assert entry.findtext(f"{ATOM}author/{ATOM}name") == EVIL_SOURCE
    for summary in root.iter(f"{ATOM}summary"):
        # a feed reader decodes type="html" once and renders it: it must be inert HTML
        assert active_content(f"<div>{summary.text or ''}</div>") == []
        assert "<script" not in (summary.text or "").lower()


def test_no_javascript_urls_become_links() -> None:
    for bad in [
        "javascript:alert(1)", " JavaScript:alert(1)", "java\tscript:alert(1)", "data:text/html,x",
        "vbscript:x", "//evil.example/x", "/relative", "http://", "https://a b.example/",
        'https://x.example/"onmouseover=alert(1)', "http://[::1", "ftp://x.example/", None, "",
    ]:
        assert safe_url(bad) is None, bad
    for good in ["http://example.com/a?b=1&c=2", "HTTPS://www.sc.chinanews.com.cn/x.html",
                 "https://例子.中国/新闻"]:
        assert safe_url(good) == good.strip()


@pytest.mark.parametrize(
    "url", ["/", "/?q=监督", f"/article/{HOSTILE_ID}", "/api/search?q=x", "/api/search?page=x",
            "/feed.xml?q=x", "/static/style.css", "/nope", "/healthz", "/api/search.csv?q=x"]
)
def test_security_headers_everywhere(web_client, url: str) -> None:
    resp = web_client.get(url)
    csp = resp.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'none'"]
    # one optional script, our own file: no inline code, nothing from elsewhere, fetches to us only
    assert directives["script-src"] == ["'self'"] and directives["connect-src"] == ["'self'"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["frame-ancestors"] == ["'none'"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin-when-cross-origin")


@pytest.mark.parametrize("url", ["/", "/?q=监督", "/?q=监督&page=abc", f"/article/{HOSTILE_ID}", "/nope"])
def test_pages_have_no_inline_script_or_style(web_client, url: str) -> None:
    assert active_content(web_client.get(url).get_data(as_text=True)) == []


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pyproject.toml",
        "/static/%2e%2e/pyproject.toml",
        "/static/..%2fpyproject.toml",
        "/static/..%2f..%2fpyproject.toml",
        "/static/%2e%2e%2f__init__.py",
        "/static//etc/passwd",
        "/static/..\\__init__.py",
        "/article/..%2f..%2fpyproject.toml",
    ],
)
def test_no_path_traversal(web_client, path: str) -> None:
    resp = web_client.get(path, follow_redirects=True)  # "//" is merged by a redirect first
    assert resp.status_code == 404, (path, resp.status_code)
    assert all(urlsplit(r.location).path.startswith("/static/") for r in resp.history)
    assert b"[project]" not in resp.get_data() and b"create_app" not in resp.get_data()


def test_static_files_are_served(web_client) -> None:
    resp = web_client.get("/static/style.css")
    assert resp.status_code == 200 and resp.mimetype == "text/css"


_PARAM_NAMES = ("q", "page", "size", "sort", "from", "to", "source", "region", "category",
                "cluster", "collapse")
_values = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["0", "-1", "1e9", "99999999999", "2024-02-30", "2024-01-01", "true", "*", "(((",
                     '"', "~", "?", "title:x", "a OR OR b", "监督", "\x00", "\ud800"]),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.lists(st.tuples(st.sampled_from(_PARAM_NAMES), _values), max_size=6))
def test_any_parameters_give_200_or_a_400_with_the_error_shape(web_client, params) -> None:
    # Encode as the wire would (an unpaired surrogate cannot be UTF-8: send its bytes raw).
    query = "&".join(
        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in params
    )
    for path in ("/api/search", "/api/search.csv"):
        resp = web_client.get(f"{path}?{query}")
        assert resp.status_code in (200, 400), (query, resp.status_code, resp.get_data()[:300])
        if resp.status_code == 400:
            assert_error_shape(resp, 400)
        elif path == "/api/search":
            assert resp.get_json()["ok"] is True
    page = web_client.get(f"/?{query}")
    assert page.status_code in (200, 400), (query, page.status_code)
