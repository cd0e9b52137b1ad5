"""Extract one news article from an HTML page: DOM scoring, boilerplate rules, title, date and byline.

The body is found by scoring the DOM: each text line (a block or a ``<br>``-separated run)
counts as content when it carries sentence punctuation and little link text, and as
boilerplate otherwise; the element whose subtree maximizes ``content - boilerplate`` is the
article. Metadata (headline, time, source, authors, canonical URL, wire dateline) comes from
meta tags first and visible text second.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import lxml.html
from lxml import etree

from ..errors import ExtractError
from ..models import Article
from .bylines import (
    AUTHOR_KEYS,
    BYLINE_RE,
    EDITOR_KEYS,
    HAN,
    POSTED_BY_RE,
    SOURCE_KEYS,
    TRAILING_PAREN_RE,
    clean_line,
    dedupe,
    detect_lang,
    find_dateline,
    hash_id,
    names_in,
    parse_byline,
    split_names,
    url_id,
    valid_source,
)
from .charset import decode_bytes
from .dates import DT_RE, date_from_url, parse_datetime
from .text import META_LINE_KEYS

__all__ = ["extract_html"]

log = logging.getLogger(__name__)

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
    r"浏览器.{0,10}(?:无法|不能|不支持).{0,4}播放|(?:链接|网络).{0,6}出现问题|"
    r"更多精彩.{0,8}(?:请|敬请)?\s*(?:登录|登陆|访问|关注)|"  # a syndicating portal's "更多精彩，请登录环球网 http://…"
    r"您(?:还|尚)未登录|请先登录|登录后(?:才能|即可|方可)?(?:进行)?(?:收藏|评论|回复|发言|参与)|跳转到登录页"  # a login dialog
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


# A related-news item: a linked headline followed only by its stamp, a date and time or a
# comment count ("·<a>明星挨打事件回顾</a> (2005-04-27 14:32PM)", "证监会怒了！ 评论5463条").
# The stamp is as long as the headline, so by characters the line looks half unlinked.
_TEASER_STAMP_RE = re.compile(
    r"[\s(（\[【]*(?:(?:19|20)\d{2}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?|\d{1,2}\s*[-/月]\s*\d{1,2}\s*日?)"
    r"(?:\s*\d{1,2}\s*[:：]\s*\d{2}(?:\s*[:：]\s*\d{2})?\s*(?:[AaPp][Mm])?)?[\s)）\]】]*$"
    r"|[\s(（\[【]*(?:评论|跟贴|跟帖)\s*[:：]?\s*\d+\s*条?[\s)）\]】]*$|[\s(（\[【]*\d+\s*(?:条评论|人参与)[\s)）\]】]*$"
    # a message board's follow-up: "<a>title</a> poster 09:02:51 5/23/06 (无内容)" / "(367)" bytes
    r"|\s\d{1,2}:\d{2}(?::\d{2})?\s+\d{1,2}/\d{1,2}/\d{2,4}\s*(?:[(（](?:\d+|无内容)[)）])?\s*$"
)
_BULLETS = "·•●○■□◆◇▪▫►>-—*"


def _is_teaser(text: str, link: int) -> bool:
    m = _TEASER_STAMP_RE.search(text)
    if not m or m.start() == 0:
        return False
    head = "".join(text[: m.start()].split()).lstrip(_BULLETS)
    return bool(head) and link >= 0.5 * len(head)


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
        text = clean_line("".join(ln.parts))
        if not text:
            continue
        ln.text = text
        ln.n = len("".join(text.split()))
        ln.link = min(ln.link, ln.n)
        if ln.link and _is_teaser(text, ln.link):
            ln.link = ln.n  # a headline link and its date: one item of a related-news list
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


# "none" as a class token is the CSS-reset idiom for display:none ("txp_none" on a video
# player's error and loading overlays, Bootstrap's "d-none"), unless a responsive token shows
# the element again on wider screens ("d-none d-md-block")
_HIDDEN_CLASS_RE = re.compile(r"(?:^|[\s_-])none(?:$|[\s_])", re.I)
_SHOWN_AGAIN_RE = re.compile(r"-(?:sm|md|lg|xl|xxl)-", re.I)


_CSS_COMMENT_RE = re.compile(r"/\*.*?\*/", re.S)
_CSS_MEDIA_RE = re.compile(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", re.I)
_CSS_HIDE_KEY_RE = re.compile(r"(?:display|visibility)\s*:\s*$", re.I)
_CSS_ID_RE = re.compile(r"^\s*#([\w-]+)\s*$")


def _hidden_ids(doc: Any) -> frozenset[str]:
    """Return the element ids that the page's own style sheets hide ("#title_desc { display: none; }")."""
    # Only a rule on a bare id, outside @media: an id names one element, and a screen-size rule
    # hides it on some screens only. A class rule may be undone by a compound one (".tab.on").
    ids: set[str] = set()
    for style in doc.iter("style"):
        css = style.text or ""
        if "#" not in css or ("none" not in css and "hidden" not in css):
            continue
        if "/*" in css:
            css = _CSS_COMMENT_RE.sub("", css)
        if "@" in css:
            css = _CSS_MEDIA_RE.sub("", css)
        # from each hiding declaration back to its rule's selector: scanning rules forward from
        # every position is quadratic, and a case-blind regex slow, on a page's 100 KB of CSS
        for word in ("none", "hidden"):
            at = css.find(word)
            while at >= 0:
                if _CSS_HIDE_KEY_RE.search(css, max(at - 24, 0), at):
                    ids.update(_ids_of_rule(css, at))
                at = css.find(word, at + len(word))
    return frozenset(ids)


