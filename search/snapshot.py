"""Snapshots: one consistent read view of the index and the caches built on it.

Per-process caches hang off a *snapshot* (one index generation at one commit, its files
memory-mapped when it opens so that later merges, deletes and swaps cannot take them away,
search.store.pinned): the facet/sort columns, the postings, the lexicon map used to find longer
words containing a query word, the character index and the character-pair table. Each request
acquires a Whoosh searcher of the snapshot for itself (Whoosh searchers are not shared across
threads) and releases it when done; a replaced snapshot closes when its last request is done.
A new generation swapped in by ``xunwen reindex --rebuild``, or a commit of an incremental run,
is opened and warmed in the background (reusing the work of unchanged segments) while the
previous one serves, then installed: no restart, and no request waits for the caches.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import mmap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import budget as _budget
from . import sidecar
from .bigrams import BIGRAM_FILE
from .chars import CharIndex
from .errors import IndexMissing, XunwenError
from .hits import split_codes
from .normalize import HAN_RE, fold_text
from .params import DEFAULT_PARAMS, RankParams
from .ranking import Postings
from .store.generations import current_generation, latest_commit, open_current
from .store.pinned import PinnedStorage, open_searcher, pin_commit

__all__ = ["Snapshots", "Snapshot", "Lexicon", "Columns", "COLUMNS"]

log = logging.getLogger(__name__)
COLUMNS = ("published", "month", "source", "category", "regions", "cluster")
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


class Columns:
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
                for r in split_codes(v):
                    docs.append(d)
                    codes.append(values.setdefault(r, len(values)))
        # Regions are multi-valued: one (document, region) pair per tag.
        self.region_docs = np.asarray(docs, dtype=np.int64)
        self.region_codes = np.asarray(codes, dtype=np.int32)
        self.regions = list(values)  # adcodes (labels in an index built before they were)
        self._region_index = values

    def region_offsets(self) -> np.ndarray:
        """Where each document's (document, region) pairs start, one more than the documents
        (the pairs are in document order): a match's pairs without a search, built on first use."""
        got = getattr(self, "_region_offsets", None)
        if got is None:
            n = len(self.source)
            got = np.zeros(n + 1, dtype=np.int64)
            if n:
                np.cumsum(np.bincount(self.region_docs, minlength=n)[:n], out=got[1:])
            self._region_offsets = got
        return got

    def value_rank(self, name: str) -> np.ndarray:
        """Each code's place when the values of table ``name`` (``sources``, ``months``…) are
        sorted, -1 for the empty value: facets order ties by value without sorting strings per
        query. Built on first use."""
        ranks: dict[str, np.ndarray] = self.__dict__.setdefault("_value_ranks", {})
        got = ranks.get(name)
        if got is None:
            table = getattr(self, name)
            values = [table[i] for i in range(len(table))]
            got = np.full(len(values), -1, dtype=np.int64)
            kept = sorted((i for i, v in enumerate(values) if v), key=values.__getitem__)
            got[kept] = np.arange(len(kept))
            ranks[name] = got
        return got

    def month_source(self) -> np.ndarray:
        """Each document's month and source as one code (month x sources + source): the two
        facets in one count. Built on first use."""
        got = self.__dict__.get("_month_source")
        if got is None:
            got = self._month_source = (self.month.astype(np.int64) * len(self.sources) + self.source).astype(
                np.int32 if len(self.months) * len(self.sources) < 1 << 31 else np.int64)
        return got

    def facet_counts_of(self, universe: np.ndarray, count: Any) -> Any:
        """``count()`` for the mask ``universe`` (the snapshot's live documents), kept for the
        snapshot: the one mask whose facet counts are asked for again and again."""
        got = self.__dict__.get("_universe_counts")
        if got is None or got[0] is not universe:
            got = self._universe_counts = (universe, count())
        return got[1]

    def region_tree(self) -> Any:
        """The region facet's tree over this snapshot's region values (search.region.FacetTree)."""
        got = getattr(self, "_region_tree", None)
        if got is None:
            from .region import FacetTree

            got = self._region_tree = FacetTree([self.regions[i] for i in range(len(self.regions))])
        return got

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


class Snapshot:
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
        self.columns: Columns | None = None
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


def _pin(index_dir: Path) -> Snapshot:
    """Open the served generation at its newest commit with every file of that commit pinned."""
    c = pin_commit(index_dir)
    return Snapshot(c.key, c.gen, c.schema, c.segments, c.storage)


