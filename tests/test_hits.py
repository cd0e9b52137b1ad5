"""search.hits: the Article ↔ stored-document mapping, written one way and read back the other."""

from __future__ import annotations

from datetime import datetime

from search.hits import article, article_doc, day_bounds, iso, split_codes
from search.models import Article
from search.params import SHANGHAI


def test_an_article_comes_back_from_its_stored_fields() -> None:
    a = Article(
        id="hits-1", title="珙县开展巡察", body="珙县巡察组进驻。", url="https://www.example.cn/a/1.html",
        source="宜宾新闻网", published=datetime(2024, 4, 29, 13, 45, tzinfo=SHANGHAI), category="时政",
        authors=("吴平华", "王紫溦"), region=("四川", "宜宾", "珙县"), dateline="宜宾", lang="zh-Hans",
        cluster="hits-1", origin="a.jsonl:1",
    )
    doc = article_doc(a, None, ["k1", "k2"])
    assert doc["site"] == "example.cn" and doc["month"] == "2024-04" and doc["_dupkeys"] == ["k1", "k2"]
    assert doc["region"] == "四川,宜宾,珙县" and doc["authors"] == "吴平华,王紫溦"
    assert split_codes(doc["regions"]) and all(split_codes(doc["regions"]))  # adcodes, one per tag and parent
    assert article(doc) == a


def test_a_name_with_a_comma_and_missing_values_read_back_as_stored() -> None:
    doc = article_doc(Article(id="hits-2", title="t", body="b", authors=("A, B",)), None, [])
    assert doc["authors"] == "A  B"  # a comma inside a name is not a separator
    back = article(doc)
    assert back.authors == ("A  B",) and back.region == () and back.published is None and back.url is None


def test_day_bounds_and_iso_are_shanghai_days() -> None:
    lo, hi = day_bounds("2024-04-29", "from", False), day_bounds("2024-04-29", "to", True)
    assert iso(lo) == "2024-04-29T00:00:00+08:00" and iso(hi) == "2024-04-29T23:59:59+08:00"
    assert iso(0) is None and day_bounds("", "from", False) is None
