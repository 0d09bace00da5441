"""SCORE_STATE in MongoDB: one document per story, written with optimistic concurrency (a
``version`` field) so two events of one story, or two score processes, never lose a member."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from services.score.usecase import ScoreState
from shared.storage import SCORE_STATE, MongoStore

log = logging.getLogger("newsroom.score")


def _is_current(doc: dict[str, Any]) -> bool:
    """Documents written by this version of the stage (the backbone's placeholder stored members only)."""
    return "version" in doc and "last_article" in doc


class MongoScoreStates:
    def __init__(self, store: MongoStore) -> None:
        self.store = store
        self.collection = store.collection(SCORE_STATE)

    async def get(self, story_id: str) -> ScoreState | None:
        doc = await self.store.get(SCORE_STATE, story_id)
        if doc is None or not _is_current(doc):
            return None
        return ScoreState.from_doc(doc)

    async def save(self, state: ScoreState, expected_version: int) -> bool:
        doc = state.to_doc()
        if expected_version:
            # A whole-document replace, not $set: nx-27017 (0.8.1) stores a top-level datetime
            # written by $set into an existing document as a naive string (first_seen_at would
            # then drop out of the decay query).
            query = {"_id": state.story_id, "version": expected_version}
            result = await self.collection.replace_one(query, doc)
            return bool(result.matched_count)
        try:
            await self.collection.insert_one(doc)
            return True
        except DuplicateKeyError:
            stored = await self.store.get(SCORE_STATE, state.story_id)
            if stored is not None and not _is_current(stored):
                # A placeholder document of the backbone stage: replace it (its members are in the event).
                await self.collection.replace_one({"_id": state.story_id}, doc)
                return True
            return False

    async def young(self, since: datetime, limit: int) -> list[ScoreState]:
        # nx-27017 scans for a non-_id filter: fine at this scale; the limit keeps a pass bounded.
        query = {"first_seen_at": {"$gte": since}}
        cursor = self.collection.find(query).sort("first_seen_at", DESCENDING).limit(limit)
        states = []
        async for doc in cursor:
            if not _is_current(doc):
                continue
            try:
                states.append(ScoreState.from_doc(doc))
            except (KeyError, ValueError) as exc:
                log.warning("unreadable score state", extra={"story_id": doc.get("_id"), "error": str(exc)})
        return states
