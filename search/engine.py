"""The glue: ``SearchEngine(index_dir).search(SearchRequest) -> SearchPage``.

One engine serves many threads. Per-process caches hang off a *snapshot* (one index
generation at one commit, its files memory-mapped when it opens so that later merges,
deletes and swaps cannot take them away): the facet/sort columns and the lexicon map used
to find longer words containing a query word. Each request acquires a Whoosh searcher of
the snapshot for itself (Whoosh searchers are not shared across threads) and releases it
when done; a replaced snapshot closes when its last request is done. A new generation
swapped in by ``xunwen reindex --rebuild``, or a commit of an incremental run, is opened
and warmed in the background (reusing the work of unchanged segments) while the previous
one serves, then installed: no restart, and no request waits for the caches. Every
request runs under one time budget (``search.budget``).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from . import budget as _budget
from . import sidecar
from .bigrams import BIGRAM_FILE
from .chars import CharIndex
from .errors import BadQuery, IndexMissing, NotFound, XunwenError
from .highlight import highlight_html, snippet_html
from .models import SORTS, Article, FacetValue, Hit, SearchPage, SearchRequest
from .normalize import HAN_RE, fold_text
from .params import DEFAULT_PARAMS, RESULT_WINDOW, SHANGHAI, RankParams
from .query import MAX_WORDS, Plan, compile_query, parse_query
from .ranking import Postings, bigram_likelihood, proximity_bonus, query_likelihood
from .region import facet_tree
from .schema import TITLE_BOOST
from .store.generations import current_generation, latest_commit, open_current
from .store.pinned import PinnedStorage, open_searcher, pin_commit
from .suggest import complete, did_you_mean, expand_query

__all__ = ["SearchEngine", "MAX_SIZE", "MAX_WINDOW", "Lexicon"]

log = logging.getLogger(__name__)
MAX_SIZE = 100
MAX_WINDOW = RESULT_WINDOW
FACET_LIMIT = 20
COLUMNS = ("published", "month", "source", "category", "regions", "cluster")
# Ranking knobs are RankParams fields (search.params): long queries get BM25F plus ql_weight of
# the best BM25F score times the query likelihood rescaled to 0..1 over the candidates (CombSUM
# of the two models), and the best ``rerank`` also bigram_weight of the best score times the
# character-pair likelihood rescaled to 0..1 (ranking.bigram_likelihood).
# A query whose words' postings add up to more than this many passes over the collection
# is expensive before it starts (的 × 64, a pasted paragraph, an OR chain of characters): it
# waits for an expensive-work slot at once instead of first taking CPU from everyone.
EXPENSIVE_READS = 4
_RECHECK_SECONDS = 0.5
_RETRY_FAILED = 10.0  # seconds before a commit that failed to open is tried again


def _by_length(w: str) -> tuple[int, str]:
    return len(w), w


class Lexicon:
    """Indexed words by character, to find the longer words that contain a query word."""

    @staticmethod
    def words_of(reader: Any) -> dict[str, list[str]]:
        """Return one reader's Han title and body words of two characters or more, by character."""
        by_char: dict[str, list[str]] = {}
        seen: set[str] = set()
        for fname in ("title", "body"):
            for b in reader.lexicon(fname):
                w = b.decode("utf-8")
                if w in seen or len(w) < 2 or not HAN_RE.match(w[0]):
                    continue
                seen.add(w)
                for ch in set(w):
                    by_char.setdefault(ch, []).append(w)
        for lst in by_char.values():
            lst.sort(key=_by_length)
        return by_char

    def __init__(self, reader: Any, words: list[dict[str, list[str]]] | None = None):
        # ``words``: words_of() of each segment, reused across commits for unchanged segments;
        # the lists of one character are merged when a query first needs them, so a tiny
        # commit costs the words of its new segment, not those of the whole index.
        self._parts = [self.words_of(reader)] if words is None else words
        self._by_char: dict[str, list[str]] = {}
        self._sites = sorted(b.decode("utf-8") for b in reader.lexicon("site"))
        labels = sorted(b.decode("utf-8") for b in reader.lexicon("source"))
        self._sources = [(x, fold_text(x)) for x in labels]
        self._cache: dict[tuple[str, int], list[str]] = {}

    def containing(self, w: str, limit: int = DEFAULT_PARAMS.expansions) -> list[str]:
        """Return up to ``limit`` indexed Han words that contain ``w`` (shortest first)."""
        if not w or not HAN_RE.match(w[0]):
            return []
        got = self._cache.get((w, limit))
        if got is None:
            got = []
            for x in self._char(w[0]):
                if x != w and w in x:
                    got.append(x)
                    if len(got) >= limit:
                        break
            if len(self._cache) < 50_000:
                self._cache[(w, limit)] = got
        return got

    def _char(self, ch: str) -> list[str]:
        got = self._by_char.get(ch)
        if got is None:
            lists = [p[ch] for p in self._parts if ch in p]
            if len(lists) == 1:
                got = lists[0]
            else:  # shortest first, each word once
                got = [w for w, _ in itertools.groupby(heapq.merge(*lists, key=_by_length))]
            self._by_char[ch] = got
        return got

    def sites(self) -> list[str]:
        """Return every indexed URL host."""
        return self._sites

    def sources(self) -> list[tuple[str, str]]:
        """Return every source label with its folded form."""
        return self._sources


