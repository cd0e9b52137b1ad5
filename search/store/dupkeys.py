"""Near-duplicate band keys beside each segment, not in Whoosh's term table.

Every article has up to 16 LSH band keys (:func:`search.dedup.band_keys`); an incremental run
looks up the indexed articles that share one with each new article. They used to be a Whoosh
``KEYWORD`` field: at 72k articles 1.15 M of the segment term table's 2 M terms, each with its
pickled inline postings (~170 MiB of the 293 MiB ``.trm``), and at a million articles ~11 M
terms the worker holds while it writes its term table. Here they are two flat arrays per
segment (``MAIN_<segid>.xdk/.xdd``, deleted with their segment like the character index):

* ``.xdk`` uint64 keys ``band << 32 | hash``, ascending;
* ``.xdd`` uint32 segment-local document numbers, ascending within a key.

12 bytes a key, written by :class:`BandKeyPool` (per band in temp files while the segment is
added, one band at a time sorted at the end: memory does not grow with the segment) and read by
:func:`candidates` by binary search on a memory map. A segment without them (written before,
or by Whoosh's own writer) is read from the old ``dupkeys`` field.
"""

from __future__ import annotations

import os
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EXTENSIONS", "BandKeyPool", "candidates", "key_text", "segment_keys"]

EXTENSIONS = (".xdk", ".xdd")
BANDS = 16
_HOLD = 1 << 18  # entries held per band before they go to the band's temp file


def key_text(key: int) -> str:
    """A ``band << 32 | hash`` key (:func:`search.dedup.band_key_ints`) as the old ``dupkeys``
    field spelt it (:func:`search.dedup.band_keys`: ``"3.1f2e9a0c"``)."""
    return f"{key >> 32:x}.{key & 0xFFFFFFFF:08x}"


class BandKeyPool:
    """The band keys of one segment being written."""

    def __init__(self, tempdir: str | os.PathLike):
        self.tempdir = Path(tempdir)
        self._h = [array("I") for _ in range(BANDS)]
        self._d = [array("I") for _ in range(BANDS)]
        self._files: list[Path | None] = [None] * BANDS

    def add(self, docnum: int, keys: Iterable[int]) -> None:
        """Add a document's keys (``band << 32 | hash``)."""
        for k in keys:
            b = k >> 32
            if not 0 <= b < BANDS:
                raise ValueError(f"band key {k:#x}: band {b} out of range")
            self._h[b].append(k & 0xFFFFFFFF)
            self._d[b].append(docnum)
            if len(self._h[b]) >= _HOLD:
                self._spill(b)

    def add_arrays(self, keys: np.ndarray, docs: np.ndarray) -> None:
        """Add many (key, document) pairs at once (a merged segment's, already renumbered)."""
        keys = np.asarray(keys, dtype=np.uint64)
        docs = np.asarray(docs, dtype=np.uint32)
        bands = (keys >> np.uint64(32)).astype(np.int64)
        if len(bands) and (bands.min() < 0 or bands.max() >= BANDS):
            raise ValueError("band key out of range")
        for b in np.unique(bands):
            sel = bands == b
            self._h[b].frombytes((keys[sel] & np.uint64(0xFFFFFFFF)).astype(np.uint32).tobytes())
            self._d[b].frombytes(docs[sel].tobytes())
            if len(self._h[b]) >= _HOLD:
                self._spill(int(b))

    def _spill(self, b: int) -> None:
        path = self._files[b]
        if path is None:
            path = self._files[b] = self.tempdir / f"xdk-{os.getpid()}-{id(self):x}-{b}"
        with open(path, "ab") as f:
            rec = np.empty((len(self._h[b]), 2), dtype=np.uint32)
            rec[:, 0] = np.frombuffer(self._h[b], dtype=np.uint32)
            rec[:, 1] = np.frombuffer(self._d[b], dtype=np.uint32)
            f.write(rec.tobytes())
        self._h[b] = array("I")
        self._d[b] = array("I")

    def write(self, create: Callable[[str], Any]) -> None:
        """Write the segment's files through ``create(extension) -> binary file``."""
        files = {ext: create(ext) for ext in EXTENSIONS}
        try:
            for b in range(BANDS):
                parts_h = [np.frombuffer(self._h[b], dtype=np.uint32)]
                parts_d = [np.frombuffer(self._d[b], dtype=np.uint32)]
                path = self._files[b]
                if path is not None:
                    rec = np.fromfile(path, dtype=np.uint32).reshape(-1, 2)
                    parts_h.insert(0, rec[:, 0])
                    parts_d.insert(0, rec[:, 1])
                h = np.concatenate(parts_h)
                d = np.concatenate(parts_d)
                if not len(h):
                    continue
                order = np.lexsort((d, h))  # by hash, then document
                keys = (np.uint64(b) << np.uint64(32)) | h[order].astype(np.uint64)
                files[".xdk"].write(keys.tobytes())
                files[".xdd"].write(d[order].tobytes())
                del h, d, order, keys
        finally:
            for f in files.values():
                f.close()
            self.cleanup()

    def cleanup(self) -> None:
        """Remove the temp files and forget the keys."""
        for i, path in enumerate(self._files):
            if path is not None:
                try:
                    path.unlink()
                except OSError:
                    pass
                self._files[i] = None
        self._h = [array("I") for _ in range(BANDS)]
        self._d = [array("I") for _ in range(BANDS)]


