"""What a searcher needs at open, written beside each commit so a new process maps it in.

A searcher of a new process (``xunwen search``, a restarted server) or of a newly swapped-in
generation or commit used to build its caches by walking the archive: every column value, every
field length, every deleted flag and every indexed word, in Python, ~8 s at 362k articles.
The writer builds the same objects once per commit instead (with the snapshot's own code) and
writes them as ``.npy`` arrays in ``open-<toc>/`` inside the generation; a reader opens them
with ``mmap_mode="r"``, so open costs page-cache reads of what a query touches.

Files of ``open-<toc>/`` (``<toc>`` is the Whoosh TOC generation the files describe):

* ``meta.json`` — document count, the value tables of the small columns, sites, sources,
  average field lengths;
* ``col_<name>.npy`` — per-document codes (``published`` holds the epoch itself);
  ``region_docs.npy``/``region_codes.npy`` — the (document, region) pairs;
* ``clusters_off.npy``/``clusters_blob.npy`` — the cluster ids (one per cluster code), UTF-8;
* ``live.npy`` — the live-document mask; ``len_title.npy``/``len_body.npy`` — field lengths;
* ``lex_chars.npy``/``lex_off.npy``/``lex_blob.npy`` — the lexicon by character: for each Han
  character (sorted code points), the ``\\n``-joined words that contain it, shortest first.

A directory is written under a temporary name and renamed into place, so a reader sees a
complete one or none; a reader that finds none (an index written before this module, or a
failed write) builds from the index as before. Directories of older commits are removed,
except the previous one (a process may be opening it).
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write", "load_columns", "load_lexicon", "load_postings", "directory", "PREFIX"]

log = logging.getLogger(__name__)
PREFIX = "open-"
FORMAT = 1
LENGTH_FIELDS = ("title", "body")


def directory(gen: Path, toc: int) -> Path:
    """Return the sidecar directory of commit ``toc`` of generation ``gen``."""
    return Path(gen) / f"{PREFIX}{toc}"


class Strings(Sequence):
    """A read-only list of strings over a memory-mapped UTF-8 blob (each value then ``\n``).

    ``offsets[i]`` is where value ``i`` starts; ``offsets[-1]`` is the blob's length.
    """

    def __init__(self, offsets: np.ndarray, blob: np.ndarray):
        self._off = offsets
        self._blob = blob
        self._index: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self._off) - 1

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return bytes(self._blob[self._off[i]:self._off[i + 1] - 1]).decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        if not len(self):
            return iter(())
        return iter(bytes(self._blob[:-1]).decode("utf-8").split("\n"))

    def codes_of(self, wanted: Sequence[str]) -> list[int]:
        """Return the positions of the wanted values (a value → position map, built once)."""
        if self._index is None:
            self._index = {v: i for i, v in enumerate(self)}
        return [self._index[v] for v in wanted if v in self._index]


def _strings_arrays(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and blob of :class:`Strings` ("\n" ends each value; ids never hold one)."""
    enc = [v.replace("\n", " ").encode("utf-8") for v in values]
    off = np.zeros(len(enc) + 1, dtype=np.int64)
    if enc:
        np.cumsum([len(e) + 1 for e in enc], out=off[1:])
    blob = b"".join(e + b"\n" for e in enc)
    return off, np.frombuffer(blob, dtype=np.uint8) if blob else np.zeros(0, np.uint8)


class LazyByChar:
    """The lexicon's ``char → words`` map over memory-mapped arrays, decoded per character."""

    def __init__(self, chars: np.ndarray, off: np.ndarray, blob: np.ndarray):
        self._chars, self._off, self._blob = chars, off, blob
        self._decoded: dict[str, list[str]] = {}

    def get(self, ch: str, default: Any = None) -> Any:
        """Return the words containing ``ch`` (shortest first), or ``default``."""
        got = self._decoded.get(ch)
        if got is not None:
            return got
        cp = ord(ch)
        i = int(np.searchsorted(self._chars, cp))
        if i >= len(self._chars) or int(self._chars[i]) != cp:
            return default
        got = bytes(self._blob[self._off[i]:self._off[i + 1]]).decode("utf-8").split("\n")
        self._decoded[ch] = got
        return got

    def __setitem__(self, ch: str, words: list[str]) -> None:
        self._decoded[ch] = words  # a character the sidecar does not hold (Lexicon._char)

    def __len__(self) -> int:
        return len(self._chars)


