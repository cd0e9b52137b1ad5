"""Read records: one JSON-lines object of the corpus schema, JSON-lines files and WARC archives."""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ExtractError
from ..models import Article
from ..normalize import clean_text
from .bylines import clean_line, dedupe, detect_lang, hash_id, split_names, url_id
from .dates import parse_datetime
from .html import extract_html
from .limits import (
    MAX_BODY_CHARS,
    MAX_HEADER_BYTES,
    MAX_JSON_VALUES,
    MAX_LINE_BYTES,
    MAX_PAGE_BYTES,
    MAX_STREAM_BYTES,
    MAX_TITLE_CHARS,
    InputTooLarge,
    Problem,
    check_markup,
    id_problem,
    io_reason,
    open_stream,
    read_line,
    size_text,
)

__all__ = ["article_from_record"]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- JSON lines


def _opt_str(rec: dict, key: str) -> str | None:
    v = rec.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise ExtractError(f"field {key!r} is {type(v).__name__}, not a string")
    v = v.strip()
    return v or None


def article_from_record(rec: dict, *, origin: str | None = None) -> Article:
    """Build an Article from one JSON-lines record of the corpus schema."""
    if not isinstance(rec, dict):
        raise ExtractError(f"record is a JSON {type(rec).__name__}, not an object")
    rid = _opt_str(rec, "id")
    if rid is not None and (why := id_problem(rid)):
        raise ExtractError(why)
    # Cut before cleaning: clean_text of a 10 MB body costs seconds; cap_article cuts exactly.
    title = clean_line((_opt_str(rec, "title") or "")[: 4 * MAX_TITLE_CHARS])
    body = clean_text((_opt_str(rec, "body") or "")[: 2 * MAX_BODY_CHARS])
    if not title and not body:
        raise ExtractError("record has neither title nor body")
    url = _opt_str(rec, "url")
    if not rid:
        rid = url_id(url) if url else hash_id("rec", title, body)
    published = None
    date = rec.get("published") or rec.get("date")
    if isinstance(date, str) and date.strip():
        published = parse_datetime(date)
        if published is None:
            log.debug("%s: unparseable date %r", origin, date)
    authors = rec.get("authors") or rec.get("author") or ()
    if isinstance(authors, str):
        authors = split_names(authors)
    dateline = _opt_str(rec, "dateline_place") or _opt_str(rec, "dateline")
    lang = _opt_str(rec, "lang") or detect_lang(title + body)
    return Article(
        id=rid,
        title=title,
        body=body,
        url=url,
        source=_opt_str(rec, "source"),
        published=published,
        category=_opt_str(rec, "category"),
        authors=dedupe(str(a).strip() for a in authors),
        dateline=dateline,
        lang=lang,
        origin=origin,
    )


def jsonl_articles(path: Path, report: Callable[[Problem], None]) -> Iterator[Article]:
    lineno = 0
    with open_stream(path, MAX_STREAM_BYTES) as f:
        try:
            while True:
                raw, too_long = read_line(f, MAX_LINE_BYTES)
                if raw is not None and not raw:
                    break
                lineno += 1
                if raw is None:
                    report(Problem(str(path), lineno,
                                   f"line too long: {too_long:,} bytes, over the {size_text(MAX_LINE_BYTES)} limit for one record"))
                    continue
                if not raw.strip():
                    continue
                values = raw.count(b",") + raw.count(b"[") + raw.count(b"{")
                if values > MAX_JSON_VALUES:
                    report(Problem(str(path), lineno, f"too many JSON values: {values:,} separators and "
                                                      f"brackets, over the {MAX_JSON_VALUES:,} limit for one record"))
                    continue
                where = f"{path}:{lineno}"
                try:
                    rec = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as e:
                    report(Problem(str(path), lineno, f"not UTF-8: {e.reason} at byte {e.start}"))
                    continue
                except json.JSONDecodeError as e:
                    report(Problem(str(path), lineno, f"invalid JSON: {e.msg} (column {e.colno})"))
                    continue
                except RecursionError:
                    report(Problem(str(path), lineno, "invalid JSON: nested too deeply"))
                    continue
                del raw
                try:
                    yield article_from_record(rec, origin=where)
                except ExtractError as e:
                    report(Problem(str(path), lineno, str(e)))
        except InputTooLarge as e:
            report(Problem(str(path), lineno + 1, str(e)))
        except (EOFError, OSError, zlib.error) as e:
            # the good lines before the break were already yielded
            report(Problem(str(path), lineno + 1, io_reason(e)))
    if lineno == 0:
        report(Problem(str(path), None, "empty file"))


