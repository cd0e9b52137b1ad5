"""Tag articles with the Chinese administrative region they are about.

The gazetteer (``search/data/gazetteer.tsv``, built from cpca's adcodes; see GAZETTEER.md)
holds 34 provinces, ~340 prefecture-level and ~2,850 county-level units. A region is a path
from the province down: ``(province short, prefecture short, county full)``, for example
``("四川", "宜宾", "珙县")``. Choices:

* Names are matched on *folded* text (NFKC + simplified), so 珙縣 finds 珙县; output names
  are always simplified. Provinces and prefectures are output by short name (四川, 宜宾,
  凉山); county-level units by full name (珙县, 朝阳区, 义乌市) because their short forms
  are often one character or ordinary words.
* Municipalities and units directly under a province skip the prefecture level:
  ``("北京", "朝阳区")``, ``("湖北", "仙桃市")``. A county always brings its parents.
* Signals, strongest first, are *anchors*: the metadata dateline (``article.dateline``), a
  title prefix (``四川珙县：``) and the wire dateline in the first 100 body characters
  (``中新社北京10月19日电``, ``中新网四川新闻4月29日电``). Anchors on one chain deepen the
  path (四川 + 珙县 → 四川/宜宾/珙县); an anchor that contradicts an earlier one is ignored.
* Without an anchor, place-name mentions in the title (weight 3) and body (weight 1) are
  counted and rolled up to parents. A province is tagged only with a score of at least 3
  and at least half of all province scores, so a passing mention does not tag an article
  and a list of many provinces tags none. Below an established level, a child is added
  when its score is at least 2 and at least half of its siblings' total.
* Weak names (county short forms such as 宣汉, two-character county names such as 和县)
  and ambiguous names (朝阳区 in Beijing and Changchun, 通州区 in Beijing and Nantong) only
  count inside an established province/city; ambiguous names that stay ambiguous are
  skipped. When one meaning of a name is a province (吉林, 海南), that meaning wins
  outside context. A few short forms that are mostly ordinary words (阿里, 大同, 长治…) are
  matched only in full (阿里地区) or as the whole metadata dateline.
* Foreign datelines (华盛顿, 东京, 联合国): the article gets no region from mentions — a
  story filed abroad that names a Chinese province is rarely *about* that province. Only
  a Chinese title prefix can still tag it. Taiwan's main cities (台北, 高雄…) are in the
  gazetteer under 台湾, so 台北 datelines tag ("台湾", "台北").
* Street names (``北京路``, ``四川路``) and a few fixed words (新华社, 北海道) are not mentions.
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

from .models import Article
from .normalize import fold_text

__all__ = [
    "Unit",
    "place_names",
    "tag_region",
    "with_region",
    "region_path",
    "units",
]

log = logging.getLogger(__name__)

TITLE_WEIGHT = 3
MIN_PROVINCE_SCORE = 3
MIN_CHILD_SCORE = 2
BODY_SCAN_CHARS = 6000  # places that matter are named early; bounds the cost of long pages
DATELINE_CHARS = 100

# Short forms that are mostly ordinary words or other things (阿里 = Alibaba, 长治久安).
_WEAK_SHORTS = frozenset({"阿里", "大同", "安康", "来宾", "长治", "中山", "北海", "白银", "玉树", "和田"})
# Fixed words that contain a place name but do not mention the place.
_BLOCKERS = (
    "新华社", "新华网", "新华每日电讯", "北海道", "阿里巴巴", "阿里云", "大同小异", "长治久安",
    "中山装", "中山大学", "中山公园", "中华人民共和国", "平安银行", "中国平安", "兴业银行",
    "长安汽车", "长安街", "东方红", "东方航空", "台湾海峡", "海南航空", "吉林大学",
)
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
        """Return the name used in a region path (short above county level)."""
        return self.name if self.level == 3 else self.short


class _Gazetteer:
    """Units, name → meanings, and one compiled matcher over every name."""

    def __init__(self, rows: list[Unit]):
        self.units: dict[str, Unit] = {u.code: u for u in rows}
        # name → list of (code, strong)
        meanings: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        for u in rows:
            names = {u.name: True, u.short: True}
            for a in u.aliases:
                names[a] = True
            if u.level == 3:
                names[u.name] = len(u.name) >= 3
                if u.short != u.name:
                    names[u.short] = False
            elif u.short in _WEAK_SHORTS:
                del names[u.short]
            for n, strong in names.items():
                if len(n) >= 2:
                    meanings[n].append((u.code, strong))
        self.meanings: dict[str, tuple[tuple[str, bool], ...]] = {}
        for n, ms in meanings.items():
            self.meanings[n] = tuple(dict.fromkeys(ms))
        # Word-like short forms (阿里, 大同) are looked up only as a whole metadata dateline.
        self.exact: dict[str, str] = {u.short: u.code for u in rows if u.short in _WEAK_SHORTS}
        words = list(self.meanings) + list(_BLOCKERS)
        firsts = "".join(sorted({w[0] for w in words}))
        # The leading charset lets sre skip positions that cannot start a name.
        self.matcher = re.compile(f"(?=[{re.escape(firsts)}])" + _trie_regex(words))

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
        cur: str | None = code
        while cur:
            if cur == anc:
                return True
            cur = self.units[cur].parent
        return False


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
                        if len(ms) == 1 or sum(s for _, s in ms) == 1
                        or n == g.units[ms[0][0]].name))


def place_names() -> list[str]:
    """Return place names (full and unambiguous short forms, ≥ 2 chars) for jieba's dictionary."""
    return list(_place_names())


