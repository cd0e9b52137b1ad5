"""A byte-bounded cache that keeps what is asked for often (least recently used out, with a
frequency test before anything goes out).

The engine keeps per-snapshot answers that are costly to compute and reused by later queries:
a word's postings and best-reading table (search.ranking.Postings) and the articles holding a
text in a segment (search.chars.SegmentChars). Plain LRU loses everything when the words in use
take more than the budget: a round of queries that needs 1.1x the cache evicts each entry just
before it is asked for again (measured at 1M articles: 776 of 828 character lookups missed on
the second pass of the 240 benchmark queries, whose words take ~1.0x the budget).

So admission follows TinyLFU (Einziger, Friedman & Manes, "TinyLFU: A Highly Efficient Cache
Admission Policy", ACM ToS 2017): every lookup counts its key in a frequency table that halves
all counts after a sample of lookups (old popularity fades); when a new entry needs room, it
goes in only if it was asked for more often than each entry it would push out. Under a cycle
larger than the budget the cache keeps a stable part of the cycle (hits ~ budget / working
set) instead of none, and a word asked for again and again is not pushed out by a burst of
one-off words. The frequency table holds at most ``sample`` keys (it is cleared down at each
halving), so it is bounded too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class AdmitCache(Generic[V]):
    """Byte-bounded LRU with TinyLFU admission; thread-safe. ``size`` gives a value's bytes."""

    def __init__(self, max_bytes: int, size: Callable[[V], int], sample: int = 20_000):
        self.max_bytes = max_bytes
        self._size = size
        self._sample = max(16, sample)
        self._data: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._freq: dict[Hashable, int] = {}
        self._seen = 0
        self.bytes = 0
        self.hits = self.misses = self.rejected = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def peek(self, key: Hashable) -> V | None:
        """The value of ``key`` if kept, without counting a lookup."""
        with self._lock:
            got = self._data.get(key)
        return None if got is None else got[0]

    def get(self, key: Hashable) -> V | None:
        """The value of ``key`` if kept (counted as a lookup of ``key`` either way)."""
        with self._lock:
            self._count(key)
            got = self._data.get(key)
            if got is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return got[0]

    def put(self, key: Hashable, value: V) -> bool:
        """Keep ``value`` if it fits the budget, pushing out least recently used entries that
        were asked for less often than ``key``; return whether it was kept."""
        nbytes = self._size(value)
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return True
            if nbytes > self.max_bytes:
                self.rejected += 1
                return False
            need = self.bytes + nbytes - self.max_bytes
            if need > 0:
                mine = self._freq.get(key, 0)
                victims, freed = [], 0
                for k, (_, b) in self._data.items():  # least recently used first
                    if self._freq.get(k, 0) >= mine:
                        self.rejected += 1
                        return False
                    victims.append(k)
                    freed += b
                    if freed >= need:
                        break
                for k in victims:
                    self.bytes -= self._data.pop(k)[1]
            self._data[key] = (value, nbytes)
            self.bytes += nbytes
            return True

    def _count(self, key: Hashable) -> None:
        self._freq[key] = self._freq.get(key, 0) + 1
        self._seen += 1
        if self._seen >= self._sample or len(self._freq) > self._sample:
            # Age: halve every count, forget the keys that fall to zero.
            self._freq = {k: c >> 1 for k, c in self._freq.items() if c > 1}
            self._seen = 0

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._freq.clear()
            self.bytes = 0
