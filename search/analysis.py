"""The one jieba tokenizer, shared by indexing and querying.

Whoosh pickles analyzer objects into the index schema, so this module's path
(``search.analysis``) is part of the on-disk format: never move or rename it.

Segmentation runs on *folded* text (NFKC, simplified, lower-case; see
:mod:`search.normalize`), so 監督 and 监督 give the same terms. Tokens carry:

* ``pos`` — the ordinal of the coarse jieba word (search-mode sub-words such as 联动 inside
  巡审联动 share the position of the word that contains them), so phrase queries work;
* ``startchar``/``endchar`` — exact offsets into the *display* text.

Digits and Latin words are kept; whitespace and punctuation are dropped. The jieba
engine is rjieba (jieba-rs: the same dictionary and algorithm as jieba, ~10x faster);
the pure-Python ``jieba`` package is the fallback and the reference the tests compare to.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

from whoosh.analysis import Token, Tokenizer

from .budget import not_counted
from .normalize import Folded, fold

__all__ = [
    "JiebaTokenizer",
    "Tok",
    "analyze",
    "analyze_folded",
    "term_positions",
    "token_terms",
    "tokens",
    "query_words",
    "sub_words",
    "ensure_dictionary",
    "add_words",
    "segment",
]

log = logging.getLogger(__name__)

# A token is kept when it has a letter, digit or ideograph (Python's \w covers Han).
_WORDISH = re.compile(r"[^\W_]")
# jieba keeps runs such as 5.3% or covid-19 as one token; their inner forms are indexed too.
_MIXED = re.compile(r"[^\w]|_")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_ALNUM_RUN = re.compile(r"[^\W_]+")

try:  # pragma: no cover - exercised implicitly
    import rjieba as _rj

    _BACKEND = "rjieba"
except ImportError:  # pragma: no cover
    _rj = None  # type: ignore[assignment]  # the jieba fallback below checks for None
    _BACKEND = "jieba"

_dict_lock = threading.Lock()
_dict_ready = False


class Tok(NamedTuple):
    """A token: folded term, coarse position, display start/end offsets."""

    text: str
    pos: int
    start: int
    end: int


def _user_words() -> list[str]:
    words: list[str] = []
    try:
        data = resources.files("search").joinpath("data/userdict.txt").read_text("utf-8")
        for line in data.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                words.append(line.split()[0])
    except FileNotFoundError:
        pass
    try:
        from .region import place_names  # lazy: region may use normalize, never analysis

        words.extend(place_names())
    except ImportError:  # region module not present in a trimmed install
        pass
    return words


def add_words(words: Iterable[str]) -> None:
    """Add words to the segmentation dictionary (both backends)."""
    for w in words:
        w = fold(w).text
        if len(w) < 2:
            continue
        if _rj is not None:
            _rj.add_word(w, None, None)
        else:
            import jieba

            jieba.add_word(w)


def ensure_dictionary() -> None:
    """Load the user dictionary (gazetteer + user words) once per process."""
    global _dict_ready
    if _dict_ready:
        return
    with _dict_lock, not_counted():
        if _dict_ready:
            return
        if _rj is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
        add_words(_user_words())
        _dict_ready = True
        log.debug("jieba dictionary ready (%s)", _BACKEND)


def segment(folded: str, mode: str = "search") -> list[tuple[str, int, int]]:
    """Return raw jieba tokens ``(word, start, end)`` of folded text; mode search/default."""
    ensure_dictionary()
    if _rj is not None:
        return _rj.tokenize(folded, mode=mode, hmm=True)
    import jieba

    return list(jieba.tokenize(folded, mode=mode, HMM=True))


def _coarse_marks(raw: list[tuple[str, int, int]]) -> list[int]:
    """Number the coarse word each raw token belongs to (sub-words share their word's)."""
    # In search mode jieba emits the sub-words of a long word right before the word
    # itself; walking backwards, a token that ends at or before the start of the last
    # coarse word is the next coarse word, anything else is one of its sub-words.
    n = len(raw)
    marks = [0] * n
    coarse = 0
    cur_start = 1 << 62
    for i in range(n - 1, -1, -1):
        tok = raw[i]
        if tok[2] <= cur_start:
            coarse += 1
            cur_start = tok[1]
        marks[i] = coarse
    return [coarse - m for m in marks]


def _parts(w: str) -> list[str]:
    """Return the inner forms of a mixed token: 5.3% → 5.3, 5, 3; covid-19 → covid, 19."""
    out = []
    core = _EDGE_PUNCT.sub("", w)
    if core and core != w:
        out.append(core)
    runs = _ALNUM_RUN.findall(w)
    if len(runs) > 1:
        out.extend(r for r in runs if r != core)
    return out


_KINDS: dict[str, str | tuple[str, ...]] = {}  # raw token -> token_terms(token), per process
_KINDS_MAX = 300_000


def token_terms(w: str) -> str | tuple[str, ...]:
    """What one raw jieba token is indexed as: "" (dropped), a term, or a mixed token's terms
    (itself, then its inner forms: covid-19 → covid-19, covid, 19)."""
    t = _KINDS.get(w)
    if t is None:
        if len(_KINDS) > _KINDS_MAX:
            _KINDS.clear()
        if not _WORDISH.search(w):
            t = ""
        else:
            x = w.strip()
            t = (x, *_parts(x)) if _MIXED.search(x) else x
        _KINDS[w] = t
    return t


def _loop(folded: str, mode: str, postings: bool) -> list | dict[str, list[int]]:
    """THE tokenizer loop, shared by indexing (both writers) and querying/highlighting.

    Positions are dense over kept tokens (punctuation takes no slot) and sub-words of a long
    word share its position. With ``postings`` it returns each term's positions (a term once
    per position: covid in covid-19); otherwise ``(terms, position, start, end)`` per kept token,
    offsets into the folded text. One loop with a flag, not two: this is the indexing hot path.
    """
    raw = segment(folded, mode)
    kinds = _KINDS
    if len(kinds) > _KINDS_MAX:
        kinds.clear()
    kget = kinds.get
    out: list = []
    poses: dict[str, list[int]] = {}
    pget = poses.get
    last, nxt = -1, -1
    for (w, s, e), m in zip(raw, _coarse_marks(raw)):
        t = kget(w)
        if t is None:
            t = token_terms(w)
        if not t:
            continue
        if m != last:
            nxt += 1
            last = m
        if not postings:
            out.append((t, nxt, s, e))
        elif t.__class__ is str:
            pl = pget(t)
            if pl is None:
                poses[t] = [nxt]
            elif pl[-1] != nxt:
                pl.append(nxt)
        else:  # a mixed token (covid-19): itself, then its inner forms
            for x in t:
                pl = pget(x)
                if pl is None:
                    poses[x] = [nxt]
                elif pl[-1] != nxt:
                    pl.append(nxt)
    return poses if postings else out


def tokens(folded: str, mode: str = "search") -> list[tuple[str | tuple[str, ...], int, int, int]]:
    """Return ``(terms, position, start, end)`` per kept jieba token of folded text."""
    return _loop(folded, mode, False)  # type: ignore[return-value]


def term_positions(folded: str) -> dict[str, list[int]]:
    """Return each indexed term of folded text with its positions (what both writers index)."""
    return _loop(folded, "search", True)  # type: ignore[return-value]


def analyze_folded(f: Folded, mode: str = "search") -> list[Tok]:
    """Tokenize folded text into positioned tokens with display offsets."""
    out: list[Tok] = []
    to_display = f.to_display
    ident = f.offsets is None
    for t, pos, s, e in tokens(f.text, mode):
        ds, de = (s, e) if ident else (to_display(s), to_display(e))
        if t.__class__ is str:
            out.append(Tok(t, pos, ds, de))
        else:
            out.append(Tok(t[0], pos, ds, de))
            if mode == "search":
                out.extend(Tok(p, pos, ds, de) for p in t[1:])
    return out


def analyze(text: str, mode: str = "search") -> list[Tok]:
    """Fold display text and tokenize it (offsets point into ``text``)."""
    return analyze_folded(fold(text), mode)


@lru_cache(maxsize=4096)
def _query_words(text: str) -> tuple[str, ...]:
    return tuple(t.text for t in analyze(text, mode="default"))


def query_words(text: str) -> list[str]:
    """Return the coarse words of a query string, folded, in order."""
    return list(_query_words(text))


@lru_cache(maxsize=4096)
def sub_words(word: str) -> tuple[str, ...]:
    """Return the dictionary words inside a long folded word that cover it (个人电脑 → 个人, 电脑)."""
    if len(word) < 3:
        return ()
    # Walk left to right taking the longest dictionary sub-word that starts where the
    # last one ended; if the cover breaks, there is no sub-word reading of this word.
    by_start: dict[int, str] = {}
    for w, st, _e in segment(word, "search"):
        if w != word and len(w) > len(by_start.get(st, "")):
            by_start[st] = w
    chosen: list[str] = []
    cur = 0
    while cur < len(word):
        nxt = by_start.get(cur)
        if nxt is None:
            return ()
        chosen.append(nxt)
        cur += len(nxt)
    return tuple(chosen)


class JiebaTokenizer(Tokenizer):
    """Whoosh tokenizer over :func:`analyze`; ``mode`` is ``search`` (fine) or ``default``."""

    def __init__(self, mode: str = "search"):
        self.mode = mode

    def __eq__(self, other):
        return type(other) is type(self) and other.mode == self.mode

    def __call__(self, value, positions=False, chars=False, keeporiginal=False,
                 removestops=True, start_pos=0, start_char=0, tokenize=True,
                 mode="", **kwargs) -> Iterator[Token]:
        """Yield Whoosh tokens; query-mode calls use coarse segmentation."""
        seg_mode = "default" if mode == "query" else self.mode
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            t.original = t.text = value
            t.boost = 1.0
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar, t.endchar = start_char, start_char + len(value)
            yield t
            return
        for tok in analyze(value, seg_mode):
            t.text = tok.text
            t.boost = 1.0
            if keeporiginal:
                t.original = tok.text
            t.stopped = False
            if positions:
                t.pos = start_pos + tok.pos
            if chars:
                t.startchar = start_char + tok.start
                t.endchar = start_char + tok.end
            yield t
