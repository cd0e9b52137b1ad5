"""Exports of a search: CSV rows safe to open in a spreadsheet, and plain text from snippets."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from search import Hit, SearchPage, SearchRequest

__all__ = [
    "CSV_COLUMNS",
    "csv_cell",
    "html_to_text",
    "hit_row",
    "iter_csv",
    "iter_hits",
    "listed",
]

CSV_COLUMNS = (
    "id",
    "title",
    "published",
    "source",
    "region",
    "category",
    "url",
    "score",
    "similar_count",
    "cluster",
    "snippet",
)
# A spreadsheet evaluates a cell starting with one of these as a formula (DDE included).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")
_TAG_RE = re.compile(r"<[^>]*>")


def csv_cell(value: Any) -> str:
    """Return ``value`` as CSV cell text that no spreadsheet will run as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)  # our own numbers: a negative score stays a number
    text = str(value)
    # Leading whitespace does not stop every spreadsheet from seeing a formula.
    if text.lstrip(" \u3000").startswith(_FORMULA_START):
        return "'" + text
    return text


def html_to_text(fragment: str) -> str:
    """Return the plain text of a safe HTML fragment (tags dropped, entities decoded)."""
    return html.unescape(_TAG_RE.sub("", fragment or ""))


def hit_row(hit: Hit) -> list[str]:
    """Return one CSV row for a hit, every cell formula-safe."""
    values = {
        "id": hit.id,
        "title": hit.title,
        "published": hit.published,
        "source": hit.source,
        "region": " ".join(hit.region),
        "category": hit.category,
        "url": hit.url,
        "score": round(hit.score, 4),
        "similar_count": hit.similar_count,
        "cluster": hit.cluster,
        "snippet": html_to_text(hit.snippet_html),
    }
    return [csv_cell(values[c]) for c in CSV_COLUMNS]


def iter_hits(
    first: SearchPage,
    req: SearchRequest,
    search: Callable[[SearchRequest], SearchPage],
    max_rows: int,
) -> Iterator[Hit]:
    """Yield the hits of ``first`` and the following pages, at most ``max_rows`` in all."""
    sent = 0
    page = first
    while True:
        for hit in page.hits:
            if sent >= max_rows:
                return
            yield hit
            sent += 1
        if not page.hits or sent >= min(max_rows, listed(page)) or len(page.hits) < req.size:
            return
        req = replace(req, page=page.page + 1)
        page = search(req)


def listed(page: SearchPage) -> int:
    """Return how many results the page's search lists (stories when copies are collapsed)."""
    return page.stories if page.collapsed else page.total


def iter_csv(hits: Iterable[Hit]) -> Iterator[str]:
    """Yield CSV text: a UTF-8 BOM and header first (so Excel reads Chinese), then rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")

    def flush() -> str:
        text = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + flush()
    for hit in hits:
        writer.writerow(hit_row(hit))
        yield flush()
