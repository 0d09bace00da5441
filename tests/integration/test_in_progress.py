"""A message is never redelivered while this process works on it (shared.pipeline's in-progress
acks), against a real nats-server: handlers that take several ack_waits, and messages fetched
while every worker is busy (they wait in FastStream's buffer), are each handled exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import nats.errors
import pytest

from shared import subjects
from shared.events import StoryEvent
from shared.metrics import REGISTRY
from shared.pipeline import InProgressKeeper, Outgoing, _quiet_fetch, msg_id, publish_durably, register_stage
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.service import new_service
from shared.settings import DeliverySettings, Settings, StageDelivery
from tests.integration.test_delivery import event, stream_count, wait_for
from tests.support.inproc import running
from tests.support.stack import pipeline_consumers


def sample(name: str, stage: str) -> float:
    return REGISTRY.get_sample_value(name, {"stage": stage}) or 0.0


async def test_slow_handlers_keep_their_messages(nats: EmbeddedServer) -> None:
    url = nats_url(nats)
    # ack_wait 2 s; each handler takes 5 s; two workers for five messages, so three of them wait
    # (fetched) for a worker for up to 10 s: all far beyond ack_wait. (In-progress acks go every
    # ack_wait/3: with 2 s a loaded machine may delay one by over a second without a redelivery.)
    slow = StageDelivery(max_deliver=3, ack_wait_s=2.0, batch_size=5, workers=2, retry_delay_s=0.05)
    settings = Settings(nats_url=url, delivery=DeliverySettings(translate=slow))
    service = new_service("translate", settings, with_store=False)
    deliveries: dict[str, list[int]] = {}

    async def handler(ev: StoryEvent) -> Sequence[Outgoing]:
        deliveries.setdefault(ev.story_id, []).append(1)
        await asyncio.sleep(5.0)
        return [Outgoing(subjects.TRANSLATED, ev.next(), msg_id("translate", ev.event_id))]

    register_stage(
        service.broker,
        service.settings,
        stage="translate",
        subject=subjects.INGESTED,
        durable="translate",
        handler=handler,
    )
    redelivered_before = sample("newsroom_redeliveries_total", "translate")
    beats_before = sample("newsroom_in_progress_acks_total", "translate")
    stories = [f"slow{i}" for i in range(5)]
    async with running(service):
        for story in stories:
            await publish_durably(
                service.broker, Outgoing(subjects.INGESTED, event(story), f"in:{story}"), "t"
            )

        async def done() -> bool:
            return await stream_count(url, "NEWS_PIPELINE", subjects.TRANSLATED) == len(stories)

        async def all_acknowledged() -> bool:
            pending, unacknowledged = (await pipeline_consumers(url))["translate"]
            return pending == 0 and unacknowledged == 0

        await wait_for(done, timeout_s=90.0)
        # Every message is acknowledged: any redelivery there was has been handled (and counted).
        await wait_for(all_acknowledged)
    assert deliveries == {story: [1] for story in stories}
    assert sample("newsroom_redeliveries_total", "translate") == redelivered_before
    assert sample("newsroom_redelivered_while_handled_total", "translate") == 0
    assert sample("newsroom_in_progress_acks_total", "translate") > beats_before


class FakeMessage:
    def __init__(self) -> None:
        self._ackd = False
        self.beats = 0

    async def in_progress(self) -> None:
        self.beats += 1


async def test_keeper_stops_at_settled_messages_and_after_max_handling() -> None:
    now = [0.0]
    keeper = InProgressKeeper("translate", 10.0, max_handling_s=100.0, clock=lambda: now[0])
    working, settled = FakeMessage(), FakeMessage()
    keeper.hold([working, settled])
    settled._ackd = True
    assert await keeper.beat() == 1 and working.beats == 1 and settled.beats == 0
    now[0] = 101.0  # a handler stuck for longer than max_handling_s lets its message go
    assert await keeper.beat() == 0 and working.beats == 1 and not keeper.held


async def test_idle_fetch_timeout_is_the_one_faststream_handles() -> None:
    async def idle_fetch(*args: object, **kwargs: object) -> list[object]:
        raise TimeoutError  # what nats-py 2.16 raises from an idle fetch at times

    keeper = InProgressKeeper("translate", 10.0, max_handling_s=100.0)
    with pytest.raises(nats.errors.TimeoutError):
        await _quiet_fetch(idle_fetch, keeper)(batch=1, timeout=0.1)
