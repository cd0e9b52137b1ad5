"""Tests for the ingester (search.ingest, once search/extract.py): real files, real bytes, no mocks."""

from __future__ import annotations

import gzip
import io
import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from search.errors import ExtractError
from search.ingest import (
    SHANGHAI,
    Problem,
    article_from_record,
    count_inputs,
    decode_bytes,
    detect_lang,
    extract_html,
    extract_text_dump,
    find_dateline,
    iter_articles,
    parse_datetime,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED = FIXTURES / "seed_000_6ede58738be5c303.txt"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

PARAS = [
    "新华社成都4月29日电（记者 张三 李四）四川省宜宾市珙县今年以来持续推进巡察与审计联动，"
    "发现问题线索一百余条，推动整改落实到位，群众满意度明显提升。",
    "据介绍，珙县在确定巡察对象前主动听取审计部门意见，做到同谋划、同进驻、同办公，"
    "对共性问题集中研判、共商治本措施，切实提升监督实效。",
    "下一步，当地将围绕民生领域开展专项监督，促进基层群众普遍关心的热点难点问题得到有效化解。",
]


def news_page(title: str, paras: list[str], *, charset_label: str = "utf-8",
              when: str = "2024年04月29日 13:45", extra_head: str = "") -> str:
    """Return a realistic article page: nav, headline, byline, body, related links, footer."""
    nav = "".join(f'<li><a href="/c{i}.html">栏目{i}</a></li>' for i in range(12))
    related = "".join(f'<li><a href="/n{i}.html">相关新闻标题第{i}条内容在这里</a></li>' for i in range(8))
    body = "".join(f"<p>{p}</p>" for p in paras)
    return f"""<!DOCTYPE html><html><head>
<meta http-equiv="Content-Type" content="text/html; charset={charset_label}">
<title>{title}_地方新闻_某某网</title>{extra_head}
<script>var ad = "广告代码，不是正文。";</script></head><body>
<div class="nav"><ul>{nav}</ul></div>
<div class="main"><h1>{title}</h1>
<div class="info">{when} 来源：四川日报 编辑：王五</div>
<div class="content">{body}</div>
<div class="share">分享到：微信 微博</div>
<div class="related"><h3>相关新闻</h3><ul>{related}</ul></div></div>
<div class="footer">版权所有 2024 某某网 未经授权禁止转载。</div>
</body></html>"""


# ----------------------------------------------------------------- the seed page


def test_seed_page_fields():
    art = extract_text_dump(SEED.read_text(encoding="utf-8"), origin=str(SEED))
    assert art.title == "四川珙縣:“巡審聯動”打出監督“組合拳”"
    assert art.published == datetime(2024, 4, 29, 13, 45, tzinfo=SHANGHAI)
    assert art.published.utcoffset().total_seconds() == 8 * 3600
    assert art.source == "中新網四川"
    assert "曹惠君" in art.authors
    assert {"吳平華", "王紫溦"} <= set(art.authors)
    assert art.dateline == "四川"
    assert art.lang == "zh-Hant"
    assert art.id.startswith("txt-") and art.origin == str(SEED)
    assert art.region == () and art.cluster is None


def test_seed_page_body_is_clean():
    art = extract_text_dump(SEED.read_text(encoding="utf-8"))
    body = art.body
    assert body.startswith("中新網四川新聞4月29日電 (吳平華 王紫溦)監督是治理")
    assert "(jiān)" not in body and "(wǎng)" not in body and "(dòng)" not in body
    assert "首頁" not in body and "bwbd" not in body
    assert body.count("巡察審計曹營鎮聯席工作會。王紫溦 攝") == 1
    assert "(完)" not in body and body.endswith("如是說。")
    assert "免責聲明" not in body and "版權" not in body and "62938795" not in body
    assert "(吳平華 王紫溦)" in body  # real parentheses stay


def test_seed_page_through_iter_articles(tmp_path):
    problems: list[Problem] = []
    arts = list(iter_articles([SEED], on_problem=problems.append))
    assert problems == []
    assert [a.title for a in arts] == ["四川珙縣:“巡審聯動”打出監督“組合拳”"]


# ----------------------------------------------------------------- charsets


def test_gbk_page_from_cwced_fixture():
    data = gzip.open(FIXTURES / "cwced_gbk_267b62da.html.gz", "rb").read()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text, enc = decode_bytes(data)
    assert enc == "gb18030"
    art = extract_html(data)
    assert art.title == "四年前中500万现穷困潦倒 一夜暴富后如何经营"
    assert art.body.startswith("人生如戏。一夜之间，它可以让一个穷光蛋成为百万富翁")
    assert "\ufffd" not in art.body
    assert art.published == datetime(2005, 3, 21, 11, 21, tzinfo=SHANGHAI)
    assert art.lang == "zh-Hans"


def test_utf8_page_from_cwced_fixture():
    data = gzip.open(FIXTURES / "cwced_utf8_c95e95a8.html.gz", "rb").read()
    art = extract_html(data, url="http://www.bynr.gov.cn/example.html")
    assert art.title == "为现代化巴彦淖尔建设凝聚强大智慧和力量"
    assert "新征程催人奋进，新使命激荡人心。" in art.body
    assert art.published == datetime(2022, 2, 11, 9, 52, tzinfo=SHANGHAI)
    assert "苏亮" in art.authors
    assert art.id.startswith("web-")


def test_synthesized_gbk_page():
    html = news_page("珙县巡审联动显成效", PARAS, charset_label="gbk")
    data = html.encode("gbk")
    art = extract_html(data, url="http://example.cn/a/1.html", origin="x.html")
    assert art.title == "珙县巡审联动显成效"
    assert art.body.split("\n") == PARAS
    assert art.published == datetime(2024, 4, 29, 13, 45, tzinfo=SHANGHAI)
    assert art.source == "四川日报"
    assert {"张三", "李四", "王五"} <= set(art.authors)
    assert art.dateline == "成都"
    assert art.url == "http://example.cn/a/1.html"


def test_page_declaring_gb2312_but_utf8():
    html = news_page("宜宾发布春季旅游线路", PARAS, charset_label="gb2312")
    data = html.encode("utf-8")
    text, enc = decode_bytes(data)
    assert enc == "utf-8"
    art = extract_html(data)
    assert art.title == "宜宾发布春季旅游线路"
    assert art.body.split("\n") == PARAS


def test_gb2312_label_with_gbk_only_characters():
    # 镕 and 堃 are outside GB2312: a strict gb2312 decoder would fail or garble them
    para = "朱镕基与王堃在会上发言，强调要做好基层治理工作，切实解决群众身边的急难愁盼问题。"
    data = news_page("基层治理座谈会召开", [para, *PARAS], charset_label="gb2312").encode("gb18030")
    art = extract_html(data)
    assert para in art.body


def test_big5_traditional_page():
    paras = [
        "中央社台北4月29日電（記者 陳大文）台北市政府今天宣布，將擴大推動社區長照據點，"
        "預計今年新增三十處，服務範圍涵蓋各行政區，讓長輩就近獲得照顧。",
        "市府表示，據點將結合在地醫療資源與志工團體，提供共餐、健康促進與關懷訪視等服務，"
        "並定期檢討執行成效，確保資源用在最需要的地方。",
    ]
    import opencc

    html = news_page("台北擴大推動社區長照據點", paras, charset_label="big5", when="2024-04-29 13:45")
    conv = opencc.OpenCC("s2tw").convert  # the page furniture in Taiwan forms too (Big5 lacks some)
    data = conv(html).encode("big5")
    text, enc = decode_bytes(data)
    assert enc == "big5hkscs"
    art = extract_html(data)
    assert art.title == conv("台北擴大推動社區長照據點")
    assert art.body.split("\n") == [conv(p) for p in paras]
    assert art.lang == "zh-Hant"
    assert art.dateline == conv("台北")
    assert art.published == datetime(2024, 4, 29, 13, 45, tzinfo=SHANGHAI)


def test_big5_page_without_label_is_detected():
    text = "臺灣各縣市政府今年持續推動觀光振興計畫，吸引大量國內外旅客前往參觀，帶動地方經濟發展。" * 5
    data = f"<html><body><h1>觀光振興</h1><p>{text}</p></body></html>".encode("big5")
    decoded, enc = decode_bytes(data)
    assert enc == "big5hkscs" and text in decoded


def test_decode_bytes_bom_and_binary():
    assert decode_bytes("\ufeff新闻".encode("utf-8")) == ("新闻", "utf-8")
    with pytest.raises(ExtractError, match="binary"):
        decode_bytes(bytes(range(256)) * 20)


def test_decode_bytes_drops_a_few_broken_bytes_without_replacement_chars():
    good = ("地方新闻报道的正文内容，" * 200).encode("gb18030")
    data = good[:1000] + b"\xff" + good[1000:]  # one stray byte: no codec accepts the whole
    text, enc = decode_bytes(data)
    assert enc == "gb18030" and "\ufffd" not in text
    assert text.count("地方新闻报道的正文内容") >= 198


# ----------------------------------------------------------------- metadata helpers


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024年04月29日 13:45 來源:中新網四川", datetime(2024, 4, 29, 13, 45)),
        ("发布时间：2024-04-29 13:45:10", datetime(2024, 4, 29, 13, 45, 10)),
        ("２０２４年４月２９日　１３：４５", datetime(2024, 4, 29, 13, 45)),
        ("2024/4/9", datetime(2024, 4, 9)),
        ("发布日期： 9/17/2004 5:54:13 PM", datetime(2004, 9, 17, 17, 54, 13)),
        ("2012-12-10T09:24:01+00:00", datetime(2012, 12, 10, 17, 24, 1)),
    ],
)
def test_parse_datetime(text, expected):
    assert parse_datetime(text) == expected.replace(tzinfo=SHANGHAI)


