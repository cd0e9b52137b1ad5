"""Frozen dataclasses that cross module boundaries, each with ``to_dict()`` for JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Article", "SearchRequest", "Hit", "FacetValue", "SearchPage", "SORTS"]

SORTS = ("relevance", "newest", "oldest")


@dataclass(frozen=True)
class Article:
    """One cleaned article: display text as published (pinyin annotations removed)."""

    id: str
    title: str
    body: str
    url: str | None = None
    source: str | None = None
    published: datetime | None = None  # timezone-aware (Asia/Shanghai) when known
    category: str | None = None
    authors: tuple[str, ...] = ()
    region: tuple[str, ...] = ()  # e.g. ("四川", "宜宾", "珙县")
    dateline: str | None = None  # place in the wire dateline, e.g. "北京"
    lang: str | None = None  # "zh-Hans" / "zh-Hant"
    cluster: str | None = None  # near-duplicate cluster id
    origin: str | None = None  # path (and line) the article came from

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (datetime as ISO 8601, tuples as lists)."""
        d = asdict(self)
        d["published"] = self.published.isoformat() if self.published else None
        d["authors"] = list(self.authors)
        d["region"] = list(self.region)
        return d


@dataclass(frozen=True)
class SearchRequest:
    """A search as asked by a person or a program; validated by the engine."""

    q: str = ""
    page: int = 1
    size: int = 10
    sort: str = "relevance"
    date_from: str | None = None  # YYYY-MM-DD, inclusive, Asia/Shanghai
    date_to: str | None = None
    source: tuple[str, ...] = ()
    region: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    cluster: str | None = None  # show the copies of one story
    collapse: bool = True
    recency: bool = False  # boost newer articles in relevance sort
    snippets: bool = True
    facets: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d = asdict(self)
        for k in ("source", "region", "category"):
            d[k] = list(d[k])
        return d


@dataclass(frozen=True)
class Hit:
    """One result: metadata plus highlighted title and snippet (safe HTML)."""

    id: str
    title: str
    title_html: str
    url: str | None
    source: str | None
    region: tuple[str, ...]
    published: str | None  # ISO 8601 with +08:00, or None
    score: float
    snippet_html: str
    similar_count: int = 0  # other copies of this story among the matches
    cluster: str | None = None
    category: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d = asdict(self)
        d["region"] = list(self.region)
        return d


@dataclass(frozen=True)
class FacetValue:
    """One facet bucket; region values also carry their level and parent (省 › 市 › 县)."""

    value: str
    count: int
    level: int = 0  # regions: 1 province, 2 prefecture, 3 county; 0 = not a region (or unknown)
    parent: str | None = None  # regions: the parent's tag label (四川 for 宜宾)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (level and parent only when set)."""
        d: dict[str, Any] = {"value": self.value, "count": self.count}
        if self.level:
            d["level"] = self.level
        if self.parent is not None:
            d["parent"] = self.parent
        return d


@dataclass(frozen=True)
class SearchPage:
    """One page of results with facets over all matches."""

    query: str
    total: int
    page: int
    size: int
    hits: tuple[Hit, ...]
    facets: dict[str, tuple[FacetValue, ...]] = field(default_factory=dict)
    took_ms: float = 0.0
    sort: str = "relevance"
    collapsed: bool = True
    stories: int = 0  # results after collapsing copies of one story (what pages count)
    partial: bool = False  # the time budget ran out before all matches were counted
    relaxed: bool = False  # fewer than a page held every word: looser matches follow them
    total_relaxed: int = 0  # those looser matches (most of the words), not counted in total

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape served by the API."""
        return {
            "query": self.query,
            "total": self.total,
            "page": self.page,
            "size": self.size,
            "sort": self.sort,
            "collapsed": self.collapsed,
            "stories": self.stories,
            "partial": self.partial,
            "relaxed": self.relaxed,
            "total_relaxed": self.total_relaxed,
            "took_ms": round(self.took_ms, 2),
            "hits": [h.to_dict() for h in self.hits],
            "facets": {k: [v.to_dict() for v in vs] for k, vs in self.facets.items()},
        }
