"""Serving: a first start builds the sample index; a rebuilt index is served without a restart."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from search.indexer import reindex
from web import create_app
from webutil import corpus_records, free_port, start_server, stop_server, write_corpus


def test_served_app_follows_a_rebuild_swap(tmp_path: Path) -> None:
    records = corpus_records()
    index_dir = tmp_path / "index"
    reindex([write_corpus(tmp_path / "a.jsonl", records)], index_dir, rebuild=True, procs=1)
    client = create_app({"INDEX_DIR": str(index_dir), "TESTING": True}).test_client()
    assert client.get("/healthz").get_json()["articles"] == len(records)
    before = client.get("/api/search?q=旅游").get_json()["total"]
    assert before > 0

    fewer = [r for r in records if not r["id"].startswith("trv-")]
    reindex([write_corpus(tmp_path / "b.jsonl", fewer)], index_dir, rebuild=True, procs=1)
    # The engine looks for a swapped generation at most every fraction of a second: poll.
    deadline = time.monotonic() + 30
    while client.get("/healthz").get_json()["articles"] != len(fewer):
        assert time.monotonic() < deadline, "the rebuilt index was never served"
        time.sleep(0.1)
    # No article holds every word any more: the relaxed fallback answers, without the removed ones.
    got = client.get("/api/search?q=春季乡村旅游&size=100").get_json()
    assert got["relaxed"] is True
    assert not [h["id"] for h in got["hits"] if h["id"].startswith("trv-")]


@pytest.mark.slow
def test_first_start_builds_the_sample_index(tmp_path: Path) -> None:
    index_dir = tmp_path / "fresh-index"
    log = tmp_path / "serve.log"
    port = free_port()
    proc = start_server(index_dir, port, log, timeout=600)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
            articles = json.loads(resp.read())["articles"]
    finally:
        stop_server(proc)
    assert articles > 2000  # the bundled sample
    text = log.read_text(errors="replace")
    assert "building it from the bundled sample" in text
    assert "indexing" in text  # the progress bar


@pytest.mark.slow
def test_server_warms_a_swapped_in_index_before_anyone_searches(tmp_path: Path) -> None:
    records = corpus_records()
    index_dir = tmp_path / "index"
    reindex([write_corpus(tmp_path / "a.jsonl", records)], index_dir, rebuild=True, procs=1)
    log = tmp_path / "serve.log"
    proc = start_server(index_dir, free_port(), log, verbose=True)
    try:
        s = reindex([write_corpus(tmp_path / "b.jsonl", records[:20])], index_dir, rebuild=True, procs=1)
        # No request is sent: the server's warmer alone must build the new generation's caches.
        deadline = time.monotonic() + 30
        while f"lexicon of {s.generation} built" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
            time.sleep(0.2)
    finally:
        stop_server(proc)
