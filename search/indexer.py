"""Build and update the index: reindex (incremental), rebuild with atomic swap, delete.

Runs are orchestrated here; the storage itself is :mod:`search.store`'s (generations and the
``CURRENT`` swap, the writer lock, the segment writers, the merge policy). On disk an index
directory holds generations::

    index/
      CURRENT            name of the generation being served (replaced atomically)
      .writer.lock       held (lockf) by the one process that writes
      g-20261128T061500-1a2b/   a complete Whoosh index + xunwen.json (schema version)

``--rebuild`` writes a new generation next to the served one and swaps ``CURRENT`` with
``os.replace`` only after the commit succeeded, so readers never see a half-built
index and a killed or failed rebuild leaves the old generation serving. Incremental
runs update the current generation through Whoosh's own writer (new segments, then a
new TOC renamed into place).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import sidecar
from .bigrams import BIGRAM_BUCKETS, BIGRAM_FILE, bigram_codes
from .errors import IndexWriteFailed
from .hits import article_doc
from .models import Article
from .normalize import fold_text
from .store import dupkeys
from .store.generations import (
    current_generation,
    new_generation,
    open_current,
    open_generation,
    prune_generations,
    remove_debris,
    swap_current,
)
from .store.lock import writer_lock
from .store.merge import full_merge, tiered_merge
from .store.segwriter import FOLDED_PREFIX
from .store.writer import open_writer, stop_workers, worker_disk_error, workers_die_with_parent

__all__ = [
    "reindex",
    "index_articles",
    "delete_articles",
    "ReindexSummary",
    "default_sources",
]
# open_current, current_generation and writer_lock (search.store) stay importable from here for
# the benchmark scripts that import them from this module.

log = logging.getLogger(__name__)
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


def _write_failed(root: Path, e: OSError, committed: bool) -> IndexWriteFailed:
    """Return the one-line error for an I/O error while writing the index."""
    what = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        what += " (free some space and run again: what this run left behind is removed then)"
    state = ("this run's articles were committed, but its statistics were not saved" if committed
             else "nothing from this run was committed; the served index is unchanged")
    return IndexWriteFailed(f"could not write the index at {root}: {what}; {state}")


# ---------------------------------------------------------------- documents


def _enrich(article: Article) -> tuple[Article, Any, list[int], str, str]:
    """Tag the region, compute the near-duplicate signature and band keys of one article, and
    return them with its folded title and body (handed on to the writer)."""
    from . import dedup, region  # stage modules; imported here to keep import time low

    ft, fb = fold_text(article.title), fold_text(article.body)
    if not article.region:
        article = replace(article, region=region.tag_region(article, folded_title=ft, folded_body=fb))
    sig = dedup.signature(fb or ft)
    return article, sig, dedup.band_key_ints(sig), ft, fb


def _index_candidates(searcher, keys: list[int]) -> list[tuple[str, str, Any]]:
    """Find (id, cluster, signature) of indexed articles sharing an LSH band key."""
    if not keys:
        return []
    out = []
    for docnum in dupkeys.candidates(searcher, keys, 200):
        f = searcher.stored_fields(docnum)
        out.append((f["id"], f.get("cluster") or f["id"], f.get("dupsig")))
    return out


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
        remove_debris(root)
        state = {"committed": False}
        try:
            _index_locked(articles, root, rebuild, procs, summary, progress, state)
        except OSError as e:
            # A full disk or another I/O error: one clear line for the CLI, nothing half-done left.
            remove_debris(root)
            raise _write_failed(root, e, state["committed"]) from e
    summary.seconds = time.perf_counter() - t0
    return summary


def _index_locked(articles: Iterable[Article], root: Path, rebuild: bool, procs: int,
                  summary: ReindexSummary, progress: Callable[[int], None] | None,
                  state: dict[str, bool]) -> None:
    """The body of :func:`index_articles`, run holding the writer lock."""
    gen = current_generation(root)
    if gen is None or rebuild:
        target = new_generation(root)
        ix = open_generation(target)
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
        workers_die_with_parent()
        writer = open_writer(ix, procs=procs)
    else:
        writer = open_writer(ix)
    try:
        _write_all(articles, root, gen, target, ix, fresh, searcher, writer, summary, progress, state)
    except IndexWriteFailed as e:
        disk = worker_disk_error(writer)  # a worker's full disk is this run's full disk
        if disk is not None:
            raise disk from e
        raise


def _write_all(articles: Iterable[Article], root: Path, gen: Path | None, target: Path, ix: Any,
               fresh: bool, searcher: Any, writer: Any, summary: ReindexSummary,
               progress: Callable[[int], None] | None, state: dict[str, bool]) -> None:
    """Add the articles through writer, commit, and (for a fresh generation) swap it in."""
    from .ingest import cap_article, id_problem

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
                # Whoosh's update_document would open a reader over every segment for each
                # article to find the one it replaces (~6 ms an article at six segments);
                # this run's searcher holds the same segments (opened under the writer lock).
                old = searcher.document_number(id=art.id)
                if old is not None:
                    writer.delete_document(old)
                writer.add_document(**doc)
                if old is not None:
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
            stop_workers(writer)  # before their files are removed under them
            if fresh:
                shutil.rmtree(target, ignore_errors=True)
    if fresh:
        if summary.indexed == 0 and gen is not None:
            # Nothing could be indexed: keep serving what we had.
            shutil.rmtree(target, ignore_errors=True)
            summary.generation = gen.name
        else:
            try:
                swap_current(root, target)
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                raise
            prune_generations(root, target, gen)


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
    from .ingest import iter_articles

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
        remove_debris(root)
        ix, _ = open_current(root)
        with ix.searcher() as s:
            present = {i for i in ids if s.document_number(id=i) is not None}
        missing = [i for i in ids if i not in present]
        if present:
            try:
                w = open_writer(ix)
                for i in present:
                    w.delete_by_term("id", i)
                w.commit()
                sidecar.write(current_generation(index_dir))
            except OSError as e:
                remove_debris(root)
                raise _write_failed(root, e, False) from e
    return missing


def merge_index(index_dir: str | os.PathLike, *, max_docs: int | None = None,
                wait: bool = False) -> dict[str, Any]:
    """The nightly merge: merge the small segments of the served generation into one
    (:func:`search.store.merge.full_merge_plan`), under the writer lock.

    Incremental runs merge within a budget (a run stays inside a minute), so their merged
    segments accumulate beside a rebuild's; this rewrites them without a budget (or with
    ``max_docs``). Off the query path like every commit: searches keep the commit they
    pinned until the merged one is served. Returns the segment sizes before and after and
    the seconds it took, and whether anything was merged.
    """
    root = Path(index_dir)
    t0 = time.perf_counter()
    with writer_lock(root, wait=wait):
        remove_debris(root)
        ix, target = open_current(root)
        old = ix._segments()
        before = [s.doc_count() for s in old]
        try:
            w = open_writer(ix)
            w.commit(mergetype=full_merge(max_docs))
            new = ix.refresh()._segments()
            after = [s.doc_count() for s in new]
            merged = {s.segment_id() for s in new} != {s.segment_id() for s in old}
            if merged:  # from the index: the words and values of purged documents go
                sidecar.write(target, full=True)
        except OSError as e:
            remove_debris(root)
            raise _write_failed(root, e, False) from e
    return {"merged": merged, "segments_before": sorted(before, reverse=True),
            "segments_after": sorted(after, reverse=True), "seconds": round(time.perf_counter() - t0, 1)}


def upgrade_index(index_dir: str | os.PathLike, *, wait: bool = False,
                  progress: Callable[[str, int], None] | None = None) -> int:
    """Write, in place, what segments written by an older xunwen lack (their flat postings,
    search.store.flatpostings), under the writer lock; return how many segments gained them.
    Searches already open keep reading Whoosh's blocks until the next commit is served."""
    from .store.flatpostings import backfill

    root = Path(index_dir)
    with writer_lock(root, wait=wait):
        open_current(root)  # a clear IndexMissing / IndexIncompatible first
        return backfill(current_generation(root), progress)
