"""publish's group commit (services/publish/batching.py) on a real Mongo wire server (nx-27017):
stories handled side by side share their commands, and store exactly what they store one at a
time; one story's duplicate insert is its own answer; the search index's term versions move in
one command for known and new buckets."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from services.publish.app import fold
from services.publish.batching import BulkOutcome, Coalescer, CoalescingStore
from services.publish.search_index import (
    ITEM_TERMS,
    POSTINGS,
    TERM_SOURCES,
    TERM_VERSIONS,
    SearchIndex,
    posting_key,
)
from shared.events import Cluster, StoryEvent
from shared.storage import ITEMS, SEARCH_SORT, MongoStore
from tests.integration.test_search_index import NOW, dumped
from tests.support.items import make_item
from tests.support.mongo_commands import watched_store
from tests.unit.test_items_merge import full_event

TITLES = ["TSMC expands packaging", "Nvidia ships Blackwell", "OpenAI launches a model", "AMD ships MI400"]


def story(i: int) -> StoryEvent:
    base = full_event(hot=40.0 + i)
    story_id = f"st{i}"
    article = base.article.model_copy(update={"title": f"{TITLES[i % len(TITLES)]} {i}"})
    cluster = Cluster(story_id=story_id, is_new=True, method="new", members=base.cluster.members)
    return base.model_copy(
        update={"story_id": story_id, "event_id": f"ev{i}", "article": article, "cluster": cluster}
    )


async def fold_and_file(store: MongoStore, event: StoryEvent) -> None:
    folded = await fold(store, event)
    assert folded.item is not None
    item = folded.item
    await SearchIndex(store).index_item(
        item.id, item.model_dump(mode="json", include=TERM_SOURCES), created=folded.created
    )


async def contents(store: MongoStore) -> dict[str, Any]:
    async def docs(name: str) -> dict[str, dict[str, Any]]:
        return {doc["_id"]: doc async for doc in store.collection(name).find({})}

    items = await docs(ITEMS)
    rows = await docs(SEARCH_SORT)
    return {
        "items": {
            k: (v["version"], v["title"], [s["article_id"] for s in v["sources"]]) for k, v in items.items()
        },
        "postings": {k: sorted(v["ids"]) for k, v in (await docs(POSTINGS)).items()},
        "terms": {k: v["terms"] for k, v in (await docs(ITEM_TERMS)).items()},
        "rows": {k: (v["version"], v["hot"]) for k, v in rows.items()},
        "versions": set(await docs(TERM_VERSIONS)),
    }


async def test_stories_in_flight_share_commands_and_store_what_one_at_a_time_stores(
    mongo_server: str, mongo_db_name: str
) -> None:
    events = [story(i) for i in range(8)]
    one_db, shared_db = f"{mongo_db_name}_one", f"{mongo_db_name}_shared"
    async with watched_store(mongo_server, one_db) as (plain, alone):
        for event in events:
            await fold_and_file(plain, event)
        one_by_one = Counter(alone.commands)
        expected = await contents(plain)
        await plain.client.drop_database(one_db)
    async with watched_store(mongo_server, shared_db) as (watched, together):
        store = CoalescingStore(watched)
        await asyncio.gather(*(fold_and_file(store, event) for event in events))
        shared = Counter(together.commands)
        assert await contents(store) == expected
        await watched.client.drop_database(shared_db)
    assert one_by_one[("insert", ITEMS)] == len(events)
    for command, count in one_by_one.items():  # every kind of command: fewer than one per story
        assert shared[command] < count, (command, shared[command], count)
    assert sum(shared.values()) < sum(one_by_one.values()) / 2


async def test_one_story_s_duplicate_insert_is_its_own_answer(mongo_server: str, mongo_db_name: str) -> None:
    async with watched_store(mongo_server, mongo_db_name) as (watched, commands):
        store = CoalescingStore(watched)
        await watched.collection(ITEMS).insert_one({"_id": "doc3", "version": 1, "kept": True})
        docs = [{"_id": f"doc{i}", "version": 1} for i in range(6)]
        results = await asyncio.gather(*(store.replace_if_version(ITEMS, doc, None) for doc in docs))
        assert results == [i != 3 for i in range(6)]
        assert commands.commands.count(("insert", ITEMS)) == 2  # the setup's, then one for six
        stored = await watched.get(ITEMS, "doc3")
        assert stored is not None and stored.get("kept") is True
        assert len([d async for d in watched.collection(ITEMS).find({})]) == 6
        await watched.client.drop_database(mongo_db_name)


async def test_known_and_new_buckets_move_their_versions_in_one_command(
    mongo_server: str, mongo_db_name: str
) -> None:
    async with watched_store(mongo_server, mongo_db_name) as (store, commands):
        index = SearchIndex(store)
        first = make_item("story-b0", now=NOW, title_en="Nvidia ships Blackwell", title_zh=None)
        twin_id = next(
            f"story-b{n}"
            for n in range(1, 500)
            if posting_key("x", f"story-b{n}") == posting_key("x", first.id)
        )
        # Same bucket: nvidia and blackwell have theirs already, rubin is new.
        twin = make_item(twin_id, now=NOW, title_en="Nvidia ships Blackwell Rubin", title_zh=None)
        await index.index_item(first.id, dumped(first), created=True)
        commands.commands.clear()
        await index.index_item(twin.id, dumped(twin), created=True)
        assert commands.commands.count(("update", TERM_VERSIONS)) == 1
        versions = await index.term_versions(["nvidia", "blackwell", "rubin"])
        assert versions == {"nvidia": 2, "blackwell": 2, "rubin": 1}
        await store.client.drop_database(mongo_db_name)


async def test_a_failed_command_reaches_every_story_in_it_and_the_next_one_goes_out() -> None:
    sent: list[list[int]] = []

    async def flush(requests: list[int]) -> list[int | BaseException]:
        sent.append(requests)
        await asyncio.sleep(0.01)
        if 13 in requests:
            raise ConnectionError("unreachable")
        return [r * 10 if r >= 0 else ValueError(r) for r in requests]

    coalescer: Coalescer[int, int] = Coalescer(flush)
    results = await asyncio.gather(*(coalescer.submit(r) for r in (1, 13, 2)), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 3
    first = asyncio.gather(coalescer.submit(1), coalescer.submit(-1), return_exceptions=True)
    await asyncio.sleep(0.001)  # the first flush is in flight: these two go in the next one
    later = asyncio.gather(coalescer.submit(3), coalescer.submit(4))
    answers, more = await first, await later
    assert answers[0] == 10 and isinstance(answers[1], ValueError)
    assert more == [30, 40]
    assert sent == [[1, 13, 2], [1, -1], [3, 4]]


def test_a_bulk_outcome_raises_only_errors_not_allowed() -> None:
    outcome = BulkOutcome(errors=[{"index": 0, "code": 11000, "errmsg": "duplicate"}])
    outcome.raise_errors(allowed=frozenset({11000}))
    with pytest.raises(Exception, match="duplicate"):
        outcome.raise_errors()
