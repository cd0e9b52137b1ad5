"""Highlight query words in display text and cut snippets around the best matches.

Matching runs on the folded text (simplified, NFKC, lower-case) and is mapped back to
the display text through :class:`search.normalize.Folded`, so 监督 highlights 監督 in a
traditional-script article. A Han match that cuts a word of the document's own
segmentation is widened to that whole word when it is a single character (珙 → 珙縣);
a longer query word is marked as typed (监督 in 民主監督). Latin letters and digits match
whole words only. Everything outside ``<mark>`` is HTML-escaped.

Every step is linear in the text (one regular-expression pass over the folded text, a
binary search for the word holding each single-character match, a sorted merge), and only
the first MAX_SCAN_CHARS characters are scanned: ``的`` in a 1,000,000-character article
costs what the scan costs, not the number of matches squared. Snippet windows are scored
from the spans' positions by binary search, over the first MAX_WINDOWS matches.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from functools import lru_cache
from html import escape
from typing import Any

from .analysis import analyze_folded
from .normalize import HAN_RE, Folded, fold

__all__ = ["find_spans", "highlight_html", "snippet_html", "SNIPPET_CHARS", "MAX_SCAN_CHARS"]

SNIPPET_CHARS = 120
SNIPPET_HEAD_CHARS = 4096  # a long article's opening, searched first for its snippet windows
MAX_SCAN_CHARS = 200_000  # longer texts are highlighted in their first part only
MAX_WINDOWS = 400  # matches tried as the centre of a snippet window
WIDEN_CHARS = 30_000  # single characters are widened to their word this far into a text
_MARGIN = 16
_ASCII_WORD = re.compile(r"[0-9a-z]")


def _term_patterns(terms: Iterable[str]) -> re.Pattern[str] | None:
    return _compiled(tuple(sorted({t for t in terms if t and t.strip()})))


@lru_cache(maxsize=512)
def _compiled(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    uniq = sorted(terms, key=len, reverse=True)  # longest first: 监督组 before 监督
    if not uniq:
        return None
    parts = []
    for t in uniq:
        p = re.escape(t)
        if _ASCII_WORD.match(t[0]):
            p = r"(?<![0-9a-z])" + p
        if _ASCII_WORD.match(t[-1]):
            p = p + r"(?![0-9a-z])"
        parts.append(p)
    return re.compile("|".join(parts))


def find_spans(text: str, terms: Sequence[str], folded: Folded | None = None,
               widen: int = WIDEN_CHARS) -> list[tuple[int, int]]:
    """Return merged ``(start, end)`` display spans where the folded terms occur; single Han
    characters found in the first ``widen`` folded characters are widened to their word."""
    return _spans(text, terms, folded, widen)[0]


def _spans(text: str, terms: Sequence[str], folded: Folded | None = None,
           widen: int = WIDEN_CHARS) -> tuple[list[tuple[int, int]], list[str]]:
    """:func:`find_spans`, and the folded text of each span (what it matched, for scoring windows)."""
    pat = _term_patterns(terms)
    if pat is None or not text:
        return [], []
    f = folded or fold(text[:MAX_SCAN_CHARS])
    raw = [(m.start(), m.end()) for m in pat.finditer(f.text)]
    if not raw:
        return [], []
    if widen > 0 and any(e - s == 1 and s < widen and HAN_RE.match(f.text[s]) for s, e in raw):
        raw = _widen_to_words(f, raw, widen)
    # Merge in folded offsets first (the map to display offsets keeps order): a run of
    # adjacent matches (的的的…) is mapped once, not once per character.
    merged: list[tuple[int, int]] = []
    for s, e in sorted(raw):
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return [(f.to_display(s), f.to_display(e)) for s, e in merged], [f.text[s:e] for s, e in merged]


def _widen_to_words(f: Folded, raw: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Widen single-character Han matches to the document word holding them (珙 → 珙縣), in
    the first ``limit`` characters: segmenting costs ~5 µs a character, the rest is marked as typed."""
    head = f.text[:limit]
    words = sorted((t.start, t.end) for t in analyze_folded(Folded(head, len(head)), "default"))
    starts = [ws for ws, _ in words]
    out = []
    for k, (s, e) in enumerate(raw):  # raw is in text order
        if s >= limit:
            out.extend(raw[k:])
            break
        if e - s == 1:
            # The last word starting at or before s holds it, if it reaches past s.
            i = bisect_right(starts, s) - 1
            if i >= 0 and words[i][1] > s:
                s, e = words[i]
        out.append((s, e))
    return out


