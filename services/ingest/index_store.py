"""The story index survives restarts: each story's state (members, MinHashes, vectors) is one
document in ``story_index`` (upserted when the story changes), and at start-up the stories still
inside the time window are read back and restored in creation order."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from shared.core.clustering import MINHASH_SCHEME, SNAPSHOT_FORMAT, StoryIndex
from shared.storage import MongoStore

log = logging.getLogger("newsroom.ingest")

# Not (yet) in shared.storage's list of collections: owned by the ingest service.
STORY_INDEX = "story_index"
META_ID = "__meta__"


def state_fields(state: dict[str, Any]) -> dict[str, Any]:
    """The stored document of one story's state (its times as dates, for the window query)."""
    return {
        "state": state,
        "last_seen": datetime.fromisoformat(state["last_seen"]),
        "created_at": datetime.fromisoformat(state["created_at"]),
    }


class IndexStore:
    def __init__(self, store: MongoStore) -> None:
        self.store = store

    async def save_story(self, index: StoryIndex, story_id: str, now: datetime) -> None:
        await self.store.upsert(STORY_INDEX, story_id, state_fields(index.story_state(story_id)))

    async def save_states(self, states: list[dict[str, Any]]) -> None:
        """Several stories' states (``StoryIndex.story_state``, taken by the caller) in one bulk write
        (each is the whole document: written without reading the stored one)."""
        docs = {s["story_id"]: state_fields(s) for s in states}
        await self.store.upsert_many(STORY_INDEX, docs, whole=set(docs))

    async def save_meta(self, index: StoryIndex) -> None:
        await self.store.upsert(
            STORY_INDEX,
            META_ID,
            {
                "embedder": index.embedder.name if index.embedder is not None else None,
                "config": {
                    k: getattr(index.config, k)
                    for k in ("num_perm", "shingle_chars_zh", "shingle_chars_other")
                },
            },
        )

    async def restore(self, index: StoryIndex, now: datetime) -> int:
        """Restore the stories seen within the window; an incompatible saved index (another
        embedder or shingling) is ignored with a warning: clustering then starts afresh."""
        meta = await self.store.get(STORY_INDEX, META_ID) or {}
        since = now - timedelta(hours=index.config.window_h)
        docs: list[dict[str, Any]] = []
        async for doc in self.store.collection(STORY_INDEX).find({"last_seen": {"$gte": since}}):
            if doc.get("_id") != META_ID:
                docs.append(doc)
        # The state's own ISO timestamp orders them (same type everywhere); the id breaks ties so
        # stories created at the same instant come back in the same order every time.
        docs.sort(key=lambda d: (d["state"]["created_at"], d["_id"]))
        snapshot = {
            "format": SNAPSHOT_FORMAT,
            "minhash_scheme": MINHASH_SCHEME,
            "embedder": meta.get("embedder"),
            "config": meta.get("config", {}),
            "stories": [d["state"] for d in docs],
        }
        try:
            index.restore(snapshot, now)
        except ValueError as exc:
            log.warning("saved story index not restored", extra={"reason": str(exc)})
            index.restore({"format": SNAPSHOT_FORMAT, "minhash_scheme": MINHASH_SCHEME, "stories": []}, now)
        await self.save_meta(index)
        return len(index)
