"""publish: folds scored stories into the bilingual item in MongoDB and announces it downstream:
``news.published.<tag>`` once per story, ``news.updated.<tag>`` on each material change."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from services.publish.batching import CoalescingStore
from services.publish.revisions import apply as apply_revision
from services.publish.revisions import hold_content, respect, retire
from services.publish.search_index import TERM_SOURCES, SearchIndex
from services.publish.webhooks import WebhookDispatcher
from shared import subjects
from shared.core.item_revisions import keeps_content, respect_pending
from shared.core.items import is_full, merge_event, pending_with
from shared.core.translation import Glossary
from shared.events import StoryEvent, StoryRevised, utcnow
from shared.items import Item, ItemEvent
from shared.llm.prompts import load_glossary
from shared.metrics import ITEMS_PUBLISHED, ITEMS_UPDATED, LAST_PUBLISHED, PIPELINE_LATENCY_SECONDS
from shared.pipeline import Outgoing, document_publisher, publish_durably, register_stage
from shared.service import Service, new_service
from shared.settings import Settings
from shared.storage import ITEM_PENDING, ITEMS, MongoStore

log = logging.getLogger("newsroom.publish")

# Bookkeeping stored beside the item: the last version announced downstream. It lets a redelivery
# after a crash between the MongoDB write and the announcement finish the announcement.
ANNOUNCED = "announced_version"


class ConcurrentUpdate(Exception):
    """Another publish process changed the item between our read and write: retry the message."""


def item_from_doc(doc: dict[str, Any]) -> Item:
    return Item.model_validate({k: v for k, v in doc.items() if k != ANNOUNCED})


def announcement(item: Item, announced: int) -> Outgoing:
    kind: Literal["published", "updated"] = "published" if announced == 0 else "updated"
    subject = (
        subjects.published(item.primary_tag) if kind == "published" else subjects.updated(item.primary_tag)
    )
    dedup = f"published:{item.id}" if kind == "published" else f"updated:{item.id}:{item.version}"
    payload = ItemEvent(
        kind=kind,
        story_id=item.id,
        version=item.version,
        occurred_at=item.updated_at,
        item=item,
        reasons=list(item.change_reasons) if kind == "updated" else [],
    )
    return Outgoing(subject, payload, dedup)


@dataclass(frozen=True)
class Folded:
    """What fold did: the item as stored now (None: nothing to publish yet), the version announced
    so far, and whether this call inserted the item (its first version)."""

    item: Item | None
    announced: int
    created: bool = False


async def fold(store: MongoStore, event: StoryEvent, glossary: Glossary | None = None) -> Folded:
    """Write the event into the item (or the pending store). Returns the item and the version
    announced so far. The change reasons of versions not announced yet are carried into the
    next one, so a reason (``language_added``) is announced even when versions were skipped.
    A revised story's event is first filtered by its last revision (services/publish/revisions.py):
    members that left are dropped; nothing is folded for a story that ended. A full event of a
    member that is not the representative is kept for the revision that makes it one."""
    respected, state = await respect(store, event)
    if respected is None:
        return Folded(None, 0)
    received, event = event, respected
    # A story's full (analyzed) event is almost always its first: its item is inserted without
    # reading ``items`` first (one round trip fewer per story); when the item exists the insert
    # fails and the next round reads it, as for any other event.
    assume_new = is_full(event) and event.scores is not None and event.scores.trigger == "analyzed"
    for attempt in range(8):
        doc = None if assume_new and attempt == 0 else await store.get(ITEMS, event.story_id)
        existing = item_from_doc(doc) if doc else None
        announced = int(doc.get(ANNOUNCED, 0)) if doc else 0
        pending = (
            respect_pending(await store.get(ITEM_PENDING, event.story_id), state)
            if existing is None
            else None
        )
        if keeps_content(existing, event):  # before the item: a revision may come between
            await hold_content(store, received)
        merge = merge_event(existing, pending, event, utcnow(), glossary)
        if merge is None:
            await store.upsert(ITEM_PENDING, event.story_id, pending_with(pending, event))
            return Folded(None, 0)
        if existing is not None and merge.item is existing:
            return Folded(existing, announced)
        item = merge.item
        if existing is not None and merge.material and existing.version > announced:
            carried = list(dict.fromkeys([*existing.change_reasons, *item.change_reasons]))
            item = item.model_copy(update={"change_reasons": carried})
        new_doc = {**item.model_dump(mode="python", by_alias=True), ANNOUNCED: announced}
        # Views are counted by the read API ($inc): never overwrite them from here.
        if await store.replace_if_version(
            ITEMS, new_doc, existing.version if existing else None, preserve=("views",)
        ):
            if merge.created:
                PIPELINE_LATENCY_SECONDS.observe(
                    max(0.0, (utcnow() - event.article.fetched_at).total_seconds())
                )
            return Folded(item, announced, created=existing is None)
    raise ConcurrentUpdate(f"item {event.story_id} kept changing under us")


def webhook_dispatcher(settings: Settings) -> WebhookDispatcher | None:
    urls = settings.publish.webhook_url_list
    if not urls:
        return None
    return WebhookDispatcher(urls, settings.publish.webhook_secret)


def build(settings: Settings | None = None) -> Service:
    service = new_service("publish", settings)
    assert service.store is not None
    # The stories handled side by side share their MongoDB commands (services/publish/batching.py).
    store = service.store = CoalescingStore(service.store)
    webhooks = webhook_dispatcher(service.settings)
    glossary = load_glossary()  # the pairing guard of source titles (names must map)
    search_index = SearchIndex(store, glossary)
    backfill: list[asyncio.Task[int]] = []
    if webhooks is not None:
        service.startup.append(webhooks.start)
        service.shutdown.append(webhooks.stop)

    async def start_backfill() -> None:  # items stored before the index: filed in the background
        backfill.append(asyncio.create_task(search_index.backfill()))

    async def stop_backfill() -> None:
        for task in backfill:
            task.cancel()

    service.startup.append(start_backfill)
    service.shutdown.append(stop_backfill)

    # One story at a time in this process: a revision and a scored event of the same story
    # handled side by side would each read the other's version as not announced yet (and carry
    # its reasons into the next one). Across processes the version check keeps the item right.
    story_locks: dict[str, asyncio.Lock] = {}

    def story_lock(story_id: str) -> asyncio.Lock:
        if len(story_locks) > 10_000:
            for key in [k for k, lock in story_locks.items() if not lock.locked()]:
                del story_locks[key]
        return story_locks.setdefault(story_id, asyncio.Lock())

    async def handle(event: StoryEvent) -> Sequence[Outgoing]:
        async with story_lock(event.story_id):
            return await handle_scored(event)

    async def handle_scored(event: StoryEvent) -> Sequence[Outgoing]:
        folded = await fold(store, event, glossary)
        item = folded.item
        if item is None:
            return []
        # Every delivery (a redelivery too: idempotent), before the ack: a crash after the item
        # write but before filing is finished on the redelivery.
        await search_index.index_item(
            item.id, item.model_dump(mode="json", include=TERM_SOURCES), created=folded.created
        )
        await announce(item, folded.announced)
        return []

    async def on_revised(revision: StoryRevised) -> Sequence[Outgoing]:
        async with story_lock(revision.story_id):
            return await apply_and_announce(revision)

    async def apply_and_announce(revision: StoryRevised) -> Sequence[Outgoing]:
        item, announced = await apply_revision(store, revision, glossary)
        if item is None:
            return []
        merged = item.status == "merged"
        await search_index.index_item(
            item.id, {} if merged else item.model_dump(mode="json", include=TERM_SOURCES)
        )
        await announce(item, announced)
        if merged:  # after the announcement was recorded: a redelivery finishes either step
            await retire(store, item)
        return []

    async def announce(item: Item, announced: int) -> None:
        if item.version <= announced:
            return
        started = time.time()
        # Announce here, not via the return value: the announced version is recorded only after
        # the stream acknowledged the event (so a crash in between re-announces, deduplicated).
        out = announcement(item, announced)
        await publish_durably(service.broker, out, "publish")
        await store.upsert(ITEMS, item.id, {ANNOUNCED: item.version})
        if webhooks is not None:  # best effort, never blocks: the stream is the reliable channel
            # The item as the event carries it (``id``, not the storage key ``_id``): one shape
            # for stream subscribers and webhook receivers.
            webhooks.submit(out.payload.kind, item.model_dump(mode="json"))  # type: ignore[attr-defined]
        if announced == 0:
            ITEMS_PUBLISHED.labels(item.primary_tag, item.origin_language).inc()
        else:
            ITEMS_UPDATED.labels(item.primary_tag).inc()
        LAST_PUBLISHED.set(started)

    register_stage(
        service.broker,
        service.settings,
        stage="publish",
        subject=subjects.SCORED,
        durable="publish",
        handler=handle,
        description="Scored stories to publish",
    )
    register_stage(
        service.broker,
        service.settings,
        stage="publish",
        subject=subjects.STORY_REVISED,
        durable="publish-revised",
        handler=on_revised,
        description="Stories whose members a revised clustering decision changed",
        event_model=StoryRevised,
    )
    document_publisher(
        service.broker,
        f"{subjects.PUBLISHED_PREFIX}.{{tag}}",
        "A story published for the first time (exactly once per story)",
        ItemEvent,
    )
    document_publisher(
        service.broker,
        f"{subjects.UPDATED_PREFIX}.{{tag}}",
        "A material change of a published story (new source, scores, text, revised members, merged)",
        ItemEvent,
    )
    return service