# How far back from a hiding declaration its rule's "{" and selector are looked for: a whole-sheet
# search per declaration was quadratic (a 16 MiB page of "display:none;" with no braces).
_RULE_WINDOW = 4096


def _ids_of_rule(css: str, at: int) -> list[str]:
    """Return the bare ids a top-level rule names when position `at` is inside its declarations."""
    start = css.rfind("{", max(0, at - _RULE_WINDOW), at)
    if start < 0 or css.find("}", start, at) >= 0:
        return []
    lo = max(0, start - _RULE_WINDOW)
    before = max(css.rfind("}", lo, start), css.rfind("{", lo, start), css.rfind(";", lo, start))
    if before < 0 and lo > 0:  # a selector longer than the window is no bare id
        return []
    return [s.group(1) for s in map(_CSS_ID_RE.match, css[before + 1 : start].split(",")) if s]


def _is_hidden(el: Any, hidden_ids: frozenset[str] = frozenset()) -> bool:
    # Hidden copies (pop-up briefs, mobile duplicates) are not what a reader sees.
    if el.get("hidden") is not None or _HIDDEN_STYLE_RE.search(el.get("style") or ""):
        return True
    if hidden_ids and el.get("id") in hidden_ids:
        return True
    cls = el.get("class")
    return bool(cls and "one" in cls and _HIDDEN_CLASS_RE.search(cls) and not _SHOWN_AGAIN_RE.search(cls))


def _headline_element(root: Any, title: str) -> Any:
    """Return the element showing the headline (h1–h3 or a title-class block), or None."""
    if not title:
        return None
    key = _squeeze(title)
    for el in root.iter("h1", "h2", "h3"):
        if _squeeze(_strip_title_labels(clean_line(el.text_content()))) == key:
            return el
    for el in root.xpath(".//*[contains(@class,'title') or contains(@id,'title')]"):
        if _squeeze(_strip_title_labels(clean_line(el.text_content()))) == key:
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


def _drop_furniture(root: Any, headline: Any = None, hidden_ids: frozenset[str] = frozenset()) -> None:
    """Drop furniture and hidden elements (by tag, class/id or style) that are not the page's main wrapper."""
    total = _text_len(root) or 1
    stack = [root]
    while stack:
        el = stack.pop()
        for child in list(el):
            if not isinstance(child.tag, str):
                continue
            if (child.tag in _FURNITURE_TAGS or _is_boilerplate_el(child) or _is_hidden(child, hidden_ids) or _is_caption(child)) \
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
            t = clean_line(el.text_content())
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
    return bool(META_LINE_KEYS.search(text)) or ("。" not in text and bool(_TIME_RE.search(text)))


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
    title_tag = _not_banner(clean_line(doc.findtext(".//title") or ""))
    og = _not_banner(clean_line(meta.get("og:title") or meta.get("twitter:title") or ""))
    heads = []
    for el in doc.iter("h1", "h2", "h3"):
        t = clean_line(el.text_content())
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
            t = clean_line(el.text_content())
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
    if first == last and node.getparent() is not None:
        return _one_paragraph_story(lines, node, good, bad, first)
    return node, good, bad, first, last


