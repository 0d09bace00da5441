"""LLM gateway: any OpenAI-compatible Chat Completions endpoint, through the official ``openai``
SDK's AsyncOpenAI with a configurable base URL.

- Structured output validated against a pydantic model. Response formats, in the order "auto"
  tries them: ``json_schema`` (OpenAI, vLLM, Ollama, llama.cpp); ``json_object`` with llama.cpp's
  ``schema`` field (llama-cpp-python answers 500 to json_schema but enforces this one by
  grammar); plain ``json_object``. A rejection *about the format* moves an endpoint down the list
  (remembered per endpoint); a 400 about the context length never does (messages are classified).
- Instructions go where the server's chat template hears them: the first system message, or the
  user message for templates that drop system messages (llama-cpp-python's ``gemma`` format);
  "auto" uses the system message only when the server shows a template that renders one.
- Every request fits the model's context window (setting, discovered, or learned from a 400 that
  states it): prompt + ``max_tokens``; the repair request too. An answer cut off at the token
  limit is asked again with more room only when more room fits; else ``LLMAnswerTruncated`` tells
  the caller to send less (split the text), never the same request again.
- Slow is not down: a timeout is derived from the work asked for and the endpoint's observed
  speed (time queued in our own limiter excluded), grows after each timeout, and a timed-out
  request's slot stays held while the server may still be working on it. Timeouts that persist
  give ``LLMTimeout`` (no answer for this story), never an outage. Only an endpoint that does not
  answer (connection refused, 5xx/429 through all retries, bad key) is ``LLMUnavailable``.
- Concurrency adapts (AIMD, see endpoint.py); token buckets for requests and tokens per minute.
- A cache keyed by (model, prompt version, input hash): a repeated input costs no request.
- Metrics: every request's outcome (timeouts included) and latency, tokens, learned limits
  (concurrency, speed, context, timeout), cache hits and misses, estimated cost.

The SDK's own retries are switched off (max_retries=0) so that every attempt is counted and
Retry-After, backoff and the outage decision live in one place.
"""

from __future__ import annotations

import asyncio
import copy
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from shared.core.translation import estimate_tokens
from shared.core.weak_answers import repetition
from shared.llm.cache import CachedAnswer, CacheKey, LLMCache, input_hash
from shared.llm.discovery import discover
from shared.llm.endpoint import (
    EndpointState,
    FormatMode,
    InstructionsRole,
    classify_rejection,
    context_limit_from_message,
    endpoint_state,
    forget_endpoints,
)
from shared.llm.metrics import (
    LLM_CACHE_HITS,
    LLM_CACHE_MISSES,
    LLM_CONCURRENCY_LIMIT,
    LLM_CONTEXT_TOKENS,
    LLM_COST_USD,
    LLM_ERRORS,
    LLM_REQUEST_SECONDS,
    LLM_REQUESTS,
    LLM_TIMEOUT_SECONDS,
    LLM_TOKENS,
    LLM_TOKENS_PER_SECOND,
)
from shared.settings import LLMSettings

if TYPE_CHECKING:  # the SDK is imported by the first gateway: ~1 s of every stage's start-up
    from openai import AsyncOpenAI

log = logging.getLogger("newsroom.llm")

__all__ = ["forget_endpoints"]  # re-exported: tests reset what endpoints learned

T = TypeVar("T", bound=BaseModel)
Message = dict[str, str]
Sleep = Callable[[float], Awaitable[None]]

# The next response format to try after the server rejected one ("auto" mode).
_FALLBACK: dict[FormatMode, FormatMode] = {
    "json_schema": "json_object_schema",
    "json_object_schema": "json_object",
}
MAX_RETRY_AFTER_S = 300.0
# The smallest answer worth asking for; a request with less room than this does not fit.
MIN_ANSWER_TOKENS = 128
# Safety margin on estimated prompt tokens (the estimate is a heuristic) plus the chat template's
# own tokens per message.
PROMPT_MARGIN = 1.15
TEMPLATE_TOKENS_PER_MESSAGE = 8


class LLMError(Exception):
    """Base class of the gateway's errors."""


class LLMNotConfigured(LLMError):
    """No endpoint (base URL and model) configured for the task."""


