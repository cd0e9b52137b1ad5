"""Tests for search.ranking's proximity rerank (on the stored text) and for serving a version-4 index."""

from __future__ import annotations

import json
import random
from pathlib import Path

from whoosh import index as windex
from whoosh.formats import Positions

from search import Article, SearchEngine, SearchRequest
from search.indexer import index_articles
from search.params import RankParams
from search.ranking import near
from search.schema import make_schema
from search.store.generations import META, current_generation, new_generation


def _near_by_definition(text: str, a: str, b: str, gap: int) -> bool:
    for i in range(len(text) - len(a) + 1):
        if text.startswith(a, i):
            e = i + len(a)
            if any(text.startswith(b, j) for j in range(e, e + gap + 1)):
                return True
    return False


def test_near_agrees_with_its_definition_on_random_texts() -> None:
    rng = random.Random(12)
    alphabet = "甲乙丙丁戊"
    checked = positive = 0
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
        gap = rng.randint(0, 5)
        if text.count(a) > 60:  # near() tries the first 64 occurrences only
            continue
        want = _near_by_definition(text, a, b, gap)
        assert near(text, a, b, gap) == want, (text, a, b, gap)
        checked += 1
        positive += want
    assert checked > 2500 and 0.05 < positive / checked < 0.95  # both answers were exercised


def _arts() -> list[Article]:
    filler = "本报讯，今年以来全市各部门认真落实各项工作部署，取得了积极成效。" * 3
    return [
        # the query's words far apart
        Article(id="apart", title="年度工作情况通报", source="测试",
                body=filler + "湿地保护工作取得进展。" + filler + "公园建设稳步推进。"),
        # the same words one character apart, in traditional script (folded before matching)
        Article(id="close", title="年度工作情况通報", source="测试",
                body=filler + "濕地與公園建設取得進展。" + filler + "保护工作稳步推进。"),
    ]


def _scores(ix: Path, q: str, **params) -> dict[str, float]:
    eng = SearchEngine(ix, params=RankParams(**params)) if params else SearchEngine(ix)
    return {h.id: h.score for h in eng.search(SearchRequest(q=q, collapse=False)).hits}


def test_words_close_together_rank_first_whatever_the_script(tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    index_articles(_arts(), ix, procs=1)
    page = SearchEngine(ix).search(SearchRequest(q="湿地公园", collapse=False))  # one part: 湿地|公园
    assert [h.id for h in page.hits] == ["close", "apart"]
    with_bonus = _scores(ix, "湿地公园")
    without = _scores(ix, "湿地公园", pair_boost=0.0)
    assert with_bonus["apart"] == without["apart"]  # far apart: no bonus
    assert with_bonus["close"] > without["close"]
    # a gap wider than the text's one character: no bonus either
    assert _scores(ix, "湿地公园", pair_gap=0)["close"] == without["close"]
    # in the other order the words are not a pair in order
    assert _scores(ix, "公园湿地") == _scores(ix, "公园湿地", pair_boost=0.0)


def test_an_index_written_by_version_4_is_served_and_updated(tmp_path: Path) -> None:
    # Version 4 indexed word positions: such an index (its schema pickled with the Positions
    # format) is read and updated as it is, the positions written and never read.
    root = tmp_path / "ix"
    root.mkdir()
    gen = new_generation(root)
    schema = make_schema()
    for name in ("title", "body"):
        schema[name].format = Positions(field_boost=schema[name].format.field_boost)
    windex.create_in(str(gen), schema)
    (gen / META).write_text(json.dumps({"schema_version": 4}), "utf-8")
    (root / "CURRENT").write_text(gen.name, "utf-8")
    index_articles(_arts(), root, procs=1)
    assert current_generation(root) == gen  # updated in place, not rebuilt
    ix = windex.open_dir(str(gen))
    with ix.searcher() as s:
        assert s.schema["body"].format.supports("positions")
        m = s.postings("body", "湿地")
        assert m.value_as("positions")  # what version 4 wrote
    eng = SearchEngine(root)
    page = eng.search(SearchRequest(q="湿地公园", collapse=False))
    assert [h.id for h in page.hits] == ["close", "apart"]
    assert eng.stats()["schema_version"] == 4


def test_best_rounded_is_the_plain_rounded_partition_on_random_scores() -> None:
    # rank()'s pre-selection by block maxima must give exactly flatnonzero(round(sc) >= kth):
    # ties at 6 places, values straddling a rounding step, blocks of equal scores, a tail block.
    import numpy as np

    from search.ranking import best_rounded

    rng = np.random.default_rng(11)
    for trial in range(60):
        n = int(rng.choice([10, 1_000, 70_000, 200_003, 300_000]))
        kind = trial % 5
        limit = min(int(rng.choice([1, 20, 100, 420])), n)
        if kind == 0:
            sc = rng.random(n).astype(np.float32) * 20
        elif kind == 1:  # few distinct values: heavy ties
            sc = rng.integers(0, 50, n).astype(np.float32) / 7
        elif kind == 2:  # values within the rounding margin of each other
            sc = (5.0 + rng.integers(0, 8, n) * 4e-7).astype(np.float64)
        elif kind == 3:  # sorted ascending: the best all in the last blocks
            sc = np.sort(rng.random(n) * 3).astype(np.float64)
        else:  # the limit best a hair above the rest, which all round to the same value
            sc = np.full(n, 1.0 - 4e-7)
            sc[rng.choice(n, limit, replace=False)] = 1.0 + 4e-7
        r = np.round(sc.astype(np.float64), 6)
        kth = r[np.argpartition(-r, limit - 1)[limit - 1]]
        want = np.flatnonzero(r >= kth)
        got = best_rounded(sc, limit)
        assert np.array_equal(got, want), (trial, n, limit)


def test_an_article_holding_a_word_only_across_word_boundaries_scores_its_text_share(tmp_path: Path) -> None:
    # 研究生 in 他研究生命科学 (segmented 研究|生命科学) is a strict match by its characters but
    # no indexed word scores it: it gets text_idf_share of the text's IDF, not 0.
    filler = "本报讯，今年以来全市各部门认真落实各项工作部署，取得了积极成效。" * 2
    arts = [Article(id="word", title="研究生招生考试安排公布", source="测试", body=filler + "研究生招生考试将于年底举行。"),
            Article(id="chars", title="年度人物", source="测试", body=filler + "他研究生命科学多年，成果丰硕。")]
    arts += [Article(id=f"other{i}", title=f"其他新闻{i}", source="测试", body=filler + "城市建设稳步推进。")
             for i in range(6)]
    ix = tmp_path / "ix"
    index_articles(arts, ix, procs=1)
    got = _scores(ix, "研究生")
    assert set(got) == {"word", "chars"}
    assert got["word"] > got["chars"] > 0
    assert _scores(ix, "研究生", text_idf_share=0.0)["chars"] == 0
