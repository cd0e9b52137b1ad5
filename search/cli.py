"""The ``xunwen`` command: reindex, delete, stats, search, extract, serve."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from .errors import BadQuery, IndexBusy, IndexIncompatible, IndexMissing, IndexWriteFailed, XunwenError
from .models import SORTS, SearchRequest

__all__ = ["main"]

DEFAULT_INDEX = "index"
log = logging.getLogger(__name__)


def index_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--index DIR`` (env XUNWEN_INDEX_DIR, default ./index)."""
    return click.option(
        "--index", "index_dir", envvar="XUNWEN_INDEX_DIR", default=DEFAULT_INDEX, show_default=True,
        show_envvar=True, type=click.Path(file_okay=False), help="Index directory.",
    )(f)


def _fail(e: XunwenError) -> click.ClickException:
    return click.ClickException(str(e))


def plural(n: int, word: str, words: str | None = None) -> str:
    """Return ``"1 article"`` / ``"2 articles"`` (thousands separated)."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


@contextlib.contextmanager
def reading_index(index_dir: str) -> Iterator[None]:
    """Turn an index that exists but cannot be read (a missing or damaged file, no permission)
    into one line and exit status 1 instead of a traceback."""
    try:
        yield
    except (XunwenError, click.ClickException, KeyboardInterrupt):
        raise
    except (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise click.ClickException(_unreadable(index_dir, e)) from e
    except Exception as e:  # whoosh's own errors (FileFormatError, ...) have no common base
        if type(e).__module__.startswith("whoosh"):
            raise click.ClickException(_unreadable(index_dir, e)) from e
        raise


def _unreadable(index_dir: str, e: BaseException) -> str:
    what = f"{type(e).__name__}: {e}"
    if len(what) > 200:
        what = what[:200] + "…"
    return (f"cannot read the index at {index_dir} ({what}); check its permissions, "
            f"or rebuild it with `xunwen reindex --rebuild --index {index_dir}`")


class _Progress:
    """Reindex progress: a bar with total, rate and ETA on a terminal, else a log line every
    ``every`` seconds (for cron and CI logs)."""

    def __init__(self, total: int | None, tty: bool, every: float = 10.0):
        self.total = total or None
        self.done = 0
        self.start = time.monotonic()
        self.every = every
        self.last = self.start
        self.bar = None
        if tty:
            from tqdm import tqdm

            # A terminal that reports no size (a bare pty, some CI runners) gets 80 × 24: tqdm
            # would otherwise hide the bar (it takes 0 rows as "no room").
            try:
                size = os.get_terminal_size(sys.stderr.fileno())
                cols, rows = size.columns or 80, size.lines or 24
            except (OSError, ValueError):
                cols, rows = 80, 24
            self.bar = tqdm(total=self.total, unit=" articles", desc="indexing", mininterval=0.5,
                            ncols=min(cols, 120), nrows=rows)

    def __call__(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            if self.total and self.done > self.total:  # the estimate was low: grow it
                self.bar.total = self.total = self.done
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            click.echo(self.line(now), err=True)

    def line(self, now: float | None = None) -> str:
        """Return one progress line: done of total (share), rate, ETA."""
        now = time.monotonic() if now is None else now
        secs = max(now - self.start, 1e-6)
        rate = self.done / secs
        out = f"indexing: {self.done:,}"
        if self.total:
            share = min(100.0, 100.0 * self.done / self.total)
            out += f" of ~{self.total:,} articles ({share:.0f} %)"
        else:
            out += " articles"
        out += f", {rate:,.0f} articles/s, {_duration(secs)} elapsed"
        if self.total and rate > 0 and self.done < self.total:
            out += f", ETA {_duration((self.total - self.done) / rate)}"
        return out

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _duration(secs: float) -> str:
    secs = int(round(secs))
    if secs < 60:
        return f"{secs} s"
    if secs < 3600:
        return f"{secs // 60} min {secs % 60:02d} s"
    return f"{secs // 3600} h {secs % 3600 // 60:02d} min"


_ARTICLE_FILES = (".html", ".htm", ".shtml", ".txt")


def estimate_articles(paths: list[str]) -> int | None:
    """Return about how many articles ``paths`` hold (lines of JSON lines, one per page file);
    None when a WARC (or an unreadable file) makes it unknowable cheaply."""
    import gzip

    total = 0
    stack = [Path(p) for p in paths]
    seen = 0
    while stack:
        p = stack.pop()
        seen += 1
        if seen > 1_000_000:
            return None
        try:
            if p.is_dir():
                stack.extend(sorted(p.iterdir()))
                continue
            name = p.name.lower()
            base = name[:-3] if name.endswith(".gz") else name
            if base.endswith(".jsonl"):
                opener = gzip.open if name.endswith(".gz") else open
                with opener(p, "rb") as f:
                    total += sum(1 for line in f if line.strip())
            elif base.endswith(".warc"):
                return None
            elif base.endswith(_ARTICLE_FILES):
                total += 1
        except (OSError, EOFError):
            return None
    return total


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="xunwen")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """xunwen (寻闻): full-text search over Chinese regional news."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


