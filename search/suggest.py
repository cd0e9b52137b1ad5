"""Query help shared by the page, the API and the CLI: expansion, completion, "did you mean".

* :func:`expand_query` — aliases (``search.aliases``) and pinyin (``search.pinyin``) of each query
  part as OR alternatives; the engine calls it in ``search()``, the page shows what it added.
* :func:`complete` — completions of a prefix from indexed words and titles (the OpenSearch
  suggestions endpoint and the page's type-ahead).
* :func:`did_you_mean` — other queries for a search with no or few results: the Han words a
  pinyin part spells, and lexicon words one character away from an unknown word (homophones
  first, 监肚 → 监督).

Everything works from the per-snapshot lexicon (words by character, built by the engine) and
term document frequencies; nothing is precomputed over the whole lexicon.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .aliases import Expansion, expand_parsed, is_place_name, table
from .analysis import query_words
from .normalize import HAN_RE, fold_text

__all__ = ["expand_query", "complete", "did_you_mean", "FEW_RESULTS", "PINYIN_MAX_DF"]

log = logging.getLogger(__name__)

FEW_RESULTS = 3  # a search with fewer results than this gets "did you mean"
PINYIN_MAX_DF = 3  # a Latin part found in more articles than this is a word, not pinyin
PINYIN_ALTERNATIVES = 3
PLACE_EXTRA = 2  # place names a pinyin part may add beyond the most common words it spells
NEAR_CANDIDATES = 2000


def _df(reader: Any) -> Callable[[str], int]:
    def df(w: str) -> int:
        return reader.doc_frequency("body", w) + reader.doc_frequency("title", w)

    return df


def _pinyin_words(text: str, lexicon: Any, df: Callable[[str], int], limit: int = PINYIN_ALTERNATIVES) -> list[str]:
    """Return Han words that a Latin ``text`` spells (full syllables, or unambiguous initials)."""
    from . import pinyin  # lazy: pypinyin's table loads on the first Latin query only

    folded = fold_text(text).strip()
    if not folded or HAN_RE.search(folded) or not any(c.isalpha() for c in folded):
        return []
    if df(folded.replace(" ", "")) > PINYIN_MAX_DF:
        return []
    # Place names are what people most often type in pinyin and are rarer than the common
    # words that sound the same (珙县 beside 贡献, 共线, 攻陷): they are kept whatever their rank.
    spelt = pinyin.han_words(folded, lexicon.containing, df, limit=limit + PLACE_EXTRA + 8)
    words = spelt[:limit] + [w for w in spelt[limit:] if is_place_name(w)][:PLACE_EXTRA]
    return words or pinyin.initials_words(folded, lexicon.containing, df)


def expand_query(parsed: Any, lexicon: Callable[[], Any], reader: Any) -> tuple[Any, list[Expansion]]:
    """Return the parsed query with alias and pinyin alternatives, and what was added."""
    if not parsed.groups:
        return parsed, []
    df = _df(reader)
    parsed = _join_pinyin_runs(parsed, df)

    def by_pinyin(text: str) -> list[str]:
        if text.isascii() and not any(c.isalpha() for c in text):
            return []
        if HAN_RE.search(text):
            return []
        return _pinyin_words(text, lexicon(), df)

    def indexed(text: str) -> bool:
        return all(df(w) > 0 for w in query_words(text))

    return expand_parsed(parsed, by_pinyin, indexed)


def _latin(p: Any) -> bool:
    return p.field is None and not p.phrase and p.text.isascii() and p.text.isalpha()


def _join_pinyin_runs(parsed: Any, df: Callable[[str], int]) -> Any:
    """Read ``gong xian`` (syllables typed apart, found in no article) as one pinyin part.

    The joined part keeps its words (``gong xian`` as one part still needs both), so
    what it matched before it still matches; the pinyin reading is added to it later.
    """
    from dataclasses import replace

    from . import pinyin

    groups = list(parsed.groups)
    out: list[tuple[Any, ...]] = []
    i = 0
    changed = False
    while i < len(groups):
        j = i
        while j < len(groups) and len(groups[j]) == 1 and _latin(groups[j][0]) \
                and df(groups[j][0].text.lower()) <= PINYIN_MAX_DF:
            j += 1
        if j - i >= 2:
            text = " ".join(g[0].text for g in groups[i:j])
            if pinyin.looks_like_pinyin(text):
                out.append((replace(groups[i][0], text=text),))
                i, changed = j, True
                continue
        out.append(groups[i])
        i += 1
    if not changed:
        return parsed
    return type(parsed)(parsed.raw, tuple(out), parsed.excluded)


def complete(prefix: str, lexicon: Any, reader: Any, titles: Callable[[str, int], list[str]] | None = None,
             limit: int = 8) -> list[str]:
    """Return up to ``limit`` completions of ``prefix``: indexed words, aliases, pinyin, then titles."""
    prefix = " ".join(prefix.split())[:50]
    if not prefix:
        return []
    folded = fold_text(prefix)
    df = _df(reader)
    out: list[str] = []

    def add(x: str) -> None:
        if x and x not in out and x != prefix:
            out.append(x)

    head, _, last = prefix.rpartition(" ")
    lead = head + " " if head else ""
    last_f = fold_text(last)
    if last_f and HAN_RE.match(last_f[0]):
        cands = [w for w in lexicon.containing(last_f[0], NEAR_CANDIDATES) if w.startswith(last_f) and w != last_f]
        cands.sort(key=lambda w: (-df(w), len(w), w))
        for w in cands[:limit]:
            add(lead + w)
    elif last_f and last_f.isascii() and last_f.isalpha():
        from . import pinyin

        for w in pinyin.han_words(last_f, lexicon.containing, df, limit=limit, min_syllables=1, prefix=True):
            add(lead + w)
    for a in table().alternatives(last):
        add(lead + a)
    if titles is not None and len(out) < limit:
        for t in titles(prefix, limit):
            if folded in fold_text(t):
                add(t if len(t) <= 40 else t[:40])
    return out[:limit]


def _near_words(w: str, lexicon: Any, df: Callable[[str], int]) -> list[str]:
    """Indexed words of the same length one character away from ``w``; homophones first."""
    cands: set[str] = set()
    for ch in {w[0], w[-1]}:
        for x in lexicon.containing(ch, NEAR_CANDIDATES):
            if len(x) > len(w):
                break
            if len(x) == len(w) and sum(a != b for a, b in zip(x, w)) == 1:
                cands.add(x)
    if not cands:
        return []
    try:
        from pypinyin import lazy_pinyin

        sound = lazy_pinyin(w)
        same = {x for x in cands if lazy_pinyin(x) == sound}
    except ImportError:  # pragma: no cover - pypinyin is a dependency
        same = set()
    scored = [(x, df(x)) for x in cands]
    scored = [(x, d) for x, d in scored if d > 0]
    scored.sort(key=lambda xd: (xd[0] not in same, -xd[1], xd[0]))
    return [x for x, _ in scored[:3]]


def did_you_mean(q: str, lexicon: Any, reader: Any, limit: int = 3) -> list[str]:
    """Return up to ``limit`` other queries likely meant by ``q`` (each differs in one part)."""
    from .query import parse_query

    parsed = parse_query(q)
    df = _df(reader)
    out: list[str] = []
    for group in parsed.groups:
        for p in group:
            if p.field not in (None, "title"):
                continue
            text = p.text
            alts: list[str] = []
            if not HAN_RE.search(text):
                alts = _pinyin_words(text, lexicon, df)
            else:
                for w in query_words(text):
                    if len(w) >= 2 and HAN_RE.match(w[0]) and df(w) == 0:
                        alts += [text.replace(w, x) if w in text else x for x in _near_words(w, lexicon, df)]
                if not alts and len(text) >= 2 and df(fold_text(text)) == 0 and len(query_words(text)) > 1:
                    # 监肚 is split into 监|肚: try the whole text as one word
                    alts = _near_words(fold_text(text), lexicon, df)
            for a in alts:
                cand = q.replace(text, a, 1)
                if cand != q and cand not in out:
                    out.append(cand)
    return out[:limit]
