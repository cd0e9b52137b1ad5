"""HTML for people: the search page, the article page, the Atom feed and OpenSearch."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import quote

from flask import Blueprint, current_app, make_response, render_template, request, url_for
from markupsafe import Markup, escape
from werkzeug.routing import BaseConverter

from search import RESULT_WINDOW, SearchPage, SearchRequest
from search.errors import BadQuery
from search.suggest import FEW_RESULTS  # fewer results than this: offer "did you mean"

from . import get_engine
from .export import listed
from .messages import explain
from .params import MULTI_KEYS, parse_search_args, request_to_params, search_url
from .regionmap import build_region_map, region_tree
from .timeline import build_timeline

__all__ = ["bp", "RESULT_WINDOW", "ArticleIdConverter", "public_base"]

log = logging.getLogger(__name__)

bp = Blueprint("pages", __name__)

# Hosts whose Host header is believed without configuration: a browser on the same machine.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


class ArticleIdConverter(BaseConverter):
    """Any stored article id in a URL path: quoted whole in links (``/`` as %2F), taken whole from routes.

    The server hands the route the decoded path, so an id holding ``/`` arrives as several
    segments; ``.+`` takes them all. Ids a link cannot carry (``.``/``..``, control
    characters, over 200 characters) are refused at ingest (search.ingest.id_problem).
    """

    regex = ".+"
    part_isolating = False

    def to_url(self, value: str) -> str:
        return quote(str(value), safe="")


def register_id_converter(state: Any) -> None:
    """Make ``<aid:...>`` known to the app before the blueprint's rules are added."""
    state.app.url_map.converters.setdefault("aid", ArticleIdConverter)


bp.record_once(register_id_converter)


def public_base() -> str:
    """Return the scheme://host[:port] that absolute links start with, never an arbitrary Host header.

    ``XUNWEN_BASE_URL`` when configured; else the Host when it names this machine (loopback);
    else "" (links relative to the document that holds them: a deployment sets the base URL).
    """
    base = current_app.config.get("BASE_URL")
    if base:
        return str(base).rstrip("/")
    host = request.host.lower()
    name = host if host.endswith("]") else host.rsplit(":", 1)[0]
    if name in LOOPBACK_HOSTS:
        return request.host_url.rstrip("/")
    log.debug("untrusted Host %r: relative links (set XUNWEN_BASE_URL)", request.host)
    return ""

# Examples on the landing page: each is checked against the bundled sample by a test
# (tests/test_web_pages.py::test_landing_examples_find_the_sample), so none leads to nothing.
EXAMPLES = (
    ("监督", "简体、繁体都能搜到：{a} 也会找到「監督」。"),
    ('"乡村振兴"', "用引号搜完整短语：{a}。"),
    ("jiandu", "用拼音搜：{a} 会找到「监督」。"),
    ("发改委", "简称也行：{a} 也会找到「发展和改革委员会」。"),
    ("title:冬奥会", "只搜标题：{a}；来源 source:、地区 region: 同理。"),
)
FILTER_LABELS = {"source": "来源", "region": "地区", "category": "栏目"}
SORT_LABELS = (("relevance", "相关度"), ("newest", "最新"), ("oldest", "最早"))


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    """Show the search page: the form, and results when anything was asked."""
    size = current_app.config["PAGE_SIZE"]
    try:
        req = parse_search_args(request.args, default_size=size)
    except BadQuery as exc:
        fallback = SearchRequest(q=(request.args.get("q") or "")[:1000].strip(), size=size)
        return _render_search(fallback, None, error=explain(str(exc))[1]), 400
    if not _asked(req):
        return _render_search(req, None, landing=True)
    try:
        page = get_engine().search(req)
    except BadQuery as exc:
        return _render_search(req, None, error=explain(str(exc))[1]), 400
    return _render_search(req, page)


