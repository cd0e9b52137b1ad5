"""Concurrency: searching while the index is rebuilt and updated; two writers at once.

Eight threads share one :class:`SearchEngine` (as the web server's threads do) and search
continuously while a real ``xunwen reindex`` subprocess rebuilds or updates the index.
Every search must succeed, and the results must switch to the new data once the writer
has finished (the engine notices a new generation or commit by itself). The loops are
bounded: they stop when the writer is done and the new data has been seen, or at a
generous deadline that only a hang would reach.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest

from search import SearchEngine, SearchRequest
from search.errors import NotFound
from search.indexer import delete_articles, index_articles, reindex
from search.models import Article
from webutil import free_port, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent
THREADS = 8
DEADLINE = 120.0  # seconds; a liveness bound, not a performance claim
OLD, NEW = "蓝鲸计划", "白鹭计划"
QUERIES = ("监督", "巡察 整改", '"专项检查"', "旅游 OR 乡村", "-监督 会议", "title:整改", "蓝鲸", "白鹭")


def records(n: int, tag: str, marker: str) -> list[dict]:
    """``n`` distinct small articles; every tenth carries ``marker`` in its title."""
    words = ("监督", "巡察", "整改", "专项检查", "乡村", "旅游", "会议", "群众", "资金", "防汛", "审计", "民生")
    out = []
    for i in range(n):
        w = [words[(i * k + tag.__len__()) % len(words)] for k in (1, 3, 5, 7)]
        title = f"{marker if i % 10 == 0 else ''}第{i}号通报：{w[0]}{w[1]}工作"
        body = (f"{tag}编号{i:05d}。当地开展{w[0]}和{w[2]}，{w[3]}取得进展。"
                f"{'本次' + marker + '进入第' + str(i) + '阶段。' if i % 10 == 0 else ''}"
                f"参与人数{i * 37 % 1000}人，覆盖{i % 17}个乡镇，记录号{tag}{i * 7919 % 100003}。")
        out.append({"id": f"{tag}-{i:05d}", "title": title, "body": body,
                    "url": f"https://example.com/{tag}/{i}.html", "source": f"{tag}日报",
                    "published": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 08:00"})
    return out


def write_jsonl(path: Path, recs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), "utf-8")
    return path


def cli_start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "search.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


class Searchers:
    """THREADS threads searching one shared engine until told to stop."""

    def __init__(self, engine: SearchEngine):
        self.engine = engine
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.searches = 0
        self.gone = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(THREADS)]

    def _run(self, i: int) -> None:
        n = 0
        while not self.stop.is_set():
            q = QUERIES[(i + n) % len(QUERIES)]
            sort = ("relevance", "newest")[n % 2]
            try:
                page = self.engine.search(SearchRequest(q=q, sort=sort, size=10, page=1 + n % 3))
                assert page.total >= 0 and len(page.hits) <= 10
                for h in page.hits[:2]:
                    try:
                        self.engine.get_article(h.id)
                    except NotFound:
                        # The hit came from the generation before a swap that dropped it:
                        # the article page answers 404, which is right for the new data.
                        self.gone += 1
            except Exception:  # noqa: BLE001 - every failure is the finding
                with self.lock:
                    self.errors.append(f"{q!r}: {traceback.format_exc()}")
            n += 1
        with self.lock:
            self.searches += n

    def __enter__(self) -> Searchers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def total(engine: SearchEngine, q: str) -> int:
    return engine.search(SearchRequest(q=f'"{q}"', collapse=False)).total


@pytest.fixture
def old_index(tmp_path) -> Path:
    ix = tmp_path / "index"
    s = reindex([write_jsonl(tmp_path / "old.jsonl", records(150, "旧", OLD))], ix, rebuild=True, procs=1)
    assert s.indexed == 150
    return ix


@pytest.mark.slow
def test_search_through_a_rebuild_swap(tmp_path, old_index):
    engine = SearchEngine(old_index)
    assert total(engine, OLD) == 15 and total(engine, NEW) == 0
    new = write_jsonl(tmp_path / "new.jsonl", records(400, "新", NEW))
    with Searchers(engine) as searchers:
        proc = cli_start("reindex", str(new), "--index", str(old_index), "--rebuild", "--no-progress")
        out, err = proc.communicate(timeout=DEADLINE * 3)
        assert proc.returncode == 0, err
        # Keep searching until the swap has been seen (the engine re-checks by itself).
        deadline = time.monotonic() + DEADLINE
        while total(engine, NEW) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert searchers.errors == [], f"{len(searchers.errors)} failed searches, first: {searchers.errors[0]}"
    assert searchers.searches > THREADS
    assert total(engine, NEW) == 40
    assert total(engine, OLD) == 0
    assert engine.article_count() == 400


@pytest.mark.slow
def test_search_through_incremental_updates(tmp_path, old_index):
    engine = SearchEngine(old_index)
    with Searchers(engine) as searchers:
        for k in range(3):
            batch = write_jsonl(tmp_path / f"add{k}.jsonl", records(60, f"增{k}", f"{NEW}{'甲乙丙'[k]}"))
            proc = cli_start("reindex", str(batch), "--index", str(old_index), "--no-progress")
            out, err = proc.communicate(timeout=DEADLINE * 3)
            assert proc.returncode == 0, err
            deadline = time.monotonic() + DEADLINE
            while total(engine, f"{NEW}{'甲乙丙'[k]}") == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert total(engine, f"{NEW}{'甲乙丙'[k]}") == 6
    assert searchers.errors == [], f"{len(searchers.errors)} failed searches, first: {searchers.errors[0]}"
    assert engine.article_count() == 150 + 3 * 60
    assert total(engine, OLD) == 15


def test_new_thread_searching_right_after_a_commit(tmp_path, old_index):
    """A thread whose first search comes just after an incremental commit must see one
    consistent commit: the engine's cached per-snapshot columns (facets, filters, collapse)
    are indexed by document number, and a commit renumbers and adds documents."""
    engine = SearchEngine(old_index)
    errors: list[str] = []
    totals: list[int] = []
    for k in range(6):
        engine.search(SearchRequest(q=NEW))  # the engine has a snapshot of the commit before
        arts = [Article(id=f"late-{k}-{i}", title=f"{NEW}补充报道{k}-{i}",
                        body=f"{NEW}第{k}批第{i}篇，编号{k * 100 + i}，内容{'甲乙丙丁'[i]}。")
                for i in range(4)]
        index_articles(arts, old_index, procs=1)

        def first_search() -> None:
            try:
                totals.append(engine.search(SearchRequest(q=NEW, collapse=True)).total)
            except Exception:  # noqa: BLE001
                errors.append(traceback.format_exc())

        t = threading.Thread(target=first_search)
        t.start()
        t.join(timeout=60)
    assert errors == [], f"{len(errors)} of 6 searches failed, first: {errors[0]}"
    deadline = time.monotonic() + DEADLINE
    while total(engine, NEW) != 24 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert total(engine, NEW) == 24


@pytest.mark.slow
def test_two_reindex_runs_at_once(tmp_path, old_index):
    """The second writer refuses at once with a clear message (exit 1), or queues with --wait."""
    big = write_jsonl(tmp_path / "big.jsonl", records(3000, "大", NEW))
    small = write_jsonl(tmp_path / "small.jsonl", records(30, "小", f"{OLD}小"))
    first = cli_start("reindex", str(big), "--index", str(old_index), "--rebuild", "--no-progress")
    try:
        # Wait until the first run holds the writer lock (its new generation exists).
        gens = {p.name for p in old_index.glob("g-*")}
        deadline = time.monotonic() + DEADLINE
        while {p.name for p in old_index.glob("g-*")} == gens and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()
            time.sleep(0.01)
        second = subprocess.run([sys.executable, "-m", "search.cli", "reindex", str(small), "--index",
                                 str(old_index), "--no-progress"], cwd=ROOT, capture_output=True, text=True,
                                timeout=DEADLINE)
        assert first.poll() is None, "the first run ended before the second was tried"
        assert second.returncode == 1, (second.stdout, second.stderr)
        assert "another xunwen process is writing" in second.stderr and "--wait" in second.stderr
        assert "Traceback" not in second.stderr

        waiting = cli_start("reindex", str(small), "--index", str(old_index), "--no-progress", "--wait")
        out, err = first.communicate(timeout=DEADLINE * 3)
        assert first.returncode == 0, err
        out2, err2 = waiting.communicate(timeout=DEADLINE * 3)
        assert waiting.returncode == 0, err2
    finally:
        for p in (first,):
            if p.poll() is None:
                os.killpg(p.pid, 9)
                p.wait()
    engine = SearchEngine(old_index)
    # The rebuild replaced the old data; the queued incremental run added to the rebuilt index.
    assert engine.article_count() == 3000 + 30
    assert total(engine, f"{OLD}小") == 3
    assert total(engine, OLD) == 3  # only the small batch's copies of the old marker remain


# --------------------------------------------------------------------------- many small commits


def tiny(k: int) -> list[Article]:
    """Two new small articles for incremental run ``k``."""
    return [Article(id=f"tiny-{k}-{j}", title=f"小批量第{k}批{j}号监督通报",
                    body=f"第{k}批第{j}篇：当地开展监督检查和巡察整改，编号{k * 7919 + j}。") for j in range(2)]


def test_a_request_keeps_its_snapshot_through_merges_and_deletes(old_index):
    """A request holding a snapshot reads every stored field of it after later commits merged
    (and so deleted the files of) its segments and a newer snapshot is served; the old one
    closes when that request ends."""
    engine = SearchEngine(old_index)
    engine.search(SearchRequest(q=OLD))
    with engine._view() as (snap, s):
        n = s.doc_count_all()
        files = {p.name for p in snap.gen.iterdir()}
        for k in range(8):  # Whoosh merges the small segments of earlier commits into new ones
            index_articles(tiny(k), old_index, procs=1)
            if k % 3 == 2:
                delete_articles([f"tiny-{k - 1}-0"], old_index)
        assert files - {p.name for p in snap.gen.iterdir()}, "no segment file was merged away"
        assert engine.refresh()  # a newer commit is served from now on ...
        ids = [s.stored_fields(d)["id"] for d in range(n)]  # ... while this request reads on
        assert len(set(ids)) == n == 150
        assert s.document_number(id="旧-00007") is not None
        page = engine.search(SearchRequest(q="小批量", collapse=False, size=100))
        assert page.total == 16 - 2
        assert not snap._closed
    assert snap._closed  # the last user is gone: its maps and searchers are closed
    assert engine.article_count() == 150 + 16 - 2


@pytest.mark.slow
def test_threads_through_many_small_commits_and_deletes(old_index):
    """THREADS threads search, fetch articles and ask for similar ones while 30 tiny
    commits (each merging segments) and 10 deletes land: no request fails."""
    engine = SearchEngine(old_index)
    stop = threading.Event()
    errors: list[str] = []
    done = [0]

    def reader(i: int) -> None:
        n = 0
        while not stop.is_set():
            try:
                page = engine.search(SearchRequest(q=QUERIES[(i + n) % len(QUERIES)], size=5, page=1 + n % 2))
                for h in page.hits[:2]:
                    try:
                        engine.get_article(h.id)
                        engine.more_like_this(h.id, limit=3)
                    except NotFound:
                        pass  # deleted meanwhile: a 404, right for the new data
                engine.search(SearchRequest(q="小批量", sort="newest", size=10))
            except Exception:  # noqa: BLE001 - every failure is the finding
                errors.append(traceback.format_exc())
            n += 1
        done[0] += n

    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    try:
        for k in range(30):
            index_articles(tiny(k), old_index, procs=1)
            if k % 3 == 2:
                delete_articles([f"tiny-{k}-1"], old_index)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert errors == [], f"{len(errors)} failed requests, first: {errors[0]}"
    assert done[0] > THREADS
    deadline = time.monotonic() + DEADLINE
    while engine.article_count() != 150 + 60 - 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.article_count() == 150 + 60 - 10


@pytest.mark.slow
def test_server_through_small_incremental_runs_and_deletes(tmp_path, old_index):
    """A real server, six keep-alive HTTP clients, and a loop of real `xunwen reindex --wait`
    runs of two articles each with a `xunwen delete` every third run: no 5xx, no transport
    error, and the new articles are served (the deleted ones are 404) without a restart."""
    import http.client
    from urllib.parse import quote

    port = free_port()
    log = tmp_path / "serve.log"
    proc = start_server(old_index, port, log)
    stop = threading.Event()
    statuses: list[str] = []
    paths = ["/api/search?q=" + quote(q) for q in QUERIES] + [
        "/?q=" + quote("小批量 监督"), "/api/search?q=" + quote('"小批量"') + "&sort=newest",
        "/article/" + quote("旧-00010") + "?q=" + quote(OLD), "/api/articles/" + quote("旧-00020")]

    def client(i: int) -> None:
        conn = None
        n = i
        while not stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("GET", paths[n % len(paths)])
                resp = conn.getresponse()
                resp.read()
                statuses.append(str(resp.status))
            except (OSError, http.client.HTTPException) as exc:
                statuses.append(f"transport {type(exc).__name__}: {exc}")
                conn = None
            n += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(6)]
    try:
        for t in threads:
            t.start()
        started = time.monotonic()
        runs = 0
        while runs < 6 or time.monotonic() - started < 20:
            batch = tmp_path / f"tiny{runs}.jsonl"
            write_jsonl(batch, [{"id": a.id, "title": a.title, "body": a.body} for a in tiny(runs)])
            r = subprocess.run([sys.executable, "-m", "search.cli", "reindex", str(batch), "--index",
                                str(old_index), "--wait", "--no-progress"], cwd=ROOT, capture_output=True,
                               text=True, timeout=DEADLINE)
            assert r.returncode == 0, r.stderr
            if runs % 3 == 2:
                d = subprocess.run([sys.executable, "-m", "search.cli", "delete", f"tiny-{runs}-1", "--index",
                                    str(old_index)], cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE)
                assert d.returncode == 0, d.stderr
            runs += 1
            if runs >= 30:
                break
        # The last run and delete become visible without a restart.
        last = f"tiny-{runs - 1}-0"
        deadline = time.monotonic() + DEADLINE
        code = None
        while time.monotonic() < deadline:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("GET", "/api/articles/" + quote(last))
            code = c.getresponse().status
            c.close()
            if code == 200:
                break
            time.sleep(0.2)
        assert code == 200
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/api/articles/" + quote("tiny-2-1"))
        assert c.getresponse().status == 404
        c.close()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        stop_server(proc)
    bad = [x for x in statuses if x.startswith("5") or x.startswith("transport")]
    assert not bad, f"{len(bad)} of {len(statuses)} requests failed, e.g. {bad[:3]}"
    assert len(statuses) > 6 * runs
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


def test_a_discarded_searcher_leaves_its_snapshot_readable(old_index):
    """A request that fails inside Whoosh's reading code has its searcher closed rather than
    pooled (Whoosh closes a reader's storage with it): the other requests on the same
    snapshot read on."""
    engine = SearchEngine(old_index)
    engine.search(SearchRequest(q=OLD))
    with engine._view() as (snap, s1):
        with pytest.raises(RuntimeError):
            with engine._view() as (snap2, s2):
                assert snap2 is snap and s2 is not s1
                raise RuntimeError("stopped inside a read")
        assert s2.reader().is_closed
        assert s1.stored_fields(3)["id"]
        assert engine.search(SearchRequest(q=f'"{OLD}"', collapse=False)).total == 15
    assert not snap._closed  # still the served snapshot
