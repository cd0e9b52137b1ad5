"""Turn input files (HTML in any charset, page-text dumps, JSON lines, WARC) into Articles.

The ingester works from bytes. Charset labels are hints only: every candidate decoding is
validated over the whole document, so a page that says gb2312 but is UTF-8 still decodes
cleanly. The article body is found by scoring the DOM: each text line (a block or a
``<br>``-separated run) counts as content when it carries sentence punctuation and little
link text, and as boilerplate otherwise; the element whose subtree maximizes
``content - boilerplate`` is the article. Metadata (headline, time, source, authors,
canonical URL, wire dateline) comes from meta tags first and visible text second.

Bad input never raises out of :func:`iter_articles`: each skipped input is reported as a
:class:`Problem` (path, line, reason) and the run goes on.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import json
import logging
import os
import re
import stat
import threading
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import lxml.html
from lxml import etree

from .errors import ExtractError
from .models import Article
from .normalize import clean_text

__all__ = [
    "Problem",
    "iter_articles",
    "count_inputs",
    "extract_html",
    "extract_text_dump",
    "article_from_record",
    "decode_bytes",
    "parse_datetime",
    "detect_lang",
    "find_dateline",
    "cap_article",
    "id_problem",
    "parse_byline",
    "SHANGHAI",
    "MAX_PAGE_BYTES",
    "MAX_PAGE_TAGS",
    "MAX_LINE_BYTES",
    "MAX_JSON_VALUES",
    "MAX_STREAM_BYTES",
    "MAX_TITLE_CHARS",
    "MAX_BODY_CHARS",
    "MAX_ID_CHARS",
    "InputTooLarge",
]

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Input limits (docs/RELIABILITY.md, "Ingest"). Everything is read as a stream and checked
# against these before it is held in memory, so no input can make ingest grow without bound.
MIB = 1024 * 1024
# One HTML page or text dump is decoded and parsed whole (lxml needs it all): about 15x its
# size at peak. The largest page of the shared corpus is under 1 MiB.
MAX_PAGE_BYTES = 16 * MIB
# lxml's tree costs ~400 bytes per element: 16 MiB of "<br>" is 4 M elements and 1.6 GB, so a
# page's markup is bounded too, by its count of "<" (an upper bound of its tags). The most
# tagged page of the shared corpus's HTML set has 15,397; the median 578.
MAX_PAGE_TAGS = 200_000
# One JSON line holds one article; a body at the MAX_BODY_CHARS cap is <= 1.2 MiB even as
# \uXXXX escapes, so 32 MiB leaves room for long records and bounds a line's peak memory.
MAX_LINE_BYTES = 32 * MIB
# Python objects cost 50-70 bytes each: a 32 MiB line of "{}," is 11 M dicts and 0.9 GB once
# parsed. A record has a few dozen values; its text may hold commas and brackets, so the
# bound on "," + "[" + "{" (an upper bound of the values in a line) is generous.
MAX_JSON_VALUES = 1_000_000
# A .jsonl(.gz)/.warc(.gz) is read record by record, so its total size costs time, not
# memory; past this much decompressed data the rest of the file is refused (a bomb).
MAX_STREAM_BYTES = 16 * 1024 * MIB
# Article text kept at ingest. The shared corpus (72,534 articles): longest body 69,025
# characters (99.99th percentile 40,758), longest title 111. Text beyond the caps is cut,
# the article kept and the cut reported: query-time stages read the whole stored text.
MAX_TITLE_CHARS = 1_000
MAX_BODY_CHARS = 200_000
MAX_META_CHARS = 1_000  # source, category, dateline, each author
MAX_URL_CHARS = 4_096  # a cut URL points nowhere: a longer one is dropped
MAX_ID_CHARS = 200  # SearchEngine refuses to look up longer ids


@dataclass(frozen=True)
class Problem:
    """One skipped input (or, with ``kept``, an article indexed with its text cut): where and why."""

    path: str
    line: int | None
    reason: str
    kept: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"path": self.path, "line": self.line, "reason": self.reason}

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


# --------------------------------------------------------------------------- charset

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET_RE = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)|<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""",
    re.I,
)
_GB_LABELS = {"gb2312", "gbk", "gb18030", "gb_2312-80", "x-gbk", "cp936", "ms936", "euc-cn", "x-euc-cn", "csgb2312", "936"}
_BIG5_LABELS = {"big5", "big5-hkscs", "big5hkscs", "x-big5", "cp950", "ms950", "csbig5", "950"}
# The most frequent Chinese characters; used to choose between GB and Big5 when the bytes
# decode strictly as both (Big5 bytes are nearly always valid GBK, but decode to rare junk).
_COMMON_SIMPLIFIED = (
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作"
    "里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开但因只从想"
    "实日军者意无力它与长把机十民第公此已工使情明性知全三又关点正业外将两高间由问很最重并物手应战向头文体"
    "政美相见被利什二等产或新己制身果加西斯月话合回特代内信表化老给世位次度门任常先海通教儿原东声提立及比"
    "员解水名真论处走义各入几口认条平系气题活尔更别打女变四神总何电数安少报才结反受目太量再感建务做接必场"
    "件计管期市直德资命山金指克许统区保至队形社便空决治展马科司五基眼书非则听白却界达光放强即像难且权思王"
    "象完设式色路记南品住告类求据程北边死张该交规万取拉格望觉术领共确传师观清今切院让识候带导争运笑飞风步"
    "改收根干造言联持组每济车亲极林服快办议往元英士证近失转夫令准布始怎呢存未远叫台单影具罗字爱击流备兵连"
    "调深商算质团集百需价花党华城石级整府离况亚请技际约示复病息究线似官火断精满支视消越器容照须九增研写称"
    "企八功吗包片史委乎查轻易早曾除农找装广显吧阿李标谈吃图念六引历首医局突专费号尽另周较注语仅考落青随选"
    "列武红响虽推势参希古众构房半节土投某案黑维革划敌致陈律足态护七兴派孩验责营星够章音跟志底站严巴例防族"
    "供效续施留讲型料终答紧黄绝奇察母京段依批群项故按河米围江织害斗双境客纪采举杀攻父苏密低朝友诉止细愿千"
)
_common_lock = threading.Lock()
_common_chars: frozenset[str] | None = None


def _common() -> frozenset[str]:
    global _common_chars
    if _common_chars is None:
        with _common_lock:
            if _common_chars is None:
                import opencc

                trad = opencc.OpenCC("s2t").convert(_COMMON_SIMPLIFIED)
                _common_chars = frozenset(_COMMON_SIMPLIFIED + trad)
    return _common_chars


def _canon_charset(label: str | None) -> str | None:
    """Map a declared charset label to the Python codec we decode it with."""
    if not label:
        return None
    low = label.strip().strip("'\"").lower().replace("_", "-") if label else ""
    if low.replace("-", "") in {x.replace("-", "") for x in _GB_LABELS}:
        return "gb18030"  # gb2312/gbk labels undercount what real pages contain
    if low in _BIG5_LABELS:
        return "big5hkscs"
    try:
        return codecs.lookup(low).name
    except LookupError:
        return None


def _sniff_declared(data: bytes) -> str | None:
    m = _META_CHARSET_RE.search(data[:8192])
    if not m:
        return None
    return (m.group(1) or m.group(2)).decode("ascii", "ignore")


def _common_score(text: str) -> float:
    common = _common()
    han = [c for c in text if "\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff"]
    if not han:
        return 0.0
    return sum(c in common for c in han) / len(han)


def _lossy(data: bytes, enc: str) -> tuple[str, int]:
    """Decode dropping undecodable bytes; return the text and the number of bad spans."""
    text = data.decode(enc, errors="replace")
    bad = text.count("\ufffd")
    return text.replace("\ufffd", ""), bad


_SINGLE_BYTE = {"latin-1", "iso8859-1", "cp1252", "ascii", "iso8859-15"}


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode a document's bytes, treating BOM and declared charsets as hints; return (text, encoding)."""
    text, enc = _decode(data, declared)
    # A literal U+FFFD in the source is the scar of an earlier bad decode; it carries nothing.
    return text.replace("\ufffd", ""), enc