# Batch work (reindex) yields the CPU to a server on the same machine by default.
NICE = 10


def _lower_priority(n: int) -> None:
    """Raise this process's niceness by ``n`` (best effort: a refusal is not an error)."""
    if n > 0 and hasattr(os, "nice"):
        try:
            os.nice(n)
        except OSError as e:
            log.debug("could not lower the CPU priority: %s", e)


@main.command()
@click.argument("sources", nargs=-1, type=click.Path(exists=True))
@index_option
@click.option("--rebuild", is_flag=True, help="Build a fresh index and swap it in atomically.")
@click.option("--procs", type=click.IntRange(1, 64), default=None, help="Worker processes (default: up to 2).")
@click.option("--wait", is_flag=True, help="Wait for another running reindex instead of refusing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--nice", "niceness", type=click.IntRange(0, 19), default=None,
              help=f"Lower this run's CPU priority by this much (0: keep it), so that a server on "
                   f"the same machine keeps answering while cron reindexes. Default: "
                   f"$XUNWEN_NICE or {NICE}.")
@click.option("--progress/--no-progress", default=None,
              help="Progress: a bar with total, rate and ETA on a terminal, else a line every "
                   "XUNWEN_PROGRESS_EVERY seconds (default 10). On by default.")
def reindex(sources: tuple[str, ...], index_dir: str, rebuild: bool, procs: int | None, wait: bool,
            as_json: bool, niceness: int, progress: bool | None) -> None:
    """Add or replace articles from SOURCES (files or directories; default: the bundled sample).

    Inputs: .html/.htm/.shtml (gzipped too), .txt page dumps, .jsonl/.jsonl.gz, .warc/.warc.gz.
    Broken inputs are reported and skipped; the exit status is 1 when nothing could be indexed.
    """
    from .indexer import default_sources
    from .indexer import reindex as run

    if niceness is None:
        niceness = int(os.environ.get("XUNWEN_NICE", NICE) or 0)
    _lower_priority(niceness)  # the writer's worker processes inherit it
    tty = sys.stderr.isatty()
    if progress is None:
        progress = True  # a bar on a terminal, a periodic line otherwise
    ticker = None
    if progress:
        every = float(os.environ.get("XUNWEN_PROGRESS_EVERY", "10") or 10)
        ticker = _Progress(estimate_articles(list(sources) or [str(p) for p in default_sources()]), tty, every)

    def report(p: Any) -> None:
        where = f"{p.path}:{p.line}" if p.line else p.path
        click.echo(f"{'cut' if getattr(p, 'kept', False) else 'skipped'} {where}: {p.reason}", err=True)

    try:
        with reading_index(index_dir):
            s = run(list(sources), index_dir, rebuild=rebuild, procs=procs, progress=ticker or False,
                    on_problem=report, wait=wait)
    except (IndexBusy, IndexIncompatible, IndexMissing, IndexWriteFailed) as e:
        raise _fail(e) from e
    finally:
        if ticker is not None:
            ticker.close()
    if ticker is not None and not tty:
        click.echo(ticker.line(), err=True)
    if as_json:
        click.echo(json.dumps(s.to_dict(), ensure_ascii=False, indent=2))
    else:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(s.skip_reasons.items()))
        click.echo(
            f"read {s.read}, indexed {s.indexed} (added {s.added}, replaced {s.replaced}), "
            f"skipped {s.skipped}{f' ({reasons})' if reasons else ''}, "
            f"{f'text cut {s.truncated}, ' if s.truncated else ''}near-duplicates {s.near_duplicates}, "
            f"{s.seconds:.1f} s, {s.rate:.0f} articles/s -> {index_dir} [{s.generation}]"
        )
    if s.indexed == 0:
        raise click.ClickException("nothing could be indexed" + (" (the served index is unchanged)" if rebuild else ""))


