"""Text helpers every reader shares: language, wire datelines, bylines (names and sources) and ids."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from ..normalize import clean_text, opencc_converter
from .dates import parse_datetime

__all__ = ["detect_lang", "find_dateline", "parse_byline"]

# --------------------------------------------------------------------------- shared text helpers

def detect_lang(text: str) -> str:
    """Return "zh-Hant" when traditional-only characters outnumber simplified-only ones, else "zh-Hans"."""
    sample = "".join(c for c in text[:4000] if "\u3400" <= c <= "\u9fff")[:1500]
    if not sample:
        return "zh-Hans"
    simp = opencc_converter("t2s").convert(sample)
    trad = opencc_converter("s2t").convert(sample)
    if len(simp) != len(sample) or len(trad) != len(sample):
        return "zh-Hans"
    trad_only = sum(a != b for a, b in zip(sample, simp))
    simp_only = sum(a != b for a, b in zip(sample, trad))
    return "zh-Hant" if trad_only > simp_only else "zh-Hans"


_DATELINE_RE = re.compile(
    r"(?:中新社|中央社|中通社|美[联聯]社|路透社|法新社|共同社|[韩韓][联聯]社|中新[网網]|新[华華]社|新[华華][网網]|人民[网網]|央[视視][网網]|央[广廣][网網]|[国國]际在线|"
    r"中[国國]日[报報][网網]?|光明[网網]|[环環]球[网網]|澎湃新[闻聞]|本[报報]|[据據])"
    r"\s*([\u4e00-\u9fff]{2,8}?)(?:新[闻聞]|[频頻]道|分社|[站])?\s*"
    r"(?:\d{1,2}|[一二三四五六七八九十]{1,3})月(?:\d{1,2}|[一二三四五六七八九十]{1,3})日\s*(?:[电電]|消息|[讯訊])"
)
_NOT_PLACE = {"记者", "記者", "报道", "報道", "讯", "訊"}


def find_dateline(text: str) -> str | None:
    """Return the place of a wire dateline near the start of text (中新社北京10月19日电 → 北京)."""
    m = _DATELINE_RE.search(text[:300])
    if not m:
        return None
    place = m.group(1)
    if place in _NOT_PLACE or place.startswith(("记者", "記者")):
        return None
    return place


_NAME = r"[\u4e00-\u9fff·]{2,5}"
BYLINE_RE = re.compile(
    r"(?:[电電]|消息|[讯訊])\s*[（(]\s*((?:(?:实习|實習|见习|見習|特约|特約|总台|總台)?(?:记者|記者|通讯员|通訊員)\s*)?"
    rf"{_NAME}(?:\s*(?:[、,，\s]|(?:实习|實習|特约|特約)?(?:记者|記者|通讯员|通訊員))\s*{_NAME})*)\s*[)）]"
)
_ROLE_RE = re.compile(r"(?:实习|實習|见习|見習|特约|特約|总台|總台|本[报報])?(?:记者|記者|通讯员|通訊員|作者|撰稿|摄影|攝影)")
_NOT_PERSON_RE = re.compile(r"[网網报報社台站]|集团|集團|新闻|新聞|扫|日报|日報|中心|部门|部門|政府")

# ---- bylines: role keys, the values after them, and what a name may look like
AUTHOR_KEYS = (
    r"(?:(?:本[报報刊台网網站]|总台|總台|特约|特約|实习|實習|见习|見習|驻[\u4e00-\u9fff]{1,4})?(?:记者|記者)|"
    r"(?:本[报報])?通讯员|(?:本[报報])?通訊員|实习生|實習生|作者|撰文|撰稿|文字|摄影|攝影|摄像|攝像|图片|圖片|配图|配圖|供图|供圖)"
)
EDITOR_KEYS = (
    r"(?:责任编辑|責任編輯|值班编辑|值班編輯|网络编辑|網絡編輯|责编|責編|编辑|編輯|主编|主編|审核|審核|审校|審校|校对|校對|终审|終審)"
)
SOURCE_KEYS = r"(?:本文来源|文章来源|文章來源|信息来源|信息來源|稿件来源|新闻来源|来源|來源|稿源|出处|出處|出自)"
_OTHER_KEYS = (
    r"(?:发布时间|發佈時間|发布日期|更新时间|更新時間|发表时间|发表于|發表於|时间|時間|日期|浏览|瀏覽|点击|點擊|阅读|閱讀|"
    r"字号|字號|关键词|關鍵詞|关键字|标签|標簽|分享到?|评论|評論|打印|关闭|關閉|责任|編號|编号)"
)
_KEY_RE = re.compile(
    rf"(?P<author>{AUTHOR_KEYS})|(?P<editor>{EDITOR_KEYS})|(?P<source>{SOURCE_KEYS})|(?P<other>{_OTHER_KEYS})"
)
_KEY_SEP_RE = re.compile(r"\s*(?:[:：︰︱|｜/／]\s*)?")
HAN = "\u4e00-\u9fff\u3400-\u4dbf"
_HAN_NAME_RE = re.compile(rf"[{HAN}]{{2,4}}|[{HAN}]{{1,6}}(?:[·•][{HAN}]{{1,8}})+")
_LATIN_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.&\-]{1,24}")
_CODE_RE = re.compile(r"\d{3,}|^[A-Z]{1,4}\d+$|^\d+$")  # CMS user codes (NF055, L_104485), not names
_EDITOR_CODE_RE = re.compile(r"_[A-Za-z]{1,4}\d{2,}$")  # 杨倩_NF4425: the CMS user code of an editor
# values that are page furniture or placeholders, never a person or a publisher
_FURNITURE_NAMES = frozenset(
    "本报 本報 本刊 本台 本网 本網 本站 记者 記者 编辑 編輯 责任编辑 責任編輯 责编 通讯员 通訊員 作者 来源 來源 出自 出处 "
    "已推荐 推荐 推薦 简介 簡介 声明 聲明 分享 转载 轉載 原创 原創 未知 佚名 匿名 网友 網友 综合 綜合 网络 網絡 互联网 "
    "最新动态 最新文章 聚焦 关键字 关键词 相关链接 相关新闻 访问统计 返回首页 返回 专题 專題 更多 打开 首页 首頁 正文 全文 "
    "搜索 登录 注册 评论 評論 阅读 閱讀 点击 發表 发表 发布 發佈 时间 時間 日期 浏览 字号 打印 关闭 收藏 举报 纠错 "
    "图片 圖片 视频 視頻 摄影 攝影 文字 报道 報道 讯 消息 实习生 特约 整理 编译 編譯 供图 配图 报讯 電 电".split()
)
_PLACEHOLDERS = frozenset("name author editor admin administrator user unknown null none anonymous guest www http https".split())
_MARKUP_RE = re.compile(r"[<>=\"{}@]|&[a-z]+;|^(?:size|color|style|class|href|font|width|height)$", re.I)
_DOMAIN_RE = re.compile(r"\.(?:com|cn|net|org|gov|edu|cc|tv|hk|tw)\b", re.I)


def _valid_name(name: str, *, latin: bool = False) -> str | None:
    """Return the cleaned person name, or None when the value is furniture, markup or an organisation."""
    name = _EDITOR_CODE_RE.sub("", name.strip(" ·•[]【】()（）:：,，、"))
    if not name or name in _FURNITURE_NAMES or _MARKUP_RE.search(name) or _DOMAIN_RE.search(name):
        return None
    if _HAN_NAME_RE.fullmatch(name):
        if _NOT_PERSON_RE.search(name) or _KEY_RE.search(name):
            return None
        return name
    if latin and _LATIN_NAME_RE.fullmatch(name) and name.lower() not in _PLACEHOLDERS and not _CODE_RE.search(name):
        return name
    return None


def valid_source(value: str) -> str | None:
    """Return a publisher name, or None for furniture, markup, dates and counters."""
    value = value.strip(" []【】:：,，|｜")
    for o, c in ("()", "（）"):
        if value.count(o) != value.count(c):
            value = value.strip(o + c)
    if not 2 <= len(value) <= 40 or value in _FURNITURE_NAMES or _MARKUP_RE.search(value):
        return None
    if value.lower() in _PLACEHOLDERS or parse_datetime(value) is not None:
        return None
    if sum(c.isalpha() for c in value) * 2 < len(value):
        return None
    return value


_NAME_SPLIT_RE = re.compile(r"[、,，;；:：/／\s]+")
# a name ends at a space, a slash, a bracket, the end of the line, or a role suffix (摄, 报道, 文)
_NAME_END = r"(?=$|[\s/／|｜)）\]】]|摄|攝|报道|報道|文(?![\u4e00-\u9fff]))"
_SUFFIX_ROLE_RE = re.compile(rf"(?:^|(?<=[\s(（\[【|｜]))([{HAN}·]{{2,8}})\s*[/／]\s*(?:文|图|圖|摄|攝)(?![{HAN}])|"
                             rf"(?:^|(?<=[\s(（\[【]))([{HAN}]{{2,4}})\s+(?:摄|攝)(?![{HAN}])")
_PREFIX_ROLE_RE = re.compile(rf"(?:^|(?<=[\s(（\[【|｜]))(?:文|图|圖)\s*[/／︱|｜]\s*([{HAN}·]{{2,8}}|[A-Za-z][\w.\-]{{1,24}})")
TRAILING_PAREN_RE = re.compile(
    rf"[（(]\s*(?:(?:{AUTHOR_KEYS})\s*)?([{HAN}·]{{2,8}}(?:\s*[、,，\s]\s*(?:(?:{AUTHOR_KEYS})\s*)?[{HAN}·]{{2,8}}){{0,5}})\s*[)）]\s*$"
)
# "2004年7月16日08:19 [ 黄宇 ] 来源：[ 国际金融报 ]": the bracketed name before the source
_BRACKET_NAME_RE = re.compile(rf"[\[【]\s*([{HAN}·]{{2,8}}(?:\s+[{HAN}·]{{2,4}}){{0,3}})\s*[\]】]\W{{0,3}}(?:{SOURCE_KEYS})")
POSTED_BY_RE = re.compile(
    rf"^(?:本[贴帖]由|由)\s*([{HAN}A-Za-z0-9_&\-]{{2,20}}?)\s*于\s*(?:19|20)\d{{2}}|"
    rf"^([{HAN}A-Za-z0-9_&\-]{{2,20}})\s*(?:发表于|發表於)\s*(?:19|20)\d{{2}}|\d\s+by\s+([A-Za-z][\w.\-]{{1,24}})\b"
)


_SPACED_NAME_RE = re.compile(rf"(?<![{HAN}])([{HAN}])[ \u3000]{{1,3}}([{HAN}])(?![{HAN}])")


def names_in(value: str, *, latin: bool) -> list[str]:
    out = []
    # two-character names are padded to the width of three in many layouts: "赵  培"
    value = _SPACED_NAME_RE.sub(r"\1\2", _ROLE_RE.sub(" ", value))
    for part in _NAME_SPLIT_RE.split(value):
        name = _valid_name(part, latin=latin)
        if name:
            out.append(name)
        elif part and not _valid_name(part, latin=True) and out:
            break  # names stop at the first word that is not one ("记者 王五 山东冠县报道")
    return out


def parse_byline(lines: Iterable[str]) -> tuple[list[str], str | None]:
    """Parse byline lines (记者/通讯员/编辑/责任编辑/来源/文/图 …) into (person names, source)."""
    names: list[str] = []
    source: str | None = None
    for line in lines:
        line = line.strip()
        if not line or len(line) > 120:
            continue
        keys = list(_KEY_RE.finditer(line))
        for k, m in enumerate(keys):
            stop = keys[k + 1].start() if k + 1 < len(keys) else len(line)
            sep = _KEY_SEP_RE.match(line, m.end())
            value = line[sep.end() : stop]
            has_sep = sep.end() > m.end()
            if m.lastgroup == "source":
                if has_sep and source is None:
                    first = re.split(r"[\s|｜【\[]", value.strip(" \t[【"), maxsplit=1)[0]
                    source = valid_source(first)
            elif m.lastgroup in ("author", "editor"):
                # 记者了解到… is prose: without a separator the name must end at a boundary
                if not has_sep and not re.match(rf"[{HAN}·]{{2,4}}{_NAME_END}", value):
                    continue
                names += names_in(value, latin=has_sep)
        m = _BRACKET_NAME_RE.search(line)
        if m:
            names += names_in(m.group(1), latin=False)
        for m in _SUFFIX_ROLE_RE.finditer(line):
            names += names_in(m.group(1) or m.group(2), latin=False)
        for m in _PREFIX_ROLE_RE.finditer(line):
            names += names_in(m.group(1), latin=True)
        m = POSTED_BY_RE.search(line)
        if m:
            names += names_in(next(g for g in m.groups() if g), latin=True)
    return names, source


def split_names(s: str) -> list[str]:
    """Split an author field ("张三、李四", "记者 王五", "Hans Publishers") into valid names."""
    out = []
    for part in re.split(r"[、,，;；/／|｜]+", s):
        # a Latin field with spaces is one phrase (a publisher, a template placeholder), not names
        if re.search(rf"[{HAN}]", part) or " " not in part.strip():
            out += names_in(part, latin=True)
    return out


def dedupe(items: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for it in items:
        if it:
            seen.setdefault(it, None)
    return tuple(seen)


def hash_id(prefix: str, *parts: str) -> str:
    h = hashlib.sha1("\n".join(parts).encode("utf-8")).hexdigest()[:12]
    return f"{prefix}-{h}"


def url_id(url: str) -> str:
    return "web-" + hashlib.sha1(url.encode("utf-8")).hexdigest()[:12]


def clean_line(text: str) -> str:
    return clean_text(text, multiline=False)
