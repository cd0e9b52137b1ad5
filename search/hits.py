"""The Article ↔ stored-document mapping, both directions, in one place.

:func:`article_doc` turns an enriched article into the index's stored fields (regions and
authors joined with ",", region codes with "|", dates as epochs and months); :func:`hit`
and :func:`article` read them back; the snapshot's region column splits the codes with
:func:`split_codes`. Dates are Asia/Shanghai throughout (``params.SHANGHAI``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .budget import Budget
from .errors import BadQuery
from .highlight import highlight_html, snippet_html
from .models import Article, Hit
from .params import SHANGHAI

__all__ = ["article_doc", "hit", "article", "iso", "day_bounds", "split_codes"]


def join_names(values: Iterable[str]) -> str:
    """Join a multi-valued stored field (region names, authors) as it is stored."""
    return ",".join(values)


def split_names(value: str | None) -> tuple[str, ...]:
    """Split a stored multi-valued field back (no empty names)."""
    return tuple(x for x in (value or "").split(",") if x)


def join_codes(codes: Iterable[str]) -> str:
    """Join region codes (adcodes with their parents) as the ``regions`` field stores them."""
    return "|".join(codes)


def split_codes(value: str) -> list[str]:
    """Split a non-empty ``regions`` value back into its codes."""
    return value.split("|")


# ---------------------------------------------------------------- article → document


def _site(url: str | None) -> str:
    if not url:
        return ""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def _epoch(dt: datetime | None) -> int:
    return int(dt.timestamp()) if dt else 0


def _month(dt: datetime | None) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m") if dt else ""


def article_doc(a: Article, sig: Any, keys: list[Any]) -> dict[str, Any]:
    """Return the Whoosh fields of one enriched article."""
    from .region import tag_codes  # stage module, imported late (import time)

    return {
        "id": a.id,
        "url": a.url or "",
        "site": _site(a.url),
        "title": a.title or "",
        "body": a.body or "",
        "published": _epoch(a.published),
        "month": _month(a.published),
        "source": a.source or "",
        "category": a.category or "",
        "region": join_names(a.region),
        "regions": join_codes(tag_codes(a.region)),  # adcodes: the engine reads level and parent
        "authors": join_names(x.replace(",", " ") for x in a.authors),
        "cluster": a.cluster or a.id,
        "_dupkeys": keys,  # beside the segment (search.store.dupkeys), not a Whoosh field
        "dupsig": sig,
        "dateline": a.dateline or "",
        "lang": a.lang or "",
        "origin": a.origin or "",
    }


# ---------------------------------------------------------------- document → hit, article


def hit(s: Any, docnum: int, score: float, terms: list[str], similar: int, snippets: bool,
        budget: Budget | None = None) -> Hit:
    """Return the result of one document (its stored fields read through searcher ``s``)."""
    f = s.stored_fields(docnum)
    if terms and budget is not None and budget.stop():
        terms = []  # out of time: the title and the opening of the text, unmarked
    title = f.get("title", "")
    body = f.get("body", "")
    region = split_names(f.get("region"))
    return Hit(
        id=f["id"],
        title=title,
        title_html=highlight_html(title, terms),
        url=f.get("url") or None,
        source=f.get("source") or None,
        region=region,
        published=iso(f.get("published")),
        score=round(float(score), 4),
        snippet_html=snippet_html(body, terms) if snippets else "",
        similar_count=max(0, similar),
        cluster=f.get("cluster") or None,
        category=f.get("category") or None,
    )


def article(f: dict[str, Any]) -> Article:
    """Return the Article of one document's stored fields (what :func:`article_doc` wrote)."""
    pub = f.get("published")
    return Article(
        id=f["id"], title=f.get("title", ""), body=f.get("body", ""), url=f.get("url") or None,
        source=f.get("source") or None,
        published=datetime.fromtimestamp(pub, SHANGHAI) if pub else None,
        category=f.get("category") or None,
        authors=split_names(f.get("authors")),
        region=split_names(f.get("region")),
        dateline=f.get("dateline") or None, lang=f.get("lang") or None,
        cluster=f.get("cluster") or None, origin=f.get("origin") or None,
    )


# ---------------------------------------------------------------- dates


def day_bounds(value: str | None, name: str, end: bool) -> int | None:
    """Return the first (or with ``end`` the last) second of a ``YYYY-MM-DD`` day in Shanghai as an epoch."""
    if not value:
        return None
    try:
        d = date.fromisoformat(value.strip())
    except ValueError:
        raise BadQuery(f"{name} must be a date like 2024-04-29, not {value[:40]!r}") from None
    try:
        if end:
            d = d + timedelta(days=1)
        return int(datetime(d.year, d.month, d.day, tzinfo=SHANGHAI).timestamp()) - (1 if end else 0)
    except (OverflowError, ValueError):  # 9999-12-31 has no next day: no upper bound
        return (1 << 62) if end else -(1 << 62)


def iso(epoch: int | None) -> str | None:
    """Return a stored epoch as an ISO 8601 time in Shanghai (None for no date)."""
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, SHANGHAI).isoformat()
