"""Tests for search.indexer: generations, atomic swap, incremental updates, delete, lock, incompatible indexes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from whoosh import index as windex
from whoosh.fields import ID, TEXT, Schema

from conftest import COPY_IDS, CORE_ARTICLES, SEED, SEED_ID, core_records, write_jsonl
from search import Article, IndexBusy, IndexIncompatible, IndexMissing, SearchEngine, SearchRequest
from search import snapshot as snapshot_module
from search.indexer import ReindexSummary, default_sources, delete_articles, index_articles, reindex
from search.ingest import iter_articles
from search.schema import SCHEMA_VERSION
from search.store.generations import current_generation, open_current
from search.store.lock import writer_lock

N_DOCS = len(core_records()) + 1


def found(index_dir: Path, q: str, **kw) -> list[str]:
    """Ids found by a new engine (no cached snapshot) for ``q``."""
    page = SearchEngine(index_dir).search(SearchRequest(q=q, size=100, collapse=False, **kw))
    return sorted(h.id for h in page.hits)


def generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.glob("g-*") if p.is_dir())


def article(i: str, title: str, body: str, **kw) -> Article:
    return Article(id=i, title=title, body=body, source=kw.pop("source", "测试报"), **kw)


# ---------------------------------------------------------------- building


def test_fresh_index_layout_and_summary(tmp_path: Path) -> None:
    root = tmp_path / "index"
    s = reindex([CORE_ARTICLES, SEED], root, procs=1)
    assert (s.read, s.indexed, s.added, s.replaced, s.skipped) == (N_DOCS, N_DOCS, N_DOCS, 0, 0)
    assert s.near_duplicates == 2  # copies 2 and 3 join copy 1
    assert s.seconds > 0 and s.rate > 0
    json.dumps(s.to_dict(), ensure_ascii=False)
    gen = current_generation(root)
    assert gen is not None and gen.name == s.generation == (root / "CURRENT").read_text().strip()
    assert generations(root) == [gen.name]
    assert json.loads((gen / "xunwen.json").read_text())["schema_version"] == SCHEMA_VERSION
    ix, opened = open_current(root)
    assert opened == gen and ix.doc_count() == N_DOCS


def test_two_worker_processes_build_the_same_index(tmp_path: Path, core_index: Path) -> None:
    one = tmp_path / "one"
    reindex([CORE_ARTICLES, SEED], one, procs=1)
    for q in ("监督", "简单", "大熊猫 -雅安", '"垃圾分类"', "农村人居环境"):
        assert found(one, q) == found(core_index, q), q  # core_index was built with procs=2


def test_incremental_reindex_replaces_by_id(fresh_index: Path) -> None:
    gen = current_generation(fresh_index)
    s = reindex([CORE_ARTICLES], fresh_index, procs=1)
    assert (s.indexed, s.added, s.replaced) == (N_DOCS - 1, 0, N_DOCS - 1)
    assert current_generation(fresh_index) == gen  # updated in place, no new generation
    assert SearchEngine(fresh_index).article_count() == N_DOCS


def test_incremental_update_changes_an_article_and_adds_new_ones(fresh_index: Path, tmp_path: Path) -> None:
    recs = [r for r in core_records() if r["id"] == "core-tea-title"]
    recs[0] = dict(recs[0], title="蜂蜜采收进入旺季", body="养蜂人忙着摇蜜，今年的油菜花蜜产量比去年增加两成。")
    recs.append(dict(id="core-new", title="新增稿件", body="这是一篇增量加入的稿件，讲述古镇修缮完工。", source="川南日报"))
    s = reindex([write_jsonl(tmp_path / "update.jsonl", recs)], fresh_index, procs=1)
    assert (s.read, s.indexed, s.added, s.replaced) == (2, 2, 1, 1)
    assert found(fresh_index, "title:茶叶") == []
    assert found(fresh_index, "蜂蜜") == ["core-tea-title"]
    assert found(fresh_index, "古镇修缮") == ["core-new"]
    assert SearchEngine(fresh_index).article_count() == N_DOCS + 1


def test_incremental_copy_joins_the_indexed_story(fresh_index: Path) -> None:
    body = SearchEngine(fresh_index).get_article("core-copy-1").body
    s = index_articles([article("core-copy-4", "宜宾人居环境整治见成效", body.replace("（完）", "（来源 网络）"))],
                       fresh_index, procs=1)
    assert s.near_duplicates == 1
    page = SearchEngine(fresh_index).search(SearchRequest(q="农村人居环境"))
    assert page.total == 4 and page.stories == 1  # (looser matches follow the one story)
    assert page.hits[0].similar_count == 3
    assert SearchEngine(fresh_index).get_article("core-copy-4").cluster == "core-copy-1"


def test_a_repeated_id_in_one_run_is_skipped_with_a_reason(tmp_path: Path) -> None:
    arts = [article("a", "第一次", "正文一"), article("a", "第二次", "正文二"), article("b", "另一篇", "正文三")]
    s = index_articles(arts, tmp_path / "ix", procs=1)
    assert (s.read, s.indexed, s.skipped) == (3, 2, 1)
    assert s.skip_reasons == {"duplicate id": 1}
    assert "already read" in s.problems[0]["reason"]
    assert SearchEngine(tmp_path / "ix").get_article("a").title == "第一次"


def test_bad_inputs_are_skipped_with_reasons(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "ok-1", "title": "好的", "body": "正文"}\nnot json\n{"id": "empty"}\n', "utf-8")
    seen = []
    s = reindex([bad], tmp_path / "ix", procs=1, on_problem=seen.append)
    assert (s.read, s.indexed, s.skipped) == (1, 1, 2)
    assert len(seen) == 2 and sum(s.skip_reasons.values()) == 2
    assert any("invalid JSON" in p["reason"] for p in s.problems)


def test_default_sources_are_the_bundled_sample() -> None:
    src = default_sources()
    names = [p.name for p in src]
    assert "sample.jsonl.gz" in names and "seed" in names
    assert all(p.exists() for p in src)


# ---------------------------------------------------------------- rebuild and atomic swap


def test_rebuild_swaps_in_a_new_generation(fresh_index: Path, tmp_path: Path) -> None:
    old = current_generation(fresh_index)
    subset = write_jsonl(tmp_path / "subset.jsonl", [r for r in core_records() if "panda" in r["id"]])
    s = reindex([subset], fresh_index, rebuild=True, procs=1)
    new = current_generation(fresh_index)
    assert new != old and new.name == s.generation
    assert (fresh_index / "CURRENT").read_text().strip() == new.name
    assert found(fresh_index, "大熊猫") == ["core-panda-chengdu", "core-panda-yaan"]
    assert found(fresh_index, "监督") == []  # the rebuilt index holds only what was read
    assert SearchEngine(fresh_index).article_count() == 2
    assert old.name in generations(fresh_index)  # the one before stays for readers that hold it
    reindex([subset], fresh_index, rebuild=True, procs=1)
    gens = generations(fresh_index)
    assert len(gens) == 2 and current_generation(fresh_index).name in gens  # older generations are pruned
    assert not list(fresh_index.glob(".CURRENT*.tmp"))


def test_pruning_keeps_the_generation_served_just_before(fresh_index: Path, tmp_path: Path) -> None:
    # Generation names carry a wall-clock stamp to the second plus a random suffix. Make the
    # first generation's name sort after the later ones, as a clock set back (or, half of the
    # time, two rebuilds within one second) does: pruning must still keep the generation that
    # was served until the last swap, since readers may hold it.
    first = current_generation(fresh_index)
    skewed = fresh_index / "g-29991231T235959-ffffff"
    first.rename(skewed)
    (fresh_index / "CURRENT").write_text(skewed.name + "\n")
    subset = write_jsonl(tmp_path / "subset.jsonl", [r for r in core_records() if "panda" in r["id"]])
    second = reindex([subset], fresh_index, rebuild=True, procs=1).generation
    third = reindex([subset], fresh_index, rebuild=True, procs=1).generation
    assert sorted(generations(fresh_index)) == sorted([second, third])


def _articles_checking_while_building(index_dir: Path, old: Path, checks: list[str]) -> Iterator[Article]:
    """Yield new articles; midway, check that readers still get the old generation."""
    yield article("new-1", "新一代索引第一篇", "重建期间写入的第一篇稿件，讲述湿地公园开园。")
    assert current_generation(index_dir) == old
    assert found(index_dir, "监督") == [SEED_ID]  # the old index is served
    assert found(index_dir, "湿地公园") == []  # the half-built one is not
    building = [g for g in generations(index_dir) if g != old.name]
    assert len(building) == 1  # written next to the served generation
    checks.append("checked")
    yield article("new-2", "新一代索引第二篇", "重建期间写入的第二篇稿件，讲述湿地公园开园。")


def test_old_generation_is_served_until_the_swap(fresh_index: Path) -> None:
    old = current_generation(fresh_index)
    checks: list[str] = []
    index_articles(_articles_checking_while_building(fresh_index, old, checks), fresh_index, rebuild=True, procs=1)
    assert checks == ["checked"]
    assert current_generation(fresh_index) != old
    assert found(fresh_index, "湿地公园") == ["new-1", "new-2"]
    assert found(fresh_index, "监督") == []


def _failing(n: int) -> Iterator[Article]:
    for i in range(n):
        yield article(f"f-{i}", "中途失败", f"第{i}篇稿件")
    raise RuntimeError("disk full (simulated by the input)")


def test_a_failed_rebuild_leaves_the_old_index_serving(fresh_index: Path) -> None:
    old = current_generation(fresh_index)
    before = generations(fresh_index)
    with pytest.raises(RuntimeError, match="disk full"):
        index_articles(_failing(3), fresh_index, rebuild=True, procs=1)
    assert current_generation(fresh_index) == old
    assert generations(fresh_index) == before  # the partial generation is removed
    assert found(fresh_index, "监督") == [SEED_ID]
    assert found(fresh_index, "中途失败") == []
    # the lock was released: the next run works
    assert index_articles([article("after", "失败之后", "恢复写入")], fresh_index, procs=1).indexed == 1


def test_a_failed_incremental_run_commits_nothing(fresh_index: Path) -> None:
    with pytest.raises(RuntimeError):
        index_articles(_failing(3), fresh_index, procs=1)
    assert found(fresh_index, "中途失败") == []
    assert SearchEngine(fresh_index).article_count() == N_DOCS


def test_a_rebuild_that_indexes_nothing_keeps_the_old_index(fresh_index: Path, tmp_path: Path) -> None:
    old = current_generation(fresh_index)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("not json\n", "utf-8")
    s = reindex([empty], fresh_index, rebuild=True, procs=1)
    assert s.indexed == 0 and s.skipped == 1
    assert current_generation(fresh_index) == old and s.generation == old.name
    assert generations(fresh_index) == [old.name]
    assert SearchEngine(fresh_index).article_count() == N_DOCS


def test_a_running_engine_picks_up_new_generations_and_commits(fresh_index: Path, tmp_path: Path) -> None:
    eng = SearchEngine(fresh_index)
    assert eng.search(SearchRequest(q="监督")).total == 1
    def settles_at(total: int) -> int:
        # A new commit is opened and warmed in the background while the old one serves, then
        # installed (the engine re-reads CURRENT at most every _RECHECK_SECONDS).
        deadline = time.monotonic() + 30
        got = -1
        while time.monotonic() < deadline:
            got = eng.search(SearchRequest(q="监督")).total
            if got == total:
                break
            time.sleep(snapshot_module._RECHECK_SECONDS / 2)
        return got

    index_articles([article("inc", "增量稿件", "增量写入的稿件讲述监督工作")], fresh_index, procs=1)
    assert settles_at(2) == 2
    index_articles([article("only", "唯一稿件", "重建后只剩这一篇")], fresh_index, rebuild=True, procs=1)
    assert settles_at(0) == 0
    assert eng.article_count() == 1


# ---------------------------------------------------------------- delete and stats


def test_delete_articles(fresh_index: Path) -> None:
    missing = delete_articles(["core-panda-yaan", "no-such-id"], fresh_index)
    assert missing == ["no-such-id"]
    assert found(fresh_index, "大熊猫") == ["core-panda-chengdu"]
    st = SearchEngine(fresh_index).stats()
    assert st["articles"] == N_DOCS - 1
    assert delete_articles(["core-panda-yaan"], fresh_index) == ["core-panda-yaan"]


def test_deleting_one_copy_keeps_the_story(fresh_index: Path) -> None:
    delete_articles([COPY_IDS[0]], fresh_index)
    page = SearchEngine(fresh_index).search(SearchRequest(q="农村人居环境"))
    assert page.total == 2 and page.stories == 1 and page.hits[0].similar_count == 1


def test_stats_after_updates(fresh_index: Path) -> None:
    index_articles([article("st-1", "统计", "统计用稿件", source="新来源")], fresh_index, procs=1)
    st = SearchEngine(fresh_index).stats()
    assert st["articles"] == N_DOCS + 1
    assert st["sources"] == 5
    assert st["schema_version"] == SCHEMA_VERSION
    assert st["generation"] == current_generation(fresh_index).name


# ---------------------------------------------------------------- missing and incompatible indexes


@pytest.mark.parametrize("kind", ["absent", "empty dir", "CURRENT names a missing generation"])
def test_missing_index(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "index"
    if kind != "absent":
        root.mkdir()
    if kind.startswith("CURRENT"):
        (root / "CURRENT").write_text("g-gone\n")
    with pytest.raises(IndexMissing, match="xunwen reindex"):
        SearchEngine(root).search(SearchRequest(q="监督"))
    with pytest.raises(IndexMissing):
        open_current(root)
    with pytest.raises(IndexMissing):
        delete_articles(["x"], root)


def test_an_index_from_another_schema_version(fresh_index: Path) -> None:
    meta = current_generation(fresh_index) / "xunwen.json"
    meta.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    for call in (lambda: SearchEngine(fresh_index).search(SearchRequest(q="监督")),
                 lambda: open_current(fresh_index),
                 lambda: index_articles([article("x", "标题", "正文")], fresh_index, procs=1),
                 lambda: delete_articles(["core-trad"], fresh_index)):
        with pytest.raises(IndexIncompatible, match=r"xunwen reindex --rebuild") as e:
            call()
        assert f"schema version {SCHEMA_VERSION + 1}" in str(e.value)
    # the advised command repairs it
    reindex([CORE_ARTICLES], fresh_index, rebuild=True, procs=1)
    assert found(fresh_index, "大熊猫 -雅安") == ["core-panda-chengdu"]


def test_a_storage_fault_is_an_error_not_another_version(fresh_index: Path) -> None:
    """An unreadable TOC (here: a directory where the file was, EISDIR) is the OSError it is,
    raised to the caller; it used to be reported as "an index of another version"."""
    gen = current_generation(fresh_index)
    (toc,) = gen.glob("_MAIN_*.toc")
    toc.unlink()
    toc.mkdir()
    with pytest.raises(OSError) as e:
        open_current(fresh_index)
    assert not isinstance(e.value, IndexIncompatible)
    with pytest.raises(OSError):
        SearchEngine(fresh_index).search(SearchRequest(q="监督"))


def test_a_generation_without_metadata_is_incompatible(fresh_index: Path) -> None:
    (current_generation(fresh_index) / "xunwen.json").unlink()
    with pytest.raises(IndexIncompatible, match="xunwen reindex --rebuild"):
        SearchEngine(fresh_index).search(SearchRequest(q="监督"))


def test_a_plain_whoosh_index_is_incompatible(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    ix = windex.create_in(str(root), Schema(id=ID(stored=True), body=TEXT(stored=True)))
    with ix.writer() as w:
        w.add_document(id="1", body="hello world")
    with pytest.raises(IndexIncompatible, match="xunwen reindex --rebuild"):
        SearchEngine(root).search(SearchRequest(q="hello"))
    with pytest.raises(IndexIncompatible, match="xunwen reindex --rebuild"):
        open_current(root)


def test_a_schema_that_cannot_be_unpickled_is_incompatible(tmp_path: Path) -> None:
    # An index whose pickled schema names a class that no longer exists (code moved or renamed).
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "xw_vanished_fields.py").write_text(
        "from whoosh.fields import TEXT\nclass VanishedText(TEXT):\n    pass\n")
    sys.path.insert(0, str(mod_dir))
    try:
        import xw_vanished_fields  # noqa: PLC0415

        root = tmp_path / "index"
        gen = root / "g-old"
        gen.mkdir(parents=True)
        ix = windex.create_in(str(gen), Schema(id=ID(stored=True), body=xw_vanished_fields.VanishedText()))
        with ix.writer() as w:
            w.add_document(id="1", body="正文")
        (gen / "xunwen.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION}))
        (root / "CURRENT").write_text("g-old\n")
    finally:
        sys.path.remove(str(mod_dir))
        sys.modules.pop("xw_vanished_fields", None)
    for p in mod_dir.rglob("*"):
        if p.is_file():
            p.unlink()
    with pytest.raises(IndexIncompatible, match="xunwen reindex --rebuild"):
        open_current(root)
    with pytest.raises(IndexIncompatible, match="xunwen reindex --rebuild"):
        SearchEngine(root).search(SearchRequest(q="正文"))


# ---------------------------------------------------------------- the writer lock


def test_the_writer_lock_refuses_a_second_writer(fresh_index: Path) -> None:
    with writer_lock(fresh_index):
        with pytest.raises(IndexBusy, match="another xunwen process is writing"):
            index_articles([article("x", "标题", "正文")], fresh_index, procs=1)
        with pytest.raises(IndexBusy):
            index_articles([article("x", "标题", "正文")], fresh_index, rebuild=True, procs=1)
        with pytest.raises(IndexBusy):
            delete_articles(["core-trad"], fresh_index)
        assert found(fresh_index, "监督") == [SEED_ID]  # readers are not blocked
    assert index_articles([article("x", "标题", "正文")], fresh_index, procs=1).indexed == 1


@pytest.mark.slow
def test_the_writer_lock_is_held_across_processes(fresh_index: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys\nfrom search.store.lock import writer_lock\n"
         "with writer_lock(sys.argv[1]):\n    print('locked', flush=True)\n    sys.stdin.read()\n",
         str(fresh_index)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexBusy):
            delete_articles(["core-trad"], fresh_index)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert delete_articles(["core-trad"], fresh_index) == []


def test_wait_queues_behind_the_running_writer(fresh_index: Path) -> None:
    result: dict[str, object] = {}

    def second_writer() -> None:
        try:
            result["summary"] = index_articles([article("queued", "排队", "排队写入")], fresh_index, procs=1, wait=True)
        except Exception as e:  # noqa: BLE001 - reported through the assertion below
            result["error"] = e

    with writer_lock(fresh_index):
        t = threading.Thread(target=second_writer)
        t.start()
        t.join(0.3)  # give it time to reach the lock while it is held
    t.join(60)
    assert "error" not in result, result.get("error")
    assert isinstance(result["summary"], ReindexSummary) and result["summary"].indexed == 1


def test_lock_file_lives_in_the_index_dir(fresh_index: Path) -> None:
    assert (fresh_index / ".writer.lock").exists()
    assert os.access(fresh_index / ".writer.lock", os.R_OK)


def test_articles_extracted_from_the_seed_index_like_the_cli(tmp_path: Path) -> None:
    arts = list(iter_articles([SEED]))
    s = index_articles(arts, tmp_path / "ix", procs=1)
    assert s.indexed == 1
    assert found(tmp_path / "ix", "巡审联动") == [SEED_ID]
