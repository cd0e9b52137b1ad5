"""Walk input paths and turn every good file into Articles; report each bad one and go on.

Bad input never raises out of :func:`iter_articles`: each skipped input is reported as a
:class:`Problem` (path, line, reason) and the run goes on.
"""

from __future__ import annotations

import gzip
import logging
import os
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ExtractError
from ..models import Article
from .charset import decode_bytes
from .html import extract_html
from .limits import (
    MAX_PAGE_BYTES,
    InputTooLarge,
    Problem,
    cap_article,
    check_markup,
    io_reason,
    is_gz,
    size_text,
)
from .records import jsonl_articles, warc_articles
from .text import extract_text_dump

__all__ = ["iter_articles", "count_inputs"]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- files

_KINDS = {".html": "html", ".htm": "html", ".shtml": "html", ".xhtml": "html", ".txt": "txt",
          ".jsonl": "jsonl", ".warc": "warc"}


def _kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return _KINDS.get(os.path.splitext(name)[1])


def _walk(paths: Iterable[str | os.PathLike], report: Callable[[Problem], None]) -> Iterator[Path]:
    """Yield files under paths in sorted order, surviving symlink loops, unreadable and deep dirs.

    The walk keeps its own stack (a tree thousands of levels deep is walked like a flat one);
    directories are known by (device, inode), so a symlink back to an ancestor is reported as
    a loop and one to a directory seen elsewhere is walked once.
    """
    visited: set[tuple[int, int]] = set()

    def open_dir(d: Path, parent: _DirNode | None) -> _DirNode | None:
        try:
            st = os.stat(d)
        except OSError as e:
            report(Problem(str(d), None, f"unreadable directory: {e.strerror or e}"))
            return None
        key = (st.st_dev, st.st_ino)
        node = parent
        while node is not None:
            if node.key == key:
                report(Problem(str(d), None, f"symlink loop: points back to {node.path}"))
                return None
            node = node.parent
        if key in visited:
            log.debug("%s: already visited", d)
            return None
        visited.add(key)
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            report(Problem(str(d), None, f"unreadable directory: {e.strerror or e}"))
            return None
        return _DirNode(str(d), key, parent, iter(entries))

    for raw in paths:
        p = Path(raw)
        if not p.is_dir():
            if p.exists() or p.is_symlink():
                yield p
            else:
                report(Problem(str(p), None, "no such file or directory"))
            continue
        top = open_dir(p, None)
        stack = [top] if top is not None else []
        while stack:
            entry = next(stack[-1].entries, None)
            if entry is None:
                stack.pop()
                continue
            if entry.name.startswith("."):
                continue  # hidden files and VCS folders are not inputs
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                child = open_dir(Path(entry.path), stack[-1])
                if child is not None:
                    stack.append(child)
            else:
                yield Path(entry.path)


@dataclass
class _DirNode:
    """One directory on the walk's stack: its (device, inode), its parent and its unread entries."""

    path: str
    key: tuple[int, int]
    parent: _DirNode | None
    entries: Iterator[os.DirEntry]


def count_inputs(paths: Iterable[str | os.PathLike]) -> int:
    """Return how many files iter_articles would open (for a progress bar)."""
    return sum(1 for p in _walk(paths, lambda _p: None) if _kind_of(p))


def _read_bytes(path: Path) -> bytes:
    """Read one page or dump whole (gunzipped when .gz), refusing more than MAX_PAGE_BYTES."""
    size = path.stat().st_size
    if size > MAX_PAGE_BYTES:
        raise InputTooLarge(f"too large: {size:,} bytes, over the {size_text(MAX_PAGE_BYTES)} limit for one page")
    opener: Any = gzip.open if is_gz(path) else open
    with opener(path, "rb") as f:
        data = f.read(MAX_PAGE_BYTES + 1)
    if len(data) > MAX_PAGE_BYTES:
        raise InputTooLarge(f"too large: decompresses to over the {size_text(MAX_PAGE_BYTES)} limit for one page")
    return data


def _iter_file(path: Path, kind: str, report: Callable[[Problem], None]) -> Iterator[Article]:
    if kind == "jsonl":
        yield from jsonl_articles(path, report)
        return
    if kind == "warc":
        yield from warc_articles(path, report)
        return
    data = _read_bytes(path)
    if not data.strip():
        raise ExtractError("empty file")
    if kind == "html":
        check_markup(data)
        yield extract_html(data, origin=str(path))
    else:
        text, _enc = decode_bytes(data)
        yield extract_text_dump(text, origin=str(path))


def iter_articles(
    paths: Iterable[str | os.PathLike],
    on_problem: Callable[[Problem], None] | None = None,
) -> Iterator[Article]:
    """Yield an Article for every good input under paths; report each bad one and go on."""

    def report(p: Problem) -> None:
        if on_problem is not None:
            on_problem(p)
        else:
            log.warning("skipped %s", p)

    for path in _walk(paths, report):
        kind = _kind_of(path)
        if kind is None:
            report(Problem(str(path), None, f"unknown file type {path.suffix or '(no suffix)'!r}"))
            continue
        try:
            mode = path.stat().st_mode
        except OSError as e:
            report(Problem(str(path), None, io_reason(e)))
            continue
        if not stat.S_ISREG(mode):
            # Opening a FIFO blocks until a writer appears; devices and sockets are no inputs.
            report(Problem(str(path), None, "not a regular file (FIFO, socket or device)"))
            continue
        try:
            for art in _iter_file(path, kind, report):
                art, cut = cap_article(art)
                if cut:
                    report(Problem(art.origin or str(path), None, cut, kept=True))
                yield art
        except ExtractError as e:
            report(Problem(str(path), None, str(e)))
        except (OSError, EOFError, zlib.error) as e:
            report(Problem(str(path), None, io_reason(e)))
        except Exception as e:  # noqa: BLE001 - one bad file must not end a reindex
            log.exception("unexpected error on %s", path)
            report(Problem(str(path), None, f"internal error: {type(e).__name__}: {e}"))
