"""Requests checked and narrowed: validation, the filter mask over the columns, facet counts.

Everything here works on a snapshot's columns (search.snapshot.Columns) as numpy masks over
document numbers, before any ranking.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import BadQuery
from .hits import day_bounds
from .models import SORTS, FacetValue, SearchRequest
from .params import RESULT_WINDOW
from .query import MAX_WORDS
from .ranking import Postings
from .snapshot import Columns

__all__ = ["validate", "filter_mask", "facets", "postings_to_read", "MAX_SIZE", "MAX_WINDOW", "FACET_LIMIT"]

MAX_SIZE = 100
MAX_WINDOW = RESULT_WINDOW
FACET_LIMIT = 20


def validate(req: SearchRequest, window: int = MAX_WINDOW, max_size: int = MAX_SIZE) -> None:
    """Raise BadQuery for a request that cannot be answered as given.

    ``window``/``max_size`` are raised only by exports (web/export.py), which walk every match.
    """
    if req.sort not in SORTS:
        raise BadQuery(f"sort must be one of {', '.join(SORTS)}, not {str(req.sort)[:40]!r}")
    if not 1 <= req.size <= max_size:
        raise BadQuery(f"size must be between 1 and {max_size}")
    if req.page < 1:
        raise BadQuery("page must be 1 or more")
    if req.page * req.size > window:
        raise BadQuery(
            f"results beyond the first {window} are not served (page {req.page} × size {req.size}); "
            "narrow the search with filters or a date range"
        )
    lo = day_bounds(req.date_from, "from", False)
    hi = day_bounds(req.date_to, "to", True)
    if lo is not None and hi is not None and lo > hi:
        raise BadQuery(f"from ({req.date_from}) is after to ({req.date_to})")


def postings_to_read(parsed: Any, reader: Any, post: Postings) -> int:
    """Postings a query reads at least: its words' document frequencies (from the term dictionary)."""
    from .analysis import query_words

    total, words = 0, 0
    for part in [p for g in parsed.groups for p in g] + list(parsed.excluded):
        if part.field in ("source", "region", "site"):
            continue
        for w in query_words(part.text):
            if words >= MAX_WORDS:
                return total
            words += 1
            total += post.doc_frequency("body", w, reader) + post.doc_frequency("title", w, reader)
    return total

def filter_mask(mask: np.ndarray, req: SearchRequest, cols: Columns, n: int) -> np.ndarray:
    """Return ``mask`` narrowed to the request's dates, sources, categories, regions and story."""
    lo = day_bounds(req.date_from, "from", False)
    hi = day_bounds(req.date_to, "to", True)
    if lo is not None or hi is not None:
        pub = cols.published
        mask = mask & (pub > 0) & (pub >= (lo if lo is not None else 1)) & (pub <= (hi if hi is not None else 1 << 62))
    if req.source:
        mask = mask & cols.value_mask(cols.source, cols.sources, req.source)
    if req.category:
        mask = mask & cols.value_mask(cols.category, cols.categories, req.category)
    for r in req.region:  # several regions narrow (四川, then 宜宾)
        mask = mask & cols.region_mask(r, n)
    if req.cluster:
        mask = mask & cols.value_mask(cols.cluster, cols.clusters, (req.cluster,))
    return mask

# Source and month are counted together (one pass) while their pairs are at most this many, or
# fewer than the documents counted; otherwise apart (a per-query count of that many bins).
PAIR_BINS = 1 << 16


def facets(mask: np.ndarray, cols: Columns, ids: np.ndarray | None = None,
           universe: np.ndarray | None = None) -> dict[str, tuple[FacetValue, ...]]:
    """Return the source, region (a tree) and month counts of the documents in ``mask``
    (``ids``: its document numbers, when the caller has them). ``universe``: a mask holding
    ``mask`` whose counts are kept per snapshot (the live documents, when no filter narrowed
    them): more than half of it matching, the counts are those of the universe less those of
    the documents that do not match, which are fewer."""
    def top(counts: np.ndarray, name: str, limit: int | None) -> tuple[FacetValue, ...]:
        # By value (limit None), or most first and then by value; empty values left out.
        rank = cols.value_rank(name)
        nz = np.flatnonzero(counts)
        nz = nz[rank[nz] >= 0]
        if limit is None:
            nz = nz[np.argsort(rank[nz])]
        else:
            nz = nz[np.lexsort((rank[nz], -counts[nz]))][:limit]
        table = getattr(cols, name)
        return tuple(FacetValue(table[i], c) for i, c in zip(nz.tolist(), counts[nz].tolist()))

    if ids is None:
        ids = np.flatnonzero(mask)
    if universe is not None and 2 * len(ids) > len(mask):
        base = cols.facet_counts_of(universe, lambda: _counts(universe, cols, np.flatnonzero(universe)))
        rest = universe & ~mask
        less = _counts(rest, cols, np.flatnonzero(rest))
        per_source, per_month, per_region = (b - c for b, c in zip(base, less))
    else:
        per_source, per_month, per_region = _counts(mask, cols, ids)
    return {
        "source": top(per_source, "sources", FACET_LIMIT),
        "region": cols.region_tree().facets(per_region, FACET_LIMIT),
        "month": top(per_month, "months", None),
    }


def _counts(mask: np.ndarray, cols: Columns, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Documents per source, per month and per region value among ``mask`` (document ids ``ids``)."""
    if len(ids) * 8 < len(mask):  # few matches: count over them, not over the archive
        sel = cols.region_docs[:0]
        if len(cols.region_docs) and len(ids):
            # (document, region) pairs are in document order: each match's pairs are one run
            off = cols.region_offsets()
            a = off[ids]
            lens = off[ids + 1] - a
            starts = np.cumsum(lens) - lens
            sel = np.repeat(a - starts, lens) + np.arange(int(lens.sum()))
        region_codes = cols.region_codes[sel]
    else:  # gathers by position: a boolean selection over a million values costs ~6 ms each
        in_match = np.flatnonzero(mask[cols.region_docs]) if len(cols.region_docs) else np.zeros(0, dtype=np.int64)
        region_codes = cols.region_codes[in_match]
    per_region = np.bincount(region_codes, minlength=len(cols.regions))
    pairs = len(cols.months) * len(cols.sources)
    if pairs <= max(PAIR_BINS, len(ids)):
        # Source and month in one count: a (month, source) code per document, built once.
        both = np.bincount(cols.month_source()[ids], minlength=pairs).reshape(len(cols.months), len(cols.sources))
        return both.sum(axis=0), both.sum(axis=1), per_region
    return (np.bincount(cols.source[ids], minlength=len(cols.sources)),
            np.bincount(cols.month[ids], minlength=len(cols.months)), per_region)