# ---------------------------------------------------------------- writing


def _save(d: Path, name: str, arr: np.ndarray) -> None:
    with open(d / f"{name}.npy", "wb") as f:
        np.save(f, np.ascontiguousarray(arr))


def write(gen: str | os.PathLike, *, full: bool = False) -> Path | None:
    """Build and write the sidecar of the generation's newest commit; return its directory.

    The sidecar of an earlier commit of the same generation is reused for the segments the
    two commits share (a cron run's commit adds one segment to hundreds of thousands of
    articles): their columns, lengths and region pairs are copied as array slices, and only
    the new segments' columns and words are read from the index, so a commit costs what it
    added, not the archive. ``full`` builds everything from the index (the nightly merge:
    words and column values of purged documents are dropped only then).

    Failure is logged and leaves no directory (readers then build from the index).
    """
    from .store.generations import open_generation

    gen = Path(gen)
    t0 = time.perf_counter()
    tmp: Path | None = None
    try:
        ix = open_generation(gen)
        with ix.reader() as reader:
            toc = reader.generation()
            final = directory(gen, toc)
            if final.is_dir():
                return final
            tmp = gen / f".{PREFIX}{toc}.{os.getpid()}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            leaves = reader.leaf_readers()
            segments = [[leaf.segment().segment_id(), leaf.doc_count_all(), base] for leaf, base in leaves]
            prev = None if full else _previous(gen, toc)
            if prev is not None:
                arrays, meta, by_char, how = _incremental(reader, leaves, *prev)
            else:
                arrays, meta, by_char, how = _from_index(reader)
            meta.update({"format": FORMAT, "toc": toc, "docs": reader.doc_count_all(), "segments": segments})
        for name, arr in arrays.items():
            _save(tmp, name, arr)
        _save_lexicon(tmp, by_char)
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
        os.replace(tmp, final)
        tmp = None
        _prune(gen, toc)
        log.info("sidecar %s written in %.2fs (%s)", final.name, time.perf_counter() - t0, how)
        return final
    except Exception:  # noqa: BLE001 - an optimisation: the index itself is committed and fine
        log.warning("could not write the open-time sidecar of %s", gen, exc_info=True)
        return None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _from_index(reader: Any) -> tuple[dict[str, np.ndarray], dict[str, Any], Any, str]:
    """Everything from the index, with the snapshot's own builders (one definition of each)."""
    from .ranking import Postings
    from .snapshot import Columns, Lexicon

    cols = Columns(reader)
    post = Postings(reader)
    lengths = {f: post.lengths(f, reader) for f in LENGTH_FIELDS}
    lex = Lexicon(reader)
    meta: dict[str, Any] = {
        "months": cols.months, "sources": cols.sources, "categories": cols.categories,
        "regions": cols.regions, "sites": lex._sites, "source_labels": lex._sources,
        "avg": {f: post.avg_length(f) for f in LENGTH_FIELDS},
    }
    arrays: dict[str, np.ndarray] = {"col_published": cols.published}
    for name in ("month", "source", "category", "cluster"):
        arrays[f"col_{name}"] = getattr(cols, name)
    arrays["region_docs"], arrays["region_codes"] = cols.region_docs, cols.region_codes
    arrays["clusters_off"], arrays["clusters_blob"] = _strings_arrays(cols.clusters)
    arrays["live"] = post.live
    for f, arr in lengths.items():
        arrays[f"len_{f}"] = arr
    by_char = lex._parts[0]  # words by character (the snapshot's Lexicon merges per-segment lists lazily)
    return arrays, meta, {c: by_char[c] for c in sorted(by_char, key=ord)}, "from the index"


