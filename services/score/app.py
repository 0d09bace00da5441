"""score: Hot, Quality and Impact for new stories, re-scores when a story gains sources, a
periodic re-score of young stories as their Hot decays, and the members of revised stories
(decisions in services/score/usecase.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from services.score.repository import MongoScoreStates
from services.score.rubric import LLMRubricJudge
from services.score.usecase import Clock, RubricJudge, ScoreUseCase
from shared import subjects
from shared.events import StoryEvent, StoryRevised, utcnow
from shared.llm import LLMGateway, MongoLLMCache
from shared.pipeline import Outgoing, document_publisher, publish_durably, register_stage
from shared.service import Service, new_service
from shared.settings import Settings

log = logging.getLogger("newsroom.score")


def build(settings: Settings | None = None, now: Clock = utcnow, judge: RubricJudge | None = None) -> Service:
    """The score service. ``now`` is the clock of every score computation (tests move it)."""
    service = new_service("score", settings)
    store = service.store
    assert store is not None
    cfg = service.settings.score
    if judge is None:  # an LLM configured for "score": one rubric call per story, cached
        gateway = LLMGateway.from_settings(service.settings.llm, "score", MongoLLMCache(store))
        if gateway is not None:
            judge = LLMRubricJudge(gateway)
            service.shutdown.append(gateway.aclose)
    usecase = ScoreUseCase(
        repository=MongoScoreStates(store),
        min_change=cfg.min_change_points,
        rescore_window_h=cfg.rescore_window_h,
        now=now,
        judge=judge,
    )

    async def on_analyzed(event: StoryEvent) -> Sequence[Outgoing]:
        return await usecase.analyzed(event)

    async def on_joined(event: StoryEvent) -> Sequence[Outgoing]:
        return await usecase.joined(event)

    async def on_revised(revision: StoryRevised) -> Sequence[Outgoing]:
        # It may publish a decay event recorded before the revision, before storing it (see
        # ScoreUseCase.revised); the pipeline acks after it returns.
        return await usecase.revised(revision, publish)

    async def publish(out: Outgoing) -> bool:
        return await publish_durably(service.broker, out, "score")

    async def rescore_young_stories() -> None:
        # Sleep first: a restarted process does not add a burst of work to the one it catches up on.
        while True:
            await asyncio.sleep(cfg.rescore_interval_s)
            report = await usecase.decay_pass(publish)
            if report.published:
                log.info(
                    "decay re-score",
                    extra={
                        "scanned": report.scanned,
                        "published": report.published,
                        "conflicts": report.skipped_conflict,
                    },
                )

    service.background.append(rescore_young_stories)
    register_stage(
        service.broker,
        service.settings,
        stage="score",
        subject=subjects.ANALYZED,
        durable="score",
        handler=on_analyzed,
        description="Analyzed stories to score",
    )
    register_stage(
        service.broker,
        service.settings,
        stage="score",
        subject=subjects.STORY_JOINED,
        durable="score-joined",
        handler=on_joined,
        description="Articles that joined a known story: re-score, no LLM work",
    )
    register_stage(
        service.broker,
        service.settings,
        stage="score",
        subject=subjects.STORY_REVISED,
        durable="score-revised",
        handler=on_revised,
        description="Stories whose members a revised clustering decision changed (state only, no event)",
        event_model=StoryRevised,
    )
    document_publisher(
        service.broker, subjects.SCORED, "Story with scores (trigger: analyzed, joined or decay)", StoryEvent
    )
    return service
