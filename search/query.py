"""The user query language, parsed safely, and its compilation into match sets and scoring queries.

Syntax (documented in docs/QUERY.md):

* space-separated parts are ANDed; ``A OR B`` (or ``A | B``) makes alternatives;
* ``"exact phrase"`` (also “…”, 「…」, 『…』); ``-word`` / ``-"phrase"`` excludes;
* ``title:`` ``source:`` ``region:`` ``site:`` prefixes (and 标题: 来源: 地区: 站点:).

Nothing a user types is an error: unbalanced quotes are dropped, stray operators,
``*``, ``?``, ``~``, parentheses and unknown prefixes are read as text (and text that
has no word in it is ignored). Traditional/simplified and full-width input are folded
by the analyzer. Long unquoted parts (a pasted headline) do not demand every word: an
article must hold a share of their information (summed IDF, RankParams.min_should_match), and the
engine ranks by BM25F plus a query-likelihood score and a proximity bonus. A short part
that no article holds whole falls back to articles holding some of its words
(``Plan.relaxed``; the page says so).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import budget as _budget
from .analysis import query_words, sub_words
from .chars import CharIndex
from .errors import BadQuery
from .normalize import fold_text
from .params import DEFAULT_PARAMS, RankParams, idf
from .ranking import Postings, intersect_sorted
from .schema import TITLE_BOOST

__all__ = ["Part", "ParsedQuery", "parse_query", "Plan", "compile_query", "MAX_QUERY_CHARS",
           "FIELD_ALIASES", "required_count", "MAX_WORDS", "BUDGET_SECONDS"]

MAX_QUERY_CHARS = 1000
MAX_WORDS = 64  # words used over all parts; the rest of a pasted paragraph is ignored
BUDGET_SECONDS = _budget.BUDGET_SECONDS
# A long part (RankParams.long_part content words or more: a pasted headline or summary)
# matches an article holding at least RankParams.min_should_match of the part's information,
# its content words' summed IDF, and at least one word: one rare word (黄太吉) qualifies an
# article, common words (成为, 真正) alone do not. Short parts need every content word (see
# required_count).
FIELD_ALIASES = {
    "title": "title", "标题": "title", "標題": "title",
    "source": "source", "来源": "source", "來源": "source",
    "region": "region", "地区": "region", "地區": "region", "地域": "region",
    "site": "site", "站点": "site", "站點": "site",
}
_QUOTES = str.maketrans({c: '"' for c in "“”„‟「」『』〝〞"})
_CTRL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_PREFIX = re.compile(r"^([^\W\d_]+):(.*)$", re.S)
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


def required_count(n: int, relaxed: bool = False, floor: int = DEFAULT_PARAMS.min_should_floor) -> int:
    """How many of a short part's ``n`` content words a match must hold: all of them, or
    ``floor`` when ``relaxed`` (the fallback taken when no article holds every word).
    Long parts (n >= long_part) are matched by information share instead (min_should_match)."""
    return min(n, floor) if relaxed else n


# ---------------------------------------------------------------- compilation


@dataclass
class Plan:
    """A compiled query: the match set, the scores, the word pairs for proximity, the words to mark."""

    parsed: ParsedQuery
    mask: np.ndarray | None = None  # bool per document; None = every document
    score: np.ndarray | None = None  # BM25F per document; None = no scoring words
    pairs: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    highlight: list[str] = field(default_factory=list)
    # The words of long unquoted parts with their counts, for the query-likelihood score.
    ql_words: dict[str, int] = field(default_factory=dict)
    ql_text: str = ""  # the text of those parts, for the character-pair likelihood
    # The match set when every part may match a share of its words (None = same as mask).
    relaxed: np.ndarray | None = None

    @property
    def docs(self) -> set[int] | None:
        """The match set as document numbers (None = every document)."""
        return None if self.mask is None else set(np.flatnonzero(self.mask).tolist())


class _Compiler:
    def __init__(self, searcher: Any, lexicon: Any, postings: Postings, chars: CharIndex,
                 params: RankParams = DEFAULT_PARAMS):
        # The request's budget (engine.search opens one); a compile outside a request gets its own.
        self.budget = _budget.current() or _budget.Budget()
        self.params = params
        self.s = searcher
        self.lex = lexicon
        self.p = postings
        self.chars = chars
        self.r = searcher.reader()
        self.n = postings.n
        self.highlight: list[str] = []
        self.pairs: list[tuple[str, str, tuple[str, ...]]] = []
        self.ql_words: dict[str, int] = {}
        self.ql_text = ""
        self.words_used = 0
        # Set by compile_query when only strict matches can be shown: the documents to score.
        self.cand: np.ndarray | None = None
        self._strict_seen: dict[tuple[Any, ...], tuple[np.ndarray, dict[str, np.ndarray]]] = {}

    def check_budget(self) -> None:
        """Refuse a query whose matching has already taken longer than the budget."""
        self.budget.check("the query")

    def term_mask(self, field_: str, text: str) -> np.ndarray:
        """Documents holding one term."""
        m = np.zeros(self.n, dtype=bool)
        ids, _ = self.p.term(field_, text, self.r)
        m[ids] = True
        return m

    def terms_mask(self, terms: list[str], fields: tuple[str, ...]) -> np.ndarray:
        """Documents holding any of ``terms`` in any of ``fields`` (postings read uncached)."""
        m = np.zeros(self.n, dtype=bool)
        for f in fields:
            for t in terms:
                ids, _ = self.p.term(f, t, self.r, cache=False)
                m[ids] = True
        self.check_budget()
        return m

    def present(self, w: str, fields: tuple[str, ...]) -> np.ndarray:
        """Documents holding the word ``w`` as text: any run of its characters for Han (whatever
        jieba made of the article: 研究生 in 研究|生命), the whole indexed run for Latin/digits."""
        if w.isascii():
            return self.terms_mask([w], fields)
        return self.chars.mask(w, self.check_budget, title_only=fields == ("title",))

    @staticmethod
    def _content(words: list[str]) -> list[int]:
        """Indexes of the words a part requires: function words and lone characters (often
        half a word: the end of a half-typed headline) only when it has nothing else."""
        return [i for i, w in enumerate(words) if w not in STOPWORDS and len(w) > 1] \
            or [i for i, w in enumerate(words) if w not in STOPWORDS] or list(range(len(words)))

    def strict_mask(self, part: Part, words: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The documents holding a text part strictly (a phrase exactly, or every content word
        as text), and each content word's holders; computed once per compile."""
        fields = ("title",) if part.field == "title" else ("title", "body")
        key = (part.text, part.phrase, fields, tuple(words))
        got = self._strict_seen.get(key)
        if got is None:
            if part.phrase:
                # The exact text, found by the positions of its characters (search.chars):
                # whatever the segmentation of the article or of the phrase.
                got = self.chars.mask(part.text, self.check_budget, title_only=fields == ("title",)), {}
            else:
                got = self._strict([words[i] for i in self._content(words)], fields)
            self._strict_seen[key] = got
        return got

    # -- words
    def word(self, w: str, fields: tuple[str, ...], expand: bool = True,
             split: bool = True, cand: np.ndarray | None = None) -> tuple[np.ndarray | None, np.ndarray]:
        """Score one word: its best reading per field (itself, a longer word holding it, all of
        its sub-words unless ``split`` is false), summed over fields; and the documents where
        one of those readings is indexed (a loose match: sub-words may stand apart).

        With ``cand`` (ascending document numbers) only those documents are scored, each
        looked up in the readings' postings, and no loose match set is made (None)."""
        self.check_budget()
        prm = self.params
        longer = self.lex.containing(w, prm.expansions) if expand and w not in STOPWORDS else []
        parts = sub_words(w) if split else ()
        if cand is not None:
            return None, self._word_at(w, longer, parts, fields, cand)
        readings = ((w, 1.0),) + tuple((x, prm.longer_boost) for x in longer)
        mask = np.zeros(self.n, dtype=bool)
        total = np.zeros(self.n, dtype=np.float32)
        for f in fields:
            ids, sc = self.p.best_of(f, readings, self.r)  # the best reading per document
            if ids is None:  # a dense table (held by half the archive or more): not written to
                best = sc
                mask |= sc > 0
            else:
                best = np.zeros(self.n, dtype=np.float32)
                best[ids] = sc
                mask[ids] = True
            if len(parts) > 1:
                # 个人电脑 also matches a text that only has 个人 … 电脑 (segmented apart).
                both = np.ones(self.n, dtype=bool)
                part_sum = np.zeros(self.n, dtype=np.float32)
                for pt in parts:
                    ids, sc = self.p.bm25(f, pt, self.r)
                    pm = np.zeros(self.n, dtype=bool)
                    pm[ids] = True
                    both &= pm
                    part_sum[ids] += sc
                mask |= both
                best = np.maximum(best, np.where(both, prm.split_share * part_sum, 0.0))
                if prm.subword_sum:
                    total += prm.subword_sum * part_sum
            total += best
        return mask, total

    def _word_at(self, w: str, longer: list[str], parts: tuple[str, ...], fields: tuple[str, ...],
                 cand: np.ndarray) -> np.ndarray:
        """:meth:`word`'s scores at the candidates only (the same arithmetic per document)."""
        prm = self.params
        c = len(cand)
        total = np.zeros(c, dtype=np.float32)
        for f in fields:
            ids, sc = self.p.best_of(f, ((w, 1.0),) + tuple((x, prm.longer_boost) for x in longer), self.r)
            if ids is None:  # dense: read by position
                best = sc[cand]
            else:
                best = np.zeros(c, dtype=np.float32)
                at, k = intersect_sorted(cand, ids)
                best[at] = sc[k]
            if len(parts) > 1:
                both = np.ones(c, dtype=bool)
                part_sum = np.zeros(c, dtype=np.float32)
                for pt in parts:
                    at, sc = self.p.bm25_at(f, pt, self.r, cand)
                    pm = np.zeros(c, dtype=bool)
                    pm[at] = True
                    both &= pm
                    part_sum[at] += sc
                best = np.maximum(best, np.where(both, prm.split_share * part_sum, 0.0))
                if prm.subword_sum:
                    total += prm.subword_sum * part_sum
            total += best
        out = np.zeros(self.n, dtype=np.float32)
        out[cand] = total
        return out

    def phrase_score(self, text: str, words: list[str], fields: tuple[str, ...]) -> np.ndarray:
        """BM25F of a quoted text as one term, as Lucene scores a phrase: its frequency in each
        field (from the character index, the same intersection that found its holders), the
        field's length normalisation, and the summed IDF of its words (rarer words, rarer
        phrase); the title's frequency weighs ``TITLE_BOOST`` as its words' do.

        Only the holders are scored, and no word postings are read: a quoted run of common
        words (截至1月25) costs its few character pairs, not every article holding 月."""
        score = np.zeros(self.n, dtype=np.float32)
        d, in_title, in_all = self.chars.field_counts(text, self.check_budget)
        if not len(d):
            return score
        for f, tf in (("title", in_title), ("body", in_all - in_title)):
            if f not in fields:
                continue
            held = tf > 0
            if not held.any():
                continue
            ids = d[held]
            t = tf[held].astype(np.float32) * (TITLE_BOOST if f == "title" else 1.0)
            w_idf = sum(idf(self.n, df) for w in dict.fromkeys(words)
                        if (df := self.p.doc_frequency(f, w, self.r))) or idf(self.n, len(ids))
            score[ids] += self.p.saturated(f, self.r, ids, t, w_idf)
        return score

    def _text_bonus(self, held: np.ndarray, score: np.ndarray) -> None:
        """Give documents that hold a text only as characters (no indexed word scored it) half
        the text's IDF, so that they rank among the others."""
        k = int(np.count_nonzero(held))
        if not k:
            return
        bonus = np.float32(self.params.text_idf_share * idf(self.n, k))
        if self.cand is not None:  # only the strict matches are scored: only they get it
            at = self.cand[held[self.cand] & (score[self.cand] <= 0)]
            score[at] += bonus
        else:  # three passes over the archive, no index arrays
            np.add(score, bonus, out=score, where=held & (score <= 0))

    def _strict(self, words: list[str], fields: tuple[str, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Documents holding every one of ``words`` as text, and each word's holders (rarest
        first; stops once no document is left)."""
        def df(w: str) -> int:
            return sum(self.p.doc_frequency(f, w, self.r) for f in fields)

        mask = np.ones(self.n, dtype=bool)
        held: dict[str, np.ndarray] = {}
        for w in sorted(set(words), key=df):
            held[w] = self.present(w, fields)
            mask &= held[w]
            if not mask.any():
                break
        return mask, held

    def text_part(self, part: Part) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """Return (match mask, relaxed match mask, scores) of a text part."""
        # Words past the cap are dropped (a pasted paragraph is answered from its start).
        words = query_words(part.text)[: MAX_WORDS - self.words_used]
        if not words:
            return None, None, None
        self.words_used += len(words)
        fields = ("title",) if part.field == "title" else ("title", "body")
        # Single characters are expanded to the words holding them only when typed alone
        # (珙 → 珙县); inside a longer part they would drown it in unrelated words.
        # A word no article holds as a word is looked for across word boundaries in a short
        # part (研究生 in 研究|生命); in a long one (a summary) its absence is expected.
        mask, held = self.strict_mask(part, words)
        if part.phrase:
            if part.negate:  # only excludes: nothing to score
                return mask, mask, None
            self.highlight.append(re.sub(r"\s+", "", fold_text(part.text)))  # one run, not its words
            return mask, mask, self.phrase_score(part.text, words, fields)
        cand = self.cand  # set when only strict matches are shown: score those only
        scored = [self.word(w, fields, expand=len(w) > 1 or len(words) == 1, cand=cand) for w in words]
        # Function words and lone characters are not required when the part has other
        # words (they still score). Strict: every content word, as a word or as characters
        # (what the totals count).
        content = self._content(words)
        needed = [words[i] for i in content]
        for i in content:
            if words[i] in held:
                self._text_bonus(held[words[i]], scored[i][1])
        score = scored[0][1].copy()  # each word's scores (a fresh array per word) summed
        for _, sc in scored[1:]:
            score += sc
        if not part.negate:
            self.highlight.extend(dict.fromkeys(needed))
        # Relaxed (shown after every strict match, when those are fewer than a page): most of
        # the words, as indexed words or their readings.
        long_part = self.params.long_part
        loose = [m for i in content if (m := scored[i][0]) is not None]
        if cand is not None:  # a page of strict matches or more: no looser match is shown
            relaxed = mask
        elif len(content) >= long_part:
            counts = np.sum(loose, axis=0, dtype=np.int16)
            relaxed = self._information_share(counts, needed, loose, fields)
        else:
            counts = np.sum(loose, axis=0, dtype=np.int16)
            relaxed = counts >= required_count(len(content), relaxed=True, floor=self.params.min_should_floor)
        relaxed = relaxed | mask
        if not part.negate:
            if part.field is None and len(content) >= long_part:
                self.ql_text += "\n" + part.text
                for w in words:
                    for x in (w,) + sub_words(w):  # as the index holds a word and its sub-words
                        self.ql_words[x] = self.ql_words.get(x, 0) + 1
            keep = needed if len(words) >= long_part else words
            self.pairs.extend((a, b, fields) for a, b in zip(keep, keep[1:]))
        return mask, relaxed, score

    def _information_share(self, counts: np.ndarray, words: list[str], masks: list[np.ndarray],
                           fields: tuple[str, ...]) -> np.ndarray:
        """Documents holding at least ``min_should_match`` of the words' summed IDF (and one word).

        A word no article holds has no IDF here: the share is of what can be found.
        """
        idfs = [max(self.p.idf(f, w, self.r) for f in fields) for w in words]
        total = sum(idfs)
        if total <= 0:
            return counts >= 1
        mass = np.zeros(self.n, dtype=np.float32)
        for m, x in zip(masks, idfs):
            if x:
                mass[m] += x
        return (counts >= 1) & (mass >= self.params.min_should_match * total * (1 - 1e-6))

    # -- prefixes
    def source_part(self, part: Part) -> np.ndarray:
        # Source labels are few: match the query's words inside each folded label
        # (source:中新网 finds 中新網四川) instead of indexing every label's words.
        words = query_words(part.text)
        mask = self.term_mask("source", part.text)
        for label, folded in self.lex.sources():
            if words and all(w in folded for w in words):
                mask |= self.term_mask("source", label)
        return mask

    def region_part(self, part: Part) -> np.ndarray:
        from .region import labels_for  # full, short and former names → the tag labels

        name = fold_text(part.text)
        variants = {name, re.sub(r"(省|市|自治区|特别行政区|地区|自治州|盟)$", "", name)} | labels_for(name)
        return np.logical_or.reduce([self.term_mask("region", v) for v in variants if v])

    def site_part(self, part: Part) -> np.ndarray:
        host = part.text.lower().strip("/")
        host = re.sub(r"^[a-z]+://", "", host).split("/", 1)[0]
        host = host[4:] if host.startswith("www.") else host
        mask = np.zeros(self.n, dtype=bool)
        for h in self.lex.sites():
            if h == host or h.endswith("." + host):
                mask |= self.term_mask("site", h)
        return mask

    def part(self, part: Part) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """Return (match mask, relaxed match mask, scores) of one part."""
        if part.field in ("source", "region", "site"):
            m = {"source": self.source_part, "region": self.region_part, "site": self.site_part}[part.field](part)
            return m, m, None
        return self.text_part(part)


def compile_query(parsed: ParsedQuery, searcher: Any, lexicon: Any, postings: Postings | None = None,
                  chars: CharIndex | None = None, params: RankParams = DEFAULT_PARAMS,
                  within: np.ndarray | None = None, min_strict: int = 0) -> Plan:
    """Turn a parsed query into a match mask and BM25F scores over one searcher's snapshot.

    ``within`` (the documents the caller keeps: live, its filters) and ``min_strict`` (its
    page end) let a query of ANDed text parts score only its strict matches inside ``within``
    when there are at least ``min_strict`` of them: the caller then shows no looser match,
    and the scores of the documents it ranks are the same as without. Elsewhere the scores
    are not computed (0) and ``relaxed`` is None."""
    if postings is None:
        postings = Postings(searcher.reader(), params=params)
    if chars is None:
        chars = CharIndex.of_reader(searcher.reader())
    c = _Compiler(searcher, lexicon, postings, chars, params)
    if (within is not None and not parsed.excluded
            and all(len(g) == 1 and g[0].field in (None, "title") and not g[0].negate for g in parsed.groups)):
        # Text parts ANDed: the strict matches are known before any scoring. With a page of
        # them no looser match is shown, so only they are scored (each looked up in the
        # postings of the query's words instead of scoring every holder of a common word).
        strict, used = within.copy(), 0
        for (p,) in parsed.groups:
            words = query_words(p.text)[: MAX_WORDS - used]
            if words:  # as text_part counts them
                used += len(words)
                strict &= c.strict_mask(p, words)[0]
                if not strict.any():
                    break
        if int(np.count_nonzero(strict)) >= max(1, min_strict):
            c.cand = np.flatnonzero(strict)
    mask: np.ndarray | None = None
    relaxed: np.ndarray | None = None
    score: np.ndarray | None = None
    for group in parsed.groups:
        gmask: np.ndarray | None = None
        grelaxed: np.ndarray | None = None
        for p in group:
            m, rm, sc = c.part(p)
            if m is None:  # over the word cap: ignored
                continue
            gmask = m if gmask is None else gmask | m
            grelaxed = rm if grelaxed is None else grelaxed | rm
            if sc is not None:
                score = sc if score is None else score + sc
        if gmask is not None:
            mask = gmask if mask is None else mask & gmask
            relaxed = grelaxed if relaxed is None else relaxed & grelaxed
    for p in parsed.excluded:
        m, _, _ = c.part(p)
        if m is None:
            continue
        mask = (~m) if mask is None else mask & ~m
        relaxed = (~m) if relaxed is None else relaxed & ~m
    if relaxed is not None and mask is not None and np.array_equal(relaxed, mask):
        relaxed = None
    return Plan(parsed, mask, score, c.pairs, c.highlight, c.ql_words, c.ql_text.strip(), relaxed)
