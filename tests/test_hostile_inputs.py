"""Input that must not take ingest down (issue 10): bombs, huge lines and records, cut WARCs,
over-long articles, deep trees, odd ids, a full disk and the debris of killed writers.

Every run is the real CLI (``python -m search.cli``) in a subprocess over real files made in
temp dirs (tests/hostile_inputs.py); the bombs here are just past each limit (17-33 MiB
decompressed) so the suite stays fast — bench/ingest_hostile.py runs the sizes of the issue
and measures peak RSS. The full disk is a real one: a small tmpfs mounted for the test when
the sandbox allows it, else a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored, so writes
fail with EFBIG) set in the child only.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from lxml import html as lhtml

import hostile_inputs as h
from search import SearchEngine, SearchRequest
from search.ingest import MAX_BODY_CHARS, MAX_JSON_VALUES, MAX_LINE_BYTES, MAX_PAGE_BYTES, MAX_PAGE_TAGS
from search.store.lock import writer_lock

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300


def cli(*args: str, timeout: float = TIMEOUT, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "search.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, **kw)


def reindex(*args: str, **kw) -> tuple[subprocess.CompletedProcess, dict | None]:
    r = cli("reindex", *args, "--no-progress", "--json", **kw)
    try:
        return r, json.loads(r.stdout)
    except ValueError:
        return r, None


def lines_about(stderr: str, name: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if name in ln]


def ids_in(index: Path, ids: list[str]) -> list[str]:
    eng = SearchEngine(index)
    try:
        found = []
        for i in ids:
            try:
                found.append(eng.get_article(i).id)
            except Exception:  # noqa: BLE001 - a missing id is what the assertion reports
                pass
        return found
    finally:
        eng.close()


# ---------------------------------------------------------------- bombs and limits


@pytest.fixture(scope="module")
def bomb_run(tmp_path_factory) -> dict:
    """One directory with a bomb of every format next to good files, indexed once."""
    d = tmp_path_factory.mktemp("bombs") / "inbox"
    d.mkdir()
    good = h.good_jsonl(d / "good.jsonl")
    good += h.jsonl_line_bomb(d / "line.jsonl.gz", MAX_LINE_BYTES + 1024 * 1024)
    h.text_bomb(d / "dump.txt.gz", MAX_PAGE_BYTES + 1024 * 1024)
    h.html_bomb(d / "page.html.gz", MAX_PAGE_BYTES + 1024 * 1024)
    h.warc_bomb(d / "crawl.warc.gz", MAX_PAGE_BYTES + 1024 * 1024)
    h.truncated_warc(d / "cut.warc", gz=False)
    (d / "cutgz").mkdir()
    h.truncated_warc(d / "cutgz" / "cut.warc.gz", gz=True)
    h.truncated_warc(d / "cuthead.warc", gz=False, in_headers=True)
    h.truncated_warc(d / "cuthead.warc.gz", gz=True, in_headers=True)
    with open(d / "plain-line.jsonl", "wb") as f:  # an uncompressed file with one huge line
        f.write(b'{"id": "plain-bomb", "body": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n')
        f.write((json.dumps({"id": "after-plain", "title": "长行之后的记录", "body": "长行之后的正文，照常收录。"},
                            ensure_ascii=False) + "\n").encode())
    good.append("after-plain")
    with open(d / "values.jsonl", "wb") as f:  # a short line with more JSON values than may be built
        f.write(b'{"id": "values", "body": "b", "x": [' + b"{}," * MAX_JSON_VALUES + b'{}]}\n')
        f.write((json.dumps({"id": "after-values", "title": "多值记录之后", "body": "多值记录之后的正文。"},
                            ensure_ascii=False) + "\n").encode())
    good.append("after-values")
    with open(d / "brs.html", "wb") as f:  # a small page with more tags than lxml may build
        f.write(b"<html><body><p>" + "标签太多的页面。".encode() * 20 + b"</p>" + b"<br>" * (MAX_PAGE_TAGS + 10) + b"</body></html>")
    with open(d / "big.html", "wb") as f:  # a plain page over the limit
        f.write(b"<html><body>" + b"<p>x</p>" * (MAX_PAGE_BYTES // 8 + 10) + b"</body></html>")
    ix = d.parent / "index"
    r, summary = reindex(str(d), "--index", str(ix), "--procs", "1")
    return {"dir": d, "index": ix, "good": good, "r": r, "summary": summary}


@pytest.mark.parametrize("name, words", [
    ("line.jsonl.gz", ("line too long", "32 MiB")),
    ("plain-line.jsonl", ("line too long", "32 MiB")),
    ("dump.txt.gz", ("too large", "16 MiB")),
    ("page.html.gz", ("too large", "16 MiB")),
    ("big.html", ("too large", "16 MiB")),
    ("brs.html", ("too large", "200,000", "tags")),
    ("values.jsonl", ("too many JSON values", "1,000,000")),
    ("crawl.warc.gz", ("too large", "record payload")),
    ("cut.warc:", ("truncated record", "example.test/cut")),
    ("cut.warc.gz", ("truncated record", "example.test/cut")),
    ("cuthead.warc:", ("truncated record", "WARC headers")),
    ("cuthead.warc.gz", ("truncated record", "WARC headers")),
])
@pytest.mark.slow
def test_each_bomb_is_refused_with_one_line_naming_its_limit(bomb_run, name, words):
    r = bomb_run["r"]
    about = lines_about(r.stderr, name)
    assert len(about) == 1, r.stderr
    assert about[0].startswith("skipped ") and all(w in about[0] for w in words), about[0]
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr


def test_the_good_files_beside_the_bombs_are_indexed(bomb_run):
    r, summary = bomb_run["r"], bomb_run["summary"]
    assert r.returncode == 0, r.stderr
    # good.jsonl, the records around the line bomb and after the plain long line, the good WARC
    # records (before and after the 17 MiB one) and the whole record before each cut one
    good = bomb_run["good"]
    assert ids_in(bomb_run["index"], good) == good
    eng = SearchEngine(bomb_run["index"])
    titles = {t: eng.search(SearchRequest(q=t)).total for t in ("档案前页甲", "档案后页乙", "完整记录标题")}
    eng.close()
    assert titles == {"档案前页甲": 1, "档案后页乙": 1, "完整记录标题": 1}
    assert summary["indexed"] == len(good) + 2 + 1  # + 2 WARC pages + the whole record (once: same URL)
    assert summary["skipped"] == 15  # 12 refusals + 3 more copies of the whole WARC record (same id)


def test_a_warc_header_line_without_end_is_refused_not_read_whole(tmp_path):
    """warcio reads a header line whole; ours stops each record's headers at 1 MiB."""
    from search.ingest.limits import MAX_HEADER_BYTES

    d = tmp_path / "inbox"
    d.mkdir()
    h.warc_header_bomb(d / "headers.warc.gz", 16 * MAX_HEADER_BYTES)
    r, summary = reindex(str(d), "--index", str(tmp_path / "index"), "--procs", "1")
    assert r.returncode == 0, r.stderr
    about = lines_about(r.stderr, "headers.warc.gz")
    assert len(about) == 1 and "headers over 1 MiB" in about[0], r.stderr
    assert summary["indexed"] == 1  # the record before it
    eng = SearchEngine(tmp_path / "index")
    assert eng.search(SearchRequest(q="档案前页甲")).total == 1
    eng.close()