class LLMUnavailable(LLMError):
    """The endpoint stayed down (or rejects our credentials) through all retries: an outage.
    The message must wait and be retried later, never be dead-lettered for this."""


class LLMOutputInvalid(LLMError):
    """The answer was not valid JSON for the schema, even after the repair request."""


class LLMRequestRejected(LLMError):
    """The server refused this request itself (4xx other than 408/409/429/401/403/404),
    e.g. the input is too long: retrying the same request will not help."""


class LLMContextExceeded(LLMRequestRejected):
    """The prompt and the smallest useful answer do not fit the model's context window: send
    less text (split it)."""

    def __init__(self, message: str, *, prompt_tokens: int, context_tokens: int) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.context_tokens = context_tokens


class LLMAnswerTruncated(LLMOutputInvalid):
    """The answer was cut off at the token limit and no larger answer fits the context: the
    caller should ask for less at once (split the text), not send the same request again."""


class LLMTimeout(LLMOutputInvalid):
    """The endpoint is up but gave no answer within the (growing) timeouts: no answer for this
    call, not an outage (the story goes on without this part, with the reason)."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Wait before retry number ``attempt`` (1-based): the server's Retry-After plus a little
        jitter when given, else exponential backoff with jitter (half fixed, half random)."""
        if retry_after_s is not None:
            wait = min(max(retry_after_s, 0.0), MAX_RETRY_AFTER_S)
            return wait + rng.uniform(0.0, min(1.0, 0.1 * wait + 0.05))
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


class TokenBucket:
    """``per_minute`` units per minute, bursting up to a minute's worth. ``acquire`` waits until
    the units are available; ``adjust`` corrects an estimate once the real count is known (the
    level may go negative, delaying later callers)."""

    def __init__(
        self, per_minute: float, clock: Callable[[], float] = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self, amount: float) -> None:
        amount = min(float(amount), self.capacity)
        async with self._lock:  # first come, first served
            while True:
                self._refill()
                if self.level >= amount:
                    self.level -= amount
                    return
                await self._sleep((amount - self.level) / self.rate)

    def adjust(self, delta: float) -> None:
        self._refill()
        self.level = min(self.capacity, self.level - delta)


@dataclass(frozen=True)
class StructuredResult(Generic[T]):
    value: T
    model: str
    prompt_version: str
    cached: bool
    requests: int  # HTTP requests this call made (0 when served from the cache)
    input_tokens: int
    output_tokens: int
    rejected: tuple[str, ...] = ()  # why earlier answers of this call were not usable


