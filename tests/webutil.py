"""Shared helpers for the web tests: a small, varied corpus and a real index built from it.

The corpus is written as JSON lines and indexed by the real indexer
(:func:`search.indexer.reindex`), so the web tests exercise extraction, analysis, region
tagging, near-duplicate clustering and the engine exactly as production does.
"""

from __future__ import annotations

import json
import random
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "web_index",
    "web_app",
    "web_client",
    "assert_error_shape",
    "css",
    "active_content",
    "OWN_SCRIPT",
    "SOURCES",
    "HOSTILE",
    "HOSTILE_ID",
    "TRAD_ID",
    "CLUSTER_IDS",
    "corpus_records",
    "write_corpus",
    "build_index",
    "free_port",
    "start_server",
    "stop_server",
]

ROOT = Path(__file__).resolve().parent.parent

SOURCES = ("中新网四川", "四川日报", "宜宾新闻网", "成都商报")
PLACES = ("四川宜宾", "四川成都", "四川珙县", "四川泸州")
HOSTILE_ID = "evil-0001"
TRAD_ID = "trad-0001"
CLUSTER_IDS = ("copy-0001", "copy-0002", "copy-0003")

# Sentences to draw bodies from: varied enough that no two generated articles are
# near-duplicates by accident (the three deliberate copies below are).
_SENTENCES = (
    "当地纪委监委持续强化日常监督，推动整改任务逐项落实。",
    "巡察组进驻后，围绕群众反映强烈的问题开展专项检查。",
    "基层干部表示，将把监督成果转化为治理效能。",
    "今年以来，全县共发现各类问题一百余个，已整改九成以上。",
    "会议要求各部门压实主体责任，确保监督不留死角。",
    "专项行动聚焦民生领域，重点检查惠民资金使用情况。",
    "村民通过线上平台反映诉求，相关部门限时办结。",
    "通报指出，个别单位存在形式主义问题，已责令整改。",
    "该市建立了问题清单、责任清单和整改清单。",
    "工作人员深入田间地头，了解春耕备耕情况。",
    "新建的便民服务中心让群众办事少跑腿。",
    "学校食堂食品安全检查覆盖全部中小学校。",
    "河长制落实情况纳入年度考核。",
    "乡村振兴项目资金使用情况接受群众监督。",
    "审计部门对重点项目开展跟踪审计。",
    "社区网格员上门走访独居老人。",
    "防汛应急演练在沿江乡镇举行。",
    "文旅部门推出多条乡村旅游精品线路。",
    "茶园里采茶工人正忙着采摘新茶。",
    "高速公路建设进入冲刺阶段。",
    "营商环境评价结果向社会公布。",
    "医保基金专项整治取得阶段性成效。",
    "公益诉讼检察工作持续推进。",
    "退役军人服务站实现全覆盖。",
)
_TRAVEL = (
    "油菜花海吸引大批游客前来观光。",
    "古镇夜游项目正式开放。",
    "民宿经营者说今年客流明显增加。",
    "景区推出预约购票和错峰游览。",
    "非遗展演在广场上演。",
)


def _body(rng: random.Random, pool: tuple[str, ...], n: int, tag: str) -> str:
    picks = rng.sample(pool, k=min(n, len(pool)))
    # A unique sentence per article keeps bodies apart for the near-duplicate detector.
    picks.insert(rng.randrange(len(picks) + 1), f"记者从{tag}获悉，相关工作编号为{rng.randrange(10**6):06d}。")
    return "\n".join(picks)


HOSTILE: dict[str, Any] = {
    "id": HOSTILE_ID,
    "title": '监督<script>alert("t")</script><img src=x onerror=alert(1)> &amp; &lt;b&gt;粗&lt;/b&gt;',
    "body": (
        "监督检查发现问题。<script>alert('body')</script>\n"
        '<a href="javascript:alert(2)" onclick="alert(3)">点我</a> <svg onload=alert(4)>\n'
        '=HYPERLINK("http://evil.example/","点我") +1+1 -2 @SUM(A1) &#60;i&#62; "quoted"'
    ),
    "url": "javascript:alert(document.cookie)",
    "source": "=cmd|' /C calc'!A0<script>alert(5)</script>",
    "published": "2024-03-15 10:00",
    "category": '<b onmouseover="alert(6)">时政</b>',
    "authors": ["<i>记者</i>"],
}


