"""The open-time sidecar (search.sidecar): written per commit, mapped at open, same answers."""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import corpus, write_jsonl
from search import SearchEngine, SearchRequest, sidecar
from search.indexer import delete_articles, reindex
from search.snapshot import Columns, Lexicon
from search.store.generations import current_generation, open_current

N = 600


@pytest.fixture(scope="module")
def records() -> list[dict]:
    with gzip.open(corpus("news_articles_sample2k.jsonl.gz"), "rt", encoding="utf-8") as f:
        recs = [json.loads(line) for line in itertools.islice(f, N)]
    # Two re-sent copies of one story, so the cluster column has a multi-member cluster.
    story = next(r for r in recs if len(r["body"]) > 600)
    for k in (1, 2):
        recs.append({**story, "id": f"{story['id']}-resent{k}", "body": story["body"] + "\n（完）" * k})
    return recs


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, records: list[dict]) -> Path:
    tmp = tmp_path_factory.mktemp("sidecar")
    src = tmp / "in.jsonl"
    write_jsonl(src, records)
    ix = tmp / "ix"
    summary = reindex([src], ix, rebuild=True, procs=1)
    assert summary.indexed == len(records)
    return ix


@pytest.fixture()
def index_dir(tmp_path: Path, built: Path) -> Path:
    """A private copy of the built index (tests change or damage it)."""
    return Path(shutil.copytree(built, tmp_path / "ix"))


def _toc(ix: Path) -> int:
    w, gen = open_current(ix)
    with w.reader() as r:
        return r.generation()


def _answers(ix: Path, requests: list[SearchRequest]) -> list[dict]:
    eng = SearchEngine(ix)
    out = []
    for req in requests:
        d = eng.search(req).to_dict()
        d.pop("took_ms")
        out.append(d)
    return out


def _requests(records: list[dict]) -> list[SearchRequest]:
    src = records[0]["source"]
    story = records[-1]["id"].rsplit("-resent", 1)[0]
    return [
        SearchRequest(q="经济"), SearchRequest(q="发展 合作", sort="newest"),
        SearchRequest(q='"新闻联播"'), SearchRequest(q="北京", source=(src,)),
        SearchRequest(q="", sort="newest", size=20), SearchRequest(q="会议", date_from="2023-01-01"),
        SearchRequest(q="", cluster=story), SearchRequest(q="学生", collapse=False),
        SearchRequest(q="发展", region=("北京",)),
    ]


@pytest.mark.slow
def test_written_per_commit_and_answers_like_a_build(index_dir: Path, records: list[dict]) -> None:
    gen = current_generation(index_dir)
    d = sidecar.directory(gen, _toc(index_dir))
    assert (d / "meta.json").is_file() and (d / "live.npy").is_file()
    reqs = _requests(records)
    mapped = _answers(index_dir, reqs)
    assert any(a["total"] > 0 for a in mapped)
    assert next(a for a, r in zip(mapped, reqs) if r.cluster)["total"] == 3  # the story and its copies
    shutil.rmtree(d)  # no sidecar: every cache is built from the index, as before
    assert _answers(index_dir, reqs) == mapped


def test_mapped_objects_equal_built_ones(index_dir: Path) -> None:
    ix, gen = open_current(index_dir)
    with ix.reader() as r:
        toc = r.generation()
        built, mapped = Columns(r), sidecar.load_columns(gen, toc, r)
        lex, mlex = Lexicon(r), sidecar.load_lexicon(gen, toc, r)
        live, lengths, avg = sidecar.load_postings(gen, toc, r)
        assert isinstance(mapped.cluster, np.memmap) and isinstance(live, np.memmap)
    for name in ("published", "month", "source", "category", "cluster", "region_docs", "region_codes"):
        assert np.array_equal(getattr(built, name), getattr(mapped, name)), name
    for name in ("months", "sources", "categories", "regions"):
        assert getattr(built, name) == getattr(mapped, name), name
    assert list(mapped.clusters) == built.clusters and mapped.clusters[-1] == built.clusters[-1]
    assert len(mapped.clusters) == len(built.clusters)
    assert mlex.sites() == lex.sites() and mlex.sources() == lex.sources()
    words = [w for ws in itertools.islice(lex._parts[0].values(), 0, None, 50) for w in ws[:3]]
    assert len(words) > 50
    for w in words + ["中", "国", "不存在的词语"]:
        assert mlex.containing(w) == lex.containing(w), w
    assert live.all() and set(lengths) == {"title", "body"} and avg["body"] > 10


def test_delete_writes_the_next_commit_and_prunes_old_ones(index_dir: Path, records: list[dict]) -> None:
    gen = current_generation(index_dir)
    first = _toc(index_dir)
    gone = [records[0]["id"], records[1]["id"]]
    assert delete_articles(gone[:1], index_dir) == []
    assert delete_articles(gone[1:], index_dir) == []
    toc = _toc(index_dir)
    assert toc == first + 2
    present = sorted(p.name for p in gen.glob(f"{sidecar.PREFIX}*"))
    assert present == [f"{sidecar.PREFIX}{first + 1}", f"{sidecar.PREFIX}{toc}"]
    ix, _ = open_current(index_dir)
    with ix.reader() as r:
        live, _, _ = sidecar.load_postings(gen, toc, r)
    assert int((~np.asarray(live)).sum()) == 2
    eng = SearchEngine(index_dir)
    page = eng.search(SearchRequest(q=records[0]["title"][:12], collapse=False, size=100))
    assert records[0]["id"] not in [h.id for h in page.hits]