def _decode(data: bytes, declared: str | None) -> tuple[str, str]:
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc), enc.replace("-sig", "")
            except UnicodeDecodeError:
                break
    head = data[:4096]
    if head.count(b"\x00") > 2 or sum(b < 9 or 13 < b < 32 for b in head) > len(head) * 0.02 + 2:
        raise ExtractError("binary data, not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    hints = [h for h in (_canon_charset(declared), _canon_charset(_sniff_declared(data))) if h]
    multi = [h for h in hints if h not in _SINGLE_BYTE and h != "utf-8"]
    candidates: list[str] = []
    for enc in [*multi, "gb18030", "big5hkscs"]:
        if enc not in candidates:
            candidates.append(enc)
    decoded: list[tuple[str, str]] = []
    for enc in candidates:
        try:
            decoded.append((data.decode(enc), enc))
        except (UnicodeDecodeError, LookupError):
            continue
    if decoded:
        if len(decoded) == 1:
            return decoded[0]
        # Several CJK codecs accept the bytes: the right one yields common characters,
        # the wrong one rare junk. Ties keep the hint order.
        best = max(enumerate(decoded), key=lambda it: (round(_common_score(it[1][0]), 2), -it[0]))[1]
        return best
    for enc in hints:
        if enc in _SINGLE_BYTE:
            return data.decode(enc, errors="replace").replace("\ufffd", ""), enc
    # Nothing decodes strictly: a few broken bytes in an otherwise good page. Take the
    # codec that loses least, drop the bad bytes (never emit U+FFFD), and refuse junk.
    nonascii = sum(b > 127 for b in data) or 1
    best_text, best_enc, best_bad = "", "", nonascii + 1
    for enc in ["utf-8", *candidates]:
        text, bad = _lossy(data, enc)
        if bad < best_bad:
            best_text, best_enc, best_bad = text, enc, bad
    if best_bad * 20 > nonascii:
        raise ExtractError(f"undecodable: no charset fits ({best_bad} bad byte runs under {best_enc})")
    log.debug("lossy decode with %s: %d bad byte runs dropped", best_enc, best_bad)
    return best_text, best_enc


# --------------------------------------------------------------------------- dates

_FW_TRANS = str.maketrans("０１２３４５６７８９：－／．", "0123456789:-/.")
_DT_RE = re.compile(
    r"(?<!\d)((?:19|20)\d{2})\s*(?:[-/.年]\s*)(\d{1,2})\s*(?:[-/.月]\s*)(\d{1,2})(?!\d)\s*日?"
    r"(?:[\sT,，]*(?:[上下]午\s*)?(\d{1,2})\s*[:时時点點]\s*(\d{1,2})(?:\s*[:分]\s*(\d{1,2}))?\s*(?:秒)?"
    r"(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?)?"
)
_MD_RE = re.compile(
    r"(?<!\d)(\d{1,2})月(\d{1,2})[日号號](?:[\s,，]*(\d{1,2})\s*[:时時点點]\s*(\d{1,2}))?"
)
_US_RE = re.compile(
    r"(?<![\d/])(\d{1,2})/(\d{1,2})/((?:19|20)\d{2})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?"
)
_COMPACT_RE = re.compile(r"(?<!\d)((?:19|20)\d{2})(\d{2})(\d{2})(?:[T ]?(\d{2})(\d{2})(\d{2})?)?(?!\d)")


def _mk(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, tz: str | None = None) -> datetime | None:
    try:
        if tz:
            if tz == "Z":
                tzinfo: Any = timezone.utc
            else:
                sign = 1 if tz[0] == "+" else -1
                digits = tz[1:].replace(":", "")
                tzinfo = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
            return datetime(y, mo, d, h, mi, s, tzinfo=tzinfo).astimezone(SHANGHAI)
        return datetime(y, mo, d, h, mi, s, tzinfo=SHANGHAI)
    except ValueError:
        return None


def parse_datetime(text: str, *, year_hint: int | None = None) -> datetime | None:
    """Parse the first Chinese or ISO date(-time) in text; return it aware in Asia/Shanghai."""
    if not text:
        return None
    t = unicodedata.normalize("NFKC", text).translate(_FW_TRANS)
    m = _DT_RE.search(t)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        h = int(m.group(4)) if m.group(4) else 0
        if m.group(4) and "下午" in t[m.start() : m.end()] and h < 12:
            h += 12
        dt = _mk(y, mo, d, h, int(m.group(5) or 0), int(m.group(6) or 0), m.group(7))
        if dt is not None:
            return dt
    m = _US_RE.search(t)
    if m:
        h = int(m.group(4) or 0)
        if m.group(7) and m.group(7).lower() == "pm" and h < 12:
            h += 12
        elif m.group(7) and m.group(7).lower() == "am" and h == 12:
            h = 0
        dt = _mk(int(m.group(3)), int(m.group(1)), int(m.group(2)), h, int(m.group(5) or 0), int(m.group(6) or 0))
        if dt is not None:
            return dt
    m = _COMPACT_RE.search(t)
    if m and 1 <= int(m.group(2)) <= 12:
        dt = _mk(*(int(g) for g in m.groups()[:3]), *(int(g or 0) for g in m.groups()[3:]))
        if dt is not None:
            return dt
    if year_hint:
        m = _MD_RE.search(t)
        if m:
            return _mk(year_hint, int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), int(m.group(4) or 0))
    return None


_URL_DATE_RE = re.compile(r"/((?:19|20)\d{2})[-/_]?(\d{2})[-/_]?(\d{2})(?:/|[^\d])")


def _date_from_url(url: str | None) -> datetime | None:
    if not url:
        return None
    m = _URL_DATE_RE.search(url)
    if not m:
        return None
    return _mk(int(m.group(1)), int(m.group(2)), int(m.group(3)))


# --------------------------------------------------------------------------- shared text helpers

_t2s_lock = threading.Lock()
_converters: dict[str, Any] = {}


def _opencc(config: str) -> Any:
    conv = _converters.get(config)
    if conv is None:
        with _t2s_lock:
            conv = _converters.get(config)
            if conv is None:
                import opencc

                conv = _converters[config] = opencc.OpenCC(config)
    return conv


def detect_lang(text: str) -> str:
    """Return "zh-Hant" when traditional-only characters outnumber simplified-only ones, else "zh-Hans"."""
    sample = "".join(c for c in text[:4000] if "\u3400" <= c <= "\u9fff")[:1500]
    if not sample:
        return "zh-Hans"
    simp = _opencc("t2s").convert(sample)
    trad = _opencc("s2t").convert(sample)
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
_BYLINE_RE = re.compile(
    r"(?:[电電]|消息|[讯訊])\s*[（(]\s*((?:(?:实习|實習|见习|見習|特约|特約|总台|總台)?(?:记者|記者|通讯员|通訊員)\s*)?"
    rf"{_NAME}(?:\s*(?:[、,，\s]|(?:实习|實習|特约|特約)?(?:记者|記者|通讯员|通訊員))\s*{_NAME})*)\s*[)）]"
)
_ROLE_RE = re.compile(r"(?:实习|實習|见习|見習|特约|特約|总台|總台|本[报報])?(?:记者|記者|通讯员|通訊員|作者|撰稿|摄影|攝影)")
_NOT_PERSON_RE = re.compile(r"[网網报報社台站]|集团|集團|新闻|新聞|扫|日报|日報|中心|部门|部門|政府")

# ---- bylines: role keys, the values after them, and what a name may look like
_AUTHOR_KEYS = (
    r"(?:(?:本[报報刊台网網站]|总台|總台|特约|特約|实习|實習|见习|見習|驻[\u4e00-\u9fff]{1,4})?(?:记者|記者)|"
    r"(?:本[报報])?通讯员|(?:本[报報])?通訊員|实习生|實習生|作者|撰文|撰稿|文字|摄影|攝影|摄像|攝像|图片|圖片|配图|配圖|供图|供圖)"
)
_EDITOR_KEYS = (
    r"(?:责任编辑|責任編輯|值班编辑|值班編輯|网络编辑|網絡編輯|责编|責編|编辑|編輯|主编|主編|审核|審核|审校|審校|校对|校對|终审|終審)"
)
_SOURCE_KEYS = r"(?:本文来源|文章来源|文章來源|信息来源|信息來源|稿件来源|新闻来源|来源|來源|稿源|出处|出處|出自)"
_OTHER_KEYS = (
    r"(?:发布时间|發佈時間|发布日期|更新时间|更新時間|发表时间|发表于|發表於|时间|時間|日期|浏览|瀏覽|点击|點擊|阅读|閱讀|"
    r"字号|字號|关键词|關鍵詞|关键字|标签|標簽|分享到?|评论|評論|打印|关闭|關閉|责任|編號|编号)"
)
_KEY_RE = re.compile(
    rf"(?P<author>{_AUTHOR_KEYS})|(?P<editor>{_EDITOR_KEYS})|(?P<source>{_SOURCE_KEYS})|(?P<other>{_OTHER_KEYS})"
)
_KEY_SEP_RE = re.compile(r"\s*(?:[:：︰︱|｜/／]\s*)?")
_HAN = "\u4e00-\u9fff\u3400-\u4dbf"
_HAN_NAME_RE = re.compile(rf"[{_HAN}]{{2,4}}|[{_HAN}]{{1,6}}(?:[·•][{_HAN}]{{1,8}})+")
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


def _valid_source(value: str) -> str | None:
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
_SUFFIX_ROLE_RE = re.compile(rf"(?:^|(?<=[\s(（\[【|｜]))([{_HAN}·]{{2,8}})\s*[/／]\s*(?:文|图|圖|摄|攝)(?![{_HAN}])|"
                             rf"(?:^|(?<=[\s(（\[【]))([{_HAN}]{{2,4}})\s+(?:摄|攝)(?![{_HAN}])")
_PREFIX_ROLE_RE = re.compile(rf"(?:^|(?<=[\s(（\[【|｜]))(?:文|图|圖)\s*[/／︱|｜]\s*([{_HAN}·]{{2,8}}|[A-Za-z][\w.\-]{{1,24}})")
_TRAILING_PAREN_RE = re.compile(
    rf"[（(]\s*(?:(?:{_AUTHOR_KEYS})\s*)?([{_HAN}·]{{2,8}}(?:\s*[、,，\s]\s*(?:(?:{_AUTHOR_KEYS})\s*)?[{_HAN}·]{{2,8}}){{0,5}})\s*[)）]\s*$"
)
# "2004年7月16日08:19 [ 黄宇 ] 来源：[ 国际金融报 ]": the bracketed name before the source
_BRACKET_NAME_RE = re.compile(rf"[\[【]\s*([{_HAN}·]{{2,8}}(?:\s+[{_HAN}·]{{2,4}}){{0,3}})\s*[\]】]\W{{0,3}}(?:{_SOURCE_KEYS})")
_POSTED_BY_RE = re.compile(
    rf"^(?:本[贴帖]由|由)\s*([{_HAN}A-Za-z0-9_&\-]{{2,20}}?)\s*于\s*(?:19|20)\d{{2}}|"
    rf"^([{_HAN}A-Za-z0-9_&\-]{{2,20}})\s*(?:发表于|發表於)\s*(?:19|20)\d{{2}}|\d\s+by\s+([A-Za-z][\w.\-]{{1,24}})\b"
)