def resident_bytes() -> int:
    """This process's resident set (``/proc/self/statm``; 0 where there is none)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * mmap.PAGESIZE
    except (OSError, ValueError, IndexError):
        return 0


def release_mapped(snap: Snapshot | None) -> None:
    """Drop this process's resident pages of a snapshot's memory-mapped files and of the
    character index segments (``MADV_DONTNEED``): the pages stay in the kernel's page cache,
    and a read maps them in again (a minor fault, no disk read). Nothing is unmapped."""
    from .chars import release_all

    if snap is not None:
        for m in list(getattr(snap.storage, "_maps", {}).values()):
            if isinstance(m, mmap.mmap) and hasattr(m, "madvise"):
                try:
                    m.madvise(mmap.MADV_DONTNEED)
                except (OSError, ValueError):  # closed by a swap meanwhile
                    pass
    release_all()


class Snapshots:
    """The snapshots of one index directory: the one served, the next one warmed, their caches."""

    def __init__(self, index_dir: str | Path, params: RankParams = DEFAULT_PARAMS):
        self.index_dir = Path(index_dir)
        self.params = params
        self._snap: Snapshot | None = None
        self._snap_lock = threading.Lock()  # installs
        self._build_lock = threading.Lock()  # one snapshot built at a time
        self._builder: threading.Thread | None = None
        self._failed: tuple[tuple[str, int] | None, float] = (None, 0.0)
        self._segcache: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._checked = 0.0
        self._since_trim = 0

    def trim_resident(self, limit: int, every: int = 16) -> bool:
        """Every ``every`` calls, when the process's resident set is over ``limit`` bytes, drop
        the resident pages of the served index's maps (:func:`release_mapped`); True if it did.

        The index is read through memory maps, and every page a query touched counts in the
        server's RSS until the kernel needs it back: at a million articles, 2.3 GB of the
        3.4 GB a loaded server showed was such pages. They are the page cache's, not ours;
        this keeps what ``ps`` shows near the process's own memory."""
        self._since_trim += 1
        if limit <= 0 or self._since_trim < every:
            return False
        self._since_trim = 0
        if resident_bytes() <= limit:
            return False
        release_mapped(self._snap)
        return True

    def _current_key(self) -> tuple[str, int]:
        gen = current_generation(self.index_dir)
        if gen is None:
            open_current(self.index_dir)  # raises the right error
        return gen.name, latest_commit(gen)

    def _snapshot(self) -> Snapshot:
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

    def _install(self, snap: Snapshot) -> None:
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

    def _warm(self, snap: Snapshot) -> None:
        s = snap.acquire()
        if s is None:
            return
        try:
            self.columns(snap, s)
            self.lexicon(snap, s)
            self.chars(snap, s)
            p = self.postings(snap, s)
            p.lengths("title", s.reader())
            p.lengths("body", s.reader())
            self.pairs(snap, s)
        finally:
            snap.release(s)

    @contextlib.contextmanager
    def view(self) -> Iterator[tuple[Snapshot, Any]]:
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
    def _cached(snap: Snapshot, name: str, build: Any, searcher: Any) -> Any:
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

    def _per_segment(self, snap: Snapshot, reader: Any, name: str, build: Any) -> list[Any]:
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

    def columns(self, snap: Snapshot, searcher: Any) -> Columns:
        # Each cache maps the commit's sidecar (search.sidecar) when the writer left one, and is
        # built from the index otherwise (per segment, reusing unchanged segments' work).
        def build(reader: Any) -> Columns:
            got = sidecar.load_columns(snap.gen, snap.key[1], reader)
            if got is not None:
                return got
            parts = self._per_segment(snap, reader, "columns",
                                      lambda leaf: {c: list(leaf.column_reader(c)) for c in COLUMNS})
            return Columns(None, {c: [v for p in parts for v in p[c]] for c in COLUMNS})

        return self._cached(snap, "columns", build, searcher)

    def postings(self, snap: Snapshot, searcher: Any) -> Postings:
        return self._cached(
            snap, "postings", lambda r: Postings(r, opened=sidecar.load_postings(snap.gen, snap.key[1], r), params=self.params),
            searcher)

    def lexicon(self, snap: Snapshot, searcher: Any) -> Lexicon:
        def build(reader: Any) -> Lexicon:
            got = sidecar.load_lexicon(snap.gen, snap.key[1], reader)
            if got is not None:
                return got
            return Lexicon(reader, self._per_segment(snap, reader, "words", Lexicon.words_of))

        return self._cached(snap, "lexicon", build, searcher)

    def chars(self, snap: Snapshot, searcher: Any) -> CharIndex:
        return self._cached(snap, "chars", lambda r: CharIndex.of_reader(r, snap.gen), searcher)

    def pairs(self, snap: Snapshot, searcher: Any) -> tuple[np.ndarray | None, float]:
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
            with self.view() as (snap, _s):
                self._warm(snap)

    def close(self) -> None:
        """Stop serving: the current snapshot closes once its last request is done."""
        with self._snap_lock:
            snap, self._snap = self._snap, None
        if snap is not None:
            snap.retire()

    def keep_warm(self, every: float) -> threading.Thread:
        """Warm each new index generation (a rebuild swapped in, an incremental commit) in the
        background every ``every`` seconds, so that its first visitor does not wait for the
        lexicon and columns; return the (daemon) thread."""

        def loop() -> None:
            while True:
                threading.Event().wait(every)
                try:
                    self.warm_up()
                except XunwenError as exc:  # e.g. an index of another version swapped in
                    log.warning("could not warm the index: %s", exc)
                except Exception:  # never let the warmer die silently
                    log.exception("warming the index failed")

        t = threading.Thread(target=loop, name="xunwen-warm", daemon=True)
        t.start()
        return t
