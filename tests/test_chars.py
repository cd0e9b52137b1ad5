"""search.chars: the character index, and the promises it carries at a few thousand real articles.

* every quoted run of 2-6 characters (Han, and Han mixed with digits or Latin letters) cut out of
  real articles finds exactly the articles whose folded text holds it;
* an unquoted query of several words lists first, and counts in ``total``, exactly the articles
  holding every content word; looser matches only follow a short list, counted apart;
* the index files are the same whether written at once, through run files, or through merges.
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import corpus, write_jsonl
from search import SearchEngine, SearchRequest, chars
from search.analysis import query_words
from search.chars import _DTYPES, CharPool, SegmentChars, encode_chunks, needle_units, units
from search.indexer import reindex
from search.ingest import iter_articles
from search.normalize import fold_text
from search.query import STOPWORDS

N_ARTICLES = 2000


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """An index of the 2k sample, the articles as indexed, and their folded squashed texts."""
    d = tmp_path_factory.mktemp("chars-real")
    with gzip.open(corpus("news_articles_sample2k.jsonl.gz"), "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in itertools.islice(f, N_ARTICLES)]
    src = write_jsonl(d / "real.jsonl", records)
    reindex([src], d / "ix", procs=2)
    arts = {a.id: a for a in iter_articles([src])}
    texts = {i: (units(fold_text(a.title)), units(fold_text(a.body))) for i, a in arts.items()}
    eng = SearchEngine(d / "ix")
    yield eng, arts, texts
    eng.close()


def all_ids(eng: SearchEngine, q: str, limit: int = 1000) -> tuple[list[str], int, int]:
    """Every hit id of a query (pages of 100), its total and total_relaxed."""
    out: list[str] = []
    page = 1
    while True:
        res = eng.search(SearchRequest(q=q, size=100, page=page, collapse=False, snippets=False, facets=False))
        out.extend(h.id for h in res.hits)
        if len(res.hits) < 100 or page * 100 >= limit:
            return out, res.total, res.total_relaxed
        page += 1


_RUN = re.compile(r"[\u4e00-\u9fff]{6,}")
_MIXED = re.compile(r"[\u4e00-\u9fff0-9A-Za-z]*(?:[\u4e00-\u9fff][0-9A-Za-z]|[0-9A-Za-z][\u4e00-\u9fff])"
                    r"[\u4e00-\u9fff0-9A-Za-z]*")


@pytest.mark.slow
def test_every_quoted_run_finds_exactly_its_holders(real) -> None:
    eng, arts, texts = real
    rng = random.Random(20261202)
    pool = list(arts.values())
    wrong = []
    checked = {"han": 0, "mixed": 0}
    while min(checked.values()) < 150:
        a = rng.choice(pool)
        kind = "mixed" if checked["mixed"] < checked["han"] else "han"
        runs = (_MIXED if kind == "mixed" else _RUN).findall(a.body if rng.random() < 0.9 else a.title)
        runs = [r for r in runs if len(r) >= 2]
        if not runs:
            continue
        run = rng.choice(runs)
        n = rng.randint(2, min(6, len(run)))
        i = rng.randrange(len(run) - n + 1)
        needle = run[i:i + n]
        if kind == "mixed" and not re.search(r"[0-9A-Za-z]", needle) or not re.search(r"[\u4e00-\u9fff]", needle):
            continue
        u = needle_units(needle)
        want = {d for d, (t, b) in texts.items() if u in t or u in b}
        got, total, _ = all_ids(eng, f'"{needle}"')
        checked[kind] += 1
        if set(got) != want or total != len(want):
            wrong.append((needle, len(want), total, sorted(want - set(got))[:3], sorted(set(got) - want)[:3]))
    assert not wrong, wrong


@pytest.mark.slow
def test_title_prefix_finds_the_run_in_titles_only(real) -> None:
    eng, arts, texts = real
    rng = random.Random(5)
    for _ in range(30):
        a = rng.choice(list(arts.values()))
        runs = [r for r in re.findall(r"[\u4e00-\u9fff]{2,}", a.title)]
        if not runs:
            continue
        needle = rng.choice(runs)[:4]
        u = needle_units(needle)
        want = {d for d, (t, _b) in texts.items() if u in t}
        got, total, _ = all_ids(eng, f'title:"{needle}"')
        assert set(got) == want and total == len(want), needle


@pytest.mark.slow
def test_unquoted_words_list_every_holder_first_and_count_exactly_those(real) -> None:
    """Names cut from real titles (3+ words): total = the articles holding every content word,
    and those are the first hits; anything after them is a looser match counted apart."""
    eng, arts, texts = real
    rng = random.Random(11)
    done = 0
    for a in rng.sample(list(arts.values()), 600):
        words = query_words(a.title)
        idx = [i for i, w in enumerate(words) if w not in STOPWORDS and len(w) > 1]
        if len(idx) < 3:
            continue
        k = rng.randint(3, min(6, len(idx)))
        q = "".join(words[idx[0]: idx[k - 1] + 1])
        need = [w for w in query_words(q) if w not in STOPWORDS and len(w) > 1]
        if len(need) < 3 or any(w.isascii() for w in need):
            continue  # Latin/digit words match whole runs (docs/QUERY.md), not what a scan finds
        need_u = [needle_units(w) for w in need]
        want = {d for d, (t, b) in texts.items() if all(w in t or w in b for w in need_u)}
        got, total, relaxed = all_ids(eng, q)
        assert total == len(want), (q, total, len(want))
        assert set(got[:total]) == want, q
        if total >= 100:
            assert relaxed == 0, q
        done += 1
        if done >= 40:
            break
    assert done >= 20


def test_looser_matches_follow_only_a_short_list(tmp_path: Path) -> None:
    recs = [{"id": f"both-{i}", "title": "宜宾巡察", "body": f"宜宾开展巡察整改第{i}轮。"} for i in range(3)]
    recs += [{"id": f"one-{i}", "title": "宜宾新闻", "body": f"宜宾第{i}条消息，整改工作推进。"} for i in range(5)]
    reindex([write_jsonl(tmp_path / "c.jsonl", recs)], tmp_path / "ix", procs=1)
    eng = SearchEngine(tmp_path / "ix")
    page = eng.search(SearchRequest(q="宜宾巡察整改", size=10, collapse=False))
    assert page.total == 3 and page.relaxed and page.total_relaxed == 5
    assert {h.id for h in page.hits[:3]} == {"both-0", "both-1", "both-2"}
    assert {h.id for h in page.hits[3:]} == {f"one-{i}" for i in range(5)}
    d = page.to_dict()
    assert d["total"] == 3 and d["total_relaxed"] == 5 and d["relaxed"] is True
    # A page the strict matches fill has no looser matches.
    page = eng.search(SearchRequest(q="宜宾巡察整改", size=2, collapse=False))
    assert page.total == 3 and not page.relaxed and page.total_relaxed == 0
    eng.close()


# ---------------------------------------------------------------- the files


def _texts(n: int, seed: int = 3) -> list[tuple[str, str]]:
    with gzip.open(corpus("news_articles_sample2k.jsonl.gz"), "rt", encoding="utf-8") as f:
        recs = [json.loads(line) for line in itertools.islice(f, n)]
    return [(fold_text(r["title"]), fold_text(r["body"])) for r in recs]


def _arrays(seg: SegmentChars) -> dict[str, np.ndarray]:
    return {a: np.asarray(getattr(seg, a)) for a in ("keys", "offs", "lo", "exc_idx", "exc_hi", "hi", "hoffs", "starts", "body_starts")}


def _write(pool: CharPool, folder: Path, name: str) -> SegmentChars:
    pool.write(lambda ext: open(folder / f"{name}{ext}", "wb"))
    return SegmentChars.open(folder, name)


def test_wide_and_narrow_keys_decode_to_their_positions_over_any_chunking() -> None:
    # A common pair (short gaps: 2 bytes a delta), rare pairs whose gaps pass 2**16 and 2**24
    # (wide keys: 3 bytes a delta, exceptions past 2**24), written in chunks that cut keys
    # anywhere (a key going on over several chunks is never wide), decode to what went in.
    rng = np.random.default_rng(5)
    per_key = {1: np.unique(rng.integers(0, 3_000_000, 50_000))}
    for k in range(2, 400):
        top = (1 << 20, 1 << 26, (1 << 32) - 1)[k % 3]
        per_key[k << 3] = np.unique(rng.integers(0, top, int(rng.integers(1, 60))))
    keys = np.concatenate([np.full(len(v), k, np.int64) for k, v in per_key.items()])
    pos = np.concatenate(list(per_key.values())).astype(np.int64)
    for size in (7_000, 333, len(keys)):
        parts: dict[str, list[bytes]] = {}
        encode_chunks(((keys[i:i + size], pos[i:i + size]) for i in range(0, len(keys), size)),
                      lambda ext, data, parts=parts: parts.setdefault(ext, []).append(data))
        arrays = {ext: np.frombuffer(b"".join(parts[ext]), dtype=_DTYPES[ext]) for ext in parts}
        arrays[".xcd"] = np.array([0, 1 << 32, 0], dtype=np.int64)
        seg = SegmentChars(arrays)
        assert [int(k) for k in seg.keys] == list(per_key)
        for i, want in enumerate(per_key.values()):
            assert np.array_equal(seg.positions(i), want)
        which, got = seg._decode_range(0, len(per_key))
        assert np.array_equal(got, pos) and np.array_equal(np.asarray(seg.keys)[which], keys)
        ck = np.concatenate([c[0] for c in seg.iter_chunks(size=5_000)])
        cp = np.concatenate([c[1] for c in seg.iter_chunks(size=5_000)])
        assert np.array_equal(ck, keys) and np.array_equal(cp, pos)
        wide = np.diff(np.asarray(seg.hoffs).astype(np.int64)) > 0
        assert 100 < wide.sum() < len(per_key) - 1  # the common pair and some rare ones stay narrow
        d = np.diff(pos, prepend=0)
        first = np.r_[True, keys[1:] != keys[:-1]]
        d[first] = pos[first]
        narrow_bytes = 2 * len(pos) + 6 * int(np.count_nonzero(d > 0xFFFF))
        written = sum(len(b"".join(parts[x])) for x in (".xcl", ".xcx", ".xcy", ".xch"))
        assert written < narrow_bytes  # wide keys are chosen only where they save bytes


def test_run_files_and_merges_write_the_same_index(tmp_path: Path) -> None:
    texts = _texts(120)
    once = SegmentChars.build(texts, tmp_path)
    spilled_pool = CharPool(tmp_path, run_limit=5000)
    for t, b in texts:
        spilled_pool.add(t, b)
    assert len(spilled_pool.runs) >= 5
    spilled = _write(spilled_pool, tmp_path, "spilled")
    a, b = _arrays(once), _arrays(spilled)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not list(tmp_path.glob("xchars-*"))  # run files removed
    # A merge of two segments, dropping some articles, equals a build of what is kept.
    first = SegmentChars.build(texts[:70], tmp_path)
    second = SegmentChars.build(texts[70:], tmp_path)
    gone = {3, 10, 69}
    merged_pool = CharPool(tmp_path, run_limit=7000)
    merged_pool.merge(first, [d for d in range(70) if d not in gone])
    merged_pool.merge(second, None)
    merged = _write(merged_pool, tmp_path, "merged")
    kept = [x for i, x in enumerate(texts) if i not in gone]
    want = _arrays(SegmentChars.build(kept, tmp_path))
    got = _arrays(merged)
    assert all(np.array_equal(want[k], got[k]) for k in want)
    # A merge that reads a memory-mapped segment (its pages dropped after each chunk) and
    # spills into runs read back by pread reproduces it exactly.
    again_pool = CharPool(tmp_path, run_limit=3000)
    again_pool.merge(spilled, None)
    assert again_pool.runs  # written back through the run files
    again = _arrays(_write(again_pool, tmp_path, "again"))
    assert all(np.array_equal(a[k], again[k]) for k in a)


def test_a_key_larger_than_a_chunk_is_written_a_chunk_at_a_time(tmp_path: Path, monkeypatch) -> None:
    # A pair of characters that most articles hold many times (的 after a common word) has
    # more postings than a merge chunk in a large segment: it is written from each run in
    # turn, a chunk at a time, and the segment equals one built in memory.
    more = _texts(120)
    texts = more[:80] + [("北京", "北京" * 400 + "。上海北京")] * 6 + more[80:]
    once = SegmentChars.build(texts, tmp_path)
    monkeypatch.setattr(chars, "WRITE_CHUNK", 700)  # ~2,400 postings of 北京: 4 chunks and more
    pool = CharPool(tmp_path, run_limit=3000)
    for t, b in texts:
        pool.add(t, b)
    assert len(pool.runs) >= 8
    chunks = list(pool._chunks())
    assert max(len(k) for k, _ in chunks) <= 2 * 700 + 3000  # no range holds the whole key
    key = int(np.asarray(once.keys)[np.argmax(np.diff(np.asarray(once.offs)))])
    assert sum(int((k == key).sum()) for k, _ in chunks) > 3 * 700
    assert sum(1 for k, _ in chunks if len(k) and (k == key).all()) >= 4  # split across chunks
    pool = CharPool(tmp_path, run_limit=3000)
    for t, b in texts:
        pool.add(t, b)
    heavy = _write(pool, tmp_path, "heavy")
    a, b = _arrays(once), _arrays(heavy)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # A merge reads such a key back a chunk at a time too, and writes the same segment.
    read = list(heavy.iter_chunks(700))
    assert max(len(k) for k, _ in read) <= 2 * 700
    again = CharPool(tmp_path, run_limit=3000)
    again.merge(heavy, None)
    c = _arrays(_write(again, tmp_path, "again"))
    assert all(np.array_equal(a[k], c[k]) for k in a)


def test_the_write_is_encoded_a_bounded_chunk_at_a_time_into_the_same_bytes(tmp_path: Path, monkeypatch) -> None:
    # The segment's write merges and encodes WRITE_CHUNK postings at a time (the worker's highest
    # point at the end of a large segment was a million at once): with runs and without (the
    # held postings sorted once, then encoded a slice at a time, cut between keys), a budget of
    # a few hundred postings writes the same bytes as one that holds the whole segment.
    texts = _texts(150)
    once = _arrays(SegmentChars.build(texts, tmp_path))  # one chunk: the budget is far above this
    for run_limit in (1 << 40, 4000):
        monkeypatch.setattr(chars, "WRITE_CHUNK", 300)
        pool = CharPool(tmp_path, run_limit=run_limit)
        for t, b in texts:
            pool.add(t, b)
        assert bool(pool.runs) == (run_limit == 4000)
        sizes = [len(k) for k, _ in pool._chunks()]
        assert len(sizes) > 100 and max(sizes) <= 3 * 300
        pool = CharPool(tmp_path, run_limit=run_limit)
        for t, b in texts:
            pool.add(t, b)
        got = _arrays(_write(pool, tmp_path, f"small-{run_limit}"))
        assert all(np.array_equal(once[k], got[k]) for k in once)


def test_article_of_each_position_and_counts_per_field_are_exact(tmp_path: Path) -> None:
    # doc_of maps sorted positions to articles through a bucket table (a guess, then steps past
    # articles that start inside a bucket): random positions over short, empty and long articles
    # land where a binary search puts them, and field_counts equals a per-article count
    # (the title and the body are apart: no run spans them).
    from search.chars import _codes

    rng = random.Random(7)
    pool = "北京上海广州新闻经济发展，。"
    texts = []
    for _ in range(900):
        n = rng.choice([0, 0, 1, 3, 40, 300, 1200])
        body = "".join(rng.choice(pool) for _ in range(n))
        title = "".join(rng.choice(pool) for _ in range(rng.choice([0, 2, 8])))
        texts.append((fold_text(title), fold_text(body)))
    seg = SegmentChars.build(texts, tmp_path)
    starts = np.asarray(seg.starts)
    for size in (5, 2000, 50_000):
        p = np.sort(rng.sample(range(int(starts[-1])), min(size, int(starts[-1]))) if size < 50_000
                    else np.array([rng.randrange(int(starts[-1])) for _ in range(size)], dtype=np.int64))
        p = np.asarray(p, dtype=np.int64)
        assert np.array_equal(seg.doc_of(p), np.searchsorted(starts, p, side="right") - 1)
    for q in ("北京", "京上", "经济发展", "新", "海，广"):
        d, ct, ca = seg.field_counts(_codes(needle_units(q)), lambda: None)
        want = [(i, units(t).count(needle_units(q)), (units(t) + "\x01" + units(b)).count(needle_units(q)))
                for i, (t, b) in enumerate(texts)]
        want = [w for w in want if w[2]]
        assert list(zip(d.tolist(), ct.tolist(), ca.tolist())) == want, q


def test_breaks_titles_and_single_characters(tmp_path: Path) -> None:
    texts = [("北京新闻", "上海，北京。广州"), ("上海", "北京上海广州"), ("广州", "京，上")]
    seg = SegmentChars.build([(fold_text(t), fold_text(b)) for t, b in texts], tmp_path)

    def docs(q: str, title: bool = False) -> list[int]:
        from search.chars import _codes

        return seg.docs(_codes(needle_units(q)), lambda: None, title)[0].tolist()

    assert docs("北京上海") == [1]
    assert docs("海北") == []  # 上海，北京: a clause break between
    assert docs("上海，北京") == [0]
    assert docs("上海。北京") == [0]  # any clause punctuation is one break
    assert docs("闻上") == []  # the title does not run into the body
    assert docs("京上") == [1]  # ...but 北京上海 holds it; 京，上 has a break
    assert docs("京，上") == [2]
    assert docs("北京", title=True) == [0]
    assert docs("京") == [0, 1, 2]
    assert docs("州") == [0, 1, 2]  # at the end of a text too
    assert docs("廣州") == [0, 1, 2]  # either script


@pytest.mark.slow
def test_scoring_only_the_strict_matches_gives_the_same_scores(real) -> None:
    """A one-part query with a page of strict matches scores only those (query.compile_query
    ``within``): the match set and every kept document's score are what full scoring gives."""
    from search.query import compile_query, parse_query

    eng, arts, _texts = real
    rng = random.Random(5)
    pruned = 0
    with eng._view() as (snap, s):
        lex, post, chars = eng._lexicon(snap, s), eng._postings(snap, s), eng._chars(snap, s)
        live = post.live
        queries = []
        for a in rng.sample(list(arts.values()), 150):
            words = [w for w in query_words(a.title) if len(w) > 1]
            if words:
                k = rng.randint(1, min(3, len(words)))
                queries += [" ".join(words[:k]), f'"{words[0]}"', f"title:{words[-1]}"]
        queries += ["中国", "发展 经济", "习近平", "记者 报道"]
        for q in queries:
            full = compile_query(parse_query(q), s, lex, post, chars)
            cut = compile_query(parse_query(q), s, lex, post, chars, within=live, min_strict=3)
            if full.mask is None:
                continue
            assert np.array_equal(full.mask, cut.mask), q
            keep = np.flatnonzero(full.mask & live)
            assert np.array_equal(full.score[keep], cut.score[keep]), q
            if np.count_nonzero(cut.score) < np.count_nonzero(full.score):
                pruned += 1  # scored the strict matches only
                assert len(keep) >= 3 and cut.relaxed is None, q
    assert pruned >= 30, pruned


