"""Source health on a real Mongo wire server (nx-27017): saving a poll's health is one write (it
was a read and a write: nx-27017 needs the stored document before a ``$set`` of a top-level
datetime), and the stored document is the health, datetimes stored as dates, whatever it held."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.source_health import SourceHealth, SourceHealthStore, record_failure, record_success
from shared.storage import SOURCE_STATE, MongoStore
from tests.support.mongo_commands import CommandLog, watched_store

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture()
async def watched(mongo_server: str, mongo_db_name: str) -> AsyncIterator[tuple[MongoStore, CommandLog]]:
    async with watched_store(mongo_server, mongo_db_name) as (store, commands):
        yield store, commands
        await store.client.drop_database(mongo_db_name)


async def stored(store: MongoStore, source_id: str) -> dict[str, Any]:
    doc = await store.collection(SOURCE_STATE).find_one({"_id": source_id})
    assert doc is not None
    return dict(doc)


async def test_a_poll_saves_its_health_in_one_write_and_stores_exactly_it(
    watched: tuple[MongoStore, CommandLog],
) -> None:
    store, commands = watched
    health_store = SourceHealthStore(store)
    first = record_success(
        SourceHealth(source_id="wire"),
        T0,
        not_modified=False,
        entries=12,
        etag='"abc"',
        last_modified="Tue, 01 Dec 2026 08:59:00 GMT",
        next_attempt_at=T0 + timedelta(minutes=15),
        warnings=["a feed warning"],
    )
    await health_store.save(first)  # a new source: no document yet
    assert commands.commands == [("update", SOURCE_STATE)]
    assert await stored(store, "wire") == {"_id": "wire", **first.to_doc()}

    later = T0 + timedelta(minutes=15)
    failed = record_failure(
        first,
        later,
        kind="http_status",
        error="HTTP 503",
        consecutive_failures=1,
        circuit="closed",
        next_attempt_at=later + timedelta(minutes=1),
    )
    commands.commands.clear()
    await health_store.save(failed)  # over the stored document
    assert commands.commands == [("update", SOURCE_STATE)]
    doc = await stored(store, "wire")
    assert doc == {"_id": "wire", **failed.to_doc()}
    # Top-level times are stored as dates (nx-27017 stores a $set datetime as a naive string).
    assert all(
        isinstance(doc[name], datetime)
        for name in ("last_attempt_at", "last_success_at", "last_error_at", "next_attempt_at")
    )
    assert doc["last_success_at"] == T0 and doc["etag"] == '"abc"'  # kept from the earlier poll
    assert await health_store.get("wire") == failed
    assert await health_store.all() == {"wire": failed}
