"""Error messages for people (Chinese) and programs (a stable ``code``), from the core's errors.

The core raises :class:`search.errors.BadQuery` with an English message meant for logs and the
JSON API. The page is Chinese, so each known message is mapped here to a machine-readable code
and a Chinese sentence that says what to do; the API keeps the English text and adds the code.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["explain", "HTTP_MESSAGES"]

_Rule = tuple[re.Pattern[str], str, Callable[[re.Match[str]], str]]

_RULES: list[_Rule] = [
    (re.compile(r"^`(?P<n>\w+)` must be a positive whole number, not (?P<v>.*)\.$"), "bad_number",
     lambda m: f"参数 {_param(m['n'])} 应为正整数，而不是 {m['v']}。"),
    (re.compile(r"^`(?P<n>\w+)` must be true or false"), "bad_boolean",
     lambda m: f"参数 {_param(m['n'])} 只能是 true 或 false。"),
    (re.compile(r"^At most (?P<k>\d+) `(?P<n>\w+)` filters"), "too_many_filters",
     lambda m: f"「{_param(m['n'])}」筛选条件最多只能同时用 {m['k']} 个。"),
    (re.compile(r"^`limit` must be a whole number from 1 to (?P<k>\d+)"), "bad_limit",
     lambda m: f"导出条数 limit 应为 1 到 {int(m['k']):,} 之间的整数。"),
    (re.compile(r"^`format` must be"), "bad_format",
     lambda m: "导出格式 format 只能是 csv 或 jsonl。"),
    (re.compile(r"^(?P<n>from|to) must be a date like 2024-04-29, not (?P<v>.*)$"), "bad_date",
     lambda m: f"{'起始' if m['n'] == 'from' else '截止'}日期应写成 2024-04-29 这样的格式，而不是 {m['v']}。"),
    (re.compile(r"^from \((?P<a>.*)\) is after to \((?P<b>.*)\)$"), "bad_date_range",
     lambda m: f"起始日期（{m['a']}）晚于截止日期（{m['b']}），请调换或修改。"),
    (re.compile(r"^results beyond the first (?P<k>\d+) are not served"), "window",
     lambda m: f"只能翻看前 {int(m['k']):,} 条结果。请加上筛选条件或日期范围缩小搜索，"
               "或用“导出 CSV”取得全部结果。"),
    (re.compile(r"^page must be 1 or more"), "bad_page", lambda m: "页码应从 1 开始。"),
    (re.compile(r"^size must be between 1 and (?P<k>\d+)"), "bad_size",
     lambda m: f"每页条数 size 应在 1 到 {m['k']} 之间。"),
    (re.compile(r"^sort must be one of"), "bad_sort",
     lambda m: "排序方式只能是 relevance（相关度）、newest（最新）或 oldest（最早）。"),
    (re.compile(r"^the query is (?P<n>\d+) characters long; at most (?P<k>\d+)"), "query_too_long",
     lambda m: f"查询太长了（{int(m['n']):,} 个字符），最多 {int(m['k']):,} 个字符。请只留下关键词。"),
    (re.compile(r"^the query is too expensive"), "query_too_expensive",
     lambda m: "这个查询太费时了，请减少词语或换用更具体的词。"),
]
_PARAM_NAMES = {"page": "page（页码）", "size": "size（每页条数）", "collapse": "collapse（合并相似报道）",
                "source": "来源", "region": "地区", "category": "栏目", "limit": "limit（导出条数）"}
# Codes of `bad_number` that say which parameter it was: the page parameter is the common case.
_NUMBER_CODES = {"page": "bad_page", "size": "bad_size", "limit": "bad_limit"}

HTTP_MESSAGES: dict[int, tuple[str, str, str]] = {
    404: ("not_found", "No such page or resource.", "没有这个页面，链接可能有误。"),
    405: ("method_not_allowed", "This method is not allowed here; use GET.", "这里只接受 GET 请求。"),
    413: ("too_large", "The request is too large.", "请求太大了。"),
}


def _param(name: str) -> str:
    return _PARAM_NAMES.get(name, name)


def explain(message: str) -> tuple[str, str]:
    """Return (code, Chinese sentence) for a BadQuery message; unknown ones get a generic pair."""
    for pattern, code, zh in _RULES:
        m = pattern.search(message)
        if m:
            if code == "bad_number":
                code = _NUMBER_CODES.get(m["n"], code)
            return code, zh(m)
    return "bad_query", "这个请求无法处理，请检查搜索词和筛选条件。"
