"""Where the results are: a tile-grid map of the 34 provincial units and a 省 › 市 › 县 list.

Both are built on the server from the region facet (no script). Each facet value is placed in
the gazetteer (:func:`search.region.units`): a facet value that carries ``level``/``parent``
(from the region hierarchy) is used as given; a bare label is looked up by name, preferring a
unit whose province is also among the values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from search.aliases import region_label as canonical_region
from search.region import units

__all__ = ["Tile", "RegionMap", "TreeNode", "build_region_map", "region_tree", "canonical_region", "GRID"]

# (row, column) of each province's tile: a cartogram that keeps neighbours next to each other.
GRID: dict[str, tuple[int, int]] = {
    "黑龙江": (0, 7),
    "内蒙古": (1, 4), "北京": (1, 5), "辽宁": (1, 6), "吉林": (1, 7),
    "新疆": (2, 1), "宁夏": (2, 3), "山西": (2, 4), "河北": (2, 5), "天津": (2, 6),
    "青海": (3, 2), "甘肃": (3, 3), "陕西": (3, 4), "河南": (3, 5), "山东": (3, 6),
    "西藏": (4, 2), "四川": (4, 3), "重庆": (4, 4), "湖北": (4, 5), "安徽": (4, 6), "江苏": (4, 7),
    "上海": (4, 8),
    "贵州": (5, 4), "湖南": (5, 5), "江西": (5, 6), "浙江": (5, 7),
    "云南": (6, 3), "广西": (6, 4), "广东": (6, 5), "福建": (6, 6), "台湾": (6, 7),
    "海南": (7, 4), "澳门": (7, 5), "香港": (7, 6),
}
TILE = 44
GAP = 4
SHADES = 5  # colour classes of a counted tile (class 0 = no results)


@dataclass(frozen=True)
class Tile:
    """One province tile: name, count, colour class, position and the link to its filter."""

    region: str
    name: str
    count: int
    shade: int
    x: int
    y: int
    href: str | None
    selected: bool


@dataclass(frozen=True)
class RegionMap:
    """The tiles, the chart's size and whether the facet may have left provinces out."""

    tiles: tuple[Tile, ...]
    width: int
    height: int
    peak: int
    partial: bool
    counted: tuple[Tile, ...]  # tiles with results, most first (the text equivalent)


@dataclass
class TreeNode:
    """A region facet value placed in the hierarchy, with its children."""

    value: str
    count: int
    level: int
    children: list[TreeNode]


@lru_cache(maxsize=1)
def _by_label() -> dict[str, list[tuple[str, int, str | None]]]:
    """Return facet label → [(code, level, province short name)] over the gazetteer."""
    us = units()
    out: dict[str, list[tuple[str, int, str | None]]] = {}
    for u in us.values():
        prov = u
        while prov.parent:
            prov = us[prov.parent]
        for label in {u.label, u.short, u.name}:
            out.setdefault(label, []).append((u.code, u.level, prov.short))
    return out


@lru_cache(maxsize=1)
def provinces() -> dict[str, str]:
    """Return province short name → full name (the 34 provincial units)."""
    return {u.short: u.name for u in units().values() if u.level == 1}


def _place(values: Iterable[object]) -> list[tuple[str, int, int, str | None, str | None]]:
    """Return (label, count, level, parent label, province) of each facet value found in the gazetteer."""
    vals = [(str(getattr(fv, "value", "")), int(getattr(fv, "count", 0)), fv) for fv in values]
    present = {v for v, _, _ in vals}
    us = units()
    placed = []
    for label, count, fv in vals:
        level = int(getattr(fv, "level", 0) or 0)
        parent = getattr(fv, "parent", None)
        cands = _by_label().get(label, [])
        if not cands:
            continue
        if level:
            cands = [c for c in cands if c[1] == level] or cands
        # several units share a label: prefer one whose province (then parent) is in the facet
        cands.sort(key=lambda c: (c[2] not in present and c[1] != 1,
                                  bool(us[c[0]].parent) and us[us[c[0]].parent].label not in present))
        code, lvl, prov = cands[0]
        if parent is None and us[code].parent:
            parent = us[us[code].parent].label
        placed.append((label, count, lvl, parent, prov))
    return placed


def build_region_map(values: Iterable[object], link: Callable[[str], str],
                     selected: Iterable[str] = (), facet_limit: int = 20) -> RegionMap | None:
    """Lay out the 34 province tiles coloured by the region facet; None when no value is a place."""
    values = list(values)
    counts: dict[str, int] = {}
    for _label, count, level, _parent, prov in _place(values):
        if level == 1 and prov:
            counts[prov] = max(counts.get(prov, 0), count)
    if not counts:
        return None
    chosen = set(selected)
    peak = max(counts.values())
    tiles = []
    for short, (row, col) in GRID.items():
        n = counts.get(short, 0)
        # square-root scale: one province with most results does not wash the others out
        shade = 0 if n == 0 else max(1, min(SHADES, math.ceil(SHADES * math.sqrt(n / peak))))
        tiles.append(Tile(short, provinces().get(short, short), n, shade,
                          col * (TILE + GAP), row * (TILE + GAP), link(short) if n else None,
                          short in chosen or provinces().get(short) in chosen))
    cols = max(c for _, c in GRID.values()) + 1
    rows = max(r for r, _ in GRID.values()) + 1
    counted = tuple(sorted((t for t in tiles if t.count), key=lambda t: (-t.count, t.region)))
    return RegionMap(tuple(tiles), cols * (TILE + GAP) - GAP, rows * (TILE + GAP) - GAP, peak,
                     len(values) >= facet_limit, counted)


def region_tree(values: Iterable[object]) -> list[TreeNode]:
    """Return the region facet as 省 › 市 › 县: provinces (most results first) with their children.

    A value whose parent is not among the values hangs under its province if that is there,
    else stands at the top.
    """
    placed = _place(values)
    nodes = {label: TreeNode(label, count, level, []) for label, count, level, _p, _prov in placed}
    roots: list[TreeNode] = []
    for label, _count, level, parent, prov in placed:
        node = nodes[label]
        up = nodes.get(parent or "") if parent != label else None
        if up is None and prov and prov != label:
            up = nodes.get(prov)
        if up is not None and up.level < level:
            up.children.append(node)
        else:
            roots.append(node)

    def order(ns: list[TreeNode]) -> list[TreeNode]:
        ns.sort(key=lambda n: (-n.count, n.value))
        for n in ns:
            order(n.children)
        return ns

    return order(roots)

