"""translate: adds the missing language (zh↔en) to title, summary and body.

The LLM gateway is built from the settings at start-up; without an LLM configured every story is
forwarded with ``translation.status = unavailable`` and the reason (logged once at start-up).
An LLM outage raises LLMUnavailable, which the pipeline treats as an outage: the message waits
(nack with a delay) and is never dead-lettered for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from services.translate.usecase import TranslateUseCase, source_wait
from shared import subjects
from shared.events import StoryEvent, StoryMember, utcnow
from shared.llm import load_glossary, load_prompt
from shared.llm.wiring import llm_stage, warn_if_model_idle
from shared.pipeline import Outgoing, document_publisher, msg_id, register_stage
from shared.service import Service
from shared.settings import Settings
from shared.storage import STORIES, MongoStore

log = logging.getLogger("newsroom.translate")

TASK = "translate"
PROMPT = "translate"


def build(settings: Settings | None = None) -> Service:
    service, llm = llm_stage("translate", TASK, settings)
    gateway = llm.gateway
    # The reader-facing reason is the usecase's short one; the operator advice (llm.reason) is
    # logged at start-up.
    usecase = TranslateUseCase(gateway, load_glossary(), load_prompt(PROMPT))
    store = service.store
    settings_ = service.settings

    async def members_of(event: StoryEvent) -> list[StoryMember]:
        """The story's members now: the event's cluster plus those that joined since (ingest's
        story record), so a language a member already covers costs no model call."""
        members = {m.article_id: m for m in event.cluster.members}
        if isinstance(store, MongoStore):
            stored = await store.get(STORIES, event.story_id)
            for raw in (stored or {}).get("members", []):
                member = StoryMember.model_validate(raw)
                members.setdefault(member.article_id, member)
        return list(members.values())

    async def announce() -> None:
        if gateway is None:
            log.warning("translation disabled: %s; stories are forwarded with status unavailable", llm.reason)
            return
        warn_if_model_idle(service, log)
        log.info(
            "translating with %s at %s (prompt %s, response format %s, concurrency %d)",
            gateway.model,
            gateway.base_url,
            usecase.template.id,
            service.settings.llm.response_format,
            service.settings.llm.concurrency,
        )

    service.startup.append(announce)

    async def handle(event: StoryEvent) -> Sequence[Outgoing]:
        if not service.settings.translate.source_text:
            members: list[StoryMember] = []  # forced model tier (comparisons)
        elif gateway is not None:
            members = await members_of(event)
            age = (utcnow() - event.occurred_at).total_seconds()
            wait = source_wait(
                event.article, members, usecase.glossary, age, settings_.translate.source_wait_s
            )
            if wait > 0:  # give the other-language member of the same pass time to join
                await asyncio.sleep(wait)
                members = await members_of(event)
        else:
            members = list(event.cluster.members)
        translation = await usecase.translate(event.article, members)
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
