"""Highlight query words in display text and cut snippets around the best matches.

Matching runs on the folded text (simplified, NFKC, lower-case) and is mapped back to
the display text through :class:`search.normalize.Folded`, so 监督 highlights 監督 in a
traditional-script article. A Han match that cuts a word of the document's own
segmentation is widened to that whole word when it is a single character (珙 → 珙縣);
a longer query word is marked as typed (监督 in 民主監督). Latin letters and digits match
whole words only. Everything outside ``<mark>`` is HTML-escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape

from .analysis import analyze_folded
from .normalize import HAN_RE, Folded, fold

__all__ = ["find_spans", "highlight_html", "snippet_html", "SNIPPET_CHARS", "MAX_SCAN_CHARS"]

SNIPPET_CHARS = 120
MAX_SCAN_CHARS = 200_000  # longer texts are highlighted in their first part only
_ASCII_WORD = re.compile(r"[0-9a-z]")


def _term_patterns(terms: Iterable[str]) -> re.Pattern[str] | None:
    uniq = sorted({t for t in terms if t and t.strip()}, key=len, reverse=True)
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


def find_spans(text: str, terms: Sequence[str], folded: Folded | None = None) -> list[tuple[int, int]]:
    """Return merged ``(start, end)`` display spans where the folded terms occur."""
    pat = _term_patterns(terms)
    if pat is None or not text:
        return []
    f = folded or fold(text[:MAX_SCAN_CHARS])
    raw = [(m.start(), m.end()) for m in pat.finditer(f.text)]
    if not raw:
        return []
    if any(e - s == 1 and HAN_RE.match(f.text[s]) for s, e in raw):
        raw = _widen_to_words(f, raw)
    spans = sorted((f.to_display(s), f.to_display(e)) for s, e in raw)
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _widen_to_words(f: Folded, raw: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Widen single-character Han matches to the document word holding them (珙 → 珙縣)."""
    words = [(t.start, t.end) for t in analyze_folded(Folded(f.text, len(f.text)), "default")]
    out = []
    for s, e in raw:
        if e - s == 1:
            for ws, we in words:
                if ws <= s < we:
                    s, e = ws, we
                    break
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


def highlight_html(text: str, terms: Sequence[str]) -> str:
    """Return the whole text escaped, with the terms wrapped in ``<mark>``."""
    return _render(text or "", find_spans(text or "", terms))


def snippet_html(text: str, terms: Sequence[str], *, fragments: int = 2,
                 width: int = SNIPPET_CHARS) -> str:
    """Return up to ``fragments`` windows of about ``width`` characters around the best matches."""
    text = text or ""
    spans = find_spans(text, terms)
    if not spans:
        lead = text[:width].replace("\n", " ")
        return escape(lead) + ("…" if len(text) > width else "")
    folded_terms = [t for t in terms if t]
    # Score each candidate window (centred on a match) by the distinct terms it holds.
    cands = []
    for i, (s, _e) in enumerate(spans):
        ws = max(0, min(s - width // 3, len(text) - width))
        we = min(len(text), ws + width)
        inside = [sp for sp in spans if sp[0] >= ws and sp[1] <= we]
        distinct = len({fold(text[a:b]).text for a, b in inside}) if len(folded_terms) > 1 else 1
        cands.append((distinct, len(inside), -i, ws, we))
    cands.sort(reverse=True)
    chosen: list[tuple[int, int]] = []
    for _d, _n, _i, ws, we in cands:
        if all(we <= cs or ws >= ce for cs, ce in chosen):
            chosen.append((ws, we))
        if len(chosen) == fragments:
            break
    chosen.sort()
    parts = []
    for ws, we in chosen:
        frag = _render(text, spans, ws, we).replace("\n", " ")
        parts.append(("…" if ws > 0 else "") + frag + ("…" if we < len(text) else ""))
    return " ".join(parts)
