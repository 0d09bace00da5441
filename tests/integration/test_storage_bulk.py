"""MongoStore's bulk writes on a real server (nx-27017 here, any NEWSROOM_MONGO_URL in the
conformance run), with both drivers: whole documents replace without a read, the others keep their
stored fields, top-level datetimes stay datetimes, and ``delete_ids`` removes exactly those ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.storage import MongoStore
from tests.support.mongo_commands import watched_store

T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
T1 = datetime(2026, 12, 1, 10, 45, tzinfo=UTC)


@pytest.mark.parametrize("driver", ["pymongo", "motor"])
async def test_upsert_many_whole_and_partial_documents_and_delete_ids(
    mongo_server: str, mongo_db_name: str, driver: str
) -> None:
    store = MongoStore(mongo_server, mongo_db_name, driver)  # type: ignore[arg-type]
    try:
        await store.upsert_many("docs", {"a": {"x": 1, "at": T0, "kept": "yes"}, "b": {"x": 2, "at": T0}})
        # "a" partial (its other fields stay), "b" whole (replaced: "x" goes), "c" whole and new.
        await store.upsert_many(
            "docs", {"a": {"at": T1}, "b": {"y": 3, "at": T1}, "c": {"y": 4, "at": T1}}, whole={"b", "c"}
        )
        await store.upsert_many("docs", {"c": {"y": 4, "at": T1}}, whole={"c"})  # idempotent
        assert await store.get("docs", "a") == {"_id": "a", "x": 1, "at": T1, "kept": "yes"}
        assert await store.get("docs", "b") == {"_id": "b", "y": 3, "at": T1}
        assert await store.get("docs", "c") == {"_id": "c", "y": 4, "at": T1}
        await store.delete_ids("docs", ["a", "c", "missing"])
        await store.delete_ids("docs", [])
        assert await store.existing_ids("docs", ["a", "b", "c"]) == {"b"}
    finally:
        await store.client.drop_database(mongo_db_name)
        await store.close()


async def test_whole_documents_are_written_without_a_read(mongo_server: str, mongo_db_name: str) -> None:
    async with watched_store(mongo_server, mongo_db_name) as (store, log):
        await store.wire_compat_mode()
        log.commands.clear()
        await store.upsert_many("docs", {"a": {"at": T0}, "b": {"at": T0}}, whole={"a", "b"})
        assert log.commands == [("update", "docs")]
        await store.upsert_many("docs", {"a": {"at": T1}, "c": {"n": 1}}, whole={"c"})
        # The partial document with a datetime is merged with the stored one where the server
        # needs it (nx-27017: one read of it first); the whole one goes in the same bulk write.
        assert log.commands[-1] == ("update", "docs") and len(log.commands) in (2, 3)
        assert await store.get("docs", "a") == {"_id": "a", "at": T1}
        await store.client.drop_database(mongo_db_name)
