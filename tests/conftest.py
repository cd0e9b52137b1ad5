"""Shared fixtures for the core tests: paths, the handcrafted article set and a real index built from it.

``tests/fixtures/core_articles.jsonl`` holds short articles written for these tests (not
taken from any corpus), one per behaviour under test: a word whole vs. inside a longer
word, a phrase together vs. apart, Latin and full-width text, traditional script, date
boundaries in Asia/Shanghai, undated articles and three near-duplicate copies of one story.
The seed page (``data/seed/000_6ede58738be5c303.txt``, traditional script with pinyin
annotations) is indexed with them. The index is built once per session by the real
indexer (``search.indexer.reindex``); tests that change an index build their own.

``tests/webutil.py`` belongs to the web tests and is not used here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from search import SearchEngine
from search.indexer import reindex

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CORE_ARTICLES = FIXTURES / "core_articles.jsonl"
SEED = ROOT / "data" / "seed" / "000_6ede58738be5c303.txt"
SEED_ID = "txt-a1083395b3e5"  # extract's id for the seed page (a hash of its text)
# The shared real-data folder (read-only, never committed); override with XUNWEN_CORPUS.
CORPUS = Path(os.environ.get("XUNWEN_CORPUS", ROOT.parent / "shared" / "corpus"))
# `xunwen reindex` lowers its own CPU priority by default (a cron run beside a server); run in
# process by the CLI tests it would lower the test runner's, and with it every later test's.
os.environ.setdefault("XUNWEN_NICE", "0")
COPY_IDS = ("core-copy-1", "core-copy-2", "core-copy-3")


def corpus(name: str) -> Path:
    """Return a file of the shared corpus, or skip the test when it is not on this machine."""
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"shared corpus file {path} not present (set XUNWEN_CORPUS to its folder)")
    return path


def core_records() -> list[dict[str, Any]]:
    """Return the handcrafted fixture records as dicts."""
    with CORE_ARTICLES.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    """Write records as JSON lines and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def build_core_index(index_dir: Path, *, procs: int = 1) -> Path:
    """Index the fixture articles and the seed page into ``index_dir`` with the real indexer."""
    summary = reindex([CORE_ARTICLES, SEED], index_dir, procs=procs)
    assert summary.indexed == len(core_records()) + 1, summary.to_dict()
    return index_dir


@pytest.fixture(scope="session")
def core_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide read-only index of the fixture articles plus the seed page (do not modify)."""
    return build_core_index(tmp_path_factory.mktemp("core") / "index", procs=2)


@pytest.fixture(scope="session")
def engine(core_index: Path) -> SearchEngine:
    """A SearchEngine over the session index."""
    return SearchEngine(core_index)


@pytest.fixture
def fresh_index(tmp_path: Path) -> Path:
    """A private copy of the core index for tests that write to it."""
    return build_core_index(tmp_path / "index")
