"""The JSON API (and its CSV export): the same engine calls as the page, for programs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context

from search.errors import BadQuery

from . import get_engine
from .export import iter_csv, iter_hits, listed
from .openapi import openapi_document
from .pages import public_base, register_id_converter
from .params import BadParameter, parse_search_args

__all__ = ["bp"]

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__)
bp.record_once(register_id_converter)  # <aid:...>, as on the pages


@bp.get("/api/search")
def search():  # type: ignore[no-untyped-def]
    """Answer a search as JSON: the SearchPage shape with ``"ok": true``."""
    req = parse_search_args(request.args, default_size=current_app.config["API_PAGE_SIZE"])
    page = get_engine().search(req)
    return jsonify({"ok": True, **page.to_dict()})


@bp.get("/api/search.csv")
def search_csv():  # type: ignore[no-untyped-def]
    """Stream every match (up to CSV_MAX_ROWS) as CSV with a BOM and formula-safe cells."""
    cfg = current_app.config
    req = parse_search_args(request.args)
    max_rows = cfg["CSV_MAX_ROWS"]
    raw_limit = (request.args.get("limit") or "").strip()
    if raw_limit:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit[:9]) <= max_rows:
            raise BadParameter(f"`limit` must be a whole number from 1 to {max_rows}.")
        max_rows = int(raw_limit)
    # page/size are ignored: the export walks the result list from its start in batches.
    req = replace(req, page=1, size=min(cfg["CSV_BATCH"], max_rows), facets=False)
    engine = get_engine()
    first = engine.search(req)  # errors surface here, before any byte is sent, as a 400

    def rows() -> Iterator[str]:
        try:
            yield from iter_csv(iter_hits(first, req, engine.search, max_rows))
        except BadQuery:  # a later page fell outside the window: the export stops there
            log.warning("CSV export stopped early for %r", req.q)

    resp = Response(stream_with_context(rows()), mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = 'attachment; filename="xunwen-search.csv"'
    resp.headers["X-Total-Count"] = str(listed(first))
    return resp


@bp.get("/api/articles/<aid:article_id>", merge_slashes=False)
def article(article_id: str):  # type: ignore[no-untyped-def]
    """Return one article in full, or a 404 error for an unknown id."""
    art = get_engine().get_article(article_id)
    data = art.to_dict()
    data.pop("origin", None)  # a path on the server's disk: not the public's business
    return jsonify({"ok": True, "article": data})


@bp.get("/api/openapi.json")
def openapi():  # type: ignore[no-untyped-def]
    """Return the OpenAPI 3.1 description of this API."""
    return jsonify(openapi_document(public_base()))


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """Report that the server is up and how many articles its index holds."""
    return jsonify({"ok": True, "articles": get_engine().article_count()})
