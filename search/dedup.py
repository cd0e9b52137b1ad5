"""Near-duplicate clustering: syndicated and re-crawled copies of one story share a cluster id.

Method: MinHash by *one-permutation hashing* over character 5-shingles of the folded body
(whitespace and punctuation removed, digits kept; first 4,000 characters). Each shingle is hashed once (CRC-32 plus a
multiplicative mix); the 32-bit hash space is cut into 64 bins by its top 6 bits and the
smallest value in each bin is kept. Empty bins (short texts) borrow from the next non-empty
bin with the distance folded in ("rotation densification", Shrivastava 2017), so the 64
slots behave like 64 independent MinHashes and ``similar`` estimates Jaccard.

Locality-sensitive hashing: 16 bands of 4 slots; a pair with Jaccard 0.7 shares a band with
probability 0.99, a pair at 0.3 with 0.12. Band keys are short strings for a KEYWORD field,
so an incremental update finds candidates already in the index.

Choices:

* Only the body is hashed. Template titles (``国家卫生健康委通报最新疫情`` ×353) would merge
  distinct stories, and headline rewrites (topic tags, a different headline on a syndicated
  copy) would split true copies; a body Jaccard threshold handles both.
* Digits stay in the shingles: daily briefings built from one template differ mainly in
  their figures, and every changed number changes ~5 shingles.
* Short bodies (< 300 shingles, most CCTV items) need 0.85: template items such as
  ``李强举行仪式欢迎X总理访华`` differ in a few names and reach Jaccard 0.6-0.95.
* An article joins the cluster of its most similar earlier article above ``threshold``
  (single link); the cluster id is the id of the cluster's first article.
* Empty bodies get an empty signature: no band keys, similarity 0, a cluster of their own.
"""

from __future__ import annotations

import logging
import os
import re
import struct
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from itertools import chain
from zlib import crc32

__all__ = [
    "Signature",
    "signature",
    "band_keys",
    "similar",
    "Clusterer",
    "DiskClusterer",
    "NUM_HASHES",
    "BANDS",
    "DEFAULT_THRESHOLD",
]

log = logging.getLogger(__name__)

Signature = tuple[int, ...]  # 64 MinHash slots, then the number of distinct shingles

SHINGLE = 5
NUM_HASHES = 64
BANDS = 16
ROWS = NUM_HASHES // BANDS
DEFAULT_THRESHOLD = 0.6
# Shingling is a Python loop (~0.3 µs a shingle); beyond this many characters a copy is
# already recognized, and long pages would dominate the cost.
MAX_CHARS = 4000
_BIN_BITS = 26  # 32 - log2(NUM_HASHES)
_BIN_MASK = (1 << _BIN_BITS) - 1
_MIX = 0x9E3779B1  # golden-ratio multiplier: spreads CRC bits into the top (bin) bits
_NON_WORD = re.compile(r"[\W_]+")
_BAND_PACK = struct.Struct(f"<{ROWS}I")
# Short bodies (CCTV items of ~100-300 characters) built from one template differ in a few
# names only (李强举行仪式欢迎X总理访华): Jaccard 0.6-0.95 between distinct stories, so
# pairs where either side is short must be near-identical.
SHORT_SHINGLES = 300
SHORT_THRESHOLD = 0.85
# Cap on remembered articles per band key: a template shared by hundreds of briefings
# would otherwise make every new one compare against all of them.
_BUCKET_CAP = 500


def signature(folded_body: str) -> Signature:
    """Return the MinHash signature of a folded body: 64 slots plus the shingle count."""
    text = _NON_WORD.sub("", folded_body)[:MAX_CHARS]
    if not text:
        return ()
    n = len(text) - SHINGLE + 1
    if n < 1:
        grams = {text}
    else:
        grams = {text[i:i + SHINGLE] for i in range(n)}
    hs = sorted({(crc32(g.encode()) * _MIX) & 0xFFFFFFFF for g in grams})
    slots: list[int] = [-1] * NUM_HASHES
    total = len(hs)
    for b in range(NUM_HASHES):
        lo = b << _BIN_BITS
        i = bisect_left(hs, lo)
        if i < total and hs[i] < lo + (1 << _BIN_BITS):
            slots[b] = hs[i] & _BIN_MASK
    if -1 in slots:
        _densify(slots)
    slots.append(total)
    return tuple(slots)


