"""Clean display text and fold it for analysis, keeping a map back to display offsets.

Two texts exist for every field:

* the *display* text: as published (traditional stays traditional), minus pinyin
  annotations glued to Han characters (``監(jiān)督`` → ``監督``), with control
  characters removed and whitespace tidied;
* the *folded* text given to the analyzer: NFKC (full-width → half-width), OpenCC
  traditional → simplified, Latin lower-cased. ``Folded.to_display(i)`` maps an offset in
  the folded text to an offset in the display text, so highlights land on the
  characters that were published.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "clean_text",
    "strip_pinyin",
    "fold",
    "fold_text",
    "squash",
    "Folded",
    "is_han",
    "HAN_RE",
    "opencc_converter",
]

# CJK unified ideographs (basic + extension A) and compatibility ideographs.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN_RE = re.compile(f"[{_HAN}]")
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜǹńňḿ"
# One or more pinyin syllables in parentheses glued to the previous character (a Han
# character, or the junk a bad decode left in its place: `瑫r(shí)`); at least one
# tone-marked vowel, so that real parentheses such as (吴平华 王紫溦) or (2024) stay.
_PINYIN_RE = re.compile(
    rf"(?<=\S)[(（]\s*(?=[a-zü{_TONED}\s']*[{_TONED}])[a-zü{_TONED}]+(?:[\s'][a-zü{_TONED}]+)*\s*[)）]"
)
# Control characters, zero-width marks and U+FFFD (what an upstream bad decode left: 伯�H楼).
_CTRL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff\ufffd\ufffe\uffff]")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
_HSPACE_RE = re.compile(r"[ \t\u00a0\u3000]+")
_NL_RE = re.compile(r"\s*\n\s*")


def is_han(ch: str) -> bool:
    """Return True for a CJK ideograph."""
    return bool(HAN_RE.match(ch))


def strip_pinyin(text: str) -> str:
    """Remove ``(pīnyīn)`` annotations glued to the character before them."""
    if "(" not in text and "（" not in text:
        return text
    return _PINYIN_RE.sub("", text)


def clean_text(text: str, *, multiline: bool = True) -> str:
    """Return display text: pinyin annotations, control characters and messy spacing removed."""
    if not text:
        return ""
    text = _SURROGATE_RE.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CTRL_RE.sub("", text)
    text = strip_pinyin(text)
    text = _HSPACE_RE.sub(" ", text)
    if multiline:
        text = _NL_RE.sub("\n", text)
    else:
        text = re.sub(r"\s+", " ", text)
    return text.strip()


_converter_lock = threading.Lock()
_converter = None
_converters: dict[str, Any] = {}


def opencc_converter(config: str) -> Any:
    """Return the process's one OpenCC converter for config ("t2s", "s2t"), built on first use."""
    conv = _converters.get(config)
    if conv is None:
        with _converter_lock:
            conv = _converters.get(config)
            if conv is None:
                import opencc  # imported lazily: workers and tools that never fold skip it

                conv = _converters[config] = opencc.OpenCC(config)
    return conv


def _t2s():
    global _converter
    if _converter is None:
        _converter = opencc_converter("t2s")  # kept in a global too: fold() asks for it per text
    return _converter


@dataclass(frozen=True)
class Folded:
    """Folded text plus the offset map back to the display text (None = identity)."""

    text: str
    display_len: int
    offsets: tuple[int, ...] | None = None  # offsets[i] = display offset of folded char i

    def to_display(self, i: int) -> int:
        """Map a folded offset (0..len) to a display offset (0..display_len)."""
        if self.offsets is None:
            return i
        if i >= len(self.offsets):
            return self.display_len
        return self.offsets[i]


_fold_lock = threading.Lock()
_fold_table: dict[int, str] | None = None
_expanding_re: re.Pattern[str] | None = None


def _tables() -> tuple[dict[int, str], re.Pattern[str]]:
    """Build once: a translate table of per-character NFKC + lower-case, and the characters it expands."""
    global _fold_table, _expanding_re
    if _fold_table is None:
        with _fold_lock:
            if _fold_table is None:
                table: dict[int, str] = {}
                expanding: list[str] = []
                ranges = [range(0x10000), range(0x1D400, 0x1D800), range(0x1F100, 0x1F200)]
                for r in ranges:
                    for cp in r:
                        if 0xD800 <= cp <= 0xDFFF:
                            continue
                        c = chr(cp)
                        m = unicodedata.normalize("NFKC", c).lower()
                        if m != c:
                            table[cp] = m
                            if len(m) != 1:
                                expanding.append(c)
                _expanding_re = re.compile("[" + "".join(re.escape(c) for c in expanding) + "]")
                _fold_table = table
    assert _expanding_re is not None
    return _fold_table, _expanding_re


