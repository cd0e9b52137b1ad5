"""Writers of hostile ingest inputs (compression bombs, huge lines and records, deep trees).

Used by tests/test_hostile_inputs.py (small sizes) and bench/ingest_hostile.py (the sizes of
issue 10). Everything is generated; nothing comes from the corpus. Bombs are written through
zlib in 1 MiB chunks, so making a 1 GB bomb needs neither 1 GB of memory nor of disk.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "GOOD_RECORDS", "good_jsonl", "good_html", "gzip_stream", "jsonl_line_bomb", "text_bomb",
    "html_bomb", "varied_lines", "warc_record", "warc_bomb", "truncated_warc", "deep_tree", "long_article",
]

MIB = 1024 * 1024
_PARA = "四川省宜宾市珙县纪委监委持续强化日常监督，推动巡察整改落实落细，群众反映的问题逐一解决。"


def _record(i: int, tag: str) -> dict:
    return {"id": f"{tag}-{i}", "title": f"宜宾市第{i}期巡察整改通报（{tag}）",
            "body": f"{_PARA}第{i}号通报。\n{_PARA}", "source": "测试日报",
            "published": "2024-04-29T13:45:00+08:00"}


GOOD_RECORDS = 5


def good_jsonl(path: Path, tag: str = "good", n: int = GOOD_RECORDS) -> list[str]:
    """Write n small good records; return their ids."""
    recs = [_record(i, tag) for i in range(n)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), "utf-8")
    return [r["id"] for r in recs]


def good_html(path: Path, title: str) -> None:
    """Write one small good article page."""
    paras = "".join(f"<p>{_PARA}第{i}段。</p>" for i in range(6))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!DOCTYPE html><html><head><meta charset=utf-8><title>{title}</title></head><body>"
                    f"<div class=article><h1>{title}</h1><div class=info>2024年04月29日 13:45 来源：测试日报</div>"
                    f"{paras}</div></body></html>", "utf-8")


def gzip_stream(path: Path, chunks: Iterator[bytes]) -> int:
    """Gzip the chunks into path (one member) without holding them; return the compressed size."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        for c in chunks:
            f.write(comp.compress(c))
        f.write(comp.flush())
    return path.stat().st_size


def _repeat(unit: bytes, total: int) -> Iterator[bytes]:
    """Yield unit repeated to total bytes (rounded down to whole units: no cut UTF-8 character)."""
    block = unit * max(1, MIB // len(unit))
    left = total - total % len(unit)
    while left > 0:
        piece = block[:left]
        left -= len(piece)
        yield piece


def jsonl_line_bomb(path: Path, line_bytes: int, good_before: int = 2, good_after: int = 2) -> list[str]:
    """A .jsonl.gz: good records, one record line of line_bytes, good records; return good ids."""
    before = [_record(i, "pre") for i in range(good_before)]
    after = [_record(i, "post") for i in range(good_after)]

    def chunks() -> Iterator[bytes]:
        for r in before:
            yield (json.dumps(r, ensure_ascii=False) + "\n").encode()
        yield b'{"id": "bomb", "title": "bomb", "body": "'
        yield from _repeat("的".encode(), line_bytes)
        yield b'"}\n'
        for r in after:
            yield (json.dumps(r, ensure_ascii=False) + "\n").encode()

    gzip_stream(path, chunks())
    return [r["id"] for r in before + after]


def text_bomb(path: Path, size: int) -> None:
    """A .txt.gz page dump that decompresses to size bytes of text."""
    def chunks() -> Iterator[bytes]:
        yield "巡察整改通报\n2024年04月29日 来源：测试日报\n".encode()
        yield from _repeat((_PARA + "\n").encode(), size)

    gzip_stream(path, chunks())


def html_bomb(path: Path, size: int) -> None:
    """An .html.gz page that decompresses to size bytes of markup."""
    def chunks() -> Iterator[bytes]:
        yield b"<html><head><meta charset=utf-8><title>bomb</title></head><body>"
        yield from _repeat(f"<p>{_PARA}</p>".encode(), size)
        yield b"</body></html>"

    gzip_stream(path, chunks())


def warc_record(uri: str, html: bytes, *, declared_length: int | None = None) -> bytes:
    """One WARC response record (HTTP headers + html) as bytes."""
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
    length = declared_length if declared_length is not None else len(http)
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\n"
            f"WARC-Record-ID: <urn:uuid:{abs(hash(uri)):032x}>\r\nWARC-Date: 2024-04-29T05:45:00Z\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {length}\r\n\r\n").encode()
    return head + http + b"\r\n\r\n"


