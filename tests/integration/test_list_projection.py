"""What a list page reads of each item, on a real Mongo wire server (nx-27017): "auto" reads the
items whole there (a projection costs nx-27017 more CPU than the bytes it saves, bench/README.md
"h19ops"), "short" leaves body and analysis out of the find; the pages are the same either way,
page after page, and the setting reaches the read API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.monitoring import CommandStartedEvent

from services.publish.queries import SHORT_PROJECTION, ItemFilter, ItemPage, ItemQueries, ListProjection
from shared.settings import Settings
from shared.storage import ITEMS, MongoStore
from tests.support import mongo_commands
from tests.support.items import as_document, sample_items

NOW = datetime.now(UTC).replace(microsecond=0)


class Finds(mongo_commands.CommandLog):
    """The command log, and the projection of every find on items."""

    def __init__(self) -> None:
        super().__init__()
        self.projections: list[Any] = []

    def started(self, event: CommandStartedEvent) -> None:
        super().started(event)
        if event.command_name == "find" and event.command.get("find") == ITEMS:
            self.projections.append(event.command.get("projection"))


@pytest.fixture()
async def watched(
    mongo_server: str, mongo_db_name: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[MongoStore, Finds]]:
    monkeypatch.setattr(mongo_commands, "CommandLog", Finds)  # the log watched_store attaches
    async with mongo_commands.watched_store(mongo_server, mongo_db_name) as (store, finds):
        assert isinstance(finds, Finds)
        await store.ensure_indexes([ITEMS])
        await store.collection(ITEMS).insert_many([as_document(item) for item in sample_items(NOW)])
        yield store, finds
        await store.client.drop_database(mongo_db_name)


async def all_pages(queries: ItemQueries, filters: ItemFilter | None = None) -> list[ItemPage]:
    pages = [await queries.list_items(filters, limit=2)]
    while pages[-1].next_cursor:
        pages.append(await queries.list_items(filters, limit=2, cursor=pages[-1].next_cursor))
    return pages


@pytest.mark.parametrize("mode", ["auto", "whole", "short"])
async def test_each_mode_reads_what_it_says_and_the_pages_are_the_same(
    watched: tuple[MongoStore, Finds], mode: ListProjection
) -> None:
    store, finds = watched
    filters = (None, ItemFilter(tag="chips"))
    expected = [await all_pages(ItemQueries(store, list_projection="whole"), f) for f in filters]
    assert len(expected[0]) >= 3 and expected[1][0].items
    finds.projections.clear()
    assert [await all_pages(ItemQueries(store, list_projection=mode), f) for f in filters] == expected
    wanted = SHORT_PROJECTION if mode == "short" else None  # auto: nx-27017 reads whole
    assert finds.projections and all(p == wanted for p in finds.projections), finds.projections
    if mode == "short":  # the long texts really stay on the server
        doc = await store.collection(ITEMS).find_one({}, SHORT_PROJECTION)
        assert doc is not None and "body" not in doc and "analysis" not in doc and "title" in doc


def test_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().publish.list_projection == "auto"
    monkeypatch.setenv("NEWSROOM_PUBLISH__LIST_PROJECTION", "short")
    assert Settings().publish.list_projection == "short"
