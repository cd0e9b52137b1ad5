"""Input limits, the Problem report, article ids and the caps on stored text.

Everything is read as a stream and checked against these limits before it is held in
memory, so no input can make ingest grow without bound (docs/RELIABILITY.md, "Ingest").
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ExtractError
from ..models import Article

__all__ = [
    "Problem",
    "InputTooLarge",
    "cap_article",
    "id_problem",
    "MAX_PAGE_BYTES",
    "MAX_PAGE_TAGS",
    "MAX_LINE_BYTES",
    "MAX_JSON_VALUES",
    "MAX_STREAM_BYTES",
    "MAX_TITLE_CHARS",
    "MAX_BODY_CHARS",
    "MAX_ID_CHARS",
    "MAX_HEADER_BYTES",
]

# Input limits (docs/RELIABILITY.md, "Ingest"). Everything is read as a stream and checked
# against these before it is held in memory, so no input can make ingest grow without bound.
MIB = 1024 * 1024
# One HTML page or text dump is decoded and parsed whole (lxml needs it all): about 15x its
# size at peak. The largest page of the shared corpus is under 1 MiB.
MAX_PAGE_BYTES = 16 * MIB
# lxml's tree costs ~400 bytes per element: 16 MiB of "<br>" is 4 M elements and 1.6 GB, so a
# page's markup is bounded too, by its count of "<" (an upper bound of its tags). The most
# tagged page of the shared corpus's HTML set has 15,397; the median 578.
MAX_PAGE_TAGS = 200_000
# One JSON line holds one article; a body at the MAX_BODY_CHARS cap is <= 1.2 MiB even as
# \uXXXX escapes, so 32 MiB leaves room for long records and bounds a line's peak memory.
MAX_LINE_BYTES = 32 * MIB
# Python objects cost 50-70 bytes each: a 32 MiB line of "{}," is 11 M dicts and 0.9 GB once
# parsed. A record has a few dozen values; its text may hold commas and brackets, so the
# bound on "," + "[" + "{" (an upper bound of the values in a line) is generous.
MAX_JSON_VALUES = 1_000_000
# A .jsonl(.gz)/.warc(.gz) is read record by record, so its total size costs time, not
# memory; past this much decompressed data the rest of the file is refused (a bomb).
MAX_STREAM_BYTES = 16 * 1024 * MIB
# Article text kept at ingest. The shared corpus (72,534 articles): longest body 69,025
# characters (99.99th percentile 40,758), longest title 111. Text beyond the caps is cut,
# the article kept and the cut reported: query-time stages read the whole stored text.
# The WARC and HTTP headers of one record (warcio reads header lines without a limit of its
# own): real records have a few KiB; the largest header block of a crawl is far under this.
MAX_HEADER_BYTES = 1 * MIB
MAX_TITLE_CHARS = 1_000
MAX_BODY_CHARS = 200_000
MAX_META_CHARS = 1_000  # source, category, dateline, each author
MAX_URL_CHARS = 4_096  # a cut URL points nowhere: a longer one is dropped
MAX_ID_CHARS = 200  # SearchEngine refuses to look up longer ids


@dataclass(frozen=True)
class Problem:
    """One skipped input (or, with ``kept``, an article indexed with its text cut): where and why."""

    path: str
    line: int | None
    reason: str
    kept: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"path": self.path, "line": self.line, "reason": self.reason}

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


# --------------------------------------------------------------------------- limits

_ID_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def id_problem(article_id: str) -> str | None:
    """Return why an article id cannot be stored and fetched back, or None when it can."""
    if not isinstance(article_id, str) or not article_id.strip():
        return "empty id"
    if len(article_id) > MAX_ID_CHARS:
        return f"id too long: {len(article_id):,} characters, over the {MAX_ID_CHARS} an article can be fetched by"
    if article_id in (".", ".."):
        # Browsers resolve a path segment "." or ".." (even as %2E%2E) before asking.
        return f"id refused: {article_id!r} cannot be a link (browsers resolve it as a path step)"
    if _ID_CONTROL_RE.search(article_id):
        return "id refused: it contains control characters"
    return None


def _cut_text(text: str, limit: int) -> str:
    """Cut text to at most limit characters, at a line break in the last tenth when there is one."""
    cut = text.rfind("\n", limit - limit // 10, limit)
    return text[: cut if cut > 0 else limit].rstrip()


def cap_article(article: Article) -> tuple[Article, str | None]:
    """Cut an article's text to the ingest caps; return it and what was cut (None when nothing)."""
    changes: dict[str, Any] = {}
    cuts: list[str] = []
    if len(article.title) > MAX_TITLE_CHARS:
        changes["title"] = _cut_text(article.title, MAX_TITLE_CHARS)
        cuts.append(f"title {len(article.title):,} characters")
    if len(article.body) > MAX_BODY_CHARS:
        changes["body"] = _cut_text(article.body, MAX_BODY_CHARS)
        cuts.append(f"body over {MAX_BODY_CHARS:,} characters")
    for key in ("source", "category", "dateline", "lang"):
        v = getattr(article, key)
        if v and len(v) > MAX_META_CHARS:
            changes[key] = v[:MAX_META_CHARS]
            cuts.append(f"{key} {len(v):,} characters")
    if any(len(a) > MAX_META_CHARS for a in article.authors):
        changes["authors"] = tuple(a[:MAX_META_CHARS] for a in article.authors)
        cuts.append("an author name")
    if article.url and len(article.url) > MAX_URL_CHARS:
        changes["url"] = None
        cuts.append(f"url {len(article.url):,} characters (dropped)")
    if not changes:
        return article, None
    return replace(article, **changes), (
        "text cut: " + ", ".join(cuts)
        + f" (article kept; caps: title {MAX_TITLE_CHARS:,}, body {MAX_BODY_CHARS:,} characters)"
    )


