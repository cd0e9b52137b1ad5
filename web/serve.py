"""Serve the app with waitress (a production WSGI server; never Flask's debug server)."""

from __future__ import annotations

import argparse
import logging
import os
import threading
from pathlib import Path

import waitress

from search import SearchEngine
from search.errors import IndexMissing, XunwenError

from . import create_app

__all__ = ["run", "ensure_index", "main"]

log = logging.getLogger(__name__)


def ensure_index(index_dir: str | os.PathLike[str], *, progress: bool = True) -> int:
    """Build the index from the bundled sample if none exists; return its article count."""
    engine = SearchEngine(os.fspath(index_dir))
    try:
        return engine.article_count()
    except IndexMissing:
        pass
    from search.indexer import reindex  # only needed on a first start

    log.warning("no index at %s: building it from the bundled sample", index_dir)
    summary = reindex([], os.fspath(index_dir), rebuild=True, procs=1, progress=progress)
    log.info("built index: %s", summary)
    return SearchEngine(os.fspath(index_dir)).article_count()


WARM_EVERY = 2.0  # seconds between checks for a swapped or committed index to warm up


def _keep_warm(engine: SearchEngine) -> threading.Thread:
    """Warm each new index generation (a rebuild swapped in, an incremental commit) in the
    background, so that its first visitor does not wait for the lexicon and columns."""

    def loop() -> None:
        while True:
            threading.Event().wait(WARM_EVERY)
            try:
                engine.warm_up()
            except XunwenError as exc:  # e.g. an index of another version swapped in
                log.warning("could not warm the index: %s", exc)
            except Exception:  # never let the warmer die silently
                log.exception("warming the index failed")

    t = threading.Thread(target=loop, name="xunwen-warm", daemon=True)
    t.start()
    return t


def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    index_dir: str | os.PathLike[str] = "index",
    threads: int = 8,
    *,
    progress: bool = True,
) -> None:
    """Serve xunwen on ``host:port`` over ``index_dir`` until interrupted."""
    index_dir = Path(index_dir).resolve()
    count = ensure_index(index_dir, progress=progress)
    engine = SearchEngine(str(index_dir))
    engine.warm_up()  # load columns and lexicon now, not during the first visitor's search
    _keep_warm(engine)
    # pinyin readings (about a second): in the background, so that startup does not wait for
    # them and the first Latin query does not either
    from search.pinyin import warm_up as warm_pinyin

    threading.Thread(target=warm_pinyin, name="xunwen-pinyin", daemon=True).start()
    app = create_app({"INDEX_DIR": str(index_dir), "ENGINE": engine})
    app.debug = False  # whatever the environment says
    log.warning("serving %s from %s on http://%s:%d/", f"{count:,} article{'' if count == 1 else 's'}",
                index_dir, host, port)
    waitress.serve(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="xunwen",
        connection_limit=max(100, threads * 16),
        channel_timeout=30,
        max_request_body_size=app.config["MAX_CONTENT_LENGTH"],
        max_request_header_size=256 * 1024,  # room for a 10,000-character query in the URL
        clear_untrusted_proxy_headers=True,
    )


def main(argv: list[str] | None = None) -> None:
    """Parse ``--host --port --index --threads`` and serve (``python -m web.serve``)."""
    parser = argparse.ArgumentParser(prog="python -m web.serve", description=run.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--index", default=os.environ.get("XUNWEN_INDEX_DIR", "index"))
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(args.host, args.port, args.index, args.threads)
    except XunwenError as exc:  # e.g. an index from another version: say what to run
        parser.exit(1, f"error: {exc}\n")


if __name__ == "__main__":
    main()
