"""The character index: every folded letter, digit and ideograph of an article, with its position.

Matching by jieba words alone loses text: 研究生命 is cut 研究|生命, so a quoted 研究生 or 究生
is in no word. Beside the words, every segment of the index carries this index of the article's
*squashed* folded text (:func:`search.normalize.squash`: letters, digits and ideographs, one break
mark per run of clause punctuation; spaces, quotes and brackets dropped). Each character at
position ``p`` is posted under the key of the pair it starts, ``(c[p], c[p+1])``, the second
half being 0 before a break or at the end of a text (the Lucene ``CJKBigramFilter`` design, with
positions). A quoted text of two or more characters is then the positional intersection of its
pairs, rarest first: exact by construction, whatever jieba made of the article, and cheap since
only a few posting lists are read. One character alone is the union of the pairs it starts.

Layout of one article: title, two empty positions, body, two empty positions (the gaps keep a
match from running from the title into the body or into the next article). Positions are global
within the segment; ``starts[d]`` is article ``d``'s first position and ``body_starts[d]`` its
body's.

On disk, beside each Whoosh segment (``MAIN_<segid>.xc?``, so Whoosh deletes them with their
segment), raw little-endian arrays opened by memory-mapping:

* ``.xck`` int64, the sorted distinct keys (``c1 << 21 | c2``);
* ``.xco`` uint32, ``len(keys) + 1`` offsets into the delta stream;
* ``.xcl`` uint16, per key its positions as deltas (the first from 0), low 16 bits;
* ``.xcx`` uint32 / ``.xcy`` uint16, the stream indexes and high bits of the deltas ≥ 65536
  (patched-frame encoding: 2 bytes per character, 6 more per exception);
* ``.xch`` uint8 / ``.xcw`` uint32 (``len(keys) + 1`` offsets into ``.xch``): a *wide* key's
  bits 16–23 of every delta, so its deltas cost 3 bytes each and only those ≥ 2**24 are
  exceptions. A third of the deltas of the full corpus were exceptions (the pairs that are
  rare within a segment: gaps of 65536 characters or more); a key is wide when that is the
  cheaper way to write it (:func:`_wide`), which took the delta streams of the 72k index from
  206.4 to 145.1 MiB (bench/scale.py ingest, session 12). A key is wide when ``xcw[i + 1] > xcw[i]``; segments written before
  have no such files (no key is wide);
* ``.xcd`` int64, ``starts`` (one more than the articles) then ``body_starts``.
"""

from __future__ import annotations

import logging
import mmap
import os
import re
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .cache import AdmitCache
from .normalize import fold_text, squash

__all__ = ["units", "CharPool", "SegmentChars", "CharIndex", "EXTENSIONS", "needle_units", "encode_chunks"]

log = logging.getLogger(__name__)

SHIFT = 21  # code points are < 2**21
GAP = 2  # empty positions after a title and after an article
RUN_LIMIT = 4_000_000  # characters held in memory by a writer before a sorted run file
CHUNK = 1_000_000  # characters decoded at a time when a segment is read whole (a merge, one character)
# Characters merged and encoded at a time when a writer's runs are written into its segment. The
# range, its sort and the encoder's temporaries cost ~90 bytes a posting at once (with the chunk
# looked ahead), on top of whatever the segment's postings merge left behind: at a million
# postings that step was the worker's highest point (+80-95 MiB for 150k- and 300k-article
# segments in a /tmp trace). A quarter of it keeps the step near 25 MiB; the extra ranges cost
# a binary search per run each (well under a second for a 300k-article segment).
WRITE_CHUNK = 250_000
CACHE_BYTES = 32 << 20  # answers (documents holding a text) kept per segment, at least
# An answer takes 24 bytes per holding article, so what a segment keeps grows with it: 256 bytes
# an article (130 MiB for a 508k-article segment at 1M) keep a working set of ~10 common words.
CACHE_BYTES_PER_DOC = 256
BUCKET_SHIFT = 8  # positions a bucket of SegmentChars.doc_of's table: 256 (articles are longer)
LIMIT = 1 << 32  # positions and postings of one segment (uint32 offsets, 16+16-bit deltas)
EXTENSIONS = (".xck", ".xco", ".xcl", ".xcx", ".xcy", ".xcd", ".xch", ".xcw")
OPTIONAL = (".xch", ".xcw")  # absent in segments written before wide keys (no key is wide there)
EXC_BYTES = 6  # an exception: its stream index (uint32) and high bits (uint16)
_BREAKS = re.compile("\x00+")


