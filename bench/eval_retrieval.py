"""Retrieval quality (issue 3): LCSTS summary→text pairs among news distractors, and known items.

Collection: the first 10,000 articles of the shared corpus plus every distinct LCSTS PART III
``short_text`` (a ~100-character Weibo post by a news account) as a document with id
``lcsts3-NNNN``, the short text as body and, as title, its **first sentence** (up to the first
。！？!?; median 41 characters, the whole text for 43 posts). Why not an empty title: the 10,000
real articles all have headlines, and any engine that weights titles (BM25F, as issue 3 asks)
would then rank every headline-less post below articles that merely share a word in their
headline — a property of the collection, not of the method (plain title+body BM25 drops from
0.82 to 0.70 MRR@10 with empty titles). A news post's lead sentence is its headline in
practice. ``--lcsts-title empty`` builds the other variant. (When two pairs share a short text,
the document takes the first pair's id and both pairs point at it.)

Task 1 — LCSTS: every distinct ``summary`` is a query. Binary metrics count paired texts with
``human_label`` ≥ 3 as relevant, over the queries that have one: MRR@10, Recall@10.
nDCG@10 is over the same queries with the label (1–5) of every paired text as its gain.

Task 2 — known items: the queries of ``eval/title_known_item_queries.jsonl`` whose target is
among the indexed articles (exact headline → that article): success@1 and success@10; also with
the query cut to the first half of the headline (at least 4 characters), which is what people
who half-remember a headline type and is far less trivial than the full title.

Systems, each searched for the top 10:

* ``ours``        — ``SearchEngine.search(SearchRequest(q, size=10))`` with the defaults
  (collapse on; snippets and facets off, which do not change the ranking);
* ``bm25-jieba``  — the plain baseline: tantivy BM25 over jieba ``cut_for_search`` tokens of title
  and body, the query's tokens ORed;
* ``naive``       — the tutorial recipe as people run it: Whoosh ``MultifieldParser`` over
  title/body with jieba's ChineseAnalyzer (its default: every term required);
* ``naive-or``    — the same index and parser with ``OrGroup`` (Whoosh BM25F, terms ORed).

Indexes are cached under ``--keep`` (default bench/out/eval); ``--rebuild`` forces a rebuild.

    python bench/eval_retrieval.py                     # all systems
    python bench/eval_retrieval.py --only ours --rebuild
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ARTICLES, KNOWN_ITEMS, LCSTS, OUT_DIR, REPO, fresh_dir, iter_articles, machine, write_jsonl  # noqa: E402

SYSTEMS = ("ours", "bm25-jieba", "naive", "naive-or")
K = 10
REFUSED: list[tuple[str, str]] = []  # queries our engine refused (BadQuery), scored as misses


# --------------------------------------------------------------------------- data

_SENT_END = re.compile(r"(?<=[。！？!?])")


def lead_sentence(text: str) -> str:
    """Return the first sentence of ``text`` (up to and including 。！？!?)."""
    return _SENT_END.split(text.strip(), 1)[0].strip()


def load_lcsts(title_mode: str = "first") -> tuple[list[dict], dict[str, dict[str, int]]]:
    """Return the LCSTS documents and ``{summary: {doc_id: label}}``."""
    docs: list[dict] = []
    by_text: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(LCSTS, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            text = r["short_text"].strip()
            did = by_text.get(text)
            if did is None:
                did = by_text[text] = r["id"]
                title = lead_sentence(text) if title_mode == "first" else ""
                docs.append({"id": did, "title": title, "body": text,
                             "source": "LCSTS PART III (Weibo)", "url": None, "date": None,
                             "lang": "zh-Hans"})
            qrels[r["summary"].strip()][did] = max(int(r["human_label"]), qrels[r["summary"].strip()].get(did, 0))
    return docs, dict(qrels)


def build_collection(n_articles: int, path: Path, title_mode: str = "first") -> tuple[Path, dict, list[dict]]:
    """Write the mixed collection (once) and return it with the LCSTS qrels and known items."""
    lc_docs, qrels = load_lcsts(title_mode)
    ids: set[str] = set()
    if not path.exists():
        arts = list(iter_articles(n_articles, ARTICLES))
        write_jsonl(arts + lc_docs, path)
    with open(path, encoding="utf-8") as f:
        for line in f:
            ids.add(json.loads(line)["id"])
    known = []
    with open(KNOWN_ITEMS, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if all(t in ids for t in r["relevant_ids"]):
                known.append(r)
    return path, qrels, known


# --------------------------------------------------------------------------- systems

def _records(path: Path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def build(system: str, coll: Path, root: Path, rebuild: bool) -> Path:
    """Build (or reuse) the index a system searches; return its directory."""
    name = {"naive-or": "naive", "bm25-jieba": "tantivy"}.get(system, system)
    d = root / name
    if d.exists() and any(d.iterdir()) and not rebuild:
        return d
    t0 = time.perf_counter()
    if name == "ours":
        from search.indexer import reindex

        if d.exists():
            import shutil

            shutil.rmtree(d)
        s = reindex([coll], d, rebuild=True, procs=2)
        print(f"    ours: {s.to_dict() if hasattr(s, 'to_dict') else s}"[:300], file=sys.stderr)
    elif name == "naive":
        from common import naive_build

        naive_build(_records(coll), fresh_dir(d))
    elif name == "tantivy":
        from common import tantivy_build

        tantivy_build(_records(coll), fresh_dir(d))
    print(f"    built {d} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return d


def searcher_for(system: str, d: Path, params=None):
    """Return ``search(q) -> [doc ids, best first]`` for a system (``params``: ours' RankParams)."""
    if system == "ours":
        from search import BadQuery, SearchEngine, SearchRequest
        from search.params import DEFAULT_PARAMS

        eng = SearchEngine(d, params=params or DEFAULT_PARAMS)

        def search(q: str) -> list[str]:
            try:
                page = eng.search(SearchRequest(q=q, size=K, snippets=False, facets=False))
            except BadQuery as e:  # e.g. the engine's time budget: a miss, counted
                REFUSED.append((q, str(e)))
                return []
            return [h.id for h in page.hits]

        return search
    if system in ("naive", "naive-or"):
        from whoosh import index
        from whoosh.qparser import MultifieldParser, OrGroup

        from common import quiet_jieba

        quiet_jieba()
        ix = index.open_dir(str(d))
        s = ix.searcher()
        kw = {"group": OrGroup} if system == "naive-or" else {}
        parser = MultifieldParser(["title", "body"], schema=ix.schema, **kw)

        def search(q: str) -> list[str]:
            return [h["id"] for h in s.search(parser.parse(q), limit=K)]

        return search
    if system == "bm25-jieba":
        import tantivy

        from common import quiet_jieba, tantivy_query

        quiet_jieba()
        ix = tantivy.Index.open(str(d))
        ix.reload()
        s = ix.searcher()

        def search(q: str) -> list[str]:
            query, toks = tantivy_query(ix, q, conjunction=False)
            if not toks:
                return []
            return [s.doc(addr)["id"][0] for _score, addr in s.search(query, K).hits]

        return search
    raise ValueError(system)


# --------------------------------------------------------------------------- metrics

def lcsts_metrics(search, qrels: dict[str, dict[str, int]]) -> dict:
    """MRR@10, Recall@10 (label ≥ 3 relevant) and nDCG@10 (label as gain)."""
    mrr = rec = ndcg = 0.0
    n = 0
    for q, judged in qrels.items():
        rel = {d for d, g in judged.items() if g >= 3}
        if not rel:
            continue
        n += 1
        ranked = search(q)[:K]
        rr = next((1.0 / (i + 1) for i, d in enumerate(ranked) if d in rel), 0.0)
        mrr += rr
        rec += len(rel & set(ranked)) / len(rel)
        dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked))
        ideal = sorted(judged.values(), reverse=True)[:K]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        ndcg += dcg / idcg if idcg else 0.0
    return {"queries": n, "MRR@10": mrr / n, "Recall@10": rec / n, "nDCG@10": ndcg / n}


