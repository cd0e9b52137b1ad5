"""Tests for search.analysis: the one jieba tokenizer (positions, offsets, kept tokens, backends)."""

from __future__ import annotations

import logging
import pickle

import pytest
from whoosh.filedb.filestore import RamStorage
from whoosh.formats import Positions
from whoosh.query import Phrase, QueryError, Term

from conftest import SEED
from search.analysis import JiebaTokenizer, _user_words, analyze, query_words, segment
from search.ingest import extract_text_dump
from search.normalize import fold, fold_text
from search.schema import SCHEMA_VERSION, JiebaText, make_schema


def _seed_article():
    return extract_text_dump(SEED.read_text("utf-8"), origin=str(SEED))


def test_positions_are_word_ordinals_and_subwords_share_their_word() -> None:
    toks = [(t.text, t.pos) for t in analyze("科学家介绍图书馆")]
    assert toks == [
        ("科学", 0), ("学家", 0), ("科学家", 0),
        ("介绍", 1),
        ("图书", 2), ("书馆", 2), ("图书馆", 2),
    ]


def test_punctuation_is_dropped_and_takes_no_position() -> None:
    toks = [(t.text, t.pos) for t in analyze("监督，治理。“巡审联动”")]
    assert toks == [("监督", 0), ("治理", 1), ("巡审", 2), ("联动", 3)]


def test_positions_are_not_character_offsets_on_the_seed_text() -> None:
    # The trap of jieba's ChineseAnalyzer: pos = character offset. Ours are dense ordinals.
    toks = analyze(_seed_article().body)
    positions = sorted({t.pos for t in toks})
    assert positions == list(range(len(positions)))
    assert max(t.pos for t in toks) < max(t.start for t in toks)


def test_char_offsets_are_exact_display_offsets_in_traditional_text() -> None:
    art = _seed_article()
    for text in (art.title, art.body):
        toks = analyze(text)
        assert toks
        for t in toks:
            # the display slice, folded, is the token: offsets point into the text as published
            assert fold_text(text[t.start:t.end]).strip() == t.text, (t, text[t.start:t.end])
    title = art.title
    spans = {t.text: title[t.start:t.end] for t in analyze(title)}
    assert spans["监督"] == "監督"
    assert spans["珙县"] == "珙縣"
    assert spans["巡审"] == "巡審" and spans["联动"] == "聯動"


def test_char_offsets_map_full_width_text_back_to_the_display() -> None:
    text = "型号ＸＹＺ９９发布"
    toks = {t.text: text[t.start:t.end] for t in analyze(text)}
    assert toks == {"型号": "型号", "xyz99": "ＸＹＺ９９", "发布": "发布"}


def test_digits_and_latin_words_are_kept() -> None:
    words = query_words("华为Mate60手机支持5G，2024年GDP增长")
    assert words == ["华为", "mate60", "手机", "支持", "5g", "2024", "年", "gdp", "增长"]
    assert "abc2024" in [t.text for t in analyze("ＡＢＣ２０２４型无人机")]


def test_query_words_are_coarse_and_folded() -> None:
    assert query_words("巡審聯動") == ["巡审", "联动"]
    assert query_words("圖書館") == ["图书馆"]  # no sub-words at query time
    assert query_words("監督") == ["监督"]
    assert query_words("，。！") == []


def test_whoosh_tokenizer_matches_analyze() -> None:
    tok = JiebaTokenizer("search")
    text = "圖書館延長開放時間"
    got = [(t.text, t.pos, t.startchar, t.endchar) for t in tok(text, positions=True, chars=True)]
    assert got == [(t.text, t.pos, t.start, t.end) for t in analyze(text)]
    assert got[:3] == [("图书", 0, 0, 2), ("书馆", 0, 1, 3), ("图书馆", 0, 0, 3)]
    # query-mode calls (the Whoosh parser, highlighters) use the coarse cut
    assert [(t.text, t.pos) for t in tok(text, positions=True, mode="query")] == [
        ("图书馆", 0), ("延长", 1), ("开放", 2), ("时间", 3)]
    # start_pos / start_char offsets are honoured (multi-valued fields)
    shifted = [(t.pos, t.startchar) for t in tok("监督", positions=True, chars=True, start_pos=5, start_char=10)]
    assert shifted == [(5, 10)]


