"""RankParams: the one set of ranking knobs, and the shared idf()."""

from __future__ import annotations

import math

import pytest

from search.params import DEFAULT_PARAMS, RankParams, idf


def test_assignments_are_parsed_as_each_fields_type() -> None:
    p = DEFAULT_PARAMS.replace_from(["ql_weight=0", "rerank=50", " min_should_match = 0.25 "])
    assert p.ql_weight == 0.0 and isinstance(p.ql_weight, float)
    assert p.rerank == 50 and isinstance(p.rerank, int)
    assert p.min_should_match == 0.25
    assert p.k1 == DEFAULT_PARAMS.k1 and DEFAULT_PARAMS.rerank == RankParams().rerank  # the default is untouched


@pytest.mark.parametrize("bad", ["nope=1", "ql_weight", "rerank=0.5"])
def test_bad_assignments_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        DEFAULT_PARAMS.replace_from([bad])


def test_idf_is_the_probabilistic_one() -> None:
    assert idf(100, 1) == pytest.approx(math.log(1 + 99.5 / 1.5))
    assert idf(100, 100) == pytest.approx(math.log(1 + 0.5 / 100.5))  # common words count for almost nothing
    assert idf(100, 1) > idf(100, 10) > idf(100, 100) > 0
