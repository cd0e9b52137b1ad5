"""The JSON API (and its CSV export): the same engine calls as the page, for programs."""

from __future__ import annotations

import logging
from dataclasses import replace

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context

from search.engine import MAX_SIZE, MAX_WINDOW
from search.errors import BadQuery
from search.suggest import FEW_RESULTS

from . import get_engine
from .export import Cut, iter_csv, iter_hits, iter_jsonl, listed
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
    engine = get_engine()
    page = engine.search(req)
    body = {"ok": True, **page.to_dict()}
    # the same query help as the page and the CLI (search/suggest.py)
    body["expansions"] = [x.to_dict() for x in engine.expansions(req.q)] if req.q else []
    few = req.q and listed(page) < FEW_RESULTS and req.page == 1
    body["did_you_mean"] = engine.did_you_mean(req.q) if few else []
    return jsonify(body)


@bp.get("/api/export")
@bp.get("/api/search.csv")  # registered first: url_for() builds this one
def search_csv():  # type: ignore[no-untyped-def]
    """Stream every match (up to EXPORT_MAX_ROWS) as CSV (BOM, formula-safe) or JSON lines.

    ``format=csv`` (default) or ``format=jsonl``; ``limit`` lowers the cap. A file cut before
    the last match says so in its last line (CSV: a row starting ``#truncated``; JSON lines:
    ``{"truncated": true, ...}``): headers are sent before the rows, so only the file can.
    """
    cfg = current_app.config
    req = parse_search_args(request.args)
    fmt = (request.args.get("format") or "csv").strip().lower()
    if fmt not in ("csv", "jsonl"):
        raise BadParameter(f"`format` must be csv or jsonl, not {fmt[:20]!r}.")
    max_rows = cfg["EXPORT_MAX_ROWS"]
    raw_limit = (request.args.get("limit") or "").strip()
    if raw_limit:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit[:9]) <= max_rows:
            raise BadParameter(f"`limit` must be a whole number from 1 to {max_rows}.")
        max_rows = int(raw_limit)
    batch = max(1, min(cfg["EXPORT_BATCH"], max_rows))
    # page/size are ignored: the export walks the result list from its start in batches,
    # past the page window (which bounds what people page through, not what they export).
    req = replace(req, page=1, size=batch, facets=False)
    engine = get_engine()
    window = max(max_rows + batch, MAX_WINDOW)

    def search(r):  # type: ignore[no-untyped-def]
        return engine.search(r, window=window, max_size=max(batch, MAX_SIZE))

    first = search(req)  # errors surface here, before any byte is sent, as a 400
    cut = Cut(listed(first), max_rows)

    def hits():  # type: ignore[no-untyped-def]
        try:
            yield from iter_hits(first, req, search, max_rows, cut)
        except BadQuery as exc:  # e.g. over the time budget on a later batch: say so in the file
            log.warning("export stopped early for %r: %s", req.q, exc)
            cut.reason = str(exc)

    if fmt == "jsonl":
        body, mimetype, name = iter_jsonl(hits(), cut), "application/x-ndjson", "xunwen-search.jsonl"
    else:
        body, mimetype, name = iter_csv(hits(), cut), "text/csv", "xunwen-search.csv"
    resp = Response(stream_with_context(body), mimetype=mimetype)
    resp.headers["Content-Type"] = f"{mimetype}; charset=utf-8"
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["X-Total-Count"] = str(cut.total)
    resp.headers["X-Export-Limit"] = str(max_rows)
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