_fold_codes: np.ndarray | None = None
_EXPANDS = 0xFFFFFFFF  # in _fold_codes: the character folds to more (or fewer) than one
# Shorter texts: str.translate (~0.25 µs a character) costs less than the arrays' round trip.
_FAST_FROM = 300


def _code_table() -> np.ndarray:
    """The fold table over every code point (4.4 MB): the folded code point, or _EXPANDS."""
    global _fold_codes
    if _fold_codes is None:
        table, _ = _tables()
        codes = np.arange(0x110000, dtype=np.uint32)
        for cp, m in table.items():
            codes[cp] = ord(m) if len(m) == 1 else _EXPANDS
        _fold_codes = codes
    return _fold_codes


def _fold_chars(text: str) -> tuple[str, tuple[int, ...] | None]:
    """NFKC + lower-case character by character, with an offset map when lengths change."""
    # Per character (not whole-string NFKC) so that every folded character maps back to
    # exactly one display character; "…" → "...", "℃" → "°c" keep their source offset.
    table, expanding = _tables()
    if len(text) >= _FAST_FROM:
        # One table lookup over the code points: several times faster on an article's body
        # than translate's per-character dictionary lookups.
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        folded = _code_table()[cps]
        if folded.max() != _EXPANDS:
            return folded.tobytes().decode("utf-32-le", "surrogatepass"), None
        # A few characters fold to several ("…" → "..."): spliced in, the offsets repeated.
        where = np.flatnonzero(folded == _EXPANDS)
        folded[where] = cps[where]
        one = folded.tobytes().decode("utf-32-le", "surrogatepass")
        pieces, last = [], 0
        lens = np.ones(len(cps), dtype=np.int64)
        for i in where.tolist():
            wide = table[ord(text[i])]
            pieces.append(one[last:i])
            pieces.append(wide)
            lens[i] = len(wide)
            last = i + 1
        pieces.append(one[last:])
        return "".join(pieces), tuple(np.repeat(np.arange(len(cps)), lens).tolist())
    out = text.translate(table)
    if len(out) == len(text):
        return out, None
    offs: list[int] = []
    last = 0
    for m in expanding.finditer(text):
        i = m.start()
        offs.extend(range(last, i))
        offs.extend([i] * len(table[ord(text[i])]))
        last = i + 1
    offs.extend(range(last, len(text)))
    return out, tuple(offs)


def fold(text: str) -> Folded:
    """Fold display text for analysis: NFKC, traditional → simplified, lower-case."""
    chars, offs = _fold_chars(text)
    conv = _t2s().convert(chars)
    if len(conv) != len(chars):
        # OpenCC phrase tables changed the length: convert character by character so
        # that offsets stay exact (rare; costs some quality of conversion, not recall).
        conv = "".join(_t2s().convert(c) or c for c in chars)
        if len(conv) != len(chars):
            conv = chars
    return Folded(conv, len(text), offs)


def fold_text(text: str) -> str:
    """Return only the folded text (for queries, region and duplicate detection)."""
    return fold(text).text


# ---------------------------------------------------------------- finding folded text in display text

_BREAKS = ",.;:!?。、，．！？；：\n\r"  # clause punctuation: a phrase does not run on across it
_SQUASH_BREAK = re.compile(f"[{re.escape(_BREAKS)}]+")
_SQUASH_DROP = re.compile(r"[^\w\x00]+|_+")


def squash(folded: str) -> str:
    """Keep letters, digits and ideographs of folded text, with one break mark (``\\x00``) for
    each run of sentence or clause punctuation: a phrase ignores spaces, quotes and brackets
    (监督组合拳 in 监督“组合拳”) but does not run on across 。 or ，(大学 is not in 伟大。学校)."""
    return _SQUASH_DROP.sub("", _SQUASH_BREAK.sub("\x00", folded))
