"""Ranking parameters and the constants shared across modules, each defined once.

Every tuning knob of query scoring and reranking is a field of :class:`RankParams`, passed to
``SearchEngine(index_dir, params=...)``; the defaults are the values measured in
docs/BENCHMARKS.md. ``bench/eval_retrieval.py --param name=value`` evaluates another value
without patching modules. Index-time constants that are part of what is written (the title
boost, the character-pair hash) are not here: changing them needs a rebuild.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["RankParams", "DEFAULT_PARAMS", "idf", "RESULT_WINDOW", "SHANGHAI"]

# The deepest result a search may reach (page × size): the engine refuses more, the page stops
# its pager there and an export past it pages through the engine in windows of this size.
RESULT_WINDOW = 1000
# Dates without a zone are Beijing time; months and day filters are Beijing days.
SHANGHAI = ZoneInfo("Asia/Shanghai")


def idf(n: int, df: int) -> float:
    """Return the probabilistic (Robertson–Spärck Jones) IDF of a term held by ``df`` of ``n``."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


@dataclass(frozen=True)
class RankParams:
    """Every tuning constant of query scoring and reranking (defaults: the measured values)."""

    # BM25F (search.ranking.Postings.bm25)
    k1: float = 1.2
    b: float = 0.75
    # A query word also scores through longer indexed words holding it (at this boost, at most
    # ``expansions`` of them) and through its jieba sub-words: a text holding all sub-words gets
    # ``split_share`` of their summed score as a reading, plus ``subword_sum`` of it on top.
    expansions: int = 40
    longer_boost: float = 0.5
    split_share: float = 0.4
    subword_sum: float = 0.5
    # A document holding a text only as characters (no indexed word scored it) gets this share
    # of the text's IDF.
    text_idf_share: float = 0.5
    # A part of at least ``long_part`` content words is a description: it matches a document
    # holding ``min_should_match`` of its summed IDF; a relaxed short part needs
    # ``min_should_floor`` of its words.
    long_part: int = 4
    min_should_match: float = 0.1
    min_should_floor: int = 1
    # Proximity bonus over the best ``rerank`` candidates: word pairs in order, the second
    # starting within ``pair_gap`` characters after the first ends (in the folded stored text),
    # ``pair_boost`` × their mean IDF (× ``title_pair_weight`` in titles).
    rerank: int = 100
    pair_gap: int = 4
    pair_boost: float = 0.5
    title_pair_weight: float = 0.4
    # Long parts: query likelihood (Dirichlet prior ``ql_mu`` words) fused at ``ql_weight`` of the
    # best score, then the character-pair likelihood (prior ``bigram_mu``) at ``bigram_weight``
    # over the first ``pair_text_chars`` characters of each of the best ``rerank`` candidates.
    ql_mu: float = 100.0
    ql_weight: float = 1.0
    bigram_mu: float = 100.0
    bigram_weight: float = 1.0
    pair_text_chars: int = 20_000
    # ``recency``: a dated article's score × (1 + recency_boost / (1 + age / recency_days)).
    recency_boost: float = 0.5
    recency_days: float = 90.0

    def replace_from(self, assignments: list[str]) -> RankParams:
        """Return a copy with ``name=value`` assignments applied (values parsed as the field's type)."""
        types = {f.name: type(getattr(self, f.name)) for f in fields(self)}
        changes: dict[str, Any] = {}
        for item in assignments:
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep or name not in types:
                raise ValueError(f"unknown parameter {item!r}: one of {', '.join(types)}")
            changes[name] = types[name](value.strip()) if types[name] is float else int(value.strip())
        return replace(self, **changes)


DEFAULT_PARAMS = RankParams()
