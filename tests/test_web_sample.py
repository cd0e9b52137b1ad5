"""The page over the bundled sample (data/sample.jsonl.gz, what a new user searches first):
the landing page's examples find something, and exports go past the page window."""

from __future__ import annotations

import csv
import io
import json

import lxml.html
import pytest

from web.pages import EXAMPLES

# Builds the bundled sample index once (about half a minute).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample_client(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from search.indexer import reindex
    from web import create_app

    index_dir = tmp_path_factory.mktemp("sample") / "index"
    summary = reindex([], index_dir, rebuild=True, procs=1)  # no sources: the bundled sample
    assert summary.indexed > 2000, summary.to_dict()
    return create_app({"INDEX_DIR": str(index_dir), "TESTING": True}).test_client()


def test_landing_examples_find_the_sample(sample_client) -> None:
    doc = lxml.html.document_fromstring(sample_client.get("/").get_data(as_text=True))
    links = doc.xpath('//ul[@class="tips"]//a[@class="example"]')
    assert [a.get("data-q") for a in links] == [q for q, _ in EXAMPLES]
    for a in links:
        resp = sample_client.get(a.get("href"))
        assert resp.status_code == 200, a.get("href")
        page = lxml.html.document_fromstring(resp.get_data(as_text=True))
        total = int(page.get_element_by_id("total").text_content().replace(",", ""))
        assert total >= 3, (a.get("data-q"), total)
        assert not page.xpath('//section[contains(@class, "empty")]'), a.get("data-q")


def test_pinyin_and_alias_examples_say_what_they_searched(sample_client) -> None:
    for q, shown in (("jiandu", "监督"), ("发改委", "发展和改革委员会")):
        doc = lxml.html.document_fromstring(sample_client.get("/?q=" + q).get_data(as_text=True))
        assert shown in doc.get_element_by_id("expansion").text_content()


def test_export_goes_past_the_page_window_and_says_where_it_was_cut(sample_client) -> None:
    api = sample_client.get("/api/search?q=的").get_json()
    total = api["stories"]
    assert total > 1500  # more than the 1,000 results one can page through
    resp = sample_client.get("/api/search.csv?q=的&limit=1500")
    rows = list(csv.reader(io.StringIO(resp.get_data().decode("utf-8-sig"))))
    ids = [r[0] for r in rows[1:-1]]
    assert len(ids) == 1500 == len(set(ids))
    assert rows[-1][0] == "#truncated" and f"1,500 of {total:,}" in rows[-1][1]
    assert int(resp.headers["X-Total-Count"]) == total
    # without a limit every match comes, and nothing says it was cut
    lines = sample_client.get("/api/export?q=的&format=jsonl").get_data(as_text=True).splitlines()
    records = [json.loads(x) for x in lines]
    assert len(records) == total and not any(r.get("truncated") for r in records)
    assert len({r["id"] for r in records}) == total
