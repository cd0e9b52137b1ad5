"""Score region tags against the hand-labelled gold set, and time ``tag_region``.

Usage::

    python bench/region_eval.py                 # score eval/regions_gold.jsonl
    python bench/region_eval.py --show          # also list every article that differs
    python bench/region_eval.py --time          # also time tag_region over the 2k sample
    python bench/region_eval.py --gold FILE     # another gold file of the same kind (held-out)

Scoring follows the corpus README ("Region gold set"): the text is the title plus the first
``text_chars`` characters of the body (and the record's dateline place, as at ingest); a tag
is compared with the ``about`` list after both are written the way the labels are (one
administrative suffix dropped unless the name has two characters, ethnic-autonomy words
dropped, 吉林市 keeps 市). Precision is over all tags, recall over all ``about`` places (micro
average). A *trap tag* is a tag that is not in ``about`` and equals what a trap looks like
(``南开`` for the trap 南开大学 → 南开区(天津)).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH: lets another checkout be timed

from bench.common import ARTICLES, CORPUS_DIR, OUT_DIR, machine  # noqa: E402
from search import region  # noqa: E402

MODULE = region.__file__  # which checkout was measured (PYTHONPATH decides)
from search.extract import article_from_record  # noqa: E402
from search.normalize import fold_text  # noqa: E402

GOLD = CORPUS_DIR / "eval" / "regions_gold.jsonl"
SAMPLE = CORPUS_DIR / "news_articles_sample2k.jsonl.gz"
NATIONS = (
    "蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 拉祜 水 东乡 纳西 "
    "景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 乌孜别克 俄罗斯 鄂温克 "
    "德昂 保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺"
).split()
_ETHNIC = re.compile("(?:(?:%s)族?)+自治(?:州|县|旗)$" % "|".join(sorted(NATIONS, key=len, reverse=True)))
_SUFFIX = re.compile(r"(?:特别行政区|维吾尔自治区|壮族自治区|回族自治区|自治区|地区|新区|林区|特区|省|市|区|县|旗|盟)$")


def label_form(name: str) -> str:
    """Write a place name the way the gold labels are written (珙县, 桐乡, 凉山, 吉林市)."""
    name = fold_text(name).strip()
    if name in ("吉林市",):
        return name
    s = _ETHNIC.sub("", name)
    if s != name and len(s) >= 2:
        return s
    s = _SUFFIX.sub("", name)
    return s if len(s) >= 2 else name


def _trap_form(looks_like: str) -> str:
    return label_form(re.sub(r"[(（].*$", "", looks_like))


def load_gold(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_records(ids: set[str]) -> dict[str, dict]:
    """Return the corpus records of ``ids`` (cached under bench/out after the first run)."""
    cache = OUT_DIR / "region_gold_records.jsonl"
    got: dict[str, dict] = {}
    if cache.exists():
        with open(cache, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                got[r["id"]] = r
    if ids - got.keys():
        with gzip.open(ARTICLES, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                if r["id"] in ids:
                    got[r["id"]] = r
        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(cache, "w", encoding="utf-8") as f:
            for r in got.values():
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return got


def score(gold: list[dict], records: dict[str, dict]) -> tuple[dict, list[str]]:
    """Return the totals and one line per article whose tags differ from the gold."""
    tp = n_tags = n_gold = traps = 0
    lines = []
    for g in gold:
        rec = dict(records[g["id"]])
        rec["body"] = rec.get("body", "")[: g["text_chars"]]
        art = article_from_record(rec)
        tags = {label_form(t) for t in region.tag_region(art)}
        about = {label_form(t) for t in g["about"]}
        trap_forms = {_trap_form(t["looks_like"]) for t in g["traps"]}
        hit = tags & about
        bad = {t for t in tags - about if t in trap_forms}
        tp += len(hit)
        n_tags += len(tags)
        n_gold += len(about)
        traps += len(bad)
        if tags != about:
            lines.append(f"{g['id']} {g['title'][:34]} | tagged {sorted(tags)} | gold {sorted(about)}"
                         f"{' | TRAP ' + str(sorted(bad)) if bad else ''}")
    p = tp / n_tags if n_tags else 1.0
    r = tp / n_gold if n_gold else 1.0
    return {"articles": len(gold), "tags": n_tags, "gold": n_gold, "correct": tp,
            "precision": p, "recall": r, "trap_tags": traps}, lines


def time_tagging(runs: int = 3) -> dict:
    """Time tag_region in CPU seconds (folded text given, as the indexer calls it) over the 2k sample."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        arts = [article_from_record(json.loads(line)) for line in f]
    folded = [(fold_text(a.title), fold_text(a.body)) for a in arts]
    region.tag_region(arts[0])  # the gazetteer load is once per process; keep it out
    times = []
    for _ in range(runs):
        t0 = time.process_time()  # CPU time: the machine is shared, wall time is noisy
        for a, (ft, fb) in zip(arts, folded):
            region.tag_region(a, folded_title=ft, folded_body=fb)
        times.append(time.process_time() - t0)
    best = min(times)
    return {"articles": len(arts), "best_s": best, "median_s": statistics.median(times),
            "us_per_article": best / len(arts) * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gold", type=Path, default=GOLD)
    ap.add_argument("--show", action="store_true", help="list the articles whose tags differ")
    ap.add_argument("--time", action="store_true", help="time tag_region over the 2k sample")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    gold = load_gold(args.gold)
    totals, lines = score(gold, load_records({g["id"] for g in gold}))
    print(f"gold: {args.gold.name}, {totals['articles']} articles, {totals['gold']} about-places")
    print(f"tags {totals['tags']}, correct {totals['correct']}: precision {totals['precision']:.3f}, "
          f"recall {totals['recall']:.3f}, trap tags {totals['trap_tags']}")
    if args.show:
        print("\n".join(lines))
    if args.time:
        t = time_tagging(args.runs)
        print(f"tag_region over {t['articles']} sample articles: best {t['best_s']:.3f} CPU s of {args.runs} "
              f"(median {t['median_s']:.3f} s), {t['us_per_article']:.0f} µs/article")
        print(machine())
    print(f"module: {MODULE}")


if __name__ == "__main__":
    main()