_SPACED_NAME_RE = re.compile(rf"(?<![{_HAN}])([{_HAN}])[ \u3000]{{1,3}}([{_HAN}])(?![{_HAN}])")


def _names_in(value: str, *, latin: bool) -> list[str]:
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
                    source = _valid_source(first)
            elif m.lastgroup in ("author", "editor"):
                # 记者了解到… is prose: without a separator the name must end at a boundary
                if not has_sep and not re.match(rf"[{_HAN}·]{{2,4}}{_NAME_END}", value):
                    continue
                names += _names_in(value, latin=has_sep)
        m = _BRACKET_NAME_RE.search(line)
        if m:
            names += _names_in(m.group(1), latin=False)
        for m in _SUFFIX_ROLE_RE.finditer(line):
            names += _names_in(m.group(1) or m.group(2), latin=False)
        for m in _PREFIX_ROLE_RE.finditer(line):
            names += _names_in(m.group(1), latin=True)
        m = _POSTED_BY_RE.search(line)
        if m:
            names += _names_in(next(g for g in m.groups() if g), latin=True)
    return names, source


def _split_names(s: str) -> list[str]:
    """Split an author field ("张三、李四", "记者 王五", "Hans Publishers") into valid names."""
    out = []
    for part in re.split(r"[、,，;；/／|｜]+", s):
        # a Latin field with spaces is one phrase (a publisher, a template placeholder), not names
        if re.search(rf"[{_HAN}]", part) or " " not in part.strip():
            out += _names_in(part, latin=True)
    return out


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for it in items:
        if it:
            seen.setdefault(it, None)
    return tuple(seen)


def _hash_id(prefix: str, *parts: str) -> str:
    h = hashlib.sha1("\n".join(parts).encode("utf-8")).hexdigest()[:12]
    return f"{prefix}-{h}"


def _url_id(url: str) -> str:
    return "web-" + hashlib.sha1(url.encode("utf-8")).hexdigest()[:12]


def _clean_line(text: str) -> str:
    return clean_text(text, multiline=False)


# --------------------------------------------------------------------------- page-text dumps

_BREADCRUMB_RE = re.compile(r"^(?:首[页頁]|当前位置|當前位置|您的位置|你的位置|位置)\s*[:：]?\s*(?:[>＞›»]|$)|\s[>＞›»]\s")
_DISCLAIMER_RE = re.compile(
    r"版[权權](?:与|與|和)?免[责責][声聲]明|免[责責][声聲]明|版[权權]所有|版[权權][声聲]明|Copyright|©|（C）|\(C\)\s*\d{4}"
)
_END_MARK_RE = re.compile(r"\s*[（(]\s*完\s*[)）]\s*$")
_META_LINE_KEYS = re.compile(r"来源|來源|编辑|編輯|作者|发布|發佈|发表|發表|记者|記者|时间|時間")


def _is_breadcrumb(line: str) -> bool:
    return len(line) < 120 and bool(_BREADCRUMB_RE.search(line))


def extract_text_dump(text: str, *, origin: str | None = None) -> Article:
    """Parse a page-text dump (headline, meta line, body, disclaimer) into an Article."""
    lines = [ln.strip() for ln in clean_text(text).split("\n")]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise ExtractError("empty text")
    meta_idx = None
    for i, ln in enumerate(lines[:20]):
        if len(ln) < 160 and parse_datetime(ln) and (_META_LINE_KEYS.search(ln) or len(ln) < 30):
            meta_idx = i
            break
    if meta_idx is not None:
        before = [ln for ln in lines[:meta_idx] if not _is_breadcrumb(ln)]
        title = before[-1] if before else ""
        meta_line = lines[meta_idx]
        rest = lines[meta_idx + 1 :]
    else:
        start = next((i for i, ln in enumerate(lines) if not _is_breadcrumb(ln)), 0)
        title, meta_line, rest = lines[start], "", lines[start + 1 :]
    body_lines: list[str] = []
    for ln in rest:
        if _DISCLAIMER_RE.search(ln) and len(body_lines) > 0:
            break  # everything from the copyright/disclaimer block on is site furniture
        if _is_breadcrumb(ln):
            continue
        if body_lines and ln == body_lines[-1]:
            continue  # photo captions are repeated under the picture
        body_lines.append(ln)
    while body_lines and _END_MARK_RE.fullmatch(body_lines[-1]):
        body_lines.pop()
    if body_lines:
        body_lines[-1] = _END_MARK_RE.sub("", body_lines[-1])
    body = "\n".join(body_lines)
    if not title or not body:
        raise ExtractError("no headline or body in text dump")
    published = parse_datetime(meta_line) if meta_line else None
    authors, source = parse_byline([meta_line])
    m = _BYLINE_RE.search(body[:300])
    if m:
        authors += _names_in(m.group(1), latin=False)
    title = _clean_line(title)
    return Article(
        id=_hash_id("txt", title, body),
        title=title,
        body=body,
        source=source,
        published=published,
        authors=_dedupe(authors),
        dateline=find_dateline(body),
        lang=detect_lang(title + body),
        origin=origin,
    )


# --------------------------------------------------------------------------- JSON lines


def _opt_str(rec: dict, key: str) -> str | None:
    v = rec.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise ExtractError(f"field {key!r} is {type(v).__name__}, not a string")
    v = v.strip()
    return v or None


def article_from_record(rec: dict, *, origin: str | None = None) -> Article:
    """Build an Article from one JSON-lines record of the corpus schema."""
    if not isinstance(rec, dict):
        raise ExtractError(f"record is a JSON {type(rec).__name__}, not an object")
    rid = _opt_str(rec, "id")
    if rid is not None and (why := id_problem(rid)):
        raise ExtractError(why)
    # Cut before cleaning: clean_text of a 10 MB body costs seconds; cap_article cuts exactly.
    title = _clean_line((_opt_str(rec, "title") or "")[: 4 * MAX_TITLE_CHARS])
    body = clean_text((_opt_str(rec, "body") or "")[: 2 * MAX_BODY_CHARS])
    if not title and not body:
        raise ExtractError("record has neither title nor body")
    url = _opt_str(rec, "url")
    if not rid:
        rid = _url_id(url) if url else _hash_id("rec", title, body)
    published = None
    date = rec.get("published") or rec.get("date")
    if isinstance(date, str) and date.strip():
        published = parse_datetime(date)
        if published is None:
            log.debug("%s: unparseable date %r", origin, date)
    authors = rec.get("authors") or rec.get("author") or ()
    if isinstance(authors, str):
        authors = _split_names(authors)
    dateline = _opt_str(rec, "dateline_place") or _opt_str(rec, "dateline")
    lang = _opt_str(rec, "lang") or detect_lang(title + body)
    return Article(
        id=rid,
        title=title,
        body=body,
        url=url,
        source=_opt_str(rec, "source"),
        published=published,
        category=_opt_str(rec, "category"),
        authors=_dedupe(str(a).strip() for a in authors),
        dateline=dateline,
        lang=lang,
        origin=origin,
    )


# --------------------------------------------------------------------------- HTML

_DROP_TAGS = ["script", "style", "noscript", "iframe", "object", "embed", "svg", "canvas", "template",
              "select", "option", "button", "input", "textarea", "map"]
# Semantic furniture tags and furniture classes are dropped only when they are not the
# page's main wrapper (ASP.NET wraps whole pages in <form>, some sites put "nav" classes
# on the outermost container).
_FURNITURE_TAGS = frozenset({"nav", "aside", "footer", "form"})
_WRAPPER_SHARE = 0.4
_BLOCK_TAGS = frozenset(
    "p div td th tr table tbody thead li ul ol dl dt dd h1 h2 h3 h4 h5 h6 section article header "
    "blockquote pre center body html figure figcaption main address hr fieldset caption".split()
)
# class/id tokens of page furniture; matched as whole tokens so that "header" != "head-ad"
_BOILER_TOKENS = re.compile(
    r"(?:^|[\s_-])(?:share|sharing|bdshare|jiathis|comment|comments|cmt|reply|replies|related|relate|"
    r"recommend|recom|tuijian|xgxw|xgyd|hot|hotnews|rank|ranking|footer|foot|nav|navbar|menu|breadcrumb|crumb|"
    r"crumbs|sidebar|side|aside|copyright|banner|ad|ads|advert|advertisement|gg|guanggao|popup|toolbar|"
    r"login|search|sitemap|friendlink|links|pager|pagination|subnav|topbar)(?:$|[\s_-]|\d)",
    re.I,
)
_PUNCT = set("，。！？；：、“”‘’《》…—（）")
_PUNCT_ASCII = set(",!?;")
_WIDGET_WORDS = (
    r"分享到|分享至|打印|打印本页|关闭|關閉|关闭窗口|返回顶部|返回首页|返回|上一篇|下一篇|上一页|下一页|字号|字體|字体|"
    r"收藏|评论|評論|举报|我要纠错|纠错|大|中|小|默认|放大|缩小|复制链接|微信|微博|QQ空间|扫一扫|\+?关注|订阅|点赞|正在加载\.*"
)
# a line made only of widget words ("【打印】【关闭】", "字号：大 中 小")
_WIDGET_LINE_RE = re.compile(rf"^(?:[【\[（(]?\s*(?:{_WIDGET_WORDS})\s*[】\]）)]?[\s:：|/·]*)+$")
# short lines that open a furniture block
_WIDGET_PREFIX_RE = re.compile(
    r"^(?:分享到|分享至|上一篇|下一篇|相关(?:新闻|阅读|文章|链接|推荐)|相關(?:新聞|閱讀)|推荐阅读|延伸阅读|点击排行|"
    r"扫一扫|扫描二维码|微信扫一扫|责任编辑\s*[:：]?\s*$)"
)


