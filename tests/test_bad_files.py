"""Bad files at scale: a directory mixing good inputs with every kind of broken one.

Good: a jsonl, good lines inside a jsonl full of bad lines, the intact prefix of a truncated
``.jsonl.gz``, HTML pages. Bad: a truncated ``.html.gz``, invalid JSON lines, a line that is
not UTF-8, records without text, binary junk named ``.html``, empty files, a file of an
unknown type, a dangling symlink, a symlink to itself, a directory symlink loop, and a FIFO.

*Unreadable files:* the suite runs as root, where ``chmod 000`` does not stop a read, so
"unreadable" is exercised with entries whose open fails or would block whoever the user is:
a dangling symlink (ENOENT), a self-referential symlink (ELOOP) and a FIFO (open blocks
until a writer appears — it must be skipped, not waited on).

The run is the real CLI in a subprocess: every good article is indexed (count checked),
every bad input is reported with its reason on stderr and in the ``--json`` summary, and
the exit status says whether anything was indexed.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from search import SearchEngine, SearchRequest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample.jsonl.gz"
TIMEOUT = 240  # a hang (e.g. on a FIFO) fails the test instead of blocking the suite


def sample(n: int, start: int, tag: str) -> list[dict]:
    out = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= start + n:
                break
            if i >= start:
                rec = json.loads(line)
                rec["id"] = f"{tag}-{rec['id']}"
                out.append(rec)
    return out


def jl(recs: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs)


def html_page(rec: dict) -> str:
    paras = "".join(f"<p>{p}</p>\n" for p in rec["body"].split("\n") if p.strip())
    return (f"<!DOCTYPE html><html lang=zh-CN><head><meta charset=utf-8><title>{rec['title']}</title></head>"
            f"<body><nav><a href=/>首页</a> <a href=/gn>国内</a></nav><div class=article><h1>{rec['title']}</h1>"
            f"<div class=info>2024年04月29日 13:45 来源：测试日报</div>{paras}</div>"
            f"<footer>版权所有 测试日报</footer></body></html>")


def complete_lines(truncated_gz: bytes) -> int:
    """How many whole lines can be decompressed from the start of a truncated gzip stream."""
    d = zlib.decompressobj(wbits=31)
    data = d.decompress(truncated_gz)
    return data.count(b"\n")


def run_reindex(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "search.cli", "reindex", *args, "--no-progress", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def mess(tmp_path_factory) -> dict:
    """Write the mixed directory; return it with the expected good ids and bad inputs."""
    d = tmp_path_factory.mktemp("bad-files") / "inbox"
    (d / "deep" / "deeper").mkdir(parents=True)
    good: list[str] = []
    bad: dict[str, str | tuple[str, ...]] = {}  # path (relative) -> word(s) the reason must contain

    recs = sample(25, 0, "good")
    (d / "good.jsonl").write_text(jl(recs), "utf-8")
    good += [r["id"] for r in recs]

    mixed = sample(10, 25, "mixed")
    lines = []
    for i, r in enumerate(mixed):
        lines.append(json.dumps(r, ensure_ascii=False).encode())
        if i == 2:
            lines.append(b'{"id": "broken", "title": "\xe5\x8f')  # cut mid-record
        if i == 4:
            lines.append(b"\xff\xfe not utf-8 \x80\x81")
        if i == 6:
            lines.append(b'["an", "array"]')
        if i == 7:
            lines.append(json.dumps({"id": "no-text", "title": "", "body": ""}).encode())
    (d / "deep" / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    good += [r["id"] for r in mixed]
    bad["deep/mixed.jsonl"] = "JSON"

    trunc_recs = sample(40, 35, "trunc")
    full = gzip.compress(jl(trunc_recs).encode("utf-8"))
    cut = full[: len(full) * 2 // 3]
    (d / "deep" / "deeper" / "truncated.jsonl.gz").write_bytes(cut)
    n_ok = complete_lines(cut)
    assert 0 < n_ok < 40
    good += [r["id"] for r in trunc_recs[:n_ok]]
    bad["deep/deeper/truncated.jsonl.gz"] = "gzip"

    for i, r in enumerate(sample(4, 80, "page")):
        (d / f"page{i}.html").write_text(html_page(r), "utf-8")
    good_pages = 4

    page = gzip.compress(html_page(sample(1, 90, "gz")[0]).encode())
    (d / "truncated.html.gz").write_bytes(page[: len(page) // 2])
    bad["truncated.html.gz"] = "gzip"

    (d / "junk.html").write_bytes(bytes(random.Random(5).randrange(256) for _ in range(16384)))
    bad["junk.html"] = ("binary", "not html", "not text")
    (d / "empty.html").write_bytes(b"")
    bad["empty.html"] = "empty"
    (d / "empty.jsonl").write_bytes(b"")
    bad["empty.jsonl"] = "empty"
    (d / "whitespace.txt").write_text(" \n\t\n", "utf-8")
    bad["whitespace.txt"] = "empty"
    (d / "report.pdf").write_bytes(b"%PDF-1.4 junk")
    bad["report.pdf"] = "type"
    os.symlink("does-not-exist.html", d / "dangling.html")
    bad["dangling.html"] = "No such file"
    os.symlink("self.html", d / "self.html")
    bad["self.html"] = "symbolic links"
    os.symlink("..", d / "deep" / "loop")
    bad["deep/loop"] = "loop"
    return {"dir": d, "good": good, "good_pages": good_pages, "bad": bad}


@pytest.mark.slow
def test_mixed_directory_indexes_every_good_article_and_reports_every_bad_input(tmp_path, mess):
    ix = tmp_path / "index"
    r = run_reindex(str(mess["dir"]), "--index", str(ix), "--rebuild")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    expected = len(mess["good"]) + mess["good_pages"]
    assert summary["indexed"] == expected, (summary["indexed"], expected, summary["problems"])

    engine = SearchEngine(ix)
    assert engine.article_count() == expected
    for aid in mess["good"]:
        assert engine.get_article(aid).id == aid

    reported = {}
    for p in summary["problems"]:
        rel = os.path.relpath(p["path"], mess["dir"])
        reported.setdefault(rel, []).append(p["reason"])
    for rel, word in mess["bad"].items():
        assert rel in reported, (rel, sorted(reported))
        words = (word,) if isinstance(word, str) else word
        assert any(w.lower() in reason.lower() for w in words for reason in reported[rel]), (rel, reported[rel])
        assert f"skipped {mess['dir'] / rel}" in r.stderr, rel
    # four bad lines in mixed.jsonl, each with its line number
    assert len([x for x in summary["problems"] if x["path"].endswith("mixed.jsonl")]) == 4
    assert all(x["line"] for x in summary["problems"] if x["path"].endswith("mixed.jsonl"))
    assert summary["skipped"] == len(summary["problems"])
    assert not [p for p in summary["problems"] if "internal error" in p["reason"]]


@pytest.mark.slow
def test_only_bad_inputs_exit_1_and_keep_the_served_index(tmp_path, mess):
    ix = tmp_path / "index"
    ok = run_reindex(str(mess["dir"] / "good.jsonl"), "--index", str(ix), "--rebuild")
    assert ok.returncode == 0, ok.stderr
    bad_inputs = [str(mess["dir"] / n) for n in ("junk.html", "empty.html", "truncated.html.gz", "report.pdf")]
    r = subprocess.run([sys.executable, "-m", "search.cli", "reindex", *bad_inputs, "--index", str(ix),
                        "--rebuild", "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 1
    assert "nothing could be indexed" in r.stderr and "unchanged" in r.stderr
    assert "Traceback" not in r.stderr
    assert SearchEngine(ix).article_count() == 25


@pytest.mark.slow
def test_a_fifo_among_the_inputs_is_skipped_not_waited_on(tmp_path, mess):
    """An entry that is not a regular file (a FIFO here) must be reported, not opened:
    opening a FIFO blocks until a writer appears, which would hang a cron reindex forever
    while it holds the writer lock."""
    d = tmp_path / "inbox"
    d.mkdir()
    (d / "good.jsonl").write_text(jl(sample(5, 0, "f")), "utf-8")
    os.mkfifo(d / "pipe.html")
    os.mkfifo(d / "pipe.jsonl")
    try:
        r = run_reindex(str(d), "--index", str(tmp_path / "index"), "--rebuild", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("reindex hung (30 s, 5 articles) on a FIFO in the input directory")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["indexed"] == 5
    assert {os.path.basename(p["path"]) for p in summary["problems"]} == {"pipe.html", "pipe.jsonl"}


@pytest.mark.slow
def test_a_50_mb_page_is_indexed_or_refused_with_a_reason(tmp_path):
    """A 50 MB HTML page: either indexed (its text possibly cut) or reported (too large)."""
    d = tmp_path / "inbox"
    d.mkdir()
    para = "<p>" + "四川省宜宾市珙县纪委监委持续强化日常监督，推动巡察整改落实落细。" * 40 + "</p>\n"
    target = 50 * 1024 * 1024
    with open(d / "huge.html", "w", encoding="utf-8") as f:
        f.write("<html><head><meta charset=utf-8><title>巨大页面测试</title></head><body>")
        written = 0
        i = 0
        while written < target:
            chunk = para.replace("第", f"第{i}")  # varied, so the page is not one repeated line
            f.write(chunk)
            written += len(chunk.encode())
            i += 1
        f.write("</body></html>")
    (d / "small.jsonl").write_text(jl(sample(3, 0, "s")), "utf-8")
    r = run_reindex(str(d), "--index", str(tmp_path / "index"), "--rebuild")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    huge = [p for p in summary["problems"] if p["path"].endswith("huge.html")]
    if huge:
        assert summary["indexed"] == 3
        assert huge[0]["reason"].strip()
    else:
        assert summary["indexed"] == 4
        hit = SearchEngine(tmp_path / "index").search(SearchRequest(q="巨大页面测试")).hits
        assert hit and hit[0].title == "巨大页面测试"
