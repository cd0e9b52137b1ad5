"""Tests for search.engine (with query, highlight, ranking) on a real index of the fixture articles and the seed page."""

from __future__ import annotations

import gzip
import itertools
import json
import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import COPY_IDS, SEED_ID, core_records, corpus, write_jsonl
from search import Article, BadQuery, NotFound, SearchEngine, SearchPage, SearchRequest
from search.indexer import index_articles, reindex
from search.ingest import iter_articles
from search.params import RankParams
from search.schema import SCHEMA_VERSION

SHANGHAI = ZoneInfo("Asia/Shanghai")
PINYIN = re.compile(r"\([a-zü' ]*[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ][a-zü' āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]*\)")
SEED_TITLE = "四川珙縣:“巡審聯動”打出監督“組合拳”"
RECORDS = {r["id"]: r for r in core_records()}
N_DOCS = len(RECORDS) + 1  # + the seed page


def search(engine: SearchEngine, q: str = "", **kw) -> SearchPage:
    kw.setdefault("size", 100)
    return engine.search(SearchRequest(q=q, **kw))


def ids(engine: SearchEngine, q: str = "", **kw) -> list[str]:
    return [h.id for h in search(engine, q, **kw).hits]


def strict_ids(engine: SearchEngine, q: str = "", **kw) -> list[str]:
    """The hits holding every word: those before the looser matches that follow a short list."""
    page = search(engine, q, **kw)
    return [h.id for h in page.hits[: page.stories if page.collapsed else page.total]]


def hit(engine: SearchEngine, q: str, doc_id: str, **kw):
    page = search(engine, q, **kw)
    for h in page.hits:
        if h.id == doc_id:
            return h
    raise AssertionError(f"{doc_id} not found for {q!r}: {[h.id for h in page.hits]}")


def shanghai_day(rec: dict) -> date | None:
    return datetime.fromisoformat(rec["published"]).astimezone(SHANGHAI).date() if rec.get("published") else None


# ---------------------------------------------------------------- the seed page


@pytest.mark.parametrize(
    ("q", "title_html", "in_snippet"),
    [
        ("监督", "四川珙縣:“巡審聯動”打出<mark>監督</mark>“組合拳”", "(吳平華 王紫溦)<mark>監督</mark>是治理的內在要素"),
        ("監督", "四川珙縣:“巡審聯動”打出<mark>監督</mark>“組合拳”", "增強審計<mark>監督</mark>合力"),
        ("巡審聯動", "四川珙縣:“<mark>巡審聯動</mark>”打出監督“組合拳”", "積極探索<mark>巡審聯動</mark>。"),
        ("巡审联动", "四川珙縣:“<mark>巡審聯動</mark>”打出監督“組合拳”", "積極探索<mark>巡審聯動</mark>。"),
        ('"巡审联动"', "四川珙縣:“<mark>巡審聯動</mark>”打出監督“組合拳”", "積極探索<mark>巡審聯動</mark>。"),
        ("珙县", "四川<mark>珙縣</mark>:“巡審聯動”打出監督“組合拳”", "近年來,<mark>珙縣</mark>縣委巡察機構"),
    ],
)
def test_seed_page_is_found_and_highlighted_in_traditional_script(engine, q, title_html, in_snippet) -> None:
    page = search(engine, q)
    assert page.hits, f"nothing found for {q!r}"
    top = page.hits[0]
    assert top.id == SEED_ID
    assert top.title == SEED_TITLE
    assert top.title_html == title_html
    assert in_snippet in top.snippet_html, top.snippet_html
    for html in (top.title_html, top.snippet_html):
        assert not PINYIN.search(html), PINYIN.search(html)
        assert "jiān" not in html and "wǎng" not in html
    marked = re.findall(r"<mark>(.*?)</mark>", top.snippet_html)
    assert marked and all(m in ("監督", "巡審聯動", "巡審", "聯動", "珙縣") for m in marked), marked


def test_seed_snippet_is_two_fragments_of_display_text(engine) -> None:
    snippet = hit(engine, "监督", SEED_ID).snippet_html
    assert snippet.startswith("中新網四川新聞4月29日電 (吳平華 王紫溦)<mark>監督</mark>是治理的內在要素")
    plain = re.sub(r"</?mark>", "", snippet)
    fragments = [f for f in plain.split(" …") if f.strip("… ")]
    assert 1 <= len(fragments) <= 2
    assert len(plain) <= 2 * 120 + 10
    assert "监督" not in plain  # the display text stays traditional


def test_seed_page_metadata(engine) -> None:
    h = hit(engine, "珙县", SEED_ID)
    assert h.source == "中新網四川"
    assert h.published == "2024-04-29T13:45:00+08:00"
    assert h.region == ("四川", "宜宾", "珙县")


# ---------------------------------------------------------------- segmentation mismatch


@pytest.mark.parametrize(
    ("q", "doc_id", "snippet"),
    [
        ("简单", "core-simple-sub", "工作人员介绍，这款净水器安装<mark>简单</mark>，十分钟即可完成，厂家还提供免费上门服务。"),
        ("处理", "core-pending", "截至目前，仍有十二件信访事项待<mark>处理</mark>，工作组将逐件跟进、限期办结。"),
        ("河长", "core-river-sub", "全面推行<mark>河长</mark>制以来，全县水质明显好转，沿岸群众纷纷点赞生态环境。"),
        ("联动", SEED_ID, "積極探索巡審<mark>聯動</mark>。"),
        ("珙", SEED_ID, "近年來,<mark>珙縣</mark>縣委巡察機構"),  # a single character is widened to the word
    ],
)
def test_text_inside_a_longer_word_is_found(engine, q, doc_id, snippet) -> None:
    h = hit(engine, q, doc_id)
    assert snippet in h.snippet_html, h.snippet_html


def test_single_character_highlights_the_whole_word_in_the_title(engine) -> None:
    assert hit(engine, "珙", SEED_ID).title_html == "四川<mark>珙縣</mark>:“巡審聯動”打出監督“組合拳”"


def test_whole_word_match_ranks_above_a_match_inside_a_longer_word_河长(engine) -> None:
    assert ids(engine, "河长") == ["core-river-word", "core-river-sub"]