def corpus_records(n_supervision: int = 48, n_travel: int = 12) -> list[dict[str, Any]]:
    """Return the test corpus: many 监督 articles, some travel ones, copies, a hostile one."""
    rng = random.Random(20240429)
    records: list[dict[str, Any]] = []
    for i in range(n_supervision):
        place = PLACES[i % len(PLACES)]
        month = 1 + i % 6
        records.append(
            {
                "id": f"sup-{i:04d}",
                "title": f"{place}：第{i + 1}轮专项监督推动问题整改",
                "body": _body(rng, _SENTENCES, 5, place) + "\n强化监督是这次行动的重点。",
                "url": f"https://www.example.com/sc/2024/{month:02d}/sup{i:04d}.html",
                "source": SOURCES[i % len(SOURCES)],
                "published": f"2024-{month:02d}-{1 + (i * 3) % 27:02d} {8 + i % 10:02d}:30",
                "category": "时政",
            }
        )
    for i in range(n_travel):
        place = PLACES[i % len(PLACES)]
        records.append(
            {
                "id": f"trv-{i:04d}",
                "title": f"{place}：春季乡村旅游火热（{i + 1}）",
                "body": _body(rng, _TRAVEL + _SENTENCES[9:20], 5, place),
                "url": f"http://travel.example.com/{i}.html",
                "source": SOURCES[(i + 1) % len(SOURCES)],
                "published": f"2024-{1 + i % 6:02d}-{10 + i:02d} 09:00",
                "category": "文旅",
            }
        )
    story = "\n".join(_SENTENCES[:12]) + "\n珙县巡察整改工作取得明显成效，群众满意度持续提升。"
    for j, cid in enumerate(CLUSTER_IDS):
        records.append(
            {
                "id": cid,
                "title": "四川珙县：巡察整改让群众看到实效",
                "body": story + ("" if j == 0 else f"\n（转载自{SOURCES[j]}）"),
                "url": f"https://news{j}.example.org/gx/2024/0429/{j}.html",
                "source": SOURCES[j],
                "published": f"2024-04-29 1{j}:45",
                "category": "时政",
            }
        )
    records.append(
        {
            "id": TRAD_ID,
            "title": "四川珙縣：紀委監委強化監督 推動巡察整改",
            "body": "中新網四川新聞4月29日電 珙縣紀委監委持續強化日常監督，推動巡察整改落實落細。",
            "url": "https://www.sc.chinanews.com.cn/bwbd/2024-04-29/212345.html",
            "source": "中新網四川",
            "published": "2024-04-29 13:45",
            "category": "時政",
        }
    )
    records.append(dict(HOSTILE))
    return records


def write_corpus(path: Path, records: list[dict[str, Any]] | None = None) -> Path:
    """Write ``records`` (default: the test corpus) as JSON lines to ``path``."""
    records = corpus_records() if records is None else records
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


_BUILT: dict[str, Path] = {}


def build_index(base: Path) -> Path:
    """Build (once per ``base``) a real index of the test corpus; return its directory."""
    from search.indexer import reindex

    key = str(base)
    if key not in _BUILT:
        base.mkdir(parents=True, exist_ok=True)
        corpus = write_corpus(base / "corpus.jsonl")
        index_dir = base / "index"
        summary = reindex([corpus], index_dir, rebuild=True, procs=1)
        assert summary.indexed == len(corpus_records()), summary.to_dict()
        _BUILT[key] = index_dir
    return _BUILT[key]


