"""The web face of xunwen: a search page for people and a JSON API for programs.

Both blueprints call the same :class:`search.SearchEngine`; domain errors raised by the core
are translated here, at the edge, into one JSON error shape for the API
(``{"ok": false, "error": "...", "code": "bad_page", "status": 400}``), an Atom-namespaced XML
error for feed readers, and a Chinese page for people.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, current_app, g, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from search import SearchEngine, budget
from search.errors import BadQuery, IndexIncompatible, IndexMissing, NotFound

from .compress import gzip_response
from .messages import HTTP_MESSAGES, explain
from .params import BadParameter, safe_url, search_url

__all__ = ["create_app", "get_engine", "DEFAULTS", "SECURITY_HEADERS"]

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "INDEX_DIR": "index",
    "PAGE_SIZE": 10,  # results per page on the HTML page
    "API_PAGE_SIZE": 10,
    "FEED_SIZE": 20,
    "EXPORT_MAX_ROWS": 100_000,  # rows of a CSV/JSON-lines export; the file says when it was cut
    "EXPORT_BATCH": 500,
    "GZIP_MIN_BYTES": 500,  # smaller bodies are not worth compressing
    "ALIASES_FILE": None,  # a user table of abbreviations/aliases (see search/aliases.py)
    "SITE_DESCRIPTION": "寻闻：地方新闻全文检索，支持简繁体、拼音、简称，按来源、地区、日期筛选。",
    "MORE_LIKE_THIS": 5,
    "MAX_CONTENT_LENGTH": 64 * 1024,  # nothing here takes a body; refuse big ones early
    "JSON_AS_ASCII": False,
    "SITE_NAME": "寻闻",
    "BUDGET_SECONDS": 3.0,  # one time budget per request (search.budget)
    "SUGGESTIONS": 8,  # completions per /suggest answer
}

# No inline script anywhere: one optional script file of our own (suggestions), styles only
# from our own files, fetches only back to us.
CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # Search terms live in our URLs: never hand them to the sites of the originals.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

_ENGINE_KEY = "xunwen.engine"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask app: defaults, then ``XUNWEN_*`` environment, then ``test_config``."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("XUNWEN")
    if test_config:
        app.config.update(test_config)
    app.config["INDEX_DIR"] = os.fspath(app.config["INDEX_DIR"])
    if app.config.get("ALIASES_FILE"):
        from search.aliases import set_user_file

        set_user_file(app.config["ALIASES_FILE"])
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    # Trailing newlines and indentation from block tags would leak into XML text nodes.
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.globals.update(search_url=search_url, safe_url=safe_url)
    app.jinja_env.filters.update(_template_filters())

    from . import api, pages  # late import: the blueprints import get_engine from here

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    _register_error_handlers(app)

    @app.before_request
    def _open_budget() -> None:
        # One time budget for everything this request asks of the engine (the article page
        # makes several calls); a streamed export's later batches get their own.
        g.xunwen_budget = budget.scope(current_app.config["BUDGET_SECONDS"])
        g.xunwen_budget.__enter__()

    def _close_budget(*_args: Any) -> None:
        cm = g.pop("xunwen_budget", None)
        if cm is not None:
            cm.__exit__(None, None, None)

    @app.after_request
    def _budget_done(response):  # type: ignore[no-untyped-def]
        _close_budget()  # before a streamed body (the CSV export) runs: its batches get their own
        return response

    app.teardown_request(_close_budget)  # when no response was made

    @app.after_request
    def _security_headers(response):  # type: ignore[no-untyped-def]
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return gzip_response(response, request.headers.get("Accept-Encoding", ""),
                             app.config["GZIP_MIN_BYTES"])

    return app


def get_engine() -> SearchEngine:
    """Return the app's one engine, opened on first use (it re-opens swapped indexes itself)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    engine = app.extensions.get(_ENGINE_KEY)
    if engine is None:
        engine = app.config.get("ENGINE") or SearchEngine(app.config["INDEX_DIR"])
        app.extensions[_ENGINE_KEY] = engine
    return engine


def wants_json() -> bool:
    """Return True when the request is for a machine-readable resource."""
    path = request.path
    return path.startswith("/api/") or path in ("/healthz", "/suggest")


def wants_xml() -> bool:
    """Return True when the request is for a feed (its errors must be XML, not a page)."""
    return request.path == "/feed.xml"


def error_response(message: str, status: int, page_message: str | None = None,  # type: ignore[no-untyped-def]
                   code: str = "error"):
    """Return the one API error shape, a feed's XML error, or the HTML error page.

    ``message`` is English (for programs and logs), ``page_message`` Chinese (for people),
    ``code`` a stable machine-readable name of the error.
    """
    if wants_json():
        resp = jsonify({"ok": False, "error": message, "code": code, "status": status})
        resp.status_code = status
        return resp
    if wants_xml():
        body = render_template("feed_error.xml", message=message, page_message=page_message or message,
                               code=code, status=status)
        return current_app.response_class(body, status=status,
                                          content_type="application/xml; charset=utf-8")
    return render_template("error.html", message=page_message or message, status=status), status


def _register_error_handlers(app: Flask) -> None:
    """Translate domain and HTTP errors into responses a person (or program) can act on."""

    @app.errorhandler(BadQuery)
    def _bad_query(exc: BadQuery):  # type: ignore[no-untyped-def]
        code, zh = explain(str(exc))
        return error_response(str(exc) or "bad request", 400, zh, code)

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound):  # type: ignore[no-untyped-def]
        return error_response(
            str(exc) or "not found", 404, "找不到这篇报道：它可能已从索引中删除，或者链接有误。",
            "no_article",
        )

    @app.errorhandler(IndexMissing)
    def _index_missing(exc: IndexMissing):  # type: ignore[no-untyped-def]
        log.error("index missing: %s", exc)
        return error_response(
            "The search index does not exist yet: run `xunwen reindex` and retry.",
            503,
            "检索索引还没有建立：请管理员运行 xunwen reindex 后再试。",
            "index_missing",
        )

    @app.errorhandler(IndexIncompatible)
    def _index_incompatible(exc: IndexIncompatible):  # type: ignore[no-untyped-def]
        log.error("index incompatible: %s", exc)
        return error_response(
            "The search index was written by another version: run `xunwen reindex --rebuild`.",
            503,
            "检索索引由另一个版本建立，无法读取：请管理员运行 xunwen reindex --rebuild。",
            "index_incompatible",
        )

    @app.errorhandler(budget.Overloaded)
    def _overloaded(exc: budget.Overloaded):  # type: ignore[no-untyped-def]
        resp = make_response(error_response(
            "The server is busy with expensive queries; retry in a few seconds.", 503,
            "服务器正忙于处理复杂的查询：请稍后再试。"))
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        code, api, page = HTTP_MESSAGES.get(status, ("http_error", exc.description or exc.name, None))
        resp = error_response(api, status, page, code)
        allowed = getattr(exc, "valid_methods", None)
        if status == 405 and allowed:
            resp = current_app.make_response(resp)
            resp.headers["Allow"] = ", ".join(sorted(allowed))
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error on %s", request.path)
        return error_response(
            "Internal error; it has been logged. Please retry later.",
            500,
            "服务器内部出错，已记录下来；请稍后再试。",
            "internal",
        )

    # BadParameter subclasses BadQuery: listed for readers, handled by _bad_query.
    assert issubclass(BadParameter, BadQuery)


def _template_filters() -> dict[str, Any]:
    """Return the Jinja filters used by the templates."""
    from .params import format_date, format_datetime, format_number

    return {"date": format_date, "datetime": format_datetime, "num": format_number}