def _is_widget(text: str) -> bool:
    return len(text) <= 60 and bool(_WIDGET_LINE_RE.match(text) or _WIDGET_PREFIX_RE.match(text))


# Boilerplate line rules for the common Chinese CMS templates (trafilatura-style: a line is
# judged by its shape, whatever element holds it).
_META_KEYS = (
    r"(?:本文|信息|稿件|文章|新闻)?(?:来源|來源|稿源|出处|出處|来自|來自)|(?:更新|发布|發佈|發布|发表|發表|录入|錄入|上传|上傳|创建)(?:时间|時間|日期|于|於)|"
    r"时间|時間|日期|(?:责任|責任|值班|网络|網絡|本文|原文)?(?:编辑|編輯)|责编|責編|主编|主編|审核|審核|审校|審校|校对|校對|终审|終審|"
    r"监制|監製|制作|製作|作者|(?:本[报報]|特约|特約|实习|實習|见习|見習)?(?:记者|記者)|通讯员|通訊員|摄影|攝影|摄像|攝像|图片|圖片|"
    r"配图|配圖|文字|撰文|撰稿|供图|供圖|浏览(?:次数|量)?|瀏覽(?:次數|量)?|点击(?:数|量|次数)?|點擊(?:數|量)?|阅读(?:数|量)?|"
    r"閱讀(?:數|量)?|访问量|字号|字號|关键词|關鍵詞|关键字|標簽|标签|分类|分類|栏目|欄目|文/图|文|图|圖"
)
_META_KEY_RE = re.compile(rf"(?:{_META_KEYS})\s*(?:[:：︰︱|]|\s)")
_META_OPEN_RE = re.compile(r"^[\[【（(]?\s*")
_META_VALUE_BAD_RE = re.compile(r"[。！？!?]")
_LABEL_RE = re.compile(
    r"^[\[【]?\s*(?:视频简介|視頻簡介|内容简介|內容簡介|简介|簡介|主要内容|主要內容|正文|全文|摘要|导读|導讀|"
    r"相关(?:新闻|阅读|文章|链接|报道|推荐|专题|视频)|相關(?:新聞|閱讀|文章|鏈接|報道)|推荐阅读|延伸阅读|热点推荐|热门推荐|"
    r"猜你喜欢|精彩推荐|更多精彩|为你推荐|网友评论|我要评论|发表评论|查看评论|全部评论|分享到|分享至|打印本页|关闭窗口)"
    r"\s*[】\]]?\s*[:：]?\s*$"
)
_LEGAL_TERMS_RE = re.compile(
    r"著作权|著作權|版权|版權|转载|轉載|稿酬|授权|授權|侵权|侵權|法律责任|法律責任|免责|免責|声明|聲明|"
    r"Copyright|All rights reserved|ICP备|ICP證|ICP证|许可证|許可證|违法和不良|違法和不良",
    re.I,
)
_LEGAL_MAX = 600
_LEGAL_START_RE = re.compile(r"^\s*(?:版[权權]所有|Copyright|©|\(c\)|（c）|免[责責][声聲]明|版[权權][声聲]明)", re.I)


_PROMO_RE = re.compile(
    r"(?:下载|安装|打开).{0,12}(?:客户端|APP|App|app)|(?:客户端|APP|App).{0,8}(?:下载|安装)|【下载地址】|"
    r"扫码|扫一扫|扫描(?:下方)?二维码|长按(?:识别)?二维码|(?:关注|订阅).{0,10}(?:公众号|微信号|官方微博)|"
    r"浏览器.{0,10}(?:无法|不能|不支持).{0,4}播放|(?:链接|网络).{0,6}出现问题"
)


def _is_meta_only(text: str) -> bool:
    """A line made only of "key：value" pairs (来源：央视网 更新时间：…, 编辑：… 责任编辑：…)."""
    pos = _META_OPEN_RE.match(text).end()
    m = _META_KEY_RE.match(text, pos)
    if not m:
        return False
    while m:
        nxt = _META_KEY_RE.search(text, m.end())
        # a clock ("19:08") is not a key separator; keys must not sit inside a value's words
        while nxt and text[nxt.start() - 1 : nxt.start()] not in " \t\u3000|｜/】]）)" and nxt.start() > m.end():
            nxt = _META_KEY_RE.search(text, nxt.start() + 1)
        value = text[m.end() : nxt.start() if nxt else len(text)]
        if len(value.strip()) > 40 or _META_VALUE_BAD_RE.search(value):
            return False
        m = nxt
    return True


def _is_boiler_line(text: str) -> bool:
    """A line that is page furniture by its shape: a label, a metadata line, a legal notice."""
    n = len(text)
    if n <= 30 and _LABEL_RE.match(text):
        return True
    if n <= 100 and _is_meta_only(text):
        return True
    if _LEGAL_START_RE.match(text):
        return True
    if n <= 60 and _PROMO_RE.search(text):
        return True
    if n > _LEGAL_MAX:
        return False  # a notice is a paragraph, not a long article paragraph quoting the law
    return len({m.group(0).lower() for m in _LEGAL_TERMS_RE.finditer(text)}) >= 3


_LIST_PAGE_MIN_LINKS = 25
_MIN_ARTICLE = 60  # content characters an article needs ...
_SEPARATOR_WEIGHT = 20
_MIN_BRIEF = 20  # ... unless it sits right under its headline (a one-sentence video brief)


@dataclass
class _Line:
    owner: Any
    parts: list[str]
    link: int = 0
    text: str = ""
    n: int = 0  # non-space chars
    punct: int = 0
    good: float = 0.0
    bad: float = 0.0


def _lines_of(root: Any) -> list[_Line]:
    """Split the tree into text lines: each block element and each <br> starts one."""
    lines: list[_Line] = [_Line(root, [])]

    def add(text: str | None, owner: Any, in_link: bool) -> None:
        if not text:
            return
        cur = lines[-1]
        if cur.owner is not owner:
            cur = _Line(owner, [])
            lines.append(cur)
        cur.parts.append(text)
        if in_link:
            cur.link += len("".join(text.split()))

    def walk(el: Any, owner: Any, in_link: bool) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _BLOCK_TAGS:
            owner = el
            lines.append(_Line(el, []))
        elif tag == "br":
            lines.append(_Line(owner, []))
        in_link = in_link or tag == "a"
        if tag:
            add(el.text, owner, in_link)
            for child in el:
                walk(child, owner, in_link)
                add(child.tail, owner, in_link)

    walk(root, root, False)
    out = []
    for ln in lines:
        text = _clean_line("".join(ln.parts))
        if not text:
            continue
        ln.text = text
        ln.n = len("".join(text.split()))
        ln.link = min(ln.link, ln.n)
        nonlink = ln.n - ln.link
        ln.punct = sum(c in _PUNCT or c in _PUNCT_ASCII for c in text)
        if ln.link > 0.5 * ln.n:
            ln.bad = ln.n
        elif nonlink >= 10 and ln.punct >= 1:
            ln.good = nonlink
        elif nonlink >= 15:
            ln.good = nonlink * 0.5  # unpunctuated prose (blogs separate clauses with spaces)
        else:
            ln.bad = 0.3 * nonlink + ln.link
        if _is_widget(text) or _is_boiler_line(text):
            # a label or metadata line opens another block: it weighs as a separator, not by length
            ln.good, ln.bad = 0.0, max(ln.n, _SEPARATOR_WEIGHT)
        out.append(ln)
    return out


def _is_boilerplate_el(el: Any) -> bool:
    attrs = " ".join(v for v in (el.get("class"), el.get("id")) if v)
    if not attrs:
        return False
    if el.tag in ("body", "html"):
        return False
    return bool(_BOILER_TOKENS.search(attrs))


_WS_RUN_RE = re.compile(r"\s+")
_STRING_OF = etree.XPath("string()")  # all text below an element, concatenated in C


def _text_len(el: Any) -> int:
    # one join and one substitution per element: this runs for every furniture candidate
    return len(_WS_RUN_RE.sub("", _STRING_OF(el)))


_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


def _is_hidden(el: Any) -> bool:
    # Hidden copies (pop-up briefs, mobile duplicates) are not what a reader sees.
    return el.get("hidden") is not None or bool(_HIDDEN_STYLE_RE.search(el.get("style") or ""))


def _headline_element(root: Any, title: str) -> Any:
    """Return the element showing the headline (h1–h3 or a title-class block), or None."""
    if not title:
        return None
    key = _squeeze(title)
    for el in root.iter("h1", "h2", "h3"):
        if _squeeze(_strip_title_labels(_clean_line(el.text_content()))) == key:
            return el
    for el in root.xpath(".//*[contains(@class,'title') or contains(@id,'title')]"):
        if _squeeze(_strip_title_labels(_clean_line(el.text_content()))) == key:
            return el
    return None


