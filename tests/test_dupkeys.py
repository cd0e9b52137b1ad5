"""search.store.dupkeys: near-duplicate band keys beside each segment, on real indexes."""

from __future__ import annotations

import gzip
import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest

from conftest import corpus, write_jsonl
from search import hits
from search import indexer as indexer_module
from search.indexer import merge_index, reindex
from search.store import dupkeys
from search.store import writer as writer_module
from search.store.generations import current_generation, open_current


@pytest.fixture(scope="module")
def records() -> list[dict]:
    with gzip.open(corpus("news_articles_sample2k.jsonl.gz"), "rt", encoding="utf-8") as f:
        return [r for r in map(json.loads, itertools.islice(f, 400)) if len(r.get("body") or "") > 300][:120]


def test_pool_writes_keys_sorted_through_its_temp_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(dupkeys, "_HOLD", 7)  # a temp file per band after 7 keys
    rng = random.Random(5)
    pool = dupkeys.BandKeyPool(tmp_path)
    want = []
    for doc in range(300):
        keys = [(b << 32) | rng.randrange(50) for b in range(16) if rng.random() < 0.8]
        pool.add(doc, keys)
        want += [(k, doc) for k in keys]
    # A merged segment's keys, already renumbered, arrive as arrays after the added documents.
    mk = np.array([(3 << 32) | 7, (15 << 32) | 1, (3 << 32) | 7], dtype=np.uint64)
    md = np.array([300, 301, 302], dtype=np.uint32)
    pool.add_arrays(mk, md)
    want += list(zip(mk.tolist(), md.tolist()))
    assert list(tmp_path.iterdir())  # spilled
    files = {}
    pool.write(lambda ext: files.setdefault(ext, open(tmp_path / f"seg{ext}", "wb")))
    keys = np.fromfile(tmp_path / "seg.xdk", dtype=np.uint64)
    docs = np.fromfile(tmp_path / "seg.xdd", dtype=np.uint32)
    assert list(zip(keys.tolist(), docs.tolist())) == sorted(want)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.xdd", "seg.xdk"]  # temp files gone
    with pytest.raises(ValueError, match="out of range"):
        pool.add(0, [16 << 32])


def _resent(rec: dict, tag: str) -> dict:
    return {**rec, "id": f"{rec['id']}-{tag}", "body": rec["body"] + "\n（完）"}


def _cluster(ix_dir: Path, article_id: str) -> str | None:
    ix, _ = open_current(ix_dir)
    with ix.searcher() as s:
        d = s.document_number(id=article_id)
        return None if d is None else s.stored_fields(d).get("cluster")


@pytest.mark.slow
def test_keys_live_beside_segments_and_find_copies(tmp_path: Path, records: list[dict]) -> None:
    ix_dir = tmp_path / "ix"
    reindex([write_jsonl(tmp_path / "a.jsonl", records[:80])], ix_dir, rebuild=True, procs=2)
    gen = current_generation(ix_dir)
    ix, _ = open_current(ix_dir)
    n = len(ix._segments())
    assert len(list(gen.glob("MAIN_*.xdk"))) == n and len(list(gen.glob("MAIN_*.xdd"))) == n
    with ix.searcher() as s:
        assert not list(s.lexicon("dupkeys"))  # no longer Whoosh terms
    # A re-sent copy of an article of either worker's segment joins its story.
    batch = [_resent(records[3], "a"), _resent(records[70], "a")]
    reindex([write_jsonl(tmp_path / "b.jsonl", batch)], ix_dir)
    assert _cluster(ix_dir, batch[0]["id"]) == records[3]["id"]
    assert _cluster(ix_dir, batch[1]["id"]) == records[70]["id"]
    # A deleted original is no candidate any more (the copy starts its own story).
    from search.indexer import delete_articles

    delete_articles([records[5]["id"]], ix_dir)
    copy = _resent(records[5], "b")
    reindex([write_jsonl(tmp_path / "c.jsonl", [copy])], ix_dir)
    assert _cluster(ix_dir, copy["id"]) == copy["id"]


@pytest.mark.slow
def test_an_index_from_before_keeps_grouping_copies(tmp_path: Path, records: list[dict], monkeypatch) -> None:
    # The previous format: band keys as a Whoosh field, written by Whoosh's own writer (no files beside).
    real = hits.article_doc

    def old_doc(a, sig, keys):
        doc = real(a, sig, keys)
        doc["dupkeys"] = ",".join(map(dupkeys.key_text, doc.pop("_dupkeys")))
        return doc

    monkeypatch.setattr(indexer_module, "article_doc", old_doc)
    monkeypatch.setattr(writer_module, "_STOCK_WRITER", True)
    ix_dir = tmp_path / "ix"
    reindex([write_jsonl(tmp_path / "a.jsonl", records[:60])], ix_dir, rebuild=True, procs=1)
    for i in range(3):  # small segments of the old format too
        reindex([write_jsonl(tmp_path / f"o{i}.jsonl", records[60 + 10 * i:70 + 10 * i])], ix_dir)
    assert not list(current_generation(ix_dir).glob("MAIN_*.xdk"))
    monkeypatch.undo()
    from search.store import merge

    monkeypatch.setattr(merge, "MERGE_FACTOR", 6)  # the runs leave the old segments to the nightly merge

    # Today's code: copies of old articles are found through the old field ...
    batch = [_resent(records[2], "x"), _resent(records[65], "x")]
    reindex([write_jsonl(tmp_path / "b.jsonl", batch)], ix_dir)
    assert [_cluster(ix_dir, r["id"]) for r in batch] == [records[2]["id"], records[65]["id"]]
    # ... and after a merge has rewritten old segments, through the keys it rebuilt from the
    # stored signatures.
    res = merge_index(ix_dir)
    assert len(res["segments_after"]) < len(res["segments_before"])
    ix, _ = open_current(ix_dir)
    with ix.searcher() as s:
        merged = [r for r, _ in s.reader().leaf_readers() if dupkeys.segment_keys(r) is not None]
        assert merged and sum(r.doc_count() for r in merged) >= 30
    batch = [_resent(records[75], "y"), _resent(records[85], "y"), _resent(records[4], "y")]
    reindex([write_jsonl(tmp_path / "c.jsonl", batch)], ix_dir)
    assert [_cluster(ix_dir, r["id"]) for r in batch] == [records[75]["id"], records[85]["id"], records[4]["id"]]
