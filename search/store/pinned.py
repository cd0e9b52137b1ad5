"""A commit's files memory-mapped up front, so that a merge cannot delete them under a request.

Whoosh opens some files lazily (columns, stored fields, vectors), and an incremental run's
merge deletes the files of the segments it merged; a reader opened on the path then fails
(ReaderClosed, None columns). :func:`pin_commit` maps every file of the served commit's
segments when a snapshot opens; :func:`open_searcher` opens a Whoosh searcher over them.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import Any, NamedTuple

from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import StructFile
from whoosh.index import TOC, FileIndex
from whoosh.searching import Searcher

from .. import budget as _budget
from ..errors import IndexMissing
from .generations import open_current

__all__ = ["PinnedCommit", "PinnedStorage", "pin_commit", "open_searcher"]


class MappedFile:
    """A read-only file over a shared memory map, with its own position.

    Each Whoosh reader gets its own object (so threads never share a position); the map
    itself is shared and stays readable after a merge has unlinked the file."""

    __slots__ = ("_buf", "_pos", "_len", "closed", "_reads")

    def __init__(self, buf: Any):
        self._buf, self._pos, self._len, self.closed, self._reads = buf, 0, len(buf), False, 0

    def read(self, n: int | None = -1) -> bytes:
        """Read up to ``n`` bytes (all that is left when ``n`` is negative)."""
        self._reads += 1
        if not self._reads & 127:  # a request long past its budget stops at its next reads
            _budget.guard()
        end = self._len if n is None or n < 0 else min(self._len, self._pos + n)
        data = self._buf[self._pos:end] if end > self._pos else b""
        self._pos = max(self._pos, end)
        return data

    def readline(self, limit: int = -1) -> bytes:
        """Read up to and including the next newline (pickle needs it)."""
        nl = self._buf.find(b"\n", self._pos)
        end = self._len if nl < 0 else nl + 1
        if limit is not None and limit >= 0:
            end = min(end, self._pos + limit)
        return self.read(end - self._pos)

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move the position as ``io`` files do."""
        base = (0, self._pos, self._len)[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        """Return the position."""
        return self._pos

    def close(self) -> None:
        """Forget the map (the snapshot owns it)."""
        self.closed = True


class PinnedStorage(FileStorage):
    """The files of one commit, memory-mapped when the snapshot opens.

    Whoosh opens some files lazily (columns, stored fields, vectors), and an incremental
    run's merge deletes the files of the segments it merged; a reader opened on the path
    then fails (ReaderClosed, None columns). Mapping every file of the commit's segments up
    front keeps them readable for as long as the snapshot lives, whatever happens on disk."""

    def __init__(self, folder: Path, names: list[str]):
        super().__init__(str(folder), readonly=True)
        self._maps: dict[str, Any] = {}
        try:
            for name in names:
                with open(folder / name, "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    self._maps[name] = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except BaseException:
            self.unmap()
            raise

    def open_file(self, name: str, **kwargs: Any) -> StructFile:
        """Open a pinned file (a file outside the commit is read from disk)."""
        buf = self._maps.get(name)
        if buf is None:
            return super().open_file(name, **kwargs)
        return StructFile(MappedFile(buf), name=name, **kwargs)

    def file_exists(self, name: str) -> bool:
        """True for a pinned file, else as on disk."""
        return name in self._maps or super().file_exists(name)

    def file_length(self, name: str) -> int:
        """Length of a pinned file, else as on disk."""
        buf = self._maps.get(name)
        return len(buf) if buf is not None else super().file_length(name)

    def close(self) -> None:
        """Do nothing: Whoosh closes a reader's storage with the reader, and these maps are
        shared by every reader of the snapshot (the snapshot calls :meth:`unmap`)."""

    def unmap(self) -> None:
        """Unmap every file (a map still viewed by a reader is dropped when that reader goes)."""
        for m in self._maps.values():
            if isinstance(m, mmap.mmap):
                try:
                    m.close()
                except BufferError:
                    pass
        self._maps = {}


class PinnedCommit(NamedTuple):
    """One commit of one generation: (generation name, TOC generation), its directory, schema,
    segments and pinned files."""

    key: tuple[str, int]
    gen: Path
    schema: Any
    segments: list[Any]
    storage: PinnedStorage


def pin_commit(index_dir: Path) -> PinnedCommit:
    """Open the served generation at its newest commit with every file of that commit pinned."""
    last: Exception | None = None
    for _ in range(10):
        ix, gen = open_current(index_dir)
        try:
            toc = TOC.read(ix.storage, ix.indexname)
            prefixes = tuple(seg.segment_id() + "." for seg in toc.segments)
            names = [n for n in os.listdir(gen) if n.startswith(prefixes)] if prefixes else []
            storage = PinnedStorage(gen, names)
        except (FileNotFoundError, OSError) as e:
            # A commit replaced the TOC or merged segments away between listing and opening.
            last = e
            continue
        return PinnedCommit((gen.name, toc.generation), gen, toc.schema, list(toc.segments), storage)
    raise IndexMissing(f"the index at {index_dir} kept changing while it was opened ({last})")


def open_searcher(storage: PinnedStorage, schema: Any, segments: list[Any], generation: int) -> Any:
    """Open a Whoosh searcher of a pinned commit (one per thread: Whoosh's are not thread-safe)."""
    return Searcher(FileIndex._reader(storage, schema, segments, generation))
