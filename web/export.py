"""Exports of a search: CSV rows safe to open in a spreadsheet, JSON lines, plain text from snippets.

An export walks every match (not only the page window) in big batches, streamed, up to a cap;
when it stops before the last match, its last line says so (:func:`cut_notice`).
"""

from __future__ import annotations

import csv
import html
import io
import json
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
    "iter_jsonl",
    "iter_hits",
    "listed",
    "Cut",
    "CUT_MARK",
]
CUT_MARK = "#truncated"  # first cell of the last CSV row of an export that was cut


class Cut:
    """Why an export stopped before the last match (filled in while it streams)."""

    def __init__(self, total: int, cap: int):
        self.total = total
        self.cap = cap
        self.sent = 0
        self.reason: str | None = None  # None: every listed match was sent

    def message(self) -> str:
        """Return the sentence written into a cut file (English and Chinese)."""
        return (f"export cut at {self.sent:,} of {self.total:,} results ({self.reason}); "
                f"narrow the search with filters or dates to get the rest. "
                f"导出在 {self.sent:,} 条处截断（共 {self.total:,} 条）：请加筛选条件或日期范围分批导出。")

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
    cut: Cut | None = None,
) -> Iterator[Hit]:
    """Yield the hits of ``first`` and the following pages, at most ``max_rows`` in all.

    ``cut`` (if given) records how many were sent and, when fewer than listed, why.
    """
    sent = 0
    page = first
    total = listed(first)
    while True:
        for hit in page.hits:
            if sent >= max_rows:
                break
            yield hit
            sent += 1
            if cut is not None:
                cut.sent = sent
        if sent >= max_rows and sent < total:
            if cut is not None:
                cut.reason = f"the export limit is {max_rows:,} rows"
            return
        if not page.hits or sent >= min(max_rows, total) or len(page.hits) < req.size:
            return
        req = replace(req, page=page.page + 1)
        page = search(req)


def listed(page: SearchPage) -> int:
    """Return how many results the page's search lists (stories when copies are collapsed)."""
    return page.stories if page.collapsed else page.total


def iter_csv(hits: Iterable[Hit], cut: Cut | None = None) -> Iterator[str]:
    """Yield CSV text: a UTF-8 BOM and header first (so Excel reads Chinese), then rows.

    When ``cut`` says the export stopped early, a last row starts with :data:`CUT_MARK`.
    """
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
    if cut is not None and cut.reason:
        writer.writerow([CUT_MARK, cut.message()] + [""] * (len(CSV_COLUMNS) - 2))
        yield flush()


def hit_record(hit: Hit) -> dict[str, Any]:
    """Return one JSON-lines record of a hit (the CSV's columns, snippet as plain text)."""
    return {
        "id": hit.id, "title": hit.title, "published": hit.published, "source": hit.source,
        "region": list(hit.region), "category": hit.category, "url": hit.url,
        "score": round(hit.score, 4), "similar_count": hit.similar_count, "cluster": hit.cluster,
        "snippet": html_to_text(hit.snippet_html),
    }


def iter_jsonl(hits: Iterable[Hit], cut: Cut | None = None) -> Iterator[str]:
    """Yield one JSON object per line; a cut export ends with ``{"truncated": true, ...}``."""
    for hit in hits:
        yield json.dumps(hit_record(hit), ensure_ascii=False) + "\n"
    if cut is not None and cut.reason:
        yield json.dumps({"truncated": True, "rows": cut.sent, "total": cut.total, "reason": cut.reason,
                          "message": cut.message()}, ensure_ascii=False) + "\n"