def _heading_above(lines: list[_Line], first: int) -> Any:
    """Return the nearest h1–h3 element among the few lines above the article, or None."""
    for ln in reversed(lines[max(first - 8, 0) : first + 1]):
        el = ln.owner
        if el.tag in ("h1", "h2", "h3") and 4 <= ln.n <= 120:
            return el
    return None


_COMMENT_TOKENS = re.compile(r"(?:^|[\s_-])(?:comment|comments|cmt|reply|replies|feedback)(?:$|[\s_-]|\d)", re.I)


def _line_above(lines: list[_Line], first: int) -> str:
    """Return a short headline-like line just above the article (pages without headings), or ""."""
    for ln in reversed(lines[max(first - 3, 0) : first]):
        if 4 <= ln.n <= 60 and ln.link < 0.5 * ln.n and not _is_widget(ln.text) and not _is_boiler_line(ln.text) \
                and ln.text[-1] not in "。！？；，.!?;,":
            return ln.text
    return ""


def _is_wrapper(el: Any, total: int, headline: Any) -> bool:
    # A furniture-looking element that holds much of the page is its wrapper (ASP.NET <form>,
    # a "nav" class on the outermost div, a "share_area" around the article) -- but a comment
    # thread away from the headline is a thread that merely outgrew the article.
    if _text_len(el) < _WRAPPER_SHARE * total:
        return False
    if headline is None or _descends(headline, el):
        return True
    attrs = " ".join(v for v in (el.get("class"), el.get("id")) if v)
    return not _COMMENT_TOKENS.search(attrs)


_CAPTION_TOKENS = re.compile(r"(?:^|[\s_-])(?:caption|figcaption|pic-?caption|img-?caption)(?:$|[\s_-])", re.I)


def _is_caption(el: Any) -> bool:
    # a picture's caption (figcaption, class="caption" beside an <img>) is not article prose
    if el.tag == "figcaption":
        return True
    attrs = " ".join(v for v in (el.get("class"), el.get("id")) if v)
    if "aption" not in attrs:
        return False  # the cheap test first: this runs for every element of the page
    parent = el.getparent()
    return bool(attrs and _CAPTION_TOKENS.search(attrs)) and parent is not None and parent.find(".//img") is not None


def _drop_furniture(root: Any, headline: Any = None) -> None:
    """Drop furniture and hidden elements (by tag, class/id or style) that are not the page's main wrapper."""
    total = _text_len(root) or 1
    stack = [root]
    while stack:
        el = stack.pop()
        for child in list(el):
            if not isinstance(child.tag, str):
                continue
            if (child.tag in _FURNITURE_TAGS or _is_boilerplate_el(child) or _is_hidden(child) or _is_caption(child)) \
                    and not _is_wrapper(child, total, headline):
                child.drop_tree()
            else:
                stack.append(child)


def _meta_map(doc: Any) -> dict[str, str]:
    meta: dict[str, str] = {}
    for m in doc.iter("meta"):
        key = (m.get("property") or m.get("name") or m.get("itemprop") or m.get("http-equiv") or "").strip().lower()
        content = (m.get("content") or "").strip()
        if key and content and key not in meta:
            meta[key] = content
    return meta


_TITLE_SPLIT_RE = re.compile(r"\s*(?:_|\||｜|--|——|—|\s-\s|\s–\s|－)\s*")
_DATE_META_KEYS = (
    "article:published_time", "og:article:published_time", "og:release_date", "datepublished", "pubdate",
    "publishdate", "publish_date", "publishtime", "publish-date", "pub_date", "ptime", "dc.date.issued",
    "dc.date", "dcterms.created", "weibo: article:create_at", "article:created", "created", "date",
    "sailthru.date", "parsely-pub-date", "contentid",
)
_JSONLD_DATE_RE = re.compile(r'"datePublished"\s*:\s*"([^"]+)"')
# Founder (方正) e-paper systems, used by many regional dailies, keep the date in a comment
_ENP_DATE_RE = re.compile(r"<!--\s*enpproperty.*?<date>([^<]+)</date>", re.S)
_DATE_ATTR_RE = re.compile(r"date|time|pubtime|riqi|shijian", re.I)


def _date_elements(root: Any) -> list[datetime]:
    """Dates shown in elements whose class/id says date or time (read before furniture is dropped)."""
    out = []
    for el in root.xpath("descendant-or-self::*[@class or @id]"):  # in C, document order
        attrs = (el.get("class") or "") + " " + (el.get("id") or "")
        if _DATE_ATTR_RE.search(attrs):
            t = _clean_line(el.text_content())
            if len(t) <= 80:
                dt = parse_datetime(t)
                if dt:
                    out.append(dt)
    return out


_TITLE_LABEL_RE = re.compile(
    r"^\s*[\[【](?:视频|視頻|组图|組圖|图文|圖文|图|圖|高清|直播)[\]】]\s*|\s*[（(](?:图|圖|组图|組圖|附图|附圖|图文|视频|視頻)[)）]\s*$"
)


def _strip_title_labels(title: str) -> str:
    return _TITLE_LABEL_RE.sub("", title).strip() or title


def _squeeze(text: str) -> str:
    return "".join(text.split())


_TIME_RE = re.compile(r"\d{1,2}\s*[:：时時]\s*\d{2}")


def _is_meta_line(text: str) -> bool:
    """A short line carrying the date (and source/author), not a sentence."""
    if len(text) > 80 or parse_datetime(text) is None:
        return False
    return bool(_META_LINE_KEYS.search(text)) or ("。" not in text and bool(_TIME_RE.search(text)))


def _pick_title(doc: Any, meta: dict[str, str]) -> str:
    title = _strip_title_labels(_pick_title_raw(doc, meta))
    # a two-character <title> ("显示", "首页") is a template's leftover, not a headline
    return title if len(_squeeze(title)) >= 4 else ""


# a site's greeting in <title> is no headline ("谢谢您访问〖关注中国中心〗", "欢迎光临…")
_BANNER_RE = re.compile(
    r"^\s*(?:[欢歡]迎|[谢謝]{1,2}(?:您|你)?)(?:您|你)?(?:访问|訪問|光[临臨]|[来來]到|登[录錄]|浏览|瀏覽|使用)|(?:[欢歡]迎您|欢迎光临)\s*$"
)


def _not_banner(text: str) -> str:
    return "" if _BANNER_RE.search(text) else text


def _pick_title_raw(doc: Any, meta: dict[str, str]) -> str:
    title_tag = _not_banner(_clean_line(doc.findtext(".//title") or ""))
    og = _not_banner(_clean_line(meta.get("og:title") or meta.get("twitter:title") or ""))
    heads = []
    for el in doc.iter("h1", "h2", "h3"):
        t = _clean_line(el.text_content())
        if 4 <= len(t) <= 120:
            heads.append((el.tag, t))
    ref = og or title_tag
    best = ""
    for _tag, t in heads:
        if ref and (t in ref or ref in t) and len(t) > len(best):
            best = t
    if not best:
        # headline containers without h-tags: class/id containing "title"
        for el in doc.xpath("//*[contains(@class,'title') or contains(@id,'title')]"):
            if el.tag in ("title", "head", "meta", "html", "body"):
                continue
            t = _clean_line(el.text_content())
            if 4 <= len(t) <= 120 and ref and t in ref and len(t) > len(best):
                best = t
    if best:
        return best
    if og:
        return _TITLE_SPLIT_RE.split(og)[0] if len(_TITLE_SPLIT_RE.split(og)[0]) >= 4 else og
    h1 = [t for tag, t in heads if tag == "h1"]
    if len(h1) == 1 and not title_tag:
        return h1[0]
    if title_tag:
        first = _TITLE_SPLIT_RE.split(title_tag)[0]
        return first if len(first) >= 4 else title_tag
    return h1[0] if h1 else ""


def _best_node(lines: list[_Line]) -> tuple[Any, float, float]:
    """Return the element maximizing content minus boilerplate, with its good and bad totals."""
    good: dict[Any, float] = {}
    bad: dict[Any, float] = {}
    own_good: dict[Any, float] = {}
    own_bad: dict[Any, float] = {}
    for ln in lines:  # sum per owner first: many lines share one, and the climb is per owner
        own_good[ln.owner] = own_good.get(ln.owner, 0.0) + ln.good
        own_bad[ln.owner] = own_bad.get(ln.owner, 0.0) + ln.bad
    for owner, g0 in own_good.items():
        b0 = own_bad[owner]
        el = owner
        while el is not None:
            good[el] = good.get(el, 0.0) + g0
            bad[el] = bad.get(el, 0.0) + b0
            el = el.getparent()
    best, best_key = None, (float("-inf"), 0)
    for el, g in good.items():
        # on equal scores the deeper (tighter) element wins
        key = (round(g - bad[el], 3), sum(1 for _ in el.iterancestors()))
        if key > best_key:
            best, best_key = el, key
    if best is None:
        return None, 0.0, 0.0
    return best, good[best], bad[best]


# A run of lines must beat the best element's score by this much to replace it: the element
# is the safer unit (it keeps an article whole across an inline box), the run rescues pages
# whose article shares its table cell with link farms.
_RUN_FACTOR = 1.5


