"""Shared helpers for the benchmarks: corpus access, the two baselines, measurement utilities.

The baselines are the yardsticks issue 3 names:

* the *naive recipe* — Whoosh's default writer with ``jieba.analyse.ChineseAnalyzer``,
  title and body stored (what most Whoosh + jieba tutorials do);
* *tantivy + jieba* — the ``tantivy`` package fed jieba ``cut_for_search`` tokens joined by
  spaces into whitespace-tokenized fields (title and body stored), single process.

Nothing here imports our own ``search`` package, so the baselines can be built and measured
before (and independently of) the engine.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import platform
import resource
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(os.environ.get("XUNWEN_CORPUS", REPO.parent / "shared" / "corpus"))
if not CORPUS_DIR.exists():  # the shared folder sits beside the checkout on the team machine
    CORPUS_DIR = Path("/work/shared/corpus")
ARTICLES = CORPUS_DIR / "news_articles.jsonl.gz"
LCSTS = CORPUS_DIR / "eval" / "lcsts_part3.jsonl"
KNOWN_ITEMS = CORPUS_DIR / "eval" / "title_known_item_queries.jsonl"
QUERIES = REPO / "bench" / "queries.txt"
OUT_DIR = REPO / "bench" / "out"  # git-ignored scratch space (indexes, slices, JSON results)

__all__ = [
    "REPO", "CORPUS_DIR", "ARTICLES", "LCSTS", "KNOWN_ITEMS", "QUERIES", "OUT_DIR",
    "iter_articles", "write_jsonl", "read_queries", "dir_size", "peak_rss_mb", "percentiles",
    "machine", "quiet_jieba", "naive_schema", "naive_build", "naive_searcher_query",
    "tantivy_tokens", "tantivy_schema", "tantivy_build", "tantivy_query", "Timer",
    "free_port", "start_server", "stop_server",
]


def iter_articles(limit: int | None = None, path: Path = ARTICLES) -> Iterator[dict]:
    """Yield corpus records in file order (the file is pre-shuffled: any prefix is a fair slice)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if limit is not None and i >= limit:
                break
            yield json.loads(line)


