"""Evaluate region tagging and near-duplicate clustering on the shared corpus.

Usage::

    python bench/dedup_eval.py --limit 20000          # first 20k articles (fixed random order)
    python bench/dedup_eval.py                        # all 72k
    python bench/dedup_eval.py --limit 20000 --seed 7 --pairs 20

Prints a Markdown report: speed of folding, region tagging and signatures (single
process), clusters found, the largest clusters, random clustered pairs with titles for a
precision spot check (with their exact shingle Jaccard), template-title briefings that must
not merge, and region coverage.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search import dedup, region  # noqa: E402
from search.models import Article  # noqa: E402
from search.normalize import fold_text  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "news_articles.jsonl.gz"
_NON_WORD = re.compile(r"[\W_]+")


def exact_jaccard(a: str, b: str, k: int = dedup.SHINGLE) -> float:
    """Return the exact Jaccard of the k-shingle sets of two folded bodies."""
    ta, tb = _NON_WORD.sub("", a), _NON_WORD.sub("", b)
    sa = {ta[i:i + k] for i in range(max(1, len(ta) - k + 1))}
    sb = {tb[i:i + k] for i in range(max(1, len(tb) - k + 1))}
    return len(sa & sb) / max(1, len(sa | sb))


def load(limit: int | None) -> list[dict]:
    """Read the first ``limit`` records of the corpus."""
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in islice(f, limit)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=dedup.DEFAULT_THRESHOLD)
    args = ap.parse_args()
    if not CORPUS.exists():
        sys.exit(f"corpus not found at {CORPUS}")

    recs = load(args.limit)
    n = len(recs)
    chars = sum(len(r["body"]) for r in recs)
    out: list[str] = [f"### {n:,} articles ({chars / 1e6:.1f} M body chars), threshold {args.threshold}", ""]

    region.place_names()  # gazetteer load is a one-off per process; keep it out of the timing
    t0 = time.perf_counter()
    folded = [(fold_text(r["title"]), fold_text(r["body"])) for r in recs]
    t_fold = time.perf_counter() - t0

    arts = [Article(id=r["id"], title=r["title"], body=r["body"], dateline=r.get("dateline_place"))
            for r in recs]
    t0 = time.perf_counter()
    regions = [region.tag_region(a, folded_title=ft, folded_body=fb) for a, (ft, fb) in zip(arts, folded)]
    t_region = time.perf_counter() - t0

    t0 = time.perf_counter()
    sigs = [dedup.signature(fb) for _, fb in folded]
    t_sig = time.perf_counter() - t0

    t0 = time.perf_counter()
    cl = dedup.Clusterer(args.threshold)
    clusters = [cl.assign(r["id"], s) for r, s in zip(recs, sigs)]
    t_clu = time.perf_counter() - t0

    out += ["| stage (1 process) | total s | articles/s | µs/article |", "|---|---|---|---|"]
    for name, t in (("fold_text title+body (OpenCC)", t_fold), ("tag_region (folded given)", t_region),
                    ("dedup.signature", t_sig), ("Clusterer.assign (in-memory LSH)", t_clu)):
        out.append(f"| {name} | {t:.2f} | {n / t:,.0f} | {t / n * 1e6:.0f} |")
    out.append("")

    # --- clusters -------------------------------------------------------------------------
    members: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(clusters):
        members[c].append(i)
    multi = {c: m for c, m in members.items() if len(m) > 1}
    dup_articles = sum(len(m) for m in multi.values())
    out += [f"Clusters with ≥ 2 articles: **{len(multi):,}**, holding {dup_articles:,} articles "
            f"({dup_articles / n:.1%}); {n - dup_articles + len(multi):,} distinct stories.", ""]
    sizes = Counter(len(m) for m in multi.values())
    out.append("Cluster sizes: " + ", ".join(f"{k}×{v}" for k, v in sorted(sizes.items())[:12]))
    out += ["", "Largest clusters:", "", "| size | distinct titles | example titles |", "|---|---|---|"]
    for _c, m in sorted(multi.items(), key=lambda x: -len(x[1]))[:8]:
        titles = Counter(recs[i]["title"] for i in m)
        ex = " / ".join(t[:30] for t, _ in titles.most_common(3))
        out.append(f"| {len(m)} | {len(titles)} | {ex} |")

    # --- precision spot check -----------------------------------------------------------
    rng = random.Random(args.seed)
    pairs = []
    for m in multi.values():
        a, b = rng.sample(m, 2)
        pairs.append((a, b))
    rng.shuffle(pairs)
    out += ["", f"{args.pairs} random clustered pairs (est. = MinHash estimate, exact = shingle Jaccard):", "",
            "| est. | exact | same title | title A | title B |", "|---|---|---|---|---|"]
    low = 0
    for a, b in pairs[:args.pairs]:
        est = dedup.similar(sigs[a], sigs[b])
        ex = exact_jaccard(folded[a][1], folded[b][1])
        low += ex < 0.5
        out.append(f"| {est:.2f} | {ex:.2f} | {'yes' if recs[a]['title'] == recs[b]['title'] else 'no'} | "
                   f"{recs[a]['title'][:36]} | {recs[b]['title'][:36]} |")
    sample = [p for p in pairs[:500]]
    exs = [exact_jaccard(folded[a][1], folded[b][1]) for a, b in sample]
    out += ["", f"Exact Jaccard over {len(sample)} sampled clustered pairs: min {min(exs, default=0):.2f}, "
            f"share < 0.5: {sum(e < 0.5 for e in exs) / max(1, len(exs)):.1%}, "
            f"share < 0.3: {sum(e < 0.3 for e in exs) / max(1, len(exs)):.1%}", ""]

    # --- template titles: same title, different body -------------------------------------
    by_title: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(recs):
        by_title[r["title"]].append(i)
    out += ["Template titles (most frequent shared titles): records vs. clusters among them:", "",
            "| title | records | clusters | largest cluster |", "|---|---|---|---|"]
    for t, idx in sorted(by_title.items(), key=lambda x: -len(x[1]))[:8]:
        cs = Counter(clusters[i] for i in idx)
        out.append(f"| {t[:30]} | {len(idx)} | {len(cs)} | {max(cs.values())} |")
    shared = [idx for idx in by_title.values() if len(idx) > 1]
    split_same = sum(len({clusters[i] for i in idx}) > 1 for idx in shared)
    out += ["", f"Titles shared by > 1 record: {len(shared):,}; of these, {split_same:,} are split over "
            f"more than one cluster.", ""]

    # --- region ------------------------------------------------------------------------
    tagged = sum(1 for r in regions if r)
    out += [f"Region coverage: **{tagged / n:.1%}** of articles tagged "
            f"(province {tagged:,}, prefecture {sum(len(r) >= 2 for r in regions):,}, "
            f"county {sum(len(r) >= 3 for r in regions):,}).", ""]
    by_src: dict[str, list[bool]] = defaultdict(list)
    for r, g in zip(recs, regions):
        by_src[r["source"]].append(bool(g))
    out += ["| source | articles | tagged |", "|---|---|---|"]
    for s, v in sorted(by_src.items(), key=lambda x: -len(x[1]))[:8]:
        out.append(f"| {s} | {len(v):,} | {sum(v) / len(v):.0%} |")
    dl = [(r.get("dateline_place"), g) for r, g in zip(recs, regions) if r.get("dateline_place")]
    out += ["", f"Articles with a corpus dateline: {len(dl):,}; tagged: {sum(bool(g) for _, g in dl):,} "
            f"(the rest are foreign datelines such as 华盛顿, 伦敦, 联合国)", ""]
    top = Counter(r[0] for r in regions if r).most_common(15)
    out.append("Top provinces: " + ", ".join(f"{k} {v}" for k, v in top))
    top2 = Counter("/".join(r[:2]) for r in regions if len(r) >= 2).most_common(10)
    out.append("")
    out.append("Top prefecture paths: " + ", ".join(f"{k} {v}" for k, v in top2))
    out += ["", f"{args.pairs} random tagged articles (region ← title):", ""]
    for i in rng.sample([i for i, r in enumerate(regions) if r], min(args.pairs, tagged)):
        out.append(f"- {'/'.join(regions[i])} ← {recs[i]['title'][:40]} (dateline {recs[i].get('dateline_place')})")
    print("\n".join(out))


if __name__ == "__main__":
    main()
