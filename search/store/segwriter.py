"""A Whoosh segment writer that keeps postings per term instead of in Whoosh's PostingPool.

Whoosh 2.7.4's ``SegmentWriter`` sends every posting through a ``PostingPool``: one tuple per
posting, marshalled to temporary run files, externally sorted, read back and handed one by one
to the codec's ``FieldWriter.add``, which keeps block statistics per posting. On Chinese news
(~290 postings per article) that was most of the indexing time after segmentation.

:class:`FastSegmentWriter` keeps, per field, a dict from term bytes to a flat list
``[docnum, weight, value, docnum, weight, value, ...]``. Documents arrive in docnum order, so
each list is already sorted; committing sorts only the distinct terms and writes each term's
posting list with whole-list operations (slices, ``sum`` over an ``array('f')``, one pickle and
one zlib call per block), into the same files Whoosh's ``W3FieldWriter`` creates. The bytes
written are exactly those of Whoosh's own ``W3PostingsWriter``/``W3TermInfo``/
``OrderedHashWriter`` (tests/test_segwriter.py compares the files of both writers), so stock
readers read the index and the schema version is unchanged.

Memory stays bounded as before: when the estimated size of the in-memory lists passes
``limitmb``, they are written to a sorted run file (one marshalled record per term) and the
commit merges the runs term by term (a run's postings all precede the next run's).

:class:`FastMpWriter` is Whoosh's multi-process writer (``multisegment``: one segment per
worker) with these writers in the workers. Title and body can arrive already folded (the main
process folds them for region tagging and near-duplicate signatures) in ``_folded_<field>``
keyword arguments, which Whoosh's own writer ignores.
"""

from __future__ import annotations

import gc
import heapq
import marshal
import queue
import zlib
from array import array
from hashlib import md5
from pickle import dump, dumps
from typing import Any

from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC, W3Codec, W3TermInfo
from whoosh.filedb.filetables import _lengths as _HASH_LENGTHS
from whoosh.formats import Positions
from whoosh.multiproc import MpWriter, SubWriterTask
from whoosh.system import pack_int, pack_long, pack_uint, pack_ushort
from whoosh.util import random_name
from whoosh.util.numeric import length_to_byte
from whoosh.writing import SegmentWriter

from ..analysis import term_positions
from ..chars import CharPool
from ..errors import IndexWriteFailed
from ..normalize import fold
from ..schema import JiebaText
from .compat import install
from .dupkeys import BandKeyPool, segment_keys
from .flatpostings import FlatPostingsWriter
from .readers import field_lengths
from .termindex import SpilledBuckets, SpilledIndex, spill_term_index

__all__ = ["FastSegmentWriter", "FastMpWriter", "TermPool", "FOLDED_PREFIX"]

FOLDED_PREFIX = "_folded_"
DUPKEYS = "_dupkeys"  # an article's near-duplicate band keys, integers (search.store.dupkeys)
_TERMINFO = W3TermInfo._struct
_PACK_TERMINFO = _TERMINFO.pack
_PACK_HASH_LENGTHS = _HASH_LENGTHS.pack
# Bytes held per posting (three list slots, over-allocation) and per new term (key, dict entry,
# list header), calibrated on RSS growth over 10k corpus articles: used to decide when to spill.
_POSTING_BYTES = 38
_TERM_BYTES = 240
_RUN_CHUNK = 2048  # terms per marshalled record of a run file, at most
# Postings per record, at most (a term with more is a record of its own). When the runs are
# merged every run has one record in memory, and all runs are in the same key range at the
# same time (their terms are alike): records of 2,048 common words (~50k postings, ~2.5 MB as
# Python objects) times the ~110 runs of a 508k-article worker segment were the worker's
# ~0.5 GB peak at the end of a 1M build. 8k postings keep a run's share near 0.4 MB.
_RUN_CHUNK_POSTINGS = 8192


# ---------------------------------------------------------------- in-memory postings