def test_whole_word_match_ranks_above_a_match_inside_a_longer_word_简单(engine) -> None:
    # 操作简单 holds 简单 as a word; 安装简单 is one jieba word that merely contains it.
    # Both bodies are about as long, and the sub-word document is the newer one.
    assert ids(engine, "简单") == ["core-simple-word", "core-simple-sub"]


@pytest.mark.parametrize("q", ["研究生", '"研究生"', '"究生命"', '"生命起"', "究生命"])
def test_substring_across_jieba_word_boundaries_is_found(engine, q) -> None:
    # 研究生命起源 is cut 研究/生命/起源; the article still contains the text 研究生.
    assert "core-crossword" in ids(engine, q)


def test_a_word_found_only_across_boundaries_is_checked_against_the_text(engine) -> None:
    # Articles holding a word that ends with 研究 and one that starts with 生 are candidates;
    # only the one whose text has 研究生 is a match.
    assert ids(engine, "研究生") == ["core-crossword"]
    assert ids(engine, '"究生命起源"') == ["core-crossword"]


# ---------------------------------------------------------------- phrase, exclusion, OR


def test_words_apart_match_the_unquoted_query_but_not_the_phrase(engine) -> None:
    assert strict_ids(engine, "垃圾分类") == ["core-phrase-together", "core-phrase-apart"]  # together ranks first
    assert strict_ids(engine, "垃圾 分类") == ["core-phrase-together", "core-phrase-apart"]
    assert ids(engine, '"垃圾分类"') == ["core-phrase-together"]
    assert ids(engine, "“垃圾分类”") == ["core-phrase-together"]
    assert hit(engine, "垃圾 分类", "core-phrase-apart").snippet_html == (
        "街道本周清运<mark>垃圾</mark>三十吨，并对回收的旧家具进行<mark>分类</mark>登记后统一处置。")


def test_phrase_in_title_prefix(engine) -> None:
    assert ids(engine, 'title:"茶叶采摘"') == ["core-tea-title"]
    assert ids(engine, 'title:"采摘茶叶"') == []


def test_exclusion(engine) -> None:
    assert sorted(ids(engine, "大熊猫")) == ["core-panda-chengdu", "core-panda-yaan"]
    assert ids(engine, "大熊猫 -雅安") == ["core-panda-chengdu"]
    assert ids(engine, '大熊猫 -"栖息地保护"') == ["core-panda-chengdu"]
    assert ids(engine, "大熊猫 -成都 -雅安") == []
    assert set(ids(engine, "-大熊猫", collapse=False)) == set(RECORDS) - {"core-panda-chengdu", "core-panda-yaan"} | {SEED_ID}


def test_or(engine) -> None:
    expected = {"core-panda-chengdu", "core-panda-yaan", "core-tea-title", "core-tea-body"}
    assert set(ids(engine, "大熊猫 OR 茶叶")) == expected
    assert set(ids(engine, "大熊猫 | 茶叶")) == expected
    assert ids(engine, "大熊猫 OR 茶叶 成都") == ["core-panda-chengdu"]


# ---------------------------------------------------------------- prefixes


def test_title_prefix(engine) -> None:
    assert ids(engine, "茶叶") == ["core-tea-title", "core-tea-body"]  # title weighs more
    assert ids(engine, "title:茶叶") == ["core-tea-title"]
    assert ids(engine, "标题:茶叶") == ["core-tea-title"]


@pytest.mark.parametrize("q", ["source:蜀都晚报", "来源:蜀都晚报", "source:蜀都"])
def test_source_prefix(engine, q) -> None:
    expected = {i for i, r in RECORDS.items() if r["source"] == "蜀都晚报"}
    assert set(ids(engine, q)) == expected


def test_source_prefix_with_words(engine) -> None:
    assert ids(engine, "大熊猫 source:江城新闻网") == ["core-panda-yaan"]
    assert ids(engine, "source:不存在的报纸") == []


@pytest.mark.parametrize("q", ["region:泸州", "region:泸州市", "地区:瀘州"])
def test_region_prefix(engine, q) -> None:
    assert ids(engine, q) == ["core-luzhou-flood"]


def test_region_prefix_reaches_the_county(engine) -> None:
    assert ids(engine, "region:珙县") == [SEED_ID]
    assert ids(engine, "监督 region:雅安") == []


@pytest.mark.parametrize(
    ("q", "host"),
    [
        ("site:shudu.example.com", "shudu.example.com"),
        ("site:jiangcheng.example.org", "news.jiangcheng.example.org"),  # parent domain covers subdomains
        ("site:www.chuannan.example.com", "www.chuannan.example.com"),
        ("site:https://www.chuannan.example.com/agri/", "www.chuannan.example.com"),
        ("站点:shudu.example.com", "shudu.example.com"),
    ],
)
def test_site_prefix(engine, q, host) -> None:
    expected = {i for i, r in RECORDS.items() if f"//{host}/" in r["url"]}
    assert expected
    assert set(ids(engine, q)) == expected


def test_site_prefix_unknown_host(engine) -> None:
    assert ids(engine, "site:nowhere.example.net") == []
    assert ids(engine, "site:example.com.cn") == []


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize("q", ["((((", '""', "*", "?", "~", '"', "(", ")", "OR", "-", "()", "( )", '"((((" '])
def test_input_without_words_lists_everything_newest_first(engine, q) -> None:
    page = search(engine, q)
    assert page.total == N_DOCS
    assert page.hits[0].id == SEED_ID  # the newest article


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("大熊猫 OR OR 茶叶", {"core-panda-chengdu", "core-panda-yaan", "core-tea-title", "core-tea-body"}),
        ('"监督', {SEED_ID}),
        ('监督"', {SEED_ID}),
        ("(监督", {SEED_ID}),
        ("监督)", {SEED_ID}),
        ("((((监督", {SEED_ID}),
        ("*监督*", {SEED_ID}),
        ("监督?", {SEED_ID}),
        ("监督 OR", {SEED_ID}),
        ("OR 监督", {SEED_ID}),
        ('"" 监督', {SEED_ID}),
        ("foo:bar", {"core-latin"}),  # an unknown prefix is plain text
        ("监督\x00\x07", {SEED_ID}),
    ],
)
def test_malformed_queries_are_read_as_text(engine, q, expected) -> None:
    assert set(ids(engine, q)) == expected