def _render(text: str, spans: Sequence[tuple[int, int]], start: int = 0, end: int | None = None) -> str:
    end = len(text) if end is None else end
    out: list[str] = []
    pos = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(escape(text[pos:s]))
        out.append("<mark>" + escape(text[s:e]) + "</mark>")
        pos = e
    out.append(escape(text[pos:end]))
    return "".join(out)


def highlight_html(text: str, terms: Sequence[str], budget: Any = None) -> str:
    """Return the whole text escaped, with the terms wrapped in ``<mark>``."""
    if budget is not None and budget.stop():
        terms = ()  # out of time: the text as written
    return _render(text or "", find_spans(text or "", terms))


def snippet_html(text: str, terms: Sequence[str], *, fragments: int = 2,
                 width: int = SNIPPET_CHARS, budget: Any = None) -> str:
    """Return up to ``fragments`` windows of about ``width`` characters around the best matches."""
    text = text or ""
    # Windows are chosen on the matches as typed; only the chosen windows are segmented
    # to widen single characters (a long article is not segmented for two snippets).
    # A long article's opening is looked at first: when it holds every query word, the
    # windows are chosen there and the rest is not folded (a 30,000-character text cost
    # ~1 ms a hit at 1M).
    chosen = None
    if len(text) > SNIPPET_HEAD_CHARS:
        chosen = _windows(text, *_spans(text[:SNIPPET_HEAD_CHARS], terms, widen=0), terms,
                          fragments, width, budget, complete=True)
    if chosen is None:
        chosen = _windows(text, *_spans(text, terms, widen=0), terms, fragments, width, budget)
    if not chosen:
        lead = text[:width].replace("\n", " ")
        return escape(lead) + ("…" if len(text) > width else "")
    parts = []
    for ws, we in chosen:
        a, b = max(0, ws - _MARGIN), min(len(text), we + _MARGIN)  # words across the edges in context
        local = [(x + a, y + a) for x, y in find_spans(text[a:b], terms)]
        frag = _render(text, local, ws, we).replace("\n", " ")
        parts.append(("…" if ws > 0 else "") + frag + ("…" if we < len(text) else ""))
    return " ".join(parts)


def _windows(text: str, spans: list[tuple[int, int]], matched: list[str], terms: Sequence[str],
             fragments: int, width: int, budget: Any, complete: bool = False) -> list[tuple[int, int]] | None:
    """Up to ``fragments`` disjoint windows of ``width`` characters of ``text``, in text order,
    centred on the best of ``spans`` (most distinct matched words, then most matches, then
    earliest). With ``complete``, None unless the spans hold every distinct query word."""
    wanted = len({t for t in terms if t})
    if complete and len(set(matched)) < wanted:
        return None
    if not spans:
        return []
    multi = wanted > 1
    starts = [s for s, _ in spans]

    # Score each candidate window (centred on a match) by the distinct terms it holds;
    # the spans inside a window are found by binary search (they are sorted and disjoint).
    cands = []
    for i, (s, _e) in enumerate(spans[:MAX_WINDOWS]):
        if budget is not None and i % 50 == 49 and budget.stop():
            break
        ws = max(0, min(s - width // 3, len(text) - width))
        we = min(len(text), ws + width)
        inside = [j for j in range(bisect_left(starts, ws), bisect_right(starts, we)) if spans[j][1] <= we]
        distinct = len({matched[j] for j in inside}) if multi else 1
        cands.append((distinct, len(inside), -i, ws, we))
    cands.sort(reverse=True)
    chosen: list[tuple[int, int]] = []
    for _d, _n, _i, ws, we in cands:
        if all(we <= cs or ws >= ce for cs, ce in chosen):
            chosen.append((ws, we))
        if len(chosen) == fragments:
            break
    chosen.sort()
    return chosen
