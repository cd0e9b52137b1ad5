"""Word postings as flat arrays beside each segment, read by memory-mapping instead of unpickling.

Whoosh keeps a term's postings in blocks of 128: each a zlib-compressed pickle of the
document deltas, weights and encoded positions. The ranking needs only documents and weights,
but reading them means unpickling every block, positions included, and Whoosh builds a
matcher per term and segment (a profile of the 240 benchmark queries at 72k: half of a
first-pass search was ``term_postings``). At a million articles a common word's 500,000
postings per segment cost that on every query that has not seen the word yet.

So the segment writer also writes, for every term whose postings are not inlined in the term
table (``INLINE_LIMIT`` documents or more), the same documents and weights as flat arrays
(``MAIN_<segid>.xp?``, deleted with their segment like the character index):

* ``.xpi`` uint32, segment-local document numbers, term after term (ascending within a term);
* ``.xpw`` float32, their weights (what Whoosh stores, so scores are bit-identical);
* ``.xpk`` int64: ``n``, then the ``n`` terms' offsets in Whoosh's postings file (``.pst``:
  the key, found through the term table's own lookup), then ``n + 1`` starts into the arrays.

A segment without the files (the stock writer, an index from before) is read as before;
:func:`backfill` writes them for such segments from Whoosh's own postings.
"""

from __future__ import annotations

import logging
import os
import threading
from array import array
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EXTENSIONS", "FlatPostingsWriter", "FlatPostings", "flat_postings", "backfill"]

log = logging.getLogger(__name__)

EXTENSIONS = (".xpk", ".xpi", ".xpw")


class FlatPostingsWriter:
    """Collects the flat postings of one segment's long terms while ``write_postings`` runs."""

    def __init__(self, create: Any):
        self._files = {ext: create(ext) for ext in EXTENSIONS}
        self._keys = array("q")
        self._starts = array("q", [0])

    def add(self, pst_offset: int, ids: list[int], weights: Any) -> None:
        """Add a term's documents and weights (``weights``: a float sequence or ``array('f')``)."""
        if self._keys and pst_offset <= self._keys[-1]:
            raise ValueError(f"postings offsets must increase: {self._keys[-1]}..{pst_offset}")
        self._files[".xpi"].write(array("I", ids).tobytes())
        self._files[".xpw"].write((weights if isinstance(weights, array) else array("f", weights)).tobytes())
        self._keys.append(pst_offset)
        self._starts.append(self._starts[-1] + len(ids))

    def close(self) -> None:
        head = array("q", [len(self._keys)])
        self._files[".xpk"].write(head.tobytes() + self._keys.tobytes() + self._starts.tobytes())
        for f in self._files.values():
            f.close()

    def cancel(self) -> None:
        for f in self._files.values():
            try:
                f.close()
            except OSError:
                pass


class FlatPostings:
    """One segment's flat postings, memory-mapped (or over the pinned commit's maps)."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        k = arrays[".xpk"]
        n = int(k[0])
        self.keys = k[1:1 + n]
        self.starts = k[1 + n:2 + 2 * n]
        self.ids = arrays[".xpi"]
        self.weights = arrays[".xpw"]
        if len(self.starts) != n + 1 or int(self.starts[-1]) != len(self.ids) or len(self.ids) != len(self.weights):
            raise ValueError("flat postings files do not agree")

    def get(self, pst_offset: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(uint32 documents, float32 weights) of the term at that postings offset, or None."""
        i = int(np.searchsorted(self.keys, pst_offset))
        if i >= len(self.keys) or int(self.keys[i]) != pst_offset:
            return None
        a, b = int(self.starts[i]), int(self.starts[i + 1])
        return self.ids[a:b], self.weights[a:b]


_DTYPES = {".xpk": np.int64, ".xpi": np.uint32, ".xpw": np.float32}
_open: OrderedDict[tuple[str, str], FlatPostings] = OrderedDict()
_open_lock = threading.Lock()
_OPEN_MAX = 32  # as search.chars: a kept segment holds its files' disk space after a merge deleted them


def _load(storage: Any, segname: str) -> FlatPostings | None:
    maps = getattr(storage, "_maps", None)
    arrays = {}
    for ext in EXTENSIONS:
        name = segname + ext
        if maps is not None and name in maps:  # a pinned commit: its own maps
            buf = maps[name]
            arrays[ext] = np.frombuffer(buf, dtype=_DTYPES[ext]) if len(buf) else np.zeros(0, _DTYPES[ext])
            continue
        path = Path(storage.folder) / name
        if not path.exists():
            return None
        arrays[ext] = (np.memmap(path, dtype=_DTYPES[ext], mode="r") if os.path.getsize(path)
                       else np.zeros(0, _DTYPES[ext]))
    try:
        return FlatPostings(arrays)
    except (ValueError, IndexError) as e:
        log.warning("segment %s: flat postings unreadable (%s); reading Whoosh's postings", segname, e)
        return None


def flat_postings(leaf: Any) -> FlatPostings | None:
    """The flat postings of a Whoosh segment reader's segment, or None.

    Kept per process by folder and segment (a segment's files never change); a segment found
    without them is looked for again next time, so a later ``xunwen upgrade`` is seen by the
    next commit's snapshot."""
    seg = leaf.segment()
    if seg is None:
        return None
    storage = leaf.storage()
    segname = seg.make_filename("")
    key = (str(getattr(storage, "folder", "")), segname)
    with _open_lock:
        got = _open.get(key)
        if got is not None:
            _open.move_to_end(key)
            return got
    got = _load(storage, segname)
    if got is not None:
        with _open_lock:
            _open[key] = got
            while len(_open) > _OPEN_MAX:
                _open.popitem(last=False)
    return got


def backfill(gen: str | os.PathLike, progress: Any = None) -> int:
    """Write flat postings for the segments of a generation that have none; return how many.

    Each segment's files are written under temporary names and renamed into place, so a
    reader sees them whole or not at all (and a reader opened before does not look again)."""
    from whoosh import index as windex

    from .readers import block_arrays

    gen = Path(gen)
    ix = windex.open_dir(str(gen))
    done = 0
    with ix.reader() as r:
        leaves = r.leaf_readers() if hasattr(r, "leaf_readers") else [(r, 0)]
        for leaf, _base in leaves:
            segname = leaf.segment().make_filename("")
            if all((gen / (segname + ext)).exists() for ext in EXTENSIONS):
                continue
            tmp = {ext: gen / f".{segname}{ext}.tmp" for ext in EXTENSIONS}
            w = FlatPostingsWriter(lambda ext, tmp=tmp: open(tmp[ext], "wb"))
            try:
                terms = leaf._terms  # W3TermsReader: (field, text) keys in term order
                n = 0
                for fieldname, text in terms.terms():
                    ti = terms.term_info(fieldname, text)
                    if ti._inlined is not None or ti._offset is None:
                        continue
                    ids, ws = block_arrays(terms.matcher(fieldname, text, leaf.schema[fieldname].format))
                    w.add(ti._offset, ids.astype(np.uint32).tolist(), array("f", ws.astype(np.float32).tobytes()))
                    n += 1
                    if progress is not None and not n % 10000:
                        progress(segname, n)
                w.close()
            except BaseException:
                w.cancel()
                for p in tmp.values():
                    p.unlink(missing_ok=True)
                raise
            for ext, p in tmp.items():
                os.replace(p, gen / (segname + ext))
            done += 1
    return done
