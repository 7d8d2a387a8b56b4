"""The one home for hashing: a vectorized 64-bit mix for seeded assignment (splits, pair orientation, held-out
positions), short content hashes for cache keys (fingerprints of values, hashes of files) and the hash of a
settings record written into outputs (a prompt's, in every annotation manifest).

``mix64`` is splitmix64, chosen because it is portable (same bits on every platform and NumPy version), so a split
decided today is the split decided on any machine; ``fingerprint``/``file_hash`` are sha1 prefixes: cache keys, not
security; ``record_hash`` hashes canonical JSON, not ``repr``, so outputs made anywhere compare equal.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix64(values: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 of (value, seed): a portable, well-spread 64-bit hash, vectorized."""
    offset = np.uint64((int(seed) * int(_GOLDEN) + int(_GOLDEN)) % (1 << 64))
    with np.errstate(over="ignore"):
        x = np.asarray(values).astype(np.uint64) + offset
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hash_unit(values: np.ndarray, seed: int) -> np.ndarray:
    """Uniform [0, 1) from the top 53 bits of the hash."""
    return (mix64(values, seed) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def fingerprint(*parts) -> str:
    """Short stable hash of the parts' ``repr`` (cache keys: a changed part means a new key)."""
    digest = hashlib.sha1()
    for part in parts:
        digest.update(repr(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def file_hash(path: str | Path) -> str:
    """Content hash of a file (cache key: a rebuilt dataset never reuses stale tokens)."""
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def record_hash(record: dict) -> str:
    """First 12 hex digits of the SHA-256 of ``record`` as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
