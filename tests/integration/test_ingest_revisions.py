"""ingest's side of revised clustering decisions (services/ingest/revisions.py) on a real
nats-server and nx-27017, with revisions as the story index reports them (the StoryRevision
contract): one news.story.revised per revised story with its full member rows and the next
revision number; a story whose representative left and a story born of a split go through the
pipeline again (news.ingested of a stored article); ingest's records follow; after a crash before
the records were written, the same revisions are re-sent with the same Nats-Msg-Id and dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.ingest.engine import Ingestor
from services.ingest.revisions import after_assignment, publish_revisions
from shared import subjects
from shared.adapters.fetch import Fetcher
from shared.core.clustering import Assignment, StoryIndex
from shared.core.story_revisions import StoryRevision
from shared.events import Article, StoryEvent, StoryMember
from shared.pipeline import Outgoing, ensure_streams, make_broker, publish_durably
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.settings import Settings
from shared.sources import SourceList
from shared.storage import ARTICLES, STORIES, MongoStore
from tests.support.stack import stream_messages

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def article(article_id: str, title: str, language: str = "en", minutes: int = 0) -> Article:
    return Article(
        article_id=article_id,
        source_id=f"src-{article_id}",
        source_name=f"Source {article_id}",
        url=f"https://{article_id}.example.com/news",
        canonical_url=f"https://{article_id}.example.com/news",
        title=title,
        body=f"{title}. " * 20,
        language=language,  # type: ignore[arg-type]
        fetched_at=T0 + timedelta(minutes=minutes),
    )


ARTICLES_BY_ID = {
    a.article_id: a
    for a in (
        article("a1", "Qwen2.5-Coder released with 32B weights", minutes=0),
        article("a2", "Alibaba open-sources Qwen2.5-VL", minutes=1),
        article("a3", "阿里开源Qwen2.5-VL视觉模型", "zh", minutes=2),
        article("b1", "Qwen2.5-VL tops the vision leaderboard", minutes=3),
        article("n1", "Qwen2.5-VL: what the new vision model can do", minutes=4),
    )
}


def row(article_id: str) -> StoryMember:
    a = ARTICLES_BY_ID[article_id]
    return StoryMember.of(a, a.fetched_at)


async def test_revisions_are_announced_rerun_and_recorded(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str
) -> None:
    url = nats_url(nats)
    settings = Settings(nats_url=url, mongo_url=mongo_server, mongo_db=mongo_db_name)
    store = MongoStore(mongo_server, mongo_db_name)
    broker = make_broker(settings, "ingest-test")
    index = StoryIndex(None)
    sent: list[tuple[str, bool]] = []

    async def publish(out: Outgoing) -> bool:
        fresh = await publish_durably(broker, out, "ingest")
        sent.append((out.msg_id, fresh))
        return fresh

    async def records() -> dict[str, Any]:
        return {sid: await store.get(STORIES, sid) for sid in ("A", "B", "C")}

    try:
        await broker.connect()
        await ensure_streams(broker, settings)
        # Every article arrived once (no revision): ingest keeps it for a later re-run.
        for stored in ARTICLES_BY_ID.values():
            arrival = Assignment("X", "new")
            await after_assignment(store, publish, index, None, arrival, stored, row(stored.article_id), T0)
        assert sent == []  # nothing announced without a revision
        await store.upsert(
            STORIES, "A", {"members": [row(i).model_dump(mode="python") for i in ("a1", "a2", "a3")]}
        )
        await store.upsert(STORIES, "B", {"members": [row("b1").model_dump(mode="python")]})
        before = await records()

        # n1 arrives: a1 splits off into a new story C, B's only member joins A, B ends.
        revisions = (
            StoryRevision("A", "merged", ("a2", "a3", "b1", "n1"), added=("b1",), removed=("a1",)),
            StoryRevision("B", "merged", (), removed=("b1",), merged_into="A"),
            StoryRevision("C", "split", ("a1",), added=("a1",)),
        )
        now = T0 + timedelta(minutes=5)
        events = await publish_revisions(store, publish, index, None, revisions, row("n1"), now)
        first_ids = [m for m, _ in sent]
        assert all(fresh for _, fresh in sent)

        # A crash before the records were written: the same arrival revises the same stories again.
        for sid, doc in before.items():
            await store.collection(STORIES).delete_one({"_id": sid})
            if doc is not None:
                await store.upsert(STORIES, sid, {k: v for k, v in doc.items() if k != "_id"})
        sent.clear()
        await publish_revisions(store, publish, index, None, revisions, row("n1"), now)
        repeated = list(sent)
        after = await records()
        a1_record = await store.get(ARTICLES, "a1")
        b1_record = await store.get(ARTICLES, "b1")

        # A later revision of A has the next number.
        sent.clear()
        later = await publish_revisions(
            store,
            publish,
            index,
            None,
            (StoryRevision("A", "moved", ("a2", "a3", "n1"), removed=("b1",)),),
            row("n1"),
            now,
        )
        pipeline = await stream_messages(url, "NEWS_PIPELINE")
    finally:
        await broker.stop()
        await store.client.drop_database(mongo_db_name)
        await store.close()

    by_story = {e.story_id: e for e in events}
    a, b, c = by_story["A"], by_story["B"], by_story["C"]
    assert [e.revision for e in events] == [1, 1, 1]
    assert a.member_ids == ["a2", "a3", "b1", "n1"] and [m.article_id for m in a.members] == a.member_ids
    assert a.representative == "a2" and a.rerun  # a1, the representative, left
    assert b.ended and b.merged_into == "A" and b.representative is None and not b.rerun
    assert c.member_ids == ["a1"] and c.representative == "a1" and c.rerun  # born of a split
    # The stream dropped every repeat of the crashed arrival (same ids, none fresh).
    assert [m for m, _ in repeated] == first_ids and not any(fresh for _, fresh in repeated)
    revised_msgs = [d for s, d, _ in pipeline if s == subjects.STORY_REVISED]
    assert len(revised_msgs) == 4  # three revisions, then A's second one
    reruns = [d for s, d, _ in pipeline if s == subjects.INGESTED]
    assert sorted((d["story_id"], d["article_id"]) for d in reruns) == [("A", "a2"), ("C", "a1")]
    rerun_a = next(d for d in reruns if d["story_id"] == "A")
    assert (
        rerun_a["article"]["body"]
        and [m["article_id"] for m in rerun_a["cluster"]["members"]] == a.member_ids
    )
    # ingest's records follow the revision.
    assert [m["article_id"] for m in after["A"]["members"]] == ["a2", "a3", "b1", "n1"]
    assert after["A"]["revision"] == 1 and after["A"]["representative"] == "a2"
    assert after["B"]["members"] == [] and after["B"]["merged_into"] == "A"
    assert [m["article_id"] for m in after["C"]["members"]] == ["a1"]
    assert a1_record is not None and a1_record["story_id"] == "C"
    assert b1_record is not None and b1_record["story_id"] == "A"
    assert [e.revision for e in later] == [2] and later[0].representative == "a2" and not later[0].rerun


async def test_members_join_in_assignment_order_whatever_time_their_poll_started(
    mongo_server: str, mongo_db_name: str
) -> None:
    # Sources are polled concurrently, each with the time its poll started. Found on the real
    # feeds: one poll's articles shared one time, and MongoDB keeps milliseconds only, so a stored
    # revision's as_of fell before the joined_at (in microseconds) of a member it had removed:
    # publish took that member for a later joiner and the article showed in two items. Concurrent
    # polls started at different times add the same confusion across sources.
    store = MongoStore(mongo_server, mongo_db_name)
    sent: list[Outgoing] = []

    async def capture(out: Outgoing) -> bool:
        sent.append(out)
        return True

    engine = Ingestor(SourceList(sources=[]), Fetcher("NewsroomTest/1.0"), store, StoryIndex(None), capture)
    try:
        late_poll = T0 + timedelta(minutes=10, microseconds=250)
        await engine.emit(ARTICLES_BY_ID["a1"], late_poll)  # the later poll, assigned first
        await engine.emit(ARTICLES_BY_ID["b1"], T0)  # the earlier poll, assigned after it
        await engine.emit(ARTICLES_BY_ID["a2"], late_poll)  # the same poll as a1
    finally:
        await engine.fetcher.aclose()
        await store.client.drop_database(mongo_db_name)
        await store.close()
    events = [o.payload for o in sent if isinstance(o.payload, StoryEvent)]
    joined = {
        e.article_id: next(m.joined_at for m in e.cluster.members if m.article_id == e.article_id)
        for e in events
    }
    assert joined["a1"] < joined["b1"] < joined["a2"]
    # Whole milliseconds, as MongoDB stores them: a stored as_of compares with an event's joined_at.
    assert all(moment.microsecond % 1000 == 0 for moment in joined.values())