@main.command()
@click.argument("ids", nargs=-1, required=True)
@index_option
@click.option("--wait", is_flag=True, help="Wait for a running reindex instead of refusing.")
def delete(ids: tuple[str, ...], index_dir: str, wait: bool) -> None:
    """Delete articles by id."""
    from .indexer import delete_articles

    try:
        missing = delete_articles(list(ids), index_dir, wait=wait)
    except XunwenError as e:
        raise _fail(e) from e
    click.echo(f"deleted {len(ids) - len(missing)}")
    if missing:
        raise click.ClickException("not in the index: " + ", ".join(missing))


@main.command()
@index_option
@click.option("--max-docs", type=click.IntRange(1), default=None,
              help="Rewrite at most this many articles (default: every small segment).")
@click.option("--wait", is_flag=True, help="Wait for a running reindex instead of refusing.")
@click.option("--json", "as_json", is_flag=True, help="Print the segment sizes before and after as JSON.")
def merge(index_dir: str, max_docs: int | None, wait: bool, as_json: bool) -> None:
    """Merge the small segments incremental runs left into one (run nightly from cron).

    Each reindex merges within a budget so that it stays inside a minute; this has none, so
    searches keep the speed of a fresh rebuild. Searches go on meanwhile and see the merged
    index at its commit."""
    from .indexer import merge_index

    _lower_priority(10)
    try:
        res = merge_index(index_dir, max_docs=max_docs, wait=wait)
    except XunwenError as e:
        raise _fail(e) from e
    if as_json:
        click.echo(json.dumps(res))
        return
    b, a = res["segments_before"], res["segments_after"]
    if not res["merged"]:
        click.echo(f"nothing to merge ({plural(len(b), 'segment')})")
    else:
        click.echo(f"merged {plural(len(b), 'segment')} into {len(a)} in {_duration(res['seconds'])}")


@main.command()
@index_option
@click.option("--wait", is_flag=True, help="Wait for a running reindex instead of refusing.")
def upgrade(index_dir: str, wait: bool) -> None:
    """Add, in place, what an index built by an older xunwen lacks (flat postings for fast
    first reads of common words); no reindex needed. Safe to re-run."""
    from .indexer import upgrade_index

    def tick(segment: str, terms: int) -> None:
        click.echo(f"{segment}: {terms:,} terms", err=True)

    try:
        n = upgrade_index(index_dir, wait=wait, progress=tick)
    except XunwenError as e:
        raise _fail(e) from e
    click.echo(f"upgraded {n} segment(s)" if n else "nothing to upgrade")