def _encode(values: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Dictionary-encode a column: (code per document, value per code)."""
    table: dict[Any, int] = {}
    codes = np.fromiter((table.setdefault(v, len(table)) for v in values), dtype=np.int32, count=len(values))
    return codes, list(table)


class _Columns:
    """The facet and sort columns of one snapshot as numpy arrays of codes."""

    def __init__(self, reader: Any, raw: dict[str, list[Any]] | None = None):
        if raw is None:
            raw = {name: list(reader.column_reader(name)) for name in COLUMNS}
        self.published = np.asarray(raw["published"], dtype=np.int64)
        self.month, self.months = _encode(raw["month"])
        self.source, self.sources = _encode(raw["source"])
        self.category, self.categories = _encode(raw["category"])
        self.cluster, self.clusters = _encode(raw["cluster"])
        docs: list[int] = []
        codes: list[int] = []
        values: dict[str, int] = {}
        for d, v in enumerate(raw["regions"]):
            if v:
                for r in v.split("|"):
                    docs.append(d)
                    codes.append(values.setdefault(r, len(values)))
        # Regions are multi-valued: one (document, region) pair per tag.
        self.region_docs = np.asarray(docs, dtype=np.int64)
        self.region_codes = np.asarray(codes, dtype=np.int32)
        self.regions = list(values)  # adcodes (labels in an index built before they were)
        self._region_index = values

    def region_mask(self, name: str, n: int) -> np.ndarray:
        """Documents tagged with one region, by any full, short or former name (四川省 = 四川)."""
        from .region import codes_for, labels_for

        wanted = set(codes_for(name)) | labels_for(name)
        m = np.zeros(n, dtype=bool)
        want = [i for v, i in self._region_index.items() if v in wanted]
        if want:  # tags carry their parents, so a province finds its cities and counties
            m[self.region_docs[np.isin(self.region_codes, want)]] = True
        return m

    def value_mask(self, codes: np.ndarray, table: list[Any], wanted: tuple[str, ...]) -> np.ndarray:
        """Documents whose column value is one of ``wanted``."""
        if hasattr(table, "codes_of"):  # a memory-mapped table (search.sidecar.Strings)
            return np.isin(codes, table.codes_of(wanted))
        wanted_set = set(wanted)
        want = [i for i, v in enumerate(table) if v in wanted_set]
        return np.isin(codes, want)


class _Snapshot:
    """One commit of one generation: its pinned files, pooled searchers and caches.

    A request acquires a searcher (used by that request alone: Whoosh searchers are not
    thread-safe) and releases it when done; a snapshot replaced by a newer one is retired
    and closes its searchers and maps when its last user releases."""

    def __init__(self, key: tuple[str, int], gen: Path, schema: Any, segments: list[Any],
                 storage: PinnedStorage):
        self.key = key
        self.gen = gen
        self.schema = schema
        self.segments = segments
        self.storage = storage
        self.columns: _Columns | None = None
        self.postings: Postings | None = None
        self.lexicon: Lexicon | None = None
        self.pairs: tuple[np.ndarray | None, float] | None = None  # character-pair counts and their total
        self.chars: CharIndex | None = None  # the character index of every segment (search.chars)
        self.lock = threading.Lock()  # cache builds
        self._pool_lock = threading.Lock()
        self._free: list[Any] = []
        self._users = 0
        self._retired = False
        self._closed = False

    def segment_keys(self) -> list[tuple[str, str, int]]:
        """One key per segment; a segment's files never change while its key holds."""
        return [(self.gen.name, seg.segment_id(), seg.doc_count_all()) for seg in self.segments]

    def _open(self) -> Any:
        return open_searcher(self.storage, self.schema, self.segments, self.key[1])

    def acquire(self) -> Any | None:
        """Return a searcher for this request alone; None when the snapshot has closed."""
        with self._pool_lock:
            if self._closed:
                return None
            self._users += 1
            s = self._free.pop() if self._free else None
        if s is None:
            try:
                s = self._open()
            except BaseException:
                self.release(None)
                raise
        return s

    def release(self, s: Any | None) -> None:
        """Give a searcher back; close everything if this was the last user of a retired snapshot."""
        with self._pool_lock:
            self._users -= 1
            if s is not None:
                self._free.append(s)
            last = self._retired and self._users == 0 and not self._closed
            if last:
                self._closed = True
        if last:
            self._close()

    def retire(self) -> None:
        """Mark as replaced; close now if nobody uses it."""
        with self._pool_lock:
            self._retired = True
            last = self._users == 0 and not self._closed
            if last:
                self._closed = True
        if last:
            self._close()

    def _close(self) -> None:
        for s in self._free:
            try:
                s.close()
            except Exception:  # a reader half-closed by Whoosh itself: nothing left to free
                log.debug("closing a searcher of %s failed", self.key, exc_info=True)
        self._free = []
        self.storage.unmap()
        log.debug("closed snapshot %s", self.key)


def _pin(index_dir: Path) -> _Snapshot:
    """Open the served generation at its newest commit with every file of that commit pinned."""
    c = pin_commit(index_dir)
    return _Snapshot(c.key, c.gen, c.schema, c.segments, c.storage)


def _day_bounds(value: str | None, name: str, end: bool) -> int | None:
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


def _iso(epoch: int | None) -> str | None:
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, SHANGHAI).isoformat()


