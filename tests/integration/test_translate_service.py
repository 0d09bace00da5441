"""The translate service through a real nats-server (JetStream), nx-27017 for the LLM cache and
the scripted OpenAI-compatible server: stories come out translated; with the model server down for
a while nothing is dead-lettered and everything completes once it is back; without an LLM the
section is "unavailable" with the reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import nats as nats_client
import pytest

from services.translate.app import build
from shared import subjects
from shared.events import Article, Cluster, StoryEvent, StoryMember
from shared.llm import gateway as gateway_module
from shared.metrics import REGISTRY
from shared.pipeline import Outgoing, publish_durably
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.settings import DeliverySettings, LLMSettings, Settings, StageDelivery
from tests.support.inproc import running
from tests.support.scripted_llm import ScriptedLLM, TranslatingResponder
from tests.support.translation_samples import PARAGRAPHS, SUMMARY, TITLE, translation_table
from tests.support.waits import WAIT_S

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
MAX_DELIVER = 3


def event(index: int) -> StoryEvent:
    zh, _ = PARAGRAPHS[index]
    article = Article(
        article_id=f"a{index}",
        source_id="36kr",
        source_name="36Kr",
        url=f"https://x.org/{index}",
        canonical_url=f"https://x.org/{index}",
        title=TITLE[0],
        summary=SUMMARY[0],
        body=zh,
        language="zh",
        fetched_at=NOW,
    )
    member = StoryMember(
        article_id=article.article_id,
        source_id="36kr",
        source_name="36Kr",
        url=article.url,
        title=article.title,
        language="zh",
        joined_at=NOW,
    )
    return StoryEvent(
        story_id=f"s{index}",
        article_id=article.article_id,
        article=article,
        cluster=Cluster(story_id=f"s{index}", is_new=True, method="new", members=[member]),
    )


def settings_for(nats: str, mongo: str, db: str, llm: LLMSettings) -> Settings:
    fast = StageDelivery(max_deliver=MAX_DELIVER, ack_wait_s=30.0, batch_size=4, retry_delay_s=0.05)
    return Settings(
        nats_url=nats,
        mongo_url=mongo,
        mongo_db=db,
        llm=llm,
        delivery=DeliverySettings(translate=fast, outage_retry_delay_s=0.1, poison_after=1000),
    )


async def stream_payloads(url: str, stream: str, subject: str) -> list[dict[str, Any]]:
    nc = await nats_client.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            if not info.state.messages:
                break
            try:
                msg = await js.get_msg(stream, seq)
            except Exception:
                continue
            if msg.subject == subject or (
                subject.endswith(">") and (msg.subject or "").startswith(subject[:-1])
            ):
                out.append(json.loads(msg.data or b"{}"))
        return out
    finally:
        await nc.close()


async def wait_until(predicate, timeout_s: float = WAIT_S) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


def outage_nacks() -> float:
    return (
        REGISTRY.get_sample_value("newsroom_retries_total", {"stage": "translate", "kind": "outage"}) or 0.0
    )


@pytest.fixture()
def llm_server() -> Iterator[ScriptedLLM]:
    gateway_module.forget_endpoints()
    with ScriptedLLM(responder=TranslatingResponder(translation_table())) as scripted:
        yield scripted


async def test_story_comes_out_translated(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, llm_server: ScriptedLLM
) -> None:
    url = nats_url(nats)
    llm = LLMSettings(base_url=llm_server.url, model="scripted")
    service = build(settings_for(url, mongo_server, mongo_db_name, llm))
    async with running(service):
        await publish_durably(service.broker, Outgoing(subjects.INGESTED, event(8), "in:8"), "test")

        async def translated() -> bool:
            return len(await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED)) == 1

        await wait_until(translated)
    out = StoryEvent.model_validate((await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED))[0])
    assert out.translation is not None
    assert out.translation.status == "ok" and out.translation.qa_flags == []
    assert out.translation.title.en == TITLE[1] and out.translation.summary.en == SUMMARY[1]
    assert out.translation.body.en == PARAGRAPHS[8][1]
    assert (
        out.translation.provenance is not None and out.translation.provenance.prompt_version == "translate.v1"
    )
    assert len(llm_server.requests) == 1


async def test_model_server_down_for_a_while_nothing_dead_lettered_all_complete(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, llm_server: ScriptedLLM
) -> None:
    url = nats_url(nats)
    llm = LLMSettings(
        base_url=llm_server.url, model="scripted", max_retries=1, retry_base_delay_s=0.05, timeout_s=5.0
    )
    llm_server.stop()  # connection refused until it comes back on the same port
    service = build(settings_for(url, mongo_server, mongo_db_name, llm))
    stories = [6, 7, 8, 9]
    before = outage_nacks()
    async with running(service):
        for index in stories:
            await publish_durably(
                service.broker, Outgoing(subjects.INGESTED, event(index), f"in:{index}"), "test"
            )

        async def waited_long_enough() -> bool:
            # Every story was tried more often than max_deliver would allow for an ordinary error.
            return outage_nacks() - before >= len(stories) * (MAX_DELIVER + 1)

        await wait_until(waited_long_enough)
        assert await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED) == []
        llm_server.start()

        async def all_translated() -> bool:
            return len(await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED)) == len(stories)

        await wait_until(all_translated)
    assert await stream_payloads(url, "NEWS_DLQ", "news.dlq.>") == []
    outputs = [
        StoryEvent.model_validate(p) for p in await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED)
    ]
    assert sorted(o.story_id for o in outputs) == [f"s{i}" for i in stories]
    assert all(o.translation is not None and o.translation.status == "ok" for o in outputs)


async def test_without_llm_the_story_is_forwarded_unavailable_with_the_reason(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str
) -> None:
    url = nats_url(nats)
    service = build(settings_for(url, mongo_server, mongo_db_name, LLMSettings()))
    async with running(service):
        await publish_durably(service.broker, Outgoing(subjects.INGESTED, event(1), "in:1"), "test")

        async def forwarded() -> bool:
            return len(await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED)) == 1

        await wait_until(forwarded)
    out = StoryEvent.model_validate((await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED))[0])
    assert out.translation is not None and out.translation.status == "unavailable"
    # The reason reaches the reader: no operator advice (that is logged at start-up).
    assert out.translation.reason == "no language model configured"
    assert out.translation.languages.en is not None and out.translation.languages.en.reason == "no_model"
    assert out.translation.title.en is None and out.translation.title.zh == TITLE[0]
