"""Compatibility module: the ingester is :mod:`search.ingest`; this re-exports the names that the
benchmark scripts import from here (bench/extract_eval.py, bench/ingest_hostile.py,
bench/region_eval.py; extract_eval's ``--ours-repo`` also imports this module from older
checkouts, which have no ``search.ingest``). The library, the CLI and the tests import
:mod:`search.ingest`.
"""

from __future__ import annotations

from .ingest import (
    MAX_JSON_VALUES,
    MAX_LINE_BYTES,
    MAX_PAGE_BYTES,
    MAX_PAGE_TAGS,
    article_from_record,
    decode_bytes,
    extract_html,
    parse_datetime,
)

__all__ = [
    "extract_html",
    "article_from_record",
    "decode_bytes",
    "parse_datetime",
    "MAX_PAGE_BYTES",
    "MAX_PAGE_TAGS",
    "MAX_LINE_BYTES",
    "MAX_JSON_VALUES",
]
