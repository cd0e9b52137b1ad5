"""Compatibility module: the ingester lives in :mod:`search.ingest`; this re-exports its public names.

Kept so that ``from search.extract import …`` (the indexer, the CLI, tests, benchmarks and
other branches) keeps working; new code imports :mod:`search.ingest`.
"""

from __future__ import annotations

from .ingest import (
    MAX_BODY_CHARS,
    MAX_ID_CHARS,
    MAX_JSON_VALUES,
    MAX_LINE_BYTES,
    MAX_PAGE_BYTES,
    MAX_PAGE_TAGS,
    MAX_STREAM_BYTES,
    MAX_TITLE_CHARS,
    SHANGHAI,
    InputTooLarge,
    Problem,
    article_from_record,
    cap_article,
    count_inputs,
    decode_bytes,
    detect_lang,
    extract_html,
    extract_text_dump,
    find_dateline,
    id_problem,
    iter_articles,
    parse_byline,
    parse_datetime,
)

__all__ = [
    "Problem",
    "iter_articles",
    "count_inputs",
    "extract_html",
    "extract_text_dump",
    "article_from_record",
    "decode_bytes",
    "parse_datetime",
    "detect_lang",
    "find_dateline",
    "cap_article",
    "id_problem",
    "parse_byline",
    "SHANGHAI",
    "MAX_PAGE_BYTES",
    "MAX_PAGE_TAGS",
    "MAX_LINE_BYTES",
    "MAX_JSON_VALUES",
    "MAX_STREAM_BYTES",
    "MAX_TITLE_CHARS",
    "MAX_BODY_CHARS",
    "MAX_ID_CHARS",
    "InputTooLarge",
]
