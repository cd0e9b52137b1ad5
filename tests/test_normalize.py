"""Tests for search.normalize: pinyin stripping, display cleaning, folding with an offset map."""

from __future__ import annotations

import re

import pytest

from conftest import SEED
from search.ingest import extract_text_dump
from search.normalize import Folded, clean_text, fold, fold_text, is_han, strip_pinyin

# A parenthesised run of Latin letters with a tone mark: what a pinyin annotation looks like.
PINYIN_ANNOTATION = re.compile(r"[(（][a-zü' āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]*[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ][a-zü' āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]*[)）]")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("監(jiān)督", "監督"),
        ("中新網(wǎng)四川", "中新網四川"),
        ("巡審聯(lián)動(dòng)", "巡審聯動"),
        ("審計(jì)監(jiān)督合力", "審計監督合力"),
        ("全角括号監（jiān）督", "全角括号監督"),
        ("多音节注音長(cháng zhǎng)官", "多音节注音長官"),
    ],
)
def test_strip_pinyin_removes_annotations_glued_to_a_character(raw: str, clean: str) -> None:
    assert strip_pinyin(raw) == clean


@pytest.mark.parametrize(
    "text",
    [
        "(吴平华 王紫溦)监督是治理的内在要素",  # author credit
        "(吳平華 王紫溦)監督",
        "年度报告(2024)发布",
        "新华社(记者 张三)",
        "型号(ABC)与(abc)",  # Latin without tone marks is not pinyin
        "(完)",
        "国内生产总值(GDP)",
    ],
)
def test_strip_pinyin_keeps_real_parentheses(text: str) -> None:
    assert strip_pinyin(text) == text


def test_seed_page_display_text_has_no_pinyin_and_keeps_credits() -> None:
    raw = SEED.read_text("utf-8")
    assert "監(jiān)督" in raw  # the trap is really in the fixture
    art = extract_text_dump(raw, origin=str(SEED))
    for text in (art.title, art.body):
        assert not PINYIN_ANNOTATION.search(text), PINYIN_ANNOTATION.search(text)
    assert art.title == "四川珙縣:“巡審聯動”打出監督“組合拳”"
    assert "(吳平華 王紫溦)監督是治理的內在要素" in art.body


def test_clean_text_removes_control_characters_and_tidies_spacing() -> None:
    raw = "\ufeff第一段\u200b文字\x07  \t\u3000中间\r\n\r\n  第二段\u00a0结束  "
    assert clean_text(raw) == "第一段文字 中间\n第二段 结束"
    assert clean_text(raw, multiline=False) == "第一段文字 中间 第二段 结束"
    assert clean_text("") == ""


def test_fold_full_width_traditional_and_case() -> None:
    assert fold_text("ＡＢＣ２０２４") == "abc2024"
    assert fold_text("巡審聯動打出監督“組合拳”") == "巡审联动打出监督“组合拳”"
    assert fold_text("圖書館延長開放時間") == "图书馆延长开放时间"
    assert fold_text("華為Mate60") == "华为mate60"
    assert fold_text("监督") == "监督"  # simplified stays


def test_fold_keeps_length_and_identity_map_when_nothing_expands() -> None:
    f = fold("四川珙縣:“巡審聯動”")
    assert len(f.text) == f.display_len == len("四川珙縣:“巡審聯動”")
    assert f.offsets is None
    assert f.to_display(3) == 3
    assert f.to_display(len(f.text)) == f.display_len


def test_fold_offsets_map_back_when_nfkc_expands_characters() -> None:
    # "ﬁ" (one ligature character) and "㎞" (one) become two characters each under NFKC.
    display = "ﬁ監督㎞ＡＢ"
    f = fold(display)
    assert f.text == "fi监督kmab"
    assert f.display_len == len(display)
    start = f.text.index("监督")
    assert display[f.to_display(start):f.to_display(start + 2)] == "監督"
    km = f.text.index("km")
    assert display[f.to_display(km):f.to_display(km + 2)] == "㎞"
    ab = f.text.index("ab")
    assert display[f.to_display(ab):f.to_display(ab + 2)] == "ＡＢ"
    assert f.to_display(len(f.text)) == len(display)


def test_folded_identity_map() -> None:
    f = Folded("abc", 3)
    assert [f.to_display(i) for i in range(4)] == [0, 1, 2, 3]


def test_is_han() -> None:
    assert is_han("監") and is_han("珙") and is_han("㐀")
    assert not is_han("a") and not is_han("２") and not is_han("，")


def test_fold_of_long_texts_is_the_per_character_definition() -> None:
    # Bodies are folded through a code-point table, short texts through str.translate: both
    # must be NFKC + lower-case of each character, with each folded character's offset the
    # display character it came from (random texts mixing expanding, full-width, traditional,
    # astral and lone surrogate characters, on both sides of the length where the paths meet).
    import random
    import unicodedata

    from search.normalize import _fold_chars

    def nfkc_lower(c: str) -> str:
        cp = ord(c)
        inside = cp < 0x10000 or 0x1D400 <= cp < 0x1D800 or 0x1F100 <= cp < 0x1F200
        return unicodedata.normalize("NFKC", c).lower() if inside and not 0xD800 <= cp <= 0xDFFF else c

    rng = random.Random(20261203)
    alphabet = ("中國體ＡＢＣａ１２３…℃㎡ﬁ①ⅫÅ" + "".join(map(chr, range(0x20, 0x7F)))
                + "\U0001d400\U0001f130\U0001f600\U00020000\ud800\udfff")
    for _ in range(600):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 900)))
        folded, offsets = _fold_chars(text)
        parts = [nfkc_lower(c) for c in text]
        assert folded == "".join(parts)
        want = [i for i, p in enumerate(parts) for _ in p]
        assert (list(offsets) if offsets is not None else list(range(len(text)))) == want
