"""ingest: polls the configured sources (sources.yaml), fetches politely and safely, parses feeds,
extracts full text for teasers, normalises, clusters stories, and emits ``news.ingested`` (a new
story) or ``news.story.joined`` (an article of a known story). Also answers ``news.submit``
(ingest one URL on demand). See services/ingest/engine.py for the rules."""

from __future__ import annotations

import asyncio
import logging
import time

from faststream.nats.annotations import NatsMessage

from services.ingest.engine import Ingestor
from services.ingest.index_store import IndexStore
from services.ingest.sources_config import resolve_sources
from shared import subjects
from shared.adapters.fetch import Fetcher
from shared.core.clustering import StoryIndex
from shared.events import StoryEvent, StoryRevised, SubmitReply, SubmitRequest
from shared.pipeline import Outgoing, document_publisher, publish_durably
from shared.service import Service, new_service
from shared.settings import Settings
from shared.storage import INGEST_STATE, SINGLE_PASS_ID

log = logging.getLogger("newsroom.ingest")


def make_index(settings: Settings) -> StoryIndex:
    """The story index with the multilingual embedder when it can be loaded; without it the
    index still matches URLs and near-duplicates (and says so in the log)."""
    if not settings.embeddings:
        log.info("cross-lingual clustering off (NEWSROOM_EMBEDDINGS=false): URL and near-duplicate only")
        return StoryIndex(None)
    try:
        from shared.core.embeddings import EmbedderUnavailable, MemoEmbedder, make_embedder
        from shared.embedding_metrics import count_embeddings

        model = make_embedder(settings.embedding, settings.data_dir)
        model.embed(["warm-up"])  # load once at start-up, not on the first article
        # Remembers the vectors the clustering computes, so news.ingested carries the story's vector.
        return StoryIndex(MemoEmbedder(model, on_computed=count_embeddings("ingest")))
    except (ImportError, EmbedderUnavailable) as exc:
        log.warning("cross-lingual clustering disabled: embedder unavailable", extra={"error": str(exc)})
        return StoryIndex(None)


def build(settings: Settings | None = None) -> Service:
    service = new_service("ingest", settings)
    store = service.store
    assert store is not None, "ingest needs MongoDB"
    state: dict[str, Ingestor] = {}
    ready = asyncio.Event()

    async def publish(out: Outgoing) -> bool:
        return await publish_durably(service.broker, out, "ingest")

    async def start_engine() -> None:
        sources, origin = await resolve_sources(service.settings)
        log.info(
            "sources loaded",
            extra={"origin": origin, "sources": len(sources.sources), "enabled": len(sources.enabled())},
        )
        fetcher = Fetcher(
            service.settings.ingest.user_agent,
            mirrors=sources.mirrors,
            per_host_interval_s=service.settings.ingest.per_host_interval_s,
        )
        index = await asyncio.to_thread(make_index, service.settings)
        engine = Ingestor(sources, fetcher, store, index, publish, index_store=IndexStore(store))
        await engine.load_state()
        state["engine"] = engine
        ready.set()

    async def stop_engine() -> None:
        if "engine" in state:
            await state["engine"].fetcher.aclose()
            state["engine"].close()

    async def poll_loop() -> None:
        await ready.wait()
        await state["engine"].run(poll=service.settings.ingest.poll)
        if not service.settings.ingest.poll:
            # Every source was polled once and its articles handed on: `newsroom up --once` waits
            # for this, not only for quiet consumers (a slow source can leave the stream quiet).
            await store.upsert(INGEST_STATE, SINGLE_PASS_ID, {"finished_at": time.time()})

    service.startup.append(start_engine)
    service.shutdown.append(stop_engine)
    service.background.append(poll_loop)

    # A queue group: with several ingest processes, one of them answers each request.
    @service.broker.subscriber(
        subjects.SUBMIT,
        queue="ingest",
        title="news.submit",
        description="Ingest one URL on demand (request/reply)",
    )
    async def on_submit(msg: NatsMessage) -> SubmitReply:
        try:
            request = SubmitRequest.model_validate_json(msg.raw_message.data)
        except ValueError as exc:
            return SubmitReply(ok=False, outcome="invalid_request", error=str(exc)[:500])
        await ready.wait()
        try:
            return await state["engine"].submit(request)
        except Exception as exc:  # the caller gets the reason; the service goes on
            log.exception("submit failed", extra={"url": request.url})
            return SubmitReply(ok=False, outcome="error", error=f"{type(exc).__name__}: {exc}"[:500])

    document_publisher(service.broker, subjects.INGESTED, "A new story's first article", StoryEvent)
    document_publisher(
        service.broker, subjects.STORY_JOINED, "An article that joined a known story", StoryEvent
    )
    document_publisher(
        service.broker,
        subjects.STORY_REVISED,
        "A story whose members a revised clustering decision changed (one per story and revision)",
        StoryRevised,
    )
    return service