class TermPool:
    """Postings of one segment: ``fields[name][term bytes]`` = flat ``[doc, weight, value, ...]``."""

    def __init__(self, tempstore: Any, limitmb: float = 128, strfields: frozenset[str] = frozenset()):
        self.tempstore = tempstore
        # Fields whose terms are kept as str (encoded once per term when written): sorting str
        # by code point is sorting their UTF-8 bytes.
        self.strfields = strfields
        self.limit = int(limitmb * 1024 * 1024)
        self.fields: dict[str, dict[bytes, list]] = {}
        self.fieldnames: set[str] = set()
        self.size = 0
        self.runs: list[str] = []
        # Postings that follow every held and spilled one (merged segments'), read when the
        # segment is written: ``(fieldname, term, flat postings)`` in (field, term) order.
        self.later: list[Any] = []

    def terms(self, fieldname: str) -> dict[bytes, list]:
        """Return the term dict of a field (created on first use)."""
        d = self.fields.get(fieldname)
        if d is None:
            d = self.fields[fieldname] = {}
            self.fieldnames.add(fieldname)
        return d

    def add(self, item: tuple) -> None:
        """Add one ``(fieldname, tbytes, docnum, weight, vbytes)`` posting (Whoosh's pool API)."""
        fieldname, tbytes, docnum, weight, vbytes = item
        if fieldname in self.strfields:
            tbytes = tbytes.decode("utf-8")
        d = self.terms(fieldname)
        lst = d.get(tbytes)
        if lst is None:
            d[tbytes] = [docnum, weight, vbytes]
            self.size += _TERM_BYTES
        else:
            lst += (docnum, weight, vbytes)
            self.size += _POSTING_BYTES
        if vbytes:
            self.size += len(vbytes) + 33

    def _sorted_memory(self):
        for fieldname in sorted(self.fields):
            terms = self.fields[fieldname]
            for tbytes in sorted(terms):
                yield fieldname, tbytes, terms[tbytes]

    def spill(self) -> None:
        """Write the in-memory postings, sorted by (field, term), to a new run file."""
        if not self.fields:
            return
        name = f"{random_name()}.xrun"
        with self.tempstore.create_file(name).raw_file() as f:
            chunk: list = []
            items = 0
            cap = 3 * _RUN_CHUNK_POSTINGS
            for rec in self._sorted_memory():
                n = len(rec[2])
                if chunk and items + n > cap:
                    marshal.dump(chunk, f)
                    chunk, items = [], 0
                chunk.append(rec)
                items += n
                if len(chunk) >= _RUN_CHUNK:
                    marshal.dump(chunk, f)
                    chunk, items = [], 0
            if chunk:
                marshal.dump(chunk, f)
        self.runs.append(name)
        self.fields = {}
        self.size = 0

    def _read_run(self, name: str):
        with self.tempstore.open_file(name).raw_file() as f:
            while True:
                try:
                    chunk = marshal.load(f)
                except EOFError:
                    break
                yield from chunk
        self.tempstore.delete_file(name)

    def iter_terms(self):
        """Yield ``(fieldname, tbytes, flat postings)`` in (field, term) order, runs merged."""
        strfields = self.strfields
        for fieldname, term, lst in self._iter_merged():
            yield fieldname, term.encode("utf-8") if fieldname in strfields else term, lst

    def _iter_merged(self):
        if not self.runs and not self.later:
            yield from self._sorted_memory()
            return
        # Runs are chronological and every posting of a run precedes the next run's (and the
        # merged segments' follow them all), so concatenating a term's lists in source order
        # keeps docnums increasing; heapq.merge breaks ties by source order.
        sources = [self._read_run(r) for r in self.runs] + [self._sorted_memory()] + self.later
        self.later = []
        cur_key = None
        cur: list | None = None
        for fieldname, tbytes, lst in heapq.merge(*sources, key=lambda r: (r[0], r[1])):
            key = (fieldname, tbytes)
            if key == cur_key:
                cur.extend(lst)
            else:
                if cur is not None:
                    yield cur_key[0], cur_key[1], cur
                cur_key, cur = key, lst
        if cur is not None:
            yield cur_key[0], cur_key[1], cur
        self.runs = []

    def cleanup(self) -> None:
        """Remove run files and forget the postings (cancel, or after the segment is written)."""
        for name in self.runs:
            try:
                self.tempstore.delete_file(name)
            except OSError:
                pass
        self.runs = []
        self.later = []
        self.fields = {}
        self.size = 0


