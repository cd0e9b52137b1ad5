"""Pinyin input: ``gongxian`` (or ``gong3xian4``, ``gǒngxiàn``, ``gong xian``) finds 珙县.

Readings come from the pypinyin library's character table, loaded on the first pinyin query
(about half a second), never when an index is opened: nothing here touches the whole lexicon.
A Latin query part is split into syllables (every split is tried, fewest syllables first);
the Han words it may spell are looked up in the index lexicon by their first character
(:meth:`search.engine.Lexicon.containing`), checked character by character against the
readings (tones only where the input gives them) and ranked by document frequency.

Initials (``fgw`` → 发改委) are accepted only where unambiguous: a part of 2–4 consonants, and
only when the best word is clearly more common than the next one.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable
from functools import lru_cache

from .budget import not_counted

__all__ = ["syllables", "splits", "looks_like_pinyin", "han_words", "reading_of", "initials_words", "warm_up"]

log = logging.getLogger(__name__)

MAX_SPLITS = 4
MAX_SYLLABLES = 8
CANDIDATES_PER_CHAR = 3000  # lexicon words read per first character (shortest first)
INITIALS_MARGIN = 3.0  # the best initials word must be this many times as common as the next
_TONE_MARKS = {"\u0304": 1, "\u0301": 2, "\u030c": 3, "\u0300": 4}
_INPUT_RE = re.compile(r"^[a-zü' 1-5\u0300\u0301\u0304\u030c]+$")
_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x",
             "r", "z", "c", "s", "y", "w")
_VOWELS = set("aeiouv")

_lock = threading.Lock()
_tables: tuple[dict[str, dict[str, set[int]]], dict[str, set[str]]] | None = None


def _plain(reading: str) -> tuple[str, int]:
    """Return (toneless syllable with ü as v, tone 1–4 or 5 for neutral) of one reading."""
    tone = 5
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", reading):
        if ch in _TONE_MARKS:
            tone = _TONE_MARKS[ch]
        elif ch == "\u0308":  # the diaeresis of ü
            if out and out[-1] == "u":
                out[-1] = "v"
        else:
            out.append(ch)
    return "".join(out), tone


def _load() -> tuple[dict[str, dict[str, set[int]]], dict[str, set[str]]]:
    """Return (char → syllable → tones, syllable → chars) over the common CJK block."""
    global _tables
    if _tables is None:
        with _lock, not_counted():
            if _tables is None:
                from pypinyin.pinyin_dict import pinyin_dict  # ~0.5 s: only on the first pinyin query

                by_char: dict[str, dict[str, set[int]]] = {}
                by_syl: dict[str, set[str]] = {}
                for cp, readings in pinyin_dict.items():
                    if not 0x4E00 <= cp <= 0x9FFF:
                        continue
                    ch = chr(cp)
                    for r in readings.split(","):
                        syl, tone = _plain(r)
                        # n, ng, m, hm, hng: interjections (嗯, 呣) that would split any word
                        if syl.isascii() and syl.isalpha() and set(syl) & _VOWELS:
                            by_char.setdefault(ch, {}).setdefault(syl, set()).add(tone)
                            by_syl.setdefault(syl, set()).add(ch)
                _tables = (by_char, by_syl)
    return _tables


def warm_up() -> None:
    """Load the reading table and pypinyin's phrase readings now (a server does it in the background)."""
    from pypinyin import lazy_pinyin

    _load()
    lazy_pinyin("监督")


def syllables() -> frozenset[str]:
    """Return every toneless syllable of the table (ü written v)."""
    return frozenset(_load()[1])


def reading_of(ch: str) -> dict[str, set[int]]:
    """Return the readings of one character: syllable → tones (empty for a non-Han one)."""
    return _load()[0].get(ch, {})


def _clean(text: str) -> tuple[str, list[int | None], set[int]] | None:
    """Return (letters, tone at each letter or None, forced syllable starts) or None."""
    text = unicodedata.normalize("NFC", text.strip().lower()).replace("u:", "v").replace("ü", "v")
    decomposed = unicodedata.normalize("NFD", text).replace("u\u0308", "v")
    if not decomposed or not _INPUT_RE.match(decomposed.replace("v", "a")):
        return None
    letters: list[str] = []
    tones: list[int | None] = []
    starts: set[int] = set()
    for ch in decomposed:
        if ch in _TONE_MARKS:
            if not letters:
                return None
            tones[-1] = _TONE_MARKS[ch]
        elif ch.isdigit():
            if not letters:
                return None
            tones[-1] = int(ch)  # a tone number after the syllable: kept on its last letter
            starts.add(len(letters))
        elif ch in "' ":
            starts.add(len(letters))
        else:
            letters.append(ch)
            tones.append(None)
    return "".join(letters), tones, starts


