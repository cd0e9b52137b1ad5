"""The user query language, parsed safely, and its compilation into match sets and scoring queries.

Syntax (documented in docs/QUERY.md):

* space-separated parts are ANDed; ``A OR B`` (or ``A | B``) makes alternatives;
* ``"exact phrase"`` (also “…”, 「…」, 『…』); ``-word`` / ``-"phrase"`` excludes;
* ``title:`` ``source:`` ``region:`` ``site:`` prefixes (and 标题: 来源: 地区: 站点:).

Nothing a user types is an error: unbalanced quotes are dropped, stray operators,
``*``, ``?``, ``~``, parentheses and unknown prefixes are read as text (and text that
has no word in it is ignored). Traditional/simplified and full-width input are folded
by the analyzer. Long unquoted parts (a pasted headline) do not demand every word: a
minimum-should-match keeps the articles that hold most of them, and a proximity bonus
ranks those with the words together first.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from whoosh.query import And, DisjunctionMax, Or, Phrase, Query, Term

from .analysis import query_words, sub_words
from .errors import BadQuery
from .normalize import HAN_RE, fold_text

__all__ = ["Part", "ParsedQuery", "parse_query", "Plan", "compile_query", "MAX_QUERY_CHARS",
           "FIELD_ALIASES", "required_count", "MAX_WORDS", "BUDGET_SECONDS"]

MAX_QUERY_CHARS = 1000
MAX_WORDS = 64  # words used over all parts; the rest of a pasted paragraph is ignored
BUDGET_SECONDS = 3.0
MIN_SHOULD_MATCH = 0.6  # share of a long part's content words a match must hold
PAIR_SLOP = 3
PAIR_BOOST = 1.0
SUBWORD_SUM = 0.0
FIELD_ALIASES = {
    "title": "title", "标题": "title", "標題": "title",
    "source": "source", "来源": "source", "來源": "source",
    "region": "region", "地区": "region", "地區": "region", "地域": "region",
    "site": "site", "站点": "site", "站點": "site",
}
_QUOTES = str.maketrans({c: '"' for c in "“”„‟「」『』〝〞"})
_CTRL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_PREFIX = re.compile(r"^([^\W\d_]+):(.*)$", re.S)
_NON_ALNUM = re.compile(r"[\W_]+")


def _squash(text: str) -> str:
    """Drop everything but letters, digits and ideographs (phrases ignore punctuation)."""
    return _NON_ALNUM.sub("", text)
# Function words that a long query may hold without them counting towards the
# minimum-should-match (they still score, with their low IDF).
STOPWORDS = frozenset("的 了 在 是 和 与 及 或 对 将 也 就 都 而 等 被 把 让 向 从 于 为 以 之 其 这 那 有 个 中 上 下 着 并 已 又 要 会 能".split())


@dataclass(frozen=True)
class Part:
    """One searchable piece of a query."""

    text: str
    phrase: bool = False
    field: str | None = None  # None = title+body, or title/source/region/site
    negate: bool = False


@dataclass(frozen=True)
class ParsedQuery:
    """AND over groups; OR within a group; minus the excluded parts."""

    raw: str
    groups: tuple[tuple[Part, ...], ...] = ()
    excluded: tuple[Part, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing but filters constrains the search."""
        return not self.groups and not self.excluded


def _normalize_input(q: str) -> str:
    q = _CTRL.sub(" ", q)
    q = unicodedata.normalize("NFKC", q).translate(_QUOTES)
    if q.count('"') % 2:  # drop the unpaired (last) quote: its text stays plain text
        i = q.rfind('"')
        q = q[:i] + " " + q[i + 1:]
    return q


def _scan(q: str) -> list[str]:
    """Split into raw tokens; a quoted span (with its prefix) stays one token."""
    toks: list[str] = []
    i, n = 0, len(q)
    while i < n:
        if q[i].isspace():
            i += 1
            continue
        j = i
        buf = []
        while j < n and not q[j].isspace():
            if q[j] == '"':
                k = q.find('"', j + 1)
                buf.append(q[j:k + 1])
                j = k + 1
            else:
                buf.append(q[j])
                j += 1
        toks.append("".join(buf))
        i = j
    return toks


def _has_words(text: str) -> bool:
    return bool(query_words(text))


def _part(tok: str) -> Part | None:
    negate = False
    if tok.startswith("-") and len(tok) > 1:
        negate, tok = True, tok[1:]
    fieldname = None
    m = _PREFIX.match(tok)
    if m and m.group(1).lower() in FIELD_ALIASES:
        if not m.group(2).strip('"'):
            return None  # a prefix with nothing after it ("title:" then a space) says nothing
        fieldname, tok = FIELD_ALIASES[m.group(1).lower()], m.group(2)
    phrase = tok.startswith('"') and tok.endswith('"') and len(tok) >= 2 and tok.count('"') == 2
    text = tok.strip('"') if phrase else tok.replace('"', " ")
    if fieldname in ("region", "site"):
        text = text.replace('"', "").strip()
        return Part(text, False, fieldname, negate) if text else None
    if not _has_words(text):
        return None
    return Part(text, phrase, fieldname, negate)


