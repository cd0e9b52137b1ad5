"""Tests for the ``xunwen`` command (search.cli) through Click's CliRunner, on real indexes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import CORE_ARTICLES, SEED, SEED_ID, core_records, write_jsonl
from search import SearchEngine, SearchRequest
from search.cli import main
from search.schema import SCHEMA_VERSION
from search.store.generations import current_generation
from search.store.lock import writer_lock

N_DOCS = len(core_records()) + 1


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str, env: dict[str, str] | None = None):
    return runner.invoke(main, list(args), env=env, catch_exceptions=False)


def test_help_and_version(runner) -> None:
    r = run(runner, "--help")
    assert r.exit_code == 0, r.output
    for cmd in ("reindex", "search", "stats", "delete", "extract", "serve"):
        assert cmd in r.output
    r = run(runner, "--version")
    assert r.exit_code == 0 and "0.1.0" in r.output


# ---------------------------------------------------------------- reindex


def test_reindex_prints_a_summary_and_builds_an_index(runner, tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    r = run(runner, "reindex", str(CORE_ARTICLES), str(SEED), "--index", str(ix), "--procs", "1", "--no-progress")
    assert r.exit_code == 0, r.output
    assert f"read {N_DOCS}, indexed {N_DOCS} (added {N_DOCS}, replaced 0), skipped 0, near-duplicates 2" in r.stdout
    assert "articles/s" in r.stdout and current_generation(ix).name in r.stdout
    # again: incremental, every article replaced by id
    r = run(runner, "reindex", str(CORE_ARTICLES), "--index", str(ix), "--procs", "1", "--no-progress")
    assert r.exit_code == 0, r.output
    assert f"indexed {N_DOCS - 1} (added 0, replaced {N_DOCS - 1})" in r.stdout
    assert SearchEngine(ix).article_count() == N_DOCS


def test_reindex_json_summary(runner, tmp_path: Path) -> None:
    r = run(runner, "reindex", str(SEED), "--index", str(tmp_path / "ix"), "--json", "--procs", "1")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert (d["read"], d["indexed"], d["added"], d["replaced"], d["skipped"]) == (1, 1, 1, 0, 0)
    assert {"generation", "rebuild", "near_duplicates", "seconds", "rate", "problems", "skip_reasons"} <= set(d)


def test_reindex_with_a_progress_bar(runner, tmp_path: Path) -> None:
    r = run(runner, "reindex", str(SEED), "--index", str(tmp_path / "ix"), "--progress", "--procs", "1")
    assert r.exit_code == 0, r.output
    assert "indexed 1" in r.stdout


def test_reindex_index_dir_from_the_environment(runner, tmp_path: Path) -> None:
    ix = tmp_path / "from-env"
    r = run(runner, "reindex", str(SEED), "--procs", "1", env={"XUNWEN_INDEX_DIR": str(ix)})
    assert r.exit_code == 0, r.output
    assert current_generation(ix) is not None
    r = run(runner, "search", "监督", env={"XUNWEN_INDEX_DIR": str(ix)})
    assert r.exit_code == 0, r.output
    assert SEED_ID in r.output


def test_reindex_reports_skipped_inputs(runner, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"id": "ok", "title": "好稿", "body": "正文内容"}\nnot json\n', "utf-8")
    r = run(runner, "reindex", str(mixed), "--index", str(tmp_path / "ix"), "--procs", "1")
    assert r.exit_code == 0, r.output
    assert "skipped 1 (invalid JSON: 1)" in r.stdout
    assert f"skipped {mixed}:2: invalid JSON" in r.stderr


def test_reindex_exits_1_when_nothing_could_be_indexed(runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n{\"id\": \"x\"}\n", "utf-8")
    r = run(runner, "reindex", str(bad), "--index", str(tmp_path / "ix"), "--procs", "1")
    assert r.exit_code == 1, r.output
    assert "nothing could be indexed" in r.stderr


def test_failed_rebuild_keeps_the_served_index(runner, fresh_index: Path, tmp_path: Path) -> None:
    gen = current_generation(fresh_index)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", "utf-8")
    r = run(runner, "reindex", str(bad), "--index", str(fresh_index), "--rebuild", "--procs", "1")
    assert r.exit_code == 1, r.output
    assert "nothing could be indexed (the served index is unchanged)" in r.stderr
    assert current_generation(fresh_index) == gen


def test_reindex_rebuild_swaps_generation(runner, fresh_index: Path) -> None:
    gen = current_generation(fresh_index)
    r = run(runner, "reindex", str(SEED), "--index", str(fresh_index), "--rebuild", "--procs", "1")
    assert r.exit_code == 0, r.output
    assert current_generation(fresh_index) != gen
    assert SearchEngine(fresh_index).article_count() == 1


@pytest.mark.parametrize(
    "args",
    [
        ["reindex", "--bogus"],
        ["reindex", "/no/such/path.jsonl"],
        ["reindex", "--procs", "0"],
        ["search", "监督", "--sort", "best"],
        ["search", "监督", "--page", "x"],
        ["delete"],
        ["extract"],
        ["nosuchcommand"],
    ],
)
def test_bad_options_exit_2(runner, tmp_path: Path, args: list[str]) -> None:
    r = run(runner, *args, "--index", str(tmp_path / "ix")) if args[0] in ("reindex", "search", "delete") else run(runner, *args)
    assert r.exit_code == 2, r.output
    assert "Usage:" in r.output or "Error" in r.output


def test_reindex_refuses_while_another_writer_runs(runner, fresh_index: Path) -> None:
    with writer_lock(fresh_index):
        r = run(runner, "reindex", str(SEED), "--index", str(fresh_index), "--procs", "1")
    assert r.exit_code == 1, r.output
    assert "another xunwen process is writing" in r.stderr
    assert "Traceback" not in r.output


# ---------------------------------------------------------------- search


def test_search_prints_readable_results(runner, core_index: Path) -> None:
    r = run(runner, "search", "监督", "--index", str(core_index))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("1 article (1 story, ")
    assert "1. 四川珙縣:“巡審聯動”打出[監督]“組合拳”" in lines
    assert f"   中新網四川 · 2024-04-29 13:45 · 四川/宜宾/珙县  [{SEED_ID}]" in lines
    assert "(吳平華 王紫溦)[監督]是治理的內在要素" in r.stdout
    assert "<mark>" not in r.stdout and "(jiān)" not in r.stdout


@pytest.mark.parametrize("words", [["大熊猫 -雅安"], ["--", "大熊猫", "-雅安"], ["大熊猫", "-雅安"]])
def test_search_exclusion_on_the_command_line(runner, core_index: Path, words: list[str]) -> None:
    # `xunwen search 大熊猫 -雅安`: the query language's -word must not be taken for an option
    r = run(runner, "search", "--index", str(core_index), "--json", *words)
    assert r.exit_code == 0, r.output
    assert [h["id"] for h in json.loads(r.stdout)["hits"]] == ["core-panda-chengdu"]


def test_search_shows_similar_counts_and_all_copies(runner, core_index: Path) -> None:
    r = run(runner, "search", "农村人居环境", "--index", str(core_index))
    assert r.exit_code == 0, r.output
    assert "3 articles (1 story," in r.stdout and "(+2 similar)" in r.stdout
    r = run(runner, "search", "农村人居环境", "--all-copies", "--index", str(core_index))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("3 articles (") and "similar" not in r.stdout
    assert all(f"[core-copy-{i}]" in r.stdout for i in (1, 2, 3))


def test_search_json_is_exactly_the_search_page(runner, core_index: Path) -> None:
    args = ["search", "大熊猫", "OR", "茶叶", "--index", str(core_index), "--json", "--size", "3", "--sort", "newest",
            "--from", "2024-03-01", "--to", "2024-04-30"]
    r = run(runner, *args)
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    want = SearchEngine(core_index).search(SearchRequest(
        q="大熊猫 OR 茶叶", size=3, sort="newest", date_from="2024-03-01", date_to="2024-04-30")).to_dict()
    got.pop("took_ms")
    want.pop("took_ms")
    assert got == want
    assert [h["id"] for h in got["hits"]] == ["core-panda-yaan", "core-panda-chengdu", "core-tea-body"]
    assert got["total"] == 4


def test_search_filters(runner, core_index: Path) -> None:
    def hits(*extra: str) -> list[str]:
        r = run(runner, "search", "--index", str(core_index), "--json", "--all-copies", "--size", "100", *extra)
        assert r.exit_code == 0, r.output
        return sorted(h["id"] for h in json.loads(r.stdout)["hits"])

    assert hits("--source", "川南日报") == sorted(i["id"] for i in core_records() if i["source"] == "川南日报")
    assert hits("--region", "泸州") == ["core-luzhou-flood"]
    assert hits("--category", "文化") == ["core-nodate-2", "core-trad"]
    assert hits("--from", "2024-03-31", "--to", "2024-03-31") == ["core-date-last"]
    assert hits("--page", "2", "--size", "100") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "101"], "size must be between 1 and 100"),
        (["--page", "11", "--size", "100"], "beyond the first 1000"),
        (["--from", "2024-02-30"], "from must be a date"),
        (["--from", "2024-04-02", "--to", "2024-04-01"], "is after"),
        (["监" * 1001], "at most 1000"),
    ],
)
def test_search_bad_request_exits_2_with_a_message(runner, core_index: Path, args, message) -> None:
    r = run(runner, "search", "--index", str(core_index), *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr


@pytest.mark.parametrize("q", ["((((", "a OR OR b", '""', "*", "?", "~", '"', "(", ")", "foo:bar", "-"])
def test_search_malformed_queries_exit_0(runner, core_index: Path, q: str) -> None:
    r = run(runner, "search", q, "--index", str(core_index))
    assert r.exit_code == 0, r.output
    assert re.match(r"^[\d,]+ articles? \(", r.stdout.splitlines()[0])


def test_search_without_an_index_exits_1(runner, tmp_path: Path) -> None:
    r = run(runner, "search", "监督", "--index", str(tmp_path / "none"))
    assert r.exit_code == 1, r.output
    assert "no index at" in r.stderr and "xunwen reindex" in r.stderr


def test_search_on_an_incompatible_index_exits_1(runner, fresh_index: Path) -> None:
    (current_generation(fresh_index) / "xunwen.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    for args in (["search", "监督"], ["stats"], ["delete", "core-trad"], ["reindex", str(SEED), "--procs", "1"]):
        r = run(runner, *args, "--index", str(fresh_index))
        assert r.exit_code == 1, (args, r.output)
        assert "xunwen reindex --rebuild" in r.stderr


# ---------------------------------------------------------------- stats and delete


def test_stats(runner, core_index: Path) -> None:
    r = run(runner, "stats", "--index", str(core_index))
    assert r.exit_code == 0, r.output
    assert f"articles    {N_DOCS}" in r.stdout
    assert "sources     4" in r.stdout
    assert f"schema      v{SCHEMA_VERSION}" in r.stdout
    assert "dates       2024-01-05T09:00:00+08:00 .. 2024-04-29T13:45:00+08:00" in r.stdout
    r = run(runner, "stats", "--index", str(core_index), "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["articles"] == N_DOCS and d["schema_version"] == SCHEMA_VERSION and d["size_bytes"] > 0


def test_stats_without_an_index_exits_1(runner, tmp_path: Path) -> None:
    r = run(runner, "stats", "--index", str(tmp_path / "none"))
    assert r.exit_code == 1, r.output
    assert "no index at" in r.stderr


def test_delete(runner, fresh_index: Path) -> None:
    r = run(runner, "delete", "core-trad", "core-latin", "--index", str(fresh_index))
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "deleted 2"
    assert SearchEngine(fresh_index).article_count() == N_DOCS - 2
    r = run(runner, "delete", "core-trad", "core-tea-body", "--index", str(fresh_index))
    assert r.exit_code == 1, r.output
    assert "deleted 1" in r.stdout and "not in the index: core-trad" in r.stderr


def test_delete_while_locked_exits_1(runner, fresh_index: Path) -> None:
    with writer_lock(fresh_index):
        r = run(runner, "delete", "core-trad", "--index", str(fresh_index))
    assert r.exit_code == 1, r.output
    assert "another xunwen process is writing" in r.stderr


def test_upgrade_adds_flat_postings_to_an_older_index(runner, fresh_index: Path) -> None:
    r = run(runner, "upgrade", "--index", str(fresh_index))
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "nothing to upgrade"  # the writer wrote them
    gen = current_generation(fresh_index)
    flat = sorted(p for p in gen.iterdir() if p.suffix in (".xpk", ".xpi", ".xpw"))
    assert flat
    saved = {p.name: p.read_bytes() for p in flat}
    before = [(h.id, round(h.score, 6)) for h in SearchEngine(fresh_index).search(SearchRequest(q="监督")).hits]
    for p in flat:  # as an index written before flat postings existed
        p.unlink()
    with writer_lock(fresh_index):
        r = run(runner, "upgrade", "--index", str(fresh_index))
    assert r.exit_code == 1 and "another xunwen process is writing" in r.stderr
    r = run(runner, "upgrade", "--index", str(fresh_index))
    assert r.exit_code == 0, r.output
    assert re.fullmatch(r"upgraded \d+ segment\(s\)", r.stdout.strip()), r.stdout
    assert {p.name: p.read_bytes() for p in gen.iterdir() if p.suffix in (".xpk", ".xpi", ".xpw")} == saved
    assert [(h.id, round(h.score, 6)) for h in SearchEngine(fresh_index).search(SearchRequest(q="监督")).hits] == before


# ---------------------------------------------------------------- extract


def test_extract_shows_what_would_be_indexed(runner) -> None:
    r = run(runner, "extract", str(SEED))
    assert r.exit_code == 0, r.output
    assert f"id         {SEED_ID}" in r.stdout
    assert "title      四川珙縣:“巡審聯動”打出監督“組合拳”" in r.stdout
    assert "region     四川, 宜宾, 珙县" in r.stdout
    assert "(jiān)" not in r.stdout


def test_extract_json(runner, tmp_path: Path) -> None:
    recs = [r for r in core_records() if r["id"] in ("core-trad", "core-latin")]
    r = run(runner, "extract", str(write_jsonl(tmp_path / "two.jsonl", recs)), "--json")
    assert r.exit_code == 0, r.output
    arts = [json.loads(line) for line in r.stdout.splitlines()]
    assert [a["id"] for a in arts] == [x["id"] for x in recs]
    assert arts[0]["title"] == recs[0]["title"]
    assert arts[0]["published"] == recs[0]["published"]


def test_extract_nothing_exits_1(runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", "utf-8")
    r = run(runner, "extract", str(bad))
    assert r.exit_code == 1, r.output
    assert "no article could be extracted" in r.stderr


def test_reindex_runs_at_a_lower_cpu_priority_and_its_workers_inherit_it(tmp_path: Path) -> None:
    """A cron reindex yields the CPU to a server on the same machine (--nice, default 10)."""
    import os
    import subprocess
    import sys

    code = ("import os, multiprocessing as mp\n"
            "from search.cli import _lower_priority, NICE\n"
            "before = os.nice(0)\n"
            "_lower_priority(NICE)\n"
            "ctx = mp.get_context('fork')\n"
            "q = ctx.Queue(); p = ctx.Process(target=lambda: q.put(os.nice(0))); p.start(); p.join()\n"
            "print(before, os.nice(0), q.get())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    before, after, child = map(int, out)
    assert after == min(19, before + 10) and child == after
    assert os.environ["XUNWEN_NICE"] == "0"  # conftest: in-process runs keep the runner's priority
    r = CliRunner().invoke(main, ["reindex", str(write_jsonl(tmp_path / "a.jsonl", core_records()[:3])),
                                  "--index", str(tmp_path / "ix"), "--no-progress"])
    assert os.nice(0) == before
    assert r.exit_code == 0, r.output
    assert CliRunner().invoke(main, ["reindex", "--nice", "20"]).exit_code == 2  # out of range: a usage error