def _densify(slots: list[int]) -> None:
    """Fill empty bins from the next non-empty bin, offset by the distance."""
    filled = [v for v in slots if v >= 0]
    if not filled:
        return
    k = len(slots)
    orig = list(slots)
    for b in range(k):
        if orig[b] >= 0:
            continue
        t = 1
        while orig[(b + t) % k] < 0:
            t += 1
        slots[b] = orig[(b + t) % k] + (t << _BIN_BITS)


def band_keys(sig: Signature) -> list[str]:
    """Return the LSH band keys of a signature, e.g. ``"3.1f2e9a0c"`` (none for an empty one)."""
    return [f"{b:x}.{h:08x}" for b, h in enumerate(_band_hashes(sig))]


def band_key_ints(sig: Signature) -> list[int]:
    """The band keys of a signature as ``band << 32 | hash`` integers (how segments store them)."""
    return [(b << 32) | h for b, h in enumerate(_band_hashes(sig))]


def _band_hashes(sig: Signature) -> list[int]:
    if not sig:
        return []
    pack = _BAND_PACK.pack
    return [crc32(pack(*sig[b * ROWS:(b + 1) * ROWS])) for b in range(BANDS)]


def similar(sig_a: Signature, sig_b: Signature) -> float:
    """Return the estimated Jaccard similarity of two signatures (0.0 if either is empty)."""
    if not sig_a or not sig_b or len(sig_a) != len(sig_b):
        return 0.0
    return sum(1 for x, y in zip(sig_a[:NUM_HASHES], sig_b[:NUM_HASHES]) if x == y) / NUM_HASHES


def _required(sig_a: Signature, sig_b: Signature, threshold: float) -> float:
    """Return the similarity a pair needs: stricter when either body is short."""
    if min(sig_a[NUM_HASHES], sig_b[NUM_HASHES]) < SHORT_SHINGLES:
        return max(threshold, SHORT_THRESHOLD)
    return threshold