_SHORT_EXTRA = 40  # characters: a lead-in or a source line, not a paragraph


def _one_paragraph_story(lines: list[_Line], node: Any, good: float, bad: float,
                         first: int) -> tuple[Any, float, float, int, int]:
    """A one-paragraph story: take its container when that adds only short lines (a lead-in "以下为公告：")."""
    # The paragraph alone outscores its container by the lead-in's few characters; the
    # container wins when what it adds is no prose and no links (boilerplate is dropped later).
    parent = node.getparent()
    inside = set(parent.iter())
    idx = [i for i, ln in enumerate(lines) if ln.owner in inside]
    extra = [lines[i] for i in idx if i != first]
    if extra and idx[-1] - idx[0] + 1 == len(idx) \
            and all(not ln.good and ln.link <= 0.5 * ln.n and ln.n < _SHORT_EXTRA for ln in extra):
        return parent, good, bad + sum(ln.bad for ln in extra), idx[0], idx[-1]
    return node, good, bad, first, first


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
        for m in DT_RE.finditer(t):
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
    return date_from_url(url) or (cands[0][1] if cands else None)


def _header_lines(lines: list[_Line], first: int, title: str) -> list[str]:
    """Return the lines from the headline down to the article's first lines (where bylines sit)."""
    title_idx = next((i for i, ln in enumerate(lines[: first + 1]) if title and title in ln.text), max(first - 8, 0))
    # bylines sit under the headline, sometimes below a lead or a picture: short lines only there
    return [ln.text for i, ln in enumerate(lines[title_idx : first + 7], title_idx)
            if ln.n < (200 if i < first + 3 else 60)]


_EDITOR_LINE_RE = re.compile(r"^[\[【（(]?\s*(?:责任编辑|責任編輯|责编|責編)\s*[:：]")
_END_SHARE = 0.6
_DATE_FRAGMENT_RE = re.compile(r"(?:19|20)\d{2}|\d{1,2}[/.\-月]\d{1,2}日?|\d{1,2}[:：]\d{2}(?:[:：]\d{2})?")
_KEYED_LINE_RE = re.compile(rf"^[\[【（(]?\s*(?:{AUTHOR_KEYS}|{EDITOR_KEYS})\s*[:：︰︱|｜/／]")
_NAMES_ONLY_RE = re.compile(rf"[{HAN}·]{{2,8}}(?:\s*[、,，\s]\s*[{HAN}·]{{2,8}}){{0,3}}")


def _html_byline(meta: dict[str, str], header: list[str], tail: list[str], body_lines: list[str],
                 title: str, span_lines: list[str]) -> tuple[list[str], str | None]:
    """Return (names, source) from meta tags, the byline above the article and the lines after it."""
    names: list[str] = []
    if meta.get("author") and len(meta["author"]) <= 60:
        names += split_names(meta["author"])
    head_names, source = parse_byline(header)
    tail_names, tail_source = parse_byline(tail)
    names += head_names + tail_names
    m = BYLINE_RE.search("\n".join(body_lines)[:300])
    if m:
        names += names_in(m.group(1), latin=False)
    for line in body_lines[-2:]:
        m = TRAILING_PAREN_RE.search(line)  # "……佳节。（常书香 马丹阳）" closes many regional stories
        if m:
            names += names_in(m.group(1), latin=False)
    # an essay or a column: the author's name alone on the line under the headline
    key = _squeeze(title) if title else ""
    for i, line in enumerate(header[1:], 1):
        prev = _squeeze(header[i - 1])
        if key and (key in prev or (len(prev) >= 4 and prev in key)) and _NAMES_ONLY_RE.fullmatch(line):
            names += names_in(line, latin=False)
            break
    # a line that starts with a role key is a byline wherever it sits in the article
    # ("责任编辑：郭明煜" above a long comment thread); the first "posted by" is the author
    posted = False
    for line in span_lines:
        if len(line) <= 40 and _KEYED_LINE_RE.match(line):
            names += parse_byline([line])[0]
        if not posted and ("由" in line or "表" in line or "by" in line):
            m = POSTED_BY_RE.search(line)
            if m:
                names += names_in(next(g for g in m.groups() if g), latin=True)
                posted = True
    if source is None:
        source = tail_source
    if source is None:
        for k in ("source", "og:site_name"):
            if meta.get(k):
                src = valid_source(re.sub(rf"^\s*{SOURCE_KEYS}\s*[:：]?", "", meta[k]))
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


