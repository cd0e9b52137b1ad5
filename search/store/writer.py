"""Opening the index's writer: the codec, the segment writers, and their worker processes."""

from __future__ import annotations

import errno
import os
import signal
import sys
from typing import Any

from whoosh.codec.whoosh3 import W3Codec

from .compat import install
from .segwriter import FastMpWriter, FastSegmentWriter

__all__ = ["open_writer", "codec", "INLINE_LIMIT", "WRITER_LIMIT_MB"]

INLINE_LIMIT = 8
WRITER_LIMIT_MB = 192  # per writer process: postings held in memory before a run file
# Segments are written as separate files, not Whoosh's compound file: a reader of a compound
# segment copies every sub-file it opens into memory (BytesIO over the mmap), once per
# searcher, i.e. once per serving thread; separate files are read through the page cache.


def codec() -> Any:
    """Whoosh's W3 codec with posting lists of up to 8 documents stored inline.

    Most words of a news archive occur in a handful of articles; writing each of those lists
    as its own zlib-compressed block cost about a third of commit time (bench/ingest.py at 20k
    articles: 373 → 477 articles/s with this change)
    and made the index bigger.
    """
    return W3Codec(inlinelimit=INLINE_LIMIT)


# Set by tests (and for before/after timings) to write with Whoosh's own writers instead:
# Whoosh 2.7.4's SegmentWriter/MpWriter and PostingPool, with compat.install()'s fixes
# (without the inline-list one it cannot write this codec at all).
_STOCK_WRITER = False


def open_writer(ix: Any, procs: int = 1) -> Any:
    """Open the index's writer: per-term postings (search.store.segwriter), separate segment files.

    With ``procs`` > 1, one worker process per core each writes a segment (Whoosh's
    multi-process writer, ``multisegment``). ``limitmb`` bounds each writer's in-memory
    postings (spilled to sorted run files past it).
    """
    install()  # Whoosh's own writer (the stock reference) runs with the same fixes as ever
    kw: dict[str, Any] = {"limitmb": WRITER_LIMIT_MB, "compound": False, "codec": codec()}
    if _STOCK_WRITER:
        if procs > 1:
            return ix.writer(procs=procs, multisegment=True, batchsize=256, **kw)
        return ix.writer(**kw)
    if procs > 1:
        return FastMpWriter(ix, procs=procs, batchsize=256, **kw)
    return FastSegmentWriter(ix, **kw)


# ---------------------------------------------------------------- writer processes


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


def stop_workers(writer: Any) -> None:
    """Stop a failed multi-process writer's workers (Whoosh's cancel only asks them to)."""
    for task in getattr(writer, "tasks", ()):
        if task.is_alive():
            task.terminate()
    for task in getattr(writer, "tasks", ()):
        task.join(5)


def worker_disk_error(writer: Any) -> OSError | None:
    """Return the disk error a writer worker ended with (its exit code), or None."""
    for task in getattr(writer, "tasks", ()):
        if task.exitcode in _DISK_ERRNOS:
            return OSError(task.exitcode, os.strerror(task.exitcode))
    return None


_FORK_HOOK: list[bool] = []


def workers_die_with_parent() -> None:
    """Make processes forked from here on (Whoosh's writer workers) die when this one does."""
    if not _FORK_HOOK and sys.platform.startswith("linux"):
        os.register_at_fork(after_in_child=_die_with_parent)
        _FORK_HOOK.append(True)
