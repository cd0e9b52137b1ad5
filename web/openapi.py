"""The OpenAPI 3.1 description of the JSON API, built once from plain data."""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from search import RESULT_WINDOW

__all__ = ["openapi_document", "SCHEMAS"]

_STR_OR_NULL = {"type": ["string", "null"]}
_STR_LIST = {"type": "array", "items": {"type": "string"}}

EXPORT_MAX_ROWS = 100_000  # web.DEFAULTS["EXPORT_MAX_ROWS"]
_EXPORT_DOC = (
    "Every match, walked from the first in batches past the page window and streamed: "
    f"up to `limit` rows (at most {EXPORT_MAX_ROWS:,} by default, the EXPORT_MAX_ROWS setting); "
    "`page` and `size` are ignored. CSV is UTF-8 with a BOM; cells that a spreadsheet would run "
    "as a formula start with an apostrophe. An export cut before the last match ends with a "
    "line saying so: in CSV a row whose first cell is `#truncated`, in JSON lines an object "
    "`{\"truncated\": true, \"rows\": …, \"total\": …}`. `X-Total-Count` gives the matches."
)
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["ok", "error", "code", "status"],
        "properties": {
            "ok": {"const": False},
            "error": {"type": "string", "description": "What went wrong and what to do."},
            "code": {"type": "string", "pattern": "^[a-z_]+$",
                     "description": "A stable machine-readable name of the error: bad_page, bad_size, "
                     "bad_sort, bad_date, bad_date_range, bad_boolean, bad_limit, bad_format, "
                     "too_many_filters, window, query_too_long, query_too_expensive, bad_query, "
                     "no_article, not_found, method_not_allowed, too_large, index_missing, "
                     "index_incompatible, internal."},
            "status": {"type": "integer", "description": "The HTTP status, repeated."},
        },
        "additionalProperties": False,
    },
    "FacetValue": {
        "type": "object",
        "required": ["value", "count"],
        "properties": {
            "value": {"type": "string"}, "count": {"type": "integer", "minimum": 0},
            # region values only: 1 province, 2 prefecture, 3 county, and the parent's label
            "level": {"type": "integer", "minimum": 1, "maximum": 3},
            "parent": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "Hit": {
        "type": "object",
        "required": [
            "id", "title", "title_html", "url", "source", "region", "published", "score",
            "snippet_html", "similar_count", "cluster", "category",
        ],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string", "description": "As published (plain text)."},
            "title_html": {
                "type": "string",
                "description": "The title HTML-escaped, query matches wrapped in <mark>.",
            },
            "url": {**_STR_OR_NULL, "description": "The original's address, as crawled."},
            "source": _STR_OR_NULL,
            "region": _STR_LIST,
            "published": {**_STR_OR_NULL, "description": "ISO 8601 with +08:00."},
            "score": {"type": "number"},
            "snippet_html": {
                "type": "string",
                "description": "An escaped excerpt of the body with matches in <mark>.",
            },
            "similar_count": {
                "type": "integer",
                "minimum": 0,
                "description": "Other copies of this story among the matches (collapsed).",
            },
            "cluster": {
                **_STR_OR_NULL,
                "description": "Near-duplicate cluster id; pass as `cluster` to list copies.",
            },
            "category": _STR_OR_NULL,
        },
        "additionalProperties": False,
    },
    "SearchResponse": {
        "type": "object",
        "required": ["ok", "query", "total", "page", "size", "took_ms", "hits", "facets"],
        "properties": {
            "ok": {"const": True},
            "query": {"type": "string"},
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "size": {"type": "integer", "minimum": 1},
            "sort": {"enum": ["relevance", "newest", "oldest"]},
            "collapsed": {"type": "boolean"},
            "stories": {
                "type": "integer",
                "minimum": 0,
                "description": "Results after collapsing copies of one story; pages count these.",
            },
            "partial": {
                "type": "boolean",
                "description": "True when the time budget ran out before all matches counted.",
            },
            "relaxed": {
                "type": "boolean",
                "description": "True when fewer than a page of articles hold every word, so looser "
                               "matches (most of the words; a share of a long part's information) "
                               "follow them in the hits.",
            },
            "total_relaxed": {
                "type": "integer", "minimum": 0,
                "description": "The looser matches listed after the `total` strict ones (0 unless relaxed).",
            },
            "took_ms": {"type": "number", "minimum": 0},
            "expansions": {
                "type": "array",
                "description": "What abbreviations/aliases and pinyin added to query parts (as OR "
                               "alternatives): 发改委 → 发展和改革委员会, jiandu → 监督.",
                "items": {
                    "type": "object",
                    "required": ["text", "alternatives", "kind", "field"],
                    "properties": {
                        "text": {"type": "string"},
                        "alternatives": _STR_LIST,
                        "kind": {"enum": ["alias", "pinyin"]},
                        "field": _STR_OR_NULL,
                    },
                    "additionalProperties": False,
                },
            },
            "did_you_mean": {
                "description": "Other queries offered when there are fewer than 3 results (page 1).",
                **_STR_LIST,
            },
            "hits": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
            "facets": {
                "type": "object",
                "properties": {
                    k: {"type": "array", "items": {"$ref": "#/components/schemas/FacetValue"}}
                    for k in ("source", "region", "month")
                },
                "additionalProperties": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/FacetValue"},
                },
            },
        },
        "additionalProperties": False,
    },
    "Article": {
        "type": "object",
        "required": ["id", "title", "body", "url", "source", "published"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "body": {"type": "string", "description": "Cleaned text in its original script."},
            "url": _STR_OR_NULL,
            "source": _STR_OR_NULL,
            "published": {**_STR_OR_NULL, "description": "ISO 8601 with +08:00."},
            "category": _STR_OR_NULL,
            "authors": _STR_LIST,
            "region": _STR_LIST,
            "dateline": _STR_OR_NULL,
            "lang": _STR_OR_NULL,
            "cluster": _STR_OR_NULL,
        },
        "additionalProperties": False,
    },
    "ArticleResponse": {
        "type": "object",
        "required": ["ok", "article"],
        "properties": {"ok": {"const": True}, "article": {"$ref": "#/components/schemas/Article"}},
        "additionalProperties": False,
    },
    "Health": {
        "type": "object",
        "required": ["ok", "articles"],
        "properties": {"ok": {"const": True}, "articles": {"type": "integer", "minimum": 0}},
        "additionalProperties": False,
    },
}