@pytest.mark.slow
def test_an_over_long_article_is_kept_cut_and_reported(tmp_path):
    d = tmp_path / "inbox"
    d.mkdir()
    aid = h.long_article(d / "long.jsonl", 3 * MAX_BODY_CHARS)
    ix = tmp_path / "index"
    r, summary = reindex(str(d), "--index", str(ix))
    assert r.returncode == 0, r.stderr
    assert summary["indexed"] == 3 and summary["skipped"] == 0 and summary["truncated"] == 1
    cut = lines_about(r.stderr, "long.jsonl")
    assert len(cut) == 1 and cut[0].startswith("cut ") and "body" in cut[0] and "kept" in cut[0], r.stderr
    art = SearchEngine(ix).get_article(aid)
    assert MAX_BODY_CHARS * 0.9 <= len(art.body) <= MAX_BODY_CHARS
    assert art.body.startswith(h._PARA)
    r = cli("reindex", str(d), "--index", str(ix), "--no-progress")
    assert "text cut 1" in r.stdout, r.stdout


@pytest.mark.slow
def test_a_tree_1100_levels_deep_with_a_symlink_loop_is_walked(tmp_path):
    d = tmp_path / "inbox"
    deepest = h.deep_tree(d, 1100)
    top = h.good_jsonl(d / "top.jsonl", tag="top")
    bottom = h.good_jsonl(deepest / "bottom.jsonl", tag="bottom")
    os.symlink("../../..", deepest / "loop")
    ix = tmp_path / "index"
    r, summary = reindex(str(d), "--index", str(ix), "--procs", "1")
    assert r.returncode == 0, r.stderr
    assert "RecursionError" not in r.stderr and "Traceback" not in r.stderr
    assert summary["indexed"] == 10
    assert ids_in(ix, top + bottom) == top + bottom
    loops = [p for p in summary["problems"] if "loop" in p["reason"]]
    assert len(loops) == 1 and loops[0]["path"].endswith("/loop")
    subprocess.run(["rm", "-rf", str(d)], check=False)  # pytest's cleanup (shutil.rmtree) recurses


