"""gzip for text responses (HTML, JSON, CSV, JSON lines, feeds) when the client accepts it.

Streamed exports stay streamed: each chunk goes through one compressor and is flushed, so a
client sees rows as they are produced and nothing is held in memory.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable, Iterator

from flask import Response

__all__ = ["gzip_response", "COMPRESSIBLE", "accepts_gzip"]

COMPRESSIBLE = frozenset({
    "text/html", "text/css", "text/csv", "text/plain", "image/svg+xml",
    "application/json", "application/x-ndjson", "application/x-suggestions+json",
    "application/atom+xml", "application/xml", "application/opensearchdescription+xml",
})
_LEVEL = 6
_FLUSH_BYTES = 16 * 1024  # a streamed export is flushed to the client at least this often
_QVALUE = re.compile(r"^\s*([\w*-]+)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


def accepts_gzip(accept_encoding: str) -> bool:
    """Return True when an ``Accept-Encoding`` header allows gzip (``q=0`` refuses it)."""
    for item in (accept_encoding or "").split(","):
        m = _QVALUE.match(item)
        if not m:
            continue
        name, q = m.group(1).lower(), m.group(2)
        if name in ("gzip", "x-gzip", "*"):
            try:
                return float(q) > 0 if q is not None else True
            except ValueError:
                return False
    return False


def _gzip_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    comp = zlib.compressobj(_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    pending = 0
    for chunk in chunks:
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        out = comp.compress(chunk)
        pending += len(chunk)
        if pending >= _FLUSH_BYTES:
            out += comp.flush(zlib.Z_SYNC_FLUSH)
            pending = 0
        if out:
            yield out
    yield comp.flush()


def gzip_response(resp: Response, accept_encoding: str, min_bytes: int = 500) -> Response:
    """Compress ``resp`` in place when it is text, not yet encoded and the client takes gzip."""
    if resp.mimetype not in COMPRESSIBLE or "Content-Encoding" in resp.headers:
        return resp
    # direct_passthrough: a static file sent as is (its ETag and ranges belong to the raw bytes).
    if resp.status_code < 200 or resp.status_code in (204, 304) or resp.direct_passthrough:
        return resp
    resp.vary.add("Accept-Encoding")
    if not accepts_gzip(accept_encoding):
        return resp
    if resp.is_streamed:
        resp.response = _gzip_stream(resp.response)
        resp.headers.pop("Content-Length", None)
    else:
        data = resp.get_data()
        if len(data) < min_bytes:
            return resp
        resp.set_data(gzip.compress(data, _LEVEL, mtime=0))
    resp.headers["Content-Encoding"] = "gzip"
    return resp
