"""search.store.segwriter: the per-term postings writer against Whoosh's own writer, on real corpus text.

Every index here is real (temp dirs, the real indexer); the reference is the same indexer with
``search.store.writer._STOCK_WRITER`` set, i.e. Whoosh 2.7.4's SegmentWriter/MpWriter with its
PostingPool (what xunwen wrote before), run with the three write-path fixes of
``search.store.compat.install()``, which ``open_writer`` installs for it as for ours: stock
Whoosh 2.7.4 cannot write the inline-list codec without the first (it calls a misspelt method).
"""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from whoosh import index as windex

from conftest import corpus, write_jsonl
from search import SearchEngine, SearchRequest
from search import indexer as indexer_module
from search.chars import EXTENSIONS, SegmentChars
from search.indexer import delete_articles, reindex
from search.normalize import fold_text
from search.store import dupkeys, segwriter, termindex
from search.store import writer as writer_module
from search.store.dupkeys import EXTENSIONS as DUPKEY_EXTENSIONS
from search.store.dupkeys import segment_keys
from search.store.flatpostings import EXTENSIONS as FLAT_EXTENSIONS
from search.store.flatpostings import backfill, flat_postings
from search.store.generations import current_generation
from search.store.readers import block_arrays

QUERIES = ("经济 发展", "疫情 防控", '"新闻联播"', "北京 OR 上海", "会议 -合作", "习近平", "covid", "5.3")


def corpus_records(n: int, start: int = 0) -> list[dict]:
    with gzip.open(corpus("news_articles.jsonl.gz"), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in itertools.islice(f, start, start + n)]