def varied_lines(fmt: str, total: int) -> Iterator[bytes]:
    """Yield fmt.format(i) for i = 0, 1, … up to total bytes: distinct lines, none dropped as a repeat."""
    left, i, batch = total, 0, []
    while left > 0:
        line = fmt.format(i).encode()
        if len(line) > left:
            break
        batch.append(line)
        left -= len(line)
        i += 1
        if len(batch) == 4096:
            yield b"".join(batch)
            batch = []
    yield b"".join(batch)


def _page(title: str) -> bytes:
    paras = "".join(f"<p>{_PARA}第{i}段。</p>" for i in range(6))
    return (f"<html><head><meta charset=utf-8><title>{title}</title></head><body><div><h1>{title}</h1>"
            f"{paras}</div></body></html>").encode()


def warc_bomb(path: Path, payload_bytes: int) -> None:
    """A .warc.gz: a good record, one response record of payload_bytes, a good record (one gzip member each)."""
    head = b"<html><head><meta charset=utf-8><title>bomb</title></head><body>"
    http_head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    length = len(http_head) + len(head) + payload_bytes
    with open(path, "wb") as f:
        f.write(gzip.compress(warc_record("http://example.test/a", _page("档案前页甲"))))
    bomb_head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://example.test/bomb\r\n"
                 f"WARC-Record-ID: <urn:uuid:{0:032x}>\r\nWARC-Date: 2024-04-29T05:45:00Z\r\n"
                 f"Content-Type: application/http; msgtype=response\r\nContent-Length: {length}\r\n\r\n").encode()

    def chunks() -> Iterator[bytes]:
        yield bomb_head + http_head + head
        yield from _repeat(f"<p>{_PARA}</p>".encode(), payload_bytes)
        yield b"\r\n\r\n"

    tmp = path.with_name(path.name + ".part")
    gzip_stream(tmp, chunks())
    with open(path, "ab") as f, open(tmp, "rb") as g:
        while block := g.read(MIB):
            f.write(block)
        f.write(gzip.compress(warc_record("http://example.test/b", _page("档案后页乙"))))
    tmp.unlink()


def truncated_warc(path: Path, *, gz: bool, in_headers: bool = False) -> None:
    """A WARC whose second (last) record is cut off, as by a partial download: mid-payload, or
    (``in_headers``) 30 bytes in, inside its WARC headers."""
    first = warc_record("http://example.test/whole", _page("完整记录标题"))
    second = warc_record("http://example.test/cut", _page("被截断的记录"))
    if in_headers:
        second = second[:30]
    if gz:
        member = gzip.compress(second)
        path.write_bytes(gzip.compress(first) + (member if in_headers else member[: len(member) * 2 // 3]))
    else:
        path.write_bytes(first + (second if in_headers else second[: len(second) * 2 // 3]))


def deep_tree(root: Path, depth: int) -> Path:
    """Make a chain of depth nested one-letter directories; return the deepest one."""
    # os.makedirs recurses through the path; build it level by level with dir fds instead.
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)
    return root.joinpath(*(["d"] * depth))


def long_article(path: Path, body_chars: int) -> str:
    """A .jsonl with one article of body_chars characters between two good ones; return its id."""
    body = "\n".join(f"{_PARA}第{i}段。" for i in range(body_chars // (len(_PARA) + 6) + 1))[:body_chars]
    recs = [_record(0, "around"), {"id": "long-article", "title": "超长文章测试", "body": body}, _record(1, "around")]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), "utf-8")
    return "long-article"


def warc_header_bomb(path: Path, header_bytes: int) -> None:
    """A .warc.gz: a good record, then a response record whose HTTP header is one line of header_bytes."""
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nX-Pad: "

    def chunks() -> Iterator[bytes]:
        yield (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://example.test/headers\r\n"
               f"WARC-Record-ID: <urn:uuid:{1:032x}>\r\nContent-Type: application/http; msgtype=response\r\n"
               f"Content-Length: {len(http) + header_bytes + 4}\r\n\r\n").encode() + http
        yield from _repeat(b"a" * 4096, header_bytes)
        yield b"\r\n\r\n\r\n\r\n"

    with open(path, "wb") as f:
        f.write(gzip.compress(warc_record("http://example.test/a", _page("档案前页甲"))))
    tmp = path.with_name(path.name + ".part")
    gzip_stream(tmp, chunks())
    with open(path, "ab") as f, open(tmp, "rb") as g:
        while block := g.read(MIB):
            f.write(block)
    tmp.unlink()
