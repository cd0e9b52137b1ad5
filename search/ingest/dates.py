"""Parse Chinese, ISO, US and compact dates; every datetime is aware in Asia/Shanghai."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from ..params import SHANGHAI

__all__ = ["SHANGHAI", "parse_datetime"]


# --------------------------------------------------------------------------- dates

_FW_TRANS = str.maketrans("０１２３４５６７８９：－／．", "0123456789:-/.")
DT_RE = re.compile(
    r"(?<!\d)((?:19|20)\d{2})\s*(?:[-/.年]\s*)(\d{1,2})\s*(?:[-/.月]\s*)(\d{1,2})(?!\d)\s*日?"
    r"(?:[\sT,，]*(?:[上下]午\s*)?(\d{1,2})\s*[:时時点點]\s*(\d{1,2})(?:\s*[:分]\s*(\d{1,2}))?\s*(?:秒)?"
    r"(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?)?"
)
_MD_RE = re.compile(
    r"(?<!\d)(\d{1,2})月(\d{1,2})[日号號](?:[\s,，]*(\d{1,2})\s*[:时時点點]\s*(\d{1,2}))?"
)
_US_RE = re.compile(
    r"(?<![\d/])(\d{1,2})/(\d{1,2})/((?:19|20)\d{2})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?"
)
_COMPACT_RE = re.compile(r"(?<!\d)((?:19|20)\d{2})(\d{2})(\d{2})(?:[T ]?(\d{2})(\d{2})(\d{2})?)?(?!\d)")


def _mk(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, tz: str | None = None) -> datetime | None:
    try:
        if tz:
            if tz == "Z":
                tzinfo: Any = UTC
            else:
                sign = 1 if tz[0] == "+" else -1
                digits = tz[1:].replace(":", "")
                tzinfo = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
            return datetime(y, mo, d, h, mi, s, tzinfo=tzinfo).astimezone(SHANGHAI)
        return datetime(y, mo, d, h, mi, s, tzinfo=SHANGHAI)
    except ValueError:
        return None


def parse_datetime(text: str, *, year_hint: int | None = None) -> datetime | None:
    """Parse the first Chinese or ISO date(-time) in text; return it aware in Asia/Shanghai."""
    if not text:
        return None
    t = unicodedata.normalize("NFKC", text).translate(_FW_TRANS)
    m = DT_RE.search(t)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        h = int(m.group(4)) if m.group(4) else 0
        if m.group(4) and "下午" in t[m.start() : m.end()] and h < 12:
            h += 12
        dt = _mk(y, mo, d, h, int(m.group(5) or 0), int(m.group(6) or 0), m.group(7))
        if dt is not None:
            return dt
    m = _US_RE.search(t)
    if m:
        h = int(m.group(4) or 0)
        if m.group(7) and m.group(7).lower() == "pm" and h < 12:
            h += 12
        elif m.group(7) and m.group(7).lower() == "am" and h == 12:
            h = 0
        dt = _mk(int(m.group(3)), int(m.group(1)), int(m.group(2)), h, int(m.group(5) or 0), int(m.group(6) or 0))
        if dt is not None:
            return dt
    m = _COMPACT_RE.search(t)
    if m and 1 <= int(m.group(2)) <= 12:
        dt = _mk(*(int(g) for g in m.groups()[:3]), *(int(g or 0) for g in m.groups()[3:]))
        if dt is not None:
            return dt
    if year_hint:
        m = _MD_RE.search(t)
        if m:
            return _mk(year_hint, int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), int(m.group(4) or 0))
    return None


_URL_DATE_RE = re.compile(r"/((?:19|20)\d{2})[-/_]?(\d{2})[-/_]?(\d{2})(?:/|[^\d])")


def date_from_url(url: str | None) -> datetime | None:
    if not url:
        return None
    m = _URL_DATE_RE.search(url)
    if not m:
        return None
    return _mk(int(m.group(1)), int(m.group(2)), int(m.group(3)))