def units(folded: str) -> str:
    """Return the squashed form of folded text that the index holds (``\\x00`` = a break)."""
    return _BREAKS.sub("\x00", squash(folded)).strip("\x00")


def needle_units(text: str) -> str:
    """Return what a typed text is looked for as: its folded, squashed characters."""
    return units(fold_text(text))


_DTYPES = {".xck": np.int64, ".xco": np.uint32, ".xcl": np.uint16, ".xcx": np.uint32, ".xcy": np.uint16,
           ".xcd": np.int64, ".xch": np.uint8, ".xcw": np.uint32}


def _narrow(counts: np.ndarray) -> np.ndarray:
    """Counts (non-negative) in the narrowest unsigned type that holds their maximum."""
    top = int(counts.max()) if len(counts) else 0
    return counts.astype(np.uint8 if top < 1 << 8 else np.uint16 if top < 1 << 16 else np.uint32)


def _codes(s: str) -> np.ndarray:
    return np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


def article_keys(folded_title: str, folded_body: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Return (keys, positions from the article's start, body offset, article span) of one article."""
    t = _codes(units(folded_title))
    b = _codes(units(folded_body))
    lt = len(t)
    full = np.zeros(lt + GAP + len(b) + GAP, dtype=np.int64)
    full[:lt] = t
    full[lt + GAP: lt + GAP + len(b)] = b
    idx = np.flatnonzero(full)
    keys = (full[idx] << SHIFT) | full[idx + 1]
    return keys, idx, lt + GAP, len(full)


# ---------------------------------------------------------------- writing


def _wide(counts: np.ndarray, over16: np.ndarray, over24: np.ndarray) -> np.ndarray:
    """Which keys are cheaper written wide: 3 bytes a delta plus the exceptions ≥ 2**24, against
    2 bytes a delta plus the exceptions ≥ 2**16 (the high byte's offset, 4 bytes a key, is paid
    by every key of a segment either way)."""
    return 3 * counts + EXC_BYTES * over24 < 2 * counts + EXC_BYTES * over16


def _encode(keys: np.ndarray, pos: np.ndarray, base: int, hbase: int, prev_key: int | None = None,
            prev_pos: int = 0, continues: bool = False) -> tuple[np.ndarray, ...]:
    """Encode sorted (key, position) pairs: distinct keys, their offsets, low deltas, exceptions,
    the wide keys' high bytes and every key's offset into them.

    ``prev_key``/``prev_pos``: the last pair of the chunk written before, when this chunk may go
    on with its key (a key with more postings than a chunk is written in several); ``continues``:
    the next chunk goes on with this chunk's last key. A key written in several chunks is never
    wide (it is a common pair: its gaps are short), so each chunk can decide its own keys."""
    n = len(keys)
    first = np.empty(n, dtype=bool)
    first[0] = prev_key is None or int(keys[0]) != prev_key
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    d = np.empty(n, dtype=np.int64)
    d[0] = pos[0] - (0 if first[0] else prev_pos)
    np.subtract(pos[1:], pos[:-1], out=d[1:])
    d[first] = pos[first]
    starts = np.flatnonzero(first)
    # per key of this chunk (the first one may be the previous chunk's last, going on)
    bounds = np.concatenate((starts, [n]) if first[0] else ([0], starts, [n]))
    counts = np.diff(bounds)
    keyof = np.repeat(np.arange(len(counts)), counts)
    over16 = np.bincount(keyof, weights=d > 0xFFFF, minlength=len(counts))
    over24 = np.bincount(keyof, weights=d > 0xFFFFFF, minlength=len(counts))
    wide = _wide(counts, over16, over24)
    if not first[0]:
        wide[0] = False  # goes on from the previous chunk
    if continues:
        wide[-1] = False  # goes on in the next chunk
    in_wide = wide[keyof]
    big = np.flatnonzero(np.where(in_wide, d > 0xFFFFFF, d > 0xFFFF))
    hi = d[in_wide] >> 16
    hi[hi > 0xFF] = 0  # an exception carries all its high bits
    # the high-byte offset of each key that starts in this chunk
    hcounts = np.where(wide, counts, 0)
    hoffs = hbase + np.concatenate(([0], np.cumsum(hcounts)[:-1]))
    if not first[0]:
        hoffs = hoffs[1:]
    return (keys[first], (starts + base).astype(np.uint32), (d & 0xFFFF).astype(np.uint16),
            (big + base).astype(np.uint32), (d[big] >> 16).astype(np.uint16),
            hi.astype(np.uint8), hoffs.astype(np.uint32))


def encode_chunks(chunks: Iterable[tuple[np.ndarray, np.ndarray]], write: Callable[[str, bytes], Any]) -> None:
    """Encode (key, position) chunks in key order (a key may go on over several chunks) into the
    files of every extension but ``.xcd``: ``write(extension, bytes)``."""
    written = hwritten = 0
    prev_key: int | None = None
    prev_pos = 0
    it = (c for c in chunks if len(c[0]))
    cur = next(it, None)
    while cur is not None:
        keys, pos = cur
        nxt = next(it, None)  # one chunk ahead: does it go on with this one's last key?
        goes_on = nxt is not None and int(nxt[0][0]) == int(keys[-1])
        parts = _encode(keys, pos, written, hwritten, prev_key, prev_pos, goes_on)
        prev_key, prev_pos = int(keys[-1]), int(pos[-1])
        for ext, arr in zip((".xck", ".xco", ".xcl", ".xcx", ".xcy", ".xch", ".xcw"), parts):
            write(ext, arr.tobytes())
        written += len(keys)
        hwritten += len(parts[5])
        cur = nxt
    write(".xco", np.array([written], dtype=np.uint32).tobytes())
    write(".xcw", np.array([hwritten], dtype=np.uint32).tobytes())


class _Run:
    """One sorted run file pair of a writer: keys located by binary search on a map of the keys
    file (whose touched pages are dropped again after each use), ranges read with ``pread``."""

    def __init__(self, keys_path: Path, pos_path: Path):
        self._kf = open(keys_path, "rb")
        self._pf = open(pos_path, "rb")
        self.n = os.path.getsize(keys_path) // 8
        self._map = mmap.mmap(self._kf.fileno(), 0, access=mmap.ACCESS_READ)
        self._keys: np.ndarray | None = np.frombuffer(self._map, dtype=np.int64)

    def _release(self) -> None:
        """Drop this process's resident pages of the keys map (they stay in the page cache)."""
        if hasattr(self._map, "madvise"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def sample(self, k: int) -> np.ndarray:
        """About ``k`` keys spread over the run."""
        assert self._keys is not None
        out = np.array(self._keys[:: max(1, self.n // k)])
        self._release()
        return out

    def find(self, lo: int, hi: int) -> tuple[int, int]:
        """The run's index range of keys in ``[lo, hi)``."""
        assert self._keys is not None
        a, b = np.searchsorted(self._keys, [lo, hi])
        self._release()
        return int(a), int(b)

    def read(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Keys and positions ``a..b-1``, read into new arrays."""
        return _pread(self._kf, a, b), _pread(self._pf, a, b)

    def close(self) -> None:
        self._keys = None
        self._map.close()
        self._kf.close()
        self._pf.close()


def _pread(f: Any, a: int, b: int) -> np.ndarray:
    """int64 values ``a..b-1`` of an open binary file."""
    data = os.pread(f.fileno(), (b - a) * 8, a * 8)
    if len(data) != (b - a) * 8:
        raise OSError(f"short read from {f.name}: {len(data)} of {(b - a) * 8} bytes")
    return np.frombuffer(data, dtype=np.int64)


class CharPool:
    """The character postings of one segment being written (bounded memory: sorted run files)."""

    def __init__(self, tempdir: str | os.PathLike, run_limit: int = RUN_LIMIT):
        self.tempdir = Path(tempdir)
        self.run_limit = run_limit
        self._keys: list[np.ndarray] = []
        self._pos: list[np.ndarray] = []
        self._held = 0
        self.runs: list[tuple[Path, Path]] = []
        # int64 arrays, not lists: 16 bytes an article instead of ~80 (a 508k-article worker)
        self.starts = array("q")
        self.body_starts = array("q")
        self.next = 0  # the next article's first position

    @property
    def docs(self) -> int:
        """Articles added so far."""
        return len(self.starts)

    def add(self, folded_title: str, folded_body: str) -> None:
        """Add the next article (articles arrive in document-number order)."""
        keys, pos, body_off, span = article_keys(folded_title, folded_body)
        self._append(keys, pos + self.next, self.next + body_off, span)

    def add_encoded(self, keys: np.ndarray, pos: np.ndarray, body_off: int, span: int) -> None:
        """Add the next article from keys and positions relative to its start (a merge)."""
        self._append(keys, pos + self.next, self.next + body_off, span)

    def _append(self, keys: np.ndarray, pos: np.ndarray, body_start: int, span: int) -> None:
        self.starts.append(self.next)
        self.body_starts.append(body_start)
        self.next += span
        if len(keys):
            self._keys.append(keys)
            self._pos.append(pos)
            self._held += len(keys)
            if self._held >= self.run_limit:
                self._spill()

    def merge(self, seg: SegmentChars, kept: list[int] | None) -> None:
        """Append a merged segment's articles (``kept``: its live document numbers, sorted)."""
        old = np.arange(seg.n, dtype=np.int64) if kept is None else np.asarray(kept, dtype=np.int64)
        if not len(old):
            return
        spans = seg.starts[old + 1] - seg.starts[old]
        new_starts = self.next + np.concatenate(([0], np.cumsum(spans)[:-1]))
        # shift[d] moves old article d's positions to where it now starts (live[d]: kept)
        shift = np.zeros(seg.n, dtype=np.int64)
        shift[old] = new_starts - seg.starts[old]
        live = np.zeros(seg.n, dtype=bool)
        live[old] = True
        self.starts.extend(new_starts.tolist())
        self.body_starts.extend((seg.body_starts[old] + shift[old]).tolist())
        self.next = int(new_starts[-1] + spans[-1])
        for keys, pos in seg.iter_chunks():
            d = np.searchsorted(seg.starts, pos, side="right") - 1
            sh = shift[d]
            keep = live[d]
            if not keep.all():
                keys, pos, sh = keys[keep], pos[keep], sh[keep]
            if len(keys):
                self._keys.append(keys)
                self._pos.append(pos + sh)
                self._held += len(keys)
                if self._held >= self.run_limit:
                    self._spill()

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._keys:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        keys = np.concatenate(self._keys)
        pos = np.concatenate(self._pos)
        self._keys, self._pos, self._held = [], [], 0
        order = np.argsort(keys, kind="stable")  # positions stay increasing within a key
        return keys[order], pos[order]

    def _spill(self) -> None:
        keys, pos = self._sorted()
        name = f"xchars-{os.getpid()}-{id(self):x}-{len(self.runs)}"
        kp, pp = self.tempdir / (name + ".k"), self.tempdir / (name + ".p")
        keys.tofile(kp)
        pos.tofile(pp)
        self.runs.append((kp, pp))

    def _chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield sorted (keys, positions) in key order, merging the runs a key range at a time.

        The runs are read with ``pread`` a key range at a time: a memory map would keep every
        page it touched resident in this process until the end (16 bytes per character of the
        segment: 2.9 GiB for a 181,000-article worker segment at 5×), and the key ranges are
        located by binary search on a map of the keys, which touches a few pages per bound.
        """
        size = WRITE_CHUNK
        if not self.runs:
            keys, pos = self._sorted()
            n, x = len(keys), 0
            while x < n:  # a slice at a time, cut between keys (a key going on is never wide)
                e = min(n, x + size)
                if e < n:
                    b = int(np.searchsorted(keys, keys[e]))
                    if b > x:
                        e = b
                yield keys[x:e], pos[x:e]
                x = e
            return
        if self._keys:
            self._spill()
        runs = [_Run(k, p) for k, p in self.runs if os.path.getsize(k)]
        try:
            total = sum(r.n for r in runs)
            # Key boundaries from a sample of every run, so that each range holds ~size postings:
            # the sample keeps its repeats (a quantile of postings, not of distinct keys).
            sample = np.sort(np.concatenate([r.sample(4096) for r in runs]))
            parts = max(1, -(-total // size))
            picks, repeats = np.unique(sample[np.linspace(0, len(sample), parts + 1, dtype=np.int64)[1:-1]],
                                       return_counts=True)
            # A key picked more than once holds more than a range's share (a common pair of
            # characters: millions of postings in a large segment): it gets a range of its own,
            # written a chunk at a time from each run in turn (runs are in document order).
            heavy = picks[repeats > 1]
            bounds = list(np.unique(np.concatenate([picks, heavy + 1]))) + [np.iinfo(np.int64).max]
            lo_key = np.iinfo(np.int64).min
            for hi_key in bounds:
                spans = [(r, *r.find(lo_key, hi_key)) for r in runs]
                one_key, lo_key = hi_key == lo_key + 1, hi_key
                if one_key:
                    for r, a, b in spans:
                        for x in range(a, b, size):
                            yield r.read(x, min(b, x + size))
                    continue
                ks, ps = [], []
                for r, a, b in spans:
                    if b > a:
                        k, p = r.read(a, b)
                        ks.append(k)
                        ps.append(p)
                if not ks:
                    continue
                keys = np.concatenate(ks)
                pos = np.concatenate(ps)
                del ks, ps
                order = np.argsort(keys, kind="stable")  # runs are in document order: stable keeps it
                out = keys[order], pos[order]
                del keys, pos, order  # not held while the chunk is encoded and the next one read
                yield out
                del out
        finally:
            for r in runs:
                r.close()

    def write(self, create: Callable[[str], Any]) -> None:
        """Write the segment's files through ``create(extension) -> binary file``."""
        if self.next >= LIMIT:
            raise ValueError(f"a segment of {self.next} characters is too large for the character index "
                             f"(at most {LIMIT}); write smaller segments")
        files = {ext: create(ext) for ext in EXTENSIONS}
        try:
            encode_chunks(self._chunks(), lambda ext, data: files[ext].write(data))
            docs = np.concatenate([np.frombuffer(self.starts, dtype=np.int64), np.array([self.next], dtype=np.int64),
                                   np.frombuffer(self.body_starts, dtype=np.int64)])
            files[".xcd"].write(docs.tobytes())
        finally:
            for f in files.values():
                f.close()
            self.cleanup()

    def cleanup(self) -> None:
        """Remove run files and forget the postings."""
        for k, p in self.runs:
            for x in (k, p):
                try:
                    x.unlink()
                except OSError:
                    pass
        self.runs = []
        self._keys, self._pos, self._held = [], [], 0


# ---------------------------------------------------------------- reading


def _find(arr: np.ndarray, values: Any, side: str = "left") -> np.ndarray:
    """``np.searchsorted`` with the values in the array's own dtype: numpy would otherwise cast
    (copy) the whole memory-mapped array to the values' dtype on every call."""
    v = np.asarray(values)
    if v.dtype != arr.dtype:
        info = np.iinfo(arr.dtype)
        v = np.clip(v, info.min, info.max).astype(arr.dtype)
    return np.searchsorted(arr, v, side=side)


def _isin_sorted(x: np.ndarray, sorted_arr: np.ndarray) -> np.ndarray:
    """Boolean mask of the values of ``x`` present in the sorted array."""
    if not len(sorted_arr):
        return np.zeros(len(x), dtype=bool)
    i = np.searchsorted(sorted_arr, x)
    np.minimum(i, len(sorted_arr) - 1, out=i)
    return sorted_arr[i] == x


class SegmentChars:
    """The character index of one segment (memory-mapped, read-only, shareable between threads)."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.keys = arrays[".xck"]
        self.offs = arrays[".xco"]
        self.lo = arrays[".xcl"]
        self.exc_idx = arrays[".xcx"]
        self.exc_hi = arrays[".xcy"]
        self.hi = arrays.get(".xch")
        self.hoffs = arrays.get(".xcw")
        if self.hoffs is not None and not len(self.hoffs):
            self.hi = self.hoffs = None
        d = arrays[".xcd"]
        n = (len(d) - 1) // 2
        self.starts = d[: n + 1]
        self.body_starts = d[n + 1:]
        self.n = n
        self._cache: AdmitCache[tuple[np.ndarray, np.ndarray, np.ndarray]] = AdmitCache(
            max(CACHE_BYTES, CACHE_BYTES_PER_DOC * n), lambda got: sum(x.nbytes for x in got))
        self._buckets: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def open(cls, folder: Path, segid: str) -> SegmentChars:
        """Open a segment's files by memory-mapping; raise FileNotFoundError when it has none."""
        dtypes = _DTYPES
        arrays = {}
        for ext, dt in dtypes.items():
            p = folder / f"{segid}{ext}"
            if ext in OPTIONAL and not p.exists():
                continue
            size = p.stat().st_size
            arrays[ext] = np.memmap(p, dtype=dt, mode="r") if size else np.zeros(0, dtype=dt)
        return cls(arrays)

    @classmethod
    def build(cls, texts: Iterable[tuple[str, str]], tempdir: str | os.PathLike) -> SegmentChars:
        """Build in memory from (folded title, folded body) per document (a segment without files)."""
        pool = CharPool(tempdir, run_limit=1 << 62)
        for t, b in texts:
            pool.add(t, b)
        parts: dict[str, list[bytes]] = {ext: [] for ext in EXTENSIONS}

        class _Buf:
            def __init__(self, ext: str):
                self.ext = ext

            def write(self, data: bytes) -> None:
                parts[self.ext].append(data)

            def close(self) -> None:
                pass

        pool.write(_Buf)
        dtypes = _DTYPES
        return cls({ext: np.frombuffer(b"".join(parts[ext]), dtype=dtypes[ext]) for ext in EXTENSIONS})

    def _index(self, key: int) -> int:
        i = int(np.searchsorted(self.keys, key))
        return i if i < len(self.keys) and int(self.keys[i]) == key else -1

    def count(self, i: int) -> int:
        """Postings of the key at index ``i``."""
        return int(self.offs[i + 1] - self.offs[i])

    def _deltas(self, s: int, e: int, i: int, j: int) -> np.ndarray:
        """The position deltas of postings ``s..e-1``, which lie in the keys at ``i..j-1``
        (low 16 bits, the wide keys' high bytes, the exceptions)."""
        d = self.lo[s:e].astype(np.int64)
        ho = self.hoffs
        if ho is not None:
            h0, h1 = int(ho[i]), int(ho[j])
            if h1 > h0:  # a wide key among them
                assert self.hi is not None
                if j == i + 1:  # one key, maybe a part of it
                    k0 = int(self.offs[i])
                    d += self.hi[h0 + s - k0: h0 + e - k0].astype(np.int64) << 16
                else:  # whole keys: their wide postings' high bytes are consecutive
                    wide = np.diff(np.asarray(ho[i:j + 1]).astype(np.int64)) > 0
                    counts = np.diff(np.asarray(self.offs[i:j + 1]).astype(np.int64))
                    d[np.repeat(wide, counts)] += self.hi[h0:h1].astype(np.int64) << 16
        a, b = _find(self.exc_idx, [s, e])
        if b > a:
            d[self.exc_idx[a:b].astype(np.int64) - s] += self.exc_hi[a:b].astype(np.int64) << 16
        return d

    def positions(self, i: int) -> np.ndarray:
        """Decode the sorted positions of the key at index ``i``."""
        s, e = int(self.offs[i]), int(self.offs[i + 1])
        d = self._deltas(s, e, i, i + 1)
        return np.cumsum(d, out=d)

    def _decode_range(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Decode the keys at indexes ``i..j-1`` at once: (per-posting key index - i, positions)."""
        s, e = int(self.offs[i]), int(self.offs[j])
        d = self._deltas(s, e, i, j)
        offs = np.asarray(self.offs[i:j + 1]).astype(np.int64)
        counts = np.diff(offs)
        which = np.repeat(np.arange(j - i), counts)
        c = np.cumsum(d, out=d)
        firsts = offs[:-1] - s
        # Each key's deltas start from 0: subtract what the keys before it added up to.
        before = np.where(firsts > 0, c[np.maximum(firsts - 1, 0)], 0)
        return which, c - before[which]

    def iter_chunks(self, size: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield every (key, position) pair in key order, about ``size`` at a time (all decoded)."""
        k = len(self.keys)
        i = 0
        while i < k:
            s = int(self.offs[i])
            j = int(_find(self.offs, s + size, side="right")) - 1
            j = min(max(j, i + 1), k)
            e = int(self.offs[j])
            if e - s > 2 * size:  # one key of more postings than a chunk: decoded a chunk at a time
                key = self.keys[i]
                carry = 0
                for x in range(s, e, size):
                    pos = self._decode_slice(x, min(e, x + size), carry, i)
                    carry = int(pos[-1])
                    yield np.full(len(pos), key, dtype=np.int64), pos
                    self._release()
                i = j
                continue
            which, pos = self._decode_range(i, j)
            yield np.asarray(self.keys[i:j])[which], pos
            self._release()  # a merge reads the whole segment: keep only the current chunk's pages
            i = j

    def _decode_slice(self, s: int, e: int, carry: int, i: int) -> np.ndarray:
        """Positions of postings ``s..e-1`` of the key at index ``i``, ``carry`` the position
        before ``s`` (0 at the key's first posting, whose delta is its position)."""
        d = self._deltas(s, e, i, i + 1)
        d[0] += carry
        return np.cumsum(d, out=d)

    def _release(self) -> None:
        """Drop this process's resident pages of the segment's maps (they stay in the page cache;
        a reader in another thread faults them in again)."""
        for arr in (self.keys, self.offs, self.lo, self.exc_idx, self.exc_hi, self.hi, self.hoffs):
            mm = getattr(arr, "_mmap", None)
            if mm is not None and hasattr(mm, "madvise"):
                mm.madvise(mmap.MADV_DONTNEED)

    def range_positions(self, cp: int, check: Callable[[], None]) -> np.ndarray:
        """Sorted positions of every key starting with code point ``cp`` (one character)."""
        a, b = (int(x) for x in np.searchsorted(self.keys, [cp << SHIFT, (cp + 1) << SHIFT]))
        if b <= a:
            return np.zeros(0, dtype=np.int64)
        out = []
        i = a
        while i < b:  # a common character: a few million postings at a time, checking the clock
            j = min(b, max(i + 1, int(_find(self.offs, int(self.offs[i]) + CHUNK, side="right")) - 1))
            out.append(self._decode_range(i, j)[1])
            check()
            i = j
        p = np.concatenate(out) if len(out) > 1 else out[0]
        p.sort()
        return p

    def matches(self, cps: np.ndarray, check: Callable[[], None]) -> np.ndarray:
        """Start positions of the squashed needle ``cps`` (code points, 0 = a break)."""
        m = len(cps)
        if m == 1:
            return self.range_positions(int(cps[0]), check)
        exact = []
        for j in range(m - 1):
            if cps[j]:
                i = self._index(int(cps[j]) << SHIFT | int(cps[j + 1]))
                if i < 0:
                    return np.zeros(0, dtype=np.int64)
                exact.append((self.count(i), j, i))
        exact.sort()
        _, j0, i0 = exact[0]
        cand = self.positions(i0) - j0
        for _, j, i in exact[1:]:
            if not len(cand):
                break
            check()
            cand = cand[_isin_sorted(cand + j, self.positions(i))]
        if len(cand) and not cps[m - 2]:  # the last character follows a break: any pair it starts
            cand = cand[_isin_sorted(cand + (m - 1), self.range_positions(int(cps[m - 1]), check))]
        return cand

    def _bucket_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(table, starts, body starts) for :meth:`doc_of`, built on first use: ``table[b]`` is
        the last article starting at or before position ``b << BUCKET_SHIFT`` (int32, 4 bytes a
        bucket: ~13 bytes an article), starts copied out of the map (read at random)."""
        got = self._buckets
        if got is None:
            starts = np.array(self.starts, dtype=np.int64)
            body = np.array(self.body_starts, dtype=np.int64)
            total = int(starts[-1]) if len(starts) else 0
            # an article is the last one started by bucket b from the first bucket whose first
            # position is not before its start: ceil(start / bucket) (empty articles: the last wins)
            first = (starts[:-1] + ((1 << BUCKET_SHIFT) - 1)) >> BUCKET_SHIFT
            nb = (total >> BUCKET_SHIFT) + 1
            table = (np.cumsum(np.bincount(first, minlength=nb)[:nb]) - 1).astype(np.int32)
            got = self._buckets = (table, starts, body)
        return got

    def doc_of(self, p: np.ndarray) -> np.ndarray:
        """Local document number (int64) of each sorted position: the bucket table's guess,
        then the positions of articles that start inside their bucket stepped past them (a few
        articles a bucket at most). Linear in the positions, where a binary search per
        position or per article cost 20-40 ms for a common pair at 500k articles."""
        if len(p) < 1024:
            return np.searchsorted(self.starts, p, side="right").astype(np.int64) - 1
        table, starts, _ = self._bucket_table()
        dd = table[p >> BUCKET_SHIFT].astype(np.int64)
        idx = np.flatnonzero(p >= starts[dd + 1])
        while len(idx):
            dd[idx] += 1
            idx = idx[p[idx] >= starts[dd[idx] + 1]]
        return dd

    def field_counts(self, cps: np.ndarray, check: Callable[[], None]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Local document numbers holding the needle (sorted), how often each holds it in its
        title, and how often in all (title and body): one positional intersection answers both
        (uint32 arrays, shared with the cache: not to be written to).

        Answers are cached per segment (segments never change), within CACHE_BYTES or
        CACHE_BYTES_PER_DOC per article, whichever is more."""
        key = cps.tobytes()
        got = self._cache.get(key)
        if got is not None:
            return got
        p = self.matches(cps, check)
        if not len(p):
            d = ct = ca = np.zeros(0, dtype=np.int64)
        else:
            dd = self.doc_of(p)  # non-decreasing: p is sorted
            first = np.flatnonzero(np.r_[True, dd[1:] != dd[:-1]])
            d = dd[first]
            ca = np.diff(np.r_[first, len(dd)])
            body = self._buckets[2] if self._buckets is not None else self.body_starts
            in_title = np.flatnonzero(p < body[dd])  # few: titles are short
            ct = np.bincount(np.searchsorted(first, in_title, side="right") - 1, minlength=len(first))
        # Kept in the narrowest type that holds them (documents uint32; counts mostly uint8 in
        # titles, uint16 in all: ~7 bytes a holder, not 24): at a million articles the cache
        # is what a warm query finds its common words in, and more of them fit.
        got = (d.astype(np.uint32), _narrow(ct), _narrow(ca))
        self._cache.put(key, got)
        return got

    def docs(self, cps: np.ndarray, check: Callable[[], None], title_only: bool = False,
             counts: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Local document numbers holding the needle (sorted), and how often each holds it."""
        d, ct, ca = self.field_counts(cps, check)
        if title_only:
            keep = ct > 0
            d, c = d[keep], ct[keep]
        else:
            c = ca
        return d, (c if counts else None)


_open_lock = threading.Lock()
_open: OrderedDict[tuple[str, str], SegmentChars] = OrderedDict()
_OPEN_MAX = 32  # opened segments kept for later snapshots (an evicted one is simply mapped again;
# a kept one holds its files' disk space after a merge deleted them, so keep this small)


def release_all() -> None:
    """Drop this process's resident pages of every open segment's maps (SegmentChars._release)."""
    with _open_lock:
        segs = list(_open.values())
    for seg in segs:
        try:
            seg._release()
        except (OSError, ValueError):
            pass


def open_segment(folder: Path, segid: str, rebuild: Callable[[], Iterable[tuple[str, str]]]) -> SegmentChars:
    """Return a segment's character index (cached per process: segments never change).

    A segment written without the files (Whoosh's own writer) is indexed in memory from its
    stored text, with a warning."""
    key = (str(folder), segid)
    with _open_lock:
        got = _open.get(key)
        if got is not None:
            _open.move_to_end(key)
            return got
    try:
        got = SegmentChars.open(folder, segid)
    except FileNotFoundError:
        log.warning("segment %s has no character index; building it in memory from stored text", segid)
        got = SegmentChars.build(rebuild(), folder)
    with _open_lock:
        _open[key] = got
        while len(_open) > _OPEN_MAX:
            _open.popitem(last=False)
    return got


class CharIndex:
    """The character index of one index snapshot: its segments with their document offsets."""

    def __init__(self, segments: list[tuple[SegmentChars, int]], n: int):
        self.segments = segments
        self.n = n

    @classmethod
    def of_reader(cls, reader: Any, folder: Path | None = None) -> CharIndex:
        """Open the character index of every segment of a Whoosh reader (files in ``folder``,
        by default the reader's storage folder)."""
        leaves = reader.leaf_readers() if hasattr(reader, "leaf_readers") else [(reader, 0)]
        segs = []
        for r, offset in leaves:
            seg = r.segment()
            if seg is None:
                continue

            def texts(r: Any = r) -> Iterator[tuple[str, str]]:
                for d in range(r.doc_count_all()):
                    f = r.stored_fields(d) or {}
                    yield fold_text(f.get("title") or ""), fold_text(f.get("body") or "")

            where = Path(r.storage().folder) if folder is None else folder
            segs.append((open_segment(where, seg.make_filename(""), texts), offset))
        return cls(segs, reader.doc_count_all())

    def _answers(self, text: str, check: Callable[[], None]
                 ) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """Each segment's offset and (cached) answer for ``text`` (SegmentChars.field_counts)."""
        u = needle_units(text)
        if u:
            cps = _codes(u)
            for seg, offset in self.segments:
                yield offset, seg.field_counts(cps, check)

    def field_counts(self, text: str, check: Callable[[], None] = lambda: None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Documents holding ``text`` (sorted), with how often in the title and in all."""
        parts = [(d.astype(np.int64) + offset, ct, ca) for offset, (d, ct, ca) in self._answers(text, check) if len(d)]
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        return tuple(np.concatenate([x[i] for x in parts]).astype(np.int64, copy=False) for i in range(3))

    def mask(self, text: str, check: Callable[[], None] = lambda: None, title_only: bool = False) -> np.ndarray:
        """Boolean mask over the snapshot's documents of those holding ``text``."""
        m = np.zeros(self.n, dtype=bool)
        for offset, (d, ct, _) in self._answers(text, check):  # marked where each segment lies
            m[offset:][d[ct > 0] if title_only else d] = True
        return m
