"""Delivery rules of shared.pipeline against a real nats-server: dead letters after max_deliver,
schema violations dead-lettered at once, outages wait instead of dead-lettering, Nats-Msg-Id dedup."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import nats as nats_client
import pytest

from shared import subjects
from shared.events import Article, Cluster, StoryEvent, StoryMember
from shared.pipeline import OutageError, Outgoing, msg_id, publish_durably, register_stage
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.service import new_service
from shared.settings import DeliverySettings, Settings, StageDelivery
from tests.support.inproc import running
from tests.support.waits import WAIT_S

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def event(story: str) -> StoryEvent:
    article = Article(
        article_id=f"a-{story}",
        source_id="s",
        source_name="S",
        url=f"https://x.org/{story}",
        canonical_url=f"https://x.org/{story}",
        title=f"Story {story}",
        language="en",
        fetched_at=NOW,
    )
    member = StoryMember(
        article_id=article.article_id,
        source_id="s",
        source_name="S",
        url=article.url,
        title=article.title,
        language="en",
        joined_at=NOW,
    )
    return StoryEvent(
        story_id=story,
        article_id=article.article_id,
        article=article,
        cluster=Cluster(story_id=story, is_new=True, method="new", members=[member]),
    )


def settings_for(url: str) -> Settings:
    fast = StageDelivery(max_deliver=3, ack_wait_s=5.0, batch_size=4, retry_delay_s=0.05)
    return Settings(
        nats_url=url, delivery=DeliverySettings(translate=fast, outage_retry_delay_s=0.05, poison_after=50)
    )


async def wait_for(predicate, timeout_s: float = WAIT_S) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def stream_count(url: str, stream: str, subject: str) -> int:
    nc = await nats_client.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream, subjects_filter=subject)
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


async def dlq_letters(url: str) -> list[dict[str, object]]:
    nc = await nats_client.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("NEWS_DLQ")
        return [
            json.loads((await js.get_msg("NEWS_DLQ", seq)).data or b"{}")
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
            if info.state.messages
        ]
    finally:
        await nc.close()


async def test_failing_handler_is_dead_lettered_after_max_deliver_and_the_rest_flows(
    nats: EmbeddedServer,
) -> None:
    url = nats_url(nats)
    service = new_service("translate", settings_for(url), with_store=False)
    attempts: dict[str, int] = {}

    async def handler(ev: StoryEvent) -> Sequence[Outgoing]:
        attempts[ev.story_id] = attempts.get(ev.story_id, 0) + 1
        if ev.story_id == "poison":
            raise RuntimeError("this story always breaks the handler")
        return [Outgoing(subjects.TRANSLATED, ev.next(), msg_id("translate", ev.event_id))]

    register_stage(
        service.broker,
        service.settings,
        stage="translate",
        subject=subjects.INGESTED,
        durable="translate",
        handler=handler,
    )
    async with running(service):
        for story in ("s1", "poison", "s2", "s3"):
            await publish_durably(
                service.broker, Outgoing(subjects.INGESTED, event(story), f"in:{story}"), "test"
            )

        async def settled() -> bool:
            return (
                await stream_count(url, "NEWS_PIPELINE", subjects.TRANSLATED) == 3
                and len(await dlq_letters(url)) == 1
            )

        await wait_for(settled)
    letters = await dlq_letters(url)
    assert attempts["poison"] == 3
    assert letters[0]["stage"] == "translate" and letters[0]["deliveries"] == 3
    assert "always breaks" in str(letters[0]["error"])
    assert letters[0]["story_id"] == "poison"


async def test_schema_violation_goes_to_dlq_at_once_with_the_validation_error(nats: EmbeddedServer) -> None:
    from services.translate.app import build

    url = nats_url(nats)
    service = build(settings_for(url))
    async with running(service):
        nc = await nats_client.connect(url)
        js = nc.jetstream()
        await js.publish(subjects.INGESTED, b'{"story_id": 42, "article": "not an article"}')
        await js.publish(subjects.INGESTED, b"\xff\xfe not json at all")
        await js.publish(subjects.INGESTED, event("good").model_dump_json().encode())
        await nc.close()

        async def settled() -> bool:
            return (
                len(await dlq_letters(url)) == 2
                and await stream_count(url, "NEWS_PIPELINE", subjects.TRANSLATED) == 1
            )

        await wait_for(settled)
    letters = await dlq_letters(url)
    assert all(letter["deliveries"] == 1 for letter in letters)
    assert all("invalid news.ingested event" in str(letter["error"]) for letter in letters)
    assert "article" in str(letters[0]["error"])


async def test_outage_waits_instead_of_dead_lettering(nats: EmbeddedServer) -> None:
    url = nats_url(nats)
    service = new_service("translate", settings_for(url), with_store=False)
    calls = {"n": 0}

    async def handler(ev: StoryEvent) -> Sequence[Outgoing]:
        calls["n"] += 1
        if calls["n"] <= 8:  # well past max_deliver=3
            raise OutageError("model endpoint down")
        return [Outgoing(subjects.TRANSLATED, ev.next(), msg_id("translate", ev.event_id))]

    register_stage(
        service.broker,
        service.settings,
        stage="translate",
        subject=subjects.INGESTED,
        durable="translate",
        handler=handler,
    )
    async with running(service):
        await publish_durably(service.broker, Outgoing(subjects.INGESTED, event("o1"), "in:o1"), "test")

        async def done() -> bool:
            return await stream_count(url, "NEWS_PIPELINE", subjects.TRANSLATED) == 1

        await wait_for(done)
    assert calls["n"] == 9
    assert await dlq_letters(url) == []


async def test_duplicate_message_id_is_dropped_by_the_stream(nats: EmbeddedServer) -> None:
    url = nats_url(nats)
    service = new_service("ingest", Settings(nats_url=url), with_store=False)
    async with running(service):
        first = await publish_durably(
            service.broker, Outgoing(subjects.INGESTED, event("d"), "ingest:a-d"), "ingest"
        )
        again = await publish_durably(
            service.broker, Outgoing(subjects.INGESTED, event("d"), "ingest:a-d"), "ingest"
        )
    assert (first, again) == (True, False)
    assert await stream_count(url, "NEWS_PIPELINE", subjects.INGESTED) == 1


@pytest.mark.parametrize("driver", ["pymongo", "motor"])
async def test_mongo_store_conformance(mongo_server: str, mongo_db_name: str, driver: str) -> None:
    from shared.storage import ITEMS, MongoStore

    store = MongoStore(mongo_server, mongo_db_name, driver)  # type: ignore[arg-type]
    try:
        assert await store.ping()
        await store.ensure_indexes()
        assert len(await store.index_names(ITEMS)) >= 2
        assert await store.replace_if_version(ITEMS, {"_id": "a", "version": 1, "v": "x"}, None)
        assert not await store.replace_if_version(ITEMS, {"_id": "a", "version": 1, "v": "y"}, None)
        assert await store.replace_if_version(ITEMS, {"_id": "a", "version": 2, "v": "z"}, 1)
        assert not await store.replace_if_version(ITEMS, {"_id": "a", "version": 3, "v": "w"}, 1)
        await store.upsert(ITEMS, "b", {"v": "first"})
        await store.upsert(ITEMS, "b", {"v": "first"})  # idempotent on redelivery
        assert await store.collection(ITEMS).count_documents({}) == 2
        assert (await store.get(ITEMS, "a")) == {"_id": "a", "version": 2, "v": "z"}
        rows = await store.aggregate(
            ITEMS, [{"$match": {"v": {"$in": ["z", "first"]}}}, {"$sort": {"_id": 1}}]
        )
        assert [r["_id"] for r in rows] == ["a", "b"]
    finally:
        await store.db.client.drop_database(mongo_db_name) if hasattr(store.db, "client") else None
        await store.close()
