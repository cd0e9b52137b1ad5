"""HTTP parameters → :class:`search.SearchRequest`, and the small helpers the views share.

Parsing (``page="abc"``) is the web's job and fails with :class:`BadParameter`; validating the
parsed values (size limit, result window, date format, from ≤ to) is the engine's and fails
with :class:`search.errors.BadQuery`. Both become a 400 at the edge.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from werkzeug.datastructures import MultiDict

from search import SearchRequest
from search.errors import BadQuery

from .regionmap import canonical_region

__all__ = [
    "BadParameter",
    "parse_search_args",
    "request_to_params",
    "search_url",
    "safe_url",
    "format_date",
    "format_datetime",
    "format_number",
    "MULTI_KEYS",
]

MULTI_KEYS = ("source", "region", "category")
MAX_FILTER_VALUES = 20
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
# An http(s) URL with a host and no whitespace, control characters or quotes/brackets that
# would let it break out of an attribute in a careless consumer.
_HTTP_URL_RE = re.compile(r"^https?://[^\s\x00-\x1f\x7f<>\"'`\\]+$", re.I)


class BadParameter(BadQuery):
    """An HTTP parameter that cannot be parsed (the message names it and says what is wanted)."""


def _int_param(args: Mapping[str, str], name: str, default: int) -> int:
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise BadParameter(f"`{name}` must be a positive whole number, not {raw[:40]!r}.")
    return int(raw)


def _bool_param(args: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (args.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise BadParameter(f"`{name}` must be true or false, not {raw[:40]!r}.")


def _multi_param(args: MultiDict, name: str) -> tuple[str, ...]:
    values: list[str] = []
    for raw in args.getlist(name):
        value = raw.strip()
        if value and value not in values:
            values.append(value)
    if len(values) > MAX_FILTER_VALUES:
        raise BadParameter(f"At most {MAX_FILTER_VALUES} `{name}` filters can be combined.")
    return tuple(values)


def _opt_str(args: Mapping[str, str], name: str) -> str | None:
    value = (args.get(name) or "").strip()
    return value or None


def parse_search_args(
    args: MultiDict, *, default_size: int = 10, sort: str | None = None
) -> SearchRequest:
    """Turn query-string arguments into a SearchRequest (``sort`` overrides the argument)."""
    return SearchRequest(
        q=(args.get("q") or "").strip(),
        page=_int_param(args, "page", 1),
        size=_int_param(args, "size", default_size),
        sort=sort or (args.get("sort") or "relevance").strip() or "relevance",
        date_from=_opt_str(args, "from"),
        date_to=_opt_str(args, "to"),
        source=_multi_param(args, "source"),
        region=tuple(dict.fromkeys(canonical_region(r) for r in _multi_param(args, "region"))),
        category=_multi_param(args, "category"),
        cluster=_opt_str(args, "cluster"),
        collapse=_bool_param(args, "collapse", True),
    )


def request_to_params(req: SearchRequest, default_size: int = 10) -> list[tuple[str, str]]:
    """Return the query-string pairs that reproduce ``req`` (defaults left out)."""
    pairs: list[tuple[str, str]] = []
    if req.q:
        pairs.append(("q", req.q))
    for key in MULTI_KEYS:
        pairs.extend((key, v) for v in getattr(req, key))
    if req.date_from:
        pairs.append(("from", req.date_from))
    if req.date_to:
        pairs.append(("to", req.date_to))
    if req.sort != "relevance":
        pairs.append(("sort", req.sort))
    if req.cluster:
        pairs.append(("cluster", req.cluster))
    if not req.collapse:
        pairs.append(("collapse", "false"))
    if req.size != default_size:
        pairs.append(("size", str(req.size)))
    if req.page != 1:
        pairs.append(("page", str(req.page)))
    return pairs


def search_url(
    req: SearchRequest,
    path: str = "/",
    *,
    add: Mapping[str, str] | None = None,
    remove: Mapping[str, str] | None = None,
    default_size: int = 10,
    **changes: Any,
) -> str:
    """Return a URL for ``req`` changed as asked; any change but ``page`` goes back to page 1.

    ``add``/``remove`` add or drop one value of a multi-valued filter (source, region,
    category); keyword changes replace fields (``sort="newest"``, ``date_from=...``).
    """
    fields = req.to_dict()
    if "page" not in changes:
        fields["page"] = 1
    fields.update(changes)
    for key, value in (add or {}).items():
        if value not in fields[key]:
            fields[key] = [*fields[key], value]
    for key, value in (remove or {}).items():
        fields[key] = [v for v in fields[key] if v != value]
    for key in MULTI_KEYS:
        fields[key] = tuple(fields[key])
    new = SearchRequest(**fields)
    query = urlencode(request_to_params(new, default_size))
    return f"{path}?{query}" if query else path


def safe_url(url: str | None) -> str | None:
    """Return ``url`` if it is a plain http(s) URL we may link to, else None."""
    if not url or len(url) > 2048:
        return None
    url = url.strip()
    if not _HTTP_URL_RE.match(url):
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:  # e.g. a bad port or an unbalanced IPv6 bracket
        return None
    return url if host else None


def _parse_iso(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def format_date(value: str | datetime | None) -> str:
    """Format an ISO date as 2024-04-29 (empty when unknown)."""
    dt = _parse_iso(value)
    return dt.strftime("%Y-%m-%d") if dt else ""


def format_datetime(value: str | datetime | None) -> str:
    """Format an ISO timestamp as 2024年04月29日 13:45 (the time left out at midnight)."""
    dt = _parse_iso(value)
    if not dt:
        return ""
    if (dt.hour, dt.minute) == (0, 0):
        return dt.strftime("%Y年%m月%d日")
    return dt.strftime("%Y年%m月%d日 %H:%M")


def format_number(value: int | float) -> str:
    """Format a count with thousands separators."""
    return f"{value:,}"
