"""The LLM cache in MongoDB (nx-27017, or NEWSROOM_TEST_MONGO_URL): a redelivered or re-run story
is answered from the cache with zero requests to the model server, across processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from services.translate.usecase import TranslatedSegments, TranslateUseCase
from shared.events import Article, SectionStatus
from shared.llm import (
    CachedAnswer,
    CacheKey,
    LLMGateway,
    MongoLLMCache,
    RetryPolicy,
    load_glossary,
    load_prompt,
)
from shared.settings import LLMSettings
from shared.storage import LLM_CACHE, MongoStore
from tests.support.scripted_llm import ScriptedLLM, TranslatingResponder
from tests.support.translation_samples import PARAGRAPHS, SUMMARY, TITLE, translation_table


@pytest.fixture()
async def store(mongo_server: str, mongo_db_name: str) -> AsyncIterator[MongoStore]:
    mongo = MongoStore(mongo_server, mongo_db_name)
    yield mongo
    await mongo.client.drop_database(mongo_db_name)
    await mongo.close()


@pytest.fixture()
def server() -> Iterator[ScriptedLLM]:
    with ScriptedLLM(responder=TranslatingResponder(translation_table())) as scripted:
        yield scripted


def story() -> Article:
    return Article(
        article_id="a-cache",
        source_id="36kr",
        source_name="36Kr",
        url="https://example.com/c",
        canonical_url="https://example.com/c",
        title=TITLE[0],
        summary=SUMMARY[0],
        body="\n\n".join(zh for zh, _ in PARAGRAPHS[:6]),
        language="zh",
        fetched_at=datetime(2026, 11, 28, tzinfo=UTC),
    )


def usecase(server: ScriptedLLM, store: MongoStore) -> TranslateUseCase:
    settings = LLMSettings(base_url=server.url, model="scripted")
    gateway = LLMGateway(settings, "translate", cache=MongoLLMCache(store), retry=RetryPolicy(max_retries=1))
    return TranslateUseCase(gateway, load_glossary(), load_prompt("translate"), chunk_tokens=600)


async def test_cache_round_trip(store: MongoStore) -> None:
    cache = MongoLLMCache(store)
    key = CacheKey("m", "translate.v1", "ab" * 32)
    assert await cache.get(key) is None
    answer = CachedAnswer({"segments": [{"id": "title", "text": "Hello"}]}, 10, 3)
    await cache.put(key, answer)
    await cache.put(key, answer)  # idempotent
    assert await cache.get(key) == answer
    doc = await store.get(LLM_CACHE, key.id)
    assert doc is not None and doc["model"] == "m" and doc["prompt_version"] == "translate.v1"
    assert TranslatedSegments.model_validate(doc["output"]).segments[0].text == "Hello"


async def test_redelivered_story_costs_zero_requests(server: ScriptedLLM, store: MongoStore) -> None:
    first = await usecase(server, store).translate(story())
    assert first.status == SectionStatus.OK, first.qa_flags
    sent = len(server.requests)
    assert sent >= 3  # head + several body chunks
    # A redelivery, handled by a fresh process (new gateway, new client, same database).
    again = await usecase(server, store).translate(story())
    assert len(server.requests) == sent
    assert again == first
    assert await store.collection(LLM_CACHE).count_documents({}) == sent
