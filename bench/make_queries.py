"""Draw the committed keyword query set (bench/queries.txt) from corpus titles, reproducibly.

Each query is 1–3 words (weights 40/40/20 %) that jieba (default mode, HMM on) finds in the
title of a random article among the first 20,000 of the shared corpus, kept in title order and
joined by a space. Words must be ≥ 2 characters, contain a letter, digit or ideograph, and not be
stop-words. Duplicate queries are drawn again. Fixed seed, so the file is reproducible:

    python bench/make_queries.py            # writes bench/queries.txt (240 queries)
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUERIES, iter_articles, quiet_jieba  # noqa: E402

SEED = 20240429
STOP = set("""
的 了 和 与 及 在 是 为 对 将 把 被 从 向 以 于 等 这 那 其 之 也 都 又 并 或 而 就 上 下 中 后 前
我们 他们 你们 我 你 他 她 它 这个 那个 这些 那些 一个 一些 什么 怎么 如何 为何 没有 不是 可以
已经 正在 进行 关于 对于 以及 并且 或者 但是 因为 所以 如果 通过 相关 有关 一起 还是 就是 这样
今天 今年 记者 日电 新闻 联播 图 组图 视频 直播 快讯 专题 评论 独家 最新 重磅 全文 附 转载
""".split())
_WORDISH = re.compile(r"[^\W_]")


def candidate_words(title: str) -> list[str]:
    """Return the usable jieba words of a title, in order."""
    import jieba

    out = []
    for w in jieba.lcut(title, HMM=True):
        w = w.strip()
        if len(w) < 2 or w in STOP or not _WORDISH.search(w):
            continue
        if w.isdigit() or w in out:  # bare numbers make poor queries; no repeated words
            continue
        out.append(w)
    return out


def draw(n: int, pool: int, seed: int) -> list[str]:
    """Draw ``n`` distinct queries from the titles of the first ``pool`` articles."""
    quiet_jieba()
    titles = [r["title"] for r in iter_articles(pool) if r.get("title")]
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    tries = 0
    while len(out) < n and tries < n * 50:
        tries += 1
        words = candidate_words(rng.choice(titles))
        if not words:
            continue
        k = min(len(words), rng.choices((1, 2, 3), weights=(40, 40, 20))[0])
        idx = sorted(rng.sample(range(len(words)), k))
        q = " ".join(words[i] for i in idx)
        if q in seen:
            continue
        seen.add(q)
        out.append(q)
    return out


def main(argv=None) -> int:
    """Write the query file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=240)
    ap.add_argument("--pool", type=int, default=20_000, help="titles of the first N articles")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", type=Path, default=QUERIES)
    args = ap.parse_args(argv)
    qs = draw(args.n, args.pool, args.seed)
    header = (f"# {len(qs)} keyword queries: 1-3 jieba words from random titles of the first "
              f"{args.pool:,} articles of news_articles.jsonl.gz (seed {args.seed}).\n"
              f"# Regenerate with: python bench/make_queries.py\n")
    args.out.write_text(header + "\n".join(qs) + "\n", encoding="utf-8")
    print(f"{len(qs)} queries -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
