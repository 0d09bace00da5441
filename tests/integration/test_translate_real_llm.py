"""Opt-in: the translate service against a real OpenAI-compatible model server.

Runs only when NEWSROOM_TEST_LLM_URL is set (e.g. http://127.0.0.1:8000/v1 for llama.cpp's server;
NEWSROOM_TEST_LLM_MODEL names the model, NEWSROOM_TEST_LLM_KEY the key if any). It proves the real
HTTP path: request, response format negotiation (llama-cpp-python answers 500 to json_schema),
validation and QA. A small base model writes poor translations: the test accepts an honest
"failed"/"partial" section, never a crash, a dead letter or an "ok" section that fails QA.
"""

from __future__ import annotations

import os

import pytest

from services.translate.app import build
from shared import subjects
from shared.core.translation import check_translation
from shared.events import SectionStatus, StoryEvent
from shared.llm import LLMGateway, LLMOutputInvalid, load_glossary
from shared.pipeline import Outgoing, publish_durably
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.settings import LLMSettings
from tests.integration.test_translate_service import event, settings_for, stream_payloads, wait_until
from tests.support.inproc import running
from tests.support.translation_samples import PARAGRAPHS

pytestmark = [
    pytest.mark.llm,
    pytest.mark.skipif(
        not os.environ.get("NEWSROOM_TEST_LLM_URL"), reason="NEWSROOM_TEST_LLM_URL is not set"
    ),
]


def real_llm() -> LLMSettings:
    return LLMSettings(
        base_url=os.environ["NEWSROOM_TEST_LLM_URL"],
        model=os.environ.get("NEWSROOM_TEST_LLM_MODEL", "default"),
        api_key=os.environ.get("NEWSROOM_TEST_LLM_KEY"),
        timeout_s=float(os.environ.get("NEWSROOM_TEST_LLM_TIMEOUT", "300")),
        max_retries=1,
        concurrency=1,
    )


async def test_gateway_gets_a_valid_structured_answer_or_says_why() -> None:
    from services.translate.usecase import TranslatedSegments

    gateway = LLMGateway(real_llm(), "translate")
    messages = [
        {
            "role": "system",
            "content": "Translate the text in <source_text> tags into English. Answer in JSON.",
        },
        {"role": "user", "content": '<source_text id="title">\n台积电2026年营收增长34%\n</source_text>'},
    ]
    try:
        result = await gateway.structured(
            messages, TranslatedSegments, prompt_version="test.v1", max_tokens=256
        )
    except LLMOutputInvalid as exc:  # a small base model may never produce valid JSON
        assert "after a repair request" in str(exc)
    else:
        assert result.requests in (1, 2) and result.input_tokens > 0
    finally:
        await gateway.aclose()


async def test_translate_service_with_a_real_model(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str
) -> None:
    url = nats_url(nats)
    service = build(settings_for(url, mongo_server, mongo_db_name, real_llm()))
    async with running(service):
        await publish_durably(service.broker, Outgoing(subjects.INGESTED, event(9), "in:real"), "test")

        async def translated() -> bool:
            return len(await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED)) == 1

        await wait_until(translated, timeout_s=float(os.environ.get("NEWSROOM_TEST_LLM_TIMEOUT", "300")) * 4)
    assert await stream_payloads(url, "NEWS_DLQ", "news.dlq.>") == []
    out = StoryEvent.model_validate((await stream_payloads(url, "NEWS_PIPELINE", subjects.TRANSLATED))[0])
    translation = out.translation
    assert translation is not None and translation.provenance is not None
    assert translation.status in (SectionStatus.OK, SectionStatus.PARTIAL, SectionStatus.FAILED)
    if translation.status == SectionStatus.OK:
        assert translation.body.en is not None
        assert check_translation(PARAGRAPHS[9][0], translation.body.en, "zh", "en", load_glossary()) == []
    else:
        assert translation.qa_flags or translation.reason