class InputTooLarge(ExtractError):
    """An input (or the decompressed stream of one) passed a size limit."""


class _Limited(io.RawIOBase):
    """A byte stream that raises InputTooLarge once more than ``limit`` bytes were read from it."""

    def __init__(self, raw: Any, limit: int, what: str):
        self._raw = raw
        self.limit = limit
        self.count = 0
        self.what = what

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        read1 = getattr(self._raw, "read1", None)
        if read1 is not None:
            # One chunk at a time, so that the lines before a truncated gzip tail are handed on
            # before its EOFError (a whole-buffer readinto would drop them with it).
            data = read1(len(b))
            n = len(data)
            b[:n] = data
        else:
            n = self._raw.readinto(b)
        self.count += n or 0
        if self.count > self.limit:
            raise InputTooLarge(f"too large: {self.what} over {size_text(self.limit)}, the rest of the file was not read")
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def size_text(n: int) -> str:
    return f"{n / (1024 * MIB):g} GiB" if n >= 1024 * MIB else f"{n / MIB:g} MiB"


def is_gz(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def open_stream(path: Path, limit: int) -> io.BufferedReader:
    """Open a file (gunzipped when .gz) as a buffered stream that refuses more than limit bytes."""
    raw: Any = gzip.open(path, "rb") if is_gz(path) else open(path, "rb", buffering=0)
    what = "decompressed size" if is_gz(path) else "size"
    return io.BufferedReader(_Limited(raw, limit, what), buffer_size=MIB)


def read_line(f: io.BufferedReader, limit: int) -> tuple[bytes | None, int]:
    """Read one line of at most limit bytes; return (line, 0), or (None, its length) for a longer one.

    The rest of a long line is read and dropped in chunks, never held whole.
    """
    line = f.readline(limit + 1)
    if len(line) <= limit or line.endswith(b"\n"):
        return line, 0
    n = len(line)
    del line
    while True:
        chunk = f.readline(MIB)
        n += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return None, n


def check_markup(data: bytes) -> None:
    """Refuse a page with more tags than MAX_PAGE_TAGS before lxml builds a tree of them."""
    n = data.count(b"<")
    if n > MAX_PAGE_TAGS:
        raise InputTooLarge(f"too large: {n:,} tags, over the {MAX_PAGE_TAGS:,} limit for one page")


def io_reason(e: BaseException) -> str:
    if isinstance(e, (EOFError, gzip.BadGzipFile, zlib.error)):
        return f"truncated or corrupt gzip: {e}"
    if isinstance(e, OSError):
        return f"unreadable: {e.strerror or e}"
    return f"{type(e).__name__}: {e}"
