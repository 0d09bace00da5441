"""publish's fold on a real Mongo wire server (nx-27017): a story's first full event inserts its
item without reading ``items`` first; a redelivery and a later full event of the same story
(a re-analysis) still read the stored item."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from services.publish.app import fold
from shared.storage import ITEMS, MongoStore
from tests.integration.test_score_states import CommandLog
from tests.unit.test_items_merge import full_event


@pytest.fixture()
async def watched(mongo_server: str, mongo_db_name: str) -> AsyncIterator[tuple[MongoStore, CommandLog]]:
    commands = CommandLog()
    store = MongoStore(mongo_server, mongo_db_name)
    await store.close()
    store.client = AsyncMongoClient(mongo_server, tz_aware=True, event_listeners=[commands])
    store.db = store.client[mongo_db_name]
    yield store, commands
    await store.client.drop_database(mongo_db_name)
    await store.close()


async def test_a_first_full_event_inserts_without_reading_the_item(
    watched: tuple[MongoStore, CommandLog],
) -> None:
    store, commands = watched
    first = full_event(hot=40.0)
    folded = await fold(store, first)
    assert folded.created and folded.item is not None and folded.item.version == 1
    assert ("find", ITEMS) not in commands.commands
    assert ("insert", ITEMS) in commands.commands

    commands.commands.clear()
    again = await fold(store, first)  # a redelivery: the insert fails, the item is read, unchanged
    assert not again.created and again.item is not None and again.item.version == 1
    assert ("find", ITEMS) in commands.commands

    reanalysed = full_event(hot=60.0).model_copy(update={"event_id": "re-analysis"})
    later = await fold(store, reanalysed)
    assert not later.created and later.item is not None
    assert later.item.version == 2 and later.item.scores.hot is not None
    assert later.item.scores.hot.value == 60.0
    stored = await store.get(ITEMS, first.story_id)
    assert stored is not None and stored["version"] == 2
