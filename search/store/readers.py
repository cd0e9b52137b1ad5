"""Reading a Whoosh index below its matcher API: field lengths and postings.

Whoosh's matchers walk postings one document at a time in Python; on the full corpus a pair
of common words took ~0.5 s. :func:`term_postings` reads a term's postings block by block
into numpy arrays instead (the ranking caches them per snapshot). Field lengths are read in
one place, :func:`field_lengths`, for the writers (lists, as Whoosh's own writer sees them)
and for the ranking (:func:`length_array`, float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
from whoosh.reading import TermNotFound
from whoosh.util.numeric import byte_to_length

from .flatpostings import flat_postings

__all__ = ["FieldLengths", "field_lengths", "length_array", "term_postings", "locate", "read_located",
           "block_arrays"]

# A stored length byte decoded as Whoosh does (byte 0: no length).
_LENGTHS: list[int | None] = [byte_to_length(b) if b else None for b in range(256)]
_LENGTHS_F32 = np.array([x or 0 for x in _LENGTHS], dtype=np.float32)


def _length_column(pdr: Any, fieldname: str) -> Any:
    """The one-byte lengths column of a field in a per-document reader, or None."""
    return None if pdr is None else pdr._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)


def field_lengths(pdr: Any, fieldname: str) -> list[int | None] | None:
    """Per-document stored lengths of a field as Whoosh's writer sees them (None for byte 0)."""
    col = _length_column(pdr, fieldname)
    return None if col is None else [_LENGTHS[b] for b in col]


class FieldLengths:
    """Per-document field lengths for the postings writer, read once per field as a list.

    Whoosh 2.7's ``add_postings`` asks the per-document reader for every posting's field
    length through a column lookup; on Chinese news (~300 postings per article) that
    was about a tenth of indexing time in a cProfile run. Same values, one list per field.
    """

    def __init__(self, pdr: Any):
        self._pdr = pdr
        self._cache: dict[str, list[Any] | None] = {}

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> Any:
        """Return the stored length of ``fieldname`` in ``docnum`` (as Whoosh does)."""
        if fieldname not in self._cache:
            self._cache[fieldname] = field_lengths(self._pdr, fieldname)
        arr = self._cache[fieldname]
        return default if arr is None else arr[docnum]


def length_array(reader: Any, field: str, n: int) -> np.ndarray:
    """Per-document field length (float32, 0 for none) over a reader's segments, as Whoosh
    stored it (one byte, approximate)."""
    out = np.zeros(n, dtype=np.float32)
    for leaf, base in reader.leaf_readers():
        col = _length_column(getattr(leaf, "_perdoc", None), field)
        if col is None:
            continue
        raw = np.fromiter(col, dtype=np.uint8, count=leaf.doc_count_all())
        out[base: base + len(raw)] = _LENGTHS_F32[raw]
    return out


def block_arrays(m: Any) -> tuple[np.ndarray, np.ndarray]:
    """(segment-local docnums int64, weights float32) of a Whoosh leaf matcher, block by block."""
    m = getattr(m, "child", m)  # deleted documents are masked by `live` instead
    ids_parts: list[np.ndarray] = []
    w_parts: list[np.ndarray] = []
    if hasattr(m, "_read_data") and hasattr(m, "_next_block"):
        while not m._atend and m._blocklength:
            if m._data is None:
                m._read_data()
            raw_ids, raw_w = m._data[0], m._data[1]
            ids = np.cumsum(np.asarray(raw_ids, dtype=np.int64)) if not m._byteids else np.asarray(raw_ids, dtype=np.int64)
            cnt = len(ids)
            if raw_w is None:
                w = np.ones(cnt, dtype=np.float32)
            elif isinstance(raw_w, float):
                w = np.full(cnt, raw_w, dtype=np.float32)
            else:
                w = np.asarray(raw_w, dtype=np.float32)
            ids_parts.append(ids)
            w_parts.append(w)
            if m._lastblock:
                break
            m._next_block()
    else:
        ids_l, ws = [], []
        while m.is_active():
            ids_l.append(m.id())
            ws.append(m.weight())
            m.next()
        ids_parts.append(np.asarray(ids_l, dtype=np.int64))
        w_parts.append(np.asarray(ws, dtype=np.float32))
    if not ids_parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    return np.concatenate(ids_parts), np.concatenate(w_parts)


# Where a term is, per segment: (segment number, document base, flat postings offset or -1 to
# read Whoosh's blocks), and its document frequency summed over segments.
Located = tuple[int, tuple[tuple[int, int, int], ...]]


def locate(reader: Any, field: str, text: str) -> Located:
    """Look a term up in every segment's term table once: (document frequency, where).

    The lookups (two hash probes per segment: membership, then the term info) are what a
    word's 40 longer readings cost when their postings are read again after the cache let
    them go; :class:`search.ranking.Postings` keeps these small tuples per snapshot."""
    df = 0
    where: list[tuple[int, int, int]] = []
    for i, (leaf, base) in enumerate(reader.leaf_readers()):
        try:
            ti = leaf.term_info(field, text)
        except TermNotFound:  # absent here, or a field this segment lacks
            continue
        df += ti.doc_frequency()
        off = -1
        if ti._inlined is None and ti._offset is not None and flat_postings(leaf) is not None:
            off = int(ti._offset)
        where.append((i, base, off))
    return df, tuple(where)


def doc_dtype(n: int) -> type:
    """The type of the document numbers of a snapshot of ``n`` documents: int32 below 2**31
    (what the engine caches is then 8 bytes a posting, not 12), else int64."""
    return np.int32 if n < 1 << 31 else np.int64


def read_located(reader: Any, field: str, text: str, located: Located) -> tuple[np.ndarray, np.ndarray]:
    """Return (global docnums, :func:`doc_dtype`; weights float32) of a located term (see
    :func:`term_postings`)."""
    ids_parts: list[np.ndarray] = []
    w_parts: list[np.ndarray] = []
    dt = doc_dtype(reader.doc_count_all())
    leaves = reader.leaf_readers() if located[1] else ()
    for i, base, off in located[1]:
        leaf = leaves[i][0]
        if off >= 0:
            fp = flat_postings(leaf)
            got = fp.get(off) if fp is not None else None
            if got is not None:
                ids_parts.append(got[0].astype(dt) + dt(base))
                w_parts.append(got[1])
                continue
        try:
            m = leaf.postings(field, text)
        except TermNotFound:
            continue
        ids, w = block_arrays(m)
        ids_parts.append(ids.astype(dt) + dt(base))
        w_parts.append(w)
    if not ids_parts:
        return np.zeros(0, dtype=dt), np.zeros(0, dtype=np.float32)
    if len(ids_parts) == 1:
        return ids_parts[0], np.asarray(w_parts[0])
    return np.concatenate(ids_parts), np.concatenate(w_parts)


def term_postings(reader: Any, field: str, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (global docnums (int32 below 2**31 documents), weights float32) of a term, deleted documents included;
    empty arrays when absent. A segment's long posting lists come from its flat postings
    (search.store.flatpostings) when it has them, else from Whoosh's blocks."""
    return read_located(reader, field, text, locate(reader, field, text))