@main.command()
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(index_dir: str, as_json: bool) -> None:
    """Show articles, sources, date range, size on disk and schema version."""
    from .engine import SearchEngine

    try:
        with reading_index(index_dir):
            st = SearchEngine(index_dir).stats()
    except XunwenError as e:
        raise _fail(e) from e
    if as_json:
        click.echo(json.dumps(st, ensure_ascii=False, indent=2))
        return
    click.echo(f"index       {st['index_dir']} ({st['generation']})")
    click.echo(f"schema      v{st['schema_version']}")
    click.echo(f"articles    {st['articles']}")
    click.echo(f"sources     {st['sources']}")
    click.echo(f"dates       {st['date_from'] or '-'} .. {st['date_to'] or '-'}")
    click.echo(f"size        {st['size_bytes'] / 1e6:.1f} MB in {st['segments']} segment(s)")


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("query", nargs=-1, type=click.UNPROCESSED)
@index_option
@click.option("--page", type=int, default=1, show_default=True)
@click.option("--size", type=int, default=10, show_default=True)
@click.option("--sort", type=click.Choice(SORTS), default="relevance", show_default=True)
@click.option("--from", "date_from", metavar="YYYY-MM-DD", help="Published on or after this day (Asia/Shanghai).")
@click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Published on or before this day.")
@click.option("--source", multiple=True, help="Only this source (repeat for several).")
@click.option("--region", multiple=True, help="Only articles about this region (repeat to narrow).")
@click.option("--category", multiple=True, help="Only this category.")
@click.option("--all-copies", is_flag=True, help="Show every copy of a story instead of one per story.")
@click.option("--json", "as_json", is_flag=True, help="Print SearchPage.to_dict() as JSON.")
def search(query: tuple[str, ...], index_dir: str, page: int, size: int, sort: str, date_from: str | None,
           date_to: str | None, source: tuple[str, ...], region: tuple[str, ...], category: tuple[str, ...],
           all_copies: bool, as_json: bool) -> None:
    """Search the index: words are ANDed; "exact phrase", -exclude, A OR B, title:/source:/region:/site:.

    Pinyin (jiandu) and abbreviations (发改委, see XUNWEN_ALIASES_FILE) also find what they stand for.
    """
    import re

    from .aliases import region_label
    from .engine import SearchEngine

    region = tuple(dict.fromkeys(region_label(r) for r in region))  # 四川省 → 四川, as the page does
    req = SearchRequest(q=" ".join(query), page=page, size=size, sort=sort, date_from=date_from,
                        date_to=date_to, source=source, region=region, category=category,
                        collapse=not all_copies)
    try:
        with reading_index(index_dir):
            engine = SearchEngine(index_dir)
            res = engine.search(req)
            expansions = engine.expansions(req.q) if req.q and not as_json else []
            dym = engine.did_you_mean(req.q) if req.q and res.total < 3 and page == 1 and not as_json else []
    except BadQuery as e:
        raise click.UsageError(str(e)) from e
    except XunwenError as e:
        raise _fail(e) from e
    if as_json:  # exactly SearchPage.to_dict(), as the API serves it
        click.echo(json.dumps(res.to_dict(), ensure_ascii=False, indent=2))
        return
    tty = sys.stdout.isatty()

    def marks(html: str) -> str:
        import html as h

        on, off = ("\x1b[1;31m", "\x1b[0m") if tty else ("[", "]")
        return h.unescape(re.sub(r"</?mark>", lambda m: off if m.group(0)[1] == "/" else on, html))

    shown = plural(res.stories, "story", "stories") + ", " if res.collapsed else ""
    click.echo(f"{plural(res.total, 'article')} ({shown}{res.took_ms:.0f} ms)")
    for x in expansions:
        how = "pinyin" if x.kind == "pinyin" else "also"
        click.echo(f"{x.text} -> {how}: {', '.join(x.alternatives)}")
    if dym:
        click.echo("did you mean: " + " | ".join(dym))
    if res.relaxed:
        click.echo(f"{res.total} hold every word; {res.total_relaxed} more hold most of them (listed after)")
    for i, hit in enumerate(res.hits, start=(page - 1) * size + 1):
        meta = " · ".join(x for x in (hit.source, (hit.published or "")[:16].replace("T", " "),
                                      "/".join(hit.region)) if x)
        similar = f"  (+{hit.similar_count} similar)" if hit.similar_count else ""
        click.echo(f"\n{i}. {marks(hit.title_html)}{similar}")
        click.echo(f"   {meta}  [{hit.id}]")
        if hit.url:
            click.echo(f"   {hit.url}")
        if hit.snippet_html:
            click.echo(f"   {marks(hit.snippet_html)}")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="One JSON article per line.")