def _previous(gen: Path, toc: int) -> tuple[Path, dict[str, Any]] | None:
    """The newest complete sidecar of an earlier commit that records its segments, if any."""
    found = []
    for d in gen.glob(f"{PREFIX}*"):
        try:
            t = int(d.name[len(PREFIX):])
        except ValueError:
            continue
        if t < toc:
            found.append((t, d))
    for t, d in sorted(found, reverse=True):
        try:
            meta = json.loads((d / "meta.json").read_text("utf-8"))
        except (OSError, ValueError):
            continue
        segs = meta.get("segments")
        if meta.get("format") == FORMAT and meta.get("toc") == t and isinstance(segs, list) \
                and sum(s[1] for s in segs) == meta.get("docs"):
            return d, meta
    return None


def _remap(table: _Table, values: list[Any], codes: np.ndarray) -> np.ndarray:
    """One segment's column codes (into its own ``values``) as codes of the growing ``table``."""
    return table.codes(values)[codes] if len(codes) else np.zeros(0, dtype=np.int32)


class _Table:
    """A column's value table extended in place: old codes stay valid, new values are appended."""

    def __init__(self, values: list[Any]):
        self.values = list(values)
        self._index: dict[Any, int] | None = None

    def codes(self, values: list[Any]) -> np.ndarray:
        if self._index is None:
            self._index = {v: i for i, v in enumerate(self.values)}
        index, table = self._index, self.values

        def code(v: Any) -> int:
            got = index.get(v)
            if got is None:
                got = index[v] = len(table)
                table.append(v)
            return got

        return np.fromiter((code(v) for v in values), dtype=np.int32, count=len(values))


def _incremental(reader: Any, leaves: list[tuple[Any, int]], d: Path, pm: dict[str, Any]
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any], Any, str]:
    """The sidecar of this commit from the earlier one at ``d`` plus the segments it lacks.

    The value tables only grow (a value of a purged document keeps its code; facets skip
    values nobody holds), so the codes copied from the earlier sidecar stay valid."""
    from .snapshot import Columns, Lexicon
    from .store.readers import length_array

    old = {sid: (docs, start) for sid, docs, start in pm["segments"]}
    om = {name: _map(d, name) for name in (
        "col_published", "col_month", "col_source", "col_category", "col_cluster",
        "region_docs", "region_codes", "len_title", "len_body")}
    tables = {"month": _Table(pm["months"]), "source": _Table(pm["sources"]),
              "category": _Table(pm["categories"]), "cluster": _Table(list(Strings(
                  _map(d, "clusters_off"), _map(d, "clusters_blob"))))}
    regions = _Table(pm["regions"])
    parts: dict[str, list[np.ndarray]] = {name: [] for name in om}
    sites = set(pm["sites"])
    labels = {x: f for x, f in pm["source_labels"]}
    added: list[dict[str, list[str]]] = []
    n = reader.doc_count_all()
    live = np.ones(n, dtype=bool)
    reused = 0
    for leaf, base in leaves:
        docs = leaf.doc_count_all()
        if leaf.has_deletions():
            gone = np.fromiter(leaf._perdoc.deleted_docs(), dtype=np.int64)
            live[base + gone[gone < docs]] = False
        got = old.get(leaf.segment().segment_id())
        if got is not None and got[0] == docs:  # a segment the earlier commit had: copy its slices
            s = got[1]
            reused += docs
            for name in ("col_published", "col_month", "col_source", "col_category", "col_cluster",
                         "len_title", "len_body"):
                parts[name].append(np.asarray(om[name][s:s + docs]))
            lo, hi = np.searchsorted(om["region_docs"], [s, s + docs])
            parts["region_docs"].append(np.asarray(om["region_docs"][lo:hi]) - s + base)
            parts["region_codes"].append(np.asarray(om["region_codes"][lo:hi]))
            continue
        c = Columns(leaf)  # the snapshot's decoding, then its codes mapped into the growing tables
        parts["col_published"].append(c.published)
        for name, values in (("month", c.months), ("source", c.sources), ("category", c.categories),
                             ("cluster", c.clusters)):
            parts[f"col_{name}"].append(_remap(tables[name], values, getattr(c, name)))
        parts["region_docs"].append(c.region_docs + base)
        parts["region_codes"].append(_remap(regions, c.regions, c.region_codes))
        for f in LENGTH_FIELDS:
            parts[f"len_{f}"].append(length_array(leaf, f, docs))
        added.append(Lexicon.words_of(leaf))
        lx = Lexicon(leaf, words=[])  # its sites and source labels only
        sites.update(lx.sites())
        labels.update(lx.sources())
    dtypes = {"col_published": np.int64, "region_docs": np.int64, "len_title": np.float32, "len_body": np.float32}
    arrays = {name: (np.concatenate(ps) if ps else np.zeros(0, dtype=dtypes.get(name, np.int32))).astype(
        dtypes.get(name, np.int32), copy=False) for name, ps in parts.items()}
    arrays["clusters_off"], arrays["clusters_blob"] = _strings_arrays(tables["cluster"].values)
    arrays["live"] = live
    total = {f: float(reader.field_length(f)) if n else 0.0 for f in LENGTH_FIELDS}
    meta = {
        "months": tables["month"].values, "sources": tables["source"].values,
        "categories": tables["category"].values, "regions": regions.values,
        "sites": sorted(sites), "source_labels": [(x, labels[x]) for x in sorted(labels)],
        "avg": {f: (total[f] / n) if n and total[f] else 1.0 for f in LENGTH_FIELDS},
    }
    by_char = _merged_lexicon(_map(d, "lex_chars"), _map(d, "lex_off"), _map(d, "lex_blob"), added)
    return arrays, meta, by_char, f"{reused} of {n} documents from {d.name}"