def parse_query(q: str | None) -> ParsedQuery:
    """Parse user input into parts; never fails except for over-long input."""
    q = q or ""
    if len(q) > MAX_QUERY_CHARS:
        raise BadQuery(f"the query is {len(q)} characters long; at most {MAX_QUERY_CHARS} are allowed")
    norm = _normalize_input(q)
    groups: list[list[Part]] = []
    excluded: list[Part] = []
    pending_or = False
    for tok in _scan(norm):
        if tok in ("OR", "|", "||"):
            pending_or = bool(groups)
            continue
        part = _part(tok)
        if part is None:
            continue
        if part.negate:
            excluded.append(part)
            pending_or = False
            continue
        if pending_or and groups:
            groups[-1].append(part)
        else:
            groups.append([part])
        pending_or = False
    return ParsedQuery(q, tuple(tuple(g) for g in groups), tuple(excluded))


def required_count(n: int) -> int:
    """How many of ``n`` content words a part must match (all for short parts)."""
    if n <= 3:
        return n
    return max(1, math.ceil(n * MIN_SHOULD_MATCH))


# ---------------------------------------------------------------- compilation


@dataclass
class Plan:
    """A compiled query: how to find the match set, how to score, what to highlight."""

    parsed: ParsedQuery
    docs: set[int] | None = None  # None = every document
    scoring: Query | None = None
    highlight: list[str] = field(default_factory=list)