@bp.get("/suggest")
def suggest():  # type: ignore[no-untyped-def]
    """Answer OpenSearch suggestions: ``[prefix, [completions], [descriptions], [urls]]``."""
    prefix = (request.args.get("q") or "")[:100]
    words = get_engine().suggest(prefix, limit=current_app.config["SUGGESTIONS"]) if prefix.strip() else []
    base = request.host_url.rstrip("/")
    body = json.dumps([prefix, words, ["" for _ in words],
                       [base + url_for("pages.index", q=w) for w in words]], ensure_ascii=False)
    resp = make_response(body)
    resp.headers["Content-Type"] = "application/x-suggestions+json; charset=utf-8"
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@bp.get("/robots.txt")
def robots():  # type: ignore[no-untyped-def]
    """Tell crawlers to index the pages and articles, not the API, exports and suggestions."""
    lines = ["User-agent: *", "Disallow: /api/", "Disallow: /suggest", "Disallow: /feed.xml",
             "Allow: /", ""]
    resp = make_response("\n".join(lines))
    resp.headers["Content-Type"] = "text/plain; charset=utf-8"
    return resp


@bp.get("/article/<aid:article_id>", merge_slashes=False)
def article(article_id: str):  # type: ignore[no-untyped-def]
    """Show one article with the query's words highlighted, its metadata and similar ones."""
    engine = get_engine()
    q = (request.args.get("q") or "").strip()
    art = engine.get_article(article_id)  # NotFound → 404 page
    title_html, body_html = escape(art.title), escape(art.body)
    if q:
        try:
            title_html = Markup(engine.highlight(art.title, q))
            body_html = Markup(engine.highlight(art.body, q))
        except BadQuery:  # an unusable ?q= only loses the highlighting
            pass
    try:
        similar = engine.more_like_this(art.id, limit=current_app.config["MORE_LIKE_THIS"])
    except BadQuery:
        similar = []
    copies = 0
    if art.cluster:
        # How many other versions of this story exist (the cluster id alone says nothing).
        same = SearchRequest(cluster=art.cluster, collapse=False, size=1, facets=False,
                             snippets=False)
        copies = max(0, engine.search(same).total - 1)
    back = search_url(SearchRequest(q=q)) if q else None
    return render_template(
        "article.html",
        art=art,
        q=q,
        title_html=title_html,
        body_html=body_html,
        similar=similar,
        back=back,
        copies=copies,
        req=SearchRequest(q=q),
        published=art.published.isoformat() if art.published else None,
    )


@bp.get("/feed.xml")
def feed():  # type: ignore[no-untyped-def]
    """Return an Atom feed of a search, newest first, so people can subscribe to it."""
    req = parse_search_args(request.args, sort="newest")
    req = replace(req, page=1, size=current_app.config["FEED_SIZE"], facets=False)
    page = get_engine().search(req)
    base = public_base()
    dates = [h.published for h in page.hits if h.published]
    updated = max(dates) if dates else datetime.now(UTC).isoformat(timespec="seconds")
    html_url = base + search_url(replace(req, size=10, sort="newest"))
    body = render_template(
        "feed.xml",
        page=page,
        req=req,
        base=base,
        updated=updated,
        html_url=html_url,
        self_url=base + request.full_path.rstrip("?"),
        feed_id=base + url_for("pages.feed") + _query_suffix(req),
    )
    resp = make_response(body)
    resp.headers["Content-Type"] = "application/atom+xml; charset=utf-8"
    return resp


@bp.get("/opensearch.xml")
def opensearch():  # type: ignore[no-untyped-def]
    """Return the OpenSearch description so browsers can add 寻闻 as a search engine."""
    resp = make_response(
        render_template("opensearch.xml", base=public_base())
    )
    resp.headers["Content-Type"] = "application/opensearchdescription+xml; charset=utf-8"
    return resp


def _query_suffix(req: SearchRequest) -> str:
    from urllib.parse import urlencode

    pairs = [(k, v) for k, v in request_to_params(req) if k not in ("sort", "size", "page")]
    return "?" + urlencode(pairs) if pairs else ""


def _asked(req: SearchRequest) -> bool:
    """Return True when the request asks for anything beyond the bare page."""
    return bool(
        req.q
        or any(getattr(req, k) for k in MULTI_KEYS)
        or req.date_from
        or req.date_to
        or req.cluster
        or "page" in request.args
        or "sort" in request.args
    )


