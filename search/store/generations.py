"""Index generations on disk: opening the served one, creating, swapping and pruning them.

An index directory holds generations::

    index/
      CURRENT            name of the generation being served (replaced atomically)
      .writer.lock       held (lockf) by the one process that writes (search.store.lock)
      g-20261128T061500-1a2b/   a complete Whoosh index + xunwen.json (schema version)

A rebuild writes a new generation next to the served one and :func:`swap_current` replaces
``CURRENT`` with ``os.replace`` only after its commit succeeded, so readers never see a
half-built index; :func:`remove_debris` removes what failed or killed writers left behind.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import secrets
import shutil
import struct
from datetime import datetime
from pathlib import Path
from typing import Any

from whoosh import index as windex
from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC, clean_files

from ..errors import IndexIncompatible, IndexMissing
from ..params import SHANGHAI
from ..schema import READABLE_VERSIONS, SCHEMA_VERSION, make_schema

__all__ = ["CURRENT", "META", "current_generation", "open_current", "open_generation", "latest_commit",
           "schema_version"]

log = logging.getLogger(__name__)
CURRENT = "CURRENT"
META = "xunwen.json"


def current_generation(index_dir: str | os.PathLike) -> Path | None:
    """Return the directory of the served generation, or None when there is none."""
    root = Path(index_dir)
    try:
        name = (root / CURRENT).read_text("utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    gen = root / name
    return gen if name and gen.is_dir() else None


def schema_version(gen: Path) -> int | None:
    """Return the schema version a generation was written with (None when unreadable)."""
    try:
        v = json.loads((gen / META).read_text("utf-8")).get("schema_version")
    except (OSError, ValueError, AttributeError):
        return None
    return v if isinstance(v, int) else None


def _check_meta(gen: Path) -> None:
    try:
        meta = json.loads((gen / META).read_text("utf-8"))
    except (OSError, ValueError):
        raise IndexIncompatible(
            f"{gen} is not an xunwen index of this version: run `xunwen reindex --rebuild`"
        ) from None
    if meta.get("schema_version") not in READABLE_VERSIONS:
        raise IndexIncompatible(
            f"the index at {gen.parent} has schema version {meta.get('schema_version')}, "
            f"this xunwen reads {' and '.join(map(str, READABLE_VERSIONS))}: run `xunwen reindex --rebuild`"
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


def new_generation(root: Path) -> Path:
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


def swap_current(root: Path, gen: Path) -> None:
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


def prune_generations(root: Path, keep: Path, previous: Path | None) -> None:
    """Remove generations other than ``keep`` and ``previous`` (readers may still hold it)."""
    for old in root.glob("g-*"):
        if old.is_dir() and old != keep and old != previous:
            shutil.rmtree(old, ignore_errors=True)


_TOC_TEMP_RE = re.compile(r"^_MAIN_\d+\.toc\.[\d.]+$")  # Whoosh writes a TOC here, then renames it


def remove_debris(root: Path) -> None:
    """Remove what failed or killed writers left behind; call it holding the writer lock.

    With the lock held no other writer is running, so: ``.CURRENT.<pid>.tmp`` files (a
    rebuild killed during the swap), ``.dedup.<pid>.sqlite`` (a killed run's clusterer), generations that were never served (no TOC: a failed
    ``--rebuild``; newer than the served one: a rebuild killed before its swap), and inside
    the served generation Whoosh's temp files (``MAIN.tmp``, an unrenamed TOC) and segment
    files no TOC refers to (a commit that failed, e.g. on a full disk). The generation served
    before the current one is kept: readers may still hold it.
    """
    for tmp in root.glob(f".{CURRENT}.*.tmp"):
        _remove(tmp)
    for stale in root.glob(".dedup.*.sqlite*"):  # a killed run's near-duplicate scratch state
        _remove(stale)
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


def open_generation(gen: Path) -> Any:
    """Open one generation's Whoosh index (its newest commit)."""
    return windex.open_dir(str(gen))


def latest_commit(gen: Path) -> int:
    """Return the number of the generation's newest commit (its TOC generation).

    A commit of an incremental run writes a new TOC generation in the same directory."""
    return TOC._latest_generation(FileStorage(str(gen)), "MAIN")
