"""Write a K× corpus for scale benchmarks: the shared corpus plus K-1 synthetic copies.

Copy k (1 … K-1) of an article keeps its title, source, category and other metadata, but its
body is rebuilt with the same paragraph shape (the same number of sentences in each paragraph)
from sentences drawn at random from *other* articles of the same source. The id gets the suffix
``-x{k}``, the date moves back 5·k years (29 Feb becomes 28 Feb) and the URL gets the fragment
``#x{k}`` (same site, distinct link). So the vocabulary, sentence lengths and per-source mix
stay those of real news, while the copies are not near-duplicates of each other or of the
originals — a K× archive, not K re-sends.

The output is deterministic for a given ``--seed`` and K (one ``random.Random`` per copy
number, sources drawn in file order). Records are written copy by copy: first the corpus
unchanged, then all of copy 1, … (so any prefix of ``72,534·j`` lines is a j× corpus).

    python bench/make_scale_corpus.py -k 5 --out /tmp/scale/x5.jsonl.gz
    python bench/make_scale_corpus.py -k 14 --out /tmp/scale/x14.jsonl.gz   # ~1M articles

The output path must lie outside the repository (the corpus text may not be committed).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import re
import sys
import time
from array import array
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ARTICLES, REPO, iter_articles  # noqa: E402

YEARS_PER_COPY = 5
# A sentence ends at a Chinese or Western terminator, optionally followed by closing quotes or
# brackets; the remainder of a paragraph with no terminator is one sentence too.
_SENTENCE = re.compile(r"[^。！？!?；;]*(?:[。！？!?；;]+[”’」』）)\]]*|$)")


def split_sentences(paragraph: str) -> list[str]:
    """Split one paragraph into sentences, keeping each terminator with its sentence."""
    return [s for s in _SENTENCE.findall(paragraph) if s.strip()]


def shift_date(date: str | None, years: int) -> str | None:
    """Move a ``YYYY-MM-DD`` date back ``years`` years (29 Feb → 28 Feb); keep None/odd values."""
    if not date or len(date) < 10 or not date[:4].isdigit():
        return date
    y, rest = int(date[:4]) - years, date[4:]
    if rest.startswith("-02-29") and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        rest = "-02-28" + rest[6:]
    return f"{y:04d}{rest}"


class SentencePool:
    """All sentences of one source, with the index of the article each came from."""

    def __init__(self) -> None:
        self.sentences: list[str] = []
        self.owner = array("l")

    def add(self, article: int, sentences: list[str]) -> None:
        """Add one article's sentences."""
        self.sentences.extend(sentences)
        self.owner.extend([article] * len(sentences))

    def draw(self, rng: random.Random, article: int) -> str:
        """Draw one sentence not from ``article`` (any sentence if the source has one article)."""
        n = len(self.sentences)
        for _ in range(8):  # a source with one long article would never satisfy "other"
            i = rng.randrange(n)
            if self.owner[i] != article:
                return self.sentences[i]
        return self.sentences[rng.randrange(n)]


def copy_record(r: dict, k: int, shape: list[int], pool: SentencePool, idx: int,
                rng: random.Random) -> dict:
    """Return copy ``k`` of record ``r`` with a body of random same-source sentences."""
    out = dict(r)
    out["id"] = f"{r['id']}-x{k}"
    out["body"] = "\n".join("".join(pool.draw(rng, idx) for _ in range(n)) for n in shape)
    out["date"] = shift_date(r.get("date"), YEARS_PER_COPY * k)
    if r.get("url"):
        out["url"] = f"{r['url']}#x{k}"
    out.pop("quality_flags", None)  # flags described the original body
    out["note"] = f"synthetic scale copy {k} (bench/make_scale_corpus.py)"
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the K× corpus; print counts and the time taken."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", type=int, required=True, help="multiple of the corpus (1 = a copy of it)")
    ap.add_argument("--out", type=Path, required=True, help="output .jsonl.gz (outside the repo)")
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--source", type=Path, default=ARTICLES)
    ap.add_argument("--level", type=int, default=3, help="gzip level (speed over size)")
    args = ap.parse_args(argv)
    if args.k < 1:
        ap.error("-k must be at least 1")
    out = args.out.resolve()
    if out == REPO or REPO in out.parents:
        ap.error(f"refusing to write corpus text inside the repository: {out}")

    t0 = time.perf_counter()
    records: list[dict] = []
    shapes: list[list[int]] = []
    pools: dict[str, SentencePool] = defaultdict(SentencePool)
    for i, r in enumerate(iter_articles(path=args.source)):
        paragraphs = [split_sentences(p) for p in (r.get("body") or "").split("\n")]
        paragraphs = [p for p in paragraphs if p]
        shapes.append([len(p) for p in paragraphs] or [1])
        pools[r.get("source") or ""].add(i, [s for p in paragraphs for s in p])
        records.append(r)
    for pool in pools.values():  # a source with no sentence at all cannot lend any
        if not pool.sentences:
            pool.add(-1, [""])

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    n = 0
    # A fixed gzip header (no name, mtime 0) so the same seed gives the same bytes.
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0,
                                              compresslevel=args.level) as gz, \
            io.TextIOWrapper(gz, encoding="utf-8") as f:
        for k in range(args.k):
            rng = random.Random(f"{args.seed}:{k}")
            for i, r in enumerate(records):
                rec = r if k == 0 else copy_record(r, k, shapes[i], pools[r.get("source") or ""], i, rng)
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += 1
    tmp.replace(out)
    print(json.dumps({"out": str(out), "k": args.k, "articles": n, "originals": len(records),
                      "sources": len(pools), "bytes": out.stat().st_size,
                      "seconds": round(time.perf_counter() - t0, 1)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
