"""The operator's first hour, through real processes: a busy port, an unreadable index, and
reindex progress on a terminal and in a log (cron, CI)."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from webutil import ROOT, build_index, corpus_records, write_corpus


def _xunwen(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "search.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def _one_line_error(r: subprocess.CompletedProcess, *needles: str) -> str:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_busy_port_is_one_line_and_exit_1(tmp_path_factory: pytest.TempPathFactory) -> None:
    index_dir = build_index(tmp_path_factory.getbasetemp() / "web-corpus")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = _xunwen("serve", "--index", str(index_dir), "--port", str(port), timeout=120)
    line = _one_line_error(r, str(port), "already in use", "--port")
    assert "serving" not in r.stderr + r.stdout, line


def _damaged_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    gen = next(p for p in dst.iterdir() if p.is_dir())
    postings = sorted(gen.glob("*.pst"))
    assert postings
    for p in postings:
        p.unlink()  # a file the index needs is gone (a half-copied backup, a full disk)
    return dst


@pytest.mark.slow
def test_unreadable_index_is_one_line_and_exit_1(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    index_dir = build_index(tmp_path_factory.getbasetemp() / "web-corpus")
    bad = _damaged_copy(index_dir, tmp_path / "bad")
    for args in (("search", "监督"), ("stats",)):
        _one_line_error(_xunwen(*args, "--index", str(bad)), "cannot read the index", str(bad), "reindex --rebuild")
    # a path that is a file, not a directory: one line too (click's own message)
    (tmp_path / "file").write_text("x")
    r = _xunwen("search", "监督", "--index", str(tmp_path / "file"))
    assert r.returncode != 0 and "Traceback" not in r.stderr


@pytest.mark.slow
def test_reindex_logs_progress_lines_when_not_on_a_terminal(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    n = len(corpus_records())
    r = _xunwen("reindex", str(corpus), "--index", str(tmp_path / "ix"), "--rebuild", "--procs", "1",
                env={"XUNWEN_PROGRESS_EVERY": "0"})
    assert r.returncode == 0, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("indexing: ")]
    assert len(lines) >= n // 2, r.stderr[-2000:]
    pat = re.compile(r"^indexing: ([\d,]+) of ~([\d,]+) articles \((\d+) %\), [\d,]+ articles/s, .+ elapsed(, ETA .+)?$")
    parsed = [pat.match(x) for x in lines]
    assert all(parsed), [x for x, m in zip(lines, parsed) if not m][:3]
    done = [int(m.group(1).replace(",", "")) for m in parsed]
    assert done == sorted(done) and done[-1] == n
    assert {int(m.group(2)) for m in parsed} == {n}  # the total is known before the first article
    assert any(m.group(4) for m in parsed[:-1]), "an ETA while running"
    assert parsed[-1].group(3) == "100"
    assert "\r" not in r.stderr and "\x1b[" not in r.stderr  # a log, not a redrawn bar
    assert re.search(r"^read [\d,]+, indexed [\d,]+", r.stdout, re.M)


@pytest.mark.slow
def test_reindex_draws_a_bar_with_total_rate_and_eta_on_a_terminal(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    n = len(corpus_records())
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "search.cli", "reindex", str(corpus), "--index",
                             str(tmp_path / "ix"), "--rebuild", "--procs", "1"],
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        proc.wait(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-2000:]
    text = out.decode("utf-8", "replace")
    assert f"{n}/{n}" in text and "100%" in text, text[-1000:]  # a total, and reached
    assert "articles/s" in text and re.search(r"<\d\d:\d\d", text), text[-1000:]  # rate and ETA


@pytest.mark.slow
def test_one_article_is_singular(tmp_path: Path) -> None:
    rec = corpus_records()[0]
    corpus = write_corpus(tmp_path / "one.jsonl", [rec])
    assert _xunwen("reindex", str(corpus), "--index", str(tmp_path / "ix"), "--no-progress").returncode == 0
    r = _xunwen("search", "监督", "--index", str(tmp_path / "ix"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("1 article (1 story, "), r.stdout[:80]


@pytest.mark.slow
def test_cli_region_filter_takes_full_names(tmp_path_factory: pytest.TempPathFactory) -> None:
    index_dir = build_index(tmp_path_factory.getbasetemp() / "web-corpus")
    short = _xunwen("search", "监督", "--region", "宜宾", "--index", str(index_dir))
    full = _xunwen("search", "监督", "--region", "宜宾市", "--index", str(index_dir))
    assert short.returncode == full.returncode == 0
    first = short.stdout.splitlines()[0].split(" (")[0]
    assert first == full.stdout.splitlines()[0].split(" (")[0] and not first.startswith("0 ")