def _merged_lexicon(chars: np.ndarray, off: np.ndarray, blob: np.ndarray,
                    added: list[dict[str, list[str]]]) -> dict[str, bytes | list[str]]:
    """The earlier sidecar's words by character with the new segments' words merged in
    (shortest first, each once); a character with nothing new keeps its bytes as they were."""
    from .snapshot import _by_length

    new: dict[str, set[str]] = {}
    for part in added:
        for ch, ws in part.items():
            new.setdefault(ch, set()).update(ws)
    raw = bytes(blob)
    old = {chr(int(cp)): (int(off[i]), int(off[i + 1])) for i, cp in enumerate(chars)}
    out: dict[str, bytes | list[str]] = {}
    for ch in sorted(old.keys() | new.keys(), key=ord):
        span = old.get(ch)
        words = new.get(ch)
        kept = raw[span[0]:span[1]] if span is not None else b""
        if not words:
            out[ch] = kept
            continue
        have = kept.decode("utf-8").split("\n") if span is not None else []
        known = set(have)  # a merged segment brings back mostly words the earlier sidecar holds
        fresh = sorted((w for w in words if w not in known), key=_by_length)
        out[ch] = list(heapq.merge(have, fresh, key=_by_length)) if fresh else kept
    return out


def _save_lexicon(d: Path, by_char: dict[str, Any]) -> None:
    """``lex_*`` arrays of words by character (in code point order: ``by_char``'s keys are)."""
    chars = list(by_char)
    parts = [v if isinstance(v, bytes) else "\n".join(v).encode("utf-8") for v in by_char.values()]
    loff = np.zeros(len(parts) + 1, dtype=np.int64)
    if parts:
        np.cumsum([len(p) for p in parts], out=loff[1:])
    _save(d, "lex_chars", np.asarray([ord(c) for c in chars], dtype=np.int32))
    _save(d, "lex_off", loff)
    _save(d, "lex_blob", np.frombuffer(b"".join(parts), dtype=np.uint8) if parts else np.zeros(0, np.uint8))