def free_port() -> int:
    """Return a TCP port that is free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index_dir: Path, port: int, log_path: Path, timeout: float = 60.0,
                 verbose: bool = False) -> subprocess.Popen:
    """Start ``xunwen serve`` on loopback over ``index_dir``; wait until /healthz answers."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process by stop_server
    proc = subprocess.Popen(
        [sys.executable, "-m", "search.cli", *(["-v"] if verbose else []), "serve", "--host", "127.0.0.1", "--port", str(port),
         "--index", str(index_dir), "--threads", "4"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    proc._xunwen_log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/healthz"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log_path.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(f"server did not answer within {timeout}s: {log_path.read_text()}")
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server started by :func:`start_server` (terminate, then kill)."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    log = getattr(proc, "_xunwen_log", None)
    if log:
        log.close()


# --------------------------------------------------------------------------- assertions


def assert_error_shape(resp: Any, status: int) -> dict[str, Any]:
    """Assert the one API error shape with ``status``; return the body."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"ok", "error", "code", "status"}, body
    assert body["ok"] is False and body["status"] == status
    assert isinstance(body["error"], str) and len(body["error"]) > 5, body
    assert isinstance(body["code"], str) and re.fullmatch(r"[a-z_]{3,40}", body["code"]), body
    return body


OWN_SCRIPT = '<script src="/static/xunwen.js" defer></script>'


def is_own_script(el: Any) -> bool:
    """Return True for the one script tag the pages carry: our static file, deferred, no inline code."""
    return (el.get("src") == "/static/xunwen.js" and el.get("defer") is not None
            and not (el.text or "").strip() and set(el.attrib) == {"src", "defer"})


def active_content(html_text: str) -> list[str]:
    """Return every piece of markup in a page that could run script or load a foreign style."""
    import lxml.html

    found: list[str] = []
    doc = lxml.html.document_fromstring(html_text)
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.rsplit("}", 1)[-1].lower()
        if tag == "script" and is_own_script(el):
            continue
        if tag in ("script", "iframe", "object", "embed", "base"):
            found.append(f"<{tag}>")
        for name, value in el.attrib.items():
            name = name.lower()
            if name.startswith("on"):
                found.append(f"{tag}@{name}")
            if name == "style":
                found.append(f"{tag}@style")
            if name in ("href", "src", "action", "formaction", "xlink:href") and value.strip().lower().startswith(
                ("javascript:", "data:text", "vbscript:")
            ):
                found.append(f"{tag}@{name}={value[:40]}")
    return found


# --------------------------------------------------------------------------- fixtures
# Test modules import these by name (``from webutil import web_client, ...``).


@pytest.fixture(scope="session")
def web_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the directory of a real index of the test corpus (built once per session)."""
    return build_index(tmp_path_factory.getbasetemp() / "web-corpus")


@pytest.fixture(scope="session")
def web_app(web_index: Path):  # type: ignore[no-untyped-def]
    """Return the app over the test index."""
    from web import create_app

    return create_app({"INDEX_DIR": str(web_index), "TESTING": True})


@pytest.fixture
def web_client(web_app):  # type: ignore[no-untyped-def]
    """Return a Flask test client of the app over the test index."""
    return web_app.test_client()


_COMPOUND_RE = re.compile(r"^([a-z0-9]*)((?:\.[\w-]+)*)((?:\[[^\]]+\])*)$")
_ATTR_RE = re.compile(r"\[([\w-]+)(?:=\"([^\"]*)\")?\]")


def css(el: Any, selector: str) -> list[Any]:
    """Return the elements under ``el`` matching a simple CSS selector (tags, classes,
    ``[attr]``/``[attr="v"]``, descendant combinators) — enough for these tests without
    the cssselect package."""
    path = "."
    for compound in selector.split():
        m = _COMPOUND_RE.match(compound)
        assert m, f"unsupported selector part {compound!r}"
        tag, classes, attrs = m.groups()
        preds = [
            f"contains(concat(' ', normalize-space(@class), ' '), ' {c} ')"
            for c in classes.split(".") if c
        ]
        for name, value in _ATTR_RE.findall(attrs):
            preds.append(f'@{name}="{value}"' if value else f"@{name}")
        path += "//" + (tag or "*") + "".join(f"[{p}]" for p in preds)
    return el.xpath(path)
