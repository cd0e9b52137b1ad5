"""The character-pair table's codes: shared by the indexer (which counts them) and ranking.

Adjacent Han character pairs of folded text are hashed into BIGRAM_BUCKETS codes; the indexer
writes their counts over the collection to BIGRAM_FILE beside the index, and
``ranking.bigram_likelihood`` scores candidates with them. The hash and the Han test are part
of what is written: changing them needs a rebuild.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BIGRAM_BUCKETS", "BIGRAM_FILE", "bigram_codes"]

BIGRAM_BUCKETS = 1 << 22
BIGRAM_FILE = "bigrams.npy"


def bigram_codes(folded: str) -> np.ndarray:
    """Hashed codes (0..BIGRAM_BUCKETS-1) of the adjacent Han character pairs of folded text."""
    if len(folded) < 2:
        return np.zeros(0, dtype=np.int64)
    cp = np.frombuffer(folded.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    han = ((cp >= 0x3400) & (cp <= 0x9FFF)) | ((cp >= 0xF900) & (cp <= 0xFAFF))
    pair = han[:-1] & han[1:]
    key = (cp[:-1][pair] << np.uint64(21)) | cp[1:][pair]
    mixed = (key * np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    return (mixed >> np.uint64(64 - 22)).astype(np.int64)
