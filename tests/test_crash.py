"""Crash safety: SIGKILL a real ``xunwen reindex`` part-way and check what is left.

* ``--rebuild`` killed while it writes: the served generation is untouched (same article
  count, same results for a fixed query set) and the same command run again completes.
* An incremental run killed while it writes or commits: the index still opens, every
  article committed before is still there, and the next run completes.

Everything here is a real subprocess (``python -m search.cli``) over a real index in a
temp dir; kills are real SIGKILLs. The kill points are found by watching the index
directory (a new generation appears, Whoosh files appear in it), not by sleeping.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from search import SearchEngine, SearchRequest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample.jsonl.gz"
QUERIES = ("习近平", "经济 发展", '"新闻联播"', "会议", "疫情 防控", "北京 OR 上海", "-会议 合作")
BASE_N = 120


def sample_records(n: int, start: int = 0, tag: str = "") -> list[dict]:
    """Return ``n`` records of the bundled sample from ``start`` (ids prefixed with ``tag``)."""
    out = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i < start:
                continue
            if len(out) >= n:
                break
            rec = json.loads(line)
            if tag:
                rec["id"] = f"{tag}-{rec['id']}"
            out.append(rec)
    assert len(out) == n, f"the sample has fewer than {start + n} records"
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run ``python -m search.cli ARGS`` to completion."""
    return subprocess.run([sys.executable, "-m", "search.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def start(*args: str) -> subprocess.Popen:
    """Start ``python -m search.cli ARGS`` in its own process group (so its workers can be reaped)."""
    return subprocess.Popen([sys.executable, "-m", "search.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def reap_group(proc: subprocess.Popen) -> list[int]:
    """SIGKILL whatever is left of ``proc``'s process group; return the pids that were left."""
    left = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) == proc.pid and int(pid) != proc.pid:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":  # a dead worker waiting for init to reap it is not running
                    left.append(int(pid))
        except OSError:
            continue
    if left:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    for pipe in (proc.stdout, proc.stderr):
        if pipe:
            pipe.close()
    return left


def wait_for(cond, proc: subprocess.Popen, limit: float = 120.0, step: float = 0.005) -> bool:
    """Poll ``cond()`` until it holds (True) or ``proc`` ends / ``limit`` passes (False)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return True
        if proc.poll() is not None:
            return bool(cond())
        time.sleep(step)
    return False


def generations(index_dir: Path) -> set[str]:
    return {p.name for p in index_dir.glob("g-*") if p.is_dir()}


def fingerprint(index_dir: Path) -> dict:
    """What a reader sees: article count and (total, first ids) for each query of a fixed set."""
    eng = SearchEngine(index_dir)
    out = {"articles": eng.article_count()}
    for q in QUERIES:
        page = eng.search(SearchRequest(q=q, size=20, collapse=False))
        out[q] = (page.total, [h.id for h in page.hits])
    eng.close()
    return out


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("crash-corpora")
    return {
        "base": write_jsonl(d / "base.jsonl", sample_records(BASE_N)),
        # big enough that the kill lands while the rebuild is writing
        "big": write_jsonl(d / "big.jsonl", sample_records(700, start=BASE_N)),
        "more": write_jsonl(d / "more.jsonl", sample_records(300, start=BASE_N + 700)),
    }


@pytest.fixture(scope="module")
def base_index(tmp_path_factory, corpora) -> Path:
    """A served index of BASE_N sample articles, built once; tests copy it."""
    ix = tmp_path_factory.mktemp("crash-base") / "index"
    r = cli("reindex", str(corpora["base"]), "--index", str(ix), "--rebuild", "--no-progress")
    assert r.returncode == 0, r.stderr
    return ix


def copy_index(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst, symlinks=True)
    return dst


def children(pid: int) -> list[int]:
    """Return the pids whose parent is ``pid``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _writing_started(ix: Path, before: set[str], proc: subprocess.Popen | None = None):
    """True once a new generation holds Whoosh files (and, given ``proc``, its workers run)."""

    def cond() -> bool:
        if proc is not None and not children(proc.pid):
            return False
        for name in generations(ix) - before:
            if any(p.suffix in (".trm", ".pst", ".seg") or p.name == "MAIN.tmp" for p in (ix / name).iterdir()):
                return True
        return False

    return cond


def _rebuild_while_writing(tmp_path, corpora, base_index) -> tuple[Path, dict, set[str], str, subprocess.Popen]:
    """Copy the base index, start ``reindex --rebuild`` of the big corpus with 2 workers and
    wait until its new generation is being written; return (index, fingerprint, generations,
    CURRENT, proc) as they were before the rebuild started."""
    ix = copy_index(base_index, tmp_path / "index")
    before = fingerprint(ix)
    gens_before = generations(ix)
    current_before = (ix / "CURRENT").read_text()
    proc = start("reindex", str(corpora["big"]), "--index", str(ix), "--rebuild", "--no-progress", "--procs", "2")
    started = wait_for(_writing_started(ix, gens_before, proc), proc)
    assert started and proc.poll() is None, "the rebuild finished before it could be interrupted"
    return ix, before, gens_before, current_before, proc


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["group", "parent-only"])
def test_rebuild_killed_while_writing_leaves_served_index_unchanged(tmp_path, corpora, base_index, kill):
    """SIGKILL ``reindex --rebuild`` once its new generation is being written.

    ``group`` kills the command and its Whoosh worker processes (``kill -9 -PGID``, as a
    supervisor would); ``parent-only`` kills just the command, as the kernel's OOM killer
    does, and leaves its workers orphaned.
    """
    ix, before, _gens, current_before, proc = _rebuild_while_writing(tmp_path, corpora, base_index)
    try:
        if kill == "group":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL

        # The served index is exactly what it was.
        assert (ix / "CURRENT").read_text() == current_before
        assert fingerprint(ix) == before

        # Running the same command again completes (orphaned workers, if any, must not block it).
        r = cli("reindex", str(corpora["big"]), "--index", str(ix), "--rebuild", "--no-progress", timeout=300)
        assert r.returncode == 0, (
            f"rerun after a SIGKILL ({kill}) failed: {r.stderr.strip()}"
        )
        after = SearchEngine(ix)
        assert after.article_count() == 700
        assert after.get_article(f"{json.loads(corpora['big'].read_text().splitlines()[0])['id']}")
    finally:
        orphans = reap_group(proc)
    if kill == "parent-only":
        # Whoosh's worker processes do not notice that their parent died.
        assert not orphans, f"orphaned reindex workers were still alive after the rerun: {orphans}"


@pytest.mark.slow
def test_rebuild_killed_leftovers_are_cleaned_by_the_next_rebuild(tmp_path, corpora, base_index):
    """A killed rebuild leaves a half-written generation; later rebuilds must not keep it
    in place of the generation that was being served."""
    ix = copy_index(base_index, tmp_path / "index")
    served = (ix / "CURRENT").read_text().strip()
    proc = start("reindex", str(corpora["base"]), "--index", str(ix), "--rebuild", "--no-progress", "--procs", "1")
    try:
        assert wait_for(_writing_started(ix, {served}), proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        reap_group(proc)
    half = generations(ix) - {served}
    assert len(half) == 1
    r = cli("reindex", str(corpora["base"]), "--index", str(ix), "--rebuild", "--no-progress", "--procs", "1")
    assert r.returncode == 0, r.stderr
    now = (ix / "CURRENT").read_text().strip()
    kept = generations(ix)
    assert now in kept
    # The previously served generation (readers may still hold it) outlives the half-built one.
    assert served in kept, f"the served generation was pruned and the half-built {half} kept: {kept}"
    assert fingerprint(ix)["articles"] == BASE_N


def _new_whoosh_files(gen: Path, before: set[str], suffixes: tuple[str, ...]):
    def cond() -> bool:
        try:
            names = {p.name for p in gen.iterdir()}
        except FileNotFoundError:
            return False
        return any(n not in before and n.endswith(suffixes) for n in names)

    return cond


@pytest.mark.slow
@pytest.mark.parametrize("point", ["writing", "commit"])
def test_incremental_killed_keeps_committed_articles(tmp_path, corpora, base_index, point):
    """SIGKILL an incremental ``reindex`` while it writes (first new Whoosh file) or commits
    (a new compound segment or TOC appears): committed articles survive, the next run completes."""
    ix = copy_index(base_index, tmp_path / "index")
    base_ids = [json.loads(line)["id"] for line in corpora["base"].read_text().splitlines()]
    before = fingerprint(ix)
    gen = ix / (ix / "CURRENT").read_text().strip()
    files_before = {p.name for p in gen.iterdir()}
    suffixes = (".trm", ".pst", ".fdt", ".seg", ".toc") if point == "writing" else (".seg", ".toc")

    proc = start("reindex", str(corpora["more"]), "--index", str(ix), "--no-progress")
    try:
        wait_for(_new_whoosh_files(gen, files_before, suffixes), proc, step=0.001)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        reap_group(proc)
    killed = proc.returncode == -signal.SIGKILL
    if point == "writing":
        assert killed, "the incremental run finished before it wrote anything"

    # The index opens, and everything committed before is there.
    eng = SearchEngine(ix)
    n = eng.article_count()
    assert n in (BASE_N, BASE_N + 300), n
    for i in base_ids:
        assert eng.get_article(i).id == i
    if n == BASE_N:  # the kill landed before the commit: readers see the old commit exactly
        assert fingerprint(ix) == before
    st = cli("stats", "--index", str(ix), "--json")
    assert st.returncode == 0, st.stderr

    # The next run completes and leaves every article findable.
    r = cli("reindex", str(corpora["more"]), "--index", str(ix), "--no-progress", "--json")
    assert r.returncode == 0, (f"next run after a kill at {point} (killed={killed}) failed", r.stdout, r.stderr)
    summary = json.loads(r.stdout)
    assert summary["indexed"] == 300
    eng = SearchEngine(ix)
    assert eng.article_count() == BASE_N + 300
    more_ids = [json.loads(line)["id"] for line in corpora["more"].read_text().splitlines()]
    for i in base_ids[:20] + more_ids[:20] + more_ids[-5:]:
        assert eng.get_article(i).id == i


@pytest.mark.slow
def test_rebuild_whose_writer_worker_dies_fails_and_keeps_the_served_index(tmp_path, corpora, base_index):
    """SIGKILL one of the rebuild's writer worker processes (the OOM killer's pick): Whoosh's
    own multi-process commit would leave that worker's segment out and report success; ours
    fails the rebuild with a message, and the served index is unchanged."""
    ix, before, gens_before, current_before, proc = _rebuild_while_writing(tmp_path, corpora, base_index)
    try:
        workers = children(proc.pid)
        assert workers, "the rebuild has no worker processes to kill"
        os.kill(workers[0], signal.SIGKILL)
        _out, err = proc.communicate(timeout=240)
        assert proc.returncode != 0
        assert "writer process died" in err and "Traceback" not in err, err[-2000:]
        assert (ix / "CURRENT").read_text() == current_before
        assert fingerprint(ix) == before
        assert generations(ix) == gens_before  # the abandoned generation is removed
    finally:
        reap_group(proc)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@pytest.mark.slow
def test_rebuild_whose_writer_worker_dies_at_commit_leaves_no_generation(tmp_path, corpora, base_index):
    """A worker that dies after every article was handed out fails the commit itself; the
    abandoned generation (the other worker's segment) is removed, not left on disk."""
    ix = copy_index(base_index, tmp_path / "index")
    gens_before = generations(ix)
    current_before = (ix / "CURRENT").read_text()
    # 700 articles: 3 jobs of 256 and the end-of-input marks fit the job queue of 2 workers.
    proc = start("reindex", str(corpora["big"]), "--index", str(ix), "--rebuild", "--no-progress", "--procs", "2")
    try:
        assert wait_for(lambda: len(children(proc.pid)) == 2, proc), "no writer workers started"
        workers = children(proc.pid)
        for w in workers:
            os.kill(w, signal.SIGSTOP)
        # The main process reads every article, then waits in the commit for the stopped workers.
        last, idle = -1, 0
        while idle < 10 and proc.poll() is None:
            now = _cpu_ticks(proc.pid)
            idle = idle + 1 if now == last else 0
            last = now
            time.sleep(0.1)
        os.kill(workers[0], signal.SIGKILL)
        os.kill(workers[1], signal.SIGCONT)
        _out, err = proc.communicate(timeout=240)
        assert proc.returncode != 0
        assert "writer process" in err and "Traceback" not in err, err[-2000:]
        assert (ix / "CURRENT").read_text() == current_before
        assert generations(ix) == gens_before
    finally:
        reap_group(proc)
