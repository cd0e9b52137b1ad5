"""Snippet windows of long articles: the opening is searched first (search.highlight)."""

from __future__ import annotations

import re

from search.highlight import SNIPPET_HEAD_CHARS, snippet_html

FILL = "本报讯，今年以来全市各部门认真落实各项工作部署。"


def _plain(html: str) -> str:
    return re.sub(r"</?mark>", "", html)


def test_an_opening_holding_every_word_gives_the_snippet_of_a_long_article() -> None:
    # Later the words come twice as densely; the opening holds them all: the opening is shown.
    text = "监督和检查工作开展。" + FILL * 300 + "监督、检查，监督、检查，再监督、检查。" + FILL * 50
    assert len(text) > SNIPPET_HEAD_CHARS
    snip = snippet_html(text, ["监督", "检查"], fragments=1)
    assert snip.startswith("<mark>监督</mark>和<mark>检查</mark>工作开展"), snip


def test_a_word_missing_from_the_opening_sends_the_search_through_the_whole_text() -> None:
    # The opening has 监督 only; both words stand together near the end: that window is shown.
    text = "监督工作开展。" + FILL * 300 + "会议要求加强监督和检查力度。" + FILL * 5
    snip = snippet_html(text, ["监督", "检查"], fragments=1)
    assert "加强<mark>监督</mark>和<mark>检查</mark>力度" in snip, snip
    assert snip.startswith("…")


def test_a_word_found_only_past_the_opening_is_still_shown() -> None:
    text = FILL * 300 + "终点站迎来首班车。" + FILL * 3
    snip = snippet_html(text, ["终点站"])
    assert "<mark>终点站</mark>迎来首班车" in snip
    assert _plain(snip).strip("…").replace(" ", "") in text.replace("\n", " ").replace(" ", "")
