"""What a consuming stage pays per message beyond its own work (issue 17): FastStream's consume
path without its Prometheus middleware (the stage's own counters say the same) and without a
worker-thread hop to hand the message to the handler. Against a real nats-server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from prometheus_client import generate_latest

from shared import subjects
from shared.events import StoryEvent
from shared.metrics import REGISTRY
from shared.pipeline import Outgoing, msg_id, publish_durably, register_stage, whole_message
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.service import new_service
from shared.settings import Settings
from tests.integration.test_delivery import event, stream_count, wait_for
from tests.support.inproc import running


def worker_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t is not threading.main_thread()}


async def test_a_stage_handles_messages_on_the_loop_and_counts_them_once(nats: EmbeddedServer) -> None:
    url = nats_url(nats)
    service = new_service("translate", Settings(nats_url=url), with_store=False)
    handled: list[str] = []

    async def handler(ev: StoryEvent) -> Sequence[Outgoing]:
        handled.append(ev.story_id)
        return [Outgoing(subjects.TRANSLATED, ev.next(), msg_id("translate", ev.event_id))]

    register_stage(
        service.broker,
        service.settings,
        stage="translate",
        subject=subjects.INGESTED,
        durable="translate",
        handler=handler,
    )
    received = REGISTRY.get_sample_value(
        "newsroom_events_received_total", {"stage": "translate", "subject": subjects.INGESTED}
    )
    stories = [f"overhead{i}" for i in range(20)]
    async with running(service):
        threads_before = worker_threads()
        for story in stories:
            await publish_durably(
                service.broker, Outgoing(subjects.INGESTED, event(story), f"in:{story}"), "t"
            )

        async def done() -> bool:
            return await stream_count(url, "NEWS_PIPELINE", subjects.TRANSLATED) == len(stories)

        await wait_for(done, timeout_s=60.0)
        await asyncio.sleep(0.5)
        new_threads = worker_threads() - threads_before
    assert sorted(handled) == sorted(stories)
    # FastStream fetched the handler's NatsMessage argument on an AnyIO worker thread.
    assert not [name for name in new_threads if "AnyIO" in name], new_threads
    # One set of counters: the stage's own. FastStream's middleware added faststream_* series.
    exposition = generate_latest(REGISTRY).decode()
    assert "faststream_" not in exposition
    after = REGISTRY.get_sample_value(
        "newsroom_events_received_total", {"stage": "translate", "subject": subjects.INGESTED}
    )
    assert (after or 0.0) - (received or 0.0) == len(stories)


async def test_the_stage_decoder_hands_on_the_message_itself() -> None:
    class Message:
        body = b"[" * 50_000  # not parsed: a deeply nested body reaches consume (dead-letter)

    message = Message()
    assert await whole_message(message) is message
