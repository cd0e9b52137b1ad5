"""Hostile ingest inputs at the sizes of issue 10: peak RSS, time, what was indexed and refused.

Each case is a fresh inbox holding one hostile input next to good files (5 JSON records and
one HTML page), indexed by the real CLI in a child process::

    python -m search.cli reindex INBOX --index TMP --rebuild --no-progress --json

Peak RSS is the child's ``ru_maxrss`` from ``os.wait4`` (the largest of the command and the
writer workers it waited for). Cases:

* ``jsonl-line``  — a .jsonl.gz with one 300 MB line (and good records before and after it);
* ``warc-record`` — a .warc.gz with one 1 GB response record between two good records;
* ``txt-bomb`` / ``html-bomb`` — a .txt.gz / .html.gz decompressing to 1 GB;
* ``long-article`` — a .jsonl with one 10 MB (10,000,000-character) article;
* ``deep-tree``  — 1,100 nested directories with good records at the top and the bottom;
* ``html-tags-bomb`` — a plain page of 16 MiB less 4 KB of ``<br>`` (4 M elements: 1.6 GB
  in lxml before the tag limit);
* ``jsonl-dicts-bomb`` — one JSON line of 32 MiB less 4 KB of ``{},`` (11 M dicts);
* ``jsonl-values-at-limit`` — one JSON record of 999,000 short strings (27 MB);
* ``html-at-limit`` / ``html-tags-at-limit`` / ``txt-at-limit`` / ``jsonl-line-at-limit`` —
  a page of varied paragraphs 4 KB under 16 MiB, a page 100 tags under 200,000 (one
  element each), a dump and a JSON line 4 KB under 16 MiB / 32 MiB: read and parsed
  whole, the most memory the limits let one input cost.

    python bench/ingest_hostile.py                 # all cases, issue sizes
    python bench/ingest_hostile.py --only deep-tree --scale 0.1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import hostile_inputs as h  # noqa: E402
from search.extract import MAX_JSON_VALUES, MAX_LINE_BYTES, MAX_PAGE_BYTES, MAX_PAGE_TAGS  # noqa: E402

MB = 1000 * 1000


def make_case(name: str, inbox: Path, scale: float) -> tuple[str, int]:
    """Write the case's hostile input into inbox; return (its file name, extra good articles)."""
    if name == "jsonl-line":
        h.jsonl_line_bomb(inbox / "bomb.jsonl.gz", int(300 * MB * scale))
        return "bomb.jsonl.gz", 4
    if name == "warc-record":
        h.warc_bomb(inbox / "bomb.warc.gz", int(1000 * MB * scale))
        return "bomb.warc.gz", 2
    if name == "txt-bomb":
        h.text_bomb(inbox / "bomb.txt.gz", int(1000 * MB * scale))
        return "bomb.txt.gz", 0
    if name == "html-bomb":
        h.html_bomb(inbox / "bomb.html.gz", int(1000 * MB * scale))
        return "bomb.html.gz", 0
    if name == "long-article":
        h.long_article(inbox / "long.jsonl", int(10 * MB * scale))
        return "long.jsonl", 3
    # Just under each limit: what is still read whole (the worst case the limits allow).
    if name == "html-at-limit":
        with open(inbox / "big.html", "wb") as f:
            f.write(b"<html><head><meta charset=utf-8><title>limit</title></head><body>")
            for chunk in h.varied_lines("<p>" + h._PARA * 3 + "第{}段。</p>\n", MAX_PAGE_BYTES - 4096):
                f.write(chunk)
            f.write(b"</body></html>")
        return "big.html", 1
    if name == "html-tags-at-limit":
        with open(inbox / "tags.html", "wb") as f:
            f.write(b"<html><head><meta charset=utf-8><title>tags</title></head><body><div>")
            f.write(b"".join(f"<p>{h._PARA}{i}</p>".encode() for i in range(20)))
            f.write(b"<br>" * (MAX_PAGE_TAGS - 100))  # one element per "<": the most the limit allows
            f.write(b"</div></body></html>")
        return "tags.html", 1
    if name == "txt-at-limit":
        with open(inbox / "big.txt", "wb") as f:
            f.write("巡察整改通报\n2024年04月29日 来源：测试日报\n".encode())
            for chunk in h.varied_lines(h._PARA + "第{}段。\n", MAX_PAGE_BYTES - 4096):
                f.write(chunk)
        return "big.txt", 1
    if name == "jsonl-line-at-limit":
        h.jsonl_line_bomb(inbox / "big.jsonl.gz", MAX_LINE_BYTES - 4096)
        return "big.jsonl.gz", 5
    if name == "html-tags-bomb":  # 16 MiB of "<br>" less 4 KB: under the byte limit, 4 M elements
        with open(inbox / "brs.html", "wb") as f:
            f.write(b"<html><body>" + b"<br>" * ((MAX_PAGE_BYTES - 4096) // 4) + b"</body></html>")
        return "brs.html", 0
    if name == "jsonl-values-at-limit":  # a record of 999,000 strings in 27 MB: both line limits nearly reached
        with open(inbox / "values.jsonl", "wb") as f:
            f.write(b'{"id": "values", "title": "values", "body": "b", "x": [')
            f.write(('"' + "的" * 8 + '",').encode() * (MAX_JSON_VALUES - 1000))
            f.write(b'"end"]}\n')
        return "values.jsonl", 1
    if name == "jsonl-dicts-bomb":  # 32 MiB less 4 KB of "{},": 11 M dicts, 0.9 GB before the value limit
        with open(inbox / "dicts.jsonl", "wb") as f:
            f.write(b'{"id": "dicts", "title": "t", "body": "b", "x": [' + b"{}," * ((MAX_LINE_BYTES - 4096) // 3)
                    + b"{}]}\n")
        return "dicts.jsonl", 0
    if name == "deep-tree":
        deepest = h.deep_tree(inbox / "tree", 1100)
        h.good_jsonl(deepest / "bottom.jsonl", tag="bottom")
        return "tree", 5
    raise ValueError(name)


CASES = ("jsonl-line", "warc-record", "txt-bomb", "html-bomb", "long-article", "deep-tree",
         "html-at-limit", "html-tags-at-limit", "txt-at-limit", "jsonl-line-at-limit", "html-tags-bomb",
         "jsonl-values-at-limit", "jsonl-dicts-bomb")


def run_case(name: str, scale: float, work: Path) -> dict:
    inbox = work / name / "inbox"
    inbox.mkdir(parents=True)
    h.good_jsonl(inbox / "good.jsonl")
    h.good_html(inbox / "good.html", "正常页面标题")
    t = time.perf_counter()
    bomb, extra = make_case(name, inbox, scale)
    made = time.perf_counter() - t
    du = subprocess.run(["du", "-sb", str(inbox)], capture_output=True, text=True)  # rglob recurses
    size = int(du.stdout.split()[0])
    cmd = [sys.executable, "-m", "search.cli", "reindex", str(inbox), "--index", str(work / name / "index"),
           "--rebuild", "--no-progress", "--json"]
    out, err = work / name / "stdout", work / name / "stderr"
    t = time.perf_counter()
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=fo, stderr=fe)
        _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - t
    stderr = err.read_text()
    summary = json.loads(out.read_text()) if out.read_text().strip() else {}
    about = [ln for ln in stderr.splitlines() if bomb in ln]
    return {
        "case": name, "input_bytes_on_disk": size, "make_s": round(made, 1),
        "exit": os.waitstatus_to_exitcode(status), "seconds": round(secs, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024), "indexed": summary.get("indexed"),
        "expected_good": h.GOOD_RECORDS + 1 + extra, "truncated": summary.get("truncated"),
        "lines_about_input": about, "traceback": "Traceback" in stderr,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=CASES)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the bomb sizes (1 = the issue's)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir, removed)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="xunwen-hostile-", dir=args.work)
    results = []
    try:
        for name in args.only or CASES:
            r = run_case(name, args.scale, Path(tmp))
            results.append(r)
            print(json.dumps(r, ensure_ascii=False), flush=True)
    finally:
        subprocess.run(["rm", "-rf", tmp], check=False)  # shutil.rmtree recurses: the deep tree defeats it
    print("\n| case | input on disk | exit | peak RSS | time | indexed / good | lines about the input |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        lines = "<br>".join(ln.split(": ", 1)[-1] if ": " in ln else ln for ln in r["lines_about_input"]) or "—"
        print(f"| {r['case']} | {r['input_bytes_on_disk'] / 1e6:.2f} MB | {r['exit']} | {r['peak_rss_mb']} MB | "
              f"{r['seconds']} s | {r['indexed']} / {r['expected_good']} | {lines} |")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
