"""Parse a page-text dump (headline, meta line, body, disclaimer) into an Article."""

from __future__ import annotations

import re

from ..errors import ExtractError
from ..models import Article
from ..normalize import clean_text
from .bylines import (
    BYLINE_RE,
    clean_line,
    dedupe,
    detect_lang,
    find_dateline,
    hash_id,
    names_in,
    parse_byline,
)
from .dates import parse_datetime

__all__ = ["extract_text_dump"]

# --------------------------------------------------------------------------- page-text dumps

_BREADCRUMB_RE = re.compile(r"^(?:首[页頁]|当前位置|當前位置|您的位置|你的位置|位置)\s*[:：]?\s*(?:[>＞›»]|$)|\s[>＞›»]\s")
_DISCLAIMER_RE = re.compile(
    r"版[权權](?:与|與|和)?免[责責][声聲]明|免[责責][声聲]明|版[权權]所有|版[权權][声聲]明|Copyright|©|（C）|\(C\)\s*\d{4}"
)
_END_MARK_RE = re.compile(r"\s*[（(]\s*完\s*[)）]\s*$")
META_LINE_KEYS = re.compile(r"来源|來源|编辑|編輯|作者|发布|發佈|发表|發表|记者|記者|时间|時間")


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
        if len(ln) < 160 and parse_datetime(ln) and (META_LINE_KEYS.search(ln) or len(ln) < 30):
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
    m = BYLINE_RE.search(body[:300])
    if m:
        authors += names_in(m.group(1), latin=False)
    title = clean_line(title)
    return Article(
        id=hash_id("txt", title, body),
        title=title,
        body=body,
        source=source,
        published=published,
        authors=dedupe(authors),
        dateline=find_dateline(body),
        lang=detect_lang(title + body),
        origin=origin,
    )
