"""analyze: bilingual summary, the "Analysis / 深度分析" commentary, tags, entities and key phrases.

The local tier always runs (shared.core.local_analysis, on a worker thread with the process's
embedding model); the LLM tier adds the summary and commentary in both languages when a model is
configured for the "analyze" task. Without one, the local tier's output is forwarded (status
partial) and commentary_reason says why and how to configure one (logged once at start-up).
An LLM outage raises LLMUnavailable: the pipeline nacks with a delay and the message waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from services.analyze.example_vectors import ExampleVectorStore
from services.analyze.local_tier import LocalTier
from services.analyze.usecase import AnalyzeUseCase
from shared import subjects
from shared.core.bilingual import NO_MODEL_REASON  # reader-safe; the operator advice is logged
from shared.events import StoryEvent
from shared.llm import load_glossary, load_prompt
from shared.llm.wiring import llm_stage, warn_if_model_idle
from shared.pipeline import Outgoing, document_publisher, msg_id, register_stage
from shared.service import Service
from shared.settings import Settings

log = logging.getLogger("newsroom.analyze")

TASK = "analyze"
PROMPT = "analyze"


def build(settings: Settings | None = None, local_tier: LocalTier | None = None) -> Service:
    service, llm = llm_stage("analyze", TASK, settings)
    kept: ExampleVectorStore | None = None
    if local_tier is None:  # embeddings off: trigger-term tagging only (NEWSROOM_EMBEDDINGS=false)
        if service.settings.embeddings:
            kept = ExampleVectorStore(service.settings.data_dir / "cache" / "taxonomy-examples")
            local_tier = LocalTier(example_vectors=kept)
        else:
            local_tier = LocalTier(embedder=lambda: None)
    local = local_tier
    usecase = AnalyzeUseCase(
        llm.gateway, load_prompt(PROMPT), load_glossary(), local, unavailable_reason=NO_MODEL_REASON
    )

    async def start() -> None:
        if kept is not None:
            # The taxonomy's example vectors not kept yet (the first start of a data dir, a new
            # taxonomy or model) are embedded by a child process, before any story is consumed:
            # this process then loads the embedding model only for a story that comes without a
            # usable vector (services/analyze/example_vectors.py, local_tier.py).
            settings = service.settings
            await asyncio.to_thread(kept.fill_in_child, settings.embedding, settings.data_dir)
        local.warm_up()
        if llm.gateway is None:
            log.warning("analysis commentary disabled: %s; the local tier's output is published", llm.reason)
        else:
            warn_if_model_idle(service, log)
            log.info(
                "analyzing with %s at %s (prompt %s, response format %s, concurrency %d)",
                llm.gateway.model,
                llm.gateway.base_url,
                usecase.template.id,
                service.settings.llm.response_format,
                service.settings.llm.concurrency,
            )

    async def stop() -> None:
        local.close()

    service.startup.append(start)
    service.shutdown.append(stop)

    async def handle(event: StoryEvent) -> Sequence[Outgoing]:
        analysis = await usecase.analyze(event)
        # The story vector's last user is this stage (tagging): later events go without it (~1 KB).
        analyzed = event.next(analysis=analysis, vector=None)
        return [Outgoing(subjects.ANALYZED, analyzed, msg_id("analyze", event.event_id))]

    register_stage(
        service.broker,
        service.settings,
        stage="analyze",
        subject=subjects.TRANSLATED,
        durable="analyze",
        handler=handle,
        description="Translated stories to analyze",
    )
    document_publisher(service.broker, subjects.ANALYZED, "Story with its analysis section", StoryEvent)
    return service
