"""The translate use case through the real gateway and a scripted OpenAI-compatible server: good
answers, QA failures retried then flagged, chunked bodies, the cache, no LLM, outages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from services.translate.usecase import TranslateUseCase
from shared.events import Article, SectionStatus
from shared.llm import (
    InMemoryLLMCache,
    LLMGateway,
    LLMUnavailable,
    RetryPolicy,
    load_glossary,
    load_prompt,
    not_configured_reason,
)
from shared.llm import gateway as gateway_module
from shared.settings import LLMSettings
from tests.support.scripted_llm import (
    Reply,
    ScriptedLLM,
    TranslatingResponder,
    request_segments,
    segments_reply,
)
from tests.support.translation_samples import PARAGRAPHS, SUMMARY, TITLE, translation_table

ZH_TITLE = "OpenAI首席财务官Sarah Friar:2026年底前发布AI设备"
EN_TITLE = "OpenAI CFO Sarah Friar: AI device to launch by the end of 2026"
ZH_SUMMARY = "Uber对Nuro追加投资近5亿美元。"
EN_SUMMARY = "Uber invested nearly $500 million more in Nuro."


def article(**changes: object) -> Article:
    fields: dict[str, object] = {
        "article_id": "a1",
        "source_id": "36kr",
        "source_name": "36Kr",
        "url": "https://example.com/a1",
        "canonical_url": "https://example.com/a1",
        "title": ZH_TITLE,
        "summary": ZH_SUMMARY,
        "body": None,
        "language": "zh",
        "fetched_at": datetime(2026, 11, 28, tzinfo=UTC),
    }
    fields.update(changes)
    return Article.model_validate(fields)


@pytest.fixture()
def server() -> Iterator[ScriptedLLM]:
    gateway_module.forget_endpoints()
    with ScriptedLLM() as scripted:
        yield scripted


async def _no_wait(seconds: float) -> None:
    return None


def usecase(
    server: ScriptedLLM, cache: InMemoryLLMCache | None = None, **options: object
) -> TranslateUseCase:
    chunk_tokens = int(options.pop("chunk_tokens", 2000))  # type: ignore[call-overload]
    settings = LLMSettings.model_validate({"base_url": server.url, "model": "scripted", **options})
    gateway = LLMGateway(
        settings,
        "translate",
        cache=cache,
        retry=RetryPolicy(max_retries=2, base_delay_s=0.01),
        sleep=_no_wait,
    )
    return TranslateUseCase(gateway, load_glossary(), load_prompt("translate"), chunk_tokens=chunk_tokens)


async def test_no_llm_configured_is_unavailable_with_the_reason() -> None:
    reason = not_configured_reason(LLMSettings(), "translate")
    assert reason and "NEWSROOM_LLM__BASE_URL" in reason
    translation = await TranslateUseCase(
        None, load_glossary(), load_prompt("translate"), unavailable_reason=reason
    ).translate(article())
    assert translation.status == SectionStatus.UNAVAILABLE and translation.reason == reason
    assert translation.title.zh == ZH_TITLE and translation.title.en is None  # nothing invented
    assert translation.provenance is None


async def test_good_answer_gives_a_checked_translation(server: ScriptedLLM) -> None:
    server.enqueue(segments_reply({"title": EN_TITLE, "summary": EN_SUMMARY}))
    translation = await usecase(server).translate(article())
    assert translation.status == SectionStatus.OK and translation.qa_flags == []
    assert translation.title.en == EN_TITLE and translation.title.zh == ZH_TITLE
    assert translation.summary.en == EN_SUMMARY
    assert translation.provenance is not None
    assert (
        translation.provenance.model == "scripted" and translation.provenance.prompt_version == "translate.v1"
    )
    assert translation.attempts == 1 and len(server.requests) == 1
    assert list(request_segments(server.requests[0])) == ["title", "summary"]


@pytest.mark.parametrize(
    ("bad_title", "bad_summary", "flag"),
    [
        (EN_TITLE.replace("CFO Sarah Friar", "CEO Sam Altman"), EN_SUMMARY, "title:glossary:首席财务官"),
        (EN_TITLE.replace("2026", "2023"), EN_SUMMARY, "title:year:2026年"),
        (EN_TITLE, "Uber invested more in Nuro.", "summary:amount:5亿美元"),
    ],
    ids=["CFO-to-CEO", "2026-to-2023", "dropped-500-million"],
)
async def test_qa_failure_is_retried_naming_it_then_flagged(
    server: ScriptedLLM, bad_title: str, bad_summary: str, flag: str
) -> None:
    bad = segments_reply({"title": bad_title, "summary": bad_summary})
    server.enqueue(bad, segments_reply({"title": bad_title, "summary": bad_summary}))
    translation = await usecase(server).translate(article())
    assert len(server.requests) == 2
    retry_prompt = server.requests[1]["messages"][-1]["content"]
    assert "failed automatic checks" in retry_prompt
    failing = flag.split(":")[0]
    # Only the failing segment is sent again, with its failure named.
    assert list(request_segments(server.requests[1])) == [failing]
    assert flag.split(":")[2] in retry_prompt
    assert flag in translation.qa_flags
    assert translation.status == SectionStatus.PARTIAL and translation.attempts == 2
    assert translation.title.en == bad_title  # the text is kept, with its flag


async def test_retry_that_fixes_the_failure_clears_it(server: ScriptedLLM) -> None:
    server.enqueue(
        segments_reply({"title": EN_TITLE.replace("2026", "2023"), "summary": EN_SUMMARY}),
        segments_reply({"title": EN_TITLE}),
    )
    translation = await usecase(server).translate(article())
    assert translation.status == SectionStatus.OK and translation.qa_flags == []
    assert translation.title.en == EN_TITLE and translation.attempts == 2


async def test_long_body_is_chunked_translated_in_parallel_and_joined_in_order(server: ScriptedLLM) -> None:
    server.responder = TranslatingResponder(translation_table())
    body = "\n\n".join(zh for zh, _ in PARAGRAPHS)
    source = article(title=TITLE[0], summary=SUMMARY[0], body=body)
    translation = await usecase(server, chunk_tokens=700, concurrency=1).translate(source)
    assert translation.status == SectionStatus.OK, translation.qa_flags
    assert translation.body.en == "\n\n".join(en for _, en in PARAGRAPHS)
    assert len(server.requests) > 3
    # Title and summary are asked first; the body chunks follow.
    assert list(request_segments(server.requests[0])) == ["title", "summary"]
    assert all(all(k.startswith("body.") for k in request_segments(r)) for r in server.requests[1:])


async def test_short_story_is_one_request_and_body_can_be_switched_off(server: ScriptedLLM) -> None:
    server.responder = TranslatingResponder(translation_table())
    body = PARAGRAPHS[8][0]
    translation = await usecase(server).translate(article(title=TITLE[0], summary=SUMMARY[0], body=body))
    assert len(server.requests) == 1 and translation.body.en == PARAGRAPHS[8][1]
    off = await usecase(server).translate(
        article(title=TITLE[0], summary=SUMMARY[0], body=body, translate_body=False)
    )
    assert off.body.en is None and off.body.zh == body
    assert off.reason and "switched off" in off.reason
    assert list(request_segments(server.requests[-1])) == ["title", "summary"]


async def test_redelivered_story_is_served_from_the_cache(server: ScriptedLLM) -> None:
    cache = InMemoryLLMCache()
    server.enqueue(
        segments_reply({"title": EN_TITLE.replace("2026", "2023"), "summary": EN_SUMMARY}),
        segments_reply({"title": EN_TITLE}),
    )
    first = await usecase(server, cache).translate(article())
    sent = len(server.requests)
    again = await usecase(server, cache).translate(article())  # a new process with the same cache
    assert len(server.requests) == sent == 2
    assert again == first


async def test_endpoint_down_raises_unavailable(server: ScriptedLLM) -> None:
    server.down = True
    with pytest.raises(LLMUnavailable):
        await usecase(server).translate(article())


async def test_unusable_title_answer_fails_the_section(server: ScriptedLLM) -> None:
    server.enqueue(*[Reply(content="not json") for _ in range(4)])
    translation = await usecase(server).translate(article())
    assert translation.status == SectionStatus.FAILED
    assert translation.title.en is None and "title:no_translation" in translation.qa_flags
    assert translation.reason and "no usable title" in translation.reason
