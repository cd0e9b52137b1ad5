"""Scoring: BM25F with a Robertson–Spärck Jones IDF over numpy postings, plus reranking bonuses.

Whoosh's default IDF is ``log(N / (df + 1)) + 1``: the ``+ 1`` gives a word found in every
article the weight of a rare one's tail, so long articles full of common words (经济, 发展,
会) outrank the short article that holds the query's rare words. Here the probabilistic IDF
``log(1 + (N - df + 0.5) / (df + 0.5))`` is used, so common words count for almost nothing.
The title's weight comes from its field boost at index time (schema.TITLE_BOOST), applied to
term frequency as BM25F does.

:func:`rank` fuses the scores of a query plan (BM25F, query likelihood, recency) and reranks
the best candidates (proximity, character-pair likelihood); :func:`by_score`, :func:`by_date`
and :func:`collapse` order and fold the rest; :func:`more_like_this` scores an article's
neighbours on the same postings.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, OrderedDict
from typing import Any

import numpy as np

from . import budget as _budget
from .bigrams import bigram_codes
from .cache import AdmitCache
from .normalize import fold_text
from .params import DEFAULT_PARAMS, RankParams, idf
from .schema import TITLE_BOOST
from .store.readers import Located, doc_dtype, length_array, locate, read_located

__all__ = ["Postings", "proximity_bonus", "near", "CandidateTexts", "query_likelihood", "bigram_likelihood", "rank", "by_score", "by_date",
           "collapse", "key_term_counts", "more_like_this"]


# ---------------------------------------------------------------- vectorised scoring
#
# Whoosh's matchers walk postings one document at a time in Python; on the full corpus a
# pair of common words took ~0.5 s. The engine instead reads a term's postings once, block
# by block, into numpy arrays (search.store.readers.term_postings, cached per index snapshot)
# and scores every candidate at once with the same BM25F formula (probabilistic IDF,
# per-field length normalisation).


# Postings and best-reading tables kept per snapshot (least recently used out first). 12 bytes
# a posting: at 362k articles the 240 benchmark queries' tables take ~200 MiB.
CACHE_BYTES = 256 << 20
WHERE_MAX = 200_000  # terms whose place in the segments is kept (~200 bytes each)


class Postings:
    """Term postings of one index snapshot as numpy arrays, with a bounded cache.

    Shared by all threads; it holds no reader: every read goes through the calling
    thread's own reader of the same snapshot (Whoosh readers are not thread-safe).
    """

    def __init__(self, reader: Any, max_bytes: int = CACHE_BYTES,
                 opened: tuple[np.ndarray, dict[str, np.ndarray], dict[str, float]] | None = None,
                 params: RankParams = DEFAULT_PARAMS):
        """``opened``: the live mask, field lengths and averages read from the commit's
        sidecar (search.sidecar), instead of walking every document; ``params``: k1 and b."""
        self.k1, self.b = params.k1, params.b
        self.n = reader.doc_count_all()
        self._lengths: dict[str, np.ndarray] = {}
        self._avg: dict[str, float] = {}
        if opened is not None:
            self.live = opened[0]
            self._lengths.update(opened[1])
            self._avg.update(opened[2])
        else:
            live = np.ones(self.n, dtype=bool)
            for leaf, base in reader.leaf_readers():
                if leaf.has_deletions():
                    for d in range(leaf.doc_count_all()):
                        if leaf.is_deleted(d):
                            live[base + d] = False
            self.live = live
        # Keys: (field, term) for a term's postings, ("best", field, readings) for a word's
        # best-reading table. Entries are asked for again by later queries; search.cache keeps
        # the often-asked ones when the words in use outgrow the budget.
        self._cache: AdmitCache[tuple[Any, np.ndarray]] = AdmitCache(
            max_bytes, lambda got: (got[0].nbytes if got[0] is not None else 0) + got[1].nbytes)
        self._lock = threading.Lock()
        # Where each term looked up is (search.store.readers.locate): a few tuples a term, so
        # a word's postings read again after the cache let them go cost no term-table probes.
        self._where: OrderedDict[tuple[str, str], Located] = OrderedDict()

    def lengths(self, field: str, reader: Any = None) -> np.ndarray:
        """Per-document field length (float32), as Whoosh stored it (one byte, approximate)."""
        got = self._lengths.get(field)
        if got is None:
            if reader is None:
                raise RuntimeError(f"field lengths of {field!r} not loaded yet")
            out = length_array(reader, field, self.n)
            total = float(reader.field_length(field)) if self.n else 0.0
            with self._lock:
                self._lengths[field] = out
                self._avg[field] = (total / self.n) if self.n and total else 1.0
            got = out
        return got

    def avg_length(self, field: str, reader: Any = None) -> float:
        """Average field length over all documents."""
        self.lengths(field, reader)
        return self._avg[field]

    def term(self, field: str, text: str, reader: Any, cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Return (global docnums, int32 below 2**31 documents; weights float32) of a term;
        empty arrays when absent."""
        key = (field, text)
        got = self._cache.get(key)
        if got is not None:
            return got
        got = self._read(field, text, reader)
        if not cache:  # one-off lookups (more-like-this keys) stay out of the working set
            return got
        return self._remember(key, got)

    def _remember(self, key: tuple[Any, ...], got: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        # Bounded by bytes (a long-running server stays flat), kept if asked for often enough.
        self._cache.put(key, got)
        return got

    def best_of(self, field: str, readings: tuple[tuple[str, float], ...], reader: Any
                ) -> tuple[np.ndarray | None, np.ndarray]:
        """Return (ascending docnums, scores): per document, the best BM25 score over the
        readings of a word (each a term and its boost: the word, the longer words holding it),
        kept in the cache like a term's postings, so that a word read as many terms costs one
        array on the next query.

        A word held by half the archive or more comes back as (None, dense): the scores of
        every document (0 where none holds it; a holder's BM25 is always above 0). That is
        smaller than documents and scores (4 bytes a document against 8 a holder) and is read
        by position, without intersecting two long sorted lists."""
        key = ("best", field, readings)
        got = self._cache.get(key)
        if got is not None:
            return got
        # The readings' own postings are read for this table only (not kept: at 5x the raw
        # postings of every reading pushed the working set out of the cache, and at 1M the
        # word's own, kept beside its table, were half of what the benchmark's words took).
        parts = [got for t, boost in readings if len((got := self.bm25(field, t, reader, boost, cache=False))[0])]
        if not parts:
            return np.zeros(0, dtype=doc_dtype(self.n)), np.zeros(0, dtype=np.float32)
        if len(parts) == 1:
            ids, sc = parts[0]
        elif sum(len(p[0]) for p in parts) * 16 > self.n:
            # Many postings (a common word and its 40 longer words: 700k at 1M): the maximum
            # per document in an archive-sized table, linear, where a sort took 25 ms.
            best = np.zeros(self.n, dtype=np.float32)
            held = np.zeros(self.n, dtype=bool)
            for p_ids, p_sc in parts:  # a term's documents are distinct
                best[p_ids] = np.maximum(best[p_ids], p_sc)
                held[p_ids] = True
            ids = np.flatnonzero(held).astype(doc_dtype(self.n))
            if 2 * len(ids) >= self.n:
                return self._remember(key, (None, best))
            sc = best[ids]
        else:
            ids = np.concatenate([p[0] for p in parts])
            sc = np.concatenate([p[1] for p in parts])
            order = np.argsort(ids, kind="stable")
            ids, sc = ids[order], sc[order]
            starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
            ids, sc = ids[starts], np.maximum.reduceat(sc, starts)
        if 2 * len(ids) >= self.n:
            dense = np.zeros(self.n, dtype=np.float32)
            dense[ids] = sc
            return self._remember(key, (None, dense))
        return self._remember(key, (ids, sc))

    def doc_frequency(self, field: str, text: str, reader: Any) -> int:
        """Documents holding a term (deleted ones included, as Whoosh counts): from the cached
        postings when they are read already, else from the term dictionary."""
        got = self._cache.peek((field, text))
        return len(got[0]) if got is not None else self._locate(field, text, reader)[0]

    def _locate(self, field: str, text: str, reader: Any) -> Located:
        key = (field, text)
        with self._lock:
            got = self._where.get(key)
            if got is not None:
                self._where.move_to_end(key)
                return got
        got = locate(reader, field, text)
        with self._lock:
            self._where[key] = got
            while len(self._where) > WHERE_MAX:
                self._where.popitem(last=False)
        return got

    def _read(self, field: str, text: str, reader: Any) -> tuple[np.ndarray, np.ndarray]:
        return read_located(reader, field, text, self._locate(field, text, reader))

    def bm25(self, field: str, text: str, reader: Any, boost: float = 1.0,
             cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Return (docnums, BM25 scores) of a term in one field."""
        ids, w = self.term(field, text, reader, cache)
        if not len(ids):
            return ids, w
        return ids, self.saturated(field, reader, ids, w, boost * idf(self.n, len(ids)))

    def saturated(self, field: str, reader: Any, ids: np.ndarray, w: np.ndarray, weight: float) -> np.ndarray:
        """BM25's per-document part: ``weight`` (boost × IDF) times the saturated,
        length-normalised frequency ``w`` of documents ``ids`` in ``field``."""
        k1, b = self.k1, self.b
        dl = self.lengths(field, reader)[ids]
        norm = k1 * (1.0 - b + b * dl / self.avg_length(field, reader))
        return weight * (w * (k1 + 1.0)) / (w + norm)

    def bm25_at(self, field: str, text: str, reader: Any, docs: np.ndarray, boost: float = 1.0
                ) -> tuple[np.ndarray, np.ndarray]:
        """Return (positions in ``docs``, BM25 scores) of the ascending documents ``docs`` that
        hold a term.

        The same per-document arithmetic as :meth:`bm25`, on the intersection only: the
        shorter of the two sorted lists is looked up in the longer (binary search), so a query
        whose matches are few does not score every article holding one of its common words,
        and a rare reading costs what its few postings cost."""
        ids, w = self.term(field, text, reader)
        where, k = intersect_sorted(docs, ids)
        if not len(where):
            return where, np.zeros(0, dtype=np.float32)
        return where, self.saturated(field, reader, ids[k], w[k], boost * idf(self.n, len(ids)))

    def total_length(self, field: str, reader: Any) -> float:
        """Sum of a field's lengths over all documents (the collection's size in words)."""
        self.lengths(field, reader)
        return self._avg[field] * self.n if self.n else 0.0

    def idf(self, field: str, text: str, reader: Any) -> float:
        """Probabilistic IDF of a term in a field (0 when absent)."""
        df = self.doc_frequency(field, text, reader)  # the term dictionary's: no postings read
        return idf(self.n, df) if df else 0.0


def intersect_sorted(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in ``a``, in ``b``) of the values two ascending arrays share: the shorter
    is looked up in the longer by binary search (cost of the shorter times log the longer);
    when both are a sizeable share of their range (two common words: 650k documents each at
    1M, 22 ms searching), through a slot table over the range instead (linear: ~4 ms)."""
    if not len(a) or not len(b):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    span = int(max(a[-1], b[-1])) + 1
    if min(len(a), len(b)) * 40 > span:
        slot = np.full(span, -1, dtype=np.int32 if len(b) < 1 << 31 else np.int64)
        slot[b] = np.arange(len(b), dtype=slot.dtype)
        k = slot[a]
        hit = np.flatnonzero(k >= 0)
        return hit, k[hit].astype(np.int64)
    if len(b) <= len(a):
        at = np.searchsorted(a, b)
        np.minimum(at, len(a) - 1, out=at)
        hit = np.flatnonzero(a[at] == b)
        return at[hit], hit
    at = np.searchsorted(b, a)
    np.minimum(at, len(b) - 1, out=at)
    hit = np.flatnonzero(b[at] == a)
    return hit, at[hit]


# How many occurrences of a pair's first word are tried per text: a word repeated more often
# than this has had its chances (and a 20,000-character text of one word costs no more).
_NEAR_TRIES = 64


def near(text: str, a: str, b: str, gap: int) -> bool:
    """Whether ``b`` starts within ``gap`` characters after the end of an occurrence of ``a``."""
    la, lb = len(a), len(b)
    i = text.find(a)
    tries = 0
    while i >= 0 and tries < _NEAR_TRIES:
        e = i + la
        if text.find(b, e, e + gap + lb) >= 0:
            return True
        i = text.find(a, i + 1)
        tries += 1
    return False


class CandidateTexts:
    """The folded title and body opening of rerank candidates, read once per ranking.

    Both reranks read the stored text of the best candidates: the proximity bonus (the index
    keeps no word positions, search.schema) and the character-pair likelihood. A long
    article's opening (``pair_text_chars``) stands for it: folding 10 MB per candidate would
    not fit any budget.
    """

    def __init__(self, searcher: Any, params: RankParams = DEFAULT_PARAMS):
        self._s = searcher
        self._chars = params.pair_text_chars
        self._got: dict[int, tuple[str, str]] = {}

    def get(self, d: int) -> tuple[str, str]:
        """Return (folded title, folded body opening) of document ``d``."""
        got = self._got.get(d)
        if got is None:
            f = self._s.stored_fields(d) or {}
            title = f.get("title") or ""
            body = (f.get("body") or "")[: max(0, self._chars - len(title) - 1)]
            got = self._got[d] = (fold_text(title), fold_text(body))
        return got

    def joined(self, d: int) -> str:
        """Title and body opening as one text (what the pair likelihood scores)."""
        t, b = self.get(d)
        return t + "\n" + b


def proximity_bonus(searcher: Any, post: Postings, pairs: list[tuple[str, str, tuple[str, ...]]],
                    docs: np.ndarray, params: RankParams = DEFAULT_PARAMS,
                    texts: CandidateTexts | None = None, budget: _budget.Budget | None = None) -> np.ndarray:
    """Bonus per document for each query word pair found in order, the second starting within
    ``pair_gap`` characters after the first (in the folded stored text: positions are not
    indexed, and characters do not depend on how jieba cut the article)."""
    bonus = np.zeros(len(docs), dtype=np.float64)
    pairs = [(a, b, fields) for a, b, fields in pairs if a != b]
    if not len(docs) or not pairs:
        return bonus
    reader = searcher.reader()
    texts = texts or CandidateTexts(searcher, params)
    gap = params.pair_gap
    weights = {}
    for a, b, fields in pairs:
        for f in fields:
            w = params.pair_boost * (post.idf(f, a, reader) + post.idf(f, b, reader)) / 2.0
            weights[(a, b, f)] = w * params.title_pair_weight if f == "title" else w
    for i, d in enumerate(docs.tolist()):
        if budget is not None and budget.stop():
            break  # the candidates read so far keep their bonus; the rest get none
        title, body = texts.get(d)
        for a, b, fields in pairs:
            for f in fields:
                if near(title if f == "title" else body, a, b, gap):
                    bonus[i] += weights[(a, b, f)]
    return bonus


# ---------------------------------------------------------------- query likelihood
#
# A long query is a description (a headline, a one-line summary), not a list of keywords.
# BM25 adds up each word's evidence independently, so a long article that holds a few of the
# query's words many times can beat the short article that holds most of them once. The
# query-likelihood model with Dirichlet smoothing (Zhai & Lafferty 2001) scores how likely
# the document's language model is to produce the whole query: every query word the document
# lacks costs it, smoothed by the word's frequency in the whole collection. The engine adds
# it to BM25F for long parts (RankParams.ql_weight; the prior RankParams.ql_mu, in words,
# measured flat from 50 to 200: see docs/DESIGN-NOTES.md).


def query_likelihood(post: Postings, reader: Any, words: dict[str, int], docs: np.ndarray,
                     title_boost: float, mu: float | None = None) -> np.ndarray:
    """log P(query | document) for each of ``docs`` under a Dirichlet-smoothed unigram model.

    The document is its title and body as one text (raw term counts: the title's index-time
    boost is divided out), so this model carries no title preference; BM25F does.
    ``words`` maps each query word to its count in the query.
    """
    mu = DEFAULT_PARAMS.ql_mu if mu is None else mu
    out = np.zeros(len(docs), dtype=np.float64)
    if not len(docs) or not words:
        return out
    fields = (("title", title_boost), ("body", 1.0))
    doclen = np.zeros(len(docs), dtype=np.float64)
    coll = 0.0
    for f, _ in fields:
        doclen += post.lengths(f, reader)[docs]
        coll += post.total_length(f, reader)
    if coll <= 0:
        return out
    # The candidates come ascending (a mask's documents); any other order is sorted here.
    ascending = bool(np.all(docs[1:] > docs[:-1]))
    order = None if ascending else np.argsort(docs)
    sorted_docs = docs if order is None else docs[order]
    qlen = 0
    for w, c in words.items():
        hits_at: list[np.ndarray] = []
        hits_tf: list[np.ndarray] = []
        cf = 0.0
        for f, boost in fields:
            ids, wt = post.term(f, w, reader)
            if not len(ids):
                continue
            tf = wt.astype(np.float64) / boost
            cf += float(tf.sum())
            # Which of ``docs`` hold the word (postings and docs both as sorted docnums).
            at, k = intersect_sorted(sorted_docs, ids)
            hits_at.append(at if order is None else order[at])
            hits_tf.append(tf[k])
        qlen += c
        if cf <= 0:
            continue  # a word the collection lacks is the same constant for every document
        prior = mu * cf / coll
        out += c * np.log(prior)
        if hits_at:
            tf_docs = np.zeros(len(docs), dtype=np.float64)
            for at, tf in zip(hits_at, hits_tf):  # a field's documents are distinct: no np.add.at
                tf_docs[at] += tf
            held = tf_docs > 0
            out[held] += c * (np.log(tf_docs[held] + prior) - np.log(prior))
    out -= qlen * np.log(doclen + mu)
    return out


# ---------------------------------------------------------------- character-pair language model
#
# Word statistics miss what segmentation hides: a summary's 扫年货 and its text's 扫货游 share
# no word but share 扫货-like pairs of characters. For long queries the best RERANK candidates
# are also scored by a Dirichlet query likelihood over adjacent Han character pairs, with
# collection statistics from a hashed pair-count table written beside the index at build time
# (search.bigrams.BIGRAM_FILE; counts of colliding pairs add up, which only smooths a little more).

def bigram_likelihood(texts: list[str], query: str, table: np.ndarray, total: float,
                      mu: float | None = None) -> np.ndarray:
    """log P(query pairs | document) for each folded text, Dirichlet-smoothed with ``table``."""
    mu = DEFAULT_PARAMS.bigram_mu if mu is None else mu
    q = bigram_codes(query)
    out = np.zeros(len(texts), dtype=np.float64)
    if not len(q) or total <= 0:
        return out
    codes, counts = np.unique(q, return_counts=True)
    prior = mu * np.maximum(table[codes].astype(np.float64), 0.5) / total
    for i, t in enumerate(texts):
        d = np.sort(bigram_codes(t))
        tf = np.searchsorted(d, codes, side="right") - np.searchsorted(d, codes, side="left")
        out[i] = float(np.sum(counts * np.log((tf + prior) / (len(d) + mu))))
    return out


# ---------------------------------------------------------------- fusion, reranks, collapse
#
# Long queries get BM25F plus ql_weight of the best BM25F score times the query likelihood
# rescaled to 0..1 over the candidates (CombSUM of the two models), and the best ``rerank``
# also bigram_weight of the best score times the character-pair likelihood rescaled to 0..1
# (bigram_likelihood); every knob is a RankParams field (search.params).


def rank(s: Any, plan: Any, mask: np.ndarray, want: int, cols: Any, post: Postings,
         collapse: bool, recency: bool,
         pairs: tuple[np.ndarray | None, float] = (None, 0.0),
         budget: _budget.Budget | None = None, params: RankParams = DEFAULT_PARAMS) -> list[tuple[int, float]]:
    """Return ``(docnum, score)`` of the best candidates in ``mask``, best first: a query plan's
    BM25F scores (``plan``: a query.Plan) fused with the query likelihood, recency, the proximity
    and character-pair reranks of the best ``params.rerank``; more when collapsing needs them
    (``cols``: the snapshot's columns)."""
    budget = budget or _budget.Budget()
    cand = np.flatnonzero(mask)
    if not len(cand):
        return []
    pub = cols.published
    sc = plan.score[cand]  # float32: widened (exactly) where fused, or for the few selected below
    prm = params
    if plan.ql_words and prm.ql_weight and len(cand) > 1 and not budget.stop():
        sc = sc.astype(np.float64)
        ql = query_likelihood(post, s.reader(), plan.ql_words, cand, TITLE_BOOST, prm.ql_mu)
        # Rescale over the pool both models would show (each one's best ``rerank``), as
        # score fusion does over retrieved lists; the rest of the candidates clip to 0.
        k = min(prm.rerank, len(cand))
        pool = np.union1d(np.argpartition(-sc, k - 1)[:k], np.argpartition(-ql, k - 1)[:k])
        lo, hi = float(ql[pool].min()), float(ql[pool].max())
        if hi > lo:
            sc = sc + prm.ql_weight * float(sc.max()) * np.clip((ql - lo) / (hi - lo), 0.0, 1.0)
    if recency:
        sc = sc.astype(np.float64)
        age_days = np.maximum(0.0, time.time() - pub[cand]) / 86400.0
        sc = np.where(pub[cand] > 0, sc * (1.0 + prm.recency_boost / (1.0 + age_days / prm.recency_days)), sc)
    limit = min(len(cand), max(want * (4 if collapse else 1) + 20, prm.rerank))
    texts = CandidateTexts(s, prm)  # the reranks' stored texts, read once over the loop below
    while True:
        if limit < len(cand):
            # Everything tied with the limit-th score (to 6 places) too: which of a tie is
            # listed first is decided below (newest, then docnum), so every page agrees.
            idx = best_rounded(sc, limit)
        else:
            idx = np.arange(len(cand))
        top, tsc = cand[idx], np.round(sc[idx].astype(np.float64), 6)
        order = np.lexsort((top, -pub[top], -np.round(tsc, 6)))  # score, newest, then docnum (pages agree)
        top, tsc = top[order], tsc[order]
        r = min(len(top), prm.rerank)
        if plan.pairs and r and not budget.stop():
            # Proximity: the query's neighbouring words close together, for the best candidates.
            tsc[:r] += proximity_bonus(s, post, plan.pairs, top[:r], prm, texts, budget)
        pair_scored = bool(plan.ql_text and prm.bigram_weight and r > 1) and not budget.stop() and \
            pair_bonus(s, plan, top[:r], tsc[:r], *pairs, budget=budget, params=prm, texts=texts)
        if (plan.pairs or pair_scored) and r:
            head = np.lexsort((top[:r], -pub[top[:r]], -np.round(tsc[:r], 6)))  # re-sort the reranked head
            top[:r], tsc[:r] = top[:r][head], tsc[:r][head]
        ranked = list(zip(top.tolist(), tsc.tolist()))
        if (not collapse or limit >= len(cand) or budget.stop()
                or len(set(cols.cluster[top].tolist())) >= want):
            return ranked
        limit = min(len(cand), limit * 4)

# Scores are compared rounded to 6 places (ties then go newest first); the margin covers the
# rounding of the limit-th score and of its ties in the pre-selection below.
_ROUND_MARGIN = 2e-6
_BLOCK_SELECT_MIN = 1 << 16  # fewer candidates: one partition over all is as cheap


def best_rounded(sc: np.ndarray, limit: int) -> np.ndarray:
    """Ascending indexes of the ``limit`` best of ``sc`` and of every value tied with the
    limit-th best once rounded to 6 places: ``flatnonzero(r >= kth)`` where ``r`` is ``sc``
    rounded and ``kth`` its limit-th largest value, without partitioning every value.

    Many candidates (a common word: 650k at 1M) are cut into blocks of which each keeps its
    maximum (block-max, as in Ding & Suel's block-max WAND): at least ``limit`` values reach
    the limit-th largest block maximum ``t``, so the limit-th best is at least ``t``, and any
    value whose rounding ties with it is above ``t`` less the margin. Only those survivors are
    rounded and partitioned (typically a few times ``limit``); the answer is the same set in
    the same order as over all values."""
    n = len(sc)
    sel = None
    if n >= _BLOCK_SELECT_MIN and n >= 64 * limit:
        nb = 8 * limit  # blocks: a few survivors per block over the threshold
        size = n // nb
        bm = sc[: nb * size].reshape(nb, size).max(axis=1)
        if nb * size < n:
            bm = np.append(bm, sc[nb * size:].max())
        t = float(np.partition(bm, len(bm) - limit)[len(bm) - limit])
        sel = np.flatnonzero(sc >= t - _ROUND_MARGIN)
        sc = sc[sel]
    r = np.round(sc.astype(np.float64), 6)
    kth = r[np.argpartition(-r, limit - 1)[limit - 1]]
    idx = np.flatnonzero(r >= kth)
    return idx if sel is None else sel[idx]


def pair_bonus(s: Any, plan: Any, docs: np.ndarray, tsc: np.ndarray,
               table: np.ndarray | None, total: float, budget: _budget.Budget | None = None,
               params: RankParams = DEFAULT_PARAMS, texts: CandidateTexts | None = None) -> bool:
    """Add the character-pair likelihood bonus to ``tsc`` in place; False when unavailable."""
    if table is None:
        return False
    texts = texts or CandidateTexts(s, params)
    joined = []
    for d in docs.tolist():
        if budget is not None and budget.stop():
            return False  # an unfinished rerank would favour the candidates read first
        joined.append(texts.joined(d))
    lik = bigram_likelihood(joined, fold_text(plan.ql_text), table, total, params.bigram_mu)
    span = float(lik.max() - lik.min())
    if span <= 0:
        return False
    tsc += params.bigram_weight * float(tsc.max()) * (lik - lik.min()) / span
    return True

def by_score(score: np.ndarray, mask: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Return the ``k`` best-scored documents of ``mask`` (no rerank), best first."""
    cand = np.flatnonzero(mask)
    sc = score[cand]
    k = min(len(cand), k)
    idx = np.argpartition(-sc, k - 1)[:k] if 0 < k < len(cand) else np.arange(len(cand))
    idx = idx[np.argsort(-sc[idx], kind="stable")]
    return [(int(cand[i]), float(sc[i])) for i in idx]

def by_date(mask: np.ndarray, cols: Any, newest: bool) -> list[tuple[int, float]]:
    """Return the documents of ``mask`` newest (or oldest) first, undated ones last."""
    cand = np.flatnonzero(mask)
    pub = cols.published[cand]
    if newest:
        order = np.lexsort((cand, -pub))
    else:  # unknown dates (0) go last in both orders
        order = np.lexsort((cand, pub, pub == 0))
    return [(int(d), 0.0) for d in cand[order]]

def collapse(ordered: list[tuple[int, float]], clusters: np.ndarray, want: int) -> list[tuple[int, float]]:
    """Keep the first document of each story (cluster), up to ``want``."""
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


# ---------------------------------------------------------------- more like this
#
# The key term weight (``log(1 + N / (df + 1))``, the document frequency from the term
# dictionary) is a different quantity from the ranking IDF: it only chooses the keys.


def key_term_counts(title: str, body: str) -> tuple[Counter[str], set[str]]:
    """Return the candidate key terms of an article (words of its title and of its first 2,000
    characters, with their counts) and its title words, for :func:`more_like_this`."""
    from .analysis import analyze

    # analyze(), not the cached query_words(): article texts would fill the query cache.
    title_words = {t.text for t in analyze(title, "default") if len(t.text) > 1}
    body_words = [t.text for t in analyze(body[:2000], "default") if len(t.text) > 1]
    tf = Counter(body_words)
    tf.update(title_words)
    return tf, title_words


def more_like_this(tf: Counter[str], title_words: set[str], d: int, reader: Any, post: Postings,
                   clusters: np.ndarray, limit: int, budget: _budget.Budget) -> list[tuple[int, float]]:
    """Return ``(docnum, score)`` of up to ``limit`` articles similar to document ``d`` by its key
    terms (BM25 on the same postings as a search), other stories only, best first."""
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
    score[clusters == clusters[d]] = 0.0  # itself and its copies
    cand = np.flatnonzero(score)
    if not len(cand):
        return []
    k = min(len(cand), limit)
    top = cand[np.argpartition(-score[cand], k - 1)[:k]]
    top = top[np.argsort(-score[top], kind="stable")]
    return [(int(x), float(score[x])) for x in top]