# ---------------------------------------------------------------- writing a segment's postings


def _length_range(lens: list | None, ids: list[int]) -> tuple[int | None, int]:
    """Shortest (None if none) and longest non-zero stored field length of some documents."""
    if lens is None:
        return None, 0
    ls = [x for x in map(lens.__getitem__, ids) if x]
    return (min(ls), max(ls)) if ls else (None, 0)


def write_postings(fieldwriter: Any, schema: Any, pdr: Any, items: Any, codec: W3Codec,
                   tempdir: str | None = None, flat_out: FlatPostingsWriter | None = None) -> None:
    """Write ``(fieldname, tbytes, flat postings)`` in order through a ``W3FieldWriter``'s files.

    Produces the bytes of ``W3FieldWriter.add_postings`` fed the same postings one by one:
    posting lists of fewer than ``inlinelimit`` documents inline in the term entry, longer
    ones in blocks of ``blocklimit`` (pickled, zlib-compressed), term entries in the ordered
    hash file. With ``tempdir``, the term index's per-term hashes and positions wait there
    instead of in memory (:mod:`search.store.termindex`); with ``flat_out``, the long posting
    lists are also written there as flat arrays (:mod:`search.store.flatpostings`).
    """
    blocklimit = codec._blocklimit
    comp = codec._compression
    inlinelimit = codec._inlinelimit
    step = 3 * blocklimit
    postfile = fieldwriter._postfile
    tindex = fieldwriter._tindex
    tfile = tindex.dbfile
    if tindex.hashtype == 0:
        def hashfn(key: bytes) -> int:
            return int.from_bytes(md5(key).digest()[12:], "big")
    else:
        hashfn = tindex.hashfn
    if tempdir is not None:
        spill_term_index(tindex, tempdir)
    buckets = tindex.buckets
    if isinstance(buckets, SpilledBuckets):
        bucket_add = buckets.add
    else:
        def bucket_add(h: int, pos: int) -> None:
            buckets[h & 255].append((h, pos))
    index_append = tindex.index.append
    lastkey = tindex.lastkey
    ppos = postfile.tell()
    tpos = tfile.tell()
    pwrite = postfile.write
    twrite = tfile.write
    lb = length_to_byte

    lastfn = None
    prefix = b""
    lens: list | None = None
    fixedsize: int | None = None
    for fieldname, tbytes, flat in items:
        if fieldname != lastfn:
            if lastfn is not None:
                fieldwriter.finish_field()
            fieldobj = schema[fieldname]
            fieldwriter.start_field(fieldname, fieldobj)
            prefix = pack_ushort(fieldwriter._fieldid)
            lens = field_lengths(pdr, fieldname)
            fixedsize = fieldobj.format.fixed_value_size()
            lastfn = fieldname

        ids = flat[0::3]
        ws = flat[1::3]
        n = len(ids)
        if n < inlinelimit:
            wf = array("f", ws)
            minl, maxl = _length_range(lens, ids)
            m = max(ws)
            vs = tuple(v for v in flat[2::3] if v)
            val = _PACK_TERMINFO(True, sum(wf), n, 0 if minl is None else lb(minl), lb(maxl),
                                 m if m > 0 else 0, ids[0], ids[-1]) \
                + dumps((tuple(ids), tuple(wf), vs), 2)
        else:
            start = ppos
            out = [WHOOSH3_HEADER_MAGIC]
            total = 0
            minl = None
            maxl = 0
            maxw = 0
            nflat = len(flat)
            for i in range(0, nflat, step):
                cflat = flat[i:i + step]
                cids = cflat[0::3]
                cws = cflat[1::3]
                wf = array("f", cws)
                total += sum(wf)
                bmin, bmax = _length_range(lens, cids)
                minl = bmin if minl is None else min(minl, bmin)
                if bmax > maxl:
                    maxl = bmax
                m = max(cws)
                bmw = m if m > 0 else 0
                maxw = max(maxw, bmw)
                deltas = tuple([b - a for a, b in zip([0] + cids, cids)])
                nc = len(wf)
                if wf.count(1.0) == nc:
                    mw = None
                elif wf.count(wf[0]) == nc:
                    mw = wf[0]
                else:
                    mw = tuple(wf)
                if fixedsize is None or fixedsize < 0:
                    mv = tuple(v for v in cflat[2::3] if v)
                elif fixedsize == 0:
                    mv = None
                else:
                    mv = b"".join(v for v in cflat[2::3] if v)
                data = dumps((deltas, mw, mv), 2)
                if comp:
                    data = zlib.compress(data, comp)
                info = dumps((nc, cids[-1], bmw, comp, lb(bmin), lb(bmax)), 2)
                blen = len(info) + len(data)
                out.append(pack_int(-blen if i + step >= nflat else blen))
                out.append(info)
                out.append(data)
            blob = b"".join(out)
            pwrite(blob)
            ppos += len(blob)
            val = _PACK_TERMINFO(False, total, n, 0 if minl is None else lb(minl), lb(maxl), maxw,
                                 ids[0], ids[-1]) + pack_long(start) + pack_int(ppos - start)
            if flat_out is not None:
                flat_out.add(start, ids, ws)

        key = prefix + tbytes
        if key <= lastkey:
            raise ValueError(f"Keys must increase: {lastkey!r}..{key!r}")
        index_append(tpos)
        rec = _PACK_HASH_LENGTHS(len(key), len(val)) + key + val
        twrite(rec)
        h = hashfn(key)
        bucket_add(h, tpos)
        tpos += len(rec)
        lastkey = key
    if lastfn is not None:
        fieldwriter.finish_field()
    tindex.lastkey = lastkey
    assert postfile.tell() == ppos and tfile.tell() == tpos


