"""The score service follows news.story.revised on a real nats-server (JetStream) and nx-27017:
its durable consumer ``score-revised`` applies a revision to the stored state of the story (the
member that left is gone, the revision number recorded), and a second delivery of the same
revision changes nothing in the stored document."""

from __future__ import annotations

from typing import Any

import nats as nats_client

from services.score.app import build as build_score
from shared import subjects
from shared.pipeline import Outgoing, publish_durably
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.settings import ScoreSettings
from shared.storage import SCORE_STATE, MongoStore
from tests.support.inproc import fast_settings, running, wait_until
from tests.unit.test_score_revisions import A3_MOVED, AFTER_A3
from tests.unit.test_score_usecase import A1, A2, A3, MIN_CHANGE, analyzed_event, joined_event


async def consumer_done(url: str, durable: str, delivered: int) -> bool:
    """The consumer delivered at least ``delivered`` messages and none is pending or unacked."""
    nc = await nats_client.connect(url)
    try:
        info = await nc.jetstream().consumer_info(subjects.PIPELINE_STREAM.name, durable)
        return info.delivered.consumer_seq >= delivered and not info.num_pending and not info.num_ack_pending
    finally:
        await nc.close()


async def test_a_revision_on_the_stream_changes_the_stored_state_once(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str
) -> None:
    url = nats_url(nats)
    score = ScoreSettings(min_change_points=MIN_CHANGE, rescore_window_h=48.0, rescore_interval_s=3600.0)
    settings = fast_settings(url, mongo_server, mongo_db_name, "score", score=score)
    store = MongoStore(mongo_server, mongo_db_name)
    service = build_score(settings, now=lambda: AFTER_A3)

    async def state() -> dict[str, Any]:
        doc = await store.get(SCORE_STATE, "s1")
        assert doc is not None
        return doc

    try:
        async with running(service):
            broker = service.broker
            await publish_durably(broker, Outgoing(subjects.ANALYZED, analyzed_event(A1), "t:a1"), "test")
            for new, members, event_id in ((A2, [A1, A2], "ev-j2"), (A3, [A1, A2, A3], "ev-j3")):
                join = Outgoing(subjects.STORY_JOINED, joined_event(new, members, event_id), f"t:{event_id}")
                await publish_durably(broker, join, "test")

            async def all_three_applied() -> bool:  # two consumers: the joins may come first
                doc = await store.get(SCORE_STATE, "s1")
                return doc is not None and len(doc["members"]) == 3 and doc["version"] == 3

            await wait_until(all_three_applied)
            before = await state()

            await publish_durably(broker, Outgoing(subjects.STORY_REVISED, A3_MOVED, "t:rev1"), "test")
            await wait_until(lambda: consumer_done(url, "score-revised", 1))
            revised = await state()
            # The same revision delivered again (under another message id, so the stream keeps it).
            await publish_durably(broker, Outgoing(subjects.STORY_REVISED, A3_MOVED, "t:rev1-again"), "test")
            await wait_until(lambda: consumer_done(url, "score-revised", 2))
            again = await state()
    finally:
        await store.close()

    assert [m["article_id"] for m in revised["members"]] == ["a1", "a2"]
    assert revised["revision"] == 1 and revised["revised_member_ids"] == ["a1", "a2"]
    assert revised["version"] == before["version"] + 1
    assert revised["last_values"]["hot"] < before["last_values"]["hot"]
    assert again == revised
