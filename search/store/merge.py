"""The merge policy of incremental runs: tiers of similar-sized segments, a budget per run."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from whoosh.reading import SegmentReader

__all__ = ["merge_plan", "tiered_merge", "full_merge_plan", "full_merge", "MergeReader"]

log = logging.getLogger(__name__)

# Incremental runs (cron) each add a small segment. Whoosh's default policy (MERGE_SMALL)
# lets ~20 of them pile up before merging them, and its merge rewrites postings term by term
# in Python at about 3× the CPU per article of indexing, so an "optimize" of a large archive
# per run is out of the question. Tiers instead, inside the reindex process (never on the
# query path): segments of similar size form a tier; when MERGE_FACTOR segments share a tier
# they are merged into one of the next tier, so every article is rewritten about
# log_F(archive / MERGE_FLOOR) times over its life, and the segment count stays logarithmic.
# MERGE_BUDGET caps the documents one run rewrites (a run stays well inside a minute);
# segments above it are left alone (a rebuild's own segments, the big tiers).
# Measured at 362k articles (docs/SCALING.md, session 11): a run of 1,000 articles takes
# 9–15 s and a merge ~5 ms an article more, so six 1,000-article segments (factor 6) made
# merge runs of 50–56 s, at the minute's edge on a loaded box; four keep them near 30 s.
MERGE_FACTOR = 4
MERGE_FLOOR = 1_000  # documents: every smaller segment is in tier 0
MERGE_BUDGET = 6_000  # documents rewritten by one run's merge, at most
DELETED_SHARE = 0.3  # a segment with this share of replaced/deleted articles is merged to drop them
# The nightly merge (``xunwen merge``, no per-run budget): every segment under this share of
# the largest one is merged into one, so the cron runs' budget-sized segments do not pile up
# in front of a rebuild's big ones (issue 11: each query looks each word up once per segment).
# Half (session 11): at a quarter, segments that grew past 45k of a 181k-article largest stayed
# apart (two of 48k after four nights, 8 segments with the day's runs: keyword p95 1.4-1.7x a
# fresh rebuild's); at half, the same night folds them (100,500 articles, 255 s) and the p95 is
# 1.02-1.13x. A night rewrites at most about half the largest segment plus the day's articles.
FULL_MERGE_SHARE = 0.5


def _tier(docs: int) -> int:
    tier = 0
    while docs >= MERGE_FLOOR * MERGE_FACTOR ** tier:
        tier += 1
    return tier


def merge_plan(sizes: list[tuple[int, int]]) -> list[int]:
    """Return the indexes of the segments to merge, given (documents, deleted) per segment."""
    tiers: dict[int, list[int]] = {}
    for i, (docs, deleted) in enumerate(sizes):
        tiers.setdefault(_tier(docs - deleted), []).append(i)
    chosen: list[int] = []
    budget = MERGE_BUDGET
    for tier in sorted(tiers):  # the smallest tiers first: cheap, and they are the many
        members = sorted(tiers[tier], key=lambda i: sizes[i][0])
        if len(members) < MERGE_FACTOR:
            continue
        for i in members:
            if sizes[i][0] <= budget:
                chosen.append(i)
                budget -= sizes[i][0]
    for i, (docs, deleted) in enumerate(sizes):
        if i not in chosen and docs and deleted / docs >= DELETED_SHARE and docs <= budget:
            chosen.append(i)
            budget -= docs
    return sorted(chosen) if len(chosen) > 1 or any(sizes[i][1] for i in chosen) else []


def full_merge_plan(sizes: list[tuple[int, int]], max_docs: int | None = None) -> list[int]:
    """The nightly plan: the segments to merge, given (documents, deleted) per segment.

    Every segment whose live documents are under :data:`FULL_MERGE_SHARE` of the largest's,
    and every segment with :data:`DELETED_SHARE` or more deleted, smallest first while their
    documents stay within ``max_docs`` (no cap when None). Nothing when that is one segment
    without deletions (merging it would only copy it).
    """
    if not sizes:
        return []
    largest = max(docs - deleted for docs, deleted in sizes)
    small = [i for i, (docs, deleted) in enumerate(sizes)
             if docs - deleted < FULL_MERGE_SHARE * largest or (docs and deleted / docs >= DELETED_SHARE)]
    chosen: list[int] = []
    total = 0
    for i in sorted(small, key=lambda i: sizes[i][0]):
        if max_docs is not None and total + sizes[i][0] > max_docs:
            break
        chosen.append(i)
        total += sizes[i][0]
    return sorted(chosen) if len(chosen) > 1 or any(sizes[i][1] for i in chosen) else []


class MergeReader:
    """A segment reader whose ``iter_postings`` walks the terms file in order.

    Whoosh's ``iter_postings`` (what ``add_reader`` merges from) looks every term up again
    through the terms file's hash table, rebuilds the set of deleted documents for each term
    and steps a matcher posting by posting: ~8 ms of CPU an article, 3× indexing it. Here the
    terms come with their term infos from one sequential pass and postings are read a block
    at a time. The same tuples in the same order (or, for the fast segment writer, a term's
    live postings as lists: ``iter_term_postings``); everything else is the wrapped reader's.
    """

    def __init__(self, reader: Any):
        self._reader = reader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    def iter_postings(self) -> Iterator[tuple[str, bytes, int, float, Any]]:
        """Yield ``(fieldname, term, docnum, weight, value bytes)`` of every live posting."""
        for fieldname, tbytes, ids, weights, values in self.iter_term_postings():
            yield from ((fieldname, tbytes, d, w, v) for d, w, v in zip(ids, weights, values))

    def iter_term_postings(self, by_name: bool = False) -> Iterator[tuple[str, bytes, list, list, list]]:
        """Yield ``(fieldname, term, docnums, weights, values)`` of each term's live postings,
        in the terms file's order (fields by number), or with ``by_name`` in (field name,
        term) order, the order a segment's postings are written in (a term with none left is
        skipped)."""
        r = self._reader
        terms = r._terms
        schema = r.schema
        deleted = frozenset(r._perdoc.deleted_docs()) if r.has_deletions() else frozenset()
        formats: dict[str, Any] = {}
        if by_name:
            def items() -> Iterator[tuple[tuple[str, bytes], Any]]:
                for name in sorted(terms._fieldmap):
                    for key, info in terms.items_from(name, b""):
                        if key[0] != name:
                            break
                        yield key, info
        else:
            items = terms.items
        for (fieldname, tbytes), info in items():
            fmt = formats.get(fieldname)
            if fmt is None:
                if fieldname not in schema:
                    continue
                fmt = formats[fieldname] = schema[fieldname].format
            ids: list = []
            weights: list = []
            values: list = []
            m = terms._codec.postings_reader(terms._postfile, info, fmt, term=(fieldname, tbytes))
            if hasattr(m, "_read_ids") and hasattr(m, "_next_block"):  # a block list on disk
                while not m._atend and m._blocklength:
                    m._read_ids()
                    m._read_weights()
                    m._read_values()
                    ids.extend(m._ids)
                    weights.extend(m._weights)
                    values.extend(m._values)
                    m._next_block()
            else:  # inline (short) lists
                while m.is_active():
                    ids.append(m.id())
                    weights.append(m.weight())
                    values.append(m.value())
                    m.next()
            if deleted:
                keep = [i for i, d in enumerate(ids) if d not in deleted]
                if len(keep) < len(ids):
                    ids = [ids[i] for i in keep]
                    weights = [weights[i] for i in keep]
                    values = [values[i] for i in keep]
            if ids:
                yield fieldname, tbytes, ids, weights, values


def tiered_merge(writer: Any, segments: list[Any]) -> list[Any]:
    """Whoosh ``mergetype``: merge the segments :func:`merge_plan` picks into the new one."""
    sizes = [(s.doc_count_all(), s.deleted_count()) for s in segments]
    return _merge_chosen(writer, segments, sizes, merge_plan(sizes))


def full_merge(max_docs: int | None = None) -> Any:
    """Whoosh ``mergetype`` of the nightly merge (:func:`full_merge_plan`)."""
    def mergetype(writer: Any, segments: list[Any]) -> list[Any]:
        sizes = [(s.doc_count_all(), s.deleted_count()) for s in segments]
        return _merge_chosen(writer, segments, sizes, full_merge_plan(sizes, max_docs))
    return mergetype


def _merge_chosen(writer: Any, segments: list[Any], sizes: list[tuple[int, int]], plan: list[int]) -> list[Any]:
    chosen = set(plan)
    if chosen:
        log.info("merging %d segments (%d documents)", len(chosen), sum(sizes[i][0] for i in chosen))
    for i in sorted(chosen):
        reader = SegmentReader(writer.storage, writer.schema, segments[i])
        writer.add_reader(MergeReader(reader))
        keep = getattr(writer, "keep_open", None)  # the fast writer reads its postings when it flushes
        if keep is not None:
            keep(reader)
        else:
            reader.close()
    return [s for i, s in enumerate(segments) if i not in chosen]
