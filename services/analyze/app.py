"""analyze: bilingual summary, commentary, tags, entities and key phrases."""

from __future__ import annotations

from collections.abc import Sequence

from shared import subjects
from shared.events import Analysis, SectionStatus, StoryEvent
from shared.pipeline import Outgoing, document_publisher, msg_id, register_stage
from shared.service import Service, new_service
from shared.settings import Settings


def build(settings: Settings | None = None) -> Service:
    service = new_service("analyze", settings, with_store=False)

    async def handle(event: StoryEvent) -> Sequence[Outgoing]:
        analysis = Analysis(
            status=SectionStatus.UNAVAILABLE, reason="analysis not implemented yet",
            commentary_reason="no LLM configured",
        )
        return [Outgoing(subjects.ANALYZED, event.next(analysis=analysis), msg_id("analyze", event.event_id))]

    register_stage(service.broker, service.settings, stage="analyze", subject=subjects.TRANSLATED,
                   durable="analyze", handler=handle, description="Translated stories to analyze")
    document_publisher(service.broker, subjects.ANALYZED, "Story with its analysis section", StoryEvent)
    return service
