"""The per-term state of a segment's term index file, kept on disk while the segment is written.

Whoosh's ``OrderedHashWriter`` (the ``.trm`` file) keeps two things per term in memory until it
closes: a ``(hash, position)`` tuple in one of 256 bucket lists (the hash tables it writes at
the end) and the term's position in a ``GrowableArray`` (the ordered index written after
them). A tuple of two Python ints costs ~130 bytes, so a worker segment of 500,000 articles
(~11 million terms: most are the near-duplicate band keys, one per band per article) held
1.4 GB for it alone: the largest part of a writer's memory that grew with the archive.

:class:`SpilledBuckets` and :class:`SpilledIndex` stand in for those two objects. They keep a
small buffer and append the rest to temporary files, and give back, at close, exactly what
Whoosh's writer would have written: each bucket's entries in the order they were added (the
order decides where linear probing places a collision) and the index array in the type
``GrowableArray`` would have grown to. tests/test_segwriter.py compares the files byte for byte.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SpilledBuckets", "SpilledIndex", "spill_term_index"]

_FLUSH = 1 << 18  # entries buffered before they go to the bucket files


class SpilledBuckets:
    """256 lists of ``(hash, position)``: iterated like ``HashWriter.buckets`` when it closes."""

    def __init__(self, tempdir: Path, initial: list[list[tuple[int, int]]] | None = None):
        self._dir = tempdir
        self._tag = f"xterms-{os.getpid()}-{id(self):x}"
        self._hs = [array("I") for _ in range(256)]
        self._ps = [array("q") for _ in range(256)]
        self._held = 0
        self._on_disk = [0] * 256
        for entries in initial or ():
            for h, p in entries:
                self.add(h, p)

    def _path(self, b: int, kind: str) -> Path:
        return self._dir / f"{self._tag}-{b:02x}.{kind}"

    def add(self, h: int, pos: int) -> None:
        """Add one key's 32-bit hash and the file position of its record."""
        b = h & 255
        self._hs[b].append(h)
        self._ps[b].append(pos)
        self._held += 1
        if self._held >= _FLUSH:
            self._flush()

    def _flush(self) -> None:
        for b in range(256):
            hs = self._hs[b]
            if not hs:
                continue
            with open(self._path(b, "h"), "ab") as f:
                hs.tofile(f)
            with open(self._path(b, "p"), "ab") as f:
                self._ps[b].tofile(f)
            self._on_disk[b] += len(hs)
            self._hs[b] = array("I")
            self._ps[b] = array("q")
        self._held = 0

    def __len__(self) -> int:
        return 256

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        """Each bucket's entries in the order they were added; its files are removed once read."""
        for b in range(256):
            hs: Any = self._hs[b]
            ps: Any = self._ps[b]
            if self._on_disk[b]:
                hs = np.concatenate([np.fromfile(self._path(b, "h"), dtype=np.uint32), np.asarray(hs, np.uint32)])
                ps = np.concatenate([np.fromfile(self._path(b, "p"), dtype=np.int64), np.asarray(ps, np.int64)])
                hs, ps = hs.tolist(), ps.tolist()
                self._remove(b)
            self._hs[b] = array("I")
            self._ps[b] = array("q")
            yield list(zip(hs, ps))

    def _remove(self, b: int) -> None:
        for kind in ("h", "p"):
            try:
                self._path(b, kind).unlink()
            except OSError:
                pass
        self._on_disk[b] = 0

    def cleanup(self) -> None:
        """Remove whatever bucket files are left (a cancelled or failed write)."""
        for b in range(256):
            self._remove(b)


# GrowableArray's types as it widens (whoosh.util.numlists), and their big-endian numpy forms.
_TYPES = (("H", 2 ** 16, ">u2"), ("i", 2 ** 31, ">i4"), ("I", 2 ** 32, ">u4"), ("q", 2 ** 63, ">i8"))


class SpilledIndex:
    """``GrowableArray("H")`` of increasing non-negative positions, appended to a file."""

    def __init__(self, tempdir: Path, initial: Any = ()):
        self._path = tempdir / f"xtindex-{os.getpid()}-{id(self):x}"
        self._buf = array("q")
        self._n = 0
        self._max = 0
        self._file: Any = None
        for v in initial:
            self.append(v)

    def append(self, n: int) -> None:
        self._buf.append(n)
        if n > self._max:
            self._max = n
        if len(self._buf) >= _FLUSH:
            self._flush()

    def _flush(self) -> None:
        if self._file is None:
            self._file = open(self._path, "wb")
        self._buf.tofile(self._file)
        self._n += len(self._buf)
        self._buf = array("q")

    def __len__(self) -> int:
        return self._n + len(self._buf)

    @property
    def typecode(self) -> str:
        for code, limit, _ in _TYPES:
            if self._max < limit:
                return code
        raise OverflowError(f"{self._max} is too big to fit in an array")

    def to_file(self, dbfile: Any) -> None:
        """Write the positions as ``GrowableArray.to_file`` does (big-endian, its final type)."""
        dtype = next(d for code, _, d in _TYPES if code == self.typecode)
        if self._file is not None:
            self._file.close()
            self._file = None
            with open(self._path, "rb") as f:
                while True:
                    chunk = np.fromfile(f, dtype=np.int64, count=_FLUSH)
                    if not len(chunk):
                        break
                    dbfile.write(chunk.astype(dtype).tobytes())
        if len(self._buf):
            dbfile.write(np.asarray(self._buf, dtype=np.int64).astype(dtype).tobytes())
        self.cleanup()

    def cleanup(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        try:
            self._path.unlink()
        except OSError:
            pass
        self._buf = array("q")


def spill_term_index(tindex: Any, tempdir: str | os.PathLike) -> tuple[SpilledBuckets, SpilledIndex]:
    """Replace an ``OrderedHashWriter``'s buckets and index by disk-backed ones (idempotent)."""
    d = Path(tempdir)
    if not isinstance(tindex.buckets, SpilledBuckets):
        tindex.buckets = SpilledBuckets(d, tindex.buckets)
    if not isinstance(tindex.index, SpilledIndex):
        tindex.index = SpilledIndex(d, tindex.index)
    return tindex.buckets, tindex.index