# ---------------------------------------------------------------- ids


ODD_IDS = ["a/b", "/lead", "trail/", "a//b", "a/../b", "..b", "50%off", "with space", "问号?井号#",
           "amp&=+", "x" * 200]
REFUSED_IDS = {"x" * 201: "id too long", "..": "id refused", ".": "id refused", "tab\there": "id refused"}


@pytest.fixture(scope="module")
def odd_index(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("ids")
    path = d / "ids.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, rid in enumerate([*ODD_IDS, *REFUSED_IDS]):
            f.write(json.dumps({"id": rid, "title": f"怪异编号测试第{i}号",
                                "body": f"宜宾市珙县纪委监委持续强化日常监督，第{i}号。"}, ensure_ascii=False) + "\n")
    r, summary = reindex(str(path), "--index", str(d / "index"), "--procs", "1")
    return {"index": d / "index", "r": r, "summary": summary}


@pytest.mark.slow
def test_ids_a_link_cannot_carry_are_refused_at_ingest_with_a_reason(odd_index):
    r, summary = odd_index["r"], odd_index["summary"]
    assert r.returncode == 0 and summary["indexed"] == len(ODD_IDS), r.stderr
    reasons = [p["reason"] for p in summary["problems"]]
    assert sorted(w for w in REFUSED_IDS.values()) == sorted(x.split(":")[0] for x in reasons)
    assert len([ln for ln in r.stderr.splitlines() if ln.startswith("skipped ")]) == len(REFUSED_IDS)


def test_every_indexed_id_is_fetched_through_its_link_and_the_api(odd_index):
    from web import create_app

    client = create_app({"INDEX_DIR": str(odd_index["index"]), "TESTING": True}).test_client()
    seen = set()
    for page in range(1, 4):
        resp = client.get(f"/?q=怪异编号测试&collapse=false&page={page}")
        doc = lhtml.fromstring(resp.data)
        for a in doc.cssselect("a.title"):
            href = a.get("href")
            seg = href.split("?")[0][len("/article/"):]
            assert href.startswith("/article/") and "/" not in seg and seg not in (".", "..")  # one segment
            art = client.get(href)
            assert art.status_code == 200, href
            seen.add(lhtml.fromstring(art.data).cssselect("h1")[0].text_content())
    assert len(seen) == len(ODD_IDS)
    for rid in ODD_IDS:
        resp = client.get("/api/articles/" + quote(rid, safe=""))
        assert resp.status_code == 200 and resp.json["article"]["id"] == rid, rid


def test_ids_with_slashes_survive_a_real_server(odd_index, tmp_path):
    import urllib.request

    from webutil import free_port, start_server, stop_server

    port = free_port()
    proc = start_server(odd_index["index"], port, tmp_path / "server.log")
    try:
        for rid in ("a/b", "a//b", "a/../b", "trail/", "/lead", "with space", "50%off"):
            url = f"http://127.0.0.1:{port}/api/articles/{quote(rid, safe='')}"
            with urllib.request.urlopen(url, timeout=30) as resp:
                assert json.loads(resp.read())["article"]["id"] == rid
    finally:
        stop_server(proc)


# ---------------------------------------------------------------- Host header


def test_absolute_links_never_reflect_an_arbitrary_host(odd_index):
    from web import create_app

    evil = {"Host": "evil.example"}
    client = create_app({"INDEX_DIR": str(odd_index["index"])}).test_client()
    for url in ("/opensearch.xml", "/feed.xml?q=怪异编号测试", "/api/openapi.json"):
        resp = client.get(url, headers=evil)
        assert resp.status_code == 200 and b"evil.example" not in resp.data, url
    assert client.get("/api/openapi.json", headers=evil).json["servers"] == [{"url": "/"}]
    # a browser on the same machine still gets absolute links
    assert b"http://localhost/?q=" in client.get("/opensearch.xml").data

    base = create_app({"INDEX_DIR": str(odd_index["index"]), "BASE_URL": "https://news.example.org/"})
    client = base.test_client()
    assert client.get("/api/openapi.json", headers=evil).json["servers"] == [{"url": "https://news.example.org"}]
    feed = client.get("/feed.xml?q=怪异编号测试", headers=evil).data
    assert b"evil.example" not in feed and b'href="https://news.example.org/article/' in feed

    # the configured base wins over a loopback Host too
    assert client.get("/opensearch.xml").data.count(b"https://news.example.org/") >= 4


# ---------------------------------------------------------------- delete --wait


@pytest.mark.slow
def test_delete_while_busy_refuses_then_waits_with_wait(odd_index, tmp_path):
    ix = tmp_path / "index"
    shutil.copytree(odd_index["index"], ix)
    with writer_lock(ix):
        r = cli("delete", "a/b", "--index", str(ix))
        assert r.returncode == 1 and "--wait" in r.stderr and "Traceback" not in r.stderr
        proc = subprocess.Popen([sys.executable, "-m", "search.cli", "delete", "a/b", "--index", str(ix), "--wait"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert proc.poll() is None  # queued behind the lock
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0 and "deleted 1" in out, err
    assert ids_in(ix, ["a/b", "a//b"]) == ["a//b"]


# ---------------------------------------------------------------- full disk, debris


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


def _fsize_limit(nbytes: int):
    def set_limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return set_limit


def _records(n: int, start: int = 0) -> list[dict]:
    import gzip

    out = []
    with gzip.open(ROOT / "data" / "sample.jsonl.gz", "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= start + n:
                break
            if i >= start:
                out.append(json.loads(line))
    return out


def _write(path: Path, recs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), "utf-8")
    return path


def _snapshot(ix: Path) -> dict:
    eng = SearchEngine(ix)
    try:
        out = {"n": eng.article_count()}
        for q in ("新闻", "经济", "北京"):
            page = eng.search(SearchRequest(q=q, size=20, collapse=False))
            out[q] = (page.total, [hit.id for hit in page.hits])
        return out
    finally:
        eng.close()


def _files(ix: Path) -> set[str]:
    return {str(p.relative_to(ix)) for p in ix.rglob("*")}


@pytest.fixture
def small_disk(tmp_path):
    """(mount point, preexec) for a disk that fills up: a 64 MiB tmpfs, else RLIMIT_FSIZE."""
    mnt = tmp_path / "disk"
    if _mount_tmpfs(mnt, "64m"):
        yield mnt, None
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    else:
        mnt.mkdir(exist_ok=True)
        yield mnt, "fsize"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["incremental", "rebuild"])
def test_a_full_disk_is_one_line_exit_1_and_the_index_intact(tmp_path, small_disk, mode):
    mnt, how = small_disk
    ix = mnt / "index"
    base = _write(tmp_path / "base.jsonl", _records(40))
    more = _write(tmp_path / "more.jsonl", _records(1500, 40))
    r, _ = reindex(str(base), "--index", str(ix))
    assert r.returncode == 0, r.stderr
    before, files_before = _snapshot(ix), _files(ix)
    if how is None:  # fill the tmpfs but 2 MiB
        st = os.statvfs(mnt)
        with open(mnt / "filler", "wb") as f:
            os.posix_fallocate(f.fileno(), 0, st.f_bavail * st.f_frsize - 2 * 1024 * 1024)
        kw = {}
    else:  # files of the child may not grow past 2 MiB (the segment of 1,500 articles is bigger)
        kw = {"preexec_fn": _fsize_limit(2 * 1024 * 1024)}
    args = ["--rebuild"] if mode == "rebuild" else []
    r, _ = reindex(str(more), "--index", str(ix), *args, **kw)
    assert r.returncode == 1
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("Error: could not write the index at "), r.stderr
    assert ("No space left" if how is None else "too large") in err[0]
    assert "served index is unchanged" in err[0]
    assert _snapshot(ix) == before
    assert _files(ix) == files_before  # nothing left behind: no partial segment, MAIN.tmp, generation
    if how is None:
        (mnt / "filler").unlink()
        r, summary = reindex(str(more), "--index", str(ix), *args)
        assert r.returncode == 0 and summary["indexed"] == 1500, r.stderr


@pytest.mark.slow
def test_debris_of_killed_and_failed_writers_is_removed_by_the_next_run(tmp_path):
    ix = tmp_path / "index"
    r, _ = reindex(str(_write(tmp_path / "base.jsonl", _records(40))), "--index", str(ix))
    assert r.returncode == 0, r.stderr
    gen = next(ix.glob("g-*"))
    clean = _files(ix)
    # Real debris: an incremental run SIGKILLed while it writes its segment.
    big = _write(tmp_path / "big.jsonl", _records(2500, 40))
    proc = subprocess.Popen([sys.executable, "-m", "search.cli", "reindex", str(big), "--index", str(ix),
                             "--no-progress", "--procs", "1"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.suffix in (".trm", ".pst") for p in gen.iterdir() if str(p.relative_to(ix)) not in clean) \
                or (gen / "MAIN.tmp").exists():
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    # What a --rebuild that failed before its first commit, and one killed between writing
    # .CURRENT.<pid>.tmp and renaming it, leave behind (made as those code paths make them).
    empty = ix / "g-99991231T000000000000-dead00"
    empty.mkdir()
    (empty / "MAIN_WRITELOCK").touch()
    (ix / ".CURRENT.4242.tmp").write_text(empty.name + "\n")
    assert _files(ix) - clean, "the kill left nothing behind to clean"
    r = cli("delete", "no-such-id", "--index", str(ix))  # any writing command cleans first
    assert "not in the index" in r.stderr
    assert _files(ix) - clean == set(), sorted(_files(ix) - clean)
    r, summary = reindex(str(big), "--index", str(ix))
    assert r.returncode == 0 and summary["indexed"] == 2500, r.stderr