@pytest.mark.parametrize("q", ["a OR OR b", "foo:bar:baz", "title:", "source:", "region:", "site:", "-", "--监督",
                               "监督^3", "NOT 监督", "AND OR", "\\", "'", "、", "\ud800"])
def test_odd_queries_never_raise(engine, q) -> None:
    page = search(engine, q)
    assert isinstance(page.total, int)


def test_a_prefix_with_nothing_after_it_is_not_a_silent_empty_result(engine) -> None:
    # "title: 茶叶" (a space after the colon): the bare prefix must not demand the word "title"
    assert set(ids(engine, "title: 茶叶")) >= {"core-tea-title"}
    assert set(ids(engine, "大熊猫 source:")) == {"core-panda-chengdu", "core-panda-yaan"}


def test_query_length_limit(engine) -> None:
    ok = "监督 " + "（" * 497 + "）" * 500  # exactly 1,000 characters
    assert len(ok) == 1000
    assert search(engine, ok).hits[0].id == SEED_ID
    with pytest.raises(BadQuery, match="1001 characters long; at most 1000"):
        search(engine, "监" * 1001)


def test_a_pasted_paragraph_is_answered_or_refused_with_a_message(engine) -> None:
    # 1,000 characters of running text (about 500 words): results, or a BadQuery that says why
    text = (engine.get_article(SEED_ID).body * 2)[:1000]
    assert len(text) == 1000
    try:
        page = search(engine, text)
    except BadQuery as e:
        assert "words" in str(e) or "expensive" in str(e), str(e)
    else:
        assert page.hits and page.hits[0].id == SEED_ID


# ---------------------------------------------------------------- scripts, width, Latin, digits


@pytest.mark.parametrize("q", ["图书馆", "圖書館", "图书館"])
def test_traditional_and_simplified_match_both(engine, q) -> None:
    h = hit(engine, q, "core-trad")
    assert h.title_html == "<mark>圖書館</mark>延長開放時間"
    assert h.snippet_html == "市<mark>圖書館</mark>宣布暑期延長開放時間，讀者可在晚間借閱圖書並參加閱讀講座。"


@pytest.mark.parametrize("q", ["ＡＢＣ２０２４", "ABC2024", "abc2024"])
def test_full_width_and_case_are_normalized(engine, q) -> None:
    assert hit(engine, q, "core-latin").title_html == "<mark>ABC2024</mark>型无人机亮相科技展"


@pytest.mark.parametrize("q", ["xyz99", "XYZ99", "ＸＹＺ９９"])
def test_full_width_text_in_the_article(engine, q) -> None:
    assert hit(engine, q, "core-fullwidth").title_html == "新型号<mark>ＸＹＺ９９</mark>发布"


@pytest.mark.parametrize("q", ["5G", "5g", "GDP", "5.3%", "无人机 5G"])
def test_latin_words_and_digits_are_searchable(engine, q) -> None:
    assert ids(engine, q) == ["core-latin"]


def test_a_figure_is_found_without_its_percent_sign(engine) -> None:
    # jieba keeps "5.3%" as one token; a reader looking for the figure types 5.3.
    assert ids(engine, "5.3") == ["core-latin"]


def test_html_is_escaped_outside_marks(engine) -> None:
    h = hit(engine, "一等奖", "core-escape")
    assert h.snippet_html.endswith("作品&lt;script&gt;alert(1)&lt;/script&gt;被评委淘汰，R&amp;D团队获得<mark>一等奖</mark>。")
    assert h.title_html == "“&lt;创新&gt;”大赛&amp;颁奖"
    assert hit(engine, "<创新>", "core-escape").title_html == "“&lt;<mark>创新</mark>&gt;”大赛&amp;颁奖"


def test_a_body_shorter_than_the_snippet_is_shown_whole(engine) -> None:
    # 47 characters with the match at the end: the ~120-character window has room for all of it
    h = hit(engine, "一等奖", "core-escape")
    assert h.snippet_html == "参赛作品&lt;script&gt;alert(1)&lt;/script&gt;被评委淘汰，R&amp;D团队获得<mark>一等奖</mark>。"


def test_whoosh_32k_highlight_limit_does_not_apply(tmp_path: Path) -> None:
    filler = "今天天气晴朗，市民外出游玩。" * 3000  # 42,000 characters
    art = Article(id="long", title="长文", body=filler + "终点站迎来首班车。", source="测试")
    index_articles([art], tmp_path / "ix", procs=1)
    h = SearchEngine(tmp_path / "ix").search(SearchRequest(q="终点站")).hits[0]
    assert "<mark>终点站</mark>迎来首班车。" in h.snippet_html


# ---------------------------------------------------------------- filters and sorting


def _in_range(lo: str | None, hi: str | None) -> set[str]:
    out = set()
    for i, r in RECORDS.items():
        d = shanghai_day(r)
        if d and (lo is None or d >= date.fromisoformat(lo)) and (hi is None or d <= date.fromisoformat(hi)):
            out.add(i)
    return out


@pytest.mark.parametrize(
    ("lo", "hi"),
    [("2024-03-01", "2024-03-31"), (None, "2024-02-29"), ("2024-04-01", None), ("2024-03-01", "2024-03-01"),
     ("2024-03-31", "2024-03-31"), ("2024-02-20", "2024-02-20")],
)
def test_date_range_is_inclusive_days_in_shanghai(engine, lo, hi) -> None:
    got = set(ids(engine, date_from=lo, date_to=hi, collapse=False))
    expected = _in_range(lo, hi) | ({SEED_ID} if (lo or "0") <= "2024-04-29" <= (hi or "9") else set())
    assert got == expected


