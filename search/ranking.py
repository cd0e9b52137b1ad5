"""Scoring: BM25F with a Robertson–Spärck Jones IDF, title weighted above body.

Whoosh's default IDF is ``log(N / (df + 1)) + 1``: the ``+ 1`` gives a word found in every
article the weight of a rare one's tail, so long articles full of common words (经济, 发展,
会) outrank the short article that holds the query's rare words. With the probabilistic IDF
``log(1 + (N - df + 0.5) / (df + 0.5))`` common words count for almost nothing. The title's
weight comes from its field boost at index time (schema.TITLE_BOOST).
"""

from __future__ import annotations

from math import log
from typing import Any

from whoosh.scoring import BM25F

__all__ = ["NewsBM25F", "weighting"]


class NewsBM25F(BM25F):
    """BM25F with the probabilistic (Lucene/Robertson) IDF."""

    def idf(self, searcher: Any, fieldname: str, text: Any) -> float:
        """Return log(1 + (N - df + 0.5) / (df + 0.5)) over the whole index."""
        parent = searcher.get_parent()
        df = parent.doc_frequency(fieldname, text)
        n = parent.doc_count_all()
        return log(1.0 + (n - df + 0.5) / (df + 0.5))


def weighting() -> NewsBM25F:
    """Return the weighting model every searcher uses."""
    return NewsBM25F(B=0.75, K1=1.2)
