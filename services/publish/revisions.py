"""publish's side of ``news.story.revised``: a revised story's item gets exactly the revision's
members (shared/core/item_revisions.py), its text follows them, and subscribers learn it from
``news.updated.<tag>`` with the reason ``story_revised`` (or ``merged``).

State, per story, in ``REVISION_STATE``: the last revision applied (number, as-of time, member
ids, ``merged_into``). Every later ``news.scored`` of the story is filtered through it
(``respect`` in app.fold), so a member that left never comes back and an ended story is not
re-created. An ended story's item leaves ``items`` (lists, search, feeds and tag counts read only
that collection) for ``MERGED_ITEMS``, where the read side finds it to redirect to the story
that took its members.

A full event of a member that is not (yet) the item's representative (a rerun's event that
arrived before its revision) is kept in ``HELD_CONTENT``, one document per story and article, the
newest computation: the revision that names that member representative folds it in at once, so
the item does not stay without text when the content came first. Only that rare event costs the
extra commands; an ordinary story's events never touch the collection.

Delivery: the state is written first, then the item (optimistic version check), then the
announcement, then (ended stories) the move. A redelivery of the same revision changes nothing
once the item shows it (``shows_revision``: not even Hot, which a later event may have moved), and
otherwise re-applies it, finishing what a crash left undone; an older revision is ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.core.item_revisions import (
    RevisionState,
    apply_revision,
    newer_content,
    representative_after,
    respect_revision,
    shows_revision,
    state_after,
)
from shared.core.translation import Glossary
from shared.events import StoryEvent, StoryRevised, utcnow
from shared.items import Item
from shared.storage import ITEMS, MongoStore

log = logging.getLogger("newsroom.publish")

# Owned by publish (like services/ingest/index_store.py's collection), not in shared.storage's list.
REVISION_STATE = "story_revision_state"
MERGED_ITEMS = "merged_items"
HELD_CONTENT = "held_member_content"
ANNOUNCED = "announced_version"  # the same bookkeeping field as services.publish.app


class ConcurrentRevision(Exception):
    """Another process changed the item between our read and write: retry the message."""


def _item(doc: dict[str, Any]) -> Item:
    return Item.model_validate({k: v for k, v in doc.items() if k != ANNOUNCED})


async def revision_state(store: MongoStore, story_id: str) -> RevisionState | None:
    doc = await store.get(REVISION_STATE, story_id)
    return RevisionState.from_doc(doc) if doc else None


async def respect(store: MongoStore, event: StoryEvent) -> tuple[StoryEvent | None, RevisionState | None]:
    """The pipeline event as the story's last revision allows (None: the story ended), and that
    revision's state (for what publish remembered of the story before: ``respect_pending``)."""
    state = await revision_state(store, event.story_id)
    return respect_revision(event, state), state


def _held_id(story_id: str, article_id: str) -> str:
    return f"{story_id}/{article_id}"


async def held_content(store: MongoStore, story_id: str, article_id: str) -> StoryEvent | None:
    """The kept full event of this member of the story, if any."""
    doc = await store.get(HELD_CONTENT, _held_id(story_id, article_id))
    return StoryEvent.model_validate(doc["event"]) if doc else None


async def hold_content(store: MongoStore, event: StoryEvent) -> None:
    """Keep ``event`` (a member's full event, as received) unless a newer one is kept already."""
    kept = await held_content(store, event.story_id, event.article.article_id)
    if newer_content(kept, event):
        fields = {"story_id": event.story_id, "event": event.model_dump(mode="json")}
        await store.upsert(HELD_CONTENT, _held_id(event.story_id, event.article.article_id), fields)


async def apply(
    store: MongoStore, revision: StoryRevised, glossary: Glossary | None = None
) -> tuple[Item | None, int]:
    """Apply ``revision``. Returns the item (None when the story has no item yet, or the revision
    is older than the last one applied) and the version announced so far."""
    state = await revision_state(store, revision.story_id)
    if state is not None and revision.revision < state.revision:
        log.info(
            "older revision ignored",
            extra={"story_id": revision.story_id, "revision": revision.revision, "applied": state.revision},
        )
        return None, 0
    if state is None or revision.revision > state.revision:
        await store.upsert(REVISION_STATE, revision.story_id, _fields(state_after(revision)))
    for _ in range(8):
        doc = await store.get(ITEMS, revision.story_id)
        merged_doc = None
        if doc is None:
            merged_doc = await store.get(MERGED_ITEMS, revision.story_id)
            if merged_doc is None or revision.ended:
                return None, 0  # no item yet (it will be made respecting the state), or moved already
            doc = merged_doc  # a story that had ended has members again: it comes back
        existing = _item(doc)
        announced = int(doc.get(ANNOUNCED, 0))
        repeat = state is not None and revision.revision == state.revision
        if repeat and merged_doc is None and shows_revision(existing, revision):
            return existing, announced  # a redelivery after the item was written: nothing to do
        new_rep = representative_after(existing, revision)
        held = None
        if new_rep is not None and new_rep != existing.representative_article_id:
            held = await held_content(store, revision.story_id, new_rep)
        merge = apply_revision(existing, revision, utcnow(), glossary, held=held)
        if not merge.material and merged_doc is None:
            return existing, announced
        item = merge.item
        if existing.version > announced:  # reasons of a version not announced yet ride along
            carried = list(dict.fromkeys([*existing.change_reasons, *item.change_reasons]))
            item = item.model_copy(update={"change_reasons": carried})
        new_doc = {**item.model_dump(mode="python", by_alias=True), ANNOUNCED: announced}
        expected = None if merged_doc is not None else existing.version
        # The announced version is left as stored: another process may have just raised it.
        if await store.replace_if_version(ITEMS, new_doc, expected, preserve=("views", ANNOUNCED)):
            if merged_doc is not None:
                await store.collection(MERGED_ITEMS).delete_one({"_id": revision.story_id})
            return item, announced
    raise ConcurrentRevision(f"item {revision.story_id} kept changing under us")


async def retire(store: MongoStore, item: Item) -> None:
    """Move an ended story's item out of ``items`` (after its announcement was recorded)."""
    doc = await store.get(ITEMS, item.id)
    if doc is None:
        return
    await store.upsert(MERGED_ITEMS, item.id, {k: v for k, v in doc.items() if k != "_id"})
    await store.collection(ITEMS).delete_one({"_id": item.id, "status": "merged"})


async def merged_target(store: MongoStore, item_id: str) -> str | None:
    """Where an ended story's members went (the read side redirects there), else None."""
    doc = await store.get(MERGED_ITEMS, item_id)
    target = doc.get("merged_into") if doc else None
    return target if isinstance(target, str) and target else None


def _fields(state: RevisionState) -> dict[str, Any]:
    return {k: v for k, v in state.to_doc().items() if k != "_id"}
