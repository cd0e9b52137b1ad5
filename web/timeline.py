"""The month timeline of matches, laid out on the server as SVG bars (no JavaScript).

Months without matches between the first and the last are drawn as empty slots so that gaps
are visible; a span longer than :data:`MAX_MONTH_BARS` months is drawn by year instead.
Each bar is a link that narrows the search to its month (or year).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["Bar", "Timeline", "build_timeline", "MAX_MONTH_BARS"]

MAX_MONTH_BARS = 48
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Bar:
    """One bar: its period, count, geometry and the link that narrows to it."""

    label: str  # "2024-03" or "2024"
    count: int
    x: float
    y: float
    width: float
    height: float
    href: str
    date_from: str
    date_to: str


@dataclass(frozen=True)
class Timeline:
    """Bars plus the chart's size and axis labels."""

    bars: tuple[Bar, ...]
    width: int
    height: int
    by: str  # "month" or "year"
    first: str
    last: str
    peak: int
    # Axis labels under the bars: (year, how many bars it spans), in order. By month a year
    # spans its months in the chart; by year each bar is its own year.
    years: tuple[tuple[str, int], ...] = ()


def _months(facet: Iterable[object]) -> dict[tuple[int, int], int]:
    counts: dict[tuple[int, int], int] = {}
    for fv in facet:
        m = _MONTH_RE.match(str(getattr(fv, "value", "")))
        if not m:
            continue
        year, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12:
            counts[(year, month)] = counts.get((year, month), 0) + int(getattr(fv, "count", 0))
    return counts


def build_timeline(
    facet: Iterable[object],
    link: Callable[[str, str], str],
    *,
    width: int = 640,
    height: int = 96,
) -> Timeline | None:
    """Lay out bars for month facet values; ``link(from, to)`` gives each bar's URL."""
    counts = _months(facet)
    if not counts:
        return None
    first, last = min(counts), max(counts)
    span = (last[0] - first[0]) * 12 + last[1] - first[1] + 1
    periods: list[tuple[str, int, str, str]] = []
    if span <= MAX_MONTH_BARS:
        by = "month"
        year, month = first
        for _ in range(span):
            days = calendar.monthrange(year, month)[1]
            periods.append(
                (
                    f"{year:04d}-{month:02d}",
                    counts.get((year, month), 0),
                    f"{year:04d}-{month:02d}-01",
                    f"{year:04d}-{month:02d}-{days:02d}",
                )
            )
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    else:
        by = "year"
        for year in range(first[0], last[0] + 1):
            total = sum(c for (y, _m), c in counts.items() if y == year)
            periods.append((f"{year:04d}", total, f"{year:04d}-01-01", f"{year:04d}-12-31"))
    peak = max(c for _, c, _, _ in periods) or 1
    slot = width / len(periods)
    gap = min(2.0, slot * 0.2)
    bars = []
    for i, (label, count, d_from, d_to) in enumerate(periods):
        # An empty period keeps a hairline so that it is still visible (and clickable).
        h = max(1.0, round((height - 2) * count / peak, 1))
        bars.append(
            Bar(
                label=label,
                count=count,
                x=round(i * slot + gap / 2, 2),
                y=round(height - h, 2),
                width=round(max(slot - gap, 1.0), 2),
                height=h,
                href=link(d_from, d_to),
                date_from=d_from,
                date_to=d_to,
            )
        )
    years: list[tuple[str, int]] = []
    for label, *_ in periods:
        y = label[:4]
        if years and years[-1][0] == y:
            years[-1] = (y, years[-1][1] + 1)
        else:
            years.append((y, 1))
    return Timeline(
        years=tuple(years),
        bars=tuple(bars),
        width=width,
        height=height,
        by=by,
        first=periods[0][0],
        last=periods[-1][0],
        peak=peak,
    )
