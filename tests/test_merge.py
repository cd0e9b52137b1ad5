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
def test_a_merge_writes_the_files_whoosh_s_own_merge_path_writes(tmp_path: Path, records: list[dict],
                                                                  monkeypatch) -> None:
    """The merge copies per-document data with column readers looked up once and adds each
    term's postings as a list; Whoosh's ``write_per_doc`` and per-posting path must write the
    same bytes, deletions included."""
    import hashlib
    import shutil

    from whoosh.writing import SegmentWriter

    from search.store import segwriter
    from search.store.writer import open_writer

    src = tmp_path / "a.jsonl"
    write_jsonl(src, records[:50])
    built = tmp_path / "built"
    reindex([src], built, rebuild=True, procs=1)
    write_jsonl(src, records[50:80] + [{**r, "body": r["body"] + "（更新）"} for r in records[:9]])
    reindex([src], built)  # the first segment now has 9 deleted documents

    def everything(writer, segments):
        sizes = [(s.doc_count_all(), s.deleted_count()) for s in segments]
        return merge._merge_chosen(writer, segments, sizes, list(range(len(segments))))

    def merged_files(name: str) -> dict[str, str]:
        root = tmp_path / name
        shutil.copytree(built, root)
        ix, gen = open_current(root)
        assert any(s.has_deletions() for s in ix._segments())
        open_writer(ix).commit(mergetype=everything)
        (seg,) = ix.refresh()._segments()
        assert seg.doc_count_all() == 80 and not seg.has_deletions()
        sid = seg.segment_id()
        return {p.name.replace(sid, ""): hashlib.md5(p.read_bytes()).hexdigest()
                for p in Path(gen).iterdir() if sid in p.name}

    ours = merged_files("ours")
    monkeypatch.setattr(segwriter.FastSegmentWriter, "write_per_doc", SegmentWriter.write_per_doc)
    monkeypatch.setattr(merge, "MergeReader", lambda reader: reader)  # Whoosh's own iter_postings
    whoosh = merged_files("whoosh")
    assert {".pst", ".trm", "._stored.col", "._body_len.col", ".xck"} <= set(ours)
    assert ours == whoosh


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


def test_nightly_plan_merges_every_small_segment_and_leaves_the_big_ones() -> None:
    big = [(180_000, 0), (181_000, 0)]
    smalls = [(7_035, 0)] * 14 + [(1_005, 0)] * 2
    plan = merge.full_merge_plan(big + smalls)
    assert plan == list(range(2, 18))  # every small one, no budget
    # A cap: the smallest first, no more documents than allowed.
    capped = merge.full_merge_plan(big + smalls, max_docs=20_000)
    assert capped == [2, 3, 16, 17]  # 2 × 1,005 + 2 × 7,035 = 16,080; a third 7,035 would pass 20,000
    # Nothing to do: the big ones alone, or one small segment without deletions.
    assert merge.full_merge_plan(big) == []
    assert merge.full_merge_plan(big + [(7_000, 0)]) == []
    # One segment with many deletions is rewritten (to drop them), even a big one.
    assert merge.full_merge_plan(big + [(100_000, 40_000)]) == [2]
    assert merge.full_merge_plan([]) == []


@pytest.mark.slow
def test_nightly_merge_from_the_cli_keeps_every_answer(tmp_path: Path, records: list[dict],
                                                        monkeypatch) -> None:
    from click.testing import CliRunner

    from search.cli import main

    monkeypatch.setattr(merge, "MERGE_FACTOR", 6)  # five small runs that the runs leave alone

    ix_dir = tmp_path / "ix"
    src = tmp_path / "base.jsonl"
    write_jsonl(src, records[:100])
    reindex([src], ix_dir, rebuild=True, procs=1)
    for i in range(4):  # four small runs (each below the per-run merge tiers)
        p = tmp_path / f"run{i}.jsonl"
        write_jsonl(p, records[100 + i * 10:110 + i * 10])
        reindex([p], ix_dir)
    p = tmp_path / "fix.jsonl"  # and a correction: a deletion in the first segment
    write_jsonl(p, [{**records[3], "title": records[3]["title"] + "（更正）"}])
    reindex([p], ix_dir)
    ix, _ = open_current(ix_dir)
    before = sorted((s.doc_count() for s in ix._segments()), reverse=True)
    assert len(before) == 6, before
    eng = SearchEngine(ix_dir)
    queries = [r["title"][:8] for r in records[95:140:5]]
    want = {q: [h.id for h in eng.search(SearchRequest(q=q, collapse=False, size=20)).hits] for q in queries}

    res = CliRunner().invoke(main, ["merge", "--index", str(ix_dir), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["merged"] and out["segments_before"] == before
    assert out["segments_after"] == [99, 41], out  # the rebuild's segment (one replaced) and the rest in one
    ix, _ = open_current(ix_dir)
    with ix.searcher() as s:
        assert s.doc_count() == 140
        assert s.stored_fields(s.document_number(id=records[3]["id"]))["title"].endswith("（更正）")
    eng = SearchEngine(ix_dir)
    for q, ids in want.items():
        assert [h.id for h in eng.search(SearchRequest(q=q, collapse=False, size=20)).hits] == ids, q
    # A second merge has nothing left to do.
    res = CliRunner().invoke(main, ["merge", "--index", str(ix_dir)])
    assert res.exit_code == 0 and "nothing to merge (2 segments)" in res.output, res.output
