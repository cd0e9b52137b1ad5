"""Draw the bundled demo sample (data/sample.jsonl.gz) from the shared corpus, reproducibly.

Only CCTV 新闻联播 transcripts are eligible (origin_repo yuekcc/cctv_news, MIT-licensed, or
DuckBurnIncense/xin-wen-lian-bo for the days missing there): the corpus README allows shipping
those, and nothing else. Selection: sort the broadcast days, take every ``--every``-th day
(a spread over 2022–2026) and keep *all* items of a chosen day, so the sample reads like
whole broadcasts (including the repeated daily items that exercise near-duplicate collapse).
Days are added until the compressed file would pass ``--max-bytes``. Records keep every field.

    python bench/make_sample.py            # writes data/sample.jsonl.gz and copies the seed page
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ARTICLES, CORPUS_DIR, REPO, iter_articles  # noqa: E402

CCTV_REPOS = ("yuekcc/cctv_news", "DuckBurnIncense/xin-wen-lian-bo")
SEED = "000_6ede58738be5c303.txt"


def gz_bytes(lines: list[str]) -> bytes:
    """Compress lines deterministically (no file name, fixed mtime)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0, filename="") as g:
        for line in lines:
            g.write(line.encode("utf-8"))
    return buf.getvalue()


def main(argv=None) -> int:
    """Write the sample and the seed copy; print what was drawn."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=11, help="take every N-th broadcast day")
    ap.add_argument("--max-bytes", type=int, default=2_900_000, help="cap on the .gz size")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "sample.jsonl.gz")
    args = ap.parse_args(argv)

    by_day: dict[str, list[dict]] = defaultdict(list)
    for r in iter_articles(path=ARTICLES):
        if r.get("origin_repo") in CCTV_REPOS and r.get("date"):
            by_day[r["date"]].append(r)
    days = sorted(by_day)
    chosen = days[:: args.every]

    lines: list[str] = []
    kept_days: list[str] = []
    for day in chosen:
        # Within a day keep the broadcast order (ids are xwlb-YYYYMMDD-NN[-k]).
        day_lines = [json.dumps(r, ensure_ascii=False) + "\n"
                     for r in sorted(by_day[day], key=lambda r: _order_key(r["id"]))]
        # Cheap running estimate first, exact check at the end.
        if len(gz_bytes(lines + day_lines)) > args.max_bytes:
            break
        lines.extend(day_lines)
        kept_days.append(day)
    data = gz_bytes(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)

    seed_dst = REPO / "data" / "seed" / SEED
    seed_dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CORPUS_DIR / "seed" / SEED, seed_dst)
    seed_dst.chmod(0o644)

    print(f"{len(lines)} records from {len(kept_days)} of {len(days)} broadcast days "
          f"({kept_days[0]} .. {kept_days[-1]}, every {args.every}th day), "
          f"{len(data):,} bytes -> {args.out.relative_to(REPO)}; seed -> {seed_dst.relative_to(REPO)}")
    return 0


def _order_key(rid: str):
    parts = rid.split("-")  # xwlb, YYYYMMDD, NN[, k]
    return tuple(int(p) if p.isdigit() else 0 for p in parts[1:])


if __name__ == "__main__":
    raise SystemExit(main())