def half_title(title: str) -> str:
    """Return the first half of a headline, at least 4 characters."""
    return title[: max(4, len(title) // 2)]


def known_item_metrics(search, known: list[dict], half: bool = False) -> dict:
    """success@1 and success@10 of known-item queries (exact title, or its first half)."""
    s1 = s10 = 0
    for r in known:
        ranked = search(half_title(r["query"]) if half else r["query"])[:K]
        target = set(r["relevant_ids"])
        s1 += bool(ranked[:1] and ranked[0] in target)
        s10 += bool(target & set(ranked))
    n = len(known)
    return {"queries": n, "success@1": s1 / n if n else float("nan"),
            "success@10": s10 / n if n else float("nan")}


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    """Build (or reuse) the indexes, run both tasks for each system, print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=10_000, help="corpus articles mixed in")
    ap.add_argument("--only", action="append", choices=SYSTEMS)
    ap.add_argument("--skip", action="append", choices=SYSTEMS, default=[])
    ap.add_argument("--keep", type=Path, default=OUT_DIR / "eval", help="cache of collection + indexes")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached indexes")
    ap.add_argument("--lcsts-title", choices=("first", "empty"), default="first",
                    help="title of an LCSTS document: its first sentence (default) or empty")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a search.params.RankParams field for our engine, for experiments, e.g. "
                         "min_should_match=0.3 or ql_weight=0")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("PYTHONHASHSEED", "0")
    from search.params import DEFAULT_PARAMS

    try:
        params = DEFAULT_PARAMS.replace_from(args.param)
    except ValueError as e:
        ap.error(str(e))
    for spec in args.param:
        print(f"parameter {spec}", file=sys.stderr)

    root = args.keep / f"a{args.articles}-{args.lcsts_title}"
    root.mkdir(parents=True, exist_ok=True)
    coll, qrels, known = build_collection(args.articles, root / "collection.jsonl", args.lcsts_title)
    systems = [s for s in (args.only or SYSTEMS) if s not in args.skip]
    results = []
    for system in systems:
        print(f"[{time.strftime('%H:%M:%S')}] {system}", file=sys.stderr)
        try:
            d = build(system, coll, root, args.rebuild)
            search = searcher_for(system, d, params)
            t0 = time.perf_counter()
            lc = lcsts_metrics(search, qrels)
            ki = known_item_metrics(search, known)
            kh = known_item_metrics(search, known, half=True)
            secs = time.perf_counter() - t0
            res = {"system": system, "lcsts": lc, "known_item": ki, "known_item_half": kh,
                   "search_seconds": round(secs, 1)}
            if system == "ours":
                res["refused"] = len(REFUSED)
                res["refused_examples"] = REFUSED[:5]
        except Exception as e:  # keep the other systems' figures
            import traceback

            traceback.print_exc()
            res = {"system": system, "error": f"{type(e).__name__}: {e}"}
        print(f"    {res}", file=sys.stderr)
        results.append(res)

    n_docs = sum(1 for _ in open(coll, encoding="utf-8"))
    out = {"articles": args.articles, "lcsts_title": args.lcsts_title, "documents": n_docs,
           "machine": machine(),
           "when": time.strftime("%Y-%m-%d %H:%M"), "results": results}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out_path = OUT_DIR / f"retrieval-{args.articles}-{args.lcsts_title}.json"
    if out_path.exists():  # keep the other systems' latest figures (runs with --only)
        old = json.loads(out_path.read_text("utf-8")).get("latest", {})
    else:
        old = {}
    if not args.param:  # experiments do not replace the figures of record
        old.update({r["system"]: dict(r, when=out["when"]) for r in results if "error" not in r})
    out["param"] = args.param
    out["latest"] = old
    out_path.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    ok = [r for r in results if "error" not in r]
    lq = ok[0]["lcsts"]["queries"] if ok else "?"
    kq = ok[0]["known_item"]["queries"] if ok else "?"
    print(f"retrieval: {n_docs:,} documents ({args.articles:,} corpus articles + LCSTS short texts); "
          f"LCSTS titles: {args.lcsts_title}; LCSTS queries with a label>=3 pair: {lq}; "
          f"known-item queries: {kq}")
    print("| system | MRR@10 | Recall@10 | nDCG@10 | known item s@1 | s@10 | half title s@1 | s@10 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        if "error" in r:
            print(f"| {r['system']} | failed: {r['error'][:80]} | | | | |")
            continue
        lc, ki, kh = r["lcsts"], r["known_item"], r["known_item_half"]
        print(f"| {r['system']} | {lc['MRR@10']:.3f} | {lc['Recall@10']:.3f} | {lc['nDCG@10']:.3f} | "
              f"{ki['success@1']:.3f} | {ki['success@10']:.3f} | "
              f"{kh['success@1']:.3f} | {kh['success@10']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