class Clusterer:
    """Assign cluster ids to a stream of articles, in memory for one batch.

    For a batch as large as the archive (a rebuild) use :class:`DiskClusterer`: the same
    decisions, with the per-article state in an on-disk table instead of in this process.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD):
        self.threshold = threshold
        self._members: dict[str, tuple[str, Signature]] = {}
        self._buckets: dict[str, list[str]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self._members)

    def cluster_of(self, article_id: str) -> str | None:
        """Return the cluster id assigned to an article of this batch, or None."""
        m = self._members.get(article_id)
        return m[0] if m else None

    # Storage: the batch's articles by id, and the first _BUCKET_CAP ids under each band key.
    def _bucket(self, key: str) -> Iterable[tuple[str, str, Signature]]:
        members = self._members
        return ((other, *members[other]) for other in self._buckets.get(key, ()))

    def _remember(self, article_id: str, cluster: str, sig: Signature, keys: list[str]) -> None:
        self._members[article_id] = (cluster, sig)
        for key in keys:
            bucket = self._buckets[key]
            if len(bucket) < _BUCKET_CAP:
                bucket.append(article_id)

    def assign(self, article_id: str, sig: Signature,
               candidates: Iterable[tuple[str, str, Signature]] = ()) -> str:
        """Return the cluster id of an article and remember it for later assignments.

        ``candidates`` are ``(id, cluster, signature)`` triples found in an existing index
        through :func:`band_keys`; they are compared like the articles of this batch.
        """
        known = self.cluster_of(article_id)
        if known is not None:
            return known
        keys = band_keys(sig)
        batch = (m for key in keys for m in self._bucket(key))
        cluster = self._best(article_id, sig, chain(batch, candidates))
        self._remember(article_id, cluster, sig, keys)
        return cluster

    def _best(self, article_id: str, sig: Signature, others: Iterable[tuple[str, str, Signature]]) -> str:
        """The cluster of the most similar other article above the threshold (first on ties)."""
        best_cluster, best_score = None, -1.0
        seen: set[str] = {article_id}
        for other, cl, osig in others:
            if other in seen:
                continue
            seen.add(other)
            s = similar(sig, osig)
            if s >= _required(sig, osig, self.threshold) and s > best_score:
                best_cluster, best_score = cl, s
        return best_cluster or article_id


class DiskClusterer(Clusterer):
    """A :class:`Clusterer` whose per-article state lives in an SQLite file, not in memory.

    A rebuild clusters the whole archive as one batch; held in dicts, the signatures and
    band buckets grew by ~3 KB an article (1 GB at 362k). Here each article is one row
    (id, cluster, packed signature) and each band key one row per member (the first
    ``_BUCKET_CAP`` members are read back, as the in-memory buckets keep), with a bounded
    page cache; SQLite reads through the OS page cache, so the process stays flat.
    The file is scratch state for one run: :meth:`close` removes it.
    """

    CACHE_KIB = 32 * 1024  # SQLite's own page cache (the OS caches the rest of the file)

    def __init__(self, path: str, threshold: float = DEFAULT_THRESHOLD):
        import sqlite3

        super().__init__(threshold)
        self.path = path
        for suffix in ("", "-journal"):
            try:
                os.unlink(path + suffix)
            except FileNotFoundError:
                pass
        # Scratch data, rebuilt by the next run if lost: no journal, no fsync.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.executescript(f"""
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA temp_store = FILE;
            PRAGMA cache_size = -{self.CACHE_KIB};
            CREATE TABLE member (doc INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
                                 cluster TEXT NOT NULL, sig BLOB NOT NULL);
            CREATE TABLE band (key INTEGER NOT NULL, doc INTEGER NOT NULL,
                               PRIMARY KEY (key, doc)) WITHOUT ROWID;
            BEGIN;
        """)
        self._n = 0
        self._absent: str | None = None

    def __len__(self) -> int:
        return self._n

    def cluster_of(self, article_id: str) -> str | None:
        """Return the cluster id assigned to an article of this batch, or None."""
        row = self._db.execute("SELECT cluster FROM member WHERE id = ?", (article_id,)).fetchone()
        # The indexer asks before it assigns: remember the miss so assign() need not ask again.
        self._absent = None if row else article_id
        return row[0] if row else None

    def _bucket(self, key: str) -> Iterable[tuple[str, str, Signature]]:
        return self._fetch([doc for _, doc in self._db.execute(
            "SELECT key, doc FROM band WHERE key = ?", (_band_int(key),))])

    def _fetch(self, docs: list[int]) -> list[tuple[str, str, Signature]]:
        if not docs:
            return []
        rows = self._db.execute(
            f"SELECT id, cluster, sig FROM member WHERE doc IN ({','.join('?' * len(docs))}) ORDER BY doc",
            docs).fetchall()
        return [(i, cl, _unpack(blob)) for i, cl, blob in rows]

    def assign(self, article_id: str, sig: Signature,
               candidates: Iterable[tuple[str, str, Signature]] = ()) -> str:
        """Return the cluster id of an article and remember it (as :meth:`Clusterer.assign`)."""
        if article_id != self._absent:
            known = self.cluster_of(article_id)
            if known is not None:
                return known
        self._absent = None
        ints = band_key_ints(sig)
        # One read for all 16 bands. Buckets never pass _BUCKET_CAP (see below), so this
        # returns at most 16 × 500 rows, in (key, doc) order.
        size: dict[int, int] = {}
        docs: list[int] = []
        if ints:
            for key, doc in self._db.execute(
                    f"SELECT key, doc FROM band WHERE key IN ({','.join('?' * len(ints))})", ints):
                size[key] = size.get(key, 0) + 1
                docs.append(doc)
        cluster = self._best(article_id, sig, chain(self._fetch(sorted(set(docs))), candidates))
        doc = self._n
        self._n += 1
        db = self._db
        db.execute("INSERT INTO member VALUES (?, ?, ?, ?)", (doc, article_id, cluster, _pack(sig)))
        # A full bucket takes no more members: the in-memory buckets' first-500 rule.
        db.executemany("INSERT OR IGNORE INTO band VALUES (?, ?)",
                       [(k, doc) for k in ints if size.get(k, 0) < _BUCKET_CAP])
        if self._n % 20_000 == 0:  # bound the uncommitted state
            db.execute("COMMIT")
            db.execute("BEGIN")
        return cluster

    def close(self) -> None:
        """Drop the table file."""
        try:
            self._db.close()
        finally:
            for suffix in ("", "-journal"):
                try:
                    os.unlink(self.path + suffix)
                except FileNotFoundError:
                    pass


def _band_int(key: str) -> int:
    """``"3.1f2e9a0c"`` as one integer (band number above the 32-bit hash)."""
    band, h = key.split(".", 1)
    return (int(band, 16) << 32) | int(h, 16)


def _pack(sig: Signature) -> bytes:
    return array("I", sig).tobytes()


def _unpack(blob: bytes) -> Signature:
    a = array("I")
    a.frombytes(blob)
    return tuple(a)