def test_a_sidecar_of_another_commit_is_ignored(index_dir: Path, records: list[dict]) -> None:
    gen = current_generation(index_dir)
    d = sidecar.directory(gen, _toc(index_dir))
    reqs = _requests(records)
    want = _answers(index_dir, reqs)
    meta = json.loads((d / "meta.json").read_text("utf-8"))
    meta["docs"] += 1  # as if it described another commit
    (d / "meta.json").write_text(json.dumps(meta), "utf-8")
    np.save(d / "col_published.npy", np.zeros(3, dtype=np.int64))
    ix, _ = open_current(index_dir)
    with ix.reader() as r:
        assert sidecar.load_columns(gen, _toc(index_dir), r) is None
    assert _answers(index_dir, reqs) == want


def _as_built(gen: Path, toc: int, r) -> None:
    """The commit's sidecar, however it was written, holds what a build from the index holds:
    the same value of every column for every document, the same region pairs, live mask,
    lengths and averages, and every indexed word under each of its characters (shortest first,
    each once), plus at most words no segment holds any more (of documents a merge purged)."""
    from search.ranking import Postings

    cols, mcols = Columns(r), sidecar.load_columns(gen, toc, r)
    assert mcols is not None
    for codes, table in (("month", "months"), ("source", "sources"), ("category", "categories"),
                         ("cluster", "clusters")):
        want = [getattr(cols, table)[c] for c in getattr(cols, codes)]
        got = [getattr(mcols, table)[int(c)] for c in getattr(mcols, codes)]
        assert got == want, codes
    assert np.array_equal(cols.published, mcols.published)
    pairs = [(int(d), cols.regions[c]) for d, c in zip(cols.region_docs, cols.region_codes)]
    mpairs = [(int(d), mcols.regions[int(c)]) for d, c in zip(mcols.region_docs, mcols.region_codes)]
    assert mpairs == pairs and bool(np.all(np.diff(mcols.region_docs) >= 0))  # document order: the facets need it
    post = Postings(r)
    live, lengths, avg = sidecar.load_postings(gen, toc, r)
    assert np.array_equal(post.live, live)
    for f in ("title", "body"):
        assert np.array_equal(post.lengths(f, r), lengths[f]) and post.avg_length(f, r) == avg[f], f
    lex, mlex = Lexicon(r), sidecar.load_lexicon(gen, toc, r)
    assert mlex.sites() == lex.sites() and mlex.sources() == lex.sources()
    by_char = lex._parts[0]
    indexed = {w for ws in by_char.values() for w in ws}
    assert len(mlex._by_char) >= len(by_char)
    for ch, words in by_char.items():
        got = mlex._by_char.get(ch)
        assert got == sorted(set(got), key=lambda w: (len(w), w)), ch
        assert [w for w in got if w in indexed] == words, ch
        assert all(ch in w for w in got), ch


def test_a_commit_reuses_the_earlier_sidecar_and_holds_what_a_build_holds(
        index_dir: Path, records: list[dict], tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from search.store import merge

    # Six small runs before a tiered merge, so that the nightly merge has segments left to fold.
    monkeypatch.setattr(merge, "MERGE_FACTOR", 6)
    with gzip.open(corpus("news_articles_sample2k.jsonl.gz"), "rt", encoding="utf-8") as f:
        more = [json.loads(line) for line in itertools.islice(f, N, N + 160)]
    gen = current_generation(index_dir)
    replaced = [{**records[k], "body": records[k]["body"] + "\n本报记者 补充报道。"} for k in (3, 5, 8)]
    runs = [more[:20], replaced + more[20:30], more[30:50]] + [more[50 + 18 * k:68 + 18 * k] for k in range(6)]
    merged_away = False
    for k, batch in enumerate(runs):
        before = {p.name for p in gen.glob(f"{sidecar.PREFIX}*")}
        caplog.clear()
        with caplog.at_level("INFO", logger="search.sidecar"):
            if k == 3:
                assert delete_articles([records[10]["id"], more[0]["id"]], index_dir) == []
            reindex([write_jsonl(tmp_path / f"run{k}.jsonl", batch)], index_dir, procs=1)
        assert any("documents from open-" in m for m in caplog.messages), caplog.messages  # reused
        ix, _ = open_current(index_dir)
        with ix.reader() as r:
            toc = r.generation()
            assert f"{sidecar.PREFIX}{toc}" not in before
            segs = [leaf.segment().segment_id() for leaf, _ in r.leaf_readers()]
            _as_built(gen, toc, r)
        merged_away |= len(segs) < k + 2
    assert merged_away  # the tiered merge ran: segments the earlier sidecar held went away
    # The nightly merge writes it from the index: nothing stale left.
    from search.indexer import merge_index

    assert merge_index(index_dir)["merged"]
    ix, _ = open_current(index_dir)
    with ix.reader() as r:
        toc = r.generation()
        meta = json.loads((sidecar.directory(gen, toc) / "meta.json").read_text("utf-8"))
        assert [s[1] for s in meta["segments"]] == [leaf.doc_count_all() for leaf, _ in r.leaf_readers()]
        _as_built(gen, toc, r)
        lex, mlex = Lexicon(r), sidecar.load_lexicon(gen, toc, r)
        for ch, words in itertools.islice(lex._parts[0].items(), 0, None, 7):
            assert mlex._by_char.get(ch) == words, ch