def test_parse_datetime_month_day_needs_year_hint():
    assert parse_datetime("中新社北京10月19日电") is None
    assert parse_datetime("中新社北京10月19日电", year_hint=2023) == datetime(2023, 10, 19, tzinfo=SHANGHAI)
    assert parse_datetime("2024年13月40日") is None
    assert parse_datetime("") is None


@pytest.mark.parametrize(
    "text, place",
    [
        ("中新社北京10月19日电 (记者 张三)今天……", "北京"),
        ("中新網四川新聞4月29日電 (吳平華 王紫溦)監督是治理", "四川"),
        ("新华社华盛顿10月19日电 美国……", "华盛顿"),
        ("本报讯 今天上午……", None),
    ],
)
def test_find_dateline(text, place):
    assert find_dateline(text) == place


def test_detect_lang():
    assert detect_lang("監督是治理的內在要素") == "zh-Hant"
    assert detect_lang("监督是治理的内在要素") == "zh-Hans"


# ----------------------------------------------------------------- list pages and junk


def test_list_page_is_rejected():
    items = "".join(
        f'<li><a href="/2024/04-{i:02d}/{i}.shtml">四川各地推进乡村振兴第{i}篇报道标题</a> <span>04-{i:02d}</span></li>'
        for i in range(1, 41)
    )
    html = f"<html><head><title>四川新闻_列表</title></head><body><h2>四川新闻</h2><ul>{items}</ul></body></html>"
    with pytest.raises(ExtractError, match="^list page"):
        extract_html(html.encode("utf-8"))


