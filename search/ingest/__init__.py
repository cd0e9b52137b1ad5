"""Turn input files (HTML in any charset, page-text dumps, JSON lines, WARC) into Articles.

The ingester works from bytes. Charset labels are hints only: every candidate decoding is
validated over the whole document, so a page that says gb2312 but is UTF-8 still decodes
cleanly. The article body is found by scoring the DOM (:mod:`.html`). Bad input never raises
out of :func:`iter_articles`: each skipped input is reported as a :class:`Problem` (path,
line, reason) and the run goes on.

Modules, bottom up (each imports only those before it):

* ``charset``: bytes to text (BOM, strict UTF-8, declared labels and CJK codecs validated).
* ``dates``: Chinese/ISO/US/compact dates, aware in Asia/Shanghai.
* ``bylines``: language, wire datelines, byline names and sources, article ids.
* ``text``: page-text dumps (headline, meta line, body, disclaimer).
* ``limits``: input limits, :class:`Problem`, id checks, the caps on stored text.
* ``html``: one HTML page to an Article (DOM scoring, boilerplate rules, title, date, byline).
* ``records``: JSON-lines records and files, WARC archives.
* ``walk``: input paths to Articles (files, kinds, symlink loops, size limits).

A module's ``__all__`` is its public API (re-exported here); the other names without an
underscore (``clean_line``, ``open_stream``, ``AUTHOR_KEYS`` …) are shared between these
modules only, and names with one are private to their module.
"""

from __future__ import annotations

from .bylines import detect_lang, find_dateline, parse_byline
from .charset import decode_bytes
from .dates import SHANGHAI, parse_datetime
from .html import extract_html
from .limits import (
    MAX_BODY_CHARS,
    MAX_ID_CHARS,
    MAX_JSON_VALUES,
    MAX_LINE_BYTES,
    MAX_PAGE_BYTES,
    MAX_PAGE_TAGS,
    MAX_STREAM_BYTES,
    MAX_TITLE_CHARS,
    InputTooLarge,
    Problem,
    cap_article,
    id_problem,
)
from .records import article_from_record
from .text import extract_text_dump
from .walk import count_inputs, iter_articles

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