def test_date_boundaries(engine) -> None:
    # 00:30 on 1 March in Shanghai is still 29 February in UTC
    assert "core-date-first" in ids(engine, date_from="2024-03-01", date_to="2024-03-01")
    assert "core-date-first" not in ids(engine, date_to="2024-02-29")
    # 23:59 on 31 March belongs to the 31st
    assert "core-date-last" in ids(engine, date_from="2024-03-31", date_to="2024-03-31")
    assert "core-date-last" not in ids(engine, date_from="2024-04-01")
    # articles without a date fall outside every date range
    assert not {"core-nodate-1", "core-nodate-2"} & set(ids(engine, date_from="1970-01-02"))


def test_source_region_category_filters(engine) -> None:
    assert set(ids(engine, source=("川南日报",), collapse=False)) == {i for i, r in RECORDS.items() if r["source"] == "川南日报"}
    two = set(ids(engine, source=("川南日报", "江城新闻网"), collapse=False))
    assert two == {i for i, r in RECORDS.items() if r["source"] in ("川南日报", "江城新闻网")}
    assert set(ids(engine, category=("生态",))) == {i for i, r in RECORDS.items() if r.get("category") == "生态"}
    assert ids(engine, region=("泸州",)) == ["core-luzhou-flood"]
    assert ids(engine, region=("四川", "珙县")) == [SEED_ID]
    assert ids(engine, "大熊猫", region=("成都",)) == ["core-panda-chengdu"]
    assert ids(engine, "大熊猫", source=("川南日报",)) == []
    assert ids(engine, source=("没有这个来源",)) == []


def test_empty_query_with_filters_lists_newest_first(engine) -> None:
    got = ids(engine, source=("川南日报",), collapse=False)
    expected = sorted((i for i, r in RECORDS.items() if r["source"] == "川南日报"),
                      key=lambda i: RECORDS[i]["published"], reverse=True)
    assert got == expected


def test_sort_newest_and_oldest_with_unknown_dates_last(engine) -> None:
    newest = search(engine, sort="newest", collapse=False)
    oldest = search(engine, sort="oldest", collapse=False)
    assert newest.total == oldest.total == N_DOCS
    for page, reverse in ((newest, True), (oldest, False)):
        dated = [h.published for h in page.hits if h.published]
        assert dated == sorted(dated, reverse=reverse)
        assert {h.id for h in page.hits[-2:]} == {"core-nodate-1", "core-nodate-2"}
        assert all(h.published is None for h in page.hits[-2:])
    assert newest.hits[0].id == SEED_ID
    assert oldest.hits[0].id == "core-simple-word"


def test_sort_by_date_with_a_query(engine) -> None:
    assert ids(engine, "大熊猫", sort="newest") == ["core-panda-yaan", "core-panda-chengdu"]
    assert ids(engine, "大熊猫", sort="oldest") == ["core-panda-chengdu", "core-panda-yaan"]


def test_recency_boost_keeps_the_match_set(engine) -> None:
    assert set(ids(engine, "大熊猫 OR 茶叶", recency=True)) == set(ids(engine, "大熊猫 OR 茶叶"))


def test_paging_is_disjoint_and_complete(engine) -> None:
    pages = [ids(engine, sort="newest", collapse=False, page=p, size=5) for p in range(1, 7)]
    flat = list(itertools.chain.from_iterable(pages))
    assert len(flat) == len(set(flat)) == N_DOCS
    assert flat == ids(engine, sort="newest", collapse=False)
    assert pages[-1] == []


# ---------------------------------------------------------------- facets


def test_facets_add_up_over_all_matches(engine) -> None:
    page = search(engine, size=5, collapse=False)
    assert page.total == N_DOCS and len(page.hits) == 5
    f = page.facets
    assert set(f) == {"source", "region", "month"}
    assert sum(v.count for v in f["source"]) == page.total
    expected_sources: dict[str, int] = {"中新網四川": 1}
    for r in RECORDS.values():
        expected_sources[r["source"]] = expected_sources.get(r["source"], 0) + 1
    assert {v.value: v.count for v in f["source"]} == expected_sources
    # months in Asia/Shanghai; the undated articles have no month
    months: dict[str, int] = {"2024-04": 1}
    for r in RECORDS.values():
        d = shanghai_day(r)
        if d:
            months[d.strftime("%Y-%m")] = months.get(d.strftime("%Y-%m"), 0) + 1
    assert [(v.value, v.count) for v in f["month"]] == sorted(months.items())
    assert sum(v.count for v in f["month"]) == page.total - 2
    region = {v.value: v.count for v in f["region"]}
    assert region["泸州"] == 1 and region["珙县"] == 1 and region["四川"] >= 5


def test_facets_follow_the_query_and_count_copies(engine) -> None:
    page = search(engine, "农村人居环境")  # three copies of one story, collapsed to one hit
    assert page.total == 3 and page.stories == 1 and page.hits[0].id in COPY_IDS
    assert all(h.id not in COPY_IDS for h in page.hits[1:])  # then looser matches (a short list)
    assert sum(v.count for v in page.facets["source"]) == 3
    assert {v.value: v.count for v in page.facets["month"]} == {"2024-02": 3}


def test_facets_with_a_filter(engine) -> None:
    page = search(engine, date_from="2024-03-01", date_to="2024-03-31")
    assert {v.value: v.count for v in page.facets["month"]} == {"2024-03": page.total}
    assert sum(v.count for v in page.facets["source"]) == page.total


def test_facets_can_be_turned_off(engine) -> None:
    assert search(engine, "监督", facets=False).facets == {}


# ---------------------------------------------------------------- collapse


def test_collapse_keeps_one_hit_per_story_with_its_similar_count(engine) -> None:
    page = search(engine, "农村人居环境")
    assert page.collapsed and page.stories == 1
    h = page.hits[0]
    assert h.id in COPY_IDS
    assert h.similar_count == 2
    assert h.cluster == "core-copy-1"


def test_collapse_false_shows_every_copy(engine) -> None:
    page = search(engine, "农村人居环境", collapse=False)
    assert not page.collapsed
    assert sorted(h.id for h in page.hits[: page.total]) == sorted(COPY_IDS)
    assert page.total == page.stories == 3
    assert all(h.similar_count == 0 and h.cluster == "core-copy-1" for h in page.hits[: page.total])


