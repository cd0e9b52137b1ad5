"""search.cache.AdmitCache: byte-bounded, and a working set larger than the budget keeps part
of itself instead of evicting each entry just before it is asked for again (plain LRU)."""

from __future__ import annotations

import random

from search.cache import AdmitCache


def _cycle(cache: AdmitCache[bytes], keys: list[int], rounds: int, size: int) -> list[int]:
    """Ask for ``keys`` in order ``rounds`` times, computing (a value of ``size`` bytes) and
    putting on a miss; return the hits of each round."""
    hits = []
    for _ in range(rounds):
        before = cache.hits
        for k in keys:
            if cache.get(k) is None:
                cache.put(k, b"x" * size)
            assert cache.bytes <= cache.max_bytes
        hits.append(cache.hits - before)
    return hits


def test_a_cycle_larger_than_the_budget_keeps_a_stable_part_of_itself() -> None:
    # 150 entries of 100 bytes cycling through a 10,000-byte budget: LRU would hit nothing.
    cache: AdmitCache[bytes] = AdmitCache(10_000, len)
    hits = _cycle(cache, list(range(150)), 4, 100)
    assert hits[0] == 0
    assert all(h >= 90 for h in hits[1:]), hits  # ~budget / entry size of the 150, every round
    assert cache.bytes <= 10_000


def test_a_cycle_within_the_budget_always_hits() -> None:
    cache: AdmitCache[bytes] = AdmitCache(10_000, len)
    assert _cycle(cache, list(range(50)), 3, 100) == [0, 50, 50]


def test_an_often_asked_key_outlives_a_burst_of_one_off_keys() -> None:
    cache: AdmitCache[bytes] = AdmitCache(1_000, len)
    for _ in range(5):
        if cache.get("hot") is None:
            cache.put("hot", b"h" * 400)
    for k in range(100):  # one-off keys, each as big as what is left and more
        if cache.get(k) is None:
            cache.put(k, b"c" * 400)
    assert cache.get("hot") == b"h" * 400
    assert cache.bytes <= 1_000


def test_new_entries_replace_old_ones_once_their_counts_have_faded() -> None:
    # Aging halves every count after ``sample`` lookups: yesterday's words give way, even
    # to words asked for fewer times in all than they were.
    cache: AdmitCache[bytes] = AdmitCache(1_000, len, sample=16)
    for _ in range(200):
        for k in ("a", "b"):
            if cache.get(k) is None:
                cache.put(k, b"o" * 500)
    for _ in range(100):
        for k in ("c", "d"):
            if cache.get(k) is None:
                cache.put(k, b"n" * 500)
    assert "c" in cache and "d" in cache and "a" not in cache and "b" not in cache


def test_a_value_over_the_budget_is_not_kept_and_the_frequency_table_stays_bounded() -> None:
    cache: AdmitCache[bytes] = AdmitCache(100, len, sample=50)
    assert cache.get("big") is None
    assert not cache.put("big", b"x" * 101)
    assert "big" not in cache and cache.bytes == 0
    rng = random.Random(3)
    for _ in range(5_000):
        k = rng.randrange(10_000)
        if cache.get(k) is None:
            cache.put(k, b"v" * rng.randrange(1, 60))
        assert cache.bytes <= 100
        assert len(cache._freq) <= 50
    assert cache.bytes == sum(len(v) for v, _ in cache._data.values())
