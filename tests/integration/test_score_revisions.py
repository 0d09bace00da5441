"""The score service follows news.story.revised on a real nats-server (JetStream) and nx-27017:
its durable consumer ``score-revised`` applies a revision to the stored state of the story (the
member that left is gone, the revision number recorded), and a second delivery of the same
revision changes nothing in the stored document. A revision that arrives before any event of its
story is kept and judges the events that follow; one that lands while a decay pass is between its
record and its publish does not let a decay event of the old members out after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import nats as nats_client
import pytest
from faststream.nats import NatsBroker
from pydantic import BaseModel

from services.score.app import build as build_score
from services.score.repository import MongoScoreStates
from services.score.usecase import ScoreUseCase
from shared import subjects
from shared.pipeline import Outgoing, publish_durably
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.settings import ScoreSettings
from shared.storage import SCORE_STATE, MongoStore
from tests.support.inproc import fast_settings, running, wait_until
from tests.support.stack import stream_messages
from tests.unit.test_score_revisions import A3_MOVED, AFTER_A3
from tests.unit.test_score_usecase import A1, A2, A3, MIN_CHANGE, analyzed_event, joined_event

SCORE = ScoreSettings(min_change_points=MIN_CHANGE, rescore_window_h=48.0, rescore_interval_s=3600.0)


@dataclass(frozen=True)
class Score:
    """The score service running in the test's loop, with its servers."""

    url: str
    broker: NatsBroker
    store: MongoStore

    async def send(self, subject: str, event: BaseModel, msg: str) -> None:
        await publish_durably(self.broker, Outgoing(subject, event, msg), "test")

    async def state(self) -> dict[str, Any]:
        doc = await self.store.get(SCORE_STATE, "s1")
        assert doc is not None
        return doc

    async def scored(self) -> list[dict[str, Any]]:
        """The news.scored events on the stream, oldest first."""
        stream = subjects.stream_for(subjects.SCORED).name
        return [body for _, body, _ in await stream_messages(self.url, stream, subjects.SCORED)]


@pytest.fixture()
async def score(nats: EmbeddedServer, mongo_server: str, mongo_db_name: str) -> AsyncIterator[Score]:
    url = nats_url(nats)
    settings = fast_settings(url, mongo_server, mongo_db_name, "score", score=SCORE)
    store = MongoStore(mongo_server, mongo_db_name)
    service = build_score(settings, now=lambda: AFTER_A3)
    try:
        async with running(service):
            yield Score(url, service.broker, store)
    finally:
        await store.close()


async def consumer_done(url: str, durable: str, delivered: int) -> bool:
    """The consumer delivered at least ``delivered`` messages and none is pending or unacked."""
    nc = await nats_client.connect(url)
    try:
        info = await nc.jetstream().consumer_info(subjects.PIPELINE_STREAM.name, durable)
        return info.delivered.consumer_seq >= delivered and not info.num_pending and not info.num_ack_pending
    finally:
        await nc.close()


async def score_three_members(score: Score) -> None:
    """a1 analyzed, a2 and a3 joined, all three applied to the stored state."""
    await score.send(subjects.ANALYZED, analyzed_event(A1), "t:a1")
    for new, members, event_id in ((A2, [A1, A2], "ev-j2"), (A3, [A1, A2, A3], "ev-j3")):
        await score.send(subjects.STORY_JOINED, joined_event(new, members, event_id), f"t:{event_id}")

    async def all_three_applied() -> bool:  # two consumers: the joins may come first
        doc = await score.store.get(SCORE_STATE, "s1")
        return doc is not None and len(doc["members"]) == 3 and doc["version"] == 3

    await wait_until(all_three_applied)


def member_ids(body: dict[str, Any]) -> list[str]:
    return [m["article_id"] for m in body["cluster"]["members"]]


