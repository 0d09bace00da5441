"""The gateway against the behaviour of real OpenAI-compatible servers (issue 18), on a scripted
server on loopback: context windows (setting, discovery, a 400 that states it, an answer the
server shortened), 400s classified by their message, repair and cut-off answers that fit, slow
is not down, adaptive concurrency, and the request shapes each server family documents:

- OpenAI: ``response_format`` ``{"type": "json_schema", "json_schema": {name, schema, strict}}``;
  system messages honoured.
- llama.cpp server: json_schema accepted, ``json_object`` with a ``schema`` field enforced by
  grammar; ``GET /props`` gives ``default_generation_settings.n_ctx``, ``total_slots`` and the
  ``chat_template``.
- llama-cpp-python: 500 to json_schema; ``json_object`` + ``schema`` (grammar); the ``gemma``
  chat format drops system messages; a context overflow is a 400 "This model's maximum context
  length is N tokens"; a max_tokens beyond the context is shortened silently.
- vLLM: json_schema accepted; ``GET /v1/models`` gives ``max_model_len``.
- Ollama (0.5+): json_schema in ``response_format`` honoured (grammar); no context in /v1/models.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from services.translate.usecase import TranslatedSegments
from shared.core.translation import Segment, estimate_tokens, translate_prompt_variables
from shared.llm import (
    OUTAGE_ERRORS,
    LLMAnswerTruncated,
    LLMContextExceeded,
    LLMGateway,
    LLMTimeout,
    LLMUnavailable,
    RetryPolicy,
    forget_endpoints,
    load_glossary,
    load_prompt,
    whole_reason,
)
from shared.llm.discovery import context_from_models, from_props
from shared.llm.endpoint import AdaptiveLimiter, classify_rejection, context_limit_from_message
from shared.llm.gateway import estimate_prompt_tokens
from shared.metrics import REGISTRY
from shared.settings import LLMSettings
from tests.support.scripted_llm import Reply, ScriptedLLM, segments_reply

VALID = {"title": "OpenAI CFO Sarah Friar says the device ships in 2026"}
LLAMA_CPP_PYTHON_OVERFLOW = (
    "This model's maximum context length is 4096 tokens. However, you requested 9000 tokens "
    "(5000 in the messages, 4000 in the completion). Please reduce the length of the messages or completion."
)


@pytest.fixture()
def server() -> Iterator[ScriptedLLM]:
    forget_endpoints()
    with ScriptedLLM() as scripted:
        yield scripted
    forget_endpoints()


async def _no_wait(seconds: float) -> None:
    return None


def gateway(server: ScriptedLLM, **overrides: object) -> LLMGateway:
    options: dict[str, object] = {
        "base_url": server.url,
        "model": "m",
        "timeout_s": 5.0,
        "min_timeout_s": 0.05,
    }
    options.update(overrides)
    return LLMGateway(
        LLMSettings.model_validate(options),
        "translate",
        retry=RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=0.02),
        sleep=_no_wait,
    )


def messages(text: str = "OpenAI首席财务官Sarah Friar称设备将于2026年发布") -> list[dict[str, str]]:
    variables = translate_prompt_variables([Segment("title", text)], "zh", "en", load_glossary())
    return load_prompt("translate", 1).render(**variables)


async def ask(gw: LLMGateway, msgs: list[dict[str, str]] | None = None, max_tokens: int = 512):  # type: ignore[no-untyped-def]
    return await gw.structured(
        msgs or messages(), TranslatedSegments, prompt_version="translate.v1", max_tokens=max_tokens
    )


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- 400s classified by their message ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "kind", "limit"),
    [
        (LLAMA_CPP_PYTHON_OVERFLOW, "context", 4096),
        (
            "This model's maximum context length is 8192 tokens. However, your messages resulted in 9100 "
            "tokens. Please reduce the length of the messages.",
            "context",
            8192,
        ),  # OpenAI, vLLM
        ("the request exceeds the available context size, try increasing it", "context", None),  # llama.cpp
        ("Requested tokens (5000) exceed context window of 4096", "context", 4096),
        ("response_format json_schema is not supported", "format", None),
        ("'json_schema' is not one of ['text', 'json_object']", "format", None),
        ("invalid value for temperature: 3", "other", None),
    ],
)
def test_rejections_are_classified_by_their_message(message: str, kind: str, limit: int | None) -> None:
    assert classify_rejection(message) == kind
    assert context_limit_from_message(message) == limit


async def test_a_context_400_teaches_the_window_and_keeps_json_schema(server: ScriptedLLM) -> None:
    server.enqueue(Reply(status=400, error=LLAMA_CPP_PYTHON_OVERFLOW), segments_reply(VALID))
    gw = gateway(server)
    result = await ask(gw, max_tokens=6000)
    assert result.value.segments[0].text == VALID["title"]
    first, second = server.requests
    # A context-length 400 is not "json_schema unsupported".
    assert first["response_format"]["type"] == second["response_format"]["type"] == "json_schema"
    assert gw.context_tokens == 4096
    assert estimate_prompt_tokens(second["messages"]) + second["max_tokens"] <= 4096


async def test_a_prompt_that_cannot_fit_is_never_sent(server: ScriptedLLM) -> None:
    gw = gateway(server, context_tokens=1024)
    long_text = "台积电2026年营收增长34%。" * 300
    with pytest.raises(LLMContextExceeded, match="send less text"):
        await ask(gw, messages(long_text))
    assert server.requests == []


async def test_the_context_comes_from_the_server_when_it_tells(server: ScriptedLLM) -> None:
    server.models_body = {"object": "list", "data": [{"id": "m", "object": "model", "max_model_len": 2048}]}
    server.enqueue(segments_reply(VALID))
    gw = gateway(server)
    await ask(gw, max_tokens=4000)
    assert gw.context_tokens == 2048
    request = server.requests[0]
    assert estimate_prompt_tokens(request["messages"]) + request["max_tokens"] <= 2048


async def test_a_silently_shortened_answer_teaches_the_window(server: ScriptedLLM) -> None:
    # llama-cpp-python shortens max_tokens to what its context leaves, without an error: the
    # answer stops well before max_tokens, and prompt + answer is the context.
    server.enqueue(
        Reply(
            content='{"segments": [{"id": "title", "text": "OpenAI',
            finish_reason="length",
            completion_tokens=1200,
        ),
    )
    gw = gateway(server)
    with pytest.raises(LLMAnswerTruncated):  # no larger answer fits: the caller must send less
        await ask(gw, max_tokens=3000)
    prompt = estimate_prompt_tokens(server.requests[0]["messages"])
    assert gw.context_tokens == pytest.approx(prompt + 1200, abs=50)
    assert len(server.requests) == 1


# --- repair and cut-off answers ----------------------------------------------------------------------


async def test_the_repair_request_fits_the_context(server: ScriptedLLM) -> None:
    garbage = "Sure! " + "这是一个很长的回答，" * 2000  # not JSON, far longer than the context
    server.enqueue(Reply(content=garbage), segments_reply(VALID))
    gw = gateway(server, context_tokens=2048)
    await ask(gw, max_tokens=600)
    repair = server.requests[1]
    assert estimate_prompt_tokens(repair["messages"]) + repair["max_tokens"] <= 2048
    assert "not valid JSON" in repair["messages"][-1]["content"]


async def test_a_cut_off_answer_without_more_room_is_not_asked_again(server: ScriptedLLM) -> None:
    server.enqueue(Reply(content='{"segments": [{"id": "title", "text": "Open', finish_reason="length"))
    gw = gateway(server, context_tokens=1400)
    with pytest.raises(LLMAnswerTruncated, match="send less text"):
        await ask(gw, max_tokens=5000)  # fitted to what the context leaves: no more room later
    assert len(server.requests) == 1


# --- slow is not down ------------------------------------------------------------------------------------


async def test_slow_answers_time_out_into_llm_timeout_not_an_outage(server: ScriptedLLM) -> None:
    labels = {"task": "translate", "model": "m"}
    timeouts_before = sample("newsroom_llm_requests_total", {**labels, "outcome": "timeout"})
    seconds_before = sample("newsroom_llm_request_seconds_count", labels)
    server.enqueue(*[Reply(content="{}", delay_s=1.0) for _ in range(3)])
    gw = gateway(server, timeout_s=0.2, max_timeouts=2, concurrency_start=4)
    with pytest.raises(LLMTimeout) as caught:
        await ask(gw)
    assert not isinstance(caught.value, OUTAGE_ERRORS) and not isinstance(caught.value, LLMUnavailable)
    assert len(server.requests) == 3
    # Every timeout is counted and timed; each one cut the concurrency limit.
    assert sample("newsroom_llm_requests_total", {**labels, "outcome": "timeout"}) - timeouts_before == 3
    assert sample("newsroom_llm_request_seconds_count", labels) - seconds_before == 3
    assert gw.state.limiter.limit == 1.0


async def test_an_endpoint_that_refuses_connections_is_down(server: ScriptedLLM) -> None:
    gw = gateway(server)
    server.stop()
    with pytest.raises(LLMUnavailable):
        await ask(gw)


async def test_429_halves_the_concurrency_and_an_answer_raises_it_again(server: ScriptedLLM) -> None:
    server.enqueue(Reply(status=429), segments_reply(VALID))
    gw = gateway(server, concurrency_start=4, concurrency=8)
    await ask(gw)
    # Halved by the 429, then one step of additive increase (the first answer is the fastest yet).
    assert gw.state.limiter.limit == pytest.approx(2.0 + 1 / 2.0)


async def test_a_held_slot_keeps_new_requests_back_until_the_server_may_be_done() -> None:
    now = [0.0]
    limiter = AdaptiveLimiter(1, 4, clock=lambda: now[0])
    await limiter.acquire()
    await limiter.release(hold_s=30.0)  # we gave up; the server may work on it for 30 s more
    waiting = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    now[0] = 31.0
    await asyncio.wait_for(waiting, 5.0)
    assert limiter.in_flight == 1


def test_aimd_adds_one_per_round_and_halves_on_trouble() -> None:
    limiter = AdaptiveLimiter(2, 8)
    limiter.increase()
    limiter.increase()
    assert limiter.limit == pytest.approx(2.0 + 0.5 + 1 / 2.5)
    limiter.decrease()
    assert limiter.limit == pytest.approx((2.9) / 2)
    for _ in range(10):
        limiter.decrease()
    assert limiter.limit == 1.0


# --- request shapes per server family ----------------------------------------------------------------


async def test_openai_style_server_gets_json_schema(server: ScriptedLLM) -> None:
    server.enqueue(segments_reply(VALID))
    await ask(gateway(server, instructions="system"))
    request = server.requests[0]
    assert request["response_format"]["type"] == "json_schema"
    spec = request["response_format"]["json_schema"]
    assert set(spec) == {"name", "schema", "strict"} and spec["strict"] is True
    assert [m["role"] for m in request["messages"]] == ["system", "user"]  # instructions first


async def test_llama_cpp_python_gets_json_object_with_schema_and_instructions_in_the_user_message(
    server: ScriptedLLM,
) -> None:
    server.reject_json_schema = True  # 500, as llama-cpp-python answers
    server.enqueue(segments_reply(VALID), segments_reply(VALID))
    gw = gateway(server)
    await ask(gw)
    await ask(gw, messages("另一个标题"))
    kinds = [r["response_format"]["type"] for r in server.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]  # learned once, remembered
    for request in server.requests[1:]:
        assert request["response_format"]["schema"]["required"] == ["segments"]  # grammar-enforced
        # The gemma chat format drops system messages: everything is in the one user message,
        # the instructions (and the schema) before the data.
        assert [m["role"] for m in request["messages"]] == ["user"]
        content = request["messages"][0]["content"]
        assert content.index("professional news translator") < content.index('<source_text id="title">')
        assert '"segments"' in content


async def test_llama_cpp_server_tells_context_slots_and_template(server: ScriptedLLM) -> None:
    server.props_body = {
        "default_generation_settings": {"n_ctx": 4096},
        "total_slots": 1,
        "chat_template": "{% for m in messages %}{% if m['role'] == 'system' %}...{% endif %}{% endfor %}",
    }
    server.enqueue(segments_reply(VALID))
    gw = gateway(server, concurrency_start=4)
    await ask(gw, max_tokens=8000)
    request = server.requests[0]
    assert gw.context_tokens == 4096 and gw.state.limiter.maximum == 1
    assert [m["role"] for m in request["messages"]] == ["system", "user"]  # its template renders system
    assert estimate_prompt_tokens(request["messages"]) + request["max_tokens"] <= 4096


async def test_vllm_tells_its_context_in_the_model_list(server: ScriptedLLM) -> None:
    server.models_body = {"data": [{"id": "m", "object": "model", "max_model_len": 32768}]}
    server.enqueue(segments_reply(VALID))
    gw = gateway(server)
    await ask(gw, max_tokens=1000)
    assert gw.context_tokens == 32768
    assert server.requests[0]["response_format"]["type"] == "json_schema"


async def test_ollama_takes_json_schema_and_its_model_list_has_no_context(server: ScriptedLLM) -> None:
    server.models_body = {
        "object": "list",
        "data": [{"id": "qwen2.5:7b", "object": "model", "owned_by": "library"}],
    }
    server.enqueue(segments_reply(VALID))
    gw = gateway(server, model="qwen2.5:7b")
    await ask(gw)
    assert server.requests[0]["response_format"]["type"] == "json_schema"
    assert gw.context_tokens == 8192 and gw.state.context_source == "assumed"


def test_discovery_parsers_read_only_what_the_fields_say() -> None:
    assert context_from_models({"data": [{"id": "a", "context_length": 131072}]}, "a") == 131072
    assert context_from_models({"data": [{"id": "a", "meta": {"n_ctx_train": 32768}}]}, "a") is None
    assert context_from_models({"data": [{"id": "a"}, {"id": "b", "max_model_len": 4096}]}, "a") is None
    props = from_props(
        {"default_generation_settings": {"n_ctx": 8192}, "total_slots": 4, "chat_template": ""}
    )
    assert props.context_tokens == 8192 and props.slots == 4 and props.chat_template is None


def test_reasons_are_never_cut_mid_sentence() -> None:
    text = "The first sentence says what failed. " * 10 + "A last sentence that is rather long indeed."
    short = whole_reason(text, 120)
    assert len(short) <= 125 and short.endswith("(…)")
    assert short[: -len(" (…)")].endswith(".")
    assert whole_reason("short.", 120) == "short."
    assert estimate_tokens(short) > 0


async def test_a_loop_cut_off_at_the_limit_is_not_asked_again(server: ScriptedLLM) -> None:
    from shared.llm import LLMOutputInvalid

    looping = '{"segments": [{"id": "title", "text": "' + "the device ships " * 80
    server.enqueue(Reply(content=looping, finish_reason="length"))
    with pytest.raises(LLMOutputInvalid, match="generation loop") as caught:
        await ask(gateway(server), max_tokens=400)
    assert not isinstance(caught.value, LLMAnswerTruncated)  # no split either: it would loop again
    assert len(server.requests) == 1


async def test_calls_waiting_in_the_limiter_send_with_the_format_learned_meanwhile(
    server: ScriptedLLM,
) -> None:
    server.reject_json_schema = True
    server.responder = lambda request: segments_reply(VALID)
    gw = gateway(server, concurrency_start=1, concurrency=1)
    await asyncio.gather(*(ask(gw, messages(f"标题{i}")) for i in range(4)))
    kinds = [r["response_format"]["type"] for r in server.requests]
    assert kinds.count("json_schema") == 1 and len(kinds) == 5  # one probe for the four calls


async def test_translate_requests_name_the_segment_ids_in_the_schema(server: ScriptedLLM) -> None:
    from services.translate.usecase import TranslateUseCase
    from tests.unit.test_translate_usecase import EN_SUMMARY, EN_TITLE, article

    server.reject_json_schema = True  # llama-cpp-python: the schema is enforced by grammar
    server.enqueue(segments_reply({"title": EN_TITLE, "summary": EN_SUMMARY}))
    gw = gateway(server)
    await TranslateUseCase(gw, load_glossary(), load_prompt("translate")).translate(article())
    schema = server.requests[-1]["response_format"]["schema"]
    # A grammar built from this schema cannot answer with ids of its own.
    assert schema["$defs"]["TranslatedSegment"]["properties"]["id"]["enum"] == ["title", "summary"]