# ---------------------------------------------------------------- the writers


class FastSegmentWriter(SegmentWriter):
    """Whoosh's SegmentWriter with a :class:`TermPool` and a per-term postings writer.

    Same documents, same segment files, same commit/merge/delete behaviour; only how postings
    are collected and written differs. The codec must be Whoosh's W3 codec.
    """

    def __init__(self, ix: Any, limitmb: float = 128, **kwargs: Any):
        super().__init__(ix, limitmb=limitmb, **kwargs)
        self._init_pool(limitmb)

    def _init_pool(self, limitmb: float) -> None:
        if not isinstance(self.codec, W3Codec):
            raise TypeError("FastSegmentWriter writes Whoosh's W3 codec only")
        install()  # the Whoosh fixes every writer of ours runs with (search.store.compat)
        for name in self.schema.names():
            f = self.schema[name]
            if f.vector or f.separate_spelling():
                raise TypeError(f"field {name!r}: term vectors and spelling fields are not supported")
        strfields = frozenset(n for n in self.schema.names() if isinstance(self.schema[n], JiebaText))
        self.pool = TermPool(self._tempstorage, limitmb, strfields)
        # Character postings cost 16 bytes each while held (key and position, int64), and about
        # three times that while sorted: a sixth of the writer's budget before a run file (a
        # third made the sort at each spill the worker's highest point while adding: ~+65 MiB
        # over what a 1-second sampler saw, at 515 MiB ru_maxrss for a 72k build).
        self.chars = CharPool(self._tempstorage.folder, run_limit=max(1024, int(limitmb * 1024 * 1024 / 96)))
        self._wtables: dict[tuple[str, float], list[float]] = {}
        self._weights: dict[float, float] = {}  # one float object per distinct weight of other fields
        self.bandkeys = BandKeyPool(self._tempstorage.folder)
        self._merged_readers: list[Any] = []

    # -- adding

    def add_document(self, **fields: Any) -> None:
        """Add one document (same per-document data and postings as Whoosh's writer)."""
        self._check_state()
        perdocwriter = self.perdocwriter
        schema = self.schema
        docnum = self.docnum
        pool = self.pool

        docboost = self._doc_boost(fields)
        fieldnames = sorted([name for name in fields if not name.startswith("_")])
        self._check_fields(schema, fieldnames)

        perdocwriter.start_doc(docnum)
        for fieldname in fieldnames:
            value = fields.get(fieldname)
            if value is None:
                continue
            field = schema[fieldname]
            length = 0
            if field.indexed:
                fieldboost = self._field_boost(fields, fieldname, docboost)
                terms = pool.terms(fieldname)
                if isinstance(field, JiebaText) and isinstance(value, str):
                    folded = fields.get(FOLDED_PREFIX + fieldname)
                    length = self._add_text(terms, fieldname, field, value, folded, docnum, fieldboost)
                else:
                    scorable = field.scorable
                    add = pool.add
                    shared = self._weights
                    for tbytes, freq, weight, vbytes in field.index(value):
                        weight *= fieldboost
                        # One float object per distinct weight (as _add_text's table): the
                        # `published` terms of the top shifts hold every article of the segment,
                        # and their merged lists were ~80 bytes a posting, 24 of them the float
                        # (marshal keeps the sharing through the run files).
                        weight = shared.setdefault(weight, weight) if len(shared) < 4096 else weight
                        if scorable:
                            length += freq
                        add((fieldname, tbytes, docnum, weight, vbytes))

            customval = fields.get("_stored_%s" % fieldname, value)
            perdocwriter.add_field(fieldname, field, customval if field.stored else None, length)
            column = field.column_type
            if column and customval is not None:
                perdocwriter.add_column_value(fieldname, column, field.to_column_value(customval))

        perdocwriter.finish_doc()
        # The character index of the article (search.chars), folded as the words were.
        self.chars.add(*(fields.get(FOLDED_PREFIX + f) if fields.get(FOLDED_PREFIX + f) is not None
                         else fold(fields.get(f) or "").text for f in ("title", "body")))
        keys = fields.get(DUPKEYS)
        if keys:
            self.bandkeys.add(docnum, keys)
        self._added = True
        self.docnum += 1
        if pool.size > pool.limit:
            pool.spill()

    def _add_text(self, terms: dict, fieldname: str, field: Any, value: str, folded: str | None,
                  docnum: int, fieldboost: float) -> int:
        """Segment one title/body and add its postings; return the field length.

        The same terms, positions, weights and encoded values as ``JiebaText.index`` (both run
        ``analysis.term_positions``), without the per-term tuples and generator.
        """
        if folded is None:
            folded = fold(value).text
        poses = term_positions(folded)

        fmt = field.format
        fb = fmt.field_boost
        # Positions (a version-4 index) or no values at all (JiebaText's ``Existence`` format)
        positional = type(fmt) is Positions
        key = (fieldname, fieldboost)
        wtab = self._wtables.get(key)
        if wtab is None:  # weight of a term with n positions (shared float objects)
            wtab = self._wtables[key] = [0.0, fb * fieldboost] + [(n * fb) * fieldboost for n in range(2, 64)]
        single = _SINGLE
        length = 0
        added = 0
        new = 0
        extra = 0
        tget = terms.get
        for term, pl in poses.items():
            n = len(pl)
            if n == 1:
                if positional:
                    p = pl[0]
                    v = single.get(p)
                    if v is None:
                        v = _encode_positions(pl)
                        if p < 1 << 16:
                            single[p] = v
                else:
                    v = b""
                w = wtab[1]
            else:
                v = _encode_positions(pl) if positional else b""
                w = wtab[n] if n < 64 else (n * fb) * fieldboost
                extra += len(v) + 33
            length += n
            lst = tget(term)
            if lst is None:
                terms[term] = [docnum, w, v]
                new += 1
            else:
                lst += (docnum, w, v)
                added += 1
        self.pool.size += new * _TERM_BYTES + added * _POSTING_BYTES + extra
        return length

    def write_per_doc(self, fieldnames: Any, reader: Any) -> dict[int, int] | None:
        """Copy a merged segment's per-document data (``add_reader``), as Whoosh's does.

        Whoosh's loop asks, for every document and every field, whether the segment has that
        field's length column (a ``stat`` of the file each time when it has none): a sixth of
        a merge's CPU. Here each column reader is looked up once per segment; the stored
        fields, lengths and column values written are the same.
        """
        perdoc = getattr(reader, "_perdoc", None)
        if perdoc is None or not hasattr(perdoc, "_cached_reader"):
            return super().write_per_doc(fieldnames, reader)
        from whoosh import columns
        from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
        from whoosh.util.numeric import byte_to_length

        schema = self.schema
        docmap: dict[int, int] | None = {} if reader.has_deletions() else None
        pdw = self.perdocwriter
        plan = []
        for fieldname in fieldnames:
            fieldobj = schema[fieldname]
            col = None
            if fieldobj.column_type and reader.has_column(fieldname):
                col = reader.column_reader(fieldname, fieldobj.column_type)
                if isinstance(col, columns.TranslatingColumnReader):
                    col = col.raw_column()
            plan.append((fieldname, fieldobj, perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN), col))
        for docnum, stored in reader.iter_docs():
            if docmap is not None:
                docmap[docnum] = self.docnum
            pdw.start_doc(self.docnum)
            for fieldname, fieldobj, lens, col in plan:
                lbyte = lens[docnum] if lens is not None else 0
                pdw.add_field(fieldname, fieldobj, stored.get(fieldname), byte_to_length(lbyte) if lbyte else None)
                if col is not None:
                    pdw.add_column_value(fieldname, fieldobj.column_type, col[docnum])
            pdw.finish_doc()
            self.docnum += 1
        return docmap

    def add_postings_to_pool(self, reader: Any, startdoc: int, docmap: Any) -> None:
        """Add a merged segment's postings (``add_reader``): they follow every added document.

        From a :class:`search.store.merge.MergeReader`, a term's postings at a time (its
        deleted documents already dropped): the docnums mapped with one list operation and
        the list added whole, instead of one tuple per posting through Whoosh's pool API.
        """
        pool = self.pool
        by_term = getattr(reader, "iter_term_postings", None)
        if by_term is None:
            add = pool.add
            for item in self._process_posts(reader.iter_postings(), startdoc, docmap):
                add(item)
        else:  # streamed into the segment when it is written: never held, never spilled
            pool.later.append(self._merged_terms(by_term, startdoc, docmap))
        self._merge_chars(reader, startdoc, docmap)
        self._merge_bandkeys(reader, startdoc, docmap)

    def _merged_terms(self, by_term: Any, startdoc: int, docmap: dict[int, int] | None) -> Any:
        """A merged segment's postings as the pool's ``(field, term, flat list)`` records, in
        (field name, term) order, docnums mapped into this segment."""
        schema, strfields = self.schema, self.pool.strfields
        for fieldname, tbytes, ids, weights, values in by_term(by_name=True):
            if fieldname not in schema:
                continue
            flat: list = [None] * (3 * len(ids))
            flat[0::3] = [startdoc + d for d in ids] if docmap is None else [docmap[d] for d in ids]
            flat[1::3], flat[2::3] = weights, values
            yield fieldname, tbytes.decode("utf-8") if fieldname in strfields else tbytes, flat

    def keep_open(self, reader: Any) -> None:
        """Hold a merged segment's reader until this segment is written (its postings are
        read then) or the writer is cancelled."""
        self._merged_readers.append(reader)

    def _close_segment(self) -> None:
        super()._close_segment()
        self._close_merged()

    def _close_merged(self) -> None:
        for r in self._merged_readers:
            r.close()
        self._merged_readers = []

    def _merge_bandkeys(self, reader: Any, startdoc: int, docmap: dict[int, int] | None) -> None:
        """Carry a merged segment's band keys over (deleted articles dropped); a segment from
        before they were kept beside it gets them from its stored signatures."""
        import numpy as np

        from ..dedup import band_key_ints

        arrays = segment_keys(reader)
        if arrays is None:
            for d in reader.all_doc_ids():
                sig = (reader.stored_fields(d) or {}).get("dupsig")
                if sig:
                    self.bandkeys.add(startdoc + d if docmap is None else docmap[d], band_key_ints(sig))
            return
        ks, dd = arrays
        if docmap is None:
            self.bandkeys.add_arrays(ks, dd.astype(np.int64) + startdoc)
            return
        new_of = np.full(reader.doc_count_all(), -1, dtype=np.int64)
        if docmap:
            new_of[np.fromiter(docmap.keys(), dtype=np.int64)] = np.fromiter(docmap.values(), dtype=np.int64)
        nd = new_of[dd]
        keep = nd >= 0
        self.bandkeys.add_arrays(ks[keep], nd[keep])

    def _merge_chars(self, reader: Any, startdoc: int, docmap: dict[int, int] | None) -> None:
        """Carry a merged segment's character index over (deleted articles dropped)."""
        from pathlib import Path

        from ..chars import open_segment

        def texts():
            for d in range(reader.doc_count_all()):
                f = reader.stored_fields(d) or {}
                yield fold(f.get("title") or "").text, fold(f.get("body") or "").text

        seg = open_segment(Path(reader.storage().folder), reader.segment().make_filename(""), texts)
        if self.chars.docs != startdoc:
            raise IndexWriteFailed(f"character index out of step ({self.chars.docs} articles, merge at {startdoc})")
        self.chars.merge(seg, None if docmap is None else sorted(docmap))

    # -- writing

    def iter_postings(self):
        """Postings one by one in Whoosh's order (for callers of the pool API)."""
        for fieldname, tbytes, flat in self.pool.iter_terms():
            for i in range(0, len(flat), 3):
                yield fieldname, tbytes, flat[i], flat[i + 1], flat[i + 2]

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        pdr = self.per_document_reader() if self.codec.length_stats else None
        try:
            flat_out = FlatPostingsWriter(lambda ext: self.storage.create_file(self.newsegment.make_filename(ext)))
            try:
                write_postings(self.fieldwriter, self.schema, pdr, self.pool.iter_terms(), self.codec,
                               tempdir=self._tempstorage.folder, flat_out=flat_out)
            except BaseException:
                flat_out.cancel()
                raise
            flat_out.close()
            self.chars.write(lambda ext: self.storage.create_file(self.newsegment.make_filename(ext)))
            self.bandkeys.write(lambda ext: self.storage.create_file(self.newsegment.make_filename(ext)))
            self.fieldwriter.close()
        finally:
            self.pool.cleanup()
            self._close_merged()
            self.chars.cleanup()
            self.bandkeys.cleanup()
            tindex = getattr(self.fieldwriter, "_tindex", None)
            for part in (getattr(tindex, "buckets", None), getattr(tindex, "index", None)):
                if isinstance(part, (SpilledBuckets, SpilledIndex)):
                    part.cleanup()
        if pdr:
            pdr.close()


