"""MongoDB storage adapter. PyMongo's own async API by default (motor reached end of life on
2026-05-14); motor stays selectable with NEWSROOM_MONGO_DRIVER=motor. Only the common subset that
both drivers and the embedded Mongo-wire server (nx-27017) handle correctly is used here: writes
are idempotent upserts keyed by ``_id``; no BSON regex values, no compound ``$group`` ids."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError

from shared.metrics import MONGO_WRITE_SECONDS

Driver = Literal["pymongo", "motor"]

# Errors that mean "MongoDB is unreachable right now": the caller waits and retries, it does not
# dead-letter the message.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)

ITEMS = "items"
ARTICLES = "articles"
STORIES = "stories"
SOURCE_STATE = "source_state"
LLM_CACHE = "llm_cache"
SCORE_STATE = "score_state"
INGEST_STATE = "ingest_state"
# In INGEST_STATE: ``{"finished_at": Unix seconds}`` when ingest's single pass (poll off) is done.
SINGLE_PASS_ID = "single_pass"
ITEM_PENDING = "item_pending"
# The search index's sort rows (services/publish/search_index.py): each item's sort values alone.
SEARCH_SORT = "search_sort"

# Read-side and housekeeping indexes. Names are given explicitly (nx-27017 does not keep them).
INDEXES: dict[str, list[IndexModel]] = {
    ITEMS: [
        IndexModel([("published_at", DESCENDING)], name="published_at"),
        IndexModel([("updated_at", DESCENDING)], name="updated_at"),
        IndexModel([("primary_tag", ASCENDING), ("published_at", DESCENDING)], name="tag_time"),
        IndexModel([("tags.id", ASCENDING)], name="tags"),
        IndexModel([("entities.id", ASCENDING)], name="entities"),
        IndexModel([("origin_language", ASCENDING)], name="language"),
        IndexModel([("scores.hot.value", DESCENDING)], name="hot"),
        IndexModel([("scores.quality.value", DESCENDING)], name="quality"),
        IndexModel([("scores.impact.value", DESCENDING)], name="impact"),
    ],
    # The items' sort values, top-level, for the search's walk in sort order.
    SEARCH_SORT: [
        IndexModel([("hot", DESCENDING)], name="hot"),
        IndexModel([("quality", DESCENDING)], name="quality"),
        IndexModel([("impact", DESCENDING)], name="impact"),
        IndexModel([("published_at", DESCENDING)], name="published_at"),
        IndexModel([("updated_at", DESCENDING)], name="updated_at"),
    ],
    ARTICLES: [IndexModel([("story_id", ASCENDING)], name="story")],
    STORIES: [IndexModel([("first_seen_at", DESCENDING)], name="first_seen")],
    SCORE_STATE: [IndexModel([("first_seen_at", DESCENDING)], name="first_seen")],
}


def make_client(url: str, driver: Driver = "pymongo", timeout_ms: int = 5000) -> Any:
    """An async client of the chosen driver (both expose the same collection API for what we use)."""
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": timeout_ms,
        "tz_aware": True,
    }
    if driver == "motor":
        from motor.motor_asyncio import AsyncIOMotorClient

        return AsyncIOMotorClient(url, **options)
    from pymongo import AsyncMongoClient

    return AsyncMongoClient(url, **options)


class MongoStore:
    """The database handle plus the few operations whose shape differs between the drivers."""

    def __init__(self, url: str, database: str, driver: Driver = "pymongo", timeout_ms: int = 5000) -> None:
        self.url = url
        self.driver: Driver = driver
        self.client = make_client(url, driver, timeout_ms)
        self.db = self.client[database]
        self._compat: bool | None = None

    async def wire_compat_mode(self) -> bool:
        """True on a wire-compatible server that is not MongoDB (nx-27017: its buildInfo has no
        version). There, ``$set`` of a top-level datetime on an existing document silently stores
        a naive string (measured; nested datetimes and whole-document writes are kept), so writes
        that carry top-level datetimes replace the whole document instead."""
        if self._compat is None:
            info = await self.db.command("buildinfo")
            self._compat = "version" not in info
        return self._compat

    async def _needs_replace(self, fields: Mapping[str, Any]) -> bool:
        return any(isinstance(v, datetime) for v in fields.values()) and await self.wire_compat_mode()

    def collection(self, name: str) -> Any:
        return self.db[name]

    async def ping(self) -> bool:
        try:
            await self.db.command("ping")
            return True
        except Exception:
            return False

    async def close(self) -> None:
        result = self.client.close()
        if hasattr(result, "__await__"):  # PyMongo async: coroutine; motor: plain call
            await result

    async def ensure_indexes(self, collections: Sequence[str] | None = None) -> None:
        for name, models in INDEXES.items():
            if collections is not None and name not in collections:
                continue
            await self.db[name].create_indexes(models)

    async def aggregate(self, collection: str, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cursor = self.db[collection].aggregate(pipeline)
        if hasattr(cursor, "__await__"):  # PyMongo async returns a coroutine, motor a cursor
            cursor = await cursor
        return [doc async for doc in cursor]

    async def index_names(self, collection: str) -> list[str]:
        cursor = self.db[collection].list_indexes()
        if hasattr(cursor, "__await__"):
            cursor = await cursor
        return [doc["name"] async for doc in cursor]

    async def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.db[collection].find_one({"_id": doc_id})
        return doc

    async def upsert(self, collection: str, doc_id: str, fields: Mapping[str, Any]) -> None:
        """Idempotent write keyed by _id: safe to repeat on redelivery."""
        started = time.perf_counter()
        if await self._needs_replace(fields):
            current = await self.db[collection].find_one({"_id": doc_id}) or {"_id": doc_id}
            await self.db[collection].replace_one({"_id": doc_id}, {**current, **fields}, upsert=True)
        else:
            await self.db[collection].update_one({"_id": doc_id}, {"$set": dict(fields)}, upsert=True)
        MONGO_WRITE_SECONDS.labels(collection).observe(time.perf_counter() - started)

    async def upsert_many(
        self, collection: str, docs: Mapping[str, Mapping[str, Any]], whole: Collection[str] = ()
    ) -> None:
        """``upsert`` of several documents (``_id`` -> fields) in one bulk write (on nx-27017, when
        fields carry top-level datetimes, one ``_id $in`` read of the current documents first, as
        ``upsert`` does per document). Each write is idempotent, so a repeat after a crash is safe;
        unordered, so one failing document does not stop the others (the error is raised after).

        ``whole``: the ids whose fields are the complete document (a replace of it loses nothing
        stored): written as they are, without that read."""
        if not docs:
            return
        from pymongo import ReplaceOne, UpdateOne

        started = time.perf_counter()
        requests: list[Any] = [
            ReplaceOne({"_id": i}, {"_id": i, **docs[i]}, upsert=True) for i in docs if i in whole
        ]
        ids = [i for i in docs if i not in whole]
        if any([await self._needs_replace(docs[i]) for i in ids]):
            current = {doc["_id"]: doc async for doc in self.db[collection].find({"_id": {"$in": ids}})}
            requests += [
                ReplaceOne({"_id": i}, {**current.get(i, {"_id": i}), **docs[i]}, upsert=True) for i in ids
            ]
        else:
            requests += [UpdateOne({"_id": i}, {"$set": dict(docs[i])}, upsert=True) for i in ids]
        await self.db[collection].bulk_write(requests, ordered=False)
        MONGO_WRITE_SECONDS.labels(collection).observe(time.perf_counter() - started)

    async def delete_ids(self, collection: str, ids: Sequence[str]) -> None:
        """Delete the documents of ``ids`` (one ``_id $in`` command; missing ones are no error)."""
        if ids:
            await self.db[collection].delete_many({"_id": {"$in": list(ids)}})

    async def existing_ids(self, collection: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` have a document (one ``_id $in`` query, ids only)."""
        if not ids:
            return set()
        cursor = self.db[collection].find({"_id": {"$in": list(ids)}}, {"_id": 1})
        return {doc["_id"] async for doc in cursor}

    async def replace_if_version(
        self,
        collection: str,
        doc: Mapping[str, Any],
        expected_version: int | None,
        preserve: tuple[str, ...] = (),
    ) -> bool:
        """Optimistic concurrency: insert when expected_version is None, else overwrite the
        document's fields only if its stored version is still expected_version (fields named in
        ``preserve``, e.g. counters written by others, are left as stored). False = someone else
        won: re-read and try again."""
        from pymongo.errors import DuplicateKeyError

        started = time.perf_counter()
        try:
            if expected_version is None:
                await self.db[collection].insert_one(dict(doc))
                return True
            fields = {k: v for k, v in doc.items() if k != "_id" and k not in preserve}
            query = {"_id": doc["_id"], "version": expected_version}
            if await self._needs_replace(fields):
                current = await self.db[collection].find_one({"_id": doc["_id"]}) or {}
                kept = {k: current[k] for k in preserve if k in current}
                # Replace only if the preserved fields are still as read: a counter bumped in
                # between ($inc of a view) would otherwise be overwritten; the caller retries.
                unchanged = {k: current.get(k) for k in preserve}
                result = await self.db[collection].replace_one({**query, **unchanged}, {**fields, **kept})
            else:
                result = await self.db[collection].update_one(query, {"$set": fields})
            return bool(result.matched_count)
        except DuplicateKeyError:
            return False
        finally:
            MONGO_WRITE_SECONDS.labels(collection).observe(time.perf_counter() - started)