@dataclass
class _Completion:
    content: str
    finish_reason: str | None
    input_tokens: int
    output_tokens: int
    max_tokens: int  # what the request asked for (after fitting the context)
    requests: int = 1  # HTTP requests it took (format fallbacks, context refits, retries)


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the form strict structured-output servers accept: every object
    closed (additionalProperties false) with all its properties required, no defaults."""
    schema = copy.deepcopy(model.model_json_schema())

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("default", None)
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


_CODE_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


def parse_structured(content: str, output: type[T], finish_reason: str | None) -> T:
    """The answer validated against ``output``; raises ValueError naming what is wrong."""
    if finish_reason == "length":
        raise ValueError("the answer was cut off at the token limit (truncated JSON)")
    fenced = _CODE_FENCE.match(content)
    text = fenced.group(1) if fenced else content.strip()
    if not text:
        raise ValueError("the answer was empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"the answer is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    try:
        return output.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'root'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise ValueError(f"the JSON does not match the schema ({problems})") from exc


def _retry_after_seconds(response: Any) -> float | None:
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return float(milliseconds) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())


def not_configured_reason(settings: LLMSettings, task: str) -> str | None:
    """Why no LLM can serve ``task``, or None when one is configured."""
    endpoint = settings.for_task(task)
    if not endpoint.base_url:
        return (
            f"no LLM configured for {task}: set NEWSROOM_LLM__BASE_URL and NEWSROOM_LLM__MODEL "
            f"(or NEWSROOM_LLM__{task.upper()}__BASE_URL / __MODEL) to an OpenAI-compatible endpoint"
        )
    if not endpoint.model:
        return (
            f"no LLM model configured for {task}: set NEWSROOM_LLM__MODEL "
            f"(or NEWSROOM_LLM__{task.upper()}__MODEL)"
        )
    return None


def place_instructions(messages: Sequence[Message], role: InstructionsRole, extra: str = "") -> list[Message]:
    """The messages with every system message's text (and ``extra``, e.g. the JSON schema) as the
    instructions: one first system message, or the start of the first user message (for chat
    templates that drop system messages). Other messages keep their order."""
    instructions = "\n\n".join(
        [m["content"] for m in messages if m.get("role") == "system" and m.get("content")]
        + ([extra] if extra else [])
    )
    rest = [dict(m) for m in messages if m.get("role") != "system"]
    if not instructions:
        return rest
    if role == "system":
        return [{"role": "system", "content": instructions}, *rest]
    for message in rest:
        if message.get("role") == "user":
            message["content"] = f"{instructions}\n\n{message['content']}"
            return rest
    return [{"role": "user", "content": instructions}, *rest]


def schema_instruction(schema: dict[str, Any]) -> str:
    return (
        "Answer with one JSON object that validates against this JSON Schema, and nothing else:\n"
        + json.dumps(schema, ensure_ascii=False)
    )


def request_body(
    model: str,
    messages: Sequence[Message],
    output: type[BaseModel],
    mode: FormatMode,
    role: InstructionsRole,
    max_tokens: int,
    temperature: float,
) -> dict[str, Any]:
    """The Chat Completions request body for ``mode`` and ``role`` (see the module doc)."""
    schema = strict_json_schema(output)
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "temperature": temperature}
    if mode == "json_schema":
        body["messages"] = place_instructions(messages, role)
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": output.__name__, "schema": schema, "strict": True},
        }
        return body
    # Without server-side json_schema the schema goes into the instructions too.
    body["messages"] = place_instructions(messages, role, schema_instruction(schema))
    if mode == "json_object_schema":
        body["response_format"] = {"type": "json_object", "schema": schema}
    elif mode == "json_object":
        body["response_format"] = {"type": "json_object"}
    return body


def estimate_prompt_tokens(messages: Sequence[Message]) -> int:
    return sum(estimate_tokens(m.get("content") or "") + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)


def whole_reason(text: str, limit: int = 600) -> str:
    """``text`` within ``limit`` characters, cut only after a whole sentence or clause (never in
    the middle of one); a marker says when something was left out."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    window = text[:limit]
    cut = max(window.rfind(mark) for mark in (". ", "; ", "。", "；", ") "))
    if cut < limit // 3:
        cut = window.rfind(" ")
    kept = window[: cut + 1].rstrip(" ;,")
    return f"{kept} (…)"


