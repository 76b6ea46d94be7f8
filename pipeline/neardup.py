"""Near-duplicates: the same story published on several sites, found with MinHash/LSH.

Signatures are MinHash over word 3-shingles of the text (128 permutations). The LSH index lives
in memory: it is rebuilt at each crawl from the signatures stored in SQLite for a rolling window.
"""

from __future__ import annotations

import re
import zlib
from datetime import datetime, timedelta, timezone

import numpy as np
import sqlite_utils
from datasketch import MinHash, MinHashLSH

NUM_PERM = 128
SCHEME = "affine32"   # datasketch's permutation scheme: stored signatures are only comparable within one
THRESHOLD = 0.8       # Jaccard similarity above which two texts are one story
SHINGLE_WORDS = 3
MIN_WORDS = 40        # shorter texts (bare feed summaries) are too short to compare reliably
WINDOW_DAYS = 90

_WORD = re.compile(r"\w+")
# Permutations are drawn once (datasketch draws them again for every new MinHash otherwise), and
# crc32 is a stable 32-bit hash in C, several times faster than the default SHA-1.
_PERMUTATIONS = MinHash(num_perm=NUM_PERM, scheme=SCHEME).permutations


def _minhash(hashvalues=None) -> MinHash:
    return MinHash(num_perm=NUM_PERM, scheme=SCHEME, hashfunc=zlib.crc32, permutations=_PERMUTATIONS,
                   hashvalues=hashvalues)


def signature(text: str) -> MinHash | None:
    words = _WORD.findall(text.casefold())
    if len(words) < MIN_WORDS:
        return None
    shingles = {" ".join(words[i:i + SHINGLE_WORDS]).encode("utf-8") for i in range(len(words) - SHINGLE_WORDS + 1)}
    minhash = _minhash()
    minhash.update_batch(list(shingles))
    return minhash


def to_bytes(minhash: MinHash) -> bytes:
    return minhash.hashvalues.astype(np.uint32).tobytes()


def from_bytes(data: bytes) -> MinHash:
    return _minhash(np.frombuffer(data, dtype=np.uint32).copy())


class NearDuplicateIndex:
    """Items of the window, by canonical URL; `match` returns the URL of a near-duplicate, if any."""

    def __init__(self) -> None:
        self.lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)

    @classmethod
    def load(cls, db: sqlite_utils.Database, now: datetime | None = None) -> NearDuplicateIndex:
        index = cls()
        since = ((now or datetime.now(timezone.utc)) - timedelta(days=WINDOW_DAYS)).isoformat()
        rows = db.execute(
            "SELECT items.url, minhashes.signature FROM minhashes JOIN items ON items.id = minhashes.item_id "
            "WHERE items.first_seen_at >= ?", [since])
        for url, data in rows:
            index.add(url, from_bytes(data))
        return index

    def add(self, url: str, minhash: MinHash) -> None:
        if url not in self.lsh:
            self.lsh.insert(url, minhash)

    def match(self, minhash: MinHash) -> list[str]:
        return sorted(self.lsh.query(minhash))