def _encode_positions(pl: list[int]) -> bytes:
    """``whoosh.formats.Positions.encode`` (the same bytes), without its Python loop."""
    return pack_uint(len(pl)) + dumps([pl[0], *[b - a for a, b in zip(pl, pl[1:])]], 2)


# Encoded one-position lists shared by all postings with that position (as JiebaText.index does).
_SINGLE: dict[int, bytes] = {}


class _FastSubWriterTask(SubWriterTask):
    """Whoosh's writer worker process, running a :class:`FastSegmentWriter`."""

    def run(self) -> None:  # Whoosh 2.7.4's SubWriterTask.run, multisegment, another writer class
        ix = self.storage.open_index(self.indexname)
        writer = self.writer = FastSegmentWriter(ix, _lk=False, **self.kwargs)
        # The pool holds a list per term: automatic full collections would walk all of them
        # again and again (~0.1 ms per article). Collect the young generations per job file.
        gc.disable()
        while self.running:
            jobinfo = self.jobqueue.get()
            if jobinfo is None:
                break
            self._process_file(*jobinfo)
            gc.collect(1)
        if not self.running:
            writer.cancel()
        else:
            segment = writer._finalize_segment()
            self.resultqueue.put((None, writer.pool.fieldnames, segment), timeout=5)