class HeadersTooLarge(ValueError):
    """A record's WARC or HTTP headers run past MAX_HEADER_BYTES."""


class _BoundedLines:
    """A stream whose ``readline`` stops a record's headers at MAX_HEADER_BYTES (warcio reads a
    header line whole however long it is: one 1 GB line would be held in memory)."""

    def __init__(self, stream: Any):
        self.stream = stream
        self.left = MAX_HEADER_BYTES

    def readline(self, length: int | None = None) -> bytes:
        line = self.stream.readline(self.left + 1)
        self.left -= len(line)
        if self.left < 0:
            raise HeadersTooLarge(f"too large: a record's headers over {size_text(MAX_HEADER_BYTES)}")
        return line


def _bounded_parsers(loader: Any) -> None:
    """Make warcio's header parsers of one iterator read at most MAX_HEADER_BYTES a record."""
    from warcio.statusandheaders import StatusAndHeadersParser

    class Bounded(StatusAndHeadersParser):
        def parse(self, stream: Any, full_statusline: Any = None) -> Any:
            return super().parse(_BoundedLines(stream), full_statusline)

    for name in ("warc_parser", "http_parser", "http_req_parser"):
        old = getattr(loader, name, None)
        if isinstance(old, StatusAndHeadersParser):
            new = Bounded(old.statuslist, old.verify)
            new.__dict__.update(old.__dict__)
            setattr(loader, name, new)


def warc_articles(path: Path, report: Callable[[Problem], None]) -> Iterator[Article]:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    class Records(ArchiveIterator):
        INC_RECORD = ""  # warcio writes its own warning to stderr; the Problem below says it once

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            _bounded_parsers(self.loader)

    n = 0
    total = 0  # declared record bytes so far: the decompressed size of the file
    with open(path, "rb") as f:
        try:
            for rec in Records(f):
                n += 1
                total += max(rec.length or 0, 0)
                if total > MAX_STREAM_BYTES:
                    report(Problem(str(path), n, f"too large: records over {size_text(MAX_STREAM_BYTES)}, "
                                                 "the rest of the file was not read"))
                    break
                if rec.rec_type not in ("response", "resource"):
                    continue
                uri = rec.rec_headers.get_header("WARC-Target-URI")
                ctype = ""
                if rec.http_headers is not None:
                    status = rec.http_headers.get_statuscode()
                    if rec.rec_type == "response" and not status:
                        report(Problem(str(path), n, f"truncated or malformed record: no HTTP status line ({uri})"))
                        continue
                    if rec.rec_type == "response" and not status.startswith("2"):
                        continue
                    ctype = rec.http_headers.get_header("Content-Type") or ""
                else:
                    ctype = rec.rec_headers.get_header("Content-Type") or ""
                if ctype and "html" not in ctype.lower():
                    continue
                declared = None
                m = re.search(r"charset\s*=\s*([\w.:-]+)", ctype, re.I)
                if m:
                    declared = m.group(1)
                try:
                    payload = _warc_payload(rec)
                    yield extract_html(payload, url=uri, origin=f"{path}:{n}", declared=declared)
                except ExtractError as e:
                    report(Problem(str(path), n, f"{e} ({uri})"))
                except Exception as e:  # noqa: BLE001 - a broken record must not end the run
                    report(Problem(str(path), n, f"{io_reason(e)} ({uri})"))
        except HeadersTooLarge as e:
            report(Problem(str(path), n + 1, f"{e}; the rest of the file was not read"))
        except (ArchiveLoadFailed, EOFError, OSError, zlib.error) as e:
            report(Problem(str(path), n + 1, f"corrupt WARC: {str(e).strip()}"))
        except Exception as e:  # noqa: BLE001 - warcio fails on a record cut inside its headers in many ways
            report(Problem(str(path), n + 1, f"truncated record: its WARC headers are cut or corrupt "
                                             f"({type(e).__name__}: {e})"))
    if n == 0:
        report(Problem(str(path), None, "empty file or no WARC records"))


def _warc_payload(rec: Any) -> bytes:
    """Read a WARC record's payload up to MAX_PAGE_BYTES; refuse a longer or truncated one."""
    payload = rec.content_stream().read(MAX_PAGE_BYTES + 1)
    if len(payload) > MAX_PAGE_BYTES:
        raise InputTooLarge(f"too large: record payload over the {size_text(MAX_PAGE_BYTES)} limit for one page")
    check_markup(payload)
    missing = getattr(rec.raw_stream, "limit", 0)
    if missing > 0:
        # The record says it is longer than what the file holds: it was cut off (a partial download).
        raise ExtractError(f"truncated record: {missing:,} of its {rec.length:,} bytes are missing")
    return payload