def _best_span(lines: list[_Line]) -> tuple[Any, float, float, int, int]:
    """Return (owner, good, bad, first, last): the best element's lines, or a far better run of lines."""
    node, good, bad = _best_node(lines)
    if node is None:
        return None, 0.0, 0.0, 0, 0
    inside = set(node.iter())
    idx = [i for i, ln in enumerate(lines) if ln.owner in inside]
    first, last = idx[0], idx[-1]
    # maximum-sum run of content minus boilerplate over the lines in page order (Kadane)
    best, cur, start, run_first, run_last = float("-inf"), 0.0, 0, 0, 0
    for i, ln in enumerate(lines):
        v = ln.good - ln.bad
        if cur <= 0:
            cur, start = v, i
        else:
            cur += v
        if cur > best:
            best, run_first, run_last = cur, start, i
    if best > _RUN_FACTOR * (good - bad):
        run = lines[run_first : run_last + 1]
        return lines[run_first].owner, sum(ln.good for ln in run), sum(ln.bad for ln in run), run_first, run_last
    return node, good, bad, first, last


def _descends(el: Any, anc: Any) -> bool:
    while el is not None:
        if el is anc:
            return True
        el = el.getparent()
    return False


def _find_published(doc: Any, meta: dict[str, str], lines: list[_Line], title: str,
                    content_span: tuple[int, int], url: str | None, raw_scripts: str,
                    dated: list[datetime]) -> datetime | None:
    for key in _DATE_META_KEYS:
        if key in meta:
            dt = parse_datetime(meta[key])
            if dt:
                return dt
    for el in doc.iter("time"):
        dt = parse_datetime(el.get("datetime") or el.text_content())
        if dt:
            return dt
    for rx in (_JSONLD_DATE_RE, _ENP_DATE_RE):
        m = rx.search(raw_scripts)
        if m:
            dt = parse_datetime(m.group(1))
            if dt:
                return dt
    first, last = content_span
    title_idx = next((i for i, ln in enumerate(lines) if title and title in ln.text), -1)
    cands: list[tuple[int, datetime, bool]] = []
    for i, ln in enumerate(lines):
        if ln.n > 200 and not (first <= i <= last):
            continue
        t = unicodedata.normalize("NFKC", ln.text)
        for m in _DT_RE.finditer(t):
            dt = parse_datetime(m.group(0))
            if dt and 1990 <= dt.year <= 2100:
                cands.append((i, dt, bool(m.group(4))))
    if cands:
        start = title_idx if 0 <= title_idx <= first else max(first - 15, 0)
        byline = [c for c in cands if start <= c[0] <= first + 3]  # between headline and body
        if byline:
            return ([c for c in byline if c[2]] or byline)[0][1]
        # then the earliest date in or just after the article (blog "posted at", forum
        # first post: later ones are replies), then anywhere after the headline
        for group in ([c for c in cands if first <= c[0] <= last + 4], [c for c in cands if c[0] >= start]):
            if group:
                return group[0][1]
    if dated:
        return dated[0]
    return _date_from_url(url) or (cands[0][1] if cands else None)


def _header_lines(lines: list[_Line], first: int, title: str) -> list[str]:
    """Return the lines from the headline down to the article's first lines (where bylines sit)."""
    title_idx = next((i for i, ln in enumerate(lines[: first + 1]) if title and title in ln.text), max(first - 8, 0))
    # bylines sit under the headline, sometimes below a lead or a picture: short lines only there
    return [ln.text for i, ln in enumerate(lines[title_idx : first + 7], title_idx)
            if ln.n < (200 if i < first + 3 else 60)]


_EDITOR_LINE_RE = re.compile(r"^[\[【（(]?\s*(?:责任编辑|責任編輯|责编|責編)\s*[:：]")
_END_SHARE = 0.6
_DATE_FRAGMENT_RE = re.compile(r"(?:19|20)\d{2}|\d{1,2}[/.\-月]\d{1,2}日?|\d{1,2}[:：]\d{2}(?:[:：]\d{2})?")
_KEYED_LINE_RE = re.compile(rf"^[\[【（(]?\s*(?:{_AUTHOR_KEYS}|{_EDITOR_KEYS})\s*[:：︰︱|｜/／]")
_NAMES_ONLY_RE = re.compile(rf"[{_HAN}·]{{2,8}}(?:\s*[、,，\s]\s*[{_HAN}·]{{2,8}}){{0,3}}")


def _html_byline(meta: dict[str, str], header: list[str], tail: list[str], body_lines: list[str],
                 title: str, span_lines: list[str]) -> tuple[list[str], str | None]:
    """Return (names, source) from meta tags, the byline above the article and the lines after it."""
    names: list[str] = []
    if meta.get("author") and len(meta["author"]) <= 60:
        names += _split_names(meta["author"])
    head_names, source = parse_byline(header)
    tail_names, tail_source = parse_byline(tail)
    names += head_names + tail_names
    m = _BYLINE_RE.search("\n".join(body_lines)[:300])
    if m:
        names += _names_in(m.group(1), latin=False)
    for line in body_lines[-2:]:
        m = _TRAILING_PAREN_RE.search(line)  # "……佳节。（常书香 马丹阳）" closes many regional stories
        if m:
            names += _names_in(m.group(1), latin=False)
    # an essay or a column: the author's name alone on the line under the headline
    key = _squeeze(title) if title else ""
    for i, line in enumerate(header[1:], 1):
        prev = _squeeze(header[i - 1])
        if key and (key in prev or (len(prev) >= 4 and prev in key)) and _NAMES_ONLY_RE.fullmatch(line):
            names += _names_in(line, latin=False)
            break
    # a line that starts with a role key is a byline wherever it sits in the article
    # ("责任编辑：郭明煜" above a long comment thread); the first "posted by" is the author
    posted = False
    for line in span_lines:
        if len(line) <= 40 and _KEYED_LINE_RE.match(line):
            names += parse_byline([line])[0]
        if not posted and ("由" in line or "表" in line or "by" in line):
            m = _POSTED_BY_RE.search(line)
            if m:
                names += _names_in(next(g for g in m.groups() if g), latin=True)
                posted = True
    if source is None:
        source = tail_source
    if source is None:
        for k in ("source", "og:site_name"):
            if meta.get(k):
                src = _valid_source(re.sub(rf"^\s*{_SOURCE_KEYS}\s*[:：]?", "", meta[k]))
                if src:
                    source = src
                    break
    return names, source


def _canonical(doc: Any, meta: dict[str, str], url: str | None) -> str | None:
    href = None
    for link in doc.iter("link"):
        if (link.get("rel") or "").strip().lower() == "canonical" and link.get("href"):
            href = link.get("href").strip()
            break
    href = href or meta.get("og:url")
    if href and url:
        href = urljoin(url, href)
    if href and not href.startswith(("http://", "https://")):
        href = url
    return href or url


_LIST_HEADING_MAX = 12
_WORD_CHARS_RE = re.compile(rf"[{_HAN}A-Za-z0-9]")


def _drop_list_headings(body_lines: list[str], heads_links: list[bool], goods: list[float]) -> list[str]:
    """Drop short unpunctuated lines that head only a link list ("重点推荐", "证券要闻" over teasers)."""
    # trafilatura drops a heading whose section is empty: here the section held only links (now
    # dropped) and no paragraph follows, so a subheading over a linked byline ("西南证券 张刚") stays
    keep = []
    for i, text in enumerate(body_lines):
        words = _squeeze(text)
        heading = (len(words) <= _LIST_HEADING_MAX and len(_WORD_CHARS_RE.findall(words)) >= 2
                   and not any(c in _PUNCT or c in _PUNCT_ASCII for c in text)
                   and parse_datetime(text) is None)  # a bullet "·" or a closing date is no heading
        if heading and heads_links[i] and (i + 1 == len(body_lines) or not goods[i + 1]):
            continue
        keep.append(text)
    return keep