@pytest.mark.slow
def test_best_reading_table_is_the_maximum_over_the_readings(real) -> None:
    """Postings.best_of (cached per word) gives each document its best reading's BM25 score,
    as taking the maximum reading by reading does."""
    eng, _arts, _texts = real
    with eng._view() as (snap, s):
        lex, post = eng._lexicon(snap, s), eng._postings(snap, s)
        tried = 0
        for w in ["中国", "发展", "经济", "会议", "习近平", "记者", "北京", "合作"]:
            readings = ((w, 1.0),) + tuple((x, 0.5) for x in lex.containing(w, 20))
            for f in ("title", "body"):
                want = np.zeros(post.n, dtype=np.float32)
                for t, boost in readings:
                    ids, sc = post.bm25(f, t, s.reader(), boost)
                    want[ids] = np.maximum(want[ids], sc)
                ids, sc = post.best_of(f, readings, s.reader())
                assert np.all(np.diff(ids) > 0)
                got = np.zeros(post.n, dtype=np.float32)
                got[ids] = sc
                assert np.array_equal(got, want), (w, f)
                tried += len(readings) > 1
    assert tried >= 8


def test_query_likelihood_is_the_dirichlet_formula_per_document_in_any_order(real) -> None:
    """ranking.query_likelihood (vectorised: sorted intersections, per-field additions) equals
    log P(q|d) computed document by document from the same postings, for candidates given in
    ascending or in any other order."""
    import math

    from search.ranking import query_likelihood
    from search.schema import TITLE_BOOST

    eng, _arts, _texts = real
    with eng._view() as (snap, s):
        post, r = eng._postings(snap, s), s.reader()
        mu = 1500.0
        coll = post.total_length("title", r) + post.total_length("body", r)
        rng = np.random.default_rng(5)
        for words in ({"中国": 1}, {"经济": 1, "发展": 2}, {"记者": 1, "不存在的词": 1}):
            cand = np.sort(rng.choice(post.n, 300, replace=False))
            tf = {w: {} for w in words}
            cf = {w: 0.0 for w in words}
            for w in words:
                for f, boost in (("title", TITLE_BOOST), ("body", 1.0)):
                    ids, wt = post.term(f, w, r)
                    cf[w] += float((wt.astype(np.float64) / boost).sum())
                    for d, x in zip(ids.tolist(), (wt.astype(np.float64) / boost).tolist()):
                        tf[w][d] = tf[w].get(d, 0.0) + x
            want = []
            for d in cand.tolist():
                dl = float(post.lengths("title", r)[d]) + float(post.lengths("body", r)[d])
                v = 0.0
                for w, c in words.items():
                    if cf[w] <= 0:
                        v -= c * math.log(dl + mu)
                        continue
                    prior = mu * cf[w] / coll
                    v += c * (math.log(tf[w].get(d, 0.0) + prior) - math.log(dl + mu))
                want.append(v)
            got = query_likelihood(post, r, words, cand, TITLE_BOOST, mu)
            assert np.allclose(got, want, rtol=1e-9, atol=1e-9), words
            perm = rng.permutation(len(cand))
            assert np.array_equal(query_likelihood(post, r, words, cand[perm], TITLE_BOOST, mu), got[perm])