def test_extract_html_rejects_non_html():
    with pytest.raises(ExtractError):
        extract_html(b"")
    with pytest.raises(ExtractError, match="not HTML"):
        extract_html("只是一段纯文本，没有任何标记。".encode())


# ----------------------------------------------------------------- JSON lines


def test_article_from_record_keeps_corpus_fields():
    rec = {
        "id": "web-0123456789ab", "title": "四川珙县：巡审联动", "body": "正文第一段。\n正文第二段。",
        "date": "2024-04-29", "source": "中国新闻网(chinanews.com)", "url": "https://www.chinanews.com/x.shtml",
        "category": "国内", "dateline_place": "成都", "lang": "zh-Hans",
    }
    art = article_from_record(rec, origin="a.jsonl:3")
    assert art.id == "web-0123456789ab"
    assert art.published == datetime(2024, 4, 29, 0, 0, tzinfo=SHANGHAI)
    assert (art.source, art.url, art.category, art.dateline, art.origin) == (
        "中国新闻网(chinanews.com)", "https://www.chinanews.com/x.shtml", "国内", "成都", "a.jsonl:3")
    assert art.body == "正文第一段。\n正文第二段。"
    with pytest.raises(ExtractError):
        article_from_record({"id": "x", "title": "", "body": ""})
    with pytest.raises(ExtractError):
        article_from_record(["not", "a", "dict"])  # type: ignore[arg-type]