class SearchEngine:
    """Search one index directory; safe to share between threads."""

    def __init__(self, index_dir: str | os.PathLike, params: RankParams = DEFAULT_PARAMS):
        self.index_dir = Path(index_dir)
        self.params = params
        self._snap: _Snapshot | None = None
        self._snap_lock = threading.Lock()  # installs
        self._build_lock = threading.Lock()  # one snapshot built at a time
        self._builder: threading.Thread | None = None
        self._failed: tuple[tuple[str, int] | None, float] = (None, 0.0)
        self._segcache: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._checked = 0.0

    # ------------------------------------------------------------ snapshots

    def _current_key(self) -> tuple[str, int]:
        gen = current_generation(self.index_dir)
        if gen is None:
            open_current(self.index_dir)  # raises the right error
        return gen.name, latest_commit(gen)

    def _snapshot(self) -> _Snapshot:
        """Return the snapshot to serve; a newer commit is built in the background meanwhile."""
        now = time.monotonic()
        snap = self._snap
        if snap is not None and now - self._checked < _RECHECK_SECONDS:
            return snap
        key = self._current_key()
        self._checked = now
        if snap is not None and snap.key == key:
            return snap
        if snap is None:
            with self._build_lock:
                if self._snap is None:
                    self._install(_pin(self.index_dir))
                return self._snap
        # Keep serving the old commit (its files are pinned) until the new one is warm:
        # a tiny incremental commit must not make every request rebuild the caches.
        failed, when = self._failed
        if failed != key or now - when > _RETRY_FAILED:
            self._start_builder()
        return snap

    def _install(self, snap: _Snapshot) -> None:
        with self._snap_lock:
            old, self._snap = self._snap, snap
        keep = set(snap.segment_keys())
        for k in [k for k in list(self._segcache) if k not in keep]:
            del self._segcache[k]
        log.info("serving index generation %s (toc %s)", snap.key[0], snap.key[1])
        if old is not None and old is not snap:
            old.retire()

    def _start_builder(self) -> None:
        with self._snap_lock:
            if self._builder is not None and self._builder.is_alive():
                return
            self._builder = threading.Thread(target=self._build_newest, name="xunwen-snapshot", daemon=True)
            self._builder.start()

    def _build_newest(self) -> None:
        try:
            self.refresh()
        except Exception as exc:  # e.g. an index of another version swapped in: keep the old one
            self._failed = (self._peek_key(), time.monotonic())
            log.warning("could not open the new index commit, still serving the old one: %s", exc)

    def _peek_key(self) -> tuple[str, int] | None:
        try:
            return self._current_key()
        except Exception:
            return None

    def refresh(self) -> bool:
        """Open and warm the newest commit now if it is not served yet; True when one was installed."""
        with self._build_lock:
            key = self._current_key()
            if self._snap is not None and self._snap.key == key:
                return False
            snap = _pin(self.index_dir)
            self._warm(snap)
            self._install(snap)
            self._checked = time.monotonic()
            return True

    def _warm(self, snap: _Snapshot) -> None:
        s = snap.acquire()
        if s is None:
            return
        try:
            self._columns(snap, s)
            self._lexicon(snap, s)
            self._chars(snap, s)
            p = self._postings(snap, s)
            p.lengths("title", s.reader())
            p.lengths("body", s.reader())
            self._pairs(snap, s)
        finally:
            snap.release(s)

    @contextlib.contextmanager
    def _view(self) -> Iterator[tuple[_Snapshot, Any]]:
        """One consistent view for one request: a snapshot and a searcher on it, released after."""
        for _ in range(50):
            snap = self._snapshot()
            s = snap.acquire()
            if s is not None:
                break
            self._checked = 0.0  # it closed just now: a newer one is installed
        else:
            raise IndexMissing(f"the index at {self.index_dir} keeps changing; retry")
        reusable = False
        try:
            yield snap, s
            reusable = True
        except Exception as exc:
            # Our own refusals (not found, bad query) leave the searcher as it was; anything
            # stopped inside Whoosh's reading code might not: nobody else gets that searcher.
            reusable = isinstance(exc, XunwenError) and not isinstance(exc, _budget.OverBudget)
            raise
        finally:
            if not reusable:
                with contextlib.suppress(Exception):
                    s.close()
            snap.release(s if reusable else None)

    @staticmethod
    def _cached(snap: _Snapshot, name: str, build: Any, searcher: Any) -> Any:
        """Build a per-snapshot cache once (columns, postings, lexicon) from this request's reader."""
        got = getattr(snap, name)
        if got is None:
            with snap.lock:
                got = getattr(snap, name)
                if got is None:
                    t = time.perf_counter()
                    got = build(searcher.reader())
                    setattr(snap, name, got)
                    log.info("%s of %s built in %.2fs", name, snap.key[0], time.perf_counter() - t)
        return got

    def _per_segment(self, snap: _Snapshot, reader: Any, name: str, build: Any) -> list[Any]:
        """``build(leaf)`` for each segment, reused from earlier snapshots for unchanged segments."""
        leaves = [leaf for leaf, _base in reader.leaf_readers()] if hasattr(reader, "leaf_readers") else [reader]
        out = []
        for key, leaf in zip(snap.segment_keys(), leaves):
            entry = self._segcache.setdefault(key, {})
            got = entry.get(name)
            if got is None:
                got = entry[name] = build(leaf)
            out.append(got)
        return out

    def _columns(self, snap: _Snapshot, searcher) -> _Columns:
        # Each cache maps the commit's sidecar (search.sidecar) when the writer left one, and is
        # built from the index otherwise (per segment, reusing unchanged segments' work).
        def build(reader: Any) -> _Columns:
            got = sidecar.load_columns(snap.gen, snap.key[1], reader)
            if got is not None:
                return got
            parts = self._per_segment(snap, reader, "columns",
                                      lambda leaf: {c: list(leaf.column_reader(c)) for c in COLUMNS})
            return _Columns(None, {c: [v for p in parts for v in p[c]] for c in COLUMNS})

        return self._cached(snap, "columns", build, searcher)

    def _postings(self, snap: _Snapshot, searcher) -> Postings:
        return self._cached(
            snap, "postings", lambda r: Postings(r, opened=sidecar.load_postings(snap.gen, snap.key[1], r), params=self.params),
            searcher)

    def _lexicon(self, snap: _Snapshot, searcher) -> Lexicon:
        def build(reader: Any) -> Lexicon:
            got = sidecar.load_lexicon(snap.gen, snap.key[1], reader)
            if got is not None:
                return got
            return Lexicon(reader, self._per_segment(snap, reader, "words", Lexicon.words_of))

        return self._cached(snap, "lexicon", build, searcher)

    def _chars(self, snap: _Snapshot, searcher) -> CharIndex:
        return self._cached(snap, "chars", lambda r: CharIndex.of_reader(r, snap.gen), searcher)

    def _pairs(self, snap: _Snapshot, searcher) -> tuple[np.ndarray | None, float]:
        def load(_reader: Any) -> tuple[np.ndarray | None, float]:
            try:
                table = np.load(snap.gen / BIGRAM_FILE, mmap_mode="r")
            except (OSError, ValueError):  # an index built before the table existed
                return None, 0.0
            return table, float(table.sum(dtype=np.float64))

        return self._cached(snap, "pairs", load, searcher)

    def warm_up(self) -> None:
        """Open the index and build the per-snapshot caches now rather than on the first query."""
        from .analysis import ensure_dictionary

        ensure_dictionary()
        if not self.refresh():
            with self._view() as (snap, _s):
                self._warm(snap)

    # ------------------------------------------------------------ search

    @staticmethod
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
        lo = _day_bounds(req.date_from, "from", False)
        hi = _day_bounds(req.date_to, "to", True)
        if lo is not None and hi is not None and lo > hi:
            raise BadQuery(f"from ({req.date_from}) is after to ({req.date_to})")

    def search(self, req: SearchRequest, *, window: int = MAX_WINDOW, max_size: int = MAX_SIZE) -> SearchPage:
        """Run one search: match, filter, facet, collapse, rank, page, highlight."""
        t0 = time.perf_counter()
        self.validate(req, window, max_size)
        parsed = parse_query(req.q)
        with _budget.scope() as budget, self._view() as (snap, s):
            return self._search(req, parsed, snap, s, budget, t0)

    def _search(self, req: SearchRequest, parsed: Any, snap: _Snapshot, s: Any,
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
        if (parsed.groups or parsed.excluded) and self._postings_to_read(parsed, s.reader(), post) > EXPENSIVE_READS * post.n:
            budget.expensive()  # queue before spending CPU, not after
        # The documents the filters keep (live ones): a query of one part then scores only
        # its strict matches among them when those fill a page (query.compile_query).
        within = self._filter(post.live, req, cols, post.n)
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
        per_cluster = np.bincount(cols.cluster[shown], minlength=len(cols.clusters))
        # Facets count what the total counts (the looser matches only when nothing is strict).
        facets = self._facets(mask if total else shown, cols) if req.facets else {}
        collapse = req.collapse and req.cluster is None
        stories = (int(np.count_nonzero(np.bincount(cols.cluster[mask], minlength=len(cols.clusters))))
                   if collapse else total)
        want = req.page * req.size
        ordered = []
        for m in (mask,) if extra is None else (mask, extra):
            if req.sort == "relevance" and plan.score is not None:
                try:
                    ordered += self._rank(s, plan, m, want, cols, post, collapse, req.recency,
                                          pairs if plan.ql_text else (None, 0.0), budget)
                except _budget.OverBudget:  # a rerank ran far past the budget: BM25F order, said to be partial
                    budget.partial = True
                    ordered += self._by_score(plan.score, m, want * (4 if collapse else 1) + 20)
            else:
                ordered += self._by_date(m, cols, newest=req.sort != "oldest")
        if collapse:
            ordered = self._collapse(ordered, cols.cluster, want)
        window = ordered[(req.page - 1) * req.size: want]
        with budget.unguarded():  # a page of stored fields: the answer, however late
            hits = tuple(
                self._hit(s, d, score, plan.highlight,
                          int(per_cluster[cols.cluster[d]]) - 1 if collapse else 0, req.snippets, budget)
                for d, score in window
            )
        return SearchPage(
            query=req.q, total=total, page=req.page, size=req.size, hits=hits, facets=facets,
            took_ms=(time.perf_counter() - t0) * 1000, sort=req.sort, collapsed=collapse, stories=stories,
            relaxed=extra is not None, total_relaxed=total_relaxed, partial=budget.partial,
        )

    @staticmethod
    def _postings_to_read(parsed: Any, reader: Any, post: Postings) -> int:
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

    @staticmethod
    def _filter(mask: np.ndarray, req: SearchRequest, cols: _Columns, n: int) -> np.ndarray:
        lo = _day_bounds(req.date_from, "from", False)
        hi = _day_bounds(req.date_to, "to", True)
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

    @staticmethod
    def _facets(mask: np.ndarray, cols: _Columns) -> dict[str, tuple[FacetValue, ...]]:
        def top(counts: np.ndarray, table: list[Any], limit: int | None) -> tuple[FacetValue, ...]:
            pairs = [(table[i], int(counts[i])) for i in np.flatnonzero(counts) if table[i]]
            if limit is None:
                return tuple(FacetValue(v, c) for v, c in sorted(pairs))
            pairs.sort(key=lambda vc: (-vc[1], vc[0]))
            return tuple(FacetValue(v, c) for v, c in pairs[:limit])

        in_match = mask[cols.region_docs] if len(cols.region_docs) else np.zeros(0, dtype=bool)
        per_region = np.bincount(cols.region_codes[in_match], minlength=len(cols.regions))
        held = np.flatnonzero(per_region)  # the tree is built from the regions that occur only
        return {
            "source": top(np.bincount(cols.source[mask], minlength=len(cols.sources)), cols.sources, FACET_LIMIT),
            "region": facet_tree([cols.regions[i] for i in held], per_region[held].tolist(), FACET_LIMIT),
            "month": top(np.bincount(cols.month[mask], minlength=len(cols.months)), cols.months, None),
        }

    def _rank(self, s, plan: Plan, mask: np.ndarray, want: int, cols: _Columns, post: Postings,
              collapse: bool, recency: bool,
              pairs: tuple[np.ndarray | None, float] = (None, 0.0),
              budget: _budget.Budget | None = None) -> list[tuple[int, float]]:
        budget = budget or _budget.Budget()
        cand = np.flatnonzero(mask)
        if not len(cand):
            return []
        pub = cols.published
        sc = plan.score[cand].astype(np.float64)
        prm = self.params
        if plan.ql_words and prm.ql_weight and len(cand) > 1 and not budget.stop():
            ql = query_likelihood(post, s.reader(), plan.ql_words, cand, TITLE_BOOST, prm.ql_mu)
            # Rescale over the pool both models would show (each one's best ``rerank``), as
            # score fusion does over retrieved lists; the rest of the candidates clip to 0.
            k = min(prm.rerank, len(cand))
            pool = np.union1d(np.argpartition(-sc, k - 1)[:k], np.argpartition(-ql, k - 1)[:k])
            lo, hi = float(ql[pool].min()), float(ql[pool].max())
            if hi > lo:
                sc = sc + prm.ql_weight * float(sc.max()) * np.clip((ql - lo) / (hi - lo), 0.0, 1.0)
        if recency:
            age_days = np.maximum(0.0, time.time() - pub[cand]) / 86400.0
            sc = np.where(pub[cand] > 0, sc * (1.0 + prm.recency_boost / (1.0 + age_days / prm.recency_days)), sc)
        limit = min(len(cand), max(want * (4 if collapse else 1) + 20, prm.rerank))
        sc = np.round(sc, 6)
        while True:
            if limit < len(cand):
                # Everything tied with the limit-th score too: which of a tie is listed first is
                # decided below (newest, then docnum), so that every page agrees with the others.
                kth = sc[np.argpartition(-sc, limit - 1)[limit - 1]]
                idx = np.flatnonzero(sc >= kth)
            else:
                idx = np.arange(len(cand))
            top, tsc = cand[idx], sc[idx]
            order = np.lexsort((top, -pub[top], -np.round(tsc, 6)))  # score, newest, then docnum (pages agree)
            top, tsc = top[order], tsc[order]
            r = min(len(top), prm.rerank)
            if plan.pairs and r and not budget.stop():
                # Proximity: the query's neighbouring words close together, for the best candidates.
                tsc[:r] += proximity_bonus(s, post, plan.pairs, top[:r], prm)
            pair_scored = bool(plan.ql_text and prm.bigram_weight and r > 1) and not budget.stop() and \
                self._pair_bonus(s, plan, top[:r], tsc[:r], *pairs, budget=budget)
            if (plan.pairs or pair_scored) and r:
                head = np.lexsort((top[:r], -pub[top[:r]], -np.round(tsc[:r], 6)))  # re-sort the reranked head
                top[:r], tsc[:r] = top[:r][head], tsc[:r][head]
            ranked = list(zip(top.tolist(), tsc.tolist()))
            if (not collapse or limit >= len(cand) or budget.stop()
                    or len(set(cols.cluster[top].tolist())) >= want):
                return ranked
            limit = min(len(cand), limit * 4)

    def _pair_bonus(self, s: Any, plan: Plan, docs: np.ndarray, tsc: np.ndarray,
                    table: np.ndarray | None, total: float, budget: _budget.Budget | None = None) -> bool:
        """Add the character-pair likelihood bonus to ``tsc`` in place; False when unavailable."""
        if table is None:
            return False
        texts = []
        for d in docs.tolist():
            if budget is not None and budget.stop():
                return False  # an unfinished rerank would favour the candidates read first
            f = s.stored_fields(d)
            # The opening of a long article stands for it: folding 10 MB per candidate would not fit any budget.
            texts.append(fold_text(((f.get("title") or "") + "\n" + (f.get("body") or ""))[:self.params.pair_text_chars]))
        lik = bigram_likelihood(texts, fold_text(plan.ql_text), table, total, self.params.bigram_mu)
        span = float(lik.max() - lik.min())
        if span <= 0:
            return False
        tsc += self.params.bigram_weight * float(tsc.max()) * (lik - lik.min()) / span
        return True

    @staticmethod
    def _by_score(score: np.ndarray, mask: np.ndarray, k: int) -> list[tuple[int, float]]:
        cand = np.flatnonzero(mask)
        sc = score[cand]
        k = min(len(cand), k)
        idx = np.argpartition(-sc, k - 1)[:k] if 0 < k < len(cand) else np.arange(len(cand))
        idx = idx[np.argsort(-sc[idx], kind="stable")]
        return [(int(cand[i]), float(sc[i])) for i in idx]

    @staticmethod
    def _by_date(mask: np.ndarray, cols: _Columns, newest: bool) -> list[tuple[int, float]]:
        cand = np.flatnonzero(mask)
        pub = cols.published[cand]
        if newest:
            order = np.lexsort((cand, -pub))
        else:  # unknown dates (0) go last in both orders
            order = np.lexsort((cand, pub, pub == 0))
        return [(int(d), 0.0) for d in cand[order]]

    @staticmethod
    def _collapse(ordered: list[tuple[int, float]], clusters: np.ndarray, want: int) -> list[tuple[int, float]]:
        seen: set[int] = set()
        out = []
        for d, sc in ordered:
            c = int(clusters[d])
            if c in seen:
                continue
            seen.add(c)
            out.append((d, sc))
            if len(out) >= want:
                break
        return out

    def _hit(self, s, docnum: int, score: float, terms: list[str], similar: int, snippets: bool,
             budget: _budget.Budget | None = None) -> Hit:
        f = s.stored_fields(docnum)
        if terms and budget is not None and budget.stop():
            terms = []  # out of time: the title and the opening of the text, unmarked
        title = f.get("title", "")
        body = f.get("body", "")
        region = tuple(x for x in (f.get("region") or "").split(",") if x)
        return Hit(
            id=f["id"],
            title=title,
            title_html=highlight_html(title, terms),
            url=f.get("url") or None,
            source=f.get("source") or None,
            region=region,
            published=_iso(f.get("published")),
            score=round(float(score), 4),
            snippet_html=snippet_html(body, terms) if snippets else "",
            similar_count=max(0, similar),
            cluster=f.get("cluster") or None,
            category=f.get("category") or None,
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

    def _docnum(self, s, article_id: str) -> int:
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
        pub = f.get("published")
        return Article(
            id=f["id"], title=f.get("title", ""), body=f.get("body", ""), url=f.get("url") or None,
            source=f.get("source") or None,
            published=datetime.fromtimestamp(pub, SHANGHAI) if pub else None,
            category=f.get("category") or None,
            authors=tuple(x for x in (f.get("authors") or "").split(",") if x),
            region=tuple(x for x in (f.get("region") or "").split(",") if x),
            dateline=f.get("dateline") or None, lang=f.get("lang") or None,
            cluster=f.get("cluster") or None, origin=f.get("origin") or None,
        )

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

    def _more_like_this(self, snap: _Snapshot, s: Any, article_id: str, limit: int,
                        budget: _budget.Budget) -> list[Hit]:
        d = self._docnum(s, article_id)
        f = s.stored_fields(d)
        from .analysis import analyze

        # analyze(), not the cached query_words(): article texts would fill the query cache.
        title_words = {t.text for t in analyze(f.get("title", ""), "default") if len(t.text) > 1}
        body_words = [t.text for t in analyze(f.get("body", "")[:2000], "default") if len(t.text) > 1]
        tf = Counter(body_words)
        tf.update(title_words)
        if not tf:
            return []
        with budget.paused():
            post = self._postings(snap, s)
            cols = self._columns(snap, s)
        reader = s.reader()
        n = max(1, reader.doc_count_all())

        def df(w: str) -> int:
            # Document frequency from the term dictionary: no postings are read to choose keys.
            return reader.doc_frequency("body", w) + reader.doc_frequency("title", w)

        def weight(w: str) -> float:
            here = (w in title_words) + (w in tf and tf[w] > (w in title_words))
            others = df(w) - here
            if others <= 0:  # found in no other article: cannot find a neighbour
                return 0.0
            return tf[w] * math.log(1.0 + n / (others + 1.0)) * len(w)

        # Key terms: frequent here, rare in the collection; their (short) postings are cached.
        keys = [w for w in sorted(tf, key=weight, reverse=True)[:12] if weight(w) > 0]
        score = np.zeros(post.n, dtype=np.float64)
        try:
            for w in keys:
                if budget.stop():
                    break  # neighbours by the best keys read so far
                for fname in ("title", "body"):
                    ids, sc = post.bm25(fname, w, reader, cache=False)
                    score[ids] += tf[w] * sc  # a word the article repeats weighs more
        except _budget.OverBudget:
            budget.partial = True
        score[~post.live] = 0.0
        score[cols.cluster == cols.cluster[d]] = 0.0  # itself and its copies
        cand = np.flatnonzero(score)
        if not len(cand):
            return []
        k = min(len(cand), limit)
        top = cand[np.argpartition(-score[cand], k - 1)[:k]]
        top = top[np.argsort(-score[top], kind="stable")]
        with budget.unguarded():
            return [self._hit(s, int(x), float(score[x]), [], 0, True, budget) for x in top]

    # ------------------------------------------------------------ stats

    def article_count(self) -> int:
        """Return the number of articles in the served index."""
        with self._view() as (_snap, s):
            return s.doc_count()

    def stats(self) -> dict[str, Any]:
        """Return articles, sources, date range, size on disk and schema version."""
        with self._view() as (snap, s):
            return self._stats(snap, s)

    def _stats(self, snap: _Snapshot, s: Any) -> dict[str, Any]:
        from .schema import SCHEMA_VERSION

        cols = self._columns(snap, s)
        live = list(s.reader().all_doc_ids())
        pubs = [int(cols.published[d]) for d in live if cols.published[d]]
        sources = Counter(cols.sources[cols.source[d]] for d in live)
        size = sum(p.stat().st_size for p in snap.gen.iterdir() if p.is_file())
        return {
            "index_dir": str(self.index_dir),
            "generation": snap.gen.name,
            "schema_version": SCHEMA_VERSION,
            "articles": len(live),
            "sources": len([k for k in sources if k]),
            "top_sources": [{"value": k, "count": v} for k, v in sources.most_common(10) if k],
            "date_from": _iso(min(pubs)) if pubs else None,
            "date_to": _iso(max(pubs)) if pubs else None,
            "size_bytes": size,
            "segments": len(s.reader().leaf_readers()) if hasattr(s.reader(), "leaf_readers") else 1,
        }

    def close(self) -> None:
        """Stop serving: the current snapshot closes once its last request is done."""
        with self._snap_lock:
            snap, self._snap = self._snap, None
        if snap is not None:
            snap.retire()