def test_cluster_filter_lists_the_copies_of_one_story(engine) -> None:
    assert sorted(ids(engine, cluster="core-copy-1")) == sorted(COPY_IDS)


def test_collapse_on_an_empty_query_counts_stories(engine) -> None:
    page = search(engine)
    assert page.total == N_DOCS
    assert page.stories == N_DOCS - 2
    assert len(page.hits) == N_DOCS - 2
    assert sum(h.similar_count for h in page.hits) == 2


def test_distinct_articles_are_not_collapsed(engine) -> None:
    page = search(engine, "大熊猫")
    assert len(page.hits) == 2 and all(h.similar_count == 0 for h in page.hits)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(size=101), "size must be between 1 and 100"),
        (dict(size=0), "size must be between 1 and 100"),
        (dict(page=0), "page must be 1 or more"),
        (dict(page=11, size=100), "beyond the first 1000"),
        (dict(page=101, size=10), "beyond the first 1000"),
        (dict(date_from="2024-13-01"), "from must be a date"),
        (dict(date_from="yesterday"), "from must be a date"),
        (dict(date_to="2024/03/01"), "to must be a date"),
        (dict(date_from="2024-04-02", date_to="2024-04-01"), "is after"),
        (dict(sort="best"), "sort must be one of"),
    ],
)
def test_bad_requests_raise_bad_query_with_a_message(engine, kw, message) -> None:
    with pytest.raises(BadQuery, match=message):
        engine.search(SearchRequest(q="监督", **kw))


def test_the_edge_of_the_result_window_is_allowed(engine) -> None:
    assert engine.search(SearchRequest(page=10, size=100)).hits == ()
    assert engine.search(SearchRequest(page=1, size=100)).total == N_DOCS
    assert engine.search(SearchRequest(date_from="2024-03-01", date_to="2024-03-01")).total >= 1


# ---------------------------------------------------------------- the API shape


HIT_KEYS = {"id", "title", "title_html", "url", "source", "region", "published", "score", "snippet_html",
            "similar_count", "cluster", "category"}
PAGE_KEYS = {"query", "total", "page", "size", "sort", "collapsed", "stories", "partial", "relaxed", "total_relaxed", "took_ms",
             "hits", "facets"}


def test_search_page_to_dict_is_json_with_the_documented_keys(engine) -> None:
    page = search(engine, "农村人居环境 OR 监督", size=10)
    d = json.loads(json.dumps(page.to_dict(), ensure_ascii=False))
    assert set(d) == PAGE_KEYS
    assert d["query"] == "农村人居环境 OR 监督" and d["total"] == 4 and d["page"] == 1 and d["size"] == 10
    assert d["sort"] == "relevance" and d["collapsed"] is True and d["stories"] == 2
    assert isinstance(d["took_ms"], float)
    for h in d["hits"]:
        assert set(h) == HIT_KEYS
        assert isinstance(h["region"], list) and isinstance(h["score"], float)
    seed = next(h for h in d["hits"] if h["id"] == SEED_ID)
    assert seed["published"] == "2024-04-29T13:45:00+08:00"
    assert seed["region"] == ["四川", "宜宾", "珙县"]
    assert set(d["facets"]) == {"source", "region", "month"}
    assert all(set(v) == {"value", "count"} for k in ("source", "month") for v in d["facets"][k])
    # Region values carry their place in the 省 › 市 › 县 tree (the parent only below a province).
    assert all(set(v) == {"value", "count", "level"} | ({"parent"} if v["level"] > 1 else set())
               for v in d["facets"]["region"])


def test_snippets_can_be_turned_off(engine) -> None:
    h = search(engine, "监督", snippets=False).hits[0]
    assert h.snippet_html == "" and h.title_html.count("<mark>") == 1


def test_no_match_is_an_empty_page_not_an_error(engine) -> None:
    page = search(engine, "量子纠缠")
    assert page.total == 0 and page.hits == () and page.stories == 0
    assert page.facets["source"] == ()


# ---------------------------------------------------------------- articles, highlight, similar, stats


def test_get_article(engine) -> None:
    a = engine.get_article("core-trad")
    assert a.title == "圖書館延長開放時間"
    assert a.body == RECORDS["core-trad"]["body"]
    assert a.url == RECORDS["core-trad"]["url"]
    assert a.published == datetime(2024, 1, 20, 12, 0, tzinfo=SHANGHAI)
    assert a.published.utcoffset().total_seconds() == 8 * 3600
    seed = engine.get_article(SEED_ID)
    assert seed.title == SEED_TITLE and seed.region == ("四川", "宜宾", "珙县")
    assert "吳平華" in seed.authors


@pytest.mark.parametrize("bad", ["no-such-id", "", "x" * 500])
def test_get_article_not_found(engine, bad) -> None:
    with pytest.raises(NotFound):
        engine.get_article(bad)


def test_engine_highlight(engine) -> None:
    assert engine.highlight(SEED_TITLE, "监督 珙县") == "四川<mark>珙縣</mark>:“巡審聯動”打出<mark>監督</mark>“組合拳”"
    assert engine.highlight("<b>监督</b>", "监督") == "&lt;b&gt;<mark>监督</mark>&lt;/b&gt;"
    assert engine.highlight(SEED_TITLE, "监督 -珙县 source:中新网") == "四川珙縣:“巡審聯動”打出<mark>監督</mark>“組合拳”"
    assert engine.highlight(SEED_TITLE, "((((") == SEED_TITLE


def test_more_like_this_skips_the_article_and_its_copies(engine) -> None:
    similar = engine.more_like_this("core-copy-1")
    got = [h.id for h in similar]
    assert not set(got) & set(COPY_IDS)
    assert len(got) <= 5
    panda = [h.id for h in engine.more_like_this("core-panda-chengdu")]
    assert panda[0] == "core-panda-yaan"
    with pytest.raises(NotFound):
        engine.more_like_this("no-such-id")


def test_stats(engine, core_index: Path) -> None:
    st = engine.stats()
    assert st["articles"] == N_DOCS
    assert st["sources"] == 4
    assert st["date_from"] == "2024-01-05T09:00:00+08:00"
    assert st["date_to"] == "2024-04-29T13:45:00+08:00"
    assert st["schema_version"] == SCHEMA_VERSION
    assert st["size_bytes"] > 0
    assert st["generation"] == (core_index / "CURRENT").read_text().strip()
    json.dumps(st)


