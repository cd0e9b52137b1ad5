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


def write(gen: str | os.PathLike) -> Path | None:
    """Build and write the sidecar of the generation's newest commit; return its directory.

    Failure is logged and leaves no directory (readers then build from the index).
    """
    from .ranking import Postings
    from .snapshot import Columns, Lexicon  # the snapshot's own builders: one definition of each
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
            n = reader.doc_count_all()
            cols = Columns(reader)
            post = Postings(reader)
            lengths = {f: post.lengths(f, reader) for f in LENGTH_FIELDS}
            lex = Lexicon(reader)
        meta: dict[str, Any] = {
            "format": FORMAT, "toc": toc, "docs": n,
            "months": cols.months, "sources": cols.sources, "categories": cols.categories,
            "regions": cols.regions, "sites": lex._sites, "source_labels": lex._sources,
            "avg": {f: post.avg_length(f) for f in LENGTH_FIELDS},
        }
        _save(tmp, "col_published", cols.published)
        for name in ("month", "source", "category", "cluster"):
            _save(tmp, f"col_{name}", getattr(cols, name))
        _save(tmp, "region_docs", cols.region_docs)
        _save(tmp, "region_codes", cols.region_codes)
        off, blob = _strings_arrays(cols.clusters)
        _save(tmp, "clusters_off", off)
        _save(tmp, "clusters_blob", blob)
        _save(tmp, "live", post.live)
        for f, arr in lengths.items():
            _save(tmp, f"len_{f}", arr)
        by_char = lex._parts[0]  # words by character (the snapshot's Lexicon merges per-segment lists lazily)
        chars = sorted(by_char, key=ord)
        parts = [("\n".join(by_char[c])).encode("utf-8") for c in chars]
        loff = np.zeros(len(parts) + 1, dtype=np.int64)
        if parts:
            np.cumsum([len(p) for p in parts], out=loff[1:])
        _save(tmp, "lex_chars", np.asarray([ord(c) for c in chars], dtype=np.int32))
        _save(tmp, "lex_off", loff)
        _save(tmp, "lex_blob", np.frombuffer(b"".join(parts), dtype=np.uint8) if parts
              else np.zeros(0, np.uint8))
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
        os.replace(tmp, final)
        tmp = None
        _prune(gen, toc)
        log.info("sidecar %s written in %.2fs", final.name, time.perf_counter() - t0)
        return final
    except Exception:  # noqa: BLE001 - an optimisation: the index itself is committed and fine
        log.warning("could not write the open-time sidecar of %s", gen, exc_info=True)
        return None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


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
