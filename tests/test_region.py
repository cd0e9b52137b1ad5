"""Region tagging: gazetteer, anchors (dateline, title prefix, wire dateline), mentions."""

from __future__ import annotations

from pathlib import Path

import pytest

from search import region
from search.models import Article
from search.normalize import clean_text

SEED = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "seed" / "000_6ede58738be5c303.txt"
SEED_TITLE = "四川珙縣:“巡審聯動”打出監督“組合拳”"


def art(title: str = "新闻", body: str = "", dateline: str | None = None) -> Article:
    return Article(id="t", title=title, body=body, dateline=dateline)


def test_gazetteer_has_all_levels():
    units = region.units()
    levels = [u.level for u in units.values()]
    assert levels.count(1) == 34
    assert 330 <= levels.count(2) <= 360
    assert levels.count(3) >= 2800
    assert region.region_path("511526") == ("四川", "宜宾", "珙县")
    assert region.region_path("110105") == ("北京", "朝阳区")


def test_place_names_for_jieba():
    names = region.place_names()
    assert {"珙县", "宜宾", "宜宾市", "四川", "四川省", "凉山", "朝阳区"} <= set(names)
    assert all(len(n) >= 2 for n in names)
    assert "中方" not in names  # 中方县's short form is an ordinary word


@pytest.mark.skipif(not SEED.exists(), reason="shared corpus seed page not present")
def test_seed_page_traditional():
    body = clean_text(SEED.read_text("utf-8"))
    assert region.tag_region(art(SEED_TITLE, body, dateline="四川")) == ("四川", "宜宾", "珙县")
    # Without metadata the title prefix and the wire dateline still find it.
    assert region.tag_region(art(SEED_TITLE, body)) == ("四川", "宜宾", "珙县")


def test_seed_title_prefix_alone():
    assert region.tag_region(art(SEED_TITLE)) == ("四川", "宜宾", "珙县")
    assert region.tag_region(art("四川珙县：巡审联动")) == ("四川", "宜宾", "珙县")


@pytest.mark.parametrize("body, expected", [
    ("中新社北京10月19日电 国务院新闻办公室今天举行发布会。", ("北京",)),
    ("新华社成都4月29日电 记者从有关部门获悉。", ("四川", "成都")),
    ("中新网四川新闻4月29日电 (吴平华 王紫溦)监督是治理的内在要素。", ("四川",)),
    ("中新网客户端北京10月19日电 今天。", ("北京",)),
])
def test_wire_dateline(body, expected):
    assert region.tag_region(art("发布会举行", body)) == expected


def test_metadata_dateline():
    assert region.tag_region(art(dateline="成都")) == ("四川", "成都")
    assert region.tag_region(art(dateline="北京")) == ("北京",)
    assert region.tag_region(art(dateline="台北")) == ("台湾", "台北")
    assert region.tag_region(art(dateline="大同")) == ("山西", "大同")


def test_foreign_dateline_does_not_invent_a_region():
    body = "中新社华盛顿10月19日电 美国官员称，四川、四川、四川的企业代表与四川省官员会面。"
    assert region.tag_region(art("中美经贸", body)) == ()
    assert region.tag_region(art("中美经贸", "四川四川四川四川", dateline="华盛顿")) == ()


def test_passing_mention_does_not_tag():
    body = ("国家统计局今天发布数据，全国规模以上工业增加值同比增长5%。" * 5
            + "其中四川等地增速较快。" + "专家认为，经济回升向好态势持续巩固。" * 5)
    assert region.tag_region(art("前三季度经济数据发布", body)) == ()


def test_list_of_provinces_does_not_tag():
    body = "北京、上海、广东、四川、浙江、江苏等地" * 3
    assert region.tag_region(art("多地出台新政", body)) == ()


def test_mentions_tag_with_title_weight_and_refine():
    body = "近日，宜宾市珙县召开巡察工作会议。珙县县委表示，宜宾将继续推进。"
    assert region.tag_region(art("宜宾推进巡察工作", body)) == ("四川", "宜宾", "珙县")


def test_ambiguous_names_need_context():
    # 朝阳区 exists in Beijing and Changchun; 通州区 in Beijing and Nantong.
    assert region.tag_region(art("朝阳区举行活动", "朝阳区居民参加。朝阳区")) == ()
    assert region.tag_region(art("xx", "朝阳区居民参加。朝阳区", dateline="北京")) == ("北京", "朝阳区")
    assert region.tag_region(art("北京朝阳：社区服务升级")) == ("北京", "朝阳区")
    assert region.tag_region(art("南通通州区发布新规", "通州区 南通 通州区")) == ("江苏", "南通", "通州区")


def test_province_meaning_wins_for_shared_names():
    assert region.tag_region(art("吉林：冰雪旅游升温", "")) == ("吉林",)
    assert region.tag_region(art("海南自贸港建设提速", "海南 海南")) == ("海南",)


def test_streets_and_fixed_words_are_not_places():
    assert region.tag_region(art("新华社评论", "新华社 新华社 四川路 四川路 北京路 北京路")) == ()


def test_traditional_input_outputs_simplified():
    assert region.tag_region(art("廣東深圳：科技創新", "")) == ("广东", "深圳")


def test_with_region_returns_copy():
    a = art(SEED_TITLE)
    b = region.with_region(a)
    assert b.region == ("四川", "宜宾", "珙县") and a.region == () and b.title == a.title
