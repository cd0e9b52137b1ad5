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
    ("新华社成都4月29日电 记者从有关部门获悉，成都市今年将新建公园。", ("四川", "成都")),
    ("中新网四川新闻4月29日电 (吴平华 王紫溦)四川省监督是治理的内在要素。", ("四川",)),
    # A dateline says where the story was filed: with nothing else it does not tag.
    ("新华社成都4月29日电 记者从有关部门获悉。", ()),
    # The capital's dateline is where the wire desk sits (gold rule 4).
    ("中新社北京10月19日电 国务院新闻办公室今天举行发布会。", ()),
])
def test_wire_dateline(body, expected):
    assert region.tag_region(art("发布会举行", body)) == expected


def test_metadata_dateline_counts_with_one_more_mention():
    assert region.tag_region(art(dateline="成都")) == ()
    assert region.tag_region(art("成都推出夜游线路", dateline="成都")) == ("四川", "成都")
    assert region.tag_region(art("台北举行灯会", dateline="台北")) == ("台湾", "台北")
    assert region.tag_region(art("大同古城灯会开幕", "大同市民", dateline="大同")) == ("山西", "大同")
    assert region.tag_region(art("北京推出新举措", dateline="北京")) == ("北京",)


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
    assert region.tag_region(art("北京：社区活动", "朝阳区居民参加。朝阳区")) == ("北京", "朝阳区")
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


@pytest.mark.parametrize("title, body", [
    ("美国明州和缅因州发生山火", "明尼苏达州官员说，明尼苏达州和内华达州的火势仍在蔓延。马里兰州也发布预警。"),
    ("苏海南：工资改革要稳", "中国劳动学会副会长苏海南表示，苏海南认为调整要稳。"),
    ("斯诺克公开赛", "北京时间今天凌晨，北京时间下午，选手张安达在比赛中获胜。"),
    ("习近平会见卢拉", "巴中两国是好朋友。巴中友好源远流长。新华社报道。"),
])
def test_traps_do_not_tag(title, body):
    assert region.tag_region(art(title, body)) == ()


def test_transliterated_state_is_not_a_city():
    # 达州 and 兰州 are real cities; inside a transliteration they are not.
    body = "美国明尼苏达州、马里兰州和内华达州的官员表示。明尼苏达州将扩大援助。"
    assert region.tag_region(art("美国多州出台新规", body)) == ()
    assert region.tag_region(art("达州：秋收忙", "达州市农民正在收割。")) == ("四川", "达州")


def test_organisation_implies_its_place_only_without_another_place():
    body = "南开大学日前举行迎春茶话会，南开大学师生代表参加。南开大学校长致辞。"
    assert region.tag_region(art("南开大学隆重举行迎春茶话会", body)) == ("天津",)
    body = "南开大学校领导日前赴辽宁开展招生宣传。在辽宁沈阳，南开大学与沈阳多所中学座谈。"
    assert region.tag_region(art("校领导赴辽宁开展招生宣传工作", body)) == ("辽宁", "沈阳")


def test_landmark_infers_the_county_with_parents():
    body = "乌镇举行公益慈善论坛，乌镇的与会者表示。"
    assert region.tag_region(art("乌镇公益论坛开幕", body)) == ("浙江", "嘉兴", "桐乡市")


def test_roundup_tags_each_segment_and_parents_always():
    body = ("当前，各地积极推进首发经济。\n在四川成都，首发活动受到欢迎。成都已累计落户首店395家。\n"
            "在江苏南京，新商场人头攒动。南京共新开首店超200家。")
    tags = region.tag_region(art("各地积极推进首发经济", body))
    assert set(tags) == {"四川", "成都", "江苏", "南京"}
    assert tags.index("四川") < tags.index("成都") and tags.index("江苏") < tags.index("南京")
    assert region.tag_region(art("珙县：巡审联动")) == ("四川", "宜宾", "珙县")


def test_abbreviations_name_provinces():
    assert set(region.tag_region(art("京津冀将统一油品标准", ""))) == {"北京", "天津", "河北"}
    assert set(region.tag_region(art("云、桂、琼农村饮水检查完成", ""))) == {"云南", "广西", "海南"}


def test_everyday_words_equal_to_county_names_are_not_mentions():
    body = "双方加强合作，共享资源，维护和平，祝愿平安。合作共赢，资源共享。合作、和平、平安。"
    assert region.tag_region(art("合作共赢", body)) == ()


def test_statistics_and_lists_do_not_tag_children():
    body = "吉林省卫健委通报，新增病例5例，其中延边州2例,长春市1例,吉林市1例,梅河口市1例。"
    assert region.tag_region(art("吉林累计4例境外输入病例", body)) == ("吉林",)


def test_canonical_and_codes_accept_full_short_and_former_names():
    assert region.canonical("四川省") == region.canonical("四川") == "四川"
    assert region.canonical("宜宾市") == "宜宾"
    assert region.canonical("广西壮族自治区") == "广西"
    assert region.canonical("莱芜市") == "莱芜区"  # merged into 济南 in 2019
    assert region.units()[region.codes_for("莱芜")[0]].parent == "370100"
    assert region.canonical("郫县") == "郫都区"
    assert region.canonical("火星") is None
    assert region.codes_for("四川省") == ("510000",)
    assert set(region.codes_for("朝阳区")) == {"110105", "220104"}