def _param(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description, **extra}


_FILTER_PARAMS = [
    _param("q", {"type": "string"}, "Words to find, simplified or traditional; "
           '"quoted phrase" for an exact phrase. Empty lists everything.'),
    _param("sort", {"enum": ["relevance", "newest", "oldest"], "default": "relevance"},
           "Order of results."),
    _param("from", {"type": "string", "format": "date"},
           "First publication day, YYYY-MM-DD (Asia/Shanghai), inclusive."),
    _param("to", {"type": "string", "format": "date"},
           "Last publication day, YYYY-MM-DD, inclusive; not before `from`."),
    *[
        _param(key, {"type": "array", "items": {"type": "string"}, "maxItems": 20},
               f"Keep only this {key} (repeat to allow several).", style="form", explode=True)
        for key in ("source", "region", "category")
    ],
    _param("cluster", {"type": "string"}, "Only the copies of one story (a hit's `cluster`)."),
    _param("collapse", {"type": "boolean", "default": True},
           "Show one result per story (copies are counted in `similar_count`)."),
]
_PAGING_PARAMS = [
    _param("page", {"type": "integer", "minimum": 1, "default": 1}, "Page number, from 1."),
    _param("size", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
           f"Results per page; page × size may not exceed {RESULT_WINDOW}."),
]


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_ERRORS = {
    "400": _json("Error", "A parameter that cannot be used; `error` says which and why."),
    "503": _json("Error", "The index is missing or from another version (run xunwen reindex)."),
}
_EXPORT_PARAMS = [
    *_FILTER_PARAMS,
    _param("format", {"type": "string", "enum": ["csv", "jsonl"], "default": "csv"},
           "CSV, or JSON lines (one object per line, application/x-ndjson)."),
    _param("limit", {"type": "integer", "minimum": 1, "maximum": EXPORT_MAX_ROWS},
           f"Most rows to export (default {EXPORT_MAX_ROWS:,})."),
]
_EXPORT_RESPONSES = {
    "200": {
        "description": "CSV with a header row, or JSON lines; a cut file says so in its last line.",
        "content": {"text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}}},
    },
    **_ERRORS,
}


@lru_cache(maxsize=8)
def _document(server: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "xunwen (寻闻) search API",
            "version": "1",
            "description": "Full-text search over Chinese regional news. Every error is "
            '`{"ok": false, "error": "...", "status": N}`.',
        },
        "servers": [{"url": server or "/"}],
        "paths": {
            "/api/search": {
                "get": {
                    "operationId": "search",
                    "summary": "Search articles",
                    "parameters": [*_FILTER_PARAMS, *_PAGING_PARAMS],
                    "responses": {"200": _json("SearchResponse", "One page of results."),
                                  **_ERRORS},
                }
            },
            "/api/search.csv": {
                "get": {
                    "operationId": "searchCsv",
                    "summary": "Export every match as CSV (or JSON lines)",
                    "description": _EXPORT_DOC,
                    "parameters": _EXPORT_PARAMS,
                    "responses": _EXPORT_RESPONSES,
                }
            },
            "/api/export": {
                "get": {
                    "operationId": "export",
                    "summary": "Export every match as CSV or JSON lines",
                    "description": _EXPORT_DOC,
                    "parameters": _EXPORT_PARAMS,
                    "responses": _EXPORT_RESPONSES,
                }
            },
            "/suggest": {
                "get": {
                    "operationId": "suggest",
                    "summary": "OpenSearch suggestions for a prefix",
                    "description": "Completions from indexed words, abbreviations, pinyin and titles, "
                    "as `[prefix, [completions], [descriptions], [urls]]`.",
                    "parameters": [_param("q", {"type": "string", "maxLength": 100}, "What was typed so far.")],
                    "responses": {
                        "200": {
                            "description": "OpenSearch suggestions.",
                            "content": {"application/x-suggestions+json": {"schema": {
                                "type": "array", "minItems": 4, "maxItems": 4,
                                "prefixItems": [{"type": "string"}, _STR_LIST, _STR_LIST, _STR_LIST]}}},
                        }
                    },
                }
            },
            "/api/articles/{id}": {
                "get": {
                    "operationId": "getArticle",
                    "summary": "One article in full",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True,
                         "schema": {"type": "string"}, "description": "A hit's `id`."}
                    ],
                    "responses": {
                        "200": _json("ArticleResponse", "The article."),
                        "404": _json("Error", "No article has this id."),
                        "503": _ERRORS["503"],
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness and the index's article count",
                    "responses": {"200": _json("Health", "Serving."), "503": _ERRORS["503"]},
                }
            },
        },
        "components": {"schemas": SCHEMAS},
    }


def openapi_document(server: str = "") -> dict[str, Any]:
    """Return the OpenAPI 3.1 document, its server set to ``server`` (this host)."""
    return copy.deepcopy(_document(server))
