"""The ``xunwen`` command: reindex, delete, stats, search, extract, serve."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import click

from .errors import BadQuery, IndexBusy, IndexIncompatible, IndexMissing, IndexWriteFailed, XunwenError
from .models import SORTS, SearchRequest

__all__ = ["main"]

DEFAULT_INDEX = "index"


def index_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--index DIR`` (env XUNWEN_INDEX_DIR, default ./index)."""
    return click.option(
        "--index", "index_dir", envvar="XUNWEN_INDEX_DIR", default=DEFAULT_INDEX, show_default=True,
        show_envvar=True, type=click.Path(file_okay=False), help="Index directory.",
    )(f)


def _fail(e: XunwenError) -> click.ClickException:
    return click.ClickException(str(e))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="xunwen")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """xunwen (寻闻): full-text search over Chinese regional news."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("sources", nargs=-1, type=click.Path(exists=True))
@index_option
@click.option("--rebuild", is_flag=True, help="Build a fresh index and swap it in atomically.")
@click.option("--procs", type=click.IntRange(1, 64), default=None, help="Worker processes (default: up to 2).")
@click.option("--wait", is_flag=True, help="Wait for another running reindex instead of refusing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
def reindex(sources: tuple[str, ...], index_dir: str, rebuild: bool, procs: int | None, wait: bool,
            as_json: bool, progress: bool | None) -> None:
    """Add or replace articles from SOURCES (files or directories; default: the bundled sample).

    Inputs: .html/.htm/.shtml (gzipped too), .txt page dumps, .jsonl/.jsonl.gz, .warc/.warc.gz.
    Broken inputs are reported and skipped; the exit status is 1 when nothing could be indexed.
    """
    from .indexer import reindex as run

    if progress is None:
        progress = sys.stderr.isatty()

    def report(p: Any) -> None:
        where = f"{p.path}:{p.line}" if p.line else p.path
        click.echo(f"{'cut' if getattr(p, 'kept', False) else 'skipped'} {where}: {p.reason}", err=True)

    try:
        s = run(list(sources), index_dir, rebuild=rebuild, procs=procs, progress=progress,
                on_problem=report, wait=wait)
    except (IndexBusy, IndexIncompatible, IndexMissing, IndexWriteFailed) as e:
        raise _fail(e) from e
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(index_dir: str, as_json: bool) -> None:
    """Show articles, sources, date range, size on disk and schema version."""
    from .engine import SearchEngine

    try:
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
    """Search the index: words are ANDed; "exact phrase", -exclude, A OR B, title:/source:/region:/site:."""
    import re

    from .engine import SearchEngine

    req = SearchRequest(q=" ".join(query), page=page, size=size, sort=sort, date_from=date_from,
                        date_to=date_to, source=source, region=region, category=category,
                        collapse=not all_copies)
    try:
        res = SearchEngine(index_dir).search(req)
    except BadQuery as e:
        raise click.UsageError(str(e)) from e
    except XunwenError as e:
        raise _fail(e) from e
    if as_json:
        click.echo(json.dumps(res.to_dict(), ensure_ascii=False, indent=2))
        return
    tty = sys.stdout.isatty()

    def marks(html: str) -> str:
        import html as h

        on, off = ("\x1b[1;31m", "\x1b[0m") if tty else ("[", "]")
        return h.unescape(re.sub(r"</?mark>", lambda m: off if m.group(0)[1] == "/" else on, html))

    shown = f"{res.stories} stories, " if res.collapsed else ""
    click.echo(f"{res.total} articles ({shown}{res.took_ms:.0f} ms)")
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
    from .extract import iter_articles
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
def serve(index_dir: str, host: str, port: int, threads: int) -> None:
    """Serve the search page and JSON API with waitress (builds the sample index if none exists)."""
    from web.serve import run  # the web layer is only needed here

    try:
        run(host=host, port=port, index_dir=index_dir, threads=threads)
    except XunwenError as e:
        raise _fail(e) from e


if __name__ == "__main__":  # pragma: no cover
    main()