def test_provinces_lists_34_units():
    provs = region.provinces()
    assert len(provs) == 34
    assert ("四川", "510000") in provs and ("台湾", "710000") in provs and ("香港", "810000") in provs


def test_tag_units_returns_codes_with_parents():
    assert region.tag_units(art("四川珙县：巡审联动")) == ("510000", "511500", "511526")


# --- in the engine: a real index in a temp dir ------------------------------------------

def _region_index(tmp_path: Path):
    from search.engine import SearchEngine
    from search.indexer import index_articles

    arts = [
        Article(id="a1", title="四川珙县：巡审联动打出组合拳", body="珙县纪委监委开展巡审联动工作。"),
        Article(id="a2", title="成都推出夜游锦江观光巴士", body="在四川成都，夜游观光巴士受到市民欢迎。成都市民纷纷体验。"),
        Article(id="a3", title="江苏南京新商场开业", body="在江苏南京，新商场人头攒动。南京共新开首店超200家。"),
        Article(id="a4", title="北京朝阳：社区服务升级", body="朝阳区居民参加社区活动。"),
        Article(id="a5", title="长春朝阳区举办冰雪节", body="吉林长春朝阳区冰雪节开幕，朝阳区居民参加。"),
        Article(id="a6", title="全国经济数据发布", body="国家统计局发布数据。"),
    ]
    index_articles(arts, tmp_path / "ix", procs=1)
    return SearchEngine(tmp_path / "ix")


def test_filter_accepts_full_short_and_includes_children(tmp_path: Path):
    from search.models import SearchRequest

    eng = _region_index(tmp_path)

    def ids(**kw) -> set[str]:
        return {h.id for h in eng.search(SearchRequest(**kw)).hits}

    assert ids(region=("四川省",)) == ids(region=("四川",)) == {"a1", "a2"}
    assert ids(region=("宜宾市",)) == {"a1"}
    assert ids(q="region:四川省") == ids(q="region:四川") == {"a1", "a2"}
    assert ids(q="地区:江苏省") == {"a3"}
    # 朝阳区 is in Beijing and in Changchun; the tag knows which.
    assert ids(region=("北京", "朝阳区")) == {"a4"}
    assert ids(region=("吉林省", "朝阳区")) == {"a5"}
    assert ids(region=("火星",)) == set()


def test_region_facet_is_a_tree_with_level_and_parent(tmp_path: Path):
    from search.models import SearchRequest

    eng = _region_index(tmp_path)
    page = eng.search(SearchRequest())
    facet = page.facets["region"]
    by = {(f.value, f.parent): f for f in facet}
    assert by[("四川", None)].level == 1 and by[("四川", None)].count == 2
    assert by[("宜宾", "四川")].level == 2 and by[("珙县", "宜宾")].level == 3
    assert by[("朝阳区", "北京")].level == 3  # a municipality's districts: county level, parent 北京
    assert by[("朝阳区", "长春")].level == 3
    # Parents come before their children, so a client can build the tree in one pass.
    order = [(f.value, f.parent) for f in facet]
    assert order.index(("四川", None)) < order.index(("宜宾", "四川")) < order.index(("珙县", "宜宾"))
    d = page.to_dict()["facets"]["region"]
    assert {"value": "四川", "count": 2, "level": 1} in d
    assert all("parent" in v for v in d if v["level"] > 1)


def test_river_named_like_a_district_is_the_river():
    body = "在四川成都，夜游锦江观光巴士受到欢迎。锦江两岸灯火通明，成都市民沿锦江散步。"
    assert region.tag_region(art("成都推出夜游锦江线路", body)) == ("四川", "成都")
    assert region.tag_region(art("成都锦江区：社区服务升级", "锦江区居民参加。")) == ("四川", "成都", "锦江区")


def test_a_year_after_a_name_is_not_a_statistic():
    assert region.tag_region(art("成都2025年世运会开幕", "")) == ("四川", "成都")
    assert region.tag_region(art("吉林疫情通报", "吉林省新增病例,延边州2例,长春市1例。")) == ("吉林",)


def test_precomputed_facet_tree_equals_the_definition_over_random_counts():
    # FacetTree (what a query uses: grouping and code order worked out once per snapshot) must
    # give facet_tree's answer for any counts: provinces, their children and grandchildren, ties
    # broken by code, values the gazetteer does not know listed flat after the tree.
    import random

    import numpy as np

    from search.region import FacetTree, _load, facet_tree

    g = _load()
    rng = random.Random(3)
    codes = sorted(g.units)
    values = rng.sample(codes, 900) + ["某地", "旧标签", ""]
    rng.shuffle(values)
    tree = FacetTree(values)
    for trial in range(40):
        counts = np.array([rng.choice([0, 0, 1, 2, 3, rng.randrange(1, 50)]) for _ in values], dtype=np.int64)
        limit = rng.choice([1, 3, 10])
        assert tree.facets(counts, limit) == facet_tree(values, counts.tolist(), limit), trial