def _prune(gen: Path, toc: int) -> None:
    """Remove sidecars older than the previous commit's (and leftovers of killed writers)."""
    found = []
    for d in gen.glob(f"{PREFIX}*"):
        try:
            found.append((int(d.name[len(PREFIX):]), d))
        except ValueError:
            continue
    found.sort()
    for t, d in found[:-2]:
        if t != toc:
            shutil.rmtree(d, ignore_errors=True)
    for d in gen.glob(f".{PREFIX}*.tmp"):
        try:
            pid = int(d.name.rsplit(".", 2)[-2])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- reading


def _open(gen: Path, toc: int, docs: int) -> tuple[Path, dict[str, Any]] | None:
    d = directory(gen, toc)
    try:
        meta = json.loads((d / "meta.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("format") != FORMAT or meta.get("toc") != toc or meta.get("docs") != docs:
        log.warning("ignoring sidecar %s: it describes another commit", d)
        return None
    return d, meta


def _map(d: Path, name: str) -> np.ndarray:
    return np.load(d / f"{name}.npy", mmap_mode="r")


def _load(gen: Path, toc: int, reader: Any, what: str, build: Any) -> Any:
    """Open commit ``toc``'s sidecar and ``build(dir, meta)`` from it; None when it cannot."""
    got = _open(Path(gen), toc, reader.doc_count_all())
    if got is None:
        return None
    d, meta = got
    try:
        return build(d, meta)
    except (OSError, ValueError, KeyError):
        log.warning("sidecar %s is incomplete; building the %s from the index", d, what, exc_info=True)
        return None


def load_columns(gen: Path, toc: int, reader: Any) -> Any:
    """Return the snapshot's columns of commit ``toc`` from its sidecar, or None."""
    from .snapshot import Columns

    def build(d: Path, meta: dict[str, Any]) -> Any:
        cols = Columns.__new__(Columns)
        cols.published = _map(d, "col_published")
        cols.month, cols.months = _map(d, "col_month"), meta["months"]
        cols.source, cols.sources = _map(d, "col_source"), meta["sources"]
        cols.category, cols.categories = _map(d, "col_category"), meta["categories"]
        cols.cluster = _map(d, "col_cluster")
        # duck-typed stand-ins for the snapshot's list and dict, read lazily from the mapped files
        cols.clusters = Strings(_map(d, "clusters_off"), _map(d, "clusters_blob"))  # type: ignore[assignment]
        cols.region_docs = _map(d, "region_docs")
        cols.region_codes = _map(d, "region_codes")
        cols.regions = meta["regions"]
        cols._region_index = {r: i for i, r in enumerate(cols.regions)}
        return cols

    return _load(gen, toc, reader, "columns", build)


def load_lexicon(gen: Path, toc: int, reader: Any) -> Any:
    """Return the snapshot's lexicon of commit ``toc`` from its sidecar, or None."""
    from .snapshot import Lexicon

    def build(d: Path, meta: dict[str, Any]) -> Any:
        lex = Lexicon.__new__(Lexicon)
        lex._by_char = LazyByChar(  # type: ignore[assignment]
            _map(d, "lex_chars"), _map(d, "lex_off"), _map(d, "lex_blob"))
        lex._parts = []  # everything is in the sidecar
        lex._sites = meta["sites"]
        lex._sources = [tuple(x) for x in meta["source_labels"]]
        lex._cache = {}
        return lex

    return _load(gen, toc, reader, "lexicon", build)


def load_postings(gen: Path, toc: int, reader: Any) -> tuple[np.ndarray, dict, dict] | None:
    """Return (live mask, field lengths, average lengths) of commit ``toc``, or None."""

    def build(d: Path, meta: dict[str, Any]) -> tuple[np.ndarray, dict, dict]:
        lengths = {f: _map(d, f"len_{f}") for f in LENGTH_FIELDS}
        return _map(d, "live"), lengths, {f: float(meta["avg"][f]) for f in LENGTH_FIELDS}

    return _load(gen, toc, reader, "field lengths", build)