class _Compiler:
    def __init__(self, searcher: Any, lexicon: Any):
        self.deadline = time.perf_counter() + BUDGET_SECONDS
        self.s = searcher
        self.lex = lexicon
        self.highlight: list[str] = []
        self.words_used = 0
        self._cache: dict[Any, set[int]] = {}

    # -- match sets
    def docs(self, q: Query) -> set[int]:
        self.check_budget()
        key = repr(q)
        got = self._cache.get(key)
        if got is None:
            got = set(self.s.docs_for_query(q))
            self._cache[key] = got
        return got

    def word_query(self, w: str, fields: tuple[str, ...], expand: bool = True) -> Query:
        """Whole word, or longer indexed words containing it, or all its sub-words; summed over fields."""
        longer = self.lex.containing(w) if expand and w not in STOPWORDS else []
        parts = sub_words(w)
        per_field: list[Query] = []
        for f in fields:
            readings: list[Query] = [Term(f, w)]
            readings.extend(Term(f, x, boost=0.5) for x in longer)
            if len(parts) > 1 and not SUBWORD_SUM:
                # 个人电脑 also matches a text that only has 个人 … 电脑 (segmented apart).
                readings.append(And([Term(f, p, boost=0.4) for p in parts]))
            # The best reading counts, not their sum: a longer word must not outscore the word itself.
            per_field.append(DisjunctionMax(readings) if len(readings) > 1 else readings[0])
            if len(parts) > 1 and SUBWORD_SUM:
                per_field.extend(Term(f, p, boost=SUBWORD_SUM) for p in parts)
        return Or(per_field) if len(per_field) > 1 else per_field[0]

    def word_docs(self, w: str, wq: Query, fields: tuple[str, ...]) -> set[int]:
        """Documents holding ``w`` by one of its indexed readings."""
        # Not covered: a word that jieba split across two words of the document and that
        # neither contains (研究生 in 研究|生命). Indexing boundary pairs to find those
        # doubled index size and commit time (docs/DESIGN-NOTES.md); phrases are verified.
        return self.docs(wq)

    def verify(self, cands: set[int], needle: str, fields: tuple[str, ...]) -> set[int]:
        """Keep the candidates whose stored, folded text contains ``needle`` (punctuation ignored)."""
        needle = _squash(fold_text(needle))
        out: set[int] = set()
        if not needle:
            return out
        for n, d in enumerate(sorted(cands)):
            if n % 200 == 0:
                self.check_budget()
            f = self.s.stored_fields(d)
            hay = " ".join(f.get(x, "") for x in fields)
            if needle in _squash(fold_text(hay)):
                out.add(d)
        return out

    def check_budget(self) -> None:
        """Refuse a query whose matching has already taken longer than the budget."""
        if time.perf_counter() > self.deadline:
            raise BadQuery(
                f"the query is too expensive (over {BUDGET_SECONDS:.0f} s to match); use fewer or rarer words"
            )

    def text_part(self, part: Part) -> tuple[set[int] | None, Query | None]:
        # Words past the cap are dropped (a pasted paragraph is answered from its start).
        words = query_words(part.text)[: MAX_WORDS - self.words_used]
        if not words:
            return None, None
        self.words_used += len(words)
        fields = ("title",) if part.field == "title" else ("title", "body")
        if not part.negate:
            self.highlight.extend(words)
        # Single characters are expanded to the words holding them only when typed alone
        # (珙 → 珙县); inside a longer part they would drown it in unrelated words.
        wqs = [self.word_query(w, fields, expand=len(w) > 1 or len(words) == 1) for w in words]
        if part.phrase:
            docs = self._phrase_docs(part.text, words, wqs, fields)
            score = Or([Phrase(f, words, boost=2.0) for f in fields] + wqs) if len(words) > 1 else wqs[0]
            return docs, score
        content = [i for i, w in enumerate(words) if w not in STOPWORDS] or list(range(len(words)))
        need = required_count(len(content))
        sets = [self.word_docs(words[i], wqs[i], fields) for i in content]
        if need >= len(sets):
            sets.sort(key=len)
            docs = set(sets[0])
            for s in sets[1:]:
                docs &= s
        else:
            counts: dict[int, int] = {}
            for s in sets:
                for d in s:
                    counts[d] = counts.get(d, 0) + 1
            docs = {d for d, c in counts.items() if c >= need}
        return docs, self.proximity_scoring(words, wqs, fields)

    def proximity_scoring(self, words: list[str], wqs: list[Query], fields: tuple[str, ...]) -> Query:
        """Score the words, plus a bonus for each neighbouring pair found close together."""
        scoring: list[Query] = list(wqs)
        if len(words) <= 3:
            # Short part: all its words near each other.
            if len(words) > 1:
                scoring.extend(Phrase(f, words, slop=PAIR_SLOP, boost=PAIR_BOOST) for f in fields)
        else:
            # Long part (a headline, a summary): sequential-dependence style bonus for each
            # pair of neighbouring content words that appears in that order within a window.
            content = [w for w in words if w not in STOPWORDS]
            for a, b in zip(content, content[1:]):
                scoring.extend(Phrase(f, [a, b], slop=PAIR_SLOP, boost=PAIR_BOOST) for f in fields)
        return Or(scoring) if len(scoring) > 1 else scoring[0]

    def _phrase_docs(self, text: str, words: list[str], wqs: list[Query], fields) -> set[int]:
        sets = sorted((self.word_docs(w, q, fields) for w, q in zip(words, wqs)), key=len)
        cands = set(sets[0])
        for other in sets[1:]:
            cands &= other
        if len(words) == 1 or not cands:
            return cands
        exact = self.docs(Or([Phrase(f, words) for f in fields])) & cands
        rest = cands - exact
        # Segmentation can differ between a phrase typed alone and the same words in
        # running text; check the remaining candidates against their stored text.
        if len(rest) > 3000:
            rest &= self.docs(Or([Phrase(f, words, slop=2) for f in fields]))
        return exact | self.verify(rest, text, fields)

    def source_part(self, part: Part) -> set[int]:
        words = query_words(part.text)
        exact = self.docs(Term("source", part.text))
        return exact | (self.docs(And([Term("source_text", w) for w in words])) if words else set())

    def region_part(self, part: Part) -> set[int]:
        name = fold_text(part.text)
        variants = {name, re.sub(r"(省|市|自治区|特别行政区|地区|自治州|盟)$", "", name)}
        return self.docs(Or([Term("region", v) for v in variants if v]))

    def site_part(self, part: Part) -> set[int]:
        host = part.text.lower().strip("/")
        host = re.sub(r"^[a-z]+://", "", host).split("/", 1)[0]
        host = host[4:] if host.startswith("www.") else host
        hosts = [h for h in self.lex.sites() if h == host or h.endswith("." + host)]
        return self.docs(Or([Term("site", h) for h in hosts])) if hosts else set()

    def part(self, part: Part) -> tuple[set[int] | None, Query | None]:
        if part.field == "source":
            return self.source_part(part), None
        if part.field == "region":
            return self.region_part(part), None
        if part.field == "site":
            return self.site_part(part), None
        return self.text_part(part)


def compile_query(parsed: ParsedQuery, searcher: Any, lexicon: Any) -> Plan:
    """Turn a parsed query into a match set and a scoring query over one searcher."""
    c = _Compiler(searcher, lexicon)
    docs: set[int] | None = None
    scoring: list[Query] = []
    for group in parsed.groups:
        gdocs: set[int] | None = None
        for p in group:
            d, sq = c.part(p)
            if d is None:  # over the word cap: ignored
                continue
            gdocs = d if gdocs is None else gdocs | d
            if sq is not None:
                scoring.append(sq)
        if gdocs is not None:
            docs = gdocs if docs is None else docs & gdocs
    for p in parsed.excluded:
        d, _ = c.part(p)
        if d is None:
            continue
        if docs is None:
            docs = set(searcher.reader().all_doc_ids())
        docs -= d
    plan = Plan(parsed, docs, None, c.highlight)
    if scoring:
        plan.scoring = Or(scoring) if len(scoring) > 1 else scoring[0]
    return plan

