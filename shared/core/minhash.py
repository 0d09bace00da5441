"""MinHash sketches and a banded LSH index over them, for near-duplicate detection. Pure numpy.

The sketch is datasketch 2's ``MinHash`` with its "affine32" scheme and seed 1, value for value
(sha1 32-bit hash of each item, MurmurHash3 finalizer, odd affine permutations mod 2^32), so hash
values saved by earlier versions (story-index snapshots) stay comparable; the band layout is the
one ``MinHashLSH`` picks for a threshold (least weighted false-positive + false-negative area).
tests/unit/test_minhash.py checks both against datasketch itself.

Why not import datasketch: its LSH module imports ``scipy.integrate`` for that one integral, 63 MB
of ingest's RSS (bench/README.md, "Integrated tree after session 4") against a 200 MB budget per
service. The integral here is Gauss-Legendre over a polynomial of degree b*r <= num_perm, which
that rule integrates exactly.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

SCHEME = "affine32"  # datasketch's name for this permutation scheme (recorded in snapshots)
SEED = 1
_MAX = np.uint32(0xFFFFFFFF)


@functools.cache
def _permutations(num_perm: int) -> tuple[NDArray[np.uint32], NDArray[np.uint32]]:
    gen = np.random.RandomState(SEED)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(hv: NDArray[np.uint32]) -> NDArray[np.uint32]:
    """MurmurHash3's 32-bit finalizer (a bijection that spreads structured inputs)."""
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    return hv ^ (hv >> np.uint32(16))


class MinHash:
    """The MinHash sketch of a set of byte strings (``num_perm`` 32-bit values; not to be changed
    once made: an LSH index keeps its bands)."""

    __slots__ = ("_bands", "hashvalues")

    def __init__(self, hashvalues: NDArray[np.uint32]) -> None:
        self.hashvalues = np.asarray(hashvalues, dtype=np.uint32)
        # (rows per band, the bands as bytes), computed once: a replay of the story index inserts
        # and queries the same sketch again and again.
        self._bands: tuple[int, list[bytes]] | None = None

    @classmethod
    def of(cls, items: Iterable[bytes], num_perm: int) -> MinHash:
        # The first 4 bytes of each sha1 digest, little-endian: one buffer, one numpy read.
        digests = b"".join([hashlib.sha1(item).digest()[:4] for item in items])
        values = np.full(num_perm, _MAX, dtype=np.uint32)
        if digests:
            a, b = _permutations(num_perm)
            hashes = np.frombuffer(digests, dtype="<u4").astype(np.uint32)
            mixed = _fmix32(hashes.reshape(-1, 1))
            values = np.minimum(values, (mixed * a + b).min(axis=0))
        return cls(values)

    def bands(self, rows: int, count: int) -> list[bytes]:
        """The first ``count`` bands of ``rows`` values each, as bytes (LSH table keys)."""
        cached = self._bands
        if cached is None or cached[0] != rows or len(cached[1]) != count:
            values = self.hashvalues
            cached = (rows, [values[i * rows : (i + 1) * rows].tobytes() for i in range(count)])
            self._bands = cached
        return cached[1]

    def __len__(self) -> int:
        return len(self.hashvalues)

    def jaccard(self, other: MinHash) -> float:
        """Estimated Jaccard similarity: the share of equal values."""
        if len(self) != len(other):
            raise ValueError("MinHash sketches of different sizes are not comparable")
        return float(np.count_nonzero(self.hashvalues == other.hashvalues)) / float(len(self))


@functools.cache
def _legendre(nodes: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x, w = np.polynomial.legendre.leggauss(nodes)
    return x, w


def _miss_area(b: int, r: int, low: float, high: float, nodes: int) -> float:
    """The integral over [low, high] of (1 - s^r)^b, the chance that no band of a pair with Jaccard
    s collides, by Gauss-Legendre quadrature (exact for polynomials of degree below 2 * nodes)."""
    x, w = _legendre(nodes)
    half = 0.5 * (high - low)
    s = half * x + 0.5 * (high + low)
    return float(half * np.dot(w, (1.0 - s**r) ** b))


@functools.cache
def lsh_params(threshold: float, num_perm: int, false_positive_weight: float = 0.5) -> tuple[int, int]:
    """Bands b and rows r (b*r <= num_perm) minimising the weighted areas of false positives below
    ``threshold`` and false negatives above it (datasketch's rule, with its default weights)."""
    nodes = num_perm // 2 + 2  # exact for the integrand's degree b*r <= num_perm
    best, best_error = (0, 0), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            false_positive = threshold - _miss_area(b, r, 0.0, threshold, nodes)
            false_negative = _miss_area(b, r, threshold, 1.0, nodes)
            error = false_positive * false_positive_weight + false_negative * (1 - false_positive_weight)
            if error < best_error:
                best, best_error = (b, r), error
    return best


class MinHashLSH:
    """Keys of sketches that share at least one band of ``r`` values with a query (candidates for
    a Jaccard check), ``b`` bands; a key is indexed once."""

    def __init__(self, num_perm: int, params: tuple[int, int]) -> None:
        self.b, self.r = params
        if self.b * self.r > num_perm or self.b < 1 or self.r < 1:
            raise ValueError(f"bands {self.b} x rows {self.r} do not fit {num_perm} permutations")
        self._num_perm = num_perm
        self._tables: list[dict[bytes, set[str]]] = [{} for _ in range(self.b)]
        self._keys: dict[str, list[bytes]] = {}

    def _bands(self, minhash: MinHash) -> list[bytes]:
        if len(minhash) != self._num_perm:
            raise ValueError(f"expected a sketch of {self._num_perm} values, got {len(minhash)}")
        return minhash.bands(self.r, self.b)

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def insert(self, key: str, minhash: MinHash) -> None:
        if key in self._keys:
            raise ValueError(f"key {key!r} is already indexed")
        bands = self._bands(minhash)
        self._keys[key] = bands
        for band, table in zip(bands, self._tables, strict=True):
            table.setdefault(band, set()).add(key)

    def remove(self, key: str) -> None:
        bands = self._keys.pop(key)  # KeyError for a key never indexed, as a caller bug
        for band, table in zip(bands, self._tables, strict=True):
            keys = table[band]
            keys.discard(key)
            if not keys:
                del table[band]

    def query(self, minhash: MinHash) -> set[str]:
        found: set[str] = set()
        for band, table in zip(self._bands(minhash), self._tables, strict=True):
            found.update(table.get(band, ()))
        return found
