"""Abbreviations and aliases applied at query time: 发改委 also finds 国家发展和改革委员会.

The shipped table is ``search/data/aliases.tsv`` (one group of equivalent names per line,
tab-separated, ``#`` comments); a user table in the same format is added to it, named by
:func:`set_user_file` (the web config ``ALIASES_FILE``) or the ``XUNWEN_ALIASES_FILE``
environment variable. Names are compared folded (traditional, full-width and case fold to one
form), so 發改委 and 发改委 are the same key. Nothing is re-indexed: :func:`expand_parsed`
adds the other names of a query part as OR alternatives of that part.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .analysis import query_words
from .normalize import fold_text

__all__ = ["AliasTable", "Expansion", "table", "set_user_file", "expand_parsed", "parse_table", "ENV_VAR",
           "region_label", "is_place_name"]

log = logging.getLogger(__name__)

ENV_VAR = "XUNWEN_ALIASES_FILE"
# Other names added for one part: each is a phrase to match, so a runaway group cannot blow
# a query up (the table lists the most useful names first).
MAX_ALTERNATIVES = 3
_FIELDS = (None, "title", "source")  # parts whose text an alias may stand for


@dataclass(frozen=True)
class Expansion:
    """One query part and the other names it was expanded to (for the page and the CLI)."""

    text: str
    alternatives: tuple[str, ...]
    kind: str = "alias"  # "alias" or "pinyin"
    field: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {"text": self.text, "alternatives": list(self.alternatives), "kind": self.kind,
                "field": self.field}


def parse_table(text: str, origin: str = "aliases") -> list[tuple[str, ...]]:
    """Return the groups of a table text (lines of tab-separated names; ``#`` starts a comment)."""
    groups: list[tuple[str, ...]] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0] if line.lstrip().startswith("#") else line
        names = tuple(dict.fromkeys(x.strip() for x in line.split("\t") if x.strip()))
        if len(names) == 1:
            log.warning("%s:%d: a group needs at least two names (tab-separated): %r", origin, n, line)
        elif names:
            groups.append(names)
    return groups


class AliasTable:
    """Folded name → the other names of its groups, in table order."""

    def __init__(self, groups: list[tuple[str, ...]]):
        others: dict[str, list[str]] = {}
        for names in groups:
            for name in names:
                key = fold_text(name)
                lst = others.setdefault(key, [])
                for other in names:
                    if fold_text(other) != key and other not in lst:
                        lst.append(other)
        self._others = {k: tuple(_prune(k, v)[:MAX_ALTERNATIVES]) for k, v in others.items()}

    def __len__(self) -> int:
        return len(self._others)

    def alternatives(self, name: str) -> tuple[str, ...]:
        """Return the other names of ``name`` (empty when it is in no group)."""
        return self._others.get(fold_text(name.strip()), ())


def _prune(key: str, names: list[str]) -> list[str]:
    """Drop names that hold the key or another kept name: the shorter one already finds them."""
    kept: list[str] = []
    for n in sorted(names, key=len):
        f = fold_text(n)
        if key in f or any(fold_text(k) in f for k in kept):
            continue
        kept.append(n)
    order = {n: i for i, n in enumerate(names)}
    return sorted(kept, key=order.__getitem__)


_lock = threading.Lock()
_table: AliasTable | None = None
_user_file: str | None = None


def set_user_file(path: str | os.PathLike[str] | None) -> None:
    """Use the user table at ``path`` (in addition to the shipped one) from now on."""
    global _user_file, _table
    with _lock:
        _user_file = os.fspath(path) if path else None
        _table = None


def table() -> AliasTable:
    """Return the shipped table plus the user's, loaded once (an unreadable user file is logged)."""
    global _table
    got = _table
    if got is not None:
        return got
    with _lock:
        if _table is None:
            text = resources.files("search").joinpath("data/aliases.tsv").read_text("utf-8")
            groups = parse_table(text, "search/data/aliases.tsv")
            user = _user_file or os.environ.get(ENV_VAR)
            if user:
                try:
                    groups += parse_table(Path(user).read_text("utf-8"), user)
                except (OSError, UnicodeDecodeError) as exc:
                    log.error("cannot read the aliases file %s (%s): using the shipped table only", user, exc)
            _table = AliasTable(groups)
        return _table


def expand_parsed(parsed, pinyin_alternatives=None, indexed=None):  # type: ignore[no-untyped-def]
    """Return ``(parsed query, expansions)`` with each part's aliases (and pinyin) as OR alternatives.

    ``pinyin_alternatives(text)`` (optional) returns Han words a Latin part spells; it is only
    asked about parts with no alias. ``indexed(text)`` (optional) says whether an alternative
    can match at all (every word of it is in the index): one that cannot is not added, so it
    costs no phrase check and is not shown as searched.
    """
    from .query import ParsedQuery, Part

    tab = table()
    groups: list[tuple[Part, ...]] = []
    expansions: list[Expansion] = []
    changed = False
    for group in parsed.groups:
        out: list[Part] = list(group)
        seen = {(p.field, fold_text(p.text)) for p in group}
        for p in group:
            if p.field not in _FIELDS:
                continue
            alts = tab.alternatives(p.text)
            kind = "alias"
            if not alts and pinyin_alternatives is not None and p.field is None and not p.phrase:
                spelt = tuple(pinyin_alternatives(p.text))
                # what the pinyin spells has its own aliases: fgw → 发改委 → 发展和改革委员会
                alts = tuple(dict.fromkeys(spelt + tuple(a for w in spelt for a in tab.alternatives(w))))
                kind = "pinyin"
            added = []
            for a in alts:
                if (p.field, fold_text(a)) in seen:
                    continue
                if indexed is not None and p.field != "source" and not indexed(a):
                    continue
                seen.add((p.field, fold_text(a)))
                # An alias of several words is one phrase, so that 国家发展和改革委员会 is not
                # read as five separate words anywhere in an article.
                phrase = " " not in a and len(query_words(a)) > 1
                out.append(replace(p, text=a, phrase=phrase))
                added.append(a)
            if added:
                expansions.append(Expansion(p.text, tuple(added), kind, p.field))
                changed = True
        groups.append(tuple(out))
    if not changed:
        return parsed, []
    return ParsedQuery(parsed.raw, tuple(groups), parsed.excluded), expansions


@lru_cache(maxsize=1)
def _region_names() -> tuple[frozenset[str], dict[str, str]]:
    """Return (the labels regions are stored by, other name → label of the highest unit so named)."""
    from .region import units

    us = units()
    labels = frozenset(u.label for u in us.values())
    other: dict[str, tuple[int, str]] = {}
    for u in us.values():
        for name in (u.name, u.short, *u.aliases):
            if name not in labels and (name not in other or u.level < other[name][0]):
                other[name] = (u.level, u.label)
    return labels, {k: v for k, (_, v) in other.items()}


def region_label(value: str) -> str:
    """Return the index's label for a region filter value: 四川省 → 四川, 宜宾市 → 宜宾.

    Region tags are stored by label (short above county level); a full name, or another name
    a unit is known by, is turned into that label. Unknown values are kept as given.
    """
    labels, other = _region_names()
    return value if value in labels else other.get(value, value)


def is_place_name(word: str) -> bool:
    """Return True when ``word`` names an administrative unit (珙县, 宜宾, 四川省)."""
    labels, other = _region_names()
    return word in labels or word in other