# ---------------------------------------------------------------- real data


@pytest.mark.slow
def test_headlines_of_real_articles_find_their_article(tmp_path: Path) -> None:
    """A pasted headline (a long unquoted query) finds its article among 200 real ones."""
    path = corpus("news_articles_sample2k.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in itertools.islice(f, 200)]
    reindex([write_jsonl(tmp_path / "real.jsonl", records)], tmp_path / "ix", procs=1)
    eng = SearchEngine(tmp_path / "ix")
    arts = {a.id: a for a in iter_articles([tmp_path / "real.jsonl"])}
    misses = []
    checked = 0
    for rec in records[:60]:
        a = arts.get(rec["id"])
        if a is None or len(a.title) < 8:
            continue
        checked += 1
        got = [h.id for h in eng.search(SearchRequest(q=a.title, size=10, collapse=False)).hits]
        if rec["id"] not in got:
            misses.append(a.title)
    assert checked >= 30
    assert len(misses) <= checked // 20, misses


# ---------------------------------------------------------------- relaxed fallback, query likelihood


def test_a_part_no_article_holds_whole_falls_back_to_most_of_its_words(engine) -> None:
    # 熊猫 and 监督 never meet in one article: typed as one part, the page is not empty but
    # lists the articles holding most of the words, and says so.
    strict = search(engine, "熊猫 监督")  # two parts: an explicit AND stays strict
    assert strict.total == 0 and strict.relaxed is False
    page = search(engine, "熊猫监督")
    assert page.relaxed is True
    got = {h.id for h in page.hits}
    assert {SEED_ID, "core-panda-chengdu", "core-panda-yaan"} <= got
    assert page.to_dict()["relaxed"] is True
    # When some article holds every word, those come first; looser matches follow only while
    # the strict ones are fewer than a page, and are counted apart.
    page = search(engine, "大熊猫栖息地", size=1)
    assert page.relaxed is False and page.total == 1 and page.total_relaxed == 0
    assert [h.id for h in page.hits] == ["core-panda-yaan"]
    page = search(engine, "大熊猫栖息地", size=10)
    assert page.relaxed is True and page.total == 1 and page.total_relaxed == len(page.hits) - 1 > 0
    assert page.hits[0].id == "core-panda-yaan"


def test_relaxed_fallback_keeps_filters_and_exclusions(engine) -> None:
    page = search(engine, "熊猫监督 -雅安", source=["蜀都晚报"])
    assert page.relaxed is True
    assert [h.id for h in page.hits] == ["core-panda-chengdu"]


def _lcsts_pairs(n: int) -> list[dict]:
    path = corpus("eval/lcsts_part3.jsonl")
    out, seen = [], set()
    with path.open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["human_label"] >= 4 and r["short_text"] not in seen:
                seen.add(r["short_text"])
                out.append(r)
            if len(out) >= n:
                break
    return out


@pytest.mark.slow
def test_query_likelihood_improves_summary_queries_on_real_data(tmp_path: Path) -> None:
    """One-line summaries (LCSTS PART III, human label >= 4) find their Weibo post among 400
    real news articles better with the query-likelihood scores (words, then character pairs)
    than with BM25F alone."""

    pairs = _lcsts_pairs(150)
    with gzip.open(corpus("news_articles_sample2k.jsonl.gz"), "rt", encoding="utf-8") as f:
        news = [json.loads(line) for line in itertools.islice(f, 400)]
    posts = [{"id": r["id"], "title": "", "body": r["short_text"], "source": "LCSTS"} for r in pairs]
    reindex([write_jsonl(tmp_path / "c.jsonl", news + posts)], tmp_path / "ix", procs=1)
    def mrr(**params: float) -> float:
        eng = SearchEngine(tmp_path / "ix", params=RankParams(**params))
        total = 0.0
        for r in pairs:
            got = [h.id for h in eng.search(SearchRequest(q=r["summary"], size=10, snippets=False)).hits]
            total += next((1 / (i + 1) for i, d in enumerate(got) if d == r["id"]), 0.0)
        eng.close()
        return total / len(pairs)

    assert (tmp_path / "ix" / "CURRENT").exists()
    gen = tmp_path / "ix" / (tmp_path / "ix" / "CURRENT").read_text().strip()
    assert (gen / "bigrams.npy").exists()  # the collection's character-pair counts
    with_lm = mrr()
    words_only = mrr(bigram_weight=0.0)
    without = mrr(bigram_weight=0.0, ql_weight=0.0)
    print(f"MRR@10 with both likelihoods {with_lm:.3f}, word likelihood only {words_only:.3f}, "
          f"BM25F alone {without:.3f}")
    assert with_lm > without + 0.01, (with_lm, words_only, without)
    assert words_only > without, (with_lm, words_only, without)


@pytest.mark.slow
def test_every_quoted_substring_of_real_articles_is_found_exactly(tmp_path: Path) -> None:
    """A quoted run of 2-5 Han characters cut anywhere out of real articles matches exactly the
    articles whose text holds it (however jieba cut it there), in the displayed script."""
    import random

    from search.normalize import fold_text

    with gzip.open(corpus("news_articles_sample2k.jsonl.gz"), "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in itertools.islice(f, 150)]
    reindex([write_jsonl(tmp_path / "real.jsonl", records)], tmp_path / "ix", procs=1)
    eng = SearchEngine(tmp_path / "ix")
    arts = list(iter_articles([tmp_path / "real.jsonl"]))
    # Spaces, quotes and brackets do not interrupt a phrase; sentence and clause punctuation does.
    inline = re.compile(r"[^\w,.;:!?。、，．！？；：\n\r]+|_+")
    breaks = re.compile(r"[,.;:!?。、，．！？；：\n\r]+")
    texts = {a.id: [breaks.sub("|", inline.sub("", fold_text(x))) for x in (a.title, a.body)] for a in arts}
    rng = random.Random(7)
    checked = 0
    wrong = []
    while checked < 200:
        a = rng.choice(arts)
        runs = re.findall(r"[\u4e00-\u9fff]{6,}", a.body)
        if not runs:
            continue
        run = rng.choice(runs)
        n = rng.randint(2, 5)
        i = rng.randrange(len(run) - n + 1)
        needle = run[i:i + n]
        want = {d for d, ts in texts.items() if any(fold_text(needle) in t for t in ts)}
        if len(want) > 100:
            continue
        checked += 1
        page = eng.search(SearchRequest(q=f'"{needle}"', size=100, collapse=False, snippets=False))
        got = {h.id for h in page.hits}
        if got != want:
            wrong.append((needle, sorted(want - got)[:3], sorted(got - want)[:3]))
    assert not wrong, wrong


def test_quoted_text_with_characters_that_fold_to_punctuation_or_letters(tmp_path: Path) -> None:
    """A phrase is checked against the display text as folding sees it: … folds to ... (a
    clause break), ℃ to °c and ㎡ to m2, so text copied with them is found, and … interrupts
    a phrase like 。 does."""
    arts = [
        Article(id="ellipsis", title="吐槽", body="网友说：太丑爆了……平时我们不这样穿。", source="测试"),
        Article(id="degrees", title="降温", body="明天最低气温降至10℃。寒潮还将持续三天。", source="测试"),
        Article(id="area", title="新房", body="这套房子面积为120㎡，位于市中心。", source="测试"),
        Article(id="apart", title="校园", body="这是一所伟大……学校里的故事。", source="测试"),
    ]
    index_articles(arts, tmp_path / "ix", procs=1)
    eng = SearchEngine(tmp_path / "ix")
    assert ids(eng, '"丑爆了……平时我们"') == ["ellipsis"]
    assert ids(eng, '"降至10℃。寒潮"') == ["degrees"]
    assert ids(eng, '"面积为120㎡"') == ["area"]
    assert ids(eng, '"120m2"') == ["area"]
    assert "apart" not in ids(eng, '"大学"')  # 伟大……学校 folds to 伟大......学校


def test_character_pair_counts_follow_rebuilds_and_incremental_runs(tmp_path: Path) -> None:
    import numpy as np

    from search.bigrams import BIGRAM_FILE, bigram_codes
    from search.normalize import fold_text
    from search.store.generations import current_generation

    recs = [r for r in RECORDS.values()]
    reindex([write_jsonl(tmp_path / "a.jsonl", recs[:10])], tmp_path / "ix", rebuild=True, procs=1)
    arts = {a.id: a for a in iter_articles([tmp_path / "a.jsonl"])}
    want = sum(len(bigram_codes(fold_text(a.title) + "\n" + fold_text(a.body))) for a in arts.values())
    table = np.load(current_generation(tmp_path / "ix") / BIGRAM_FILE)
    assert int(table.sum()) == want > 0
    reindex([write_jsonl(tmp_path / "b.jsonl", recs[10:12])], tmp_path / "ix", procs=1)  # incremental
    more = {a.id: a for a in iter_articles([tmp_path / "b.jsonl"])}
    added = sum(len(bigram_codes(fold_text(a.title) + "\n" + fold_text(a.body))) for a in more.values())
    assert int(np.load(current_generation(tmp_path / "ix") / BIGRAM_FILE).sum()) == want + added


def test_character_pair_likelihood_prefers_the_text_that_holds_the_pairs() -> None:
    import numpy as np

    from search.bigrams import BIGRAM_BUCKETS, bigram_codes
    from search.ranking import bigram_likelihood

    texts = ["春节临近内地客赴港扫货游掀热潮", "春节临近各地天气晴好", "春节临近内地客赴港扫货游掀热潮" + "天气晴好" * 50]
    table = np.bincount(np.concatenate([bigram_codes(t) for t in texts]), minlength=BIGRAM_BUCKETS)
    lik = bigram_likelihood(texts, "北客南飞涌港扫年货", table, float(table.sum()))
    assert lik[0] > lik[1] and lik[0] > lik[2]  # holds 港扫; the short text beats the padded one
    assert list(bigram_codes("研究a生命")) == list(bigram_codes("研究")) + list(bigram_codes("生命"))


def test_a_phrase_is_scored_by_its_own_frequency_in_each_field(tmp_path: Path) -> None:
    """A quoted text is ranked as one term (its count in the title and in the body, from the
    character index), not by its words: an article holding the run more often ranks higher,
    one holding it in its title above those holding it once in the body, and an article with
    the run's words apart is not a match at all (the same holders as before)."""
    filler = "会议指出要继续推进各项工作。" * 6
    arts = [
        Article(id="once", title="综合新闻", body=filler + "截至1月25日全省已完成。", source="测试"),
        Article(id="thrice", title="综合新闻",
                body="截至1月25日进展顺利。" + filler[:40] + "截至1月25日统计。" + filler[40:] + "截至1月25日止。",
                source="测试"),
        Article(id="title", title="截至1月25日的统计", body=filler + "全省已完成。", source="测试"),
        Article(id="apart", title="综合新闻", body="截至目前，1月份有25个项目。" + filler, source="测试"),
    ]
    index_articles(arts, tmp_path / "ix", procs=1)
    eng = SearchEngine(tmp_path / "ix")
    page = search(eng, '"截至1月25"')
    got = [h.id for h in page.hits]
    assert sorted(got) == ["once", "thrice", "title"] and page.total == 3
    assert got.index("thrice") < got.index("once")
    assert got.index("title") < got.index("once")
    assert all(h.score > 0 for h in page.hits)
    # ANDed with a word every holder has: the same holders.
    both = {h.id: h.score for h in search(eng, '"截至1月25" 会议').hits}
    assert set(both) == set(got)


@pytest.mark.parametrize("pair_bins", [1 << 16, 0])  # source and month counted together, then apart
def test_facets_of_few_or_many_matches_are_the_counts_of_a_plain_loop(engine, monkeypatch, pair_bins) -> None:
    # facets() counts over the matches' ids when they are few (< 1/8 of the archive) and over
    # N-length masks otherwise: both must give what counting the matches one by one gives.
    from collections import Counter

    import numpy as np

    from search import filters
    from search.filters import FACET_LIMIT, facets
    from search.hits import split_codes

    monkeypatch.setattr(filters, "PAIR_BINS", pair_bins)
    from search.region import facet_tree

    with engine._view() as (snap, s):
        cols = engine._columns(snap, s)
        raw = {name: list(s.reader().column_reader(name)) for name in ("source", "month", "regions")}
    n = len(cols.published)
    rng = np.random.default_rng(7)
    cases = []
    for density in (0.0, 1.5 / n, 0.05, 0.1, 0.2, 0.5, 1.0):
        mask = rng.random(n) < density
        cases.append((mask, facets(mask, cols)))
        # counted as a universe's counts less those of the rest (more than half matching)
        universe = mask | (rng.random(n) < 0.3)
        cases.append((mask, facets(mask, cols, universe=universe)))
        cases.append((mask, facets(mask, cols, universe=universe)))  # the universe's counts kept
    for mask, got in cases:
        density = round(float(mask.mean()), 3)
        ids = np.flatnonzero(mask).tolist()
        src = Counter(raw["source"][d] for d in ids if raw["source"][d])
        want_src = sorted(src.items(), key=lambda vc: (-vc[1], vc[0]))[:FACET_LIMIT]
        assert [(v.value, v.count) for v in got["source"]] == want_src, density
        month = Counter(raw["month"][d] for d in ids if raw["month"][d])
        assert [(v.value, v.count) for v in got["month"]] == sorted(month.items()), density
        tags = Counter(r for d in ids if raw["regions"][d] for r in split_codes(raw["regions"][d]))
        regions = [r for r in cols.regions if tags[r]]
        assert got["region"] == facet_tree(regions, [tags[r] for r in regions], FACET_LIMIT), density


def test_each_story_counts_its_other_matching_copies_for_few_and_many_matches(engine) -> None:
    # ClusterCounts sorts the cluster codes of few matches and bincounts many: both must say,
    # for every hit, how many other matches share its story (what the page shows as "+N").
    for q in ("农村人居环境", ""):  # three matches of the fixture archive; then every article
        flat = search(engine, q, size=100, collapse=False)  # strict matches, then looser ones
        assert len(flat.hits) == flat.total + flat.total_relaxed
        per_story: dict[str, int] = {}  # over everything shown (a looser copy is a copy too)
        for h in flat.hits:
            per_story[h.cluster] = per_story.get(h.cluster, 0) + 1
        page = search(engine, q, size=100)
        assert page.stories == len({h.cluster for h in flat.hits[:flat.total]})
        assert {h.cluster: h.similar_count for h in page.hits if h.cluster in per_story} == \
            {c: n - 1 for c, n in per_story.items() if any(h.cluster == c for h in page.hits)}
        assert any(h.similar_count for h in page.hits)


def test_cluster_counts_of_any_mask_are_those_of_a_plain_loop(engine) -> None:
    from collections import Counter

    import numpy as np

    from search.engine import ClusterCounts

    with engine._view() as (snap, s):
        cols = engine._columns(snap, s)
    n = len(cols.cluster)
    rng = np.random.default_rng(11)
    for density in (0.0, 1.5 / n, 0.05, 0.1, 0.2, 0.5, 1.0):  # the sparse path below 1/8
        mask = rng.random(n) < density
        want = Counter(int(cols.cluster[d]) for d in np.flatnonzero(mask))
        got = ClusterCounts(cols.cluster, mask, len(cols.clusters))
        assert got.stories == len(want), density
        assert all(got[c] == want.get(c, 0) for c in range(len(cols.clusters))), density


def test_a_repeated_search_is_answered_from_the_commit_s_result_cache(tmp_path, monkeypatch) -> None:
    from conftest import core_records, write_jsonl
    from search.indexer import reindex

    monkeypatch.setenv("XUNWEN_RESULT_CACHE", "512")
    recs = core_records()[:40]
    src = write_jsonl(tmp_path / "a.jsonl", recs)
    ix = tmp_path / "ix"
    reindex([src], ix, rebuild=True, procs=1)
    eng = SearchEngine(ix)
    req = SearchRequest(q=recs[0]["title"][:6], collapse=False)
    first = eng.search(req)
    again = eng.search(req)
    assert again.hits == first.hits and again.total == first.total and again.facets == first.facets
    assert len(eng._results) == 1  # one page kept, found again
    # A new commit is a new key: the added article is found at once, not hidden by the cache.
    new = {**recs[0], "id": "cache-new", "title": recs[0]["title"][:6] + "（新）"}
    reindex([write_jsonl(tmp_path / "b.jsonl", [new])], ix)
    eng.refresh()
    assert "cache-new" in [h.id for h in eng.search(req).hits]
    # Another request is another entry; XUNWEN_RESULT_CACHE=0 keeps nothing.
    eng.search(SearchRequest(q=req.q, collapse=False, sort="newest"))
    assert len(eng._results) == 3
    eng.close()
    monkeypatch.setenv("XUNWEN_RESULT_CACHE", "0")
    off = SearchEngine(ix)
    off.search(req)
    off.search(req)
    assert len(off._results) == 0
    off.close()


def _rss_file_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))


def test_over_its_rss_limit_a_server_drops_the_index_maps_resident_pages(core_index) -> None:
    from search.snapshot import release_mapped

    eng = SearchEngine(core_index)
    want = {q: [h.id for h in eng.search(SearchRequest(q=q, snippets=False)).hits] for q in ("经济", "会议", '"新闻联播"')}
    eng._results.clear()
    before = _rss_file_kb()
    release_mapped(eng._snaps._snap)
    assert _rss_file_kb() < before  # the maps' pages left this process (the page cache keeps them)
    # Under the limit nothing happens; over it, every `every` searches, the pages are dropped.
    assert not eng._snaps.trim_resident(1 << 50, every=1)
    assert eng._snaps.trim_resident(1, every=1)
    # The index reads as before: the pages fault in again.
    for q, ids in want.items():
        assert [h.id for h in eng.search(SearchRequest(q=q, snippets=False)).hits] == ids
    eng.close()
