"""translate: adds the missing language (zh↔en) to title, summary and body.

The LLM gateway is built from the settings at start-up; without an LLM configured every story is
forwarded with ``translation.status = unavailable`` and the reason (logged once at start-up).
An LLM outage raises LLMUnavailable, which the pipeline treats as an outage: the message waits
(nack with a delay) and is never dead-lettered for it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from services.translate.usecase import TranslateUseCase
from shared import subjects
from shared.events import StoryEvent
from shared.llm import LLMGateway, MongoLLMCache, load_glossary, load_prompt, not_configured_reason
from shared.llm.cache import LLMCache
from shared.pipeline import Outgoing, document_publisher, msg_id, register_stage
from shared.service import Service, new_service
from shared.settings import Settings, load_settings
from shared.storage import MongoStore

log = logging.getLogger("newsroom.translate")

TASK = "translate"
PROMPT = "translate"


def build(settings: Settings | None = None) -> Service:
    settings = settings or load_settings()
    reason = not_configured_reason(settings.llm, TASK)
    # The LLM cache lives in MongoDB: only worth a connection when there is an LLM to cache.
    service = new_service("translate", settings, with_store=reason is None)
    gateway: LLMGateway | None = None
    if reason is None:
        cache: LLMCache | None = (
            MongoLLMCache(service.store) if isinstance(service.store, MongoStore) else None
        )
        gateway = LLMGateway(service.settings.llm, TASK, cache=cache)
    usecase = TranslateUseCase(gateway, load_glossary(), load_prompt(PROMPT), unavailable_reason=reason or "")

    async def announce() -> None:
        if gateway is None:
            log.warning("translation disabled: %s; stories are forwarded with status unavailable", reason)
        else:
            workers = service.settings.delivery.translate.workers
            if workers < 2 * service.settings.llm.concurrency:
                # While one message waits on the model, others do their cache look-up, QA checks
                # and publish: with only as many messages as model slots, slots sit idle.
                log.warning(
                    "translate handles %d messages at once for %d concurrent LLM requests: set "
                    "NEWSROOM_DELIVERY__TRANSLATE__WORKERS to about %d to keep the model busy",
                    workers,
                    service.settings.llm.concurrency,
                    2 * service.settings.llm.concurrency,
                )
            log.info(
                "translating with %s at %s (prompt %s, response format %s, concurrency %d)",
                gateway.model,
                gateway.base_url,
                usecase.template.id,
                service.settings.llm.response_format,
                service.settings.llm.concurrency,
            )

    async def close() -> None:
        if gateway is not None:
            await gateway.aclose()

    service.startup.append(announce)
    service.shutdown.append(close)

    async def handle(event: StoryEvent) -> Sequence[Outgoing]:
        translation = await usecase.translate(event.article)
        return [
            Outgoing(
                subjects.TRANSLATED, event.next(translation=translation), msg_id("translate", event.event_id)
            )
        ]

    # NEWSROOM_DELIVERY__TRANSLATE__WORKERS messages are handled at once; about twice
    # NEWSROOM_LLM__CONCURRENCY keeps the model busy (bench/translate.py: 94% of the bound vs 79%).
    register_stage(
        service.broker,
        service.settings,
        stage="translate",
        subject=subjects.INGESTED,
        durable="translate",
        handler=handle,
        description="New stories to translate",
    )
    document_publisher(service.broker, subjects.TRANSLATED, "Story with its translation section", StoryEvent)
    return service