def _render_search(
    req: SearchRequest,
    page: SearchPage | None,
    *,
    error: str | None = None,
    landing: bool = False,
) -> str:
    """Render the search page for ``req`` (results, an error or the landing text)."""
    size = current_app.config["PAGE_SIZE"]
    url = partial(search_url, req, default_size=size)
    ctx: dict[str, Any] = {
        "req": req,
        "page": page,
        "error": error,
        "landing": landing,
        "url": url,
        "multi_keys": MULTI_KEYS,
        "filter_labels": FILTER_LABELS,
        "sort_labels": SORT_LABELS,
        "chips": _active_filters(req, url),
        "timeline": None,
        "pages": [],
        "last_page": 1,
        "articles": None,
    }
    if landing:
        try:
            ctx["articles"] = get_engine().article_count()
        except BadQuery:
            pass
        ctx["examples"] = landing_examples()
    if page is not None:
        engine = get_engine()
        ctx["expansions"] = engine.expansions(req.q) if req.q else []
        if req.q and listed(page) < FEW_RESULTS and page.page == 1:
            ctx["did_you_mean"] = [{"q": q, "href": url(q=q)} for q in engine.did_you_mean(req.q)]
        regions = page.facets.get("region", ())
        ctx["region_map"] = build_region_map(regions, lambda name: url(add={"region": name}), req.region)
        ctx["region_tree"] = region_tree(regions)
        ctx["timeline"] = build_timeline(
            page.facets.get("month", ()),
            lambda d_from, d_to: url(date_from=d_from, date_to=d_to),
        )
        ctx["last_page"] = last = _last_page(page)
        ctx["pages"] = _page_numbers(page.page, last)
        ctx["feed_url"] = url_for("pages.feed") + _query_suffix(req)
        ctx["csv_url"] = url_for("api.search_csv") + _query_suffix(req)
        suffix = _query_suffix(req)
        ctx["jsonl_url"] = "/api/export" + (suffix + "&" if suffix else "?") + "format=jsonl"
        ctx["api_url"] = search_url(req, "/api/search", default_size=size, page=req.page)
        if not page.hits:
            ctx["suggestions"] = _suggestions(req, url)
    return render_template("search.html", **ctx)


def landing_examples() -> list[dict[str, Any]]:
    """Return the landing page's example queries, each with its link and sentence."""
    out = []
    for q, sentence in EXAMPLES:
        before, _, after = sentence.partition("{a}")
        out.append({"q": q, "href": url_for("pages.index", q=q), "before": before, "after": after})
    return out


def _last_page(page: SearchPage) -> int:
    pages = max(1, math.ceil(listed(page) / page.size)) if page.size else 1
    return max(1, min(pages, RESULT_WINDOW // max(page.size, 1)))


def _page_numbers(current: int, last: int) -> list[int | None]:
    """Return page numbers to show, None standing for a gap: 1 … 4 5 [6] 7 8 … 20."""
    shown = {1, last, *range(max(1, current - 2), min(last, current + 2) + 1)}
    out: list[int | None] = []
    prev = 0
    for n in sorted(shown):
        if n - prev > 1:
            out.append(None)
        out.append(n)
        prev = n
    return out


def _active_filters(req: SearchRequest, url: partial[str]) -> list[dict[str, str]]:
    """Return the active filters as chips, each with the link that removes it."""
    chips = []
    for key in MULTI_KEYS:
        for value in getattr(req, key):
            chips.append(
                {"label": f"{FILTER_LABELS[key]}：{value}", "href": url(remove={key: value})}
            )
    if req.date_from or req.date_to:
        span = f"{req.date_from or '…'} 至 {req.date_to or '…'}"
        chips.append({"label": f"日期：{span}", "href": url(date_from=None, date_to=None)})
    if req.cluster:
        chips.append({"label": "同一报道的各个版本", "href": url(cluster=None, collapse=True)})
    return chips


def _suggestions(req: SearchRequest, url: partial[str]) -> list[dict[str, str]]:
    """Return ways out of an empty result: drop a filter, unquote, fewer words."""
    tips = [{"label": f"去掉筛选条件「{c['label']}」", "href": c["href"]}
            for c in _active_filters(req, url)]
    if any(ch in req.q for ch in "\"“”「」"):
        plain = req.q
        for ch in "\"“”「」":
            plain = plain.replace(ch, " ")
        tips.append({"label": f"不加引号搜索：{' '.join(plain.split())}",
                     "href": url(q=" ".join(plain.split()))})
    words = req.q.split()
    if len(words) > 1:
        tips.append({"label": f"只搜「{words[0]}」", "href": url(q=words[0])})
    return tips