@lru_cache(maxsize=4096)
def splits(text: str) -> tuple[tuple[tuple[str, int | None], ...], ...]:
    """Return the ways ``text`` splits into syllables, fewest first: ((syllable, tone), ...)."""
    got = _clean(text)
    if got is None:
        return ()
    letters, tones, starts = got
    if not letters or len(letters) > MAX_SYLLABLES * 6:
        return ()
    syls = _load()[1]
    n = len(letters)
    out: list[tuple[tuple[str, int | None], ...]] = []

    def walk(i: int, acc: list[tuple[str, int | None]]) -> None:
        if len(out) >= 32 or len(acc) > MAX_SYLLABLES:
            return
        if i == n:
            out.append(tuple(acc))
            return
        for j in range(min(n, i + 6), i, -1):
            # a forced boundary (apostrophe, space, tone number) cannot fall inside a syllable
            if any(k in starts for k in range(i + 1, j)):
                continue
            s = letters[i:j]
            if s in syls:
                tone = next((t for t in tones[i:j] if t is not None), None)
                acc.append((s, tone if tone != 5 else None))
                walk(j, acc)
                acc.pop()

    walk(0, [])
    out.sort(key=len)
    return tuple(out[:MAX_SPLITS])


def looks_like_pinyin(text: str, min_syllables: int = 2) -> bool:
    """Return True when ``text`` is Latin letters that split into at least ``min_syllables``."""
    if not text or not (text.isascii() or _clean(text) is not None):
        return False
    return any(len(s) >= min_syllables for s in splits(text))


def _reads_as(word: str, syl: tuple[tuple[str, int | None], ...], head: bool = False) -> bool:
    """Return True when the word, read as a phrase (pypinyin's choice of reading), is ``syl``
    (with ``head``: begins with ``syl``)."""
    from pypinyin import Style, lazy_pinyin

    got = lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)
    if head:
        got = got[:len(syl)]
    if len(got) != len(syl):
        return False
    for g, (s, tone) in zip(got, syl):
        base, t = (g[:-1], int(g[-1])) if g[-1:].isdigit() else (g, 5)
        if base.replace("ü", "v") != s or tone is not None and tone != t:
            return False
    return True


def _fits(word: str, syl: tuple[tuple[str, int | None], ...]) -> bool:
    """Return True when each character has the syllable among its readings (a fast prefilter)."""
    by_char = _load()[0]
    for ch, (s, tone) in zip(word, syl):
        tones = by_char.get(ch, {}).get(s)
        if not tones or tone is not None and tone not in tones and 5 not in tones:
            return False
    return True


def han_words(text: str, containing: Callable[[str, int], list[str]], df: Callable[[str], int],
              limit: int = 3, min_syllables: int = 2, prefix: bool = False) -> list[str]:
    """Return up to ``limit`` indexed Han words that ``text`` spells in pinyin, most common first.

    ``containing(ch, n)`` gives indexed words holding ``ch`` (the engine's lexicon);
    ``df(word)`` their document frequency. With ``prefix`` the words may go on after what
    ``text`` spells (``gong`` → 工作), for completion as one types.
    """
    found: dict[str, int] = {}
    for syl in splits(text):
        if len(syl) < min_syllables:
            continue
        first, tone = syl[0]
        for ch in sorted(_load()[1].get(first, ())):
            if not _fits(ch, syl[:1]):
                continue
            for w in containing(ch, CANDIDATES_PER_CHAR):
                if len(w) > len(syl) and not prefix:
                    break  # shortest first: nothing longer can fit
                if w[0] != ch or w in found or len(w) < len(syl) or not prefix and len(w) != len(syl):
                    continue
                if _fits(w, syl) and (_reads_as(w, syl) if len(w) == len(syl)
                                      else _reads_as(w, syl, head=True)):
                    found[w] = df(w)
    ranked = sorted((w for w, d in found.items() if d > 0), key=lambda w: (-found[w], w))
    return ranked[:limit]


def initials_words(text: str, containing: Callable[[str, int], list[str]], df: Callable[[str], int]) -> list[str]:
    """Return the one indexed word whose initials ``text`` spells (``fgw`` → 发改委) if unambiguous."""
    text = text.strip().lower()
    if not (2 <= len(text) <= 4) or not text.isascii() or not text.isalpha() or set(text) & _VOWELS:
        return []
    heads: list[str] = []
    i = 0
    while i < len(text):
        step = 2 if text[i:i + 2] in ("zh", "ch", "sh") else 1
        heads.append(text[i:i + step])
        i += step
    if len(heads) < 2:
        return []
    by_char, by_syl = _load()

    def starts(ch: str, head: str) -> bool:
        return any(s.startswith(head) and (head in ("zh", "ch", "sh") or not s.startswith(("zh", "ch", "sh")))
                   for s in by_char.get(ch, ()))

    firsts = sorted({ch for s, chars in by_syl.items() if s.startswith(heads[0]) for ch in chars
                     if starts(ch, heads[0])})
    counts: dict[str, int] = {}
    for ch in firsts:
        for w in containing(ch, CANDIDATES_PER_CHAR):
            if len(w) > len(heads):
                break
            if len(w) == len(heads) and w[0] == ch and all(starts(c, h) for c, h in zip(w, heads)):
                counts[w] = df(w)
    ranked = sorted((w for w, d in counts.items() if d > 0), key=lambda w: -counts[w])
    if not ranked:
        return []
    if len(ranked) == 1 or counts[ranked[0]] >= INITIALS_MARGIN * counts[ranked[1]]:
        return ranked[:1]
    return []

