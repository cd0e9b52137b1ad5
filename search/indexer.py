"""Build and update the Whoosh index: reindex (incremental), rebuild with atomic swap, delete.

On disk an index directory holds generations::

    index/
      CURRENT            name of the generation being served (replaced atomically)
      .writer.lock       held (flock) by the one process that writes
      g-20261128T061500-1a2b/   a complete Whoosh index + xunwen.json (schema version)

``--rebuild`` writes a new generation next to the served one and swaps ``CURRENT`` with
``os.replace`` only after the commit succeeded, so readers never see a half-built
index and a killed or failed rebuild leaves the old generation serving. Incremental
runs update the current generation through Whoosh's own writer (new segments, then a
new TOC renamed into place).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import pickle
import re
import secrets
import shutil
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from whoosh import index as windex
from whoosh.query import Or, Term

from . import sidecar
from .bigrams import BIGRAM_BUCKETS, BIGRAM_FILE, bigram_codes
from .errors import IndexBusy, IndexIncompatible, IndexMissing, IndexWriteFailed
from .models import Article
from .normalize import fold_text
from .params import SHANGHAI
from .schema import SCHEMA_VERSION, make_schema
from .segwriter import FOLDED_PREFIX, FastMpWriter, FastSegmentWriter

__all__ = [
    "reindex",
    "index_articles",
    "delete_articles",
    "open_current",
    "current_generation",
    "ReindexSummary",
    "default_sources",
    "writer_lock",
    "merge_plan",
    "tiered_merge",
]

log = logging.getLogger(__name__)
CURRENT = "CURRENT"
META = "xunwen.json"
LOCK = ".writer.lock"
INLINE_LIMIT = 8
WRITER_LIMIT_MB = 192  # per writer process: postings held in memory before a run file
# Segments are written as separate files, not Whoosh's compound file: a reader of a compound
# segment copies every sub-file it opens into memory (BytesIO over the mmap), once per
# searcher, i.e. once per serving thread; separate files are read through the page cache.
MAX_PROBLEMS_KEPT = 1000


@dataclass
class ReindexSummary:
    """What a reindex run did (the CLI prints it; ``to_dict`` for --json)."""

    index_dir: str
    generation: str = ""
    rebuild: bool = False
    read: int = 0
    indexed: int = 0
    added: int = 0
    replaced: int = 0
    skipped: int = 0
    truncated: int = 0
    near_duplicates: int = 0
    seconds: float = 0.0
    problems: list[dict[str, Any]] = field(default_factory=list)
    skip_reasons: dict[str, int] = field(default_factory=dict)
    truncations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Articles indexed per second."""
        return self.indexed / self.seconds if self.seconds > 0 else 0.0

    def skip(self, path: str, line: int | None, reason: str) -> None:
        """Count one skipped input and keep its reason."""
        self.skipped += 1
        key = reason.split(":", 1)[0]
        self.skip_reasons[key] = self.skip_reasons.get(key, 0) + 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append({"path": path, "line": line, "reason": reason})

    def truncate(self, path: str, line: int | None, reason: str) -> None:
        """Count one article indexed with its text cut to the ingest caps, and keep what was cut."""
        self.truncated += 1
        if len(self.truncations) < MAX_PROBLEMS_KEPT:
            self.truncations.append({"path": path, "line": line, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["rate"] = round(self.rate, 1)
        d["seconds"] = round(self.seconds, 2)
        return d


def default_sources() -> list[Path]:
    """Return the bundled sample corpus (``data/`` next to the packages)."""
    data = Path(__file__).resolve().parent.parent / "data"
    out = [p for p in (data / "sample.jsonl.gz", data / "seed") if p.exists()]
    return out


# ---------------------------------------------------------------- Whoosh write path


class _FieldLengths:
    """Per-document field lengths for the postings writer, read once per field as a list.

    Whoosh 2.7's ``add_postings`` asks the per-document reader for every posting's field
    length through a column lookup; on Chinese news (~300 postings per article) that
    was about a tenth of indexing time in a cProfile run. Same values, one list per field.
    """

    def __init__(self, pdr: Any):
        from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
        from whoosh.util.numeric import byte_to_length

        self._pdr = pdr
        self._col = LENGTHS_COLUMN
        self._lenfield = _lenfield
        self._table = [byte_to_length(b) if b else None for b in range(256)]
        self._cache: dict[str, list[Any] | None] = {}

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> Any:
        """Return the stored length of ``fieldname`` in ``docnum`` (as Whoosh does)."""
        arr = self._cache.get(fieldname, False)
        if arr is False:
            reader = self._pdr._cached_reader(self._lenfield(fieldname), self._col)
            arr = None if reader is None else [self._table[b] for b in reader]
            self._cache[fieldname] = arr
        return default if arr is None else arr[docnum]


def _install_write_speedups() -> None:
    from whoosh import writing

    if getattr(writing.SegmentWriter, "_xunwen_fast", False):
        return

    def _flush_segment(self) -> None:  # same steps as Whoosh 2.7.4, cached lengths
        self.perdocwriter.close()
        pdr = self.per_document_reader() if self.codec.length_stats else None
        self.fieldwriter.add_postings(self.schema, _FieldLengths(pdr) if pdr else None,
                                      self.pool.iter_postings())
        self.fieldwriter.close()
        if pdr:
            pdr.close()

    writing.SegmentWriter._flush_segment = _flush_segment
    writing.SegmentWriter._xunwen_fast = True
    # Whoosh 2.7.4 calls a misspelt method when a posting list is short enough to be stored
    # inline in its term entry; with the name fixed, short lists skip the postings file.
    from whoosh.codec import whoosh3

    if not hasattr(whoosh3.W3TermInfo, "set_inline"):
        whoosh3.W3TermInfo.set_inline = whoosh3.W3TermInfo.set_inlined
    # ...and an inline list without values (existence fields) answers "" where a merge
    # expects bytes.
    from whoosh.matching import mcore

    list_value = mcore.ListMatcher.value

    def _value(self):  # noqa: ANN001 - Whoosh's signature
        v = list_value(self)
        return b"" if v == "" else v

    mcore.ListMatcher.value = _value


def _codec() -> Any:
    """Whoosh's W3 codec with posting lists of up to 8 documents stored inline.

    Most words of a news archive occur in a handful of articles; writing each of those lists
    as its own zlib-compressed block cost about a third of commit time (bench/ingest.py at 20k
    articles: 373 → 477 articles/s with this change)
    and made the index bigger.
    """
    from whoosh.codec.whoosh3 import W3Codec

    return W3Codec(inlinelimit=INLINE_LIMIT)


_install_write_speedups()

# Set by tests (and for before/after timings) to write with Whoosh's own writers instead.
_STOCK_WRITER = False


def _writer(ix: Any, procs: int = 1) -> Any:
    """Open the index's writer: per-term postings (search.segwriter), separate segment files.

    With ``procs`` > 1, one worker process per core each writes a segment (Whoosh's
    multi-process writer, ``multisegment``). ``limitmb`` bounds each writer's in-memory
    postings (spilled to sorted run files past it).
    """
    kw: dict[str, Any] = {"limitmb": WRITER_LIMIT_MB, "compound": False, "codec": _codec()}
    if _STOCK_WRITER:
        if procs > 1:
            return ix.writer(procs=procs, multisegment=True, batchsize=256, **kw)
        return ix.writer(**kw)
    if procs > 1:
        return FastMpWriter(ix, procs=procs, batchsize=256, **kw)
    return FastSegmentWriter(ix, **kw)


# ---------------------------------------------------------------- generations


def current_generation(index_dir: str | os.PathLike) -> Path | None:
    """Return the directory of the served generation, or None when there is none."""
    root = Path(index_dir)
    try:
        name = (root / CURRENT).read_text("utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    gen = root / name
    return gen if name and gen.is_dir() else None


def _check_meta(gen: Path) -> None:
    try:
        meta = json.loads((gen / META).read_text("utf-8"))
    except (OSError, ValueError):
        raise IndexIncompatible(
            f"{gen} is not an xunwen index of this version: run `xunwen reindex --rebuild`"
        ) from None
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise IndexIncompatible(
            f"the index at {gen.parent} has schema version {meta.get('schema_version')}, "
            f"this xunwen needs {SCHEMA_VERSION}: run `xunwen reindex --rebuild`"
        )


# What reading a TOC written by another version raises: Whoosh's own version check, and what
# unpickling its schema does when classes moved, changed or the bytes are not this format.
_UNPICKLING_ERRORS = (windex.IndexVersionError, pickle.UnpicklingError, struct.error, EOFError,
                      AttributeError, ImportError, TypeError, ValueError, KeyError, IndexError)


def open_current(index_dir: str | os.PathLike) -> tuple[Any, Path]:
    """Open the served generation as a Whoosh index; raise IndexMissing/IndexIncompatible."""
    root = Path(index_dir)
    gen = current_generation(root)
    if gen is None:
        if root.is_dir() and any(root.glob("_MAIN_*.toc")):
            raise IndexIncompatible(
                f"{root} holds an index from another version: run `xunwen reindex --rebuild`"
            )
        raise IndexMissing(f"no index at {root}: run `xunwen reindex` to build one")
    _check_meta(gen)
    try:
        return windex.open_dir(str(gen)), gen
    except (windex.EmptyIndexError, FileNotFoundError) as e:
        raise IndexMissing(f"the index at {gen} is empty or damaged ({e}): run `xunwen reindex --rebuild`") from e
    except _UNPICKLING_ERRORS as e:  # a schema written by other code; a storage fault (OSError) is raised as is
        raise IndexIncompatible(
            f"the index at {gen} cannot be read by this version ({type(e).__name__}: {e}): "
            "run `xunwen reindex --rebuild`"
        ) from e


def _new_generation(root: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
    gen = root / f"g-{stamp}-{secrets.token_hex(3)}"
    gen.mkdir(parents=True)
    try:
        windex.create_in(str(gen), make_schema())
        (gen / META).write_text(
            json.dumps({"schema_version": SCHEMA_VERSION, "created": datetime.now(SHANGHAI).isoformat()}),
            "utf-8",
        )
    except BaseException:
        shutil.rmtree(gen, ignore_errors=True)  # a full disk must not leave an empty generation
        raise
    return gen


def _swap_current(root: Path, gen: Path) -> None:
    tmp = root / f".{CURRENT}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(gen.name + "\n")
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, root / CURRENT)  # atomic on POSIX: readers see old or new, never half
    try:
        dfd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _prune_generations(root: Path, keep: Path, previous: Path | None) -> None:
    """Remove generations other than ``keep`` and ``previous`` (readers may still hold it)."""
    for old in root.glob("g-*"):
        if old.is_dir() and old != keep and old != previous:
            shutil.rmtree(old, ignore_errors=True)


_TOC_TEMP_RE = re.compile(r"^_MAIN_\d+\.toc\.[\d.]+$")  # Whoosh writes a TOC here, then renames it


def _remove_debris(root: Path) -> None:
    """Remove what failed or killed writers left behind; call it holding the writer lock.

    With the lock held no other writer is running, so: ``.CURRENT.<pid>.tmp`` files (a
    rebuild killed during the swap), generations that were never served (no TOC: a failed
    ``--rebuild``; newer than the served one: a rebuild killed before its swap), and inside
    the served generation Whoosh's temp files (``MAIN.tmp``, an unrenamed TOC) and segment
    files no TOC refers to (a commit that failed, e.g. on a full disk). The generation served
    before the current one is kept: readers may still hold it.
    """
    for tmp in root.glob(f".{CURRENT}.*.tmp"):
        _remove(tmp)
    gen = current_generation(root)
    for other in root.glob("g-*"):
        if not other.is_dir() or other == gen:
            continue
        never_served = not any(other.glob("_MAIN_*.toc")) or (gen is not None and other.name > gen.name)
        if never_served:
            log.info("removing %s: a generation left by a failed or killed rebuild", other)
            _remove(other)
    if gen is None:
        return
    for entry in gen.iterdir():
        if entry.name.endswith(".tmp") or _TOC_TEMP_RE.match(entry.name):
            _remove(entry)
    try:
        from whoosh.filedb.filestore import FileStorage
        from whoosh.index import TOC, clean_files

        storage = FileStorage(str(gen))
        toc = TOC.read(storage, "MAIN")
        clean_files(storage, "MAIN", toc.generation, toc.segments)
    except Exception as e:  # noqa: BLE001 - an unreadable generation is reported when it is opened
        log.warning("could not look for unused segment files in %s: %s", gen, e)


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as e:
        log.warning("could not remove %s: %s", path, e.strerror or e)


def _write_failed(root: Path, e: OSError, committed: bool) -> IndexWriteFailed:
    """Return the one-line error for an I/O error while writing the index."""
    what = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        what += " (free some space and run again: what this run left behind is removed then)"
    state = ("this run's articles were committed, but its statistics were not saved" if committed
             else "nothing from this run was committed; the served index is unchanged")
    return IndexWriteFailed(f"could not write the index at {root}: {what}; {state}")


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort, Linux only
        pass
    _disk_errors_as_exit_codes()


# I/O errors a writer cannot get past (full disk, quota, file size limit, failing device).
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def _disk_errors_as_exit_codes() -> None:
    """In a forked writer worker: end on a disk error with its errno as the exit code, silently.

    Otherwise multiprocessing prints the worker's traceback, and the parent only learns that
    a worker died; with the errno it reports the one clear line (see _worker_disk_error).
    """
    from multiprocessing import process

    bootstrap = process.BaseProcess._bootstrap

    def _bootstrap(self, *args: Any, **kwargs: Any) -> int:  # noqa: ANN001 - multiprocessing's
        run = self.run

        def run_quietly() -> None:
            try:
                run()
            except OSError as e:
                if e.errno not in _DISK_ERRNOS:
                    raise
                raise SystemExit(e.errno) from None

        self.run = run_quietly
        return bootstrap(self, *args, **kwargs)

    process.BaseProcess._bootstrap = _bootstrap


def _stop_workers(writer: Any) -> None:
    """Stop a failed multi-process writer's workers (Whoosh's cancel only asks them to)."""
    for task in getattr(writer, "tasks", ()):
        if task.is_alive():
            task.terminate()
    for task in getattr(writer, "tasks", ()):
        task.join(5)


def _worker_disk_error(writer: Any) -> OSError | None:
    """Return the disk error a writer worker ended with (its exit code), or None."""
    for task in getattr(writer, "tasks", ()):
        if task.exitcode in _DISK_ERRNOS:
            return OSError(task.exitcode, os.strerror(task.exitcode))
    return None


_FORK_HOOK: list[bool] = []


def _workers_die_with_parent() -> None:
    """Make processes forked from here on (Whoosh's writer workers) die when this one does."""
    if not _FORK_HOOK and sys.platform.startswith("linux"):
        os.register_at_fork(after_in_child=_die_with_parent)
        _FORK_HOOK.append(True)


@contextmanager
def writer_lock(index_dir: str | os.PathLike, wait: bool = False) -> Iterator[None]:
    """Hold the index's writer lock; raise IndexBusy at once unless ``wait``."""
    root = Path(index_dir)
    root.mkdir(parents=True, exist_ok=True)
    busy = IndexBusy(
        f"another xunwen process is writing {root}; wait for it to finish "
        "(or pass --wait to queue behind it)"
    )
    # lockf (a POSIX record lock) belongs to the process, so a second writer in the same
    # process needs a thread lock too.
    with _local_locks_guard:
        local = _local_locks.setdefault(str(root.resolve()), threading.Lock())
    if not local.acquire(blocking=wait):
        raise busy
    try:
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                # lockf, not flock: Whoosh's writer workers forked while it is held do not
                # inherit it, so orphans of a writer killed with SIGKILL cannot keep the index
                # locked; the kernel drops it when the holder dies, so it is never stale.
                fcntl.lockf(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except OSError as e:
                if e.errno not in (errno.EACCES, errno.EAGAIN):
                    raise
                raise busy from None
            yield
        finally:
            os.close(fd)
    finally:
        local.release()


_local_locks: dict[str, threading.Lock] = {}
_local_locks_guard = threading.Lock()


# ---------------------------------------------------------------- documents


def _site(url: str | None) -> str:
    if not url:
        return ""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def _epoch(dt: datetime | None) -> int:
    return int(dt.timestamp()) if dt else 0


def _month(dt: datetime | None) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m") if dt else ""


def _enrich(article: Article) -> tuple[Article, Any, list[str], str, str]:
    """Tag the region, compute the near-duplicate signature and band keys of one article, and
    return them with its folded title and body (handed on to the writer)."""
    from . import dedup, region  # stage modules; imported here to keep import time low

    ft, fb = fold_text(article.title), fold_text(article.body)
    if not article.region:
        article = replace(article, region=region.tag_region(article, folded_title=ft, folded_body=fb))
    sig = dedup.signature(fb or ft)
    return article, sig, dedup.band_keys(sig), ft, fb


def article_doc(a: Article, sig: Any, keys: list[str]) -> dict[str, Any]:
    """Return the Whoosh fields of one enriched article."""
    from .region import tag_codes  # stage module, imported late like in _enrich

    return {
        "id": a.id,
        "url": a.url or "",
        "site": _site(a.url),
        "title": a.title or "",
        "body": a.body or "",
        "published": _epoch(a.published),
        "month": _month(a.published),
        "source": a.source or "",
        "category": a.category or "",
        "region": ",".join(a.region),
        "regions": "|".join(tag_codes(a.region)),  # adcodes: the engine reads level and parent
        "authors": ",".join(x.replace(",", " ") for x in a.authors),
        "cluster": a.cluster or a.id,
        "dupkeys": ",".join(keys),
        "dupsig": sig,
        "dateline": a.dateline or "",
        "lang": a.lang or "",
        "origin": a.origin or "",
    }


def _index_candidates(searcher, keys: list[str]) -> list[tuple[str, str, Any]]:
    """Find (id, cluster, signature) of indexed articles sharing an LSH band key."""
    if not keys:
        return []
    q = Or([Term("dupkeys", k) for k in keys])
    out = []
    for docnum in list(searcher.docs_for_query(q))[:200]:
        f = searcher.stored_fields(docnum)
        out.append((f["id"], f.get("cluster") or f["id"], f.get("dupsig")))
    return out


# ---------------------------------------------------------------- merge policy

# Incremental runs (cron) each add a small segment. Whoosh's default policy (MERGE_SMALL)
# lets ~20 of them pile up before merging them, and its merge rewrites postings term by term
# in Python at about 3× the CPU per article of indexing, so an "optimize" of a large archive
# per run is out of the question. Tiers instead, inside the reindex process (never on the
# query path): segments of similar size form a tier; when MERGE_FACTOR segments share a tier
# they are merged into one of the next tier, so every article is rewritten about
# log_F(archive / MERGE_FLOOR) times over its life, and the segment count stays logarithmic.
# MERGE_BUDGET caps the documents one run rewrites (a run stays well inside a minute);
# segments above it are left alone (a rebuild's own segments, the big tiers).
MERGE_FACTOR = 6
MERGE_FLOOR = 1_000  # documents: every smaller segment is in tier 0
MERGE_BUDGET = 8_000  # documents rewritten by one run's merge, at most
DELETED_SHARE = 0.3  # a segment with this share of replaced/deleted articles is merged to drop them


def _tier(docs: int) -> int:
    tier = 0
    while docs >= MERGE_FLOOR * MERGE_FACTOR ** tier:
        tier += 1
    return tier


def merge_plan(sizes: list[tuple[int, int]]) -> list[int]:
    """Return the indexes of the segments to merge, given (documents, deleted) per segment."""
    tiers: dict[int, list[int]] = {}
    for i, (docs, deleted) in enumerate(sizes):
        tiers.setdefault(_tier(docs - deleted), []).append(i)
    chosen: list[int] = []
    budget = MERGE_BUDGET
    for tier in sorted(tiers):  # the smallest tiers first: cheap, and they are the many
        members = sorted(tiers[tier], key=lambda i: sizes[i][0])
        if len(members) < MERGE_FACTOR:
            continue
        for i in members:
            if sizes[i][0] <= budget:
                chosen.append(i)
                budget -= sizes[i][0]
    for i, (docs, deleted) in enumerate(sizes):
        if i not in chosen and docs and deleted / docs >= DELETED_SHARE and docs <= budget:
            chosen.append(i)
            budget -= docs
    return sorted(chosen) if len(chosen) > 1 or any(sizes[i][1] for i in chosen) else []


class _MergeReader:
    """A segment reader whose ``iter_postings`` walks the terms file in order.

    Whoosh's ``iter_postings`` (what ``add_reader`` merges from) looks every term up again
    through the terms file's hash table, rebuilds the set of deleted documents for each term
    and steps a matcher posting by posting: ~8 ms of CPU an article, 3× indexing it. Here the
    terms come with their term infos from one sequential pass and postings are read a block
    at a time. The same tuples in the same order; everything else is the wrapped reader's.
    """

    def __init__(self, reader: Any):
        self._reader = reader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    def iter_postings(self) -> Iterator[tuple[str, bytes, int, float, Any]]:
        """Yield ``(fieldname, term, docnum, weight, value bytes)`` of every live posting."""
        r = self._reader
        terms = r._terms
        schema = r.schema
        deleted = frozenset(r._perdoc.deleted_docs()) if r.has_deletions() else frozenset()
        formats: dict[str, Any] = {}
        for (fieldname, tbytes), info in terms.items():
            fmt = formats.get(fieldname)
            if fmt is None:
                if fieldname not in schema:
                    continue
                fmt = formats[fieldname] = schema[fieldname].format
            m = terms._codec.postings_reader(terms._postfile, info, fmt, term=(fieldname, tbytes))
            if hasattr(m, "_read_ids") and hasattr(m, "_next_block"):  # a block list on disk
                while not m._atend and m._blocklength:
                    m._read_ids()
                    m._read_weights()
                    m._read_values()
                    for d, w, v in zip(m._ids, m._weights, m._values):
                        if d not in deleted:
                            yield fieldname, tbytes, d, w, v
                    m._next_block()
            else:  # inline (short) lists
                while m.is_active():
                    d = m.id()
                    if d not in deleted:
                        yield fieldname, tbytes, d, m.weight(), m.value()
                    m.next()


def tiered_merge(writer: Any, segments: list[Any]) -> list[Any]:
    """Whoosh ``mergetype``: merge the segments :func:`merge_plan` picks into the new one."""
    from whoosh.reading import SegmentReader

    sizes = [(s.doc_count_all(), s.deleted_count()) for s in segments]
    chosen = set(merge_plan(sizes))
    if chosen:
        log.info("merging %d segments (%d documents)", len(chosen), sum(sizes[i][0] for i in chosen))
    for i in sorted(chosen):
        reader = SegmentReader(writer.storage, writer.schema, segments[i])
        writer.add_reader(_MergeReader(reader))
        reader.close()
    return [s for i, s in enumerate(segments) if i not in chosen]


# ---------------------------------------------------------------- reindex


class _PairCounts:
    """The collection's hashed character-pair counts (bigrams.BIGRAM_FILE), kept beside the index.

    A rebuild counts every article; an incremental run adds its articles to the generation's
    table (a replaced or deleted article's old pairs stay counted: these are background
    statistics for smoothing, and a rebuild makes them exact again). An index without a table
    (built before it existed) does not get a partial one.
    """

    def __init__(self, existing: Path | None):
        self.table: np.ndarray | None = np.zeros(BIGRAM_BUCKETS, dtype=np.uint32)
        if existing is not None:
            try:
                self.table = np.load(existing / BIGRAM_FILE).astype(np.uint32)
            except (OSError, ValueError):
                self.table = None
        self.batch: list[np.ndarray] = []
        self.pending = 0

    def add(self, title: str, body: str) -> None:
        if self.table is None:
            return
        codes = bigram_codes(title + "\n" + body)
        self.batch.append(codes)
        self.pending += len(codes)
        if self.pending > 2_000_000:
            self._flush()

    def _flush(self) -> None:
        if self.batch and self.table is not None:
            self.table += np.bincount(np.concatenate(self.batch), minlength=BIGRAM_BUCKETS).astype(np.uint32)
        self.batch, self.pending = [], 0

    def save(self, gen: Path) -> None:
        """Write the table into the generation (atomically)."""
        if self.table is None:
            return
        self._flush()
        tmp = gen / (BIGRAM_FILE + ".tmp")
        with open(tmp, "wb") as f:
            np.save(f, self.table)
        os.replace(tmp, gen / BIGRAM_FILE)


def _run_clusterer(root: Path) -> Any:
    """The near-duplicate clusterer of one run, its state in a scratch file under ``root``.

    Called with the writer lock held, so a leftover file of a killed run is nobody's.
    """
    from .dedup import DiskClusterer

    for stale in root.glob(".dedup.*.sqlite*"):
        stale.unlink(missing_ok=True)
    return DiskClusterer(str(root / f".dedup.{os.getpid()}.sqlite"))


def index_articles(
    articles: Iterable[Article],
    index_dir: str | os.PathLike,
    *,
    rebuild: bool = False,
    procs: int | None = None,
    summary: ReindexSummary | None = None,
    progress: Callable[[int], None] | None = None,
    wait: bool = False,
) -> ReindexSummary:
    """Index articles (add or replace by id); with ``rebuild`` into a new generation swapped in at the end."""
    root = Path(index_dir)
    summary = summary or ReindexSummary(index_dir=str(root), rebuild=rebuild)
    summary.rebuild = rebuild
    t0 = time.perf_counter()
    procs = procs if procs is not None else min(2, os.cpu_count() or 1)
    with writer_lock(root, wait=wait):
        _remove_debris(root)
        state = {"committed": False}
        try:
            _index_locked(articles, root, rebuild, procs, summary, progress, state)
        except OSError as e:
            # A full disk or another I/O error: one clear line for the CLI, nothing half-done left.
            _remove_debris(root)
            raise _write_failed(root, e, state["committed"]) from e
    summary.seconds = time.perf_counter() - t0
    return summary


def _index_locked(articles: Iterable[Article], root: Path, rebuild: bool, procs: int,
                  summary: ReindexSummary, progress: Callable[[int], None] | None,
                  state: dict[str, bool]) -> None:
    """The body of :func:`index_articles`, run holding the writer lock."""
    gen = current_generation(root)
    if gen is None or rebuild:
        target = _new_generation(root)
        ix = windex.open_dir(str(target))
        fresh = True
    else:
        ix, target = open_current(root)
        fresh = False
    summary.generation = target.name
    searcher = None if fresh else ix.searcher()
    if fresh and procs > 1:
        # Load jieba's dictionary (and the gazetteer words) once, before the writer
        # forks its workers, so they inherit it instead of each loading it again.
        from .analysis import ensure_dictionary

        ensure_dictionary()
        _workers_die_with_parent()
        writer = _writer(ix, procs=procs)
    else:
        writer = _writer(ix)
    try:
        _write_all(articles, root, gen, target, ix, fresh, searcher, writer, summary, progress, state)
    except IndexWriteFailed as e:
        disk = _worker_disk_error(writer)  # a worker's full disk is this run's full disk
        if disk is not None:
            raise disk from e
        raise


def _write_all(articles: Iterable[Article], root: Path, gen: Path | None, target: Path, ix: Any,
               fresh: bool, searcher: Any, writer: Any, summary: ReindexSummary,
               progress: Callable[[int], None] | None, state: dict[str, bool]) -> None:
    """Add the articles through writer, commit, and (for a fresh generation) swap it in."""
    from .extract import cap_article, id_problem

    clusterer = _run_clusterer(root)  # near-duplicate state on disk: memory does not grow with the run
    pairs = _PairCounts(None if fresh else target)
    ok = False
    try:
        for art in articles:
            summary.read += 1
            why = id_problem(art.id)
            if why:
                summary.skip(art.origin or "", None, why)
                continue
            # Every article of this run is in the clusterer's table: no id set in memory.
            if clusterer.cluster_of(art.id) is not None:
                summary.skip(art.origin or "", None, f"duplicate id: {art.id} already read in this run")
                continue
            art, cut = cap_article(art)  # iter_articles has cut (and reported) its own already
            if cut:
                summary.truncate(art.origin or "", None, cut)
            art, sig, keys, ftitle, fbody = _enrich(art)
            cands = _index_candidates(searcher, keys) if searcher is not None else ()
            cluster = clusterer.assign(art.id, sig, cands)
            if cluster != art.id:
                summary.near_duplicates += 1
            doc = article_doc(replace(art, cluster=cluster), sig, keys)
            doc[FOLDED_PREFIX + "title"] = ftitle  # folded once, here (Whoosh ignores _ names)
            doc[FOLDED_PREFIX + "body"] = fbody
            pairs.add(ftitle, fbody)
            if fresh:
                writer.add_document(**doc)
                summary.added += 1
            else:
                existed = searcher.document_number(id=art.id) is not None
                writer.update_document(**doc)
                if existed:
                    summary.replaced += 1
                else:
                    summary.added += 1
            summary.indexed += 1
            if progress:
                progress(1)
        ok = True
    finally:
        clusterer.close()
        if searcher is not None:
            searcher.close()
        if ok:
            try:
                # A rebuild's writer has no old segments; an incremental run merges by tier.
                writer.commit(mergetype=tiered_merge)
                state["committed"] = not fresh  # a fresh generation counts once it is swapped in
                pairs.save(target)
                if summary.indexed or not fresh:  # an empty rebuild is dropped below
                    sidecar.write(target)
            except BaseException:
                if fresh:  # a failed rebuild (a writer worker died, a full disk) leaves no generation behind
                    shutil.rmtree(target, ignore_errors=True)
                raise
        else:
            try:
                writer.cancel()
            except OSError as e:  # the error that brought us here is the one to report
                log.debug("cancelling the writer: %s", e)
            _stop_workers(writer)  # before their files are removed under them
            if fresh:
                shutil.rmtree(target, ignore_errors=True)
    if fresh:
        if summary.indexed == 0 and gen is not None:
            # Nothing could be indexed: keep serving what we had.
            shutil.rmtree(target, ignore_errors=True)
            summary.generation = gen.name
        else:
            try:
                _swap_current(root, target)
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                raise
            _prune_generations(root, target, gen)


def reindex(
    sources: Iterable[str | os.PathLike] | None,
    index_dir: str | os.PathLike,
    *,
    rebuild: bool = False,
    procs: int | None = None,
    progress: bool | Callable[[int], None] = False,
    on_problem: Callable[[Any], None] | None = None,
    wait: bool = False,
) -> ReindexSummary:
    """Extract articles from files/directories and index them; no sources = the bundled sample."""
    from .extract import iter_articles

    paths = list(sources or []) or default_sources()
    summary = ReindexSummary(index_dir=str(index_dir), rebuild=rebuild)

    def problem(p) -> None:
        if getattr(p, "kept", False):
            summary.truncate(p.path, p.line, p.reason)
        else:
            summary.skip(p.path, p.line, p.reason)
        if on_problem:
            on_problem(p)

    bar = None
    tick: Callable[[int], None] | None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(unit=" articles", desc="indexing", mininterval=0.5)
        tick = bar.update
    elif callable(progress):
        tick = progress
    else:
        tick = None
    try:
        return index_articles(
            iter_articles(paths, on_problem=problem), index_dir,
            rebuild=rebuild, procs=procs, summary=summary, progress=tick, wait=wait,
        )
    finally:
        if bar is not None:
            bar.close()


def delete_articles(ids: Iterable[str], index_dir: str | os.PathLike, *, wait: bool = False) -> list[str]:
    """Delete articles by id; return the ids that were not in the index."""
    missing: list[str] = []
    root = Path(index_dir)
    with writer_lock(root, wait=wait):
        _remove_debris(root)
        ix, _ = open_current(root)
        with ix.searcher() as s:
            present = {i for i in ids if s.document_number(id=i) is not None}
        missing = [i for i in ids if i not in present]
        if present:
            try:
                w = _writer(ix)
                for i in present:
                    w.delete_by_term("id", i)
                w.commit()
                sidecar.write(current_generation(index_dir))
            except OSError as e:
                _remove_debris(root)
                raise _write_failed(root, e, False) from e
    return missing