def write_jsonl(records: Iterable[dict], path: Path) -> int:
    """Write records as plain JSON lines; return how many."""
    n = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_queries(path: Path = QUERIES) -> list[str]:
    """Read the committed query set (one query a line, ``#`` comments ignored)."""
    out = []
    for line in path.read_text("utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def dir_size(path: Path) -> int:
    """Return the total size in bytes of the files under ``path``."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def peak_rss_mb() -> float:
    """Return this process's peak resident set size in MiB (Linux reports KiB)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0


def children_peak_rss_mb() -> float:
    """Return the largest peak RSS among this process's waited-for children, in MiB."""
    kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return kb / 1024.0


def percentiles(values: list[float], ps=(50, 95, 99)) -> dict[str, float]:
    """Return nearest-rank percentiles of ``values`` as ``{"p50": ..., ...}``."""
    if not values:
        return {f"p{p}": float("nan") for p in ps}
    s = sorted(values)
    out = {}
    for p in ps:
        k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
        out[f"p{p}"] = s[k]
    out["mean"] = sum(s) / len(s)
    return out


def machine() -> str:
    """Describe the machine in one line (cores, memory, CPU, Python)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores / {mem} / {cpu} / Python {sys.version.split()[0]}"


def quiet_jieba() -> None:
    """Initialize jieba once, without its banner, with its cache in our scratch dir."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    jieba.dt.tmp_dir = str(OUT_DIR)
    jieba.initialize()


class Timer:
    """Context manager measuring wall time in seconds (``.s``)."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0
        return False


def fresh_dir(path: Path) -> Path:
    """Remove ``path`` if it exists and create it empty."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# --------------------------------------------------------------------------- naive recipe

def naive_schema():
    """Return the tutorial schema: id, and title/body stored with jieba's ChineseAnalyzer."""
    from jieba.analyse import ChineseAnalyzer
    from whoosh.fields import ID, TEXT, Schema

    analyzer = ChineseAnalyzer()
    return Schema(
        id=ID(stored=True, unique=True),
        title=TEXT(stored=True, analyzer=analyzer),
        body=TEXT(stored=True, analyzer=analyzer),
    )


def naive_build(records: Iterable[dict], index_dir: Path) -> int:
    """Build the naive index with Whoosh's default writer; return the number of documents."""
    from whoosh import index

    quiet_jieba()
    fresh_dir(index_dir)
    ix = index.create_in(str(index_dir), naive_schema())
    w = ix.writer()
    n = 0
    for r in records:
        w.add_document(id=r["id"], title=r.get("title") or "", body=r.get("body") or "")
        n += 1
    w.commit()
    return n


def naive_searcher_query(ix, text: str):
    """Parse ``text`` the naive way: Whoosh's MultifieldParser over title and body (AND)."""
    from whoosh.qparser import MultifieldParser

    return MultifieldParser(["title", "body"], schema=ix.schema).parse(text)


# --------------------------------------------------------------------------- tantivy + jieba

def tantivy_tokens(text: str) -> str:
    """Return jieba ``cut_for_search`` tokens of ``text`` joined by spaces (punctuation dropped)."""
    import jieba

    return " ".join(t for t in jieba.cut_for_search(text) if t.strip() and any(c.isalnum() for c in t))


def tantivy_schema():
    """Return a tantivy schema: id (raw), title/body/title_tok/body_tok; whitespace tokenizer."""
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw")
    # The stored display text is kept apart from the indexed token stream, as in our engine.
    sb.add_text_field("title", stored=True, index_option="basic", tokenizer_name="raw")
    sb.add_text_field("body", stored=True, index_option="basic", tokenizer_name="raw")
    sb.add_text_field("title_tok", stored=False, tokenizer_name="whitespace")
    sb.add_text_field("body_tok", stored=False, tokenizer_name="whitespace")
    return sb.build()


def tantivy_build(records: Iterable[dict], index_dir: Path, heap_mb: int = 256) -> int:
    """Build the tantivy index single-threaded from jieba tokens; return the number of documents."""
    import tantivy

    quiet_jieba()
    fresh_dir(index_dir)
    ix = tantivy.Index(tantivy_schema(), path=str(index_dir))
    w = ix.writer(heap_size=heap_mb * 1024 * 1024, num_threads=1)
    n = 0
    for r in records:
        title = r.get("title") or ""
        body = r.get("body") or ""
        w.add_document(tantivy.Document(
            id=r["id"], title=title, body=body,
            title_tok=tantivy_tokens(title), body_tok=tantivy_tokens(body),
        ))
        n += 1
    w.commit()
    w.wait_merging_threads()
    return n


def tantivy_query(ix, text: str, conjunction: bool = True):
    """Parse ``text`` against the token fields (jieba ``cut_for_search`` at query time too)."""
    import jieba

    toks = [t for t in jieba.cut_for_search(text) if t.strip() and any(c.isalnum() for c in t)]
    qtext = " ".join(_tantivy_escape(t) for t in toks)
    return ix.parse_query(qtext, ["title_tok", "body_tok"],
                          conjunction_by_default=conjunction), toks


def _tantivy_escape(tok: str) -> str:
    special = set('+-&|!(){}[]^"~*?:\\/ ')
    if any(c in special for c in tok):
        return '"' + tok.replace('\\', '\\\\').replace('"', '\\"') + '"'
    return tok


def free_port() -> int:
    """Return a free TCP port on the loopback interface."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, threads: int, log_file: Path, wait: float = 900) -> tuple:
    """Start ``xunwen serve`` over ``index`` on a free loopback port; return (process, port) once /healthz answers."""
    import http.client
    import subprocess
    import sys
    import time

    port = free_port()
    fh = open(log_file, "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "search.cli", "serve", "--index", str(index), "--host", "127.0.0.1",
         "--port", str(port), "--threads", str(threads)],
        cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + wait  # a missing index is built first
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}: {Path(log_file).read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not come up")


def stop_server(proc) -> None:
    """Stop a server started by :func:`start_server`: terminate, then kill if it lingers."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