# ---------------------------------------------------------------- reading

_open: OrderedDict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_open_lock = threading.Lock()
_OPEN_MAX = 32


def segment_keys(reader: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(keys, documents) of a Whoosh segment reader's segment, memory-mapped; None without them."""
    seg = reader.segment()
    if seg is None:
        return None
    folder = str(reader.storage().folder)
    segname = seg.make_filename("")
    key = (folder, segname)
    with _open_lock:
        got = _open.get(key)
        if got is not None:
            _open.move_to_end(key)
            return got
    arrays = []
    for ext, dtype in zip(EXTENSIONS, (np.uint64, np.uint32)):
        path = Path(folder) / (segname + ext)
        if not path.exists():
            return None
        arrays.append(np.memmap(path, dtype=dtype, mode="r") if os.path.getsize(path) else np.zeros(0, dtype))
    keys, docs = arrays
    if len(keys) != len(docs):
        raise ValueError(f"segment {segname}: band key files do not agree")
    with _open_lock:
        _open[key] = (keys, docs)
        while len(_open) > _OPEN_MAX:
            _open.popitem(last=False)
    return keys, docs


def candidates(searcher: Any, keys: list[int], limit: int = 200) -> list[int]:
    """The live documents (searcher-wide numbers, ascending, at most ``limit``) sharing a band
    key (``band << 32 | hash``)."""
    if not keys:
        return []
    ints = np.array(sorted(set(keys)), dtype=np.uint64)
    out: list[int] = []
    for reader, offset in searcher.reader().leaf_readers():
        arrays = segment_keys(reader)
        if arrays is None:  # an older segment: the band keys are its dupkeys terms
            found: set[int] = set()
            for k in map(key_text, keys):
                if ("dupkeys", k) in reader:
                    found.update(reader.postings("dupkeys", k).all_ids())
            ds = sorted(d for d in found if not reader.is_deleted(d))
        else:
            ks, dd = arrays
            lo = np.searchsorted(ks, ints, side="left")
            hi = np.searchsorted(ks, ints, side="right")
            if not (hi > lo).any():
                continue
            ds = np.unique(np.concatenate([dd[a:b] for a, b in zip(lo, hi) if b > a])).tolist()
            if reader.has_deletions():
                ds = [d for d in ds if not reader.is_deleted(d)]
        out.extend(offset + d for d in ds)
        if len(out) >= limit:
            break
    return out[:limit]