def extract_html(data: bytes, *, url: str | None = None, origin: str | None = None,
                 declared: str | None = None) -> Article:
    """Extract one news article from a page's raw bytes; raise ExtractError for non-articles."""
    if not data.strip():
        raise ExtractError("empty page")
    text, encoding = decode_bytes(data, declared)
    if "<" not in text[:20000]:
        raise ExtractError("not HTML: no markup found")
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
    try:
        doc = lxml.html.document_fromstring(text.encode("utf-8"), parser=parser)
    except (etree.ParserError, ValueError) as e:
        raise ExtractError(f"unparseable HTML: {e}") from None
    meta = _meta_map(doc)
    raw_scripts = " ".join(s.text or "" for s in doc.iter("script") if "ld+json" in (s.get("type") or ""))
    enp = _ENP_DATE_RE.search(text)
    if enp:
        raw_scripts += enp.group(0)
    title = _pick_title(doc, meta)
    canonical = _canonical(doc, meta, url)
    for el in list(doc.iter(*_DROP_TAGS)):
        if el.getparent() is not None:
            el.drop_tree()
    body_el = doc.find("body")
    root = body_el if body_el is not None else doc
    dated = _date_elements(root)
    _drop_furniture(root, _headline_element(root, title))
    lines = _lines_of(root)
    node, good, bad, first, last = _best_span(lines)
    if not title and node is not None:
        # No usable <title> or og:title: the headline is the heading right above the article. With
        # it known, furniture that outgrew the article (a long comment thread) is no wrapper.
        heading = _heading_above(lines, first)
        if heading is not None:
            title = _strip_title_labels(_clean_line(heading.text_content()))
            _drop_furniture(root, heading)
            lines = _lines_of(root)
            node, good, bad, first, last = _best_span(lines)
        else:
            title = _line_above(lines, first)
    link_lines = sum(1 for ln in lines if ln.link > 0.5 * ln.n and ln.n >= 4)
    idx = list(range(first, last + 1)) if node is not None else []
    # An index page has many link lines outside the chosen block and little text inside it.
    # A short brief sits right under its headline; an index page's best block does not.
    near_headline = bool(idx) and any(title and title in lines[i].text for i in range(max(first - 15, 0), first + 1))
    if node is None or good < (_MIN_BRIEF if near_headline else _MIN_ARTICLE):
        if link_lines >= _LIST_PAGE_MIN_LINKS:
            raise ExtractError(f"list page: {link_lines} link lines and no article text")
        raise ExtractError("no article text found")
    if good < 300 and link_lines >= _LIST_PAGE_MIN_LINKS and link_lines * 12 > good and not near_headline:
        raise ExtractError(f"list page: {link_lines} link lines, only {int(good)} chars of article text")
    body_lines: list[str] = []
    body_keys: list[str] = []
    seen: set[str] = set()
    title_key = _squeeze(title)
    total_good = sum(lines[i].good for i in idx) or 1.0
    done_good = 0.0
    kept_good = 0.0  # content kept so far: metadata lines are dropped until the first paragraph
    # per kept line: does a link list follow it before the next kept line (a list's heading)?
    heads_links: list[bool] = []
    goods: list[float] = []
    for i in idx:
        ln = lines[i]
        done_good += ln.good
        if done_good >= _END_SHARE * total_good and len(ln.text) <= 40 and _EDITOR_LINE_RE.match(ln.text):
            break  # "责任编辑：…" after most of the text closes the article; a feed of teasers follows
        if ln.link > 0.5 * ln.n:
            if heads_links and ln.n >= 4:
                heads_links[-1] = True
            continue
        if _is_widget(ln.text):
            continue
        if not body_lines and _DATE_FRAGMENT_RE.fullmatch(ln.text):
            continue  # "2019" / "09/07" / "19:02" set in separate boxes above the story
        key = _squeeze(ln.text)
        if ln.n >= 4 and (key in body_keys[-1:] or (ln.n >= 40 and key in seen)):
            continue  # a caption repeated under its picture, a summary shown twice (not a recurring question)
        seen.add(key)
        body_keys.append(key)
        if title_key and _squeeze(_strip_title_labels(ln.text)).rstrip("。.") == title_key:
            continue
        if not kept_good and _is_meta_line(ln.text):
            continue  # "来源：… 2023-12-04 19:21" above the first paragraph is metadata
        if _is_boiler_line(ln.text):
            continue  # labels, "编辑：… 责任编辑：…", legal notices: furniture wherever they sit
        body_lines.append(ln.text)
        heads_links.append(False)
        goods.append(ln.good)
        kept_good += ln.good
    body_lines = _drop_list_headings(body_lines, heads_links, goods)
    body = "\n".join(body_lines)
    if not body:
        raise ExtractError("no article text found")
    header = _header_lines(lines, first, title)
    tail = [lines[i].text for i in range(max(last - 4, first), min(last + 8, len(lines))) if lines[i].n < 200]
    published = _find_published(doc, meta, lines, title, (first, last), canonical, raw_scripts, dated)
    span_lines = [lines[i].text for i in range(first, min(last + 8, len(lines))) if lines[i].n <= 120]
    authors, source = _html_byline(meta, header, tail, body_lines, title, span_lines)
    if not title:
        title = body_lines[0][:80]
    art_id = _url_id(canonical) if canonical else _hash_id("html", title, body)
    log.debug("%s: decoded as %s, %d body chars", origin, encoding, len(body))
    return Article(
        id=art_id,
        title=title,
        body=body,
        url=canonical,
        source=_clean_line(source) if source else None,
        published=published,
        category=None,
        authors=_dedupe(authors),
        dateline=find_dateline(body),
        lang=detect_lang(title + body),
        origin=origin,
    )


# --------------------------------------------------------------------------- limits

_ID_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def id_problem(article_id: str) -> str | None:
    """Return why an article id cannot be stored and fetched back, or None when it can."""
    if not isinstance(article_id, str) or not article_id.strip():
        return "empty id"
    if len(article_id) > MAX_ID_CHARS:
        return f"id too long: {len(article_id):,} characters, over the {MAX_ID_CHARS} an article can be fetched by"
    if article_id in (".", ".."):
        # Browsers resolve a path segment "." or ".." (even as %2E%2E) before asking.
        return f"id refused: {article_id!r} cannot be a link (browsers resolve it as a path step)"
    if _ID_CONTROL_RE.search(article_id):
        return "id refused: it contains control characters"
    return None


