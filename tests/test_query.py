"""Tests for search.query: the safe query language (parse) and its compilation on a real index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from search.engine import Lexicon
from search.errors import BadQuery
from search.query import MAX_QUERY_CHARS, MAX_WORDS, Part, compile_query, parse_query, required_count
from search.store.generations import open_current


def _groups(q: str) -> list[list[tuple[str, bool, str | None]]]:
    return [[(p.text, p.phrase, p.field) for p in g] for g in parse_query(q).groups]


def test_space_separated_parts_are_anded() -> None:
    assert _groups("监督 珙县") == [[("监督", False, None)], [("珙县", False, None)]]


def test_or_makes_alternatives_within_a_group() -> None:
    assert _groups("大熊猫 OR 茶叶 监督") == [[("大熊猫", False, None), ("茶叶", False, None)], [("监督", False, None)]]
    assert _groups("大熊猫 | 茶叶") == [[("大熊猫", False, None), ("茶叶", False, None)]]


@pytest.mark.parametrize("q", ['"巡审联动"', "“巡审联动”", "「巡审联动」", "『巡审联动』"])
def test_quotes_make_a_phrase(q: str) -> None:
    assert _groups(q) == [[("巡审联动", True, None)]]


def test_minus_excludes() -> None:
    p = parse_query('大熊猫 -雅安 -"国家公园"')
    assert _groups('大熊猫 -雅安') == [[("大熊猫", False, None)]]
    assert [(x.text, x.phrase, x.negate) for x in p.excluded] == [("雅安", False, True), ("国家公园", True, True)]


@pytest.mark.parametrize(
    ("q", "field", "text"),
    [
        ("title:茶叶", "title", "茶叶"),
        ("标题:茶叶", "title", "茶叶"),
        ("source:蜀都晚报", "source", "蜀都晚报"),
        ("来源:蜀都晚报", "source", "蜀都晚报"),
        ("region:泸州", "region", "泸州"),
        ("地区:泸州", "region", "泸州"),
        ("site:shudu.example.com", "site", "shudu.example.com"),
        ("站点:shudu.example.com", "site", "shudu.example.com"),
        ("Title:茶叶", "title", "茶叶"),
        ("ｔｉｔｌｅ：茶叶", "title", "茶叶"),  # full-width prefix and colon
    ],
)
def test_field_prefixes(q: str, field: str, text: str) -> None:
    assert _groups(q) == [[(text, False, field)]]


def test_title_prefix_with_a_phrase() -> None:
    assert _groups('title:"茶叶采摘"') == [[("茶叶采摘", True, "title")]]


@pytest.mark.parametrize(
    ("q", "groups"),
    [
        ("((((", []),
        ("*", []),
        ("?", []),
        ("~", []),
        ('""', []),
        ('"', []),
        ("(", []),
        (")", []),
        ("", []),
        ("   ", []),
        ("OR", []),
        ("a OR OR b", [[("a", False, None), ("b", False, None)]]),
        ('"监督', [[("监督", False, None)]]),  # a lone quote is dropped, its text stays
        ('监督"', [[("监督", False, None)]]),
        ('"监督" "珙县', [[("监督", True, None)], [("珙县", False, None)]]),
        ("foo:bar", [[("foo:bar", False, None)]]),  # unknown prefix: plain text
        ("title:", []),  # a prefix with nothing after it says nothing
        ("监督 OR", [[("监督", False, None)]]),
        ("OR 监督", [[("监督", False, None)]]),
        ("- 监督", [[("监督", False, None)]]),
        ("监督\x00珙县", [[("监督", False, None)], [("珙县", False, None)]]),
    ],
)
def test_malformed_input_is_read_as_text_never_an_error(q: str, groups: list) -> None:
    assert _groups(q) == groups


def test_empty_query_is_empty() -> None:
    assert parse_query("").empty and parse_query(None).empty and parse_query("(((( *").empty
    assert not parse_query("-监督").empty


def test_query_length_limit() -> None:
    ok = "监督" + "，" * (MAX_QUERY_CHARS - 2)  # exactly 1,000 characters
    assert MAX_QUERY_CHARS == 1000
    assert _groups(ok) == [[("监督" + "," * 998, False, None)]]  # NFKC: full-width commas
    with pytest.raises(BadQuery) as e:
        parse_query("监" * (MAX_QUERY_CHARS + 1))
    assert "1001" in str(e.value) and "1000" in str(e.value)


def test_required_count_short_parts_need_every_word_unless_relaxed() -> None:
    assert [required_count(n) for n in (1, 2, 3)] == [1, 2, 3]
    assert [required_count(n, relaxed=True) for n in (1, 2, 3)] == [1, 1, 1]


def test_long_part_matches_by_information_share(tmp_path: Path) -> None:
    """A long part keeps an article holding one rare word of it, not one holding a common word."""
    from conftest import write_jsonl
    from search.indexer import reindex

    recs = [{"id": f"common-{i}", "title": f"第{i}期简报", "body": f"本地经济持续发展，第{i}期简报发布。"}
            for i in range(20)]
    recs.append({"id": "rare", "title": "煎饼店", "body": "黄太吉的煎饼店开张。"})
    reindex([write_jsonl(tmp_path / "c.jsonl", recs)], tmp_path / "ix", procs=1)
    ix, _gen = open_current(tmp_path / "ix")
    with ix.searcher() as s:
        plan = compile_query(parse_query("黄太吉发展成为快速增长公司"), s, Lexicon(s.reader()))
        strict = {s.stored_fields(d)["id"] for d in plan.docs}
        got = {s.stored_fields(int(d))["id"] for d in np.flatnonzero(plan.relaxed)}
    assert strict == set()  # no article holds every word: the share is the looser match
    assert got == {"rare"}


# ---------------------------------------------------------------- compilation on a real index


@pytest.fixture(scope="module")
def searcher(core_index: Path):
    ix, _gen = open_current(core_index)
    s = ix.searcher()
    yield s, Lexicon(s.reader())
    s.close()


def _ids(searcher, q: str) -> list[str]:
    s, lex = searcher
    plan = compile_query(parse_query(q), s, lex)
    assert plan.docs is not None
    return sorted(s.stored_fields(d)["id"] for d in plan.docs)


def test_compile_word_with_longer_words(searcher) -> None:
    s, lex = searcher
    assert "珙县" in lex.containing("珙")
    assert "河长制" in lex.containing("河长")
    assert _ids(searcher, "河长") == ["core-river-sub", "core-river-word"]


def test_compile_phrase_and_exclusion(searcher) -> None:
    assert _ids(searcher, "垃圾 分类") == ["core-phrase-apart", "core-phrase-together"]
    assert _ids(searcher, '"垃圾分类"') == ["core-phrase-together"]
    assert _ids(searcher, "大熊猫 -雅安") == ["core-panda-chengdu"]


def test_compile_plan_highlights_positive_words_only(searcher) -> None:
    s, lex = searcher
    plan = compile_query(parse_query("巡審聯動 -雅安"), s, lex)
    assert plan.highlight == ["巡审", "联动"]
    assert plan.score is not None and plan.mask is not None
    assert plan.pairs == [("巡审", "联动", ("title", "body"))]  # the proximity pair of the part


def test_compile_only_exclusions_starts_from_every_document(searcher) -> None:
    s, lex = searcher
    plan = compile_query(parse_query("-大熊猫"), s, lex)
    assert len(plan.docs) == s.doc_count() - 2


def test_part_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Part("x").text = "y"  # type: ignore[misc]


def test_word_cap_uses_the_first_words_of_a_pasted_paragraph(searcher) -> None:
    s, lex = searcher
    words = [f"w{i}" for i in range(MAX_WORDS + 10)]
    assert len(parse_query(" ".join(words)).groups) == MAX_WORDS + 10  # parsing keeps everything
    plan = compile_query(parse_query(" ".join(words)), s, lex)
    assert plan.highlight == words[:MAX_WORDS]  # matching uses the first MAX_WORDS words


def test_intersection_of_sorted_documents_by_search_and_by_slot_table() -> None:
    # intersect_sorted answers sparse pairs by binary search and dense ones (both a sizeable
    # share of their range) through a slot table: both give np.intersect1d's positions.
    from search.ranking import intersect_sorted

    rng = np.random.default_rng(11)
    for span, na, nb in [(10_000, 5, 9_000), (10_000, 3_000, 4_000), (10_000, 9_999, 10_000),
                         (1_000_000, 200, 300_000), (50_000, 2_000, 1), (100, 0, 50)]:
        a = np.sort(rng.choice(span, na, replace=False)).astype(np.int64)
        b = np.sort(rng.choice(span, nb, replace=False)).astype(np.uint32).astype(np.int64)
        for x, y in ((a, b), (b, a)):
            at, bt = intersect_sorted(x, y)
            _, want_x, want_y = np.intersect1d(x, y, assume_unique=True, return_indices=True)
            assert at.tolist() == want_x.tolist() and bt.tolist() == want_y.tolist()
