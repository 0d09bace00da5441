"""The local analysis tier as the analyze service runs it: on one worker thread, with the
process's embedding model.

The local tier is CPU work (jieba, sentence ranking, e5 embeddings). It runs on a single
dedicated thread so the event loop keeps serving other messages' LLM calls and publishes, and so
stories do not fight over the two cores; the tagging caches (example embeddings per language) are
then only ever touched by that thread.

Ingest embeds each story once and news.ingested carries the vector: the tagger uses it and does
not embed the story again (``usable_vector``). The process's embedder (``process_embedder()``) is
therefore deferred: its model is loaded only by the first embedding analyze really computes (the
taxonomy's example vectors when they are not kept on disk yet, a story whose event came without
a vector from this model); with the example vectors kept and every event carrying its vector, the
model is never loaded. ``LocalTier.warm_up()`` queues a first run in each language (jieba, the
domain dictionary, the example vectors) on the worker thread without waiting; the first story waits
behind it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache

import numpy as np
from numpy.typing import NDArray

from services.analyze.example_vectors import ExampleVectorStore
from shared.core.analysis_llm import StoryTexts
from shared.core.embeddings import Embedder, EmbedderUnavailable, decode_vector, encode_vector
from shared.core.local_analysis import LocalAnalysis, analyze_locally
from shared.core.tagging import ExampleIndex, example_index, example_texts
from shared.core.taxonomy import Taxonomy, load_taxonomy
from shared.events import StoryVector

log = logging.getLogger("newsroom.analyze")

_load_lock = threading.Lock()


@cache
def _load_embedder() -> Embedder | None:
    try:
        from shared.core.embeddings import DeferredEmbedder, make_embedder
    except ImportError as exc:
        log.warning("tagging without embeddings (trigger terms only): %s", exc)
        return None
    from shared.core.embeddings import MemoEmbedder
    from shared.embedding_metrics import count_embeddings

    # Counted: analyze embeds the taxonomy's examples once, and a story only when its event came
    # without the vector ingest computed (embeddings off at ingest, another model).
    from shared.settings import load_settings

    # the runtime ingest uses too: a story vector from another runtime has another name and
    # would be embedded again here
    settings = load_settings()
    model = make_embedder(settings.embedding, settings.data_dir)

    def loaded(inner: Embedder) -> None:
        log.info("embedding model loaded", extra={"embedder": inner.name, "dim": inner.dim})

    # Not loaded here: see the module's docstring (an unavailable model is reported when first needed).
    deferred = DeferredEmbedder(model, on_load=loaded)
    return MemoEmbedder(deferred, capacity=512, on_computed=count_embeddings("analyze"))


def process_embedder() -> Embedder | None:
    """The process's multilingual embedder (its model is loaded by its first ``embed``); None when
    the embedding code cannot be imported (tags then come from trigger terms)."""
    with _load_lock:
        return _load_embedder()


def usable_vector(vector: StoryVector | None, embedder: Embedder | None) -> NDArray[np.float32] | None:
    """The event's story vector as float32, when it comes from the same model as ``embedder``
    (vectors of different models are not comparable); None otherwise (the tagger then embeds)."""
    if vector is None or embedder is None or vector.model != embedder.name:
        return None
    try:
        return decode_vector(vector.data, vector.dim)
    except ValueError as exc:
        log.warning("story vector unusable, embedding the story instead: %s", exc)
        return None


# A first run per language loads jieba and the domain dictionary, and embeds the taxonomy's
# examples for that language (several seconds): better at start-up than on the first story.
_WARM_UP = {
    "en": ("OpenAI launches a model", "OpenAI launched a model. It is available today. Users can try it."),
    "zh": ("字节跳动发布新模型", "字节跳动发布了新模型。今天开放使用。用户可以试用。"),
}


def _log_failure(future: Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("local tier warm-up failed: %r", future.exception())


class LocalTier:
    def __init__(
        self,
        embedder: Callable[[], Embedder | None] = process_embedder,
        example_vectors: ExampleVectorStore | None = None,
    ) -> None:
        """``example_vectors``: where the taxonomy's example vectors are kept between runs (the
        service: under its data dir); None embeds them at every start."""
        self._embedder = embedder
        self._example_vectors = example_vectors
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analyze-local")
        self._unavailable_logged = False

    def analyze(self, story: StoryTexts, vector: StoryVector | None = None) -> LocalAnalysis:
        """Blocking: the local tier on the story's source-language title and body (or summary),
        tagging with the story's vector from ingest when it came from this process's model."""
        embedder = self._embedder()
        story_vector = usable_vector(vector, embedder)
        body = story.local_body()
        try:
            return analyze_locally(story.title, body, story.language, embedder, story_vector=story_vector)
        except EmbedderUnavailable as exc:  # the model was needed (no usable vector) and cannot load
            if not self._unavailable_logged:
                self._unavailable_logged = True
                log.warning("tagging without embeddings (trigger terms only) when a story needs one: %s", exc)
            return analyze_locally(story.title, body, story.language, None)

    async def run(self, story: StoryTexts, vector: StoryVector | None = None) -> LocalAnalysis:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.analyze, story, vector)

    def warm_up(self) -> Future[None]:
        """Queue the model load and a first run per language on the worker thread (no waiting)."""

        def job() -> None:
            embedder = self._embedder()
            taxonomy = load_taxonomy()
            vector: StoryVector | None = None
            if embedder is not None:
                # The model is needed for the taxonomy's examples only when they are not kept on
                # disk yet: stories come with their vector from ingest. If it had to be loaded,
                # unmap it before jieba's dictionary is loaded, so the two never sit in memory
                # together (peak RSS).
                try:
                    indexes = [self._example_index(embedder, taxonomy, language) for language in _WARM_UP]
                except EmbedderUnavailable as exc:
                    log.warning("tagging without embeddings (trigger terms only): %s", exc)
                    self._unavailable_logged = True
                else:
                    first = indexes[0].vectors[0]
                    vector = StoryVector(
                        model=embedder.name, dim=int(first.shape[0]), data=encode_vector(first)
                    )
                release = getattr(embedder, "release", None)
                if callable(release):
                    release()
            for language, (title, body) in _WARM_UP.items():
                self.analyze(StoryTexts(language=language, title=title, summary=None, body=body), vector)

        future = self._executor.submit(job)
        future.add_done_callback(_log_failure)
        return future

    def _example_index(self, embedder: Embedder, taxonomy: Taxonomy, language: str) -> ExampleIndex:
        store = self._example_vectors
        if store is None:
            return example_index(embedder, taxonomy, language)
        texts = example_texts(taxonomy, language)
        kept = store.load(embedder.name, language, texts, embedder.dim)
        index = example_index(embedder, taxonomy, language, vectors=kept)
        if kept is None:
            store.save(embedder.name, language, texts, index.vectors)
        return index

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