@pytest.fixture(scope="module")
def slices(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("segwriter-slices")
    recs = corpus_records(360)
    changed = [dict(r, title=r["title"] + "（更新）", body=r["body"][: len(r["body"]) // 2]) for r in recs[:15]]
    return {
        "base": write_jsonl(d / "base.jsonl", recs[:300]),
        **{f"more{i}": write_jsonl(d / f"more{i}.jsonl", recs[300 + 10 * i: 310 + 10 * i]) for i in range(6)},
        "changed": write_jsonl(d / "changed.jsonl", changed),
    }


def _doc_with_dupkeys_field(a, sig, keys):
    """The document as xunwen wrote it for Whoosh's own writer: band keys as a KEYWORD field
    (Whoosh's writer knows nothing of the files beside a segment, search.store.dupkeys)."""
    doc = _ARTICLE_DOC(a, sig, keys)
    doc["dupkeys"] = ",".join(map(dupkeys.key_text, doc.pop("_dupkeys")))
    return doc


_ARTICLE_DOC = indexer_module.article_doc


def build(root: Path, sources: list[Path], *, stock: bool, procs: int = 1, rebuild: bool = True,
          monkeypatch: pytest.MonkeyPatch, dupkeys_field: bool = False) -> Path:
    """Index through the real indexer; ``dupkeys_field``: band keys as a Whoosh field (for the
    stock writer in incremental runs, which look them up)."""
    monkeypatch.setattr(writer_module, "_STOCK_WRITER", stock)
    monkeypatch.setattr(indexer_module, "article_doc", _doc_with_dupkeys_field if dupkeys_field else _ARTICLE_DOC)
    s = reindex(sources, root, rebuild=rebuild, procs=procs)
    assert s.indexed > 0
    return root


def segment_files(root: Path) -> dict[str, bytes]:
    """The one segment's Whoosh files by extension (segment names are random; the character
    index, which Whoosh's writer does not write, is checked by chars_are_the_stored_text)."""
    gen = current_generation(root)
    out = {}
    names = [p for p in gen.iterdir() if p.name.startswith("MAIN_") and "LOCK" not in p.name
             and not p.name.endswith(EXTENSIONS + FLAT_EXTENSIONS + DUPKEY_EXTENSIONS)]
    assert len({p.name.split(".", 1)[0] for p in names}) == 1, names
    for p in names:
        out[p.name.split(".", 1)[1]] = p.read_bytes()
    return out


def band_keys_are_the_signatures(root: Path) -> int:
    """Every segment's band key files hold exactly the keys of its live articles' stored
    signatures (dedup.band_key_ints); return the number of (key, article) pairs checked."""
    from search.dedup import band_key_ints

    ix = windex.open_dir(str(current_generation(root)))
    n = 0
    with ix.reader() as r:
        for leaf, _ in r.leaf_readers():
            arrays = segment_keys(leaf)
            assert arrays is not None
            got = sorted((k, d) for k, d in zip(arrays[0].tolist(), arrays[1].tolist()) if not leaf.is_deleted(d))
            want = sorted((k, d) for d in leaf.all_doc_ids()
                          for k in band_key_ints(leaf.stored_fields(d).get("dupsig") or ()))
            assert got == want
            n += len(want)
    return n


def contents(root: Path) -> dict:
    """Everything a reader sees, keyed by article id (independent of docnums and segments)."""
    ix = windex.open_dir(str(current_generation(root)))
    with ix.reader() as r:
        ids = {}
        stored = {}
        lengths = {}
        for docnum, fields in r.iter_docs():
            ids[docnum] = fields["id"]
            stored[fields["id"]] = fields
            lengths[fields["id"]] = (r.doc_field_length(docnum, "title"), r.doc_field_length(docnum, "body"))
        postings = {}
        for fieldname, tbytes in r.all_terms():
            if fieldname == "dupkeys":  # the stock writer's band keys (ours: band_keys_are_the_signatures)
                continue
            m = r.postings(fieldname, tbytes)
            items = []
            while m.is_active():
                items.append((ids[m.id()], m.weight(), m.value()))
                m.next()
            if items:
                postings[(fieldname, tbytes)] = sorted(items)
        columns = {}
        for name in ("published", "month", "source", "category", "regions", "cluster"):
            col = r.column_reader(name)
            columns[name] = {ids[d]: col[d] for d in ids if not r.is_deleted(d)}
        return {"count": r.doc_count(), "stored": {k: stored[k] for k in set(ids[d] for d in ids if not r.is_deleted(d))},
                "lengths": lengths, "postings": postings, "columns": columns}


def chars_are_the_stored_text(root: Path) -> int:
    """Check that every segment's character index file holds exactly what its stored text gives
    (through spills, merges and deletes); return the number of segments checked."""
    ix = windex.open_dir(str(current_generation(root)))
    n = 0
    with ix.reader() as r:
        for leaf, _offset in (r.leaf_readers() if hasattr(r, "leaf_readers") else [(r, 0)]):
            name = leaf.segment().make_filename("")
            on_disk = SegmentChars.open(Path(leaf.storage().folder), name)
            texts = [(fold_text(f.get("title") or ""), fold_text(f.get("body") or ""))
                     for f in (leaf.stored_fields(d) for d in range(leaf.doc_count_all()))]
            built = SegmentChars.build(texts, Path(leaf.storage().folder))
            for a in ("keys", "offs", "lo", "exc_idx", "exc_hi", "hi", "hoffs", "starts", "body_starts"):
                assert np.array_equal(getattr(on_disk, a), getattr(built, a)), (name, a)
            n += 1
    return n


def flat_is_whoosh(root: Path) -> int:
    """Check that every segment's flat postings hold exactly Whoosh's documents and weights
    for every term not inlined in the term table; return the number of such terms."""
    ix = windex.open_dir(str(current_generation(root)))
    n = 0
    with ix.reader() as r:
        for leaf, _offset in (r.leaf_readers() if hasattr(r, "leaf_readers") else [(r, 0)]):
            fp = flat_postings(leaf)
            assert fp is not None, leaf.segment()
            terms = leaf._terms
            long_terms = 0
            for fieldname, tbytes in terms.terms():
                ti = terms.term_info(fieldname, tbytes)
                got = fp.get(ti._offset) if ti._inlined is None else None
                if ti._inlined is not None:
                    continue
                ids, ws = block_arrays(terms.matcher(fieldname, tbytes, leaf.schema[fieldname].format))
                assert got is not None, (fieldname, tbytes)
                assert np.array_equal(got[0], ids) and np.array_equal(got[1], ws), (fieldname, tbytes)
                long_terms += 1
            assert long_terms == len(fp.keys)
            n += long_terms
    return n


def results(root: Path) -> dict:
    eng = SearchEngine(root)
    out = {q: [(h.id, round(h.score, 6)) for h in eng.search(SearchRequest(q=q, size=30, collapse=False)).hits]
           for q in QUERIES}
    eng.close()
    return out


@pytest.mark.slow
@pytest.mark.parametrize("flush", [None, 97], ids=["term-index-in-memory", "term-index-spilled"])
def test_same_segment_files_as_whoosh_writer(tmp_path, slices, monkeypatch, flush) -> None:
    stock = build(tmp_path / "stock", [slices["base"]], stock=True, monkeypatch=monkeypatch)
    if flush is not None:  # the term index's hashes and positions go through its files many times
        flushes = []
        real_flush = termindex.SpilledBuckets._flush

        def counting_flush(self):
            flushes.append(self._held)
            real_flush(self)

        monkeypatch.setattr(termindex, "_FLUSH", flush)
        monkeypatch.setattr(termindex.SpilledBuckets, "_flush", counting_flush)
    fast = build(tmp_path / "fast", [slices["base"]], stock=False, monkeypatch=monkeypatch)
    if flush is not None:
        assert len(flushes) >= 10
        assert not list(tmp_path.rglob("xterms-*")) and not list(tmp_path.rglob("xtindex-*"))
    a, b = segment_files(stock), segment_files(fast)
    assert sorted(a) == sorted(b)
    for ext in a:
        assert a[ext] == b[ext], ext  # byte for byte: postings, term table, stored fields, columns
    assert results(fast) == results(stock)  # the stock index's characters are built from its text
    assert chars_are_the_stored_text(fast) == 1
    assert band_keys_are_the_signatures(fast) > 16 * 200


@pytest.mark.slow
@pytest.mark.parametrize("record_postings", [None, 7], ids=["records-as-built", "records-of-7-postings"])
def test_spilled_runs_are_merged_into_the_same_postings(tmp_path, slices, monkeypatch, record_postings) -> None:
    spills = []
    real_spill = segwriter.TermPool.spill
    records = []
    real_dump = segwriter.marshal.dump

    def counting_spill(self):
        spills.append(len(self.fields))
        real_spill(self)

    def counting_dump(chunk, f):
        records.append(sum(len(lst) // 3 for _, _, lst in chunk))
        real_dump(chunk, f)

    stock = build(tmp_path / "stock", [slices["base"]], stock=True, monkeypatch=monkeypatch)
    monkeypatch.setattr(segwriter.TermPool, "spill", counting_spill)
    if record_postings:  # run records cut by postings: a common word's list is a record of its own
        monkeypatch.setattr(segwriter, "_RUN_CHUNK_POSTINGS", record_postings)
        monkeypatch.setattr(segwriter.marshal, "dump", counting_dump)
    monkeypatch.setattr(writer_module, "WRITER_LIMIT_MB", 0.5)
    fast = build(tmp_path / "fast", [slices["base"]], stock=False, monkeypatch=monkeypatch)
    assert len(spills) >= 3
    if record_postings:
        assert max(records) > record_postings  # one term's list longer than the cap, alone
        assert sum(1 for n in records if n <= record_postings) > len(records) // 2
    assert contents(fast) == contents(stock)
    assert results(fast) == results(stock)
    gen = current_generation(fast)
    assert not list(gen.rglob("*.xrun"))  # run files removed after the commit
    assert chars_are_the_stored_text(fast) == 1
    assert flat_is_whoosh(fast) > 100


@pytest.mark.slow
def test_two_workers_write_what_whoosh_workers_write(tmp_path, slices, monkeypatch) -> None:
    stock = build(tmp_path / "stock", [slices["base"]], stock=True, procs=2, monkeypatch=monkeypatch)
    fast = build(tmp_path / "fast", [slices["base"]], stock=False, procs=2, monkeypatch=monkeypatch)
    assert contents(fast) == contents(stock)
    assert results(fast) == results(stock)
    ix = windex.open_dir(str(current_generation(fast)))
    assert len(ix._segments()) == 2  # one segment per worker (two job files of 256), as before
    assert chars_are_the_stored_text(fast) == 2
    assert band_keys_are_the_signatures(fast) > 16 * 200
    assert flat_is_whoosh(fast) > 100


@pytest.mark.slow
def test_incremental_updates_merges_and_deletes_match_whoosh(tmp_path, slices, monkeypatch) -> None:
    merged = []
    real = segwriter.FastSegmentWriter.add_postings_to_pool

    def counting(self, reader, startdoc, docmap):
        merged.append(reader.doc_count_all())
        real(self, reader, startdoc, docmap)

    monkeypatch.setattr(segwriter.FastSegmentWriter, "add_postings_to_pool", counting)
    roots = {}
    for stock in (True, False):
        root = build(tmp_path / f"ix-{stock}", [slices["base"]], stock=stock, procs=2, monkeypatch=monkeypatch,
                     dupkeys_field=stock)
        for i in range(6):  # small segments: Whoosh's merge policy folds them together (add_reader)
            build(root, [slices[f"more{i}"]], stock=stock, rebuild=False, monkeypatch=monkeypatch,
                  dupkeys_field=stock)
        build(root, [slices["changed"]], stock=stock, rebuild=False, monkeypatch=monkeypatch, dupkeys_field=stock)
        gone = [json.loads(line)["id"] for line in slices["more2"].read_text("utf-8").splitlines()[:3]]
        assert delete_articles(gone + ["no-such-id"], root) == ["no-such-id"]
        roots[stock] = root
    assert merged  # the fast writer merged segments itself
    a, b = contents(roots[True]), contents(roots[False])
    assert b["count"] == 300 + 60 - 3
    assert a == b
    assert results(roots[False]) == results(roots[True])
    changed = json.loads(slices["changed"].read_text("utf-8").splitlines()[0])
    assert b["stored"][changed["id"]]["title"].endswith("（更新）")
    assert chars_are_the_stored_text(roots[False]) >= 1
    assert band_keys_are_the_signatures(roots[False]) > 16 * 200  # through merges and deletes
    assert flat_is_whoosh(roots[False]) > 100  # merged segments get theirs from the merge
    # Merged segments carried their characters over: what was deleted or replaced is gone.
    eng = SearchEngine(roots[False])
    old = json.loads(slices["base"].read_text("utf-8").splitlines()[0])
    assert changed["id"] == old["id"]
    tail = old["body"][len(old["body"]) // 2:][:12]
    assert all(h.id != old["id"] for h in eng.search(SearchRequest(q=f'"{tail}"', size=100)).hits) or \
        tail in changed["body"]
    eng.close()


@pytest.mark.slow
def test_backfill_writes_the_flat_postings_the_writer_writes(tmp_path, slices, monkeypatch) -> None:
    stock = build(tmp_path / "stock", [slices["base"]], stock=True, monkeypatch=monkeypatch)
    fast = build(tmp_path / "fast", [slices["base"]], stock=False, monkeypatch=monkeypatch)
    before = results(stock)  # read through Whoosh's blocks: the stock writer wrote no flat postings
    gen = current_generation(stock)
    assert not [p for p in gen.iterdir() if p.name.endswith(FLAT_EXTENSIONS)]
    assert backfill(gen) == 1
    assert backfill(gen) == 0  # nothing left to do
    assert not list(gen.glob(".*.tmp"))

    def flat_files(root: Path) -> dict[str, bytes]:
        return {p.suffix: p.read_bytes() for p in current_generation(root).iterdir()
                if p.name.endswith(FLAT_EXTENSIONS)}

    assert flat_files(stock) == flat_files(fast)  # byte for byte: same postings offsets, same arrays
    assert flat_is_whoosh(stock) > 100
    assert results(stock) == before  # a new engine reads the flat postings: the same scores


def test_folded_text_from_the_main_process_is_what_the_writer_would_fold(tmp_path, slices, monkeypatch) -> None:
    # Documents given without _folded_* (e.g. by other callers) are folded by the writer itself.
    from search.schema import make_schema
    from search.store.segwriter import FOLDED_PREFIX, FastSegmentWriter
    from search.store.writer import codec

    recs = corpus_records(40)
    dirs = {}
    for with_folded in (True, False):
        d = tmp_path / f"w{with_folded}"
        d.mkdir()
        ix = windex.create_in(str(d), make_schema())
        w = FastSegmentWriter(ix, codec=codec(), compound=False)
        for r in recs:
            doc = {"id": r["id"], "title": r["title"], "body": r["body"]}
            if with_folded:
                from search.normalize import fold_text

                doc[FOLDED_PREFIX + "title"] = fold_text(r["title"])
                doc[FOLDED_PREFIX + "body"] = fold_text(r["body"])
            w.add_document(**doc)
        w.commit()
        dirs[with_folded] = {p.name.split(".", 1)[1]: p.read_bytes() for p in d.iterdir()
                             if p.name.startswith("MAIN_") and "LOCK" not in p.name}
    assert dirs[True] == dirs[False]


def test_cancel_removes_run_files(tmp_path, monkeypatch) -> None:
    from search.schema import make_schema
    from search.store.segwriter import FastSegmentWriter
    from search.store.writer import codec

    ix = windex.create_in(str(tmp_path), make_schema())
    w = FastSegmentWriter(ix, codec=codec(), compound=False, limitmb=0.05)
    for r in corpus_records(30):
        w.add_document(id=r["id"], title=r["title"], body=r["body"])
    assert w.pool.runs
    tmpdir = Path(w.temp_storage().folder)
    w.cancel()
    assert not tmpdir.exists() or not list(tmpdir.iterdir())
    assert windex.open_dir(str(tmp_path)).doc_count() == 0


@pytest.mark.parametrize("limit_mb", [128, 0.5], ids=["held", "spilled-runs"])
def test_equal_weights_of_a_numeric_field_are_one_float_object(tmp_path, slices, monkeypatch, limit_mb) -> None:
    # The `published` terms of the top shifts hold every article of a segment: their merged
    # lists must not carry a float object per posting (24 of ~80 bytes; a worker's peak).
    seen: dict[bytes, tuple[int, int]] = {}
    real = segwriter.TermPool.iter_terms

    def watching(self):
        sources = len(self.runs) + 1  # each run file read back, and what is held
        for fieldname, tbytes, lst in real(self):
            if fieldname == "published":
                ws = lst[1::3]
                seen[tbytes] = (len(ws), len({id(w) for w in ws}), sources)
            yield fieldname, tbytes, lst

    monkeypatch.setattr(segwriter.TermPool, "iter_terms", watching)
    monkeypatch.setattr(writer_module, "WRITER_LIMIT_MB", limit_mb)
    build(tmp_path / "fast", [slices["base"]], stock=False, monkeypatch=monkeypatch)
    postings, floats, sources = max(seen.values())
    assert postings > 100 and (sources > 5 if limit_mb < 1 else sources == 1)
    assert floats <= sources, (postings, floats, sources)  # one per run file read back, at most