def extract(paths: tuple[str, ...], as_json: bool) -> None:
    """Show what the ingester makes of each input (what would be indexed)."""
    from .ingest import iter_articles
    from .region import with_region

    problems = 0

    def report(p: Any) -> None:
        nonlocal problems
        problems += not getattr(p, "kept", False)
        where = f"{p.path}:{p.line}" if p.line else p.path
        click.echo(f"{'cut' if getattr(p, 'kept', False) else 'skipped'} {where}: {p.reason}", err=True)

    n = 0
    for art in iter_articles(list(paths), on_problem=report):
        art = with_region(art)
        n += 1
        if as_json:
            click.echo(json.dumps(art.to_dict(), ensure_ascii=False))
            continue
        d = art.to_dict()
        body = d.pop("body")
        click.echo(f"== {d.pop('origin')}")
        for k, v in d.items():
            if v not in (None, "", []):
                click.echo(f"{k:10} {', '.join(v) if isinstance(v, list) else v}")
        click.echo(f"body       {len(body)} chars")
        click.echo("  " + body[:300].replace("\n", "\n  ") + ("…" if len(body) > 300 else ""))
    if n == 0:
        raise click.ClickException(f"no article could be extracted ({problems} input(s) skipped)")


@main.command()
@index_option
@click.option("--host", default="127.0.0.1", show_default=True, envvar="XUNWEN_HOST")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, envvar="XUNWEN_PORT")
@click.option("--threads", type=click.IntRange(1, 64), default=16, show_default=True)
@click.option("--expensive-slots", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Requests doing expensive work at once.")
def serve(index_dir: str, host: str, port: int, threads: int, expensive_slots: int) -> None:
    """Serve the search page and JSON API with waitress (builds the sample index if none exists)."""
    from web.serve import run  # the web layer is only needed here

    check_port(host, port)  # before building or opening anything: one clear line, exit 1
    try:
        with reading_index(index_dir):
            run(host=host, port=port, index_dir=index_dir, threads=threads, expensive_slots=expensive_slots)
    except XunwenError as e:
        raise _fail(e) from e
    except OSError as e:  # the port was taken between the check and waitress's bind
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


def check_port(host: str, port: int) -> None:
    """Exit with one line when ``host:port`` cannot be listened on (busy, or no such address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # as waitress binds: SO_REUSEADDR, so a port in TIME_WAIT is not called busy
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as e:
            if e.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                raise click.ClickException(
                    f"port {port} on {host} is already in use (another xunwen serve?); "
                    f"stop it or choose another with --port") from e
            raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


@main.command()
@click.argument("prefix", nargs=-1, required=True)
@index_option
@click.option("--limit", type=click.IntRange(1, 50), default=8, show_default=True)
def suggest(prefix: tuple[str, ...], index_dir: str, limit: int) -> None:
    """Print completions of PREFIX (indexed words, aliases, pinyin, titles), one per line."""
    from .engine import SearchEngine

    try:
        with reading_index(index_dir):
            words = SearchEngine(index_dir).suggest(" ".join(prefix), limit)
    except XunwenError as e:
        raise _fail(e) from e
    for w in words:
        click.echo(w)


if __name__ == "__main__":  # pragma: no cover
    main()