class FastMpWriter(MpWriter, FastSegmentWriter):
    """Whoosh's multi-process writer, one segment per worker, with fast segment writers."""

    def __init__(self, ix: Any, procs: int | None = None, batchsize: int = 100, limitmb: float = 128,
                 **kwargs: Any):
        MpWriter.__init__(self, ix, procs=procs, batchsize=batchsize, multisegment=True,
                          limitmb=limitmb, **kwargs)
        self._init_pool(limitmb)

    def _new_task(self) -> SubWriterTask:
        task = _FastSubWriterTask(self.storage, self.indexname, self.jobqueue, self.resultqueue,
                                  self.subargs, True)
        self.tasks.append(task)
        task.start()
        return task

    def _check_workers(self) -> None:
        """Fail (and stop the other workers) once any writer worker has died: its articles are
        lost, and a worker killed while holding the job queue's lock would block the rest."""
        failed = [t.exitcode for t in self.tasks if t.exitcode not in (None, 0)]
        if failed:
            for t in self.tasks:
                if t.is_alive():
                    t.terminate()
            for t in self.tasks:
                t.join(5)
            self._close_segment()
            raise IndexWriteFailed(f"an index writer process died (exit code {failed[0]}); nothing was committed")

    def _put_job(self, jobinfo: Any) -> None:
        while True:
            self._check_workers()
            try:
                self.jobqueue.put(jobinfo, timeout=0.5)
                return
            except queue.Full:
                continue

    def _enqueue(self):  # Whoosh 2.7.4's MpWriter._enqueue, watching the workers while it waits
        docbuffer = self.docbuffer
        length = len(docbuffer)
        filename = "%s.doclist" % random_name()
        with self.temp_storage().create_file(filename).raw_file() as f:
            for item in docbuffer:
                dump(item, f, 2)
        if len(self.tasks) < self.procs:
            self._new_task()
        self._put_job((filename, length))
        self.docbuffer = []

    def _commit(self, mergetype, optimize, merge):  # Whoosh 2.7.4's MpWriter._commit, multisegment
        # Whoosh waits one second for each worker's segment and silently leaves out one that is
        # missing (a worker that died): its articles would vanish from a "successful" commit.
        # Here a dead worker fails the commit, so a rebuild keeps the served index.
        if self.docbuffer:
            self._enqueue()
        for _task in self.tasks:
            self._put_job(None)
        finalsegments = self._merge_segments(mergetype, optimize, merge)
        while any(t.is_alive() for t in self.tasks):
            self._check_workers()
            for t in self.tasks:
                t.join(0.2)
        self._check_workers()
        results = []
        for _task in self.tasks:
            try:
                results.append(self.resultqueue.get(timeout=30))
            except queue.Empty:
                break
        if len(results) < len(self.tasks):
            self._close_segment()
            raise IndexWriteFailed(
                f"{len(self.tasks) - len(results)} of {len(self.tasks)} index writer processes returned "
                "no segment; nothing was committed")
        finalsegments += [s for _, _, s in results]
        if self._added:
            finalsegments.append(self._finalize_segment())
        else:
            self._close_segment()
        self._commit_toc(finalsegments)
        self._finish()
