"""Near-duplicate clustering on real corpus articles: copies join, template briefings do not."""

from __future__ import annotations

import gzip
import json
import pickle

import pytest

from conftest import CORPUS
from search import dedup
from search.normalize import fold_text

SAMPLE = CORPUS / "news_articles_sample2k.jsonl.gz"
TEMPLATE_TITLE = "国家卫生健康委通报最新疫情"


@pytest.fixture(scope="module")
def records() -> list[dict]:
    if not SAMPLE.exists():
        pytest.skip(f"shared corpus sample not present at {SAMPLE}")
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def story(records) -> dict:
    """A chinanews article with several paragraphs (a story that gets syndicated)."""
    for r in records:
        paras = r["body"].split("\n")
        if r["id"].startswith("web-") and len(paras) >= 6 and 800 <= len(r["body"]) <= 3000:
            return r
    pytest.skip("no multi-paragraph article in the sample")


def sig(text: str) -> dedup.Signature:
    return dedup.signature(fold_text(text))


def test_signature_is_compact_deterministic_and_picklable(story):
    s = sig(story["body"])
    assert isinstance(s, tuple) and len(s) == dedup.NUM_HASHES + 1 and all(isinstance(v, int) for v in s)
    assert s == sig(story["body"])
    assert pickle.loads(pickle.dumps(s)) == s
    keys = dedup.band_keys(s)
    assert len(keys) == dedup.BANDS and len(set(keys)) == dedup.BANDS
    assert all(isinstance(k, str) and len(k) <= 12 for k in keys)


def test_empty_body_never_clusters():
    assert dedup.signature("") == () and dedup.band_keys(()) == []
    c = dedup.Clusterer()
    assert c.assign("a", dedup.signature("")) == "a"
    assert c.assign("b", dedup.signature("  \n ")) == "b"


def test_copies_with_small_edits_cluster_together(story):
    paras = story["body"].split("\n")
    original = story["body"]
    with_editor = original + "\n【编辑:张三】"
    trimmed = "\n".join(paras[:-1])  # last paragraph cut by the syndicating site
    retagged = "(专题)某某新标题\n" + "\n".join(paras[1:]) + "\n(完)"
    traditional = original.replace("发", "發").replace("国", "國").replace("会", "會")
    c = dedup.Clusterer()
    first = c.assign(story["id"], sig(original))
    assert first == story["id"]
    for i, text in enumerate((with_editor, trimmed, retagged, traditional)):
        assert dedup.similar(sig(original), sig(text)) >= 0.6, i
        assert c.assign(f"copy{i}", sig(text)) == first, i


def test_same_title_different_bodies_do_not_merge(records):
    briefings = [r for r in records if r["title"] == TEMPLATE_TITLE]
    if len(briefings) < 5:
        pytest.skip("too few template briefings in the sample")
    c = dedup.Clusterer()
    clusters = [c.assign(r["id"], sig(r["body"])) for r in briefings]
    assert len(set(clusters)) == len(briefings)


def test_distinct_stories_stay_apart(records):
    bodies = [r for r in records if len(r["body"]) > 300][:300]
    c = dedup.Clusterer()
    clusters = {c.assign(r["id"], sig(r["body"])) for r in bodies}
    # The sample is a random draw from 72k articles: almost no pair is a copy.
    assert len(clusters) >= len(bodies) - 3


def test_incremental_candidates_path(story):
    """A new batch finds the cluster of an article indexed earlier through its band keys."""
    old = dedup.Clusterer()
    old_cluster = old.assign("old-1", sig(story["body"]))
    # What an index would hold: band key → (id, cluster, signature).
    index: dict[str, list[tuple[str, str, dedup.Signature]]] = {}
    for k in dedup.band_keys(sig(story["body"])):
        index.setdefault(k, []).append(("old-1", old_cluster, sig(story["body"])))
    copy = sig(story["body"] + "\n【编辑:李四】")
    cands = {t for k in dedup.band_keys(copy) for t in index.get(k, [])}
    assert cands, "a copy must share at least one band key with its original"
    new = dedup.Clusterer()
    assert new.assign("new-1", copy, candidates=cands) == "old-1"
    # ...and later copies in the same batch follow it without index candidates.
    assert new.assign("new-2", sig(story["body"] + "\n(完)")) == "old-1"
    # An unrelated article does not join just because candidates were offered.
    assert new.assign("new-3", sig("完全不同的一篇报道，讲述了另一件事情的经过和细节。" * 5),
                      candidates=cands) == "new-3"


def test_similarity_estimates_jaccard():
    a = "".join(chr(0x4E00 + i) for i in range(400))
    b = a[:300] + "".join(chr(0x5E00 + i) for i in range(100))
    est = dedup.similar(dedup.signature(a), dedup.signature(b))
    # exact 5-shingle Jaccard: 296 shared / 496 in the union = 0.60
    assert 0.45 <= est <= 0.75
    assert dedup.similar(dedup.signature(a), dedup.signature(a)) == 1.0


def test_short_template_items_need_near_identity():
    """CCTV-style one-line items from one template differ by a name: distinct stories."""
    a = "国务院总理李强在人民大会堂北大厅举行仪式，欢迎泰国总理访华。欢迎仪式后，两国总理举行会谈。"
    b = a.replace("泰国", "澳大利亚")
    c = dedup.Clusterer()
    c.assign("a", sig(a))
    assert c.assign("b", sig(b)) == "b"
    assert c.assign("a-copy", sig(a + "（完）")) == "a"


@pytest.mark.slow
def test_disk_clusterer_decides_like_the_in_memory_one(records, story, tmp_path):
    """The on-disk table (rebuilds) gives the same clusters as the dicts, copies included."""
    batch = [(r["id"], sig(r["body"])) for r in records]
    batch += [(f"copy-{i}", sig(story["body"] + "\n【编辑:张三】" * i)) for i in range(1, 4)]
    mem = dedup.Clusterer()
    path = tmp_path / "dedup.sqlite"
    disk = dedup.DiskClusterer(str(path))
    got_mem = [mem.assign(i, s) for i, s in batch]
    got_disk = [disk.assign(i, s) for i, s in batch]
    assert got_disk == got_mem
    assert len(disk) == len(batch)
    assert {got_disk[-1], got_disk[-2], got_disk[-3]} == {story["id"]}
    assert disk.cluster_of("copy-2") == story["id"] and disk.cluster_of("nope") is None
    assert disk.assign("copy-2", sig("另一篇")) == story["id"]  # an id keeps its first decision
    assert path.exists()
    disk.close()
    assert not path.exists()


@pytest.mark.slow
def test_disk_clusterer_reads_at_most_the_bucket_cap(tmp_path):
    """A band key shared by many articles is compared against its first _BUCKET_CAP members only."""
    disk = dedup.DiskClusterer(str(tmp_path / "d.sqlite"))
    mem = dedup.Clusterer()
    body = "".join(chr(0x4E00 + i) for i in range(40))
    for i in range(dedup._BUCKET_CAP + 20):  # all identical: every band key is one bucket
        s = sig(body)
        assert disk.assign(f"a{i}", s) == mem.assign(f"a{i}", s) == "a0"
    key = dedup.band_keys(sig(body))[0]
    assert len(list(disk._bucket(key))) == dedup._BUCKET_CAP
    disk.close()
