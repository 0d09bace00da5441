"""Group commit for publish: the MongoDB commands of the stories handled side by side go out as
one command per collection and kind, instead of one each.

publish handles up to ``workers`` stories at once (shared/pipeline.py). Each still awaits every
read and write it makes, in its own order, before it announces and acks (nothing about delivery
changes); only the transport is shared: while one command of a kind is in flight, the requests of
that kind from other stories wait, and go together in the next one (no timer: a story alone is
sent at once). On nx-27017 every command has a fixed cost on top of its documents (~0.25 ms
measured), and on the client side every command pays the driver's path once: with 8 stories in
flight most of publish's per-story commands are shared.

- reads by ``_id`` (``get``): one ``find {_id: {$in: [...]}}`` per collection;
- writes (``bulk``): one unordered ``bulk_write`` per collection; each story gets back its own
  requests' upserted ids and write errors (a duplicate key of one story's insert is that story's
  answer, not the others' failure); an error of the whole command (MongoDB unreachable) goes to
  every story in it, which then waits and retries as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

from shared.metrics import MONGO_WRITE_SECONDS
from shared.storage import MongoStore

Request = TypeVar("Request")
Answer = TypeVar("Answer")

DUPLICATE_KEY = 11000


class Coalescer(Generic[Request, Answer]):
    """Requests submitted while a flush is in flight are flushed together next. ``flush`` gets the
    requests in order and returns one answer (or exception) per request."""

    def __init__(self, flush: Callable[[list[Request]], Awaitable[list[Answer | BaseException]]]) -> None:
        self._flush = flush
        self._waiting: list[tuple[Request, asyncio.Future[Answer]]] = []
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0  # commands sent (tests and benchmarks read it)
        self.requests = 0

    async def submit(self, request: Request) -> Answer:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            await self._drain()
        except asyncio.CancelledError:  # shutting down: no request is left waiting for ever
            for _, future in self._waiting:
                if not future.done():
                    future.cancel()
            self._waiting = []
            raise

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # the requests of the stories that run in this same loop turn
        while self._waiting:
            batch, self._waiting = self._waiting, []
            self.flushes += 1
            self.requests += len(batch)
            try:
                answers = await self._flush([request for request, _ in batch])
                if len(answers) != len(batch):
                    raise RuntimeError(f"{len(answers)} answers to {len(batch)} requests")
            except BaseException as exc:  # the whole command failed: every request in it did
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():  # its story was cancelled meanwhile
                    continue
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)


@dataclass
class BulkOutcome:
    """One story's part of a shared bulk write, indexed by the position in its own requests."""

    upserted_ids: dict[int, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def raise_errors(self, allowed: frozenset[int] = frozenset()) -> None:
        """Raise the first write error whose code is not ``allowed`` (as bulk_write would)."""
        for error in self.errors:
            if error.get("code") not in allowed:
                raise BulkWriteError({"writeErrors": [error], "nInserted": 0, "upserted": []})


def _split(
    sizes: Sequence[int], upserted: Sequence[Mapping[str, Any]], errors: Sequence[Mapping[str, Any]]
) -> list[BulkOutcome]:
    """The bulk's upserts and write errors (global indexes) as each story's own outcome."""
    starts = []
    offset = 0
    for size in sizes:
        starts.append(offset)
        offset += size
    outcomes = [BulkOutcome() for _ in sizes]

    def owner(index: int) -> tuple[int, int]:
        for story in range(len(starts) - 1, -1, -1):
            if index >= starts[story]:
                return story, index - starts[story]
        raise IndexError(index)

    for entry in upserted:
        story, local = owner(int(entry["index"]))
        outcomes[story].upserted_ids[local] = entry["_id"]
    for error in errors:
        story, local = owner(int(error["index"]))
        outcomes[story].errors.append({**error, "index": local})
    return outcomes


class CoalescingStore(MongoStore):
    """The MongoStore publish folds and files through: ``get``, ``upsert`` (a ``$set``), the
    insert of ``replace_if_version`` and ``bulk`` are shared by the stories in flight. Everything
    else is the wrapped store's (same client and database)."""

    def __init__(self, inner: MongoStore) -> None:  # not super().__init__: it would open a client
        self.url = inner.url
        self.driver = inner.driver
        self.client = inner.client
        self.db = inner.db
        self._compat = inner._compat
        self._gets: dict[str, Coalescer[str, dict[str, Any] | None]] = {}
        self._bulks: dict[str, Coalescer[list[Any], BulkOutcome]] = {}
        self._shared: dict[str, Coalescer[Any, Any]] = {}

    def coalescers(self) -> list[Coalescer[Any, Any]]:
        return [*self._gets.values(), *self._bulks.values(), *self._shared.values()]

    def shared(self, key: str, flush: Callable[[list[Any]], Awaitable[list[Any]]]) -> Coalescer[Any, Any]:
        """The coalescer named ``key`` (made with ``flush`` on first use): for a write that merges
        the stories' requests itself (the search index's term versions)."""
        if key not in self._shared:
            self._shared[key] = Coalescer(flush)
        return self._shared[key]

    async def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        if collection not in self._gets:
            self._gets[collection] = Coalescer(self._get_many(collection))
        return await self._gets[collection].submit(doc_id)

    def _get_many(
        self, collection: str
    ) -> Callable[[list[str]], Awaitable[list[dict[str, Any] | BaseException | None]]]:
        async def flush(ids: list[str]) -> list[dict[str, Any] | BaseException | None]:
            if len(ids) == 1:
                doc: dict[str, Any] | None = await self.db[collection].find_one({"_id": ids[0]})
                return [doc]
            found = {
                doc["_id"]: doc async for doc in self.db[collection].find({"_id": {"$in": sorted(set(ids))}})
            }
            return [found.get(doc_id) for doc_id in ids]

        return flush

    async def bulk(self, collection: str, requests: Sequence[Any]) -> BulkOutcome:
        """``requests`` written in one unordered bulk with those of the other stories in flight."""
        if not requests:
            return BulkOutcome()
        if collection not in self._bulks:
            self._bulks[collection] = Coalescer(self._bulk_many(collection))
        started = time.perf_counter()
        try:
            return await self._bulks[collection].submit(list(requests))
        finally:
            MONGO_WRITE_SECONDS.labels(collection).observe(time.perf_counter() - started)

    def _bulk_many(
        self, collection: str
    ) -> Callable[[list[list[Any]]], Awaitable[list[BulkOutcome | BaseException]]]:
        async def flush(parts: list[list[Any]]) -> list[BulkOutcome | BaseException]:
            flat = [request for part in parts for request in part]
            sizes = [len(part) for part in parts]
            try:
                result = await self.db[collection].bulk_write(flat, ordered=False)
            except BulkWriteError as exc:
                details = exc.details
                return list(_split(sizes, details.get("upserted") or [], details.get("writeErrors") or []))
            upserted = [{"index": index, "_id": value} for index, value in result.upserted_ids.items()]
            return list(_split(sizes, upserted, []))

        return flush

    async def upsert(self, collection: str, doc_id: str, fields: Mapping[str, Any]) -> None:
        if await self._needs_replace(fields):  # nx-27017 and a top-level datetime: read + replace
            await super().upsert(collection, doc_id, fields)
            return
        outcome = await self.bulk(
            collection, [UpdateOne({"_id": doc_id}, {"$set": dict(fields)}, upsert=True)]
        )
        outcome.raise_errors()

    async def replace_if_version(
        self,
        collection: str,
        doc: Mapping[str, Any],
        expected_version: int | None,
        preserve: tuple[str, ...] = (),
    ) -> bool:
        if expected_version is not None:  # a version-checked update: its own command
            return await super().replace_if_version(collection, doc, expected_version, preserve)
        outcome = await self.bulk(collection, [InsertOne(dict(doc))])
        if any(error.get("code") == DUPLICATE_KEY for error in outcome.errors):
            return False  # the item exists: the caller reads it and tries again
        outcome.raise_errors()
        return True


async def bulk_write(store: MongoStore, collection: str, requests: Sequence[Any]) -> BulkOutcome:
    """``requests`` as one unordered bulk: shared with the stories in flight on a CoalescingStore,
    else a bulk of their own. Write errors are returned, not raised."""
    if isinstance(store, CoalescingStore):
        return await store.bulk(collection, requests)
    if not requests:
        return BulkOutcome()
    try:
        result = await store.collection(collection).bulk_write(list(requests), ordered=False)
    except BulkWriteError as exc:
        return _split(
            [len(requests)], exc.details.get("upserted") or [], exc.details.get("writeErrors") or []
        )[0]
    return BulkOutcome(upserted_ids=dict(result.upserted_ids))