def test_jsonl_with_one_invalid_line(tmp_path):
    path = tmp_path / "news.jsonl.gz"
    good1 = {"id": "a1", "title": "第一篇", "body": "内容一。"}
    good2 = {"id": "a2", "title": "第二篇", "body": "内容二。", "date": "2023-10-19"}
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps(good1, ensure_ascii=False) + "\n")
        f.write('{"id": "broken", "title": \n')
        f.write("\n")
        f.write(json.dumps(good2, ensure_ascii=False) + "\n")
    problems: list[Problem] = []
    arts = list(iter_articles([path], on_problem=problems.append))
    assert [a.id for a in arts] == ["a1", "a2"]
    assert arts[1].origin == f"{path}:4"
    assert len(problems) == 1
    assert problems[0].path == str(path) and problems[0].line == 2
    assert "invalid JSON" in problems[0].reason
    assert problems[0].to_dict() == {"path": str(path), "line": 2, "reason": problems[0].reason}


def test_truncated_jsonl_gz_keeps_the_lines_before_the_break(tmp_path):
    recs = [{"id": f"r{i}", "title": f"标题{i}", "body": "正文内容。" * 50} for i in range(200)]
    blob = gzip.compress("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs).encode("utf-8"))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(blob[: len(blob) * 2 // 3])
    problems: list[Problem] = []
    arts = list(iter_articles([path], on_problem=problems.append))
    assert 0 < len(arts) < 200
    assert [a.id for a in arts] == [f"r{i}" for i in range(len(arts))]
    assert len(problems) == 1 and "gzip" in problems[0].reason and problems[0].line == len(arts) + 1


# ----------------------------------------------------------------- WARC


def write_warc(path: Path, pages: list[tuple[str, bytes, str]]) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=path.name.endswith(".gz"))
        for url, payload, ctype in pages:
            headers = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            rec = writer.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=headers)
            writer.write_record(rec)


