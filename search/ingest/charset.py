"""Decode a page's bytes: BOM, strict UTF-8, declared labels and CJK codecs validated over the whole text."""

from __future__ import annotations

import codecs
import logging
import re
import threading

from ..errors import ExtractError

__all__ = ["decode_bytes"]

log = logging.getLogger(__name__)

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
