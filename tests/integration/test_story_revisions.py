"""news.story.revised through the publish service on a real nats-server (JetStream) and nx-27017:
the item gets exactly the revision's members and an updated event with the reason; a repeated
revision (same Nats-Msg-Id: dropped by the stream; redelivered to the consumer: no new version)
and an older one change nothing; a member that left does not come back with a later re-score; an
ended story's item leaves the list and its address redirects; a broken revision is dead-lettered
with the reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats as nats_client

from services.publish.app import build as build_publish
from services.publish.read_api import create_read_app
from services.publish.revisions import MERGED_ITEMS
from shared import subjects
from shared.events import (
    Analysis,
    Article,
    Bilingual,
    Cluster,
    ScoreDetail,
    Scores,
    SectionStatus,
    StoryEvent,
    StoryMember,
    StoryRevised,
    Tag,
    Translation,
)
from shared.items import Item
from shared.pipeline import Outgoing, publish_durably
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.settings import DeliverySettings, Settings, StageDelivery
from shared.storage import ITEMS, MongoStore
from tests.support.inproc import running, wait_until
from tests.support.stack import pipeline_consumers, stream_messages

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def member(article_id: str, language: str, minutes: int, title: str) -> StoryMember:
    return StoryMember(
        article_id=article_id,
        source_id=f"src-{article_id}",
        source_name=f"Source {article_id}",
        url=f"https://{article_id}.example.com/news",
        title=title,
        language=language,  # type: ignore[arg-type]
        published_at=T0 + timedelta(minutes=minutes - 1),
        joined_at=T0 + timedelta(minutes=minutes),
    )


A1 = member("a1", "en", 0, "TSMC expands CoWoS advanced packaging capacity")
A2 = member("a2", "zh", 1, "台积电扩大CoWoS先进封装产能")
A3 = member("a3", "en", 2, "TSMC's packaging push draws new Nvidia orders")
A4 = member("a4", "en", 3, "TSMC to double CoWoS output next year")
B1 = member("b1", "en", 4, "TSMC opens a packaging plant in Arizona")


def scored_event(
    story_id: str,
    first: StoryMember,
    members: list[StoryMember],
    full: bool = True,
    *,
    minutes: int = 5,
    quality: float = 70.0,
) -> StoryEvent:
    article = Article(
        article_id=first.article_id,
        source_id=first.source_id,
        source_name=first.source_name,
        url=first.url,
        canonical_url=first.url,
        title=first.title,
        summary=f"{first.title}.",
        body=f"{first.title}. " * 30,
        language=first.language,
        published_at=first.published_at,
        fetched_at=first.joined_at,
    )
    return StoryEvent(
        story_id=story_id,
        article_id=first.article_id,
        article=article,
        cluster=Cluster(
            story_id=story_id, is_new=full, method="new" if full else "embedding", members=members
        ),
        translation=Translation(
            status=SectionStatus.OK, source_language="en", title=Bilingual(zh="台积电扩产")
        )
        if full
        else None,
        analysis=Analysis(
            status=SectionStatus.OK, tags=[Tag(id="chips", en="Chips", zh="芯片", source="local")]
        )
        if full
        else None,
        scores=Scores(
            status=SectionStatus.OK,
            hot=ScoreDetail(value=40.0, formula_version="hot-test"),
            quality=ScoreDetail(value=quality, formula_version="q-test"),
            impact=ScoreDetail(value=quality - 10, formula_version="i-test"),
            trigger="analyzed" if full else "joined",
            computed_at=T0 + timedelta(minutes=minutes),
        ),
    )


def revised(story_id: str, n: int, rows: list[StoryMember], **extra: Any) -> StoryRevised:
    return StoryRevised(
        story_id=story_id,
        revision=n,
        as_of=T0 + timedelta(minutes=10 + n),
        kind=extra.pop("kind", "moved"),
        member_ids=[m.article_id for m in rows],
        members=rows,
        **extra,
    )


async def payloads(url: str, stream: str, subject: str) -> list[dict[str, Any]]:
    """The payloads on ``subject`` itself and below it (``news.updated`` → ``news.updated.*``)."""
    found = await stream_messages(url, stream)
    return [data for name, data, _ in found if name == subject or name.startswith(f"{subject}.")]


async def publish_settled(url: str) -> None:
    """Until publish has acknowledged every message of the pipeline stream: what it announces
    for them (it acks only after that) is in NEWS_OUT by then."""

    async def idle() -> bool:
        consumers = await pipeline_consumers(url)
        return all(consumers.get(durable) == (0, 0) for durable in ("publish", "publish-revised"))

    await wait_until(idle)


async def test_revisions_reach_the_item_once_and_in_order(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str
) -> None:
    url = nats_url(nats)
    fast = StageDelivery(max_deliver=3, ack_wait_s=30.0, batch_size=4, retry_delay_s=0.05)
    settings = Settings(
        nats_url=url,
        mongo_url=mongo_server,
        mongo_db=mongo_db_name,
        delivery=DeliverySettings(publish=fast, outage_retry_delay_s=0.1),
    )
    store = MongoStore(mongo_server, mongo_db_name)
    service = build_publish(settings)

    async def source_ids(story_id: str) -> list[str]:
        doc = await store.get(ITEMS, story_id)
        return [s["article_id"] for s in doc["sources"]] if doc else []

    async def updates(story_id: str) -> list[dict[str, Any]]:
        return [
            p for p in await payloads(url, "NEWS_OUT", subjects.UPDATED_PREFIX) if p["story_id"] == story_id
        ]

    async def settle() -> None:
        await publish_settled(url)

    try:
        async with running(service):
            broker = service.broker

            async def send(subject: str, payload: Any, msg_id: str) -> bool:
                return await publish_durably(broker, Outgoing(subject, payload, msg_id), "test")

            await send(subjects.SCORED, scored_event("st-a", A1, [A1, A2, A3]), "t:a")
            await send(subjects.SCORED, scored_event("st-b", B1, [B1]), "t:b")

            async def both_published() -> bool:
                return await source_ids("st-a") == ["a1", "a2", "a3"] and await source_ids("st-b") == ["b1"]

            await wait_until(both_published)

            # Revision 1: a3 moved away, a4 moved in.
            rev1 = revised("st-a", 1, [A1, A2, A4], added=["a4"], removed=["a3"])
            assert await send(subjects.STORY_REVISED, rev1, rev1.msg_id())

            async def revised_once() -> bool:
                return await source_ids("st-a") == ["a1", "a2", "a4"]

            await wait_until(revised_once)
            await settle()
            first = await updates("st-a")
            assert len(first) == 1
            assert first[0]["reasons"][0] == "story_revised" and "source_added" in first[0]["reasons"]
            assert first[0]["item"]["version"] == 2

            # The same revision again: the stream drops it (same Nats-Msg-Id) ...
            assert not await send(subjects.STORY_REVISED, rev1, rev1.msg_id())
            # ... and a copy that reaches the consumer anyway (a redelivery) changes nothing.
            assert await send(subjects.STORY_REVISED, rev1, "t:rev1-again")
            # A re-score that still counts a3 (the score stage's state is a union of members).
            await send(subjects.SCORED, scored_event("st-a", A1, [A1, A2, A3], full=False), "t:rescore")
            # An older revision arriving after a newer one: revision 2 first, then 1 again.
            rev2 = revised("st-a", 2, [A1, A2, A3, A4], added=["a3"])
            rev1_late = revised("st-a", 1, [A1], removed=["a2", "a3", "a4"])
            assert await send(subjects.STORY_REVISED, rev2, rev2.msg_id())
            await settle()
            assert await source_ids("st-a") == ["a1", "a2", "a3", "a4"]  # a3 is back by revision 2
            assert await send(subjects.STORY_REVISED, rev1_late, "t:rev1-late")
            await settle()
            assert await source_ids("st-a") == ["a1", "a2", "a3", "a4"]
            versions = [u["item"]["version"] for u in await updates("st-a")]
            assert versions == sorted(set(versions))  # no version announced twice
            doc = await store.get(ITEMS, "st-a")
            assert doc is not None and doc["version"] == versions[-1]

            # st-b ends: all its members moved to st-a.
            end = revised("st-b", 1, [], kind="merged", removed=["b1"], merged_into="st-a")
            assert await send(subjects.STORY_REVISED, end, end.msg_id())

            async def retired() -> bool:
                return (
                    await store.get(ITEMS, "st-b") is None
                    and await store.get(MERGED_ITEMS, "st-b") is not None
                )

            await wait_until(retired)
            # A late re-score of the ended story does not bring its item back.
            await send(subjects.SCORED, scored_event("st-b", B1, [B1], full=False), "t:rescore-b")
            # A broken revision (an ended story cannot list members): dead-lettered with the reason.
            broken = revised("st-a", 3, [A1]).model_dump(mode="json")
            broken["merged_into"] = "st-b"
            nc = await nats_client.connect(url)
            try:
                await nc.jetstream().publish(subjects.STORY_REVISED, json.dumps(broken).encode())
            finally:
                await nc.close()
            await settle()
            assert await store.get(ITEMS, "st-b") is None
            merged_updates = await updates("st-b")
            letters = await payloads(url, "NEWS_DLQ", subjects.dlq("publish"))
    finally:
        app = create_read_app(store, settings)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api:
            listed = (await api.get("/api/v1/items")).json()["items"]
            api_item = await api.get("/api/v1/items/st-b")
            page = await api.get("/items/st-b?lang=en")
            followed = await api.get("/api/v1/items/st-b", follow_redirects=True)
        await store.client.drop_database(mongo_db_name)
        await store.close()

    assert [u["reasons"] for u in merged_updates] == [["merged"]]
    assert merged_updates[0]["item"]["status"] == "merged"
    assert merged_updates[0]["item"]["merged_into"] == "st-a"
    assert [i["id"] for i in listed] == ["st-a"]
    assert api_item.status_code == 307 and api_item.headers["location"] == "/api/v1/items/st-a"
    assert page.status_code == 307 and page.headers["location"] == "/items/st-a?lang=en"
    assert followed.status_code == 200 and followed.json()["id"] == "st-a"
    assert len(letters) == 1 and letters[0]["subject"] == subjects.STORY_REVISED
    assert "merged_into" in letters[0]["error"]


async def test_a_merged_story_that_a_later_revision_splits_off_comes_back(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str
) -> None:
    url = nats_url(nats)
    fast = StageDelivery(max_deliver=3, ack_wait_s=30.0, batch_size=4, retry_delay_s=0.05)
    settings = Settings(
        nats_url=url,
        mongo_url=mongo_server,
        mongo_db=mongo_db_name,
        delivery=DeliverySettings(publish=fast, outage_retry_delay_s=0.1),
    )
    store = MongoStore(mongo_server, mongo_db_name)
    service = build_publish(settings)
    try:
        async with running(service):

            async def send(subject: str, payload: Any, msg_id: str) -> None:
                await publish_durably(service.broker, Outgoing(subject, payload, msg_id), "test")

            async def listed_in(collection: str) -> bool:
                return await store.get(collection, "st-b") is not None

            await send(subjects.SCORED, scored_event("st-b", B1, [B1]), "t:b")
            await wait_until(lambda: listed_in(ITEMS))
            end = revised("st-b", 1, [], kind="merged", removed=["b1"], merged_into="st-a")
            await send(subjects.STORY_REVISED, end, end.msg_id())
            await wait_until(lambda: listed_in(MERGED_ITEMS))
            back = revised("st-b", 2, [B1], kind="split", added=["b1"])
            await send(subjects.STORY_REVISED, back, back.msg_id())

            async def returned() -> bool:
                return await listed_in(ITEMS) and not await listed_in(MERGED_ITEMS)

            await wait_until(returned)
            # The item is back before its update is announced: read the events once announced.
            await publish_settled(url)
            doc = await store.get(ITEMS, "st-b")
            reasons = [u["reasons"] for u in await payloads(url, "NEWS_OUT", subjects.UPDATED_PREFIX)]
    finally:
        await store.client.drop_database(mongo_db_name)
        await store.close()

    assert doc is not None and doc["status"] == "published" and doc["merged_into"] is None
    assert [s["article_id"] for s in doc["sources"]] == ["b1"]
    assert reasons[0] == ["merged"] and reasons[1][0] == "story_revised"


async def test_a_rerun_that_reaches_publish_before_its_revision_still_becomes_the_text(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str
) -> None:
    """The rerun's full event (the new representative's text) is acknowledged by publish before
    the revision that names it representative is even sent (the order holds by construction):
    the item shows that text once the revision arrives, exactly as a story whose revision came
    first, and redelivering either message changes nothing."""
    url = nats_url(nats)
    fast = StageDelivery(max_deliver=3, ack_wait_s=30.0, batch_size=4, retry_delay_s=0.05)
    settings = Settings(
        nats_url=url,
        mongo_url=mongo_server,
        mongo_db=mongo_db_name,
        delivery=DeliverySettings(publish=fast, outage_retry_delay_s=0.1),
    )
    store = MongoStore(mongo_server, mongo_db_name)
    service = build_publish(settings)

    def rerun_revision(story_id: str) -> StoryRevised:  # a1 moved away; a3 is the new representative
        return revised(story_id, 1, [A2, A3], removed=["a1"], representative="a3", rerun=True)

    def rerun_full(story_id: str) -> StoryEvent:
        return scored_event(story_id, A3, [A2, A3], minutes=15, quality=55.0)

    async def settle() -> None:  # every message sent so far acknowledged by publish
        nc = await nats_client.connect(url)
        try:
            js = nc.jetstream()

            async def drained() -> bool:
                infos = [await js.consumer_info("NEWS_PIPELINE", d) for d in ("publish", "publish-revised")]
                return all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos)

            await wait_until(drained)
        finally:
            await nc.close()

    def seen(doc: dict[str, Any] | None) -> dict[str, Any]:
        """The item as a reader sees it, whatever its id and however many writes it took."""
        assert doc is not None
        item = Item.model_validate({k: v for k, v in doc.items() if k != "announced_version"})
        skip = {"id", "version", "updated_at", "change_reasons", "views"}
        return {k: v for k, v in item.model_dump(mode="json").items() if k not in skip}

    try:
        async with running(service):

            async def send(subject: str, payload: Any, msg_id: str) -> None:
                await publish_durably(service.broker, Outgoing(subject, payload, msg_id), "test")

            for story in ("st-late", "st-early"):  # the same story twice: rerun before / after
                await send(subjects.SCORED, scored_event(story, A1, [A1]), f"t:{story}:created")
                await send(
                    subjects.SCORED, scored_event(story, A2, [A1, A2], False, minutes=6), f"t:{story}:j2"
                )
                await send(
                    subjects.SCORED, scored_event(story, A3, [A1, A2, A3], False, minutes=7), f"t:{story}:j3"
                )
            await settle()
            # st-late: the rerun's full event first, acknowledged, and only then the revision.
            await send(subjects.SCORED, rerun_full("st-late"), "t:st-late:rerun")
            await settle()
            before = await store.get(ITEMS, "st-late")
            assert before is not None and before["representative_article_id"] == "a1"
            await send(subjects.STORY_REVISED, rerun_revision("st-late"), "t:st-late:rev")
            # st-early: the revision first, then the rerun's full event.
            await send(subjects.STORY_REVISED, rerun_revision("st-early"), "t:st-early:rev")
            await settle()
            await send(subjects.SCORED, rerun_full("st-early"), "t:st-early:rerun")
            await settle()
            late, early = await store.get(ITEMS, "st-late"), await store.get(ITEMS, "st-early")
            # Redelivered copies (new message ids, so the stream lets them through to the consumer).
            await send(subjects.SCORED, rerun_full("st-late"), "t:st-late:rerun-again")
            await send(subjects.STORY_REVISED, rerun_revision("st-late"), "t:st-late:rev-again")
            await send(subjects.SCORED, scored_event("st-late", A1, [A1]), "t:st-late:created-again")
            await settle()
            late_again = await store.get(ITEMS, "st-late")
    finally:
        await store.client.drop_database(mongo_db_name)
        await store.close()

    assert late is not None and early is not None and late_again is not None
    assert late["representative_article_id"] == "a3"
    assert late["title"]["en"] == A3.title
    assert late["body"]["en"] and late["body"]["en"].startswith(A3.title)
    assert [s["article_id"] for s in late["sources"]] == ["a3", "a2"]
    assert late["scores"]["quality"]["value"] == 55.0
    assert seen(late) == seen(early)
    assert late_again["version"] == late["version"] and seen(late_again) == seen(late)