_LINKED_HEADING_MAX = 40
_HEADING_OVERLAP = 0.3


def _bigrams(text: str) -> set[str]:
    chars = _WORD_CHARS_RE.findall(text)
    return {a + b for a, b in zip(chars, chars[1:])}


def _linked_heading(lines: list[_Line], i: int, first: int, last: int) -> bool:
    """Is link line i the story's linked subheading rather than part of a link list or an ad?"""
    # A link list is a run of link lines. One short linked line between paragraphs whose words
    # the paragraph under it takes up ("证监会：继续推进长期资金入市" over "证监会新闻发言人…
    # 将继续推进各类长期资金的入市") heads that paragraph (a digest's items); a text ad or a
    # poster's name over a reply shares nothing with what follows.
    ln = lines[i]
    if ln.n > _LINKED_HEADING_MAX or not first < i < last:
        return False
    before, after = lines[i - 1], lines[i + 1]
    if not after.good or before.link > 0.5 * before.n or after.link > 0.5 * after.n:
        return False
    if ln.n <= _LIST_HEADING_MAX and len(_WORD_CHARS_RE.findall(ln.text)) - ln.link >= 2:
        return True  # a linked name in a short plain line: "西南证券 张刚" over an analyst's view
    grams = _bigrams(ln.text)
    shared = grams & _bigrams(after.text)
    return len(shared) >= 2 and len(shared) >= _HEADING_OVERLAP * len(grams)


def _restated(lines: list[_Line], j: int, i: int) -> bool:
    """Is line i, the same text as line j, a sentence the story itself says twice?"""
    # Yes when both are paragraphs of one container and their neighbours differ (a figure
    # quoted again further down). No for a copy elsewhere (a summary box, the story rendered
    # twice, a reply quoting a post) or a copied passage (the neighbours repeat too).
    if lines[i].owner is lines[j].owner or lines[i].owner.getparent() is not lines[j].owner.getparent():
        return False
    before = j > 0 and lines[i - 1].text == lines[j - 1].text
    after = i + 1 < len(lines) and lines[i + 1].text == lines[j + 1].text
    return not (before or after)


_LIST_HEADING_MAX = 12
_WORD_CHARS_RE = re.compile(rf"[{HAN}A-Za-z0-9]")


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
    hidden_ids = _hidden_ids(doc)
    for el in list(doc.iter(*_DROP_TAGS)):
        if el.getparent() is not None:
            el.drop_tree()
    body_el = doc.find("body")
    root = body_el if body_el is not None else doc
    dated = _date_elements(root)
    _drop_furniture(root, _headline_element(root, title), hidden_ids)
    lines = _lines_of(root)
    node, good, bad, first, last = _best_span(lines)
    if not title and node is not None:
        # No usable <title> or og:title: the headline is the heading right above the article. With
        # it known, furniture that outgrew the article (a long comment thread) is no wrapper.
        heading = _heading_above(lines, first)
        if heading is not None:
            title = _strip_title_labels(clean_line(heading.text_content()))
            _drop_furniture(root, heading, hidden_ids)
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
    seen: dict[str, int] = {}  # a long line's text -> where it first appeared
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
        if ln.link > 0.5 * ln.n and not _linked_heading(lines, i, first, last):
            if heads_links and ln.n >= 4:
                heads_links[-1] = True
            continue
        if _is_widget(ln.text):
            continue
        if not body_lines and _DATE_FRAGMENT_RE.fullmatch(ln.text):
            continue  # "2019" / "09/07" / "19:02" set in separate boxes above the story
        key = _squeeze(ln.text)
        if ln.n >= 4 and (key in body_keys[-1:] or (ln.n >= 40 and key in seen and not _restated(lines, seen[key], i))):
            continue  # a caption repeated under its picture, a summary shown twice (not a recurring question)
        seen.setdefault(key, i)
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
    art_id = url_id(canonical) if canonical else hash_id("html", title, body)
    log.debug("%s: decoded as %s, %d body chars", origin, encoding, len(body))
    return Article(
        id=art_id,
        title=title,
        body=body,
        url=canonical,
        source=clean_line(source) if source else None,
        published=published,
        category=None,
        authors=dedupe(authors),
        dateline=find_dateline(body),
        lang=detect_lang(title + body),
        origin=origin,
    )
