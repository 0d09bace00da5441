"""shared.core.minhash against datasketch, the library it replaces in the services (datasketch's LSH
imports scipy.integrate: 63 MB of ingest's RSS). Same sketch values (saved snapshots stay valid),
same band layout, same candidates."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from shared.core.clustering import StoryIndex
from shared.core.minhash import SCHEME, MinHash, MinHashLSH, lsh_params

datasketch = pytest.importorskip("datasketch")  # a test dependency only


def random_sets(count: int, seed: int) -> list[set[bytes]]:
    rng = random.Random(seed)
    letters = "abcdefgh人工智能芯片"
    return [
        {
            "".join(rng.choice(letters) for _ in range(rng.randint(1, 5))).encode()
            for _ in range(rng.randint(0, 60))
        }
        for _ in range(count)
    ]


@pytest.mark.parametrize("num_perm", [64, 128])
def test_sketches_equal_datasketch_value_for_value(num_perm: int) -> None:
    for items in random_sets(200, seed=num_perm):
        reference = datasketch.MinHash(num_perm=num_perm, scheme=SCHEME)
        reference.update_batch(sorted(items))
        ours = MinHash.of(items, num_perm)
        assert np.array_equal(ours.hashvalues, reference.hashvalues.astype(np.uint32))


def test_jaccard_equals_datasketch() -> None:
    sets = random_sets(40, seed=3)
    for left, right in itertools.pairwise(sets):
        pair = [datasketch.MinHash(num_perm=128, scheme=SCHEME) for _ in range(2)]
        pair[0].update_batch(left | right)
        pair[1].update_batch(right)
        assert MinHash.of(left | right, 128).jaccard(MinHash.of(right, 128)) == pair[0].jaccard(pair[1])


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9])
@pytest.mark.parametrize("num_perm", [64, 128])
def test_band_layout_equals_datasketch(threshold: float, num_perm: int) -> None:
    reference = datasketch.MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert lsh_params(threshold, num_perm) == (reference.b, reference.r)


def test_candidates_equal_datasketch_through_inserts_and_removals() -> None:
    sets = random_sets(120, seed=11)
    params = lsh_params(0.5, 128)
    ours, reference = MinHashLSH(128, params), datasketch.MinHashLSH(num_perm=128, params=params)
    sketches = []
    for i, items in enumerate(sets):
        mine = MinHash.of(items, 128)
        theirs = datasketch.MinHash(num_perm=128, scheme=SCHEME, hashvalues=mine.hashvalues)
        sketches.append((mine, theirs))
        ours.insert(f"k{i}", mine)
        reference.insert(f"k{i}", theirs)
    for i in range(0, 120, 3):
        ours.remove(f"k{i}")
        reference.remove(f"k{i}")
    assert "k0" not in ours and "k1" in ours
    for mine, theirs in sketches:
        assert ours.query(mine) == set(reference.query(theirs))
    with pytest.raises(ValueError):
        ours.insert("k1", sketches[1][0])


def test_the_services_do_not_import_datasketch() -> None:
    import subprocess
    import sys

    code = "import sys, services.ingest.app; print('datasketch' in sys.modules, 'scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    assert StoryIndex(None).config.num_perm in (64, 128)
