"""Serve the app with waitress (a production WSGI server; never Flask's debug server).

Fair service on a small machine:

* expensive work is bounded: a request that has used more than ``budget.EXPENSIVE_CPU`` of
  CPU needs one of ``expensive_slots`` slots to go on; at most half of the threads may wait
  for one (inside their own time budget), beyond that the answer is a 503 with
  ``Retry-After`` — so ordinary requests always find free threads and a free core;
* slow or idle connections are closed long before they exhaust the connection limit: an
  idle keep-alive connection after ``CHANNEL_TIMEOUT`` seconds, a request whose headers
  are not complete ``HEADER_TIMEOUT`` seconds after its first byte (one byte every few
  seconds resets waitress's own inactivity timer, not this one), checked every second;
  and the connection limit is far above the thread count, so a few hundred such
  connections never stop the server from accepting.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import types
from pathlib import Path
from typing import Any

import waitress
from waitress.channel import HTTPChannel

from search import SearchEngine, budget
from search.errors import IndexMissing

from . import create_app

__all__ = ["run", "ensure_index", "make_server", "HEADER_TIMEOUT", "CHANNEL_TIMEOUT"]

log = logging.getLogger(__name__)


def ensure_index(index_dir: str | os.PathLike[str], *, progress: bool = True) -> int:
    """Build the index from the bundled sample if none exists; return its article count."""
    engine = SearchEngine(os.fspath(index_dir))
    try:
        return engine.article_count()
    except IndexMissing:
        pass
    from search import reindex  # only needed on a first start

    log.warning("no index at %s: building it from the bundled sample", index_dir)
    summary = reindex([], os.fspath(index_dir), rebuild=True, procs=1, progress=progress)
    log.info("built index: %s", summary)
    return SearchEngine(os.fspath(index_dir)).article_count()


WARM_EVERY = 2.0  # seconds between checks for a swapped or committed index to warm up


HEADER_TIMEOUT = 10.0  # seconds from a request's first byte to its complete headers and body
CHANNEL_TIMEOUT = 20  # seconds an idle keep-alive connection is kept
CONNECTION_LIMIT = 2000  # far above any thread count: slow clients must not stop accepting


class _Channel(HTTPChannel):
    """A waitress channel that remembers when its unfinished request started arriving."""

    request_started: float | None = None

    def received(self, data: bytes) -> bool:
        """Receive bytes, noting the first byte of each request."""
        if self.request is None and data and self.request_started is None:
            self.request_started = time.monotonic()
        got = super().received(data)
        if self.request is None:  # complete (queued for a thread) or nothing pending
            self.request_started = None
        return got


def _maintenance(server: Any, now: float) -> None:
    """Close idle channels (waitress's rule) and channels whose request is too slow to arrive."""
    type(server).maintenance(server, now)
    cutoff = time.monotonic() - HEADER_TIMEOUT
    for channel in list(server.active_channels.values()):
        started = getattr(channel, "request_started", None)
        if started is not None and started < cutoff and not channel.requests:
            channel.will_close = True


def make_server(app: Any, host: str, port: int, threads: int, **kw: Any) -> Any:
    """Create the waitress server with xunwen's timeouts and limits (``.run()`` serves)."""
    server = waitress.create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="xunwen",
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=CHANNEL_TIMEOUT,
        cleanup_interval=1,
        max_request_body_size=app.config["MAX_CONTENT_LENGTH"],
        max_request_header_size=256 * 1024,  # room for a 10,000-character query in the URL
        clear_untrusted_proxy_headers=True,
        **kw,
    )
    server.channel_class = _Channel
    server.maintenance = types.MethodType(_maintenance, server)
    return server


def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    index_dir: str | os.PathLike[str] = "index",
    threads: int = 16,
    *,
    progress: bool = True,
    expensive_slots: int = 1,
) -> None:
    """Serve xunwen on ``host:port`` over ``index_dir`` until interrupted."""
    index_dir = Path(index_dir).resolve()
    count = ensure_index(index_dir, progress=progress)
    engine = SearchEngine(str(index_dir))
    engine.warm_up()  # load columns and lexicon now, not during the first visitor's search
    engine.keep_warm(WARM_EVERY)  # each new generation or commit warmed before its first visitor
    # pinyin readings (about a second): in the background, so that startup does not wait for
    # them and the first Latin query does not either
    from search.pinyin import warm_up as warm_pinyin

    threading.Thread(target=warm_pinyin, name="xunwen-pinyin", daemon=True).start()
    # Python runs one thread at a time: each request running expensive work takes CPU from
    # every ordinary one, so few run at once; half of the threads may wait for a slot.
    budget.LIMITER = budget.Limiter(slots=expensive_slots, waiting=max(1, threads // 2))
    app = create_app({"INDEX_DIR": str(index_dir), "ENGINE": engine})
    app.debug = False  # whatever the environment says
    log.warning("serving %s from %s on http://%s:%d/", f"{count:,} article{'' if count == 1 else 's'}",
                index_dir, host, port)
    make_server(app, host, port, threads).run()

