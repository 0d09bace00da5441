"""The analyze service through a real nats-server (JetStream), with the real local tier (the
multilingual embedder, loaded once per process) and the scripted OpenAI-compatible server on or
off: a translated story goes in on news.translated and an analyzed event comes out with summary,
tags and entities; with the model, commentary in both languages from both tiers; without it, the
commentary is absent with the reason; an unusable answer is published from the local tier (never
dead-lettered); during an outage the story waits and completes once the model is back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import nats as nats_client
import numpy as np
import pytest

from services.analyze.app import build
from shared import subjects
from shared.core.embeddings import encode_vector
from shared.events import SectionStatus, StoryEvent, StoryVector
from shared.llm import gateway as gateway_module
from shared.metrics import REGISTRY
from shared.pipeline import Outgoing, publish_durably
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.settings import DeliverySettings, LLMSettings, Settings, StageDelivery
from tests.support.inproc import running
from tests.support.scripted_llm import Reply, ScriptedLLM, json_reply
from tests.unit.test_analysis_llm import (
    COMMENTARY_EN,
    COMMENTARY_ZH,
    EN_SUMMARY,
    GOOD_ANSWER,
    story_event,
)

MAX_DELIVER = 3


def settings_for(nats: str, llm: LLMSettings, mongo: str | None = None, db: str = "newsroom") -> Settings:
    fast = StageDelivery(max_deliver=MAX_DELIVER, ack_wait_s=60.0, batch_size=4, retry_delay_s=0.05)
    return Settings(
        nats_url=nats,
        mongo_url=mongo,
        mongo_db=db,
        llm=llm,
        delivery=DeliverySettings(analyze=fast, outage_retry_delay_s=0.1, poison_after=1000),
    )


async def stream_payloads(url: str, stream: str, subject: str) -> list[dict[str, Any]]:
    nc = await nats_client.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out: list[dict[str, Any]] = []
        if not info.state.messages:
            return out
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await js.get_msg(stream, seq)
            except Exception:
                continue
            wildcard = subject.endswith(">") and (msg.subject or "").startswith(subject[:-1])
            if msg.subject == subject or wildcard:
                out.append(json.loads(msg.data or b"{}"))
        return out
    finally:
        await nc.close()


async def analyzed_events(url: str, count: int = 1, timeout_s: float = 60.0) -> list[StoryEvent]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        payloads = await stream_payloads(url, "NEWS_PIPELINE", subjects.ANALYZED)
        if len(payloads) >= count:
            return [StoryEvent.model_validate(p) for p in payloads]
        if loop.time() > deadline:
            raise AssertionError(f"{count} analyzed event(s) expected, got {len(payloads)}")
        await asyncio.sleep(0.1)


async def send(service: Any, event: StoryEvent) -> None:
    outgoing = Outgoing(subjects.TRANSLATED, event, f"in:{event.event_id}")
    await publish_durably(service.broker, outgoing, "test")


def outage_nacks() -> float:
    return REGISTRY.get_sample_value("newsroom_retries_total", {"stage": "analyze", "kind": "outage"}) or 0.0


@pytest.fixture()
def llm_server() -> Iterator[ScriptedLLM]:
    gateway_module.forget_endpoints()
    with ScriptedLLM(responder=lambda _request: json_reply(GOOD_ANSWER)) as scripted:
        yield scripted


async def test_with_the_llm_both_tiers_write_the_analysis(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, llm_server: ScriptedLLM
) -> None:
    url = nats_url(nats)
    llm = LLMSettings(base_url=llm_server.url, model="scripted")
    service = build(settings_for(url, llm, mongo_server, mongo_db_name))
    async with running(service):
        await send(service, story_event())
        [out] = await analyzed_events(url)
    analysis = out.analysis
    assert analysis is not None
    assert analysis.status == SectionStatus.OK and analysis.tiers == ["local", "llm"]
    assert analysis.summary.en == GOOD_ANSWER["summary_en"]
    assert analysis.summary.zh == GOOD_ANSWER["summary_zh"]
    assert analysis.commentary.en == COMMENTARY_EN and analysis.commentary.zh == COMMENTARY_ZH
    assert analysis.commentary_provenance is not None
    assert analysis.commentary_provenance.model_dump() == {
        "tier": "llm",
        "model": "scripted",
        "prompt_version": "analyze.v1",
    }
    assert {"autonomous-driving", "funding-ma"} <= {t.id for t in analysis.tags}
    assert {t.source for t in analysis.tags} <= {"local", "llm"}
    entities = {e.id: e for e in analysis.entities}
    assert entities["uber"].role == "investor" and "nuro" in entities
    assert analysis.amounts and analysis.amounts[0].usd == 500_000_000.0
    assert analysis.keyphrases and analysis.taxonomy_version
    # One structured call, with the article delimited as data.
    assert len(llm_server.requests) == 1
    user = llm_server.requests[0]["messages"][-1]["content"]
    assert '<source_text id="body">' in user and '<source_text id="translation.body">' in user


async def test_without_an_llm_the_local_tier_is_published_and_the_commentary_says_why(
    nats: EmbeddedServer,
) -> None:
    url = nats_url(nats)
    service = build(settings_for(url, LLMSettings()))  # no LLM: no MongoDB needed either
    assert service.store is None
    # A vector from another model: not used for tagging, and like any story vector it is not
    # carried past this stage (its last user).
    foreign = StoryVector(model="other-model/1", dim=4, data=encode_vector(np.full(4, 0.5, dtype=np.float32)))
    async with running(service):
        await send(service, story_event().model_copy(update={"vector": foreign}))
        [out] = await analyzed_events(url)
    assert out.vector is None
    analysis = out.analysis
    assert analysis is not None
    assert analysis.status == SectionStatus.PARTIAL and analysis.tiers == ["local"]
    assert analysis.commentary.en is None and analysis.commentary.zh is None
    # The reason reaches the reader: no operator advice (that is logged at start-up).
    assert analysis.commentary_reason == "no language model configured"
    # Summary: extracted from the Chinese body; English only from the translate stage.
    body = out.article.body or ""
    assert analysis.summary.zh and all(s in body for s in analysis.summary.zh.split("。") if s)
    assert analysis.summary.en == EN_SUMMARY
    assert analysis.summary_provenance is not None and analysis.summary_provenance.tier == "local"
    assert "autonomous-driving" in {t.id for t in analysis.tags}
    assert all(t.source == "local" for t in analysis.tags)
    assert {"uber", "nuro"} <= {e.id for e in analysis.entities}


async def test_an_unusable_answer_publishes_the_local_tier_and_nothing_is_dead_lettered(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, llm_server: ScriptedLLM
) -> None:
    url = nats_url(nats)
    llm_server.enqueue(Reply(content='{"summary_en": "Uber'), Reply(content="not json at all"))
    llm = LLMSettings(base_url=llm_server.url, model="scripted")
    service = build(settings_for(url, llm, mongo_server, mongo_db_name))
    async with running(service):
        await send(service, story_event())
        [out] = await analyzed_events(url)
    assert out.analysis is not None and out.analysis.tiers == ["local"]
    assert out.analysis.commentary_reason and "no usable answer" in out.analysis.commentary_reason
    assert out.analysis.tags and out.analysis.entities
    assert await stream_payloads(url, "NEWS_DLQ", "news.dlq.>") == []


async def test_during_an_outage_the_story_waits_and_completes_when_the_model_is_back(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, llm_server: ScriptedLLM
) -> None:
    url = nats_url(nats)
    llm_server.down = True  # 503 to every request
    llm = LLMSettings(base_url=llm_server.url, model="scripted", max_retries=0, timeout_s=5.0)
    service = build(settings_for(url, llm, mongo_server, mongo_db_name))
    before = outage_nacks()
    async with running(service):
        await send(service, story_event())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while outage_nacks() - before < MAX_DELIVER + 1:  # more tries than an ordinary error gets
            assert loop.time() < deadline, "the outage was not retried"
            await asyncio.sleep(0.1)
        assert await stream_payloads(url, "NEWS_PIPELINE", subjects.ANALYZED) == []
        llm_server.down = False
        [out] = await analyzed_events(url)
    assert out.analysis is not None and out.analysis.tiers == ["local", "llm"]
    assert await stream_payloads(url, "NEWS_DLQ", "news.dlq.>") == []