def test_field_index_fast_path_agrees_with_the_analyzer() -> None:
    field = JiebaText(stored=True, field_boost=2.5)
    text = _seed_article().body
    slow: dict[str, list[int]] = {}
    for t in field.analyzer(text, positions=True):
        slow.setdefault(t.text, []).append(t.pos)
    # version 5: terms, frequencies and weights; no values (positions are not indexed)
    fast = {term.decode("utf-8"): (freq, w, enc) for term, freq, w, enc in field.index(text)}
    assert fast == {k: (len(v), len(v) * 2.5, b"") for k, v in slow.items()}
    # a field unpickled from a version-4 index keeps its positions format and its encoding
    field.format = Positions(field_boost=2.5)
    old = {term.decode("utf-8"): (freq, field.format.decode_positions(enc))
           for term, freq, _w, enc in field.index(text)}
    assert {k: (len(v), v) for k, v in slow.items()} == old


def test_schema_pickles_with_the_analyzer_module_path() -> None:
    schema = make_schema()
    again = pickle.loads(pickle.dumps(schema))
    assert again.names() == schema.names()
    assert type(again["body"].analyzer).__module__ == "search.analysis"
    assert again["body"].analyzer == JiebaTokenizer("search")
    assert isinstance(SCHEMA_VERSION, int)


def _tiny_index(docs: dict[str, str]):
    ix = RamStorage().create_index(make_schema())
    w = ix.writer()
    for i, body in docs.items():
        w.add_document(id=i, title="", body=body)
    w.commit()
    return ix


def test_word_fields_index_weights_not_positions() -> None:
    # Exact text is the character index's (search.chars); word positions are not kept, so a
    # Whoosh phrase is refused rather than answered wrongly, and each posting's weight is the
    # word's frequency (what BM25F reads).
    ix = _tiny_index({
        "seed": _seed_article().body,
        "together": "志愿者走进小区开展垃圾分类宣传。",
        "apart": "街道本周清运垃圾三十吨，并对旧家具进行分类登记。分类",
    })
    with ix.searcher() as s:
        def ids(q):
            return sorted(s.stored_fields(d)["id"] for d in s.docs_for_query(q))

        assert ids(Term("body", "分类")) == ["apart", "together"]
        assert ids(Term("body", "巡察")) == ["seed"]
        assert ids(Term("body", "机构")) == ["seed"]  # a sub-word of 巡察机构 is indexed too
        m = s.postings("body", "分类")
        weights = {}
        while m.is_active():
            weights[s.stored_fields(m.id())["id"]] = m.weight()
            m.next()
        assert weights == {"together": 1.0, "apart": 2.0}
        assert not s.schema["body"].format.supports("positions")
        with pytest.raises(QueryError, match="no positions"):
            ids(Phrase("body", ["垃圾", "分类"]))


def test_segment_modes() -> None:
    assert segment("图书馆", "default") == [("图书馆", 0, 3)]
    assert [w for w, _s, _e in segment("图书馆", "search")] == ["图书", "书馆", "图书馆"]


def test_rjieba_and_pure_python_jieba_give_the_same_coarse_cut_on_the_seed() -> None:
    rjieba = pytest.importorskip("rjieba", reason="rjieba (the fast backend) is not installed")
    jieba = pytest.importorskip("jieba", reason="pure-Python jieba (the fallback) is not installed")
    art = _seed_article()
    text = fold(art.title + "\n" + art.body).text
    ours = [w for w, _s, _e in segment(text, "default")]  # loads our user dictionary
    jieba.setLogLevel(logging.WARNING)
    dt = jieba.Tokenizer()  # a private instance: the global one is left as it was
    dt.initialize()
    for w in _user_words():
        w = fold_text(w)
        if len(w) >= 2:
            dt.add_word(w)
    theirs = [w for w, _s, _e in dt.tokenize(text, mode="default", HMM=True)]
    raw = [w for w, _s, _e in rjieba.tokenize(text, mode="default", hmm=True)]
    assert ours == raw
    assert ours == theirs
    assert "监督" in ours and "珙县" in ours
