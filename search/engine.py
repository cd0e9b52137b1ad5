"""The facade: ``SearchEngine(index_dir).search(SearchRequest) -> SearchPage``.

One engine serves many threads. It glues the stages: a consistent view of the index and its
caches (search.snapshot), the request checked and narrowed (search.filters), the query parsed
and compiled (search.query), ranked (search.ranking), and the page's hits built from the
stored documents (search.hits). Every request runs under one time budget (``search.budget``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from . import budget as _budget
from .chars import CharIndex
from .errors import BadQuery, NotFound
from .filters import MAX_SIZE, MAX_WINDOW, facets, filter_mask, postings_to_read, validate
from .highlight import highlight_html
from .hits import article, hit, iso
from .models import Article, Hit, SearchPage, SearchRequest
from .params import DEFAULT_PARAMS, RankParams
from .query import Plan, compile_query, parse_query
from .ranking import Postings, by_date, by_score, key_term_counts, more_like_this, rank
from .ranking import collapse as collapse_stories
from .snapshot import Columns, Lexicon, Snapshot, Snapshots
from .suggest import complete, did_you_mean, expand_query

__all__ = ["SearchEngine", "MAX_SIZE", "MAX_WINDOW", "Lexicon"]

log = logging.getLogger(__name__)
# A query whose words' postings add up to more than this many passes over the collection
# is expensive before it starts (的 × 64, a pasted paragraph, an OR chain of characters): it
# waits for an expensive-work slot at once instead of first taking CPU from everyone.
EXPENSIVE_READS = 4
# Pages answered on a commit, kept for the same request on the same commit (a news archive's
# queries repeat: the day's story is searched by everyone). A new commit is a new key, so a
# cached page is never staler than the snapshot it came from. Off unless XUNWEN_RESULT_CACHE=N
# (pages): a cached page would also skip what is not in the key (a reloaded alias file, the
# expensive-query queue), so it is an operator's choice, not a default.
RESULT_CACHE = 0
# Resident set above which a search drops the index maps' resident pages (search.snapshot.
# Snapshots.trim_resident): XUNWEN_RSS_LIMIT_MB, 0 = never.
RSS_LIMIT_MB = 1536


class SearchEngine:
    """Search one index directory; safe to share between threads."""

    def __init__(self, index_dir: str | os.PathLike, params: RankParams = DEFAULT_PARAMS):
        self.index_dir = Path(index_dir)
        self.params = params
        self._snaps = Snapshots(self.index_dir, params)
        size = os.environ.get("XUNWEN_RESULT_CACHE", "").strip()
        self._results_max = int(size) if size.isdigit() else RESULT_CACHE
        self._results: OrderedDict[tuple, SearchPage] = OrderedDict()
        self._results_lock = threading.Lock()
        lim = os.environ.get("XUNWEN_RSS_LIMIT_MB", "").strip()
        self._rss_limit = (int(lim) if lim.isdigit() else RSS_LIMIT_MB) << 20

    # ------------------------------------------------------------ snapshots (search/snapshot.py)

    def refresh(self) -> bool:
        """Open and warm the newest commit now if it is not served yet; True when one was installed."""
        return self._snaps.refresh()

    def warm_up(self) -> None:
        """Open the index and build the per-snapshot caches now rather than on the first query."""
        self._snaps.warm_up()

    def keep_warm(self, every: float = 2.0) -> threading.Thread:
        """Warm each new commit in a background thread, checking every ``every`` seconds."""
        return self._snaps.keep_warm(every)

    def _view(self) -> contextlib.AbstractContextManager[tuple[Snapshot, Any]]:
        """One consistent view for one request: a snapshot and a searcher on it, released after."""
        return self._snaps.view()

    def _columns(self, snap: Snapshot, s: Any) -> Columns:
        return self._snaps.columns(snap, s)

    def _postings(self, snap: Snapshot, s: Any) -> Postings:
        return self._snaps.postings(snap, s)

    def _lexicon(self, snap: Snapshot, s: Any) -> Lexicon:
        return self._snaps.lexicon(snap, s)

    def _chars(self, snap: Snapshot, s: Any) -> CharIndex:
        return self._snaps.chars(snap, s)

    def _pairs(self, snap: Snapshot, s: Any) -> tuple[np.ndarray | None, float]:
        return self._snaps.pairs(snap, s)

    # ------------------------------------------------------------ search

    @staticmethod
    def validate(req: SearchRequest, window: int = MAX_WINDOW, max_size: int = MAX_SIZE) -> None:
        """Raise BadQuery for a request that cannot be answered as given (search.filters.validate)."""
        validate(req, window, max_size)

    def search(self, req: SearchRequest, *, window: int = MAX_WINDOW, max_size: int = MAX_SIZE) -> SearchPage:
        """Run one search: match, filter, facet, collapse, rank, page, highlight."""
        t0 = time.perf_counter()
        self.validate(req, window, max_size)
        parsed = parse_query(req.q)
        with _budget.scope() as budget, self._view() as (snap, s):
            # A recency-boosted ranking depends on the clock too: kept for the hour.
            key: tuple | None = (snap.key, req, window, max_size, self.params,
                                 int(time.time() // 3600) if req.recency else 0)
            try:
                hash(key)
            except TypeError:  # a request built with lists (source=[...]): answered, not kept
                key = None
            if self._results_max and key is not None:
                with self._results_lock:
                    got = self._results.get(key)
                    if got is not None:
                        self._results.move_to_end(key)
                if got is not None:
                    return replace(got, took_ms=(time.perf_counter() - t0) * 1000)
            page = self._search(req, parsed, snap, s, budget, t0)
            self._snaps.trim_resident(self._rss_limit)
            if self._results_max and key is not None and not page.partial:  # a page cut by the time budget is not kept
                with self._results_lock:
                    self._results[key] = page
                    while len(self._results) > self._results_max:
                        self._results.popitem(last=False)
            return page

    def _search(self, req: SearchRequest, parsed: Any, snap: Snapshot, s: Any,
                budget: _budget.Budget, t0: float) -> SearchPage:
        with budget.paused():  # the first request on a commit may build its caches
            cols = self._columns(snap, s)
            post = self._postings(snap, s)
            post.lengths("title", s.reader())
            post.lengths("body", s.reader())
            lexicon = self._lexicon(snap, s) if parsed.groups or parsed.excluded else None
            chars = self._chars(snap, s) if parsed.groups or parsed.excluded else None
            pairs = self._pairs(snap, s)
        plain, parsed = parsed, expand_query(parsed, lambda: self._lexicon(snap, s), s.reader())[0]  # aliases, pinyin
        if (parsed.groups or parsed.excluded) and postings_to_read(parsed, s.reader(), post) > EXPENSIVE_READS * post.n:
            budget.expensive()  # queue before spending CPU, not after
        # The documents the filters keep (live ones): a query of one part then scores only
        # its strict matches among them when those fill a page (query.compile_query).
        within = filter_mask(post.live, req, cols, post.n)
        if parsed.groups or parsed.excluded:
            if lexicon is None:  # the expansion gave words to a query that had none
                lexicon, chars = self._lexicon(snap, s), self._chars(snap, s)
            try:
                plan = compile_query(parsed, s, lexicon, post, chars, self.params, within, req.size)
            except BadQuery:
                if parsed is plain:
                    raise
                # the alternatives took it over the budget: answer without them
                log.warning("query %r over the budget with its aliases/pinyin: searched without them", req.q[:80])
                parsed = plain
                plan = compile_query(parsed, s, lexicon, post, chars, self.params, within, req.size)
        else:
            plan = Plan(parsed)
        mask = within.copy() if plan.mask is None else plan.mask & within
        total = int(np.count_nonzero(mask))
        # Strict first: the articles holding every word. Only when they are fewer than a page
        # do looser matches (most of the words) follow, after all of them, counted apart.
        extra = None
        if plan.relaxed is not None and total < req.size:
            extra = plan.relaxed & within & ~mask
            if not extra.any():
                extra = None
        total_relaxed = int(np.count_nonzero(extra)) if extra is not None else 0
        shown = mask if extra is None else mask | extra
        shown_ids = np.flatnonzero(shown)  # once: story counts and facets gather by position
        copies = ClusterCounts(cols.cluster, shown, len(cols.clusters), shown_ids)
        # Facets count what the total counts (the looser matches only when nothing is strict).
        # (the live documents' counts are kept: a match of most of them counts the others)
        counts = facets(mask if total else shown, cols, shown_ids if shown is mask or not total else None,
                        universe=post.live if within is post.live else None) if req.facets else {}
        collapse = req.collapse and req.cluster is None
        stories = (copies if shown is mask else ClusterCounts(cols.cluster, mask, len(cols.clusters))).stories \
            if collapse else total
        want = req.page * req.size
        ordered = []
        for m in (mask,) if extra is None else (mask, extra):
            if req.sort == "relevance" and plan.score is not None:
                try:
                    ordered += rank(s, plan, m, want, cols, post, collapse, req.recency,
                                    pairs if plan.ql_text else (None, 0.0), budget, self.params)
                except _budget.OverBudget:  # a rerank ran far past the budget: BM25F order, said to be partial
                    budget.partial = True
                    ordered += by_score(plan.score, m, want * (4 if collapse else 1) + 20)
            else:
                ordered += by_date(m, cols, newest=req.sort != "oldest")
        if collapse:
            ordered = collapse_stories(ordered, cols.cluster, want)
        window = ordered[(req.page - 1) * req.size: want]
        with budget.unguarded():  # a page of stored fields: the answer, however late
            hits = tuple(
                hit(s, d, score, plan.highlight,
                    copies[int(cols.cluster[d])] - 1 if collapse else 0, req.snippets, budget)
                for d, score in window
            )
        return SearchPage(
            query=req.q, total=total, page=req.page, size=req.size, hits=hits, facets=counts,
            took_ms=(time.perf_counter() - t0) * 1000, sort=req.sort, collapsed=collapse, stories=stories,
            relaxed=extra is not None, total_relaxed=total_relaxed, partial=budget.partial,
        )

    # ------------------------------------------------------------ query help (search/suggest.py)

    def expansions(self, q: str) -> list[Any]:
        """Return what aliases and pinyin add to the parts of ``q`` (search.aliases.Expansion)."""
        with self._view() as (snap, s):
            return expand_query(parse_query(q), lambda: self._lexicon(snap, s), s.reader())[1]

    def suggest(self, prefix: str, limit: int = 8) -> list[str]:
        """Return completions of ``prefix`` from indexed words, aliases, pinyin and titles."""
        def titles(p: str, n: int) -> list[str]:
            req = SearchRequest(q=p, size=n, snippets=False, facets=False)
            return [h.title for h in self.search(req).hits]

        with self._view() as (snap, s):
            return complete(prefix, self._lexicon(snap, s), s.reader(), titles, limit)

    def did_you_mean(self, q: str, limit: int = 3) -> list[str]:
        """Return other queries likely meant by ``q`` (pinyin, near words in the lexicon)."""
        with self._view() as (snap, s):
            return did_you_mean(q, self._lexicon(snap, s), s.reader(), limit)

    # ------------------------------------------------------------ articles

    def _docnum(self, s: Any, article_id: str) -> int:
        if not isinstance(article_id, str) or not article_id or len(article_id) > 200:
            raise NotFound(f"no article with id {str(article_id)[:80]!r}")
        d = s.document_number(id=article_id)
        if d is None:
            raise NotFound(f"no article with id {article_id!r}")
        return d

    def get_article(self, article_id: str) -> Article:
        """Return the stored article with this id; raise NotFound."""
        with self._view() as (_snap, s), _budget.scope() as budget, budget.unguarded():
            f = s.stored_fields(self._docnum(s, article_id))
        return article(f)

    def highlight(self, text: str, q: str) -> str:
        """Return ``text`` HTML-escaped with the query's words wrapped in ``<mark>``."""
        from .analysis import query_words

        parsed = parse_query(q)
        terms: list[str] = []
        for g in parsed.groups:
            for p in g:
                if p.field in (None, "title"):
                    terms.extend(query_words(p.text))
        with _budget.scope() as budget:
            return highlight_html(text, terms, budget=budget)

    def more_like_this(self, article_id: str, limit: int = 5) -> list[Hit]:
        """Return articles similar to this one by key terms (other stories first)."""
        with _budget.scope() as budget, self._view() as (snap, s):
            return self._more_like_this(snap, s, article_id, limit, budget)

    def _more_like_this(self, snap: Snapshot, s: Any, article_id: str, limit: int,
                        budget: _budget.Budget) -> list[Hit]:
        d = self._docnum(s, article_id)
        f = s.stored_fields(d)
        tf, title_words = key_term_counts(f.get("title", ""), f.get("body", ""))
        if not tf:
            return []
        with budget.paused():
            post = self._postings(snap, s)
            cols = self._columns(snap, s)
        top = more_like_this(tf, title_words, d, s.reader(), post, cols.cluster, limit, budget)
        with budget.unguarded():
            return [hit(s, x, score, [], 0, True, budget) for x, score in top]

    # ------------------------------------------------------------ stats

    def article_count(self) -> int:
        """Return the number of articles in the served index."""
        with self._view() as (_snap, s):
            return s.doc_count()

    def stats(self) -> dict[str, Any]:
        """Return articles, sources, date range, size on disk and schema version."""
        with self._view() as (snap, s):
            return self._stats(snap, s)

    def _stats(self, snap: Snapshot, s: Any) -> dict[str, Any]:
        from .store.generations import schema_version

        cols = self._columns(snap, s)
        live = list(s.reader().all_doc_ids())
        pubs = [int(cols.published[d]) for d in live if cols.published[d]]
        sources = Counter(cols.sources[cols.source[d]] for d in live)
        size = sum(p.stat().st_size for p in snap.gen.iterdir() if p.is_file())
        return {
            "index_dir": str(self.index_dir),
            "generation": snap.gen.name,
            "schema_version": schema_version(snap.gen),
            "articles": len(live),
            "sources": len([k for k in sources if k]),
            "top_sources": [{"value": k, "count": v} for k, v in sources.most_common(10) if k],
            "date_from": iso(min(pubs)) if pubs else None,
            "date_to": iso(max(pubs)) if pubs else None,
            "size_bytes": size,
            "segments": len(s.reader().leaf_readers()) if hasattr(s.reader(), "leaf_readers") else 1,
        }

    def close(self) -> None:
        """Stop serving: the current snapshot closes once its last request is done."""
        self._snaps.close()


class ClusterCounts:
    """Matching articles per story (cluster code) among a mask's documents: a bincount over
    every story when the matches are many, a sort of their codes when they are few (an
    N-length pass over a million stories per query is what the few would otherwise pay)."""

    def __init__(self, cluster: np.ndarray, mask: np.ndarray, clusters: int, ids: np.ndarray | None = None):
        if ids is None:
            ids = np.flatnonzero(mask)
        self._few = len(ids) * 8 < len(mask)
        if self._few:
            self._codes, self._n = np.unique(cluster[ids], return_counts=True)
            self.stories = len(self._codes)
        else:
            self._per = np.bincount(cluster[ids], minlength=clusters)
            self.stories = int(np.count_nonzero(self._per))

    def __getitem__(self, code: int) -> int:
        if not self._few:
            return int(self._per[code])
        i = int(np.searchsorted(self._codes, code))
        return int(self._n[i]) if i < len(self._codes) and int(self._codes[i]) == code else 0