class LLMGateway:
    """Structured calls to one endpoint for one task (translate, analyze, score)."""

    def __init__(
        self,
        settings: LLMSettings,
        task: str,
        *,
        cache: LLMCache | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        client: AsyncOpenAI | None = None,
        rng: random.Random | None = None,
    ) -> None:
        reason = not_configured_reason(settings, task)
        if reason:
            raise LLMNotConfigured(reason)
        endpoint = settings.for_task(task)
        assert endpoint.base_url and endpoint.model
        self.settings = settings
        self.task = task
        self.base_url = endpoint.base_url.rstrip("/")
        self.model = endpoint.model
        self.api_key = endpoint.api_key
        self.configured_context = endpoint.context_tokens
        self.cache = cache
        self.retry = retry or RetryPolicy(
            max_retries=settings.max_retries, base_delay_s=settings.retry_base_delay_s
        )
        self._sleep = sleep
        self._rng = rng or random.Random()
        if client is None:
            from openai import AsyncOpenAI

            # Local servers need no key; the SDK insists on a non-empty one.
            client = AsyncOpenAI(
                base_url=self.base_url,
                api_key=endpoint.api_key or "not-needed",
                timeout=settings.timeout_s,
                max_retries=0,
            )
        self._client = client
        self.state: EndpointState = endpoint_state(
            self.base_url, self.model, settings.concurrency_start, settings.concurrency
        )
        self._request_bucket = TokenBucket(settings.requests_per_minute, sleep=sleep)
        self._token_bucket = TokenBucket(settings.tokens_per_minute, sleep=sleep)
        self._prices = settings.prices_per_million.get(self.model)

    @classmethod
    def from_settings(
        cls, settings: LLMSettings, task: str, cache: LLMCache | None = None
    ) -> LLMGateway | None:
        """The gateway for ``task``, or None when no LLM is configured (see not_configured_reason)."""
        if not_configured_reason(settings, task):
            return None
        return cls(settings, task, cache=cache)

    async def aclose(self) -> None:
        await self._client.close()

    # --- what callers size their requests by ---------------------------------------------------------

    @property
    def context_tokens(self) -> int:
        """The context window requests are fitted to: the smaller of the task's setting and what
        the server stated; else the shared setting; else the assumption."""
        known = [
            v
            for v in (
                self.configured_context,
                self.state.context_tokens if self.state.context_source != "assumed" else None,
            )
            if v
        ]
        if known:
            return min(known)
        return self.settings.assumed_context_tokens

    def prompt_budget(self, answer_tokens: int) -> int:
        """Estimated tokens (shared.core.translation.estimate_tokens) a prompt may have so that
        it fits the context with an answer of ``answer_tokens``."""
        room = self.context_tokens - answer_tokens
        return max(0, int(room / (PROMPT_MARGIN * max(self.state.token_ratio, 0.5))))

    # --- the public call -----------------------------------------------------------------------------

    async def structured(
        self,
        messages: Sequence[Message],
        output: type[T],
        *,
        prompt_version: str,
        max_tokens: int = 2048,
        temperature: float = 0.0,
    ) -> StructuredResult[T]:
        """Ask for a JSON answer matching ``output``; from the cache when this exact input was
        answered before. Raises LLMUnavailable (outage), LLMOutputInvalid (incl. LLMAnswerTruncated
        and LLMTimeout) or LLMRequestRejected (incl. LLMContextExceeded)."""
        messages = [dict(message) for message in messages]
        key = CacheKey(
            model=self.model,
            prompt_version=prompt_version,
            input_hash=input_hash(
                {
                    "messages": messages,
                    "schema": output.model_json_schema(),
                    "max_tokens": max_tokens,
                    "temperature": temperature,
                }
            ),
        )
        cached = await self._cache_get(key, output)
        if cached is not None:
            return cached
        await self._discover()

        completion = await self._complete(messages, output, max_tokens, temperature)
        requests, tokens_in, tokens_out = (
            completion.requests,
            completion.input_tokens,
            completion.output_tokens,
        )
        rejected: list[str] = []
        try:
            value = parse_structured(completion.content, output, completion.finish_reason)
        except ValueError as first_error:
            LLM_ERRORS.labels(self.task, "invalid_output").inc()
            rejected.append(str(first_error))
            loop = repetition(completion.content) if completion.finish_reason == "length" else None
            if loop is not None:
                # A loop until the token limit: more room or a repair only buys a longer loop.
                LLM_ERRORS.labels(self.task, "loop").inc()
                raise LLMOutputInvalid(
                    f"{self.model}'s answer was cut off at the token limit in a generation loop: "
                    f"{loop.message}"
                ) from first_error
            log.warning(
                "invalid LLM answer, asking for a repair",
                extra={"task": self.task, "error": str(first_error)},
            )
            repair, repair_tokens = self._repair(messages, completion, first_error, max_tokens)
            completion = await self._complete(repair, output, repair_tokens, temperature)
            requests += completion.requests
            tokens_in += completion.input_tokens
            tokens_out += completion.output_tokens
            try:
                value = parse_structured(completion.content, output, completion.finish_reason)
            except ValueError as second_error:
                LLM_ERRORS.labels(self.task, "invalid_output").inc()
                error = LLMAnswerTruncated if completion.finish_reason == "length" else LLMOutputInvalid
                raise error(
                    f"{self.model} gave no valid {output.__name__} after a repair request: {second_error} "
                    f"(first answer: {first_error})"
                ) from second_error

        await self._cache_put(key, CachedAnswer(value.model_dump(mode="json"), tokens_in, tokens_out))
        return StructuredResult(
            value=value,
            model=self.model,
            prompt_version=prompt_version,
            cached=False,
            requests=requests,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            rejected=tuple(rejected),
        )

    def _repair(
        self, messages: list[Message], completion: _Completion, error: ValueError, max_tokens: int
    ) -> tuple[list[Message], int]:
        """The repair request, fitted to the context. A cut-off answer is asked again with more
        room (without the cut-off text: it only fills the context) when more room fits, else
        LLMAnswerTruncated at once. Other invalid answers are shown back, cut to what fits."""
        prompt = estimate_prompt_tokens(messages) + 400  # + the schema instruction, roughly
        room = self._room(prompt)
        if completion.finish_reason == "length":
            wanted = min(2 * completion.max_tokens, room)
            if wanted < completion.max_tokens * 1.25 or wanted < MIN_ANSWER_TOKENS:
                LLM_ERRORS.labels(self.task, "truncated").inc()
                raise LLMAnswerTruncated(
                    f"{self.model}'s answer was cut off at {completion.max_tokens} tokens and a longer "
                    f"one does not fit its {self.context_tokens}-token context: send less text at once"
                )
            note = (
                f"Your previous answer was cut off at the length limit ({error}). Answer again with "
                "one complete JSON object that matches the required schema: be complete but concise."
            )
            return [*messages, {"role": "user", "content": note}], wanted
        note = (
            f"Your previous answer could not be used: {error}. Answer again with only one complete "
            "JSON object that matches the required schema, and nothing else."
        )
        answer_room = room - max_tokens - estimate_tokens(note) - 2 * TEMPLATE_TOKENS_PER_MESSAGE
        shown = completion.content[: max(0, min(8000, answer_room * 2))]
        if estimate_tokens(shown) > answer_room:
            shown = ""
        if shown:
            shown_back = {"role": "assistant", "content": shown}
            return [*messages, shown_back, {"role": "user", "content": note}], max_tokens
        return [*messages, {"role": "user", "content": note}], max_tokens

    # --- discovery ----------------------------------------------------------------------------------

    async def _discover(self) -> None:
        """Ask the server once per endpoint (and event loop); concurrent first calls wait for
        the same answer, so they keep their order in the limiter."""
        state = self.state
        if not self.settings.discover:
            return
        loop = asyncio.get_running_loop()
        task = state.discovery
        if task is None or task.get_loop() is not loop:
            if state.discovered and task is None:
                return
            task = state.discovery = loop.create_task(self._run_discovery())
        await asyncio.shield(task)

    async def _run_discovery(self) -> None:
        state = self.state
        state.discovered = True
        found = await discover(self.base_url, self.model, self.api_key)
        if found.context_tokens:
            state.learn_context(found.context_tokens, "server")
        if found.slots:
            state.limiter.maximum = max(1, min(state.limiter.maximum, found.slots))
            state.limiter.limit = min(state.limiter.limit, float(state.limiter.maximum))
        state.chat_template = found.chat_template
        if found.chat_template is not None and state.instructions is None:
            state.instructions = "system" if "system" in found.chat_template else "user"
        log.info(
            "LLM endpoint discovered",
            extra={
                "base_url": self.base_url,
                "model": self.model,
                "context_tokens": found.context_tokens,
                "slots": found.slots,
                "template": found.chat_template is not None,
            },
        )

    # --- cache --------------------------------------------------------------------------------------

    async def _cache_get(self, key: CacheKey, output: type[T]) -> StructuredResult[T] | None:
        if self.cache is None:
            return None
        try:
            answer = await self.cache.get(key)
        except Exception as exc:  # a cache outage costs tokens, not availability
            LLM_ERRORS.labels(self.task, "cache").inc()
            log.warning("LLM cache read failed: %s", exc)
            answer = None
        if answer is not None:
            try:
                value = output.model_validate(answer.output)
            except ValidationError:
                answer = None  # written by an older schema: ask again
            else:
                LLM_CACHE_HITS.labels(self.task).inc()
                return StructuredResult(
                    value=value,
                    model=key.model,
                    prompt_version=key.prompt_version,
                    cached=True,
                    requests=0,
                    input_tokens=answer.input_tokens,
                    output_tokens=answer.output_tokens,
                )
        LLM_CACHE_MISSES.labels(self.task).inc()
        return None

    async def _cache_put(self, key: CacheKey, answer: CachedAnswer) -> None:
        if self.cache is None:
            return
        try:
            await self.cache.put(key, answer)
        except Exception as exc:
            LLM_ERRORS.labels(self.task, "cache").inc()
            log.warning("LLM cache write failed: %s", exc)

    # --- requests -----------------------------------------------------------------------------------

    def format_mode(self) -> FormatMode:
        configured = self.settings.response_format
        if configured == "auto":
            return self.state.format or "json_schema"
        return configured

    def instructions_role(self) -> InstructionsRole:
        configured = self.settings.instructions
        if configured == "auto":
            # A server that shows no chat template may drop system messages (llama-cpp-python's
            # gemma format does, silently): the user message is heard by every template.
            return self.state.instructions or "user"
        return configured

    def _request(
        self,
        messages: list[Message],
        output: type[BaseModel],
        mode: FormatMode,
        max_tokens: int,
        temperature: float,
    ) -> dict[str, Any]:
        return request_body(
            self.model, messages, output, mode, self.instructions_role(), max_tokens, temperature
        )

    def _room(self, prompt_estimate: int) -> int:
        """Answer tokens left in the context after a prompt of ``prompt_estimate`` (estimated)."""
        prompt = int(prompt_estimate * PROMPT_MARGIN * max(self.state.token_ratio, 0.5))
        return self.context_tokens - prompt

    def _fit(self, request: dict[str, Any], wanted: int) -> int:
        """Set the request's max_tokens to fit the context; LLMContextExceeded when even a
        small answer does not fit. Returns the prompt estimate."""
        prompt = estimate_prompt_tokens(request["messages"])
        room = self._room(prompt)
        if room < min(wanted, MIN_ANSWER_TOKENS):
            LLM_ERRORS.labels(self.task, "context").inc()
            raise LLMContextExceeded(
                f"the prompt (about {prompt} tokens) leaves no room for an answer in {self.model}'s "
                f"{self.context_tokens}-token context: send less text at once",
                prompt_tokens=prompt,
                context_tokens=self.context_tokens,
            )
        request["max_tokens"] = min(wanted, room)
        return prompt

    def _timeout(self, prompt_tokens: int, max_tokens: int) -> float:
        """Read timeout for one request: the work asked for at the observed speed, three times
        over, with growing patience after timeouts; the setting until the speed is known."""
        state, settings = self.state, self.settings
        expected = state.speed.expected_seconds(int(prompt_tokens * state.token_ratio), max_tokens)
        if expected is None:
            timeout = settings.timeout_s * state.patience
        else:
            timeout = (3.0 * expected + 10.0) * state.patience
        timeout = min(settings.max_timeout_s, max(settings.min_timeout_s, timeout))
        LLM_TIMEOUT_SECONDS.labels(self.task, self.model).set(timeout)
        return timeout

    def _record(self, outcome: str, started: float) -> None:
        LLM_REQUESTS.labels(self.task, self.model, outcome).inc()
        LLM_REQUEST_SECONDS.labels(self.task, self.model).observe(time.perf_counter() - started)

    async def _complete(
        self, messages: list[Message], output: type[BaseModel], max_tokens: int, temperature: float
    ) -> _Completion:
        import openai  # loaded by now (the client's constructor imported it)

        state = self.state
        down_attempts = 0  # consecutive "not answering" signals (connection, 5xx, 429)
        timeouts = 0
        context_refits = 0
        requests = 0
        # True while trying the next format after a 5xx to the previous one: a 5xx may also be a
        # plain outage, so the switch is kept only if the next format then gets an answer.
        probing: FormatMode | None = None
        while True:
            await self._request_bucket.acquire(1)
            await state.limiter.acquire()
            # Built once a slot is ours: a call that waited in the limiter sends with what the
            # endpoint taught the calls before it (format, context, instructions).
            try:
                mode = self.format_mode()
                request = self._request(messages, output, mode, max_tokens, temperature)
                prompt = self._fit(request, max_tokens)
                sent_max = int(request["max_tokens"])
                estimate = prompt + sent_max
                await self._token_bucket.acquire(estimate)
            except BaseException:
                await state.limiter.release()
                raise
            LLM_CONCURRENCY_LIMIT.labels(self.task, self.model).set(state.limiter.limit)
            timeout = self._timeout(prompt, sent_max)
            hold_s = 0.0
            others_in_flight = state.limiter.in_flight > 1
            started = time.perf_counter()
            requests += 1
            try:
                # The connect timeout is short: a server that does not accept connections is down,
                # not slow.
                options = {**request, "timeout": httpx.Timeout(timeout, connect=min(10.0, timeout))}
                response = await self._client.chat.completions.create(**options)
            except openai.APITimeoutError as exc:
                if isinstance(exc.__cause__, httpx.ConnectTimeout):  # not accepting connections
                    self._record("connection", started)
                    down_attempts = await self._before_retry(down_attempts, "connection", exc, None)
                    continue
                self._record("timeout", started)
                LLM_ERRORS.labels(self.task, "timeout").inc()
                timeouts += 1
                # The server may still be working on it: keep its slot for about as long again.
                expected = state.speed.expected_seconds(int(prompt * state.token_ratio), sent_max)
                hold_s = min(timeout, expected if expected is not None else timeout / 2)
                state.limiter.decrease()
                state.patience = min(8.0, state.patience * 2.0)
                if probing:
                    state.format, probing = None, None
                log.warning(
                    "LLM request timed out (slow, not down)",
                    extra={"task": self.task, "timeout_s": round(timeout, 1), "timeouts": timeouts},
                )
                if timeouts > self.settings.max_timeouts:
                    raise LLMTimeout(
                        f"{self.base_url} gave no answer within {timeout:.0f} s ({timeouts} timeouts in a "
                        "row, with growing patience); the endpoint is up but too slow for this request"
                    ) from exc
                continue
            except openai.APIStatusError as exc:
                status = exc.status_code
                message = str(exc.message or "")
                kind = classify_rejection(message) if status in (400, 413, 422) or status >= 500 else "other"
                if (kind == "context" and status in (400, 413, 422, 500)) or status == 413:
                    self._record("context_exceeded", started)
                    stated = context_limit_from_message(message)
                    context_refits += 1
                    before = self.context_tokens
                    if stated:
                        state.learn_context(stated, "learned")
                    elif context_refits == 1:  # not stated: assume a quarter less than we thought
                        state.learn_context(int(before * 0.75), "learned")
                    LLM_CONTEXT_TOKENS.labels(self.task, self.model).set(self.context_tokens)
                    log.warning(
                        "%s: request over the context window (%d tokens assumed, now %d): %s",
                        self.base_url,
                        before,
                        self.context_tokens,
                        whole_reason(message, 300),
                    )
                    if self.context_tokens < before:
                        continue  # refit; _fit() raises LLMContextExceeded when nothing fits any more
                    LLM_ERRORS.labels(self.task, "context").inc()
                    raise LLMContextExceeded(
                        f"{self.base_url} rejected the request as longer than the context: {message}",
                        prompt_tokens=prompt,
                        context_tokens=self.context_tokens,
                    ) from exc
                fallback = _FALLBACK.get(mode)
                format_rejected = (
                    self.settings.response_format == "auto"
                    and fallback is not None
                    and (
                        (status in (400, 422) and kind == "format")
                        # a 5xx right after a switch is an outage, not another format problem
                        or (status in (500, 501) and kind != "context" and probing is None)
                    )
                )
                if format_rejected and fallback is not None:
                    self._record("format_unsupported", started)
                    LLM_ERRORS.labels(self.task, "schema_unsupported").inc()
                    log.warning(
                        "%s answered %s to a %s request: trying %s for this endpoint",
                        self.base_url,
                        status,
                        mode,
                        fallback,
                    )
                    state.format = fallback
                    probing = fallback if status >= 500 else None
                    continue
                if probing:  # the next format fails too: an outage, not a format problem
                    state.format, probing = None, None
                if status in (401, 403, 404):
                    self._record("auth" if status in (401, 403) else "not_found", started)
                    kind_label = "auth" if status in (401, 403) else "not_found"
                    LLM_ERRORS.labels(self.task, kind_label).inc()
                    LLM_ERRORS.labels(self.task, "unavailable").inc()
                    raise LLMUnavailable(
                        f"{self.base_url} answered {status} for model {self.model}: check the key and model "
                        f"name ({exc.message})"
                    ) from exc
                if status == 429 or status >= 500 or status in (408, 409):
                    outcome = "rate_limited" if status == 429 else "server_error"
                    self._record(outcome, started)
                    if status == 429:
                        state.limiter.decrease()
                    down_attempts = await self._before_retry(
                        down_attempts, outcome, exc, _retry_after_seconds(exc.response)
                    )
                    continue
                self._record("rejected", started)
                LLM_ERRORS.labels(self.task, "rejected").inc()
                raise LLMRequestRejected(
                    f"{self.base_url} rejected the request with {status}: {exc.message}"
                ) from exc
            except openai.APIConnectionError as exc:
                self._record("connection", started)
                if probing:
                    state.format, probing = None, None
                down_attempts = await self._before_retry(down_attempts, "connection", exc, None)
                continue
            finally:
                await state.limiter.release(hold_s)
            latency = time.perf_counter() - started
            self._record("ok", started)
            probing = None
            completion = self._account(response, request["messages"], estimate, sent_max, requests)
            state.observe_usage(prompt, completion.input_tokens)
            if (
                completion.finish_reason == "length"
                and completion.output_tokens < 0.9 * sent_max
                and 1024 <= completion.input_tokens + completion.output_tokens < self.context_tokens
            ):
                # Cut off well before max_tokens: the server shortened the answer to fit its context
                # (llama-cpp-python does so silently): its context is what this request used.
                state.learn_context(completion.input_tokens + completion.output_tokens, "learned")
                log.info(
                    "%s: context window learned from a shortened answer: %d tokens",
                    self.base_url,
                    self.context_tokens,
                )
            per_token = state.speed.observe(latency, completion.input_tokens, completion.output_tokens)
            fastest = state.speed.fastest or per_token
            if others_in_flight and per_token > 2.5 * fastest:
                state.limiter.decrease(0.75)  # answers slow down when we add requests: the server queues
            elif per_token <= 1.5 * fastest:
                state.limiter.increase()
            state.patience = max(1.0, state.patience * 0.5)
            speed = state.speed.tokens_per_second
            if speed:
                LLM_TOKENS_PER_SECOND.labels(self.task, self.model).set(speed)
            LLM_CONCURRENCY_LIMIT.labels(self.task, self.model).set(state.limiter.limit)
            LLM_CONTEXT_TOKENS.labels(self.task, self.model).set(self.context_tokens)
            return completion

    async def _before_retry(
        self, attempt: int, kind: str, exc: Exception, retry_after_s: float | None
    ) -> int:
        LLM_ERRORS.labels(self.task, kind).inc()
        attempt += 1
        if attempt > self.retry.max_retries:
            LLM_ERRORS.labels(self.task, "unavailable").inc()
            raise LLMUnavailable(
                f"{self.base_url} unavailable after {attempt} attempts (last: {kind}: {exc})"
            ) from exc
        delay = self.retry.delay(attempt, retry_after_s, self._rng)
        log.info("LLM %s, retry %d/%d in %.2fs", kind, attempt, self.retry.max_retries, delay)
        await self._sleep(delay)
        return attempt

    def _account(
        self, response: Any, messages: list[Message], estimate: int, max_tokens: int, requests: int
    ) -> _Completion:
        choice = response.choices[0] if response.choices else None
        content = (choice.message.content if choice and choice.message else None) or ""
        usage = getattr(response, "usage", None)
        tokens_in = getattr(usage, "prompt_tokens", None) or sum(
            estimate_tokens(m["content"]) for m in messages
        )
        tokens_out = getattr(usage, "completion_tokens", None) or estimate_tokens(content)
        LLM_TOKENS.labels(self.task, self.model, "in").inc(tokens_in)
        LLM_TOKENS.labels(self.task, self.model, "out").inc(tokens_out)
        if self._prices:
            price_in, price_out = self._prices
            LLM_COST_USD.labels(self.task, self.model).inc(
                (tokens_in * price_in + tokens_out * price_out) / 1e6
            )
        self._token_bucket.adjust(tokens_in + tokens_out - estimate)
        return _Completion(
            content,
            choice.finish_reason if choice else None,
            tokens_in,
            tokens_out,
            max_tokens,
            requests,
        )