def test_warc_file(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    page1 = news_page("珙县巡审联动显成效", PARAS).encode("utf-8")
    page2 = news_page("台北擴大推動社區長照據點", PARAS, charset_label="big5").encode("gb18030")
    write_warc(path, [
        ("http://example.cn/a/1.html", page1, "text/html; charset=utf-8"),
        ("http://example.cn/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png"),
        ("http://example.cn/a/2.html", page2, "text/html; charset=gbk"),  # header right, meta wrong
        ("http://example.cn/a/3.html", b"<html><body></body></html>", "text/html"),
    ])
    problems: list[Problem] = []
    arts = list(iter_articles([tmp_path], on_problem=problems.append))
    assert [a.url for a in arts] == ["http://example.cn/a/1.html", "http://example.cn/a/2.html"]
    assert arts[0].title == "珙县巡审联动显成效" and arts[0].body.split("\n") == PARAS
    assert arts[1].body.split("\n") == PARAS
    assert arts[0].origin.startswith(f"{path}:")
    import hashlib

    assert arts[0].id == "web-" + hashlib.sha1(b"http://example.cn/a/1.html").hexdigest()[:12]
    assert len(problems) == 1 and problems[0].path == str(path) and problems[0].line == 4
    assert count_inputs([tmp_path]) == 1


# ----------------------------------------------------------------- bad input of every kind


def test_bad_inputs_are_reported_and_the_good_ones_still_yielded(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    good_html = news_page("珙县巡审联动显成效", PARAS).encode("utf-8")
    (d / "01_good.html").write_bytes(good_html)
    (d / "02_good.shtml.gz").write_bytes(gzip.compress(news_page("宜宾发布春季旅游线路", PARAS).encode("gbk")))
    (d / "03_seed.txt").write_bytes(SEED.read_bytes())
    (d / "10_empty.html").write_bytes(b"")
    (d / "11_junk.html").write_bytes(os.urandom(4096) + bytes(64))
    (d / "12_truncated.html.gz").write_bytes(gzip.compress(good_html)[:300])
    (d / "13_notgzip.htm.gz").write_bytes(b"this is not gzip at all")
    (d / "14_bad.jsonl").write_text('{"id": "ok1", "title": "好", "body": "正文。"}\n{oops}\n', encoding="utf-8")
    items = "".join(f'<li><a href="/{i}.html">地方新闻第{i}条标题在此处</a></li>' for i in range(40))
    (d / "15_list.html").write_text(f"<html><body><ul>{items}</ul></body></html>", encoding="utf-8")
    (d / "16_notes.docx").write_bytes(b"PK\x03\x04")
    (d / "17_dangling.html").symlink_to(d / "does-not-exist.html")
    (d / "18_empty.jsonl").write_bytes(b"")
    sub = d / "sub"
    sub.mkdir()
    (sub / "loop").symlink_to(d)  # a symlink back up the tree
    (sub / "20_good.htm").write_bytes(news_page("宜宾新闻", PARAS).encode("utf-8"))
    problems: list[Problem] = []
    arts = list(iter_articles([d], on_problem=problems.append))
    assert [a.title for a in arts] == [
        "珙县巡审联动显成效", "宜宾发布春季旅游线路", "四川珙縣:“巡審聯動”打出監督“組合拳”", "好", "宜宾新闻",
    ]
    by_name = {Path(p.path).name: p for p in problems}
    assert set(by_name) == {
        "10_empty.html", "11_junk.html", "12_truncated.html.gz", "13_notgzip.htm.gz", "14_bad.jsonl",
        "15_list.html", "16_notes.docx", "17_dangling.html", "18_empty.jsonl", "loop",
    }
    assert "empty" in by_name["10_empty.html"].reason
    assert "binary" in by_name["11_junk.html"].reason or "undecodable" in by_name["11_junk.html"].reason
    assert "gzip" in by_name["12_truncated.html.gz"].reason
    assert "gzip" in by_name["13_notgzip.htm.gz"].reason
    assert by_name["14_bad.jsonl"].line == 2 and "invalid JSON" in by_name["14_bad.jsonl"].reason
    assert by_name["15_list.html"].reason.startswith("list page")
    assert "unknown file type" in by_name["16_notes.docx"].reason
    assert "unreadable" in by_name["17_dangling.html"].reason
    assert "empty" in by_name["18_empty.jsonl"].reason
    assert "symlink loop" in by_name["loop"].reason
    # the files iter_articles opens: everything with a known suffix
    assert count_inputs([d]) == 12


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files whatever their mode")
def test_unreadable_file_is_reported(tmp_path):
    p = tmp_path / "secret.html"
    p.write_bytes(news_page("标题", PARAS).encode("utf-8"))
    p.chmod(0)
    problems: list[Problem] = []
    assert list(iter_articles([p], on_problem=problems.append)) == []
    assert problems and "unreadable" in problems[0].reason


def test_missing_path_is_reported(tmp_path):
    problems: list[Problem] = []
    assert list(iter_articles([tmp_path / "nope"], on_problem=problems.append)) == []
    assert problems[0].reason == "no such file or directory"


# ----------------------------------------------------------------- the shared corpus


@pytest.mark.skipif(not (CORPUS / "html" / "index.jsonl").exists(), reason="shared corpus not present")
def test_corpus_pages_decode_without_replacement_chars():
    rows = [json.loads(line) for line in (CORPUS / "html" / "index.jsonl").open(encoding="utf-8")]
    checked = 0
    for r in rows:
        if r["set"] not in ("cwced", "cx163") or r["actual_encoding"].startswith("unknown"):
            continue
        data = gzip.open(CORPUS / "html" / r["file"], "rb").read()
        text, enc = decode_bytes(data)
        assert "\ufffd" not in text, r["page_id"]
        expected = "utf-8" if r["actual_encoding"] == "utf-8" else "gb18030"
        assert enc == expected, r["page_id"]
        checked += 1
    assert checked > 100


def test_extract_module_is_the_ingest_package():
    # search.extract stays for the benchmark scripts that import from it: the same objects as
    # search.ingest's, and every name they import (read from their source)
    import ast

    import search.extract
    import search.ingest

    assert set(search.extract.__all__) <= set(search.ingest.__all__)
    for name in search.extract.__all__:
        assert getattr(search.extract, name) is getattr(search.ingest, name), name
    bench = Path(__file__).resolve().parent.parent / "bench"
    used = {a.name for p in bench.glob("*.py") for node in ast.walk(ast.parse(p.read_text("utf-8")))
            if isinstance(node, ast.ImportFrom) and node.module == "search.extract" for a in node.names}
    assert used and used <= set(search.extract.__all__), used - set(search.extract.__all__)


def test_one_opencc_converter_shared_with_normalize():
    from search import normalize

    detect_lang("監督是治理的內在要素")
    normalize.fold_text("監督")
    assert normalize._t2s() is normalize.opencc_converter("t2s")
    assert {"t2s", "s2t"} <= set(normalize._converters)  # detect_lang's converters are normalize's
