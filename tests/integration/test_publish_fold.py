"""publish's fold on a real Mongo wire server (nx-27017): a story's first full event inserts its
item without reading ``items`` first; a redelivery and a later full event of the same story
(a re-analysis) still read the stored item."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.publish.app import fold
from shared.storage import ITEMS, MongoStore
from tests.support.mongo_commands import CommandLog, watched_store
from tests.unit.test_items_merge import full_event


@pytest.fixture()
async def watched(mongo_server: str, mongo_db_name: str) -> AsyncIterator[tuple[MongoStore, CommandLog]]:
    async with watched_store(mongo_server, mongo_db_name) as (store, commands):
        yield store, commands
        await store.client.drop_database(mongo_db_name)


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