def _cut_text(text: str, limit: int) -> str:
    """Cut text to at most limit characters, at a line break in the last tenth when there is one."""
    cut = text.rfind("\n", limit - limit // 10, limit)
    return text[: cut if cut > 0 else limit].rstrip()


def cap_article(article: Article) -> tuple[Article, str | None]:
    """Cut an article's text to the ingest caps; return it and what was cut (None when nothing)."""
    changes: dict[str, Any] = {}
    cuts: list[str] = []
    if len(article.title) > MAX_TITLE_CHARS:
        changes["title"] = _cut_text(article.title, MAX_TITLE_CHARS)
        cuts.append(f"title {len(article.title):,} characters")
    if len(article.body) > MAX_BODY_CHARS:
        changes["body"] = _cut_text(article.body, MAX_BODY_CHARS)
        cuts.append(f"body over {MAX_BODY_CHARS:,} characters")
    for key in ("source", "category", "dateline", "lang"):
        v = getattr(article, key)
        if v and len(v) > MAX_META_CHARS:
            changes[key] = v[:MAX_META_CHARS]
            cuts.append(f"{key} {len(v):,} characters")
    if any(len(a) > MAX_META_CHARS for a in article.authors):
        changes["authors"] = tuple(a[:MAX_META_CHARS] for a in article.authors)
        cuts.append("an author name")
    if article.url and len(article.url) > MAX_URL_CHARS:
        changes["url"] = None
        cuts.append(f"url {len(article.url):,} characters (dropped)")
    if not changes:
        return article, None
    return replace(article, **changes), (
        "text cut: " + ", ".join(cuts)
        + f" (article kept; caps: title {MAX_TITLE_CHARS:,}, body {MAX_BODY_CHARS:,} characters)"
    )


class InputTooLarge(ExtractError):
    """An input (or the decompressed stream of one) passed a size limit."""


class _Limited(io.RawIOBase):
    """A byte stream that raises InputTooLarge once more than ``limit`` bytes were read from it."""

    def __init__(self, raw: Any, limit: int, what: str):
        self._raw = raw
        self.limit = limit
        self.count = 0
        self.what = what

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        read1 = getattr(self._raw, "read1", None)
        if read1 is not None:
            # One chunk at a time, so that the lines before a truncated gzip tail are handed on
            # before its EOFError (a whole-buffer readinto would drop them with it).
            data = read1(len(b))
            n = len(data)
            b[:n] = data
        else:
            n = self._raw.readinto(b)
        self.count += n or 0
        if self.count > self.limit:
            raise InputTooLarge(f"too large: {self.what} over {_size(self.limit)}, the rest of the file was not read")
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def _size(n: int) -> str:
    return f"{n / (1024 * MIB):g} GiB" if n >= 1024 * MIB else f"{n / MIB:g} MiB"


def _is_gz(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _open_stream(path: Path, limit: int) -> io.BufferedReader:
    """Open a file (gunzipped when .gz) as a buffered stream that refuses more than limit bytes."""
    raw: Any = gzip.open(path, "rb") if _is_gz(path) else open(path, "rb", buffering=0)
    what = "decompressed size" if _is_gz(path) else "size"
    return io.BufferedReader(_Limited(raw, limit, what), buffer_size=MIB)


def _read_line(f: io.BufferedReader, limit: int) -> tuple[bytes | None, int]:
    """Read one line of at most limit bytes; return (line, 0), or (None, its length) for a longer one.

    The rest of a long line is read and dropped in chunks, never held whole.
    """
    line = f.readline(limit + 1)
    if len(line) <= limit or line.endswith(b"\n"):
        return line, 0
    n = len(line)
    del line
    while True:
        chunk = f.readline(MIB)
        n += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return None, n


# --------------------------------------------------------------------------- files

_KINDS = {".html": "html", ".htm": "html", ".shtml": "html", ".xhtml": "html", ".txt": "txt",
          ".jsonl": "jsonl", ".warc": "warc"}


def _kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return _KINDS.get(os.path.splitext(name)[1])


def _walk(paths: Iterable[str | os.PathLike], report: Callable[[Problem], None]) -> Iterator[Path]:
    """Yield files under paths in sorted order, surviving symlink loops, unreadable and deep dirs.

    The walk keeps its own stack (a tree thousands of levels deep is walked like a flat one);
    directories are known by (device, inode), so a symlink back to an ancestor is reported as
    a loop and one to a directory seen elsewhere is walked once.
    """
    visited: set[tuple[int, int]] = set()

    def open_dir(d: Path, parent: _DirNode | None) -> _DirNode | None:
        try:
            st = os.stat(d)
        except OSError as e:
            report(Problem(str(d), None, f"unreadable directory: {e.strerror or e}"))
            return None
        key = (st.st_dev, st.st_ino)
        node = parent
        while node is not None:
            if node.key == key:
                report(Problem(str(d), None, f"symlink loop: points back to {node.path}"))
                return None
            node = node.parent
        if key in visited:
            log.debug("%s: already visited", d)
            return None
        visited.add(key)
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            report(Problem(str(d), None, f"unreadable directory: {e.strerror or e}"))
            return None
        return _DirNode(str(d), key, parent, iter(entries))

    for raw in paths:
        p = Path(raw)
        if not p.is_dir():
            if p.exists() or p.is_symlink():
                yield p
            else:
                report(Problem(str(p), None, "no such file or directory"))
            continue
        top = open_dir(p, None)
        stack = [top] if top is not None else []
        while stack:
            entry = next(stack[-1].entries, None)
            if entry is None:
                stack.pop()
                continue
            if entry.name.startswith("."):
                continue  # hidden files and VCS folders are not inputs
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                child = open_dir(Path(entry.path), stack[-1])
                if child is not None:
                    stack.append(child)
            else:
                yield Path(entry.path)


@dataclass
class _DirNode:
    """One directory on the walk's stack: its (device, inode), its parent and its unread entries."""

    path: str
    key: tuple[int, int]
    parent: _DirNode | None
    entries: Iterator[os.DirEntry]


def count_inputs(paths: Iterable[str | os.PathLike]) -> int:
    """Return how many files iter_articles would open (for a progress bar)."""
    return sum(1 for p in _walk(paths, lambda _p: None) if _kind_of(p))


def _read_bytes(path: Path) -> bytes:
    """Read one page or dump whole (gunzipped when .gz), refusing more than MAX_PAGE_BYTES."""
    size = path.stat().st_size
    if size > MAX_PAGE_BYTES:
        raise InputTooLarge(f"too large: {size:,} bytes, over the {_size(MAX_PAGE_BYTES)} limit for one page")
    opener: Any = gzip.open if _is_gz(path) else open
    with opener(path, "rb") as f:
        data = f.read(MAX_PAGE_BYTES + 1)
    if len(data) > MAX_PAGE_BYTES:
        raise InputTooLarge(f"too large: decompresses to over the {_size(MAX_PAGE_BYTES)} limit for one page")
    return data


def _check_markup(data: bytes) -> None:
    """Refuse a page with more tags than MAX_PAGE_TAGS before lxml builds a tree of them."""
    n = data.count(b"<")
    if n > MAX_PAGE_TAGS:
        raise InputTooLarge(f"too large: {n:,} tags, over the {MAX_PAGE_TAGS:,} limit for one page")


def _io_reason(e: BaseException) -> str:
    if isinstance(e, (EOFError, gzip.BadGzipFile, zlib.error)):
        return f"truncated or corrupt gzip: {e}"
    if isinstance(e, OSError):
        return f"unreadable: {e.strerror or e}"
    return f"{type(e).__name__}: {e}"


def _iter_jsonl(path: Path, report: Callable[[Problem], None]) -> Iterator[Article]:
    lineno = 0
    with _open_stream(path, MAX_STREAM_BYTES) as f:
        try:
            while True:
                raw, too_long = _read_line(f, MAX_LINE_BYTES)
                if raw is not None and not raw:
                    break
                lineno += 1
                if raw is None:
                    report(Problem(str(path), lineno,
                                   f"line too long: {too_long:,} bytes, over the {_size(MAX_LINE_BYTES)} limit for one record"))
                    continue
                if not raw.strip():
                    continue
                values = raw.count(b",") + raw.count(b"[") + raw.count(b"{")
                if values > MAX_JSON_VALUES:
                    report(Problem(str(path), lineno, f"too many JSON values: {values:,} separators and "
                                                      f"brackets, over the {MAX_JSON_VALUES:,} limit for one record"))
                    continue
                where = f"{path}:{lineno}"
                try:
                    rec = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as e:
                    report(Problem(str(path), lineno, f"not UTF-8: {e.reason} at byte {e.start}"))
                    continue
                except json.JSONDecodeError as e:
                    report(Problem(str(path), lineno, f"invalid JSON: {e.msg} (column {e.colno})"))
                    continue
                except RecursionError:
                    report(Problem(str(path), lineno, "invalid JSON: nested too deeply"))
                    continue
                del raw
                try:
                    yield article_from_record(rec, origin=where)
                except ExtractError as e:
                    report(Problem(str(path), lineno, str(e)))
        except InputTooLarge as e:
            report(Problem(str(path), lineno + 1, str(e)))
        except (EOFError, OSError, zlib.error) as e:
            # the good lines before the break were already yielded
            report(Problem(str(path), lineno + 1, _io_reason(e)))
    if lineno == 0:
        report(Problem(str(path), None, "empty file"))


def _iter_warc(path: Path, report: Callable[[Problem], None]) -> Iterator[Article]:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    class Records(ArchiveIterator):
        INC_RECORD = ""  # warcio writes its own warning to stderr; the Problem below says it once

    n = 0
    total = 0  # declared record bytes so far: the decompressed size of the file
    with open(path, "rb") as f:
        try:
            for rec in Records(f):
                n += 1
                total += max(rec.length or 0, 0)
                if total > MAX_STREAM_BYTES:
                    report(Problem(str(path), n, f"too large: records over {_size(MAX_STREAM_BYTES)}, "
                                                 "the rest of the file was not read"))
                    break
                if rec.rec_type not in ("response", "resource"):
                    continue
                uri = rec.rec_headers.get_header("WARC-Target-URI")
                ctype = ""
                if rec.http_headers is not None:
                    status = rec.http_headers.get_statuscode()
                    if rec.rec_type == "response" and not status:
                        report(Problem(str(path), n, f"truncated or malformed record: no HTTP status line ({uri})"))
                        continue
                    if rec.rec_type == "response" and not status.startswith("2"):
                        continue
                    ctype = rec.http_headers.get_header("Content-Type") or ""
                else:
                    ctype = rec.rec_headers.get_header("Content-Type") or ""
                if ctype and "html" not in ctype.lower():
                    continue
                declared = None
                m = re.search(r"charset\s*=\s*([\w.:-]+)", ctype, re.I)
                if m:
                    declared = m.group(1)
                try:
                    payload = _warc_payload(rec)
                    yield extract_html(payload, url=uri, origin=f"{path}:{n}", declared=declared)
                except ExtractError as e:
                    report(Problem(str(path), n, f"{e} ({uri})"))
                except Exception as e:  # noqa: BLE001 - a broken record must not end the run
                    report(Problem(str(path), n, f"{_io_reason(e)} ({uri})"))
        except (ArchiveLoadFailed, EOFError, OSError, zlib.error) as e:
            report(Problem(str(path), n + 1, f"corrupt WARC: {str(e).strip()}"))
        except Exception as e:  # noqa: BLE001 - warcio fails on a record cut inside its headers in many ways
            report(Problem(str(path), n + 1, f"truncated record: its WARC headers are cut or corrupt "
                                             f"({type(e).__name__}: {e})"))
    if n == 0:
        report(Problem(str(path), None, "empty file or no WARC records"))


def _warc_payload(rec: Any) -> bytes:
    """Read a WARC record's payload up to MAX_PAGE_BYTES; refuse a longer or truncated one."""
    payload = rec.content_stream().read(MAX_PAGE_BYTES + 1)
    if len(payload) > MAX_PAGE_BYTES:
        raise InputTooLarge(f"too large: record payload over the {_size(MAX_PAGE_BYTES)} limit for one page")
    _check_markup(payload)
    missing = getattr(rec.raw_stream, "limit", 0)
    if missing > 0:
        # The record says it is longer than what the file holds: it was cut off (a partial download).
        raise ExtractError(f"truncated record: {missing:,} of its {rec.length:,} bytes are missing")
    return payload


def _iter_file(path: Path, kind: str, report: Callable[[Problem], None]) -> Iterator[Article]:
    if kind == "jsonl":
        yield from _iter_jsonl(path, report)
        return
    if kind == "warc":
        yield from _iter_warc(path, report)
        return
    data = _read_bytes(path)
    if not data.strip():
        raise ExtractError("empty file")
    if kind == "html":
        _check_markup(data)
        yield extract_html(data, origin=str(path))
    else:
        text, _enc = decode_bytes(data)
        yield extract_text_dump(text, origin=str(path))


def iter_articles(
    paths: Iterable[str | os.PathLike],
    on_problem: Callable[[Problem], None] | None = None,
) -> Iterator[Article]:
    """Yield an Article for every good input under paths; report each bad one and go on."""

    def report(p: Problem) -> None:
        if on_problem is not None:
            on_problem(p)
        else:
            log.warning("skipped %s", p)

    for path in _walk(paths, report):
        kind = _kind_of(path)
        if kind is None:
            report(Problem(str(path), None, f"unknown file type {path.suffix or '(no suffix)'!r}"))
            continue
        try:
            mode = path.stat().st_mode
        except OSError as e:
            report(Problem(str(path), None, _io_reason(e)))
            continue
        if not stat.S_ISREG(mode):
            # Opening a FIFO blocks until a writer appears; devices and sockets are no inputs.
            report(Problem(str(path), None, "not a regular file (FIFO, socket or device)"))
            continue
        try:
            for art in _iter_file(path, kind, report):
                art, cut = cap_article(art)
                if cut:
                    report(Problem(art.origin or str(path), None, cut, kept=True))
                yield art
        except ExtractError as e:
            report(Problem(str(path), None, str(e)))
        except (OSError, EOFError, zlib.error) as e:
            report(Problem(str(path), None, _io_reason(e)))
        except Exception as e:  # noqa: BLE001 - one bad file must not end a reindex
            log.exception("unexpected error on %s", path)
            report(Problem(str(path), None, f"internal error: {type(e).__name__}: {e}"))
