"""The search index: postings by term, read by ``_id`` (what nx-27017 answers without a scan).

Collections:
- ``search_postings``: ``{_id: term, ids: [item id, ...]}`` (terms: shared/core/search_terms.py).
- ``search_item_terms``: ``{_id: item id, terms: [...], v: TERMS_VERSION}``: what an item is filed
  under now, so a changed text loses its old terms.
- ``search_state``: ``{_id: "postings", v: TERMS_VERSION, complete: true}`` once every stored item
  is filed. Until then the read side keeps the scan (a data dir from before the index, or after a
  change of the term rules): publish rebuilds it in the background at start-up, in batches.

Writes are idempotent, so a redelivered story changes nothing: ``$addToSet`` of new terms first,
``$pull`` of dropped ones, then the item's term list last (a crash in between is redone from the
old list on the next delivery). Equality on an indexed array, which nx-27017 answers wrongly, is
never used: every read is by ``_id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo import UpdateOne

from shared.core.search_terms import TERMS_VERSION, item_terms
from shared.core.translation import Glossary
from shared.storage import ITEMS, MongoStore

log = logging.getLogger("newsroom.publish.search")

POSTINGS = "search_postings"
ITEM_TERMS = "search_item_terms"
STATE = "search_state"
STATE_ID = "postings"

# Only what the terms are made of (the backfill reads every item).
TERM_FIELDS = {
    "title": 1,
    "summary": 1,
    "keyphrases": 1,
    "tags": 1,
    "entities": 1,
    "sources.title": 1,
    "sources.language": 1,
}
# The same, as top-level Item fields (for ``Item.model_dump(include=...)``).
TERM_SOURCES = {"title", "summary", "keyphrases", "tags", "entities", "sources"}
BACKFILL_BATCH = 200


class SearchIndex:
    def __init__(self, store: MongoStore, glossary: Glossary | None = None) -> None:
        self.store = store
        self.glossary = glossary
        self._complete = False

    async def index_item(self, item_id: str, doc: Mapping[str, Any]) -> tuple[int, int]:
        """File the item under its current terms. Returns (terms added, terms removed)."""
        terms = item_terms(doc, self.glossary)
        previous = await self.store.get(ITEM_TERMS, item_id)
        old = set(previous.get("terms") or []) if previous else set()
        added, removed = terms - old, old - terms
        updates = [UpdateOne({"_id": t}, {"$addToSet": {"ids": item_id}}, upsert=True) for t in sorted(added)]
        updates += [UpdateOne({"_id": t}, {"$pull": {"ids": item_id}}) for t in sorted(removed)]
        if updates:
            await self.store.collection(POSTINGS).bulk_write(updates, ordered=False)
        if updates or previous is None or previous.get("v") != TERMS_VERSION:
            await self.store.upsert(ITEM_TERMS, item_id, {"terms": sorted(terms), "v": TERMS_VERSION})
        return len(added), len(removed)

    async def is_complete(self) -> bool:
        if not self._complete:
            state = await self.store.get(STATE, STATE_ID)
            self._complete = bool(state and state.get("complete") and state.get("v") == TERMS_VERSION)
        return self._complete

    async def matching(self, terms: Iterable[str]) -> set[str] | None:
        """Ids of the items filed under every term; None when the index is not complete."""
        wanted = sorted(set(terms))
        if not wanted or not await self.is_complete():
            return None
        found = {
            d["_id"]: d.get("ids") or []
            async for d in self.store.collection(POSTINGS).find({"_id": {"$in": wanted}})
        }
        if len(found) < len(wanted):
            return set()
        postings = sorted(found.values(), key=len)
        ids = set(postings[0])
        for other in postings[1:]:
            ids.intersection_update(other)
            if not ids:
                break
        return ids

    async def backfill(self) -> int:
        """File every stored item not filed under the current rules, then mark the index complete.
        Batches of BACKFILL_BATCH items, yielding between them; safe beside live publishing."""
        if await self.is_complete():
            return 0
        filed = 0
        cursor = self.store.collection(ITEMS).find({}, TERM_FIELDS).batch_size(BACKFILL_BATCH)
        async for doc in cursor:
            await self.index_item(doc["_id"], doc)
            filed += 1
            if filed % BACKFILL_BATCH == 0:
                log.info("search index: %d items filed", filed)
                await asyncio.sleep(0)
        await self.store.upsert(STATE, STATE_ID, {"complete": True, "v": TERMS_VERSION, "items": filed})
        self._complete = True
        log.info("search index complete: %d items", filed)
        return filed
