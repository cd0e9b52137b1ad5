"""The glue: ``SearchEngine(index_dir).search(SearchRequest) -> SearchPage``.

One engine serves many threads. Per-process caches hang off a *snapshot* (one index
generation at one commit): the facet/sort columns as plain lists and the lexicon map
used to find longer words containing a query word. Each thread has its own Whoosh
searcher (Whoosh searchers are not shared across threads). A new generation swapped in
by ``xunwen reindex --rebuild``, or a commit of an incremental run, is picked up on the
next search without a restart.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC

from . import sidecar
from .errors import BadQuery, NotFound
from .highlight import highlight_html, snippet_html
from .indexer import current_generation, open_current
from .models import SORTS, Article, FacetValue, Hit, SearchPage, SearchRequest
from .normalize import HAN_RE, fold_text
from .query import Plan, compile_query, parse_query
from .ranking import BIGRAM_FILE, Postings, bigram_likelihood, proximity_bonus, query_likelihood
from .schema import TITLE_BOOST

__all__ = ["SearchEngine", "MAX_SIZE", "MAX_WINDOW", "Lexicon"]

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_SIZE = 100
MAX_WINDOW = 1000
FACET_LIMIT = 20
EXPANSIONS = 40
HOLDING_LIMIT = 300  # words read to find text written across indexed words (more: too common)
COLUMNS = ("published", "month", "source", "category", "regions", "cluster")
RERANK = 100  # candidates that get the proximity bonus
# Long queries: BM25F plus this share of the best BM25F score times the query likelihood
# rescaled to 0..1 over the candidates (CombSUM of the two models, equal weight).
QL_WEIGHT = 1.0
# ...and the best RERANK also this share of the best score times the character-pair likelihood
# rescaled to 0..1 (ranking.bigram_likelihood).
BIGRAM_WEIGHT = 1.0
_RECHECK_SECONDS = 0.5


class Lexicon:
    """Indexed words by character, to find the longer words that contain a query word."""

    def __init__(self, reader: Any):
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
            lst.sort(key=lambda w: (len(w), w))
        self._by_char = by_char
        self._sites = sorted(b.decode("utf-8") for b in reader.lexicon("site"))
        labels = sorted(b.decode("utf-8") for b in reader.lexicon("source"))
        self._sources = [(x, fold_text(x)) for x in labels]
        self._cache: dict[tuple[str, int], list[str]] = {}

    def containing(self, w: str, limit: int = EXPANSIONS) -> list[str]:
        """Return up to ``limit`` indexed Han words that contain ``w`` (shortest first)."""
        if not w or not HAN_RE.match(w[0]):
            return []
        got = self._cache.get((w, limit))
        if got is None:
            got = []
            for x in self._by_char.get(w[0], ()):
                if x != w and w in x:
                    got.append(x)
                    if len(got) >= limit:
                        break
            if len(self._cache) < 50_000:
                self._cache[(w, limit)] = got
        return got

    def holding(self, w: str, limit: int = HOLDING_LIMIT) -> list[str] | None:
        """Indexed Han words that contain ``w``; None when there are more than ``limit``."""
        got = self.containing(w, limit + 1)
        return None if len(got) > limit else got

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

    def __init__(self, reader: Any):
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
        self.regions = list(values)
        self._region_index = values

    def region_mask(self, name: str, n: int) -> np.ndarray:
        """Documents tagged with one region."""
        m = np.zeros(n, dtype=bool)
        code = self._region_index.get(name)
        if code is not None:
            m[self.region_docs[self.region_codes == code]] = True
        return m

    def value_mask(self, codes: np.ndarray, table: list[Any], wanted: tuple[str, ...]) -> np.ndarray:
        """Documents whose column value is one of ``wanted``."""
        if hasattr(table, "codes_of"):  # a memory-mapped table (search.sidecar.Strings)
            return np.isin(codes, table.codes_of(wanted))
        wanted_set = set(wanted)
        want = [i for i, v in enumerate(table) if v in wanted_set]
        return np.isin(codes, want)


@dataclass
class _Snapshot:
    key: tuple[str, int]
    ix: Any
    gen: Path
    columns: _Columns | None = None
    postings: Postings | None = None
    lexicon: Lexicon | None = None
    pairs: tuple[np.ndarray | None, float] | None = None  # character-pair counts and their total
    lock: threading.Lock = field(default_factory=threading.Lock)


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


class _Stale(Exception):
    """A searcher opened on a newer commit than the snapshot."""


class SearchEngine:
    """Search one index directory; safe to share between threads."""

    def __init__(self, index_dir: str | os.PathLike):
        self.index_dir = Path(index_dir)
        self._snap: _Snapshot | None = None
        self._snap_lock = threading.Lock()
        self._local = threading.local()
        self._checked = 0.0

    # ------------------------------------------------------------ snapshots

    def _current_key(self) -> tuple[str, int]:
        gen = current_generation(self.index_dir)
        if gen is None:
            open_current(self.index_dir)  # raises the right error
        # A commit of an incremental run writes a new TOC generation in the same directory.
        return gen.name, TOC._latest_generation(FileStorage(str(gen)), "MAIN")

    def _snapshot(self) -> _Snapshot:
        now = time.monotonic()
        snap = self._snap
        if snap is not None and now - self._checked < _RECHECK_SECONDS:
            return snap
        key = self._current_key()
        self._checked = now
        if snap is not None and snap.key == key:
            return snap
        with self._snap_lock:
            if self._snap is None or self._snap.key != key:
                ix, gen = open_current(self.index_dir)
                self._snap = _Snapshot(key=key, ix=ix, gen=gen)
                log.info("opened index generation %s (toc %s)", key[0], key[1])
            return self._snap

    def _searcher(self, snap: _Snapshot):
        loc = self._local
        s = getattr(loc, "searcher", None)
        if s is None or getattr(loc, "key", None) != snap.key:
            if s is not None:
                s.close()
            s = snap.ix.searcher()  # scoring is ours (ranking.Postings); Whoosh reads
            if s.reader().generation() != snap.key[1]:
                # ix.searcher() opens the newest commit, which may be newer than the snapshot:
                # its document numbers would not match the snapshot's cached columns.
                s.close()
                raise _Stale
            loc.searcher, loc.key = s, snap.key
        return s

    def _snap_searcher(self) -> tuple[_Snapshot, Any]:
        """Return the current snapshot and this thread's searcher on exactly that commit."""
        for _ in range(5):
            snap = self._snapshot()
            try:
                return snap, self._searcher(snap)
            except _Stale:
                self._checked = 0.0  # re-read CURRENT and the TOC now
        snap = self._snapshot()
        return snap, self._searcher(snap)

    @staticmethod
    def _cached(snap: _Snapshot, name: str, build: Any, searcher: Any) -> Any:
        """Build a per-snapshot cache once (columns, postings, lexicon) from this thread's reader."""
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

    # Each cache maps the commit's sidecar (search.sidecar) when the writer left one, and is
    # built from the index otherwise.
    def _columns(self, snap: _Snapshot, searcher) -> _Columns:
        def build(r: Any) -> _Columns:
            got = sidecar.load_columns(snap.gen, snap.key[1], r)
            return got if got is not None else _Columns(r)

        return self._cached(snap, "columns", build, searcher)

    def _postings(self, snap: _Snapshot, searcher) -> Postings:
        return self._cached(
            snap, "postings", lambda r: Postings(r, opened=sidecar.load_postings(snap.gen, snap.key[1], r)),
            searcher)

    def _lexicon(self, snap: _Snapshot, searcher) -> Lexicon:
        def build(r: Any) -> Lexicon:
            got = sidecar.load_lexicon(snap.gen, snap.key[1], r)
            return got if got is not None else Lexicon(r)

        return self._cached(snap, "lexicon", build, searcher)

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
        snap, s = self._snap_searcher()
        self._columns(snap, s)
        self._lexicon(snap, s)
        p = self._postings(snap, s)
        p.lengths("title", s.reader())
        p.lengths("body", s.reader())
        self._pairs(snap, s)

    # ------------------------------------------------------------ search

    @staticmethod
    def validate(req: SearchRequest) -> None:
        """Raise BadQuery for a request that cannot be answered as given."""
        if req.sort not in SORTS:
            raise BadQuery(f"sort must be one of {', '.join(SORTS)}, not {str(req.sort)[:40]!r}")
        if not 1 <= req.size <= MAX_SIZE:
            raise BadQuery(f"size must be between 1 and {MAX_SIZE}")
        if req.page < 1:
            raise BadQuery("page must be 1 or more")
        if req.page * req.size > MAX_WINDOW:
            raise BadQuery(
                f"results beyond the first {MAX_WINDOW} are not served (page {req.page} × size {req.size}); "
                "narrow the search with filters or a date range"
            )
        lo = _day_bounds(req.date_from, "from", False)
        hi = _day_bounds(req.date_to, "to", True)
        if lo is not None and hi is not None and lo > hi:
            raise BadQuery(f"from ({req.date_from}) is after to ({req.date_to})")

    def search(self, req: SearchRequest) -> SearchPage:
        """Run one search: match, filter, facet, collapse, rank, page, highlight."""
        t0 = time.perf_counter()
        self.validate(req)
        parsed = parse_query(req.q)
        snap, s = self._snap_searcher()
        cols = self._columns(snap, s)
        post = self._postings(snap, s)
        if parsed.groups or parsed.excluded:
            plan = compile_query(parsed, s, self._lexicon(snap, s), post)
        else:
            plan = Plan(parsed)
        mask = post.live.copy() if plan.mask is None else plan.mask & post.live
        mask = self._filter(mask, req, cols, post.n)
        total = int(np.count_nonzero(mask))
        relaxed = False
        if not total and plan.relaxed is not None:
            # No article holds every word of a part: answer with those holding most of them
            # (the page says so) rather than an empty page.
            mask = self._filter(plan.relaxed & post.live, req, cols, post.n)
            total = int(np.count_nonzero(mask))
            relaxed = total > 0
        per_cluster = np.bincount(cols.cluster[mask], minlength=len(cols.clusters))
        facets = self._facets(mask, cols) if req.facets else {}
        collapse = req.collapse and req.cluster is None
        stories = int(np.count_nonzero(per_cluster)) if collapse else total
        want = req.page * req.size
        if req.sort == "relevance" and plan.score is not None:
            pairs = self._pairs(snap, s) if plan.ql_text else (None, 0.0)
            ordered = self._rank(s, plan, mask, want, cols, post, collapse, req.recency, pairs)
        else:
            ordered = self._by_date(mask, cols, newest=req.sort != "oldest")
        if collapse:
            ordered = self._collapse(ordered, cols.cluster, want)
        window = ordered[(req.page - 1) * req.size: want]
        hits = tuple(
            self._hit(s, d, score, plan.highlight,
                      int(per_cluster[cols.cluster[d]]) - 1 if collapse else 0, req.snippets)
            for d, score in window
        )
        return SearchPage(
            query=req.q, total=total, page=req.page, size=req.size, hits=hits, facets=facets,
            took_ms=(time.perf_counter() - t0) * 1000, sort=req.sort, collapsed=collapse, stories=stories,
            relaxed=relaxed,
        )

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
        return {
            "source": top(np.bincount(cols.source[mask], minlength=len(cols.sources)), cols.sources, FACET_LIMIT),
            "region": top(np.bincount(cols.region_codes[in_match], minlength=len(cols.regions)), cols.regions,
                          FACET_LIMIT),
            "month": top(np.bincount(cols.month[mask], minlength=len(cols.months)), cols.months, None),
        }

    def _rank(self, s, plan: Plan, mask: np.ndarray, want: int, cols: _Columns, post: Postings,
              collapse: bool, recency: bool,
              pairs: tuple[np.ndarray | None, float] = (None, 0.0)) -> list[tuple[int, float]]:
        cand = np.flatnonzero(mask)
        if not len(cand):
            return []
        pub = cols.published
        sc = plan.score[cand].astype(np.float64)
        if plan.ql_words and QL_WEIGHT and len(cand) > 1:
            ql = query_likelihood(post, s.reader(), plan.ql_words, cand, TITLE_BOOST)
            # Rescale over the pool both models would show (each one's best RERANK), as
            # score fusion does over retrieved lists; the rest of the candidates clip to 0.
            k = min(RERANK, len(cand))
            pool = np.union1d(np.argpartition(-sc, k - 1)[:k], np.argpartition(-ql, k - 1)[:k])
            lo, hi = float(ql[pool].min()), float(ql[pool].max())
            if hi > lo:
                sc = sc + QL_WEIGHT * float(sc.max()) * np.clip((ql - lo) / (hi - lo), 0.0, 1.0)
        if recency:
            age_days = np.maximum(0.0, time.time() - pub[cand]) / 86400.0
            sc = np.where(pub[cand] > 0, sc * (1.0 + 0.5 / (1.0 + age_days / 90.0)), sc)
        limit = min(len(cand), max(want * (4 if collapse else 1) + 20, RERANK))
        while True:
            idx = np.argpartition(-sc, limit - 1)[:limit] if limit < len(cand) else np.arange(len(cand))
            top, tsc = cand[idx], sc[idx]
            order = np.lexsort((-pub[top], -np.round(tsc, 6)))  # score, then newest
            top, tsc = top[order], tsc[order]
            r = min(len(top), RERANK)
            if plan.pairs and r:
                # Proximity: the query's neighbouring words close together, for the best candidates.
                tsc[:r] += proximity_bonus(s, post, plan.pairs, top[:r])
            pair_scored = bool(plan.ql_text and BIGRAM_WEIGHT and r > 1) and self._pair_bonus(
                s, plan, top[:r], tsc[:r], *pairs)
            if (plan.pairs or pair_scored) and r:
                head = np.lexsort((-pub[top[:r]], -np.round(tsc[:r], 6)))  # re-sort the reranked head
                top[:r], tsc[:r] = top[:r][head], tsc[:r][head]
            ranked = list(zip(top.tolist(), tsc.tolist()))
            if (not collapse or limit >= len(cand)
                    or len(set(cols.cluster[top].tolist())) >= want):
                return ranked
            limit = min(len(cand), limit * 4)

    @staticmethod
    def _pair_bonus(s: Any, plan: Plan, docs: np.ndarray, tsc: np.ndarray,
                    table: np.ndarray | None, total: float) -> bool:
        """Add the character-pair likelihood bonus to ``tsc`` in place; False when unavailable."""
        if table is None:
            return False
        texts = []
        for d in docs.tolist():
            f = s.stored_fields(d)
            texts.append(fold_text((f.get("title") or "") + "\n" + (f.get("body") or "")))
        lik = bigram_likelihood(texts, fold_text(plan.ql_text), table, total)
        span = float(lik.max() - lik.min())
        if span <= 0:
            return False
        tsc += BIGRAM_WEIGHT * float(tsc.max()) * (lik - lik.min()) / span
        return True

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

    def _hit(self, s, docnum: int, score: float, terms: list[str], similar: int, snippets: bool) -> Hit:
        f = s.stored_fields(docnum)
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
        snap, s = self._snap_searcher()
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
        return highlight_html(text, terms)

    def more_like_this(self, article_id: str, limit: int = 5) -> list[Hit]:
        """Return articles similar to this one by key terms (other stories first)."""
        snap, s = self._snap_searcher()
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
        for w in keys:
            for fname in ("title", "body"):
                ids, sc = post.bm25(fname, w, reader, cache=False)
                score[ids] += tf[w] * sc  # a word the article repeats weighs more
        score[~post.live] = 0.0
        score[cols.cluster == cols.cluster[d]] = 0.0  # itself and its copies
        cand = np.flatnonzero(score)
        if not len(cand):
            return []
        k = min(len(cand), limit)
        top = cand[np.argpartition(-score[cand], k - 1)[:k]]
        top = top[np.argsort(-score[top], kind="stable")]
        return [self._hit(s, int(x), float(score[x]), [], 0, True) for x in top]

    # ------------------------------------------------------------ stats

    def article_count(self) -> int:
        """Return the number of articles in the served index."""
        _, s = self._snap_searcher()
        return s.doc_count()

    def stats(self) -> dict[str, Any]:
        """Return articles, sources, date range, size on disk and schema version."""
        from .schema import SCHEMA_VERSION

        snap, s = self._snap_searcher()
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
        """Close this thread's searcher."""
        s = getattr(self._local, "searcher", None)
        if s is not None:
            s.close()
            self._local.searcher = None

