"""The writer lock: one process (and one thread in it) writes an index directory at a time."""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import IndexBusy

__all__ = ["writer_lock", "LOCK"]

LOCK = ".writer.lock"


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