def region_path(code: str) -> tuple[str, ...]:
    """Return the region tuple of a unit code, e.g. 511526 → ("四川", "宜宾", "珙县")."""
    return tuple(u.label for u in _load().path(code))


# --- matching -----------------------------------------------------------------------------

def _mentions(g: _Gazetteer, text: str) -> list[tuple[tuple[str, bool], ...]]:
    """Return the meanings of each place name found in folded ``text`` (blockers removed)."""
    out = []
    n = len(text)
    for m in g.matcher.finditer(text):
        ms = g.meanings.get(m.group())
        if ms is None:  # a blocker such as 新华社
            continue
        e = m.end()
        if e < n and text[e] in _STREET_AFTER:
            continue
        out.append(ms)
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
    provinces = [c for c in pool if g.units[c].level == 1]
    if len(provinces) == 1:
        return provinces[0]
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


def _anchor_from(g: _Gazetteer, text: str, ctx: str | None) -> tuple[str | None, bool]:
    """Resolve the places named in a short explicit span (dateline, title prefix).

    Returns (code, named_something): the deepest consistent unit, and whether the span
    held any place name at all.
    """
    found = _mentions(g, text)
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


def _choose_child(g: _Gazetteer, scores: dict[str, float], parent: str) -> str | None:
    """Return the dominant child of ``parent`` by rolled-up score, or None."""
    kids: dict[str, float] = defaultdict(float)
    for code, s in scores.items():
        if code == parent or not g.under(code, parent):
            continue
        # The direct child of ``parent`` on the path to ``code``.
        cur = code
        while g.units[cur].parent != parent:
            cur = g.units[cur].parent  # type: ignore[assignment]
        kids[cur] += s
    if not kids:
        return None
    best = max(kids, key=kids.__getitem__)
    total = sum(kids.values())
    if kids[best] >= MIN_CHILD_SCORE and kids[best] * 2 >= total and \
            sum(1 for v in kids.values() if v == kids[best]) == 1:
        return best
    return None


def _refine(g: _Gazetteer, occ: list[tuple[tuple[tuple[str, bool], ...], float]],
            start: str) -> str:
    """Walk down from ``start`` while mentions point clearly to one child."""
    cur = start
    while g.units[cur].level < 3:
        scores: dict[str, float] = defaultdict(float)
        for ms, w in occ:
            c = _resolve(g, ms, cur, explicit=False)
            if c is not None:
                scores[c] += w
        nxt = _choose_child(g, scores, cur)
        if nxt is None:
            return cur
        cur = nxt
    return cur


def _from_mentions(g: _Gazetteer, occ: list[tuple[tuple[tuple[str, bool], ...], float]]) -> str | None:
    scores: dict[str, float] = defaultdict(float)
    for ms, w in occ:
        c = _resolve(g, ms, None, explicit=False)
        if c is not None:
            scores[g.path(c)[0].code] += w
    if not scores:
        return None
    best = max(scores, key=scores.__getitem__)
    total = sum(scores.values())
    top = scores[best]
    if top < MIN_PROVINCE_SCORE or top * 2 < total or \
            sum(1 for v in scores.values() if v == top) > 1:
        return None
    return best


def tag_region(article: Article, *, folded_title: str | None = None,
               folded_body: str | None = None) -> tuple[str, ...]:
    """Return the region path of an article, e.g. ("四川", "宜宾", "珙县"), or ()."""
    g = _load()
    title = folded_title if folded_title is not None else fold_text(article.title or "")
    body = folded_body if folded_body is not None else fold_text((article.body or "")[:BODY_SCAN_CHARS])
    body = body[:BODY_SCAN_CHARS]

    anchor: str | None = None
    foreign = False
    if article.dateline:
        dl = fold_text(article.dateline).strip()
        code, named = _anchor_from(g, dl, None)
        if code is None and dl in g.exact:
            code, named = g.exact[dl], True
        if code is not None:
            anchor = code
        elif not named and _is_foreign(dl):
            foreign = True
    m = _TITLE_PREFIX_RE.match(title)
    if m:
        code, _ = _anchor_from(g, m.group(1), anchor)
        if code is not None:
            anchor = _deepen(g, anchor, code)
    if anchor is None and not foreign:
        m = _DATELINE_RE.search(body[:DATELINE_CHARS])
        if m and m.group(1):
            code, named = _anchor_from(g, m.group(1), None)
            if code is not None:
                anchor = code
            elif not named and m.group(1).startswith(_AGENCIES) and _is_foreign(m.group(1)):
                foreign = True
    if foreign and anchor is None:
        return ()

    occ = [(ms, float(TITLE_WEIGHT)) for ms in _mentions(g, title)]
    occ += [(ms, 1.0) for ms in _mentions(g, body)]
    if anchor is None:
        anchor = _from_mentions(g, occ)
        if anchor is None:
            return ()
    return region_path(_refine(g, occ, anchor))


def with_region(article: Article, **kwargs: str) -> Article:
    """Return a copy of ``article`` with ``region`` set by :func:`tag_region`."""
    return dataclasses.replace(article, region=tag_region(article, **kwargs))
