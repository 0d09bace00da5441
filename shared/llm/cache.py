"""Cache of validated LLM answers keyed by (model, prompt version, input hash): a redelivered or
re-run message costs zero tokens. MongoDB for the services, memory for unit tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.events import stable_id
from shared.storage import LLM_CACHE, MongoStore


def input_hash(payload: Mapping[str, Any]) -> str:
    """Hash of everything that shapes an answer besides model and prompt version (the rendered
    messages, the output schema, the generation limits)."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheKey:
    model: str
    prompt_version: str
    input_hash: str

    @property
    def id(self) -> str:
        return stable_id("llm", self.model, self.prompt_version, self.input_hash, length=40)


@dataclass(frozen=True)
class CachedAnswer:
    output: dict[str, Any]
    input_tokens: int = 0
    output_tokens: int = 0


class LLMCache(Protocol):
    async def get(self, key: CacheKey) -> CachedAnswer | None: ...

    async def put(self, key: CacheKey, answer: CachedAnswer) -> None: ...


class InMemoryLLMCache:
    def __init__(self) -> None:
        self.entries: dict[str, CachedAnswer] = {}

    async def get(self, key: CacheKey) -> CachedAnswer | None:
        return self.entries.get(key.id)

    async def put(self, key: CacheKey, answer: CachedAnswer) -> None:
        self.entries[key.id] = answer


class MongoLLMCache:
    """One document per answer in the ``llm_cache`` collection, ``_id`` = CacheKey.id (upserts are
    idempotent, so two workers answering the same input at once is harmless)."""

    def __init__(self, store: MongoStore, collection: str = LLM_CACHE) -> None:
        self.store = store
        self.collection = collection

    async def get(self, key: CacheKey) -> CachedAnswer | None:
        doc = await self.store.get(self.collection, key.id)
        if doc is None or not isinstance(doc.get("output"), dict):
            return None
        return CachedAnswer(
            output=doc["output"],
            input_tokens=int(doc.get("input_tokens", 0)),
            output_tokens=int(doc.get("output_tokens", 0)),
        )

    async def put(self, key: CacheKey, answer: CachedAnswer) -> None:
        await self.store.upsert(
            self.collection,
            key.id,
            {
                "model": key.model,
                "prompt_version": key.prompt_version,
                "input_hash": key.input_hash,
                "output": answer.output,
                "input_tokens": answer.input_tokens,
                "output_tokens": answer.output_tokens,
                "created_at": datetime.now(UTC),
            },
        )
