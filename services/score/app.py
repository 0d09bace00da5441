"""score: Hot, Quality and Impact for new stories and re-scores when a story gains sources."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared import subjects
from shared.events import Cluster, Scores, SectionStatus, StoryEvent, StoryMember, utcnow
from shared.pipeline import Outgoing, document_publisher, msg_id, register_stage
from shared.service import Service, new_service
from shared.settings import Settings
from shared.storage import SCORE_STATE, MongoStore


def union_members(stored: list[dict[str, Any]], members: list[StoryMember]) -> list[StoryMember]:
    by_id = {m["article_id"]: StoryMember.model_validate(m) for m in stored}
    for member in members:
        by_id.setdefault(member.article_id, member)
    return sorted(by_id.values(), key=lambda m: (m.joined_at, m.article_id))


async def story_members(store: MongoStore, event: StoryEvent) -> tuple[dict[str, Any] | None, list[StoryMember]]:
    """The story's members as this stage knows them (earlier joins included), plus its state."""
    state = await store.get(SCORE_STATE, event.story_id)
    return state, union_members((state or {}).get("members", []), event.cluster.members)


def build(settings: Settings | None = None) -> Service:
    service = new_service("score", settings)
    store = service.store
    assert store is not None

    async def score(event: StoryEvent, trigger: str) -> Sequence[Outgoing]:
        _, members = await story_members(store, event)
        scores = Scores(
            status=SectionStatus.UNAVAILABLE, reason="scoring not implemented yet",
            trigger=trigger,  # type: ignore[arg-type]
            computed_at=utcnow(),
        )
        await store.upsert(SCORE_STATE, event.story_id, {
            "members": [m.model_dump(mode="python") for m in members],
            "first_seen_at": members[0].joined_at if members else event.article.fetched_at,
        })
        cluster = Cluster(**{**event.cluster.model_dump(), "members": members})
        out = event.next(scores=scores, cluster=cluster)
        return [Outgoing(subjects.SCORED, out, msg_id("score", event.event_id))]

    async def on_analyzed(event: StoryEvent) -> Sequence[Outgoing]:
        return await score(event, "analyzed")

    async def on_joined(event: StoryEvent) -> Sequence[Outgoing]:
        return await score(event, "joined")

    register_stage(service.broker, service.settings, stage="score", subject=subjects.ANALYZED,
                   durable="score", handler=on_analyzed, description="Analyzed stories to score")
    register_stage(service.broker, service.settings, stage="score", subject=subjects.STORY_JOINED,
                   durable="score-joined", handler=on_joined,
                   description="Articles that joined a known story: re-score, no LLM work")
    document_publisher(service.broker, subjects.SCORED, "Story with scores (new or re-scored)", StoryEvent)
    return service
