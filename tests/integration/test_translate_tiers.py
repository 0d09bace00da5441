"""Source text as the first translation tier, through a real nats-server, nx-27017 and the scripted
OpenAI-compatible server: a story whose other language a member already covers costs zero
translation tokens; a story no member covers is translated by the model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from services.translate.app import build
from shared import subjects
from shared.events import StoryEvent, StoryMember
from shared.llm.endpoint import forget_endpoints
from shared.pipeline import Outgoing, publish_durably
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.settings import LLMSettings, TranslateSettings
from shared.storage import STORIES, MongoStore
from tests.integration.test_translate_service import event, settings_for, stream_payloads, wait_until
from tests.support.inproc import running
from tests.support.scripted_llm import ScriptedLLM, TranslatingResponder
from tests.support.stack import pipeline_consumers
from tests.support.translation_samples import TITLE, translation_table

NOW = datetime(2026, 11, 28, 12, 5, tzinfo=UTC)


@pytest.fixture()
def llm_server() -> Iterator[ScriptedLLM]:
    forget_endpoints()
    with ScriptedLLM(responder=TranslatingResponder(translation_table())) as scripted:
        yield scripted


def tokens(server: ScriptedLLM) -> int:
    """What the model was asked for (the scripted server's own usage counting)."""
    from shared.core.translation import estimate_tokens

    return sum(estimate_tokens(str(m.get("content", ""))) for r in server.requests for m in r["messages"])


async def test_a_story_covered_in_both_languages_costs_no_translation_tokens(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, llm_server: ScriptedLLM
) -> None:
    url = nats_url(nats)
    settings = settings_for(
        url, mongo_server, mongo_db_name, LLMSettings(base_url=llm_server.url, model="scripted")
    )
    covered, alone = event(1), event(2)
    # The English member joined the first story before translate saw it (ingest's story record).
    english = StoryMember(
        article_id="en-1",
        source_id="wire",
        source_name="Wire",
        url="https://wire.example/openai-device",
        title=TITLE[1],
        language="en",
        joined_at=NOW,
    )
    store = MongoStore(mongo_server, mongo_db_name)
    members = [*covered.cluster.members, english]
    await store.upsert(STORIES, covered.story_id, {"members": [m.model_dump(mode="python") for m in members]})
    await store.close()

    service = build(settings)
    async with running(service):
        await publish_durably(service.broker, Outgoing(subjects.INGESTED, covered, "in:1"), "test")

        async def one() -> bool:
            return len(await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED)) == 1

        await wait_until(one)
        covered_tokens = tokens(llm_server)
        await publish_durably(service.broker, Outgoing(subjects.INGESTED, alone, "in:2"), "test")

        async def two() -> bool:
            return len(await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED)) == 2

        await wait_until(two)
    outs = [
        StoryEvent.model_validate(p) for p in await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED)
    ]
    by_story = {o.story_id: o.translation for o in outs}
    first, second = by_story[covered.story_id], by_story[alone.story_id]
    assert covered_tokens == 0 and first is not None and second is not None
    assert first.title.en == TITLE[1] and first.provenance is not None and first.provenance.tier == "source"
    assert first.languages.en is not None and first.languages.en.origin == "source"
    assert first.languages.en.article_id == "en-1" and first.languages.en.source_name == "Wire"
    # The story no member covers in English is translated by the model (so the server was reachable).
    assert tokens(llm_server) > 0 and second.languages.en is not None
    assert second.languages.en.origin == "model" and second.languages.en.model == "scripted"


async def test_a_member_joining_during_the_grace_saves_the_translation(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, llm_server: ScriptedLLM
) -> None:
    url = nats_url(nats)
    settings = settings_for(
        url, mongo_server, mongo_db_name, LLMSettings(base_url=llm_server.url, model="scripted")
    )
    settings = settings.model_copy(update={"translate": TranslateSettings(source_wait_s=6.0)})
    story = event(3)
    english = StoryMember(
        article_id="en-3",
        source_id="wire",
        source_name="Wire",
        url="https://wire.example/3",
        title=TITLE[1],
        language="en",
        joined_at=NOW,
    )
    store = MongoStore(mongo_server, mongo_db_name)
    service = build(settings)
    async with running(service):
        await publish_durably(service.broker, Outgoing(subjects.INGESTED, story, "in:3"), "test")

        async def translate_holds_it() -> bool:
            return (await pipeline_consumers(url))["translate"] == (0, 1)

        # translate has the story (delivered, not acknowledged) and waits; the other language joins.
        await wait_until(translate_holds_it)
        members = [*story.cluster.members, english]
        await store.upsert(
            STORIES, story.story_id, {"members": [m.model_dump(mode="python") for m in members]}
        )

        async def done() -> bool:
            return len(await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED)) == 1

        await wait_until(done)
    await store.close()
    [out] = [
        StoryEvent.model_validate(p) for p in await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED)
    ]
    assert tokens(llm_server) == 0 and out.translation is not None
    assert out.translation.languages.en is not None and out.translation.languages.en.article_id == "en-3"