async def test_a_revision_on_the_stream_changes_the_stored_state_once(score: Score) -> None:
    await score_three_members(score)
    before = await score.state()
    await score.send(subjects.STORY_REVISED, A3_MOVED, "t:rev1")
    await wait_until(lambda: consumer_done(score.url, "score-revised", 1))
    revised = await score.state()
    # The same revision delivered again (under another message id, so the stream keeps it).
    await score.send(subjects.STORY_REVISED, A3_MOVED, "t:rev1-again")
    await wait_until(lambda: consumer_done(score.url, "score-revised", 2))
    again = await score.state()

    assert [m["article_id"] for m in revised["members"]] == ["a1", "a2"]
    assert revised["revision"] == 1 and revised["revised_member_ids"] == ["a1", "a2"]
    assert revised["version"] == before["version"] + 1
    assert revised["last_values"]["hot"] < before["last_values"]["hot"]
    assert again == revised


async def test_a_revision_before_any_event_of_its_story_is_kept_and_judges_them(score: Score) -> None:
    # The revision reaches score first; then two events decided before it, both still listing a3
    # (the split moved it to another story).
    await score.send(subjects.STORY_REVISED, A3_MOVED, "t:rev1")
    await wait_until(lambda: consumer_done(score.url, "score-revised", 1))
    kept = await score.store.get(SCORE_STATE, "s1")
    await score.send(subjects.STORY_JOINED, joined_event(A3, [A1, A2, A3], "ev-j3"), "t:ev-j3")
    await wait_until(lambda: consumer_done(score.url, "score-joined", 1))
    await score.send(subjects.ANALYZED, analyzed_event(A1, [A1, A2, A3]), "t:a1")
    await wait_until(lambda: consumer_done(score.url, "score", 1))
    stored = await score.state()
    published = await score.scored()

    assert kept is not None and kept["revision"] == 1 and kept["revised_member_ids"] == ["a1", "a2"]
    assert [m["article_id"] for m in stored["members"]] == ["a1", "a2"]
    assert stored["revision"] == 1 and stored["content"] is not None
    # Only the analyzed event was scored: the join of a3, which left, is not the story's news.
    assert [(body["article_id"], member_ids(body)) for body in published] == [("a1", ["a1", "a2"])]


async def test_a_revision_during_a_decay_pass_lets_no_decay_event_of_old_members_out_after_it(
    score: Score,
) -> None:
    # Another score process's decay loop, on the same state, twelve hours on (Hot moved).
    clock = [AFTER_A3 + timedelta(hours=12)]
    decay = ScoreUseCase(
        repository=MongoScoreStates(score.store),
        min_change=MIN_CHANGE,
        rescore_window_h=48.0,
        now=lambda: clock[0],
    )
    await score_three_members(score)
    before = len(await score.scored())
    seen: list[tuple[list[dict[str, Any]], bool]] = []

    async def publish_after_a_revision(out: Outgoing) -> bool:
        # The pass decided from three members; the revision is handled before its publish.
        await score.send(subjects.STORY_REVISED, A3_MOVED, "t:rev1")
        await wait_until(lambda: consumer_done(score.url, "score-revised", 1))
        on_stream = (await score.scored())[before:]
        seen.append((on_stream, await publish_durably(score.broker, out, "score")))
        return True

    first = await decay.decay_pass(publish_after_a_revision)
    after_pass = await score.state()
    decays = (await score.scored())[before:]

    async def publish(out: Outgoing) -> bool:
        return await publish_durably(score.broker, out, "score")

    clock[0] = AFTER_A3 + timedelta(hours=24)
    second = await decay.decay_pass(publish)
    later = (await score.scored())[before + len(decays) :]

    assert first.published == 1 and len(seen) == 1
    on_stream_when_revision_was_handled, loop_publish_was_new = seen[0]
    # The decay event of three members went out before the revision was stored (the revision's
    # handler published it), and the loop's own publish afterwards was dropped as a duplicate.
    assert [member_ids(body) for body in on_stream_when_revision_was_handled] == [["a1", "a2", "a3"]]
    assert not loop_publish_was_new and len(decays) == 1
    assert after_pass["revision"] == 1 and after_pass["unpublished_decay"] is None
    assert [m["article_id"] for m in after_pass["members"]] == ["a1", "a2"]
    # The next pass counts only the members left.
    assert second.published == 1 and [member_ids(body) for body in later] == [["a1", "a2"]]
