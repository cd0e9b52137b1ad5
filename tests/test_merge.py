"""The merge policy of incremental runs (store.merge.merge_plan / tiered_merge) on real indexes."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pytest
from whoosh.reading import SegmentReader

from conftest import corpus, write_jsonl
from search import SearchEngine, SearchRequest
from search.indexer import reindex
from search.store import merge
from search.store.generations import open_current
from search.store.merge import MergeReader, merge_plan


@pytest.fixture(scope="module")
def records() -> list[dict]:
    with gzip.open(corpus("news_articles_sample2k.jsonl.gz"), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in itertools.islice(f, 160)]


def test_plan_merges_a_full_tier_and_leaves_big_segments(monkeypatch) -> None:
    monkeypatch.setattr(merge, "MERGE_FACTOR", 4)
    monkeypatch.setattr(merge, "MERGE_FLOOR", 100)
    monkeypatch.setattr(merge, "MERGE_BUDGET", 1000)
    big = [(50_000, 0), (48_000, 0)]
    assert merge_plan(big + [(120, 0)] * 3) == []  # a tier of 3 < factor 4
    assert merge_plan(big + [(120, 0)] * 4) == [2, 3, 4, 5]
    # Mixed tiers: only the full one; the big ones never (over the budget).
    assert merge_plan(big + [(120, 0)] * 4 + [(500, 0)] * 2) == [2, 3, 4, 5]
    # The budget caps one run's rewrite: the smallest members of the tier first.
    plan = merge_plan(big + [(450, 0), (420, 0), (410, 0), (400, 0)])
    assert plan == [4, 5] and sum((450, 420, 410, 400)[i - 2] for i in plan) <= 1000
    # A segment mostly replaced by later runs is rewritten to drop the dead documents.
    assert merge_plan(big + [(300, 200)]) == [2]
    assert merge_plan(big + [(300, 10)]) == []


@pytest.mark.slow
def test_merge_reader_yields_what_whoosh_yields(tmp_path: Path, records: list[dict]) -> None:
    src = tmp_path / "a.jsonl"
    write_jsonl(src, records[:60])
    ix_dir = tmp_path / "ix"
    reindex([src], ix_dir, rebuild=True, procs=1)
    write_jsonl(src, [{**r, "body": r["body"] + "（更新）"} for r in records[:7]])
    reindex([src], ix_dir)  # replaces 7: the first segment now has deletions
    ix, _ = open_current(ix_dir)
    seg = next(s for s in ix._segments() if s.has_deletions())
    r = SegmentReader(ix.storage, ix.schema, seg)
    try:
        want = list(r.iter_postings())
        assert want and list(MergeReader(r).iter_postings()) == want
    finally:
        r.close()


@pytest.mark.slow
def test_many_small_runs_keep_segments_few_and_answers_right(tmp_path: Path, records: list[dict],
                                                             monkeypatch) -> None:
    monkeypatch.setattr(merge, "MERGE_FACTOR", 3)
    monkeypatch.setattr(merge, "MERGE_FLOOR", 4)
    monkeypatch.setattr(merge, "MERGE_BUDGET", 60)
    ix_dir = tmp_path / "ix"
    base, rest = records[:40], records[40:]
    src = tmp_path / "base.jsonl"
    write_jsonl(src, base)
    reindex([src], ix_dir, rebuild=True, procs=1)
    original = next(r for r in base if len(r["body"]) > 400)
    counts = []
    for i in range(12):
        batch = rest[i * 5:(i + 1) * 5]
        if i == 5:  # a re-sent copy of an indexed story, and a corrected article
            batch = batch + [{**original, "id": "resent-copy", "body": original["body"] + "\n（完）"},
                             {**base[1], "title": base[1]["title"] + "（更正）"}]
        p = tmp_path / f"run{i}.jsonl"
        write_jsonl(p, batch)
        s = reindex([p], ix_dir)
        assert s.indexed == len(batch)
        ix, _ = open_current(ix_dir)
        counts.append(len(ix._segments()))
    # Without merging there would be 1 + 12 segments; tiers of 3 keep a handful.
    assert max(counts) <= 7 and counts[-1] < 13, counts
    ix, _ = open_current(ix_dir)
    with ix.searcher() as s:
        assert s.doc_count() == 40 + 60 + 1
        docnum = s.document_number(id="resent-copy")
        assert s.stored_fields(docnum)["cluster"] == original["id"]
        assert s.stored_fields(s.document_number(id=base[1]["id"]))["title"].endswith("（更正）")
    eng = SearchEngine(ix_dir)
    for r in (rest[0], rest[33], base[1]):
        page = eng.search(SearchRequest(q=r["title"][:10], collapse=False, size=50))
        assert r["id"] in [h.id for h in page.hits], r["title"]
