"""LLM gateway: any OpenAI-compatible Chat Completions endpoint, through the official ``openai``
SDK's AsyncOpenAI with a configurable base URL.

- Structured output validated against a pydantic model: ``json_schema`` response format where the
  server supports it, else ``json_object`` (schema given in the prompt). In "auto" mode a 400/422/
  500 answer to a json_schema request switches the endpoint to json_object, remembered per base URL
  (llama-cpp-python's server answers 500 to json_schema).
- One repair request on invalid or truncated JSON, naming the error; ``LLMOutputInvalid`` if the
  answer is still unusable.
- A concurrency limit (semaphore) and token buckets for requests and tokens per minute.
- Retries with exponential backoff and jitter on 429, 5xx, timeouts and connection errors,
  honouring Retry-After; ``LLMUnavailable`` when the endpoint stays down. The pipeline treats the
  classes in ``shared.llm.OUTAGE_ERRORS`` as an outage: the message waits, it is not dead-lettered.
- A cache keyed by (model, prompt version, input hash): a repeated input costs no request.
- Metrics: tokens, latency, errors by kind, cache hits and misses, estimated cost.

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
from typing import Any, Generic, Literal, TypeVar

import openai
from openai import AsyncOpenAI
from pydantic import BaseModel, ValidationError

from shared.core.translation import estimate_tokens
from shared.llm.cache import CachedAnswer, CacheKey, LLMCache, input_hash
from shared.llm.metrics import (
    LLM_CACHE_HITS,
    LLM_CACHE_MISSES,
    LLM_COST_USD,
    LLM_ERRORS,
    LLM_REQUEST_SECONDS,
    LLM_TOKENS,
)
from shared.settings import LLMSettings

log = logging.getLogger("newsroom.llm")

T = TypeVar("T", bound=BaseModel)
Message = dict[str, str]
FormatMode = Literal["json_schema", "json_object", "none"]
Sleep = Callable[[float], Awaitable[None]]

# Response format that works, per base URL, learned in "auto" mode (shared by the process).
_FORMAT_BY_ENDPOINT: dict[str, FormatMode] = {}

# Statuses that mean "this server does not take json_schema" when answering a json_schema request.
_SCHEMA_REJECTION_STATUSES = frozenset({400, 422, 500, 501})
MAX_RETRY_AFTER_S = 300.0


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


@dataclass
class _Completion:
    content: str
    finish_reason: str | None
    input_tokens: int
    output_tokens: int


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
        self.cache = cache
        self.retry = retry or RetryPolicy(max_retries=settings.max_retries)
        self._sleep = sleep
        self._rng = rng or random.Random()
        # Local servers need no key; the SDK insists on a non-empty one.
        self._client = client or AsyncOpenAI(
            base_url=self.base_url,
            api_key=endpoint.api_key or "not-needed",
            timeout=settings.timeout_s,
            max_retries=0,
        )
        self._semaphore = asyncio.Semaphore(max(1, settings.concurrency))
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
        answered before. Raises LLMUnavailable, LLMOutputInvalid or LLMRequestRejected."""
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

        completion = await self._complete(messages, output, max_tokens, temperature)
        requests, tokens_in, tokens_out = 1, completion.input_tokens, completion.output_tokens
        try:
            value = parse_structured(completion.content, output, completion.finish_reason)
        except ValueError as first_error:
            LLM_ERRORS.labels(self.task, "invalid_output").inc()
            log.warning(
                "invalid LLM answer, asking for a repair",
                extra={"task": self.task, "error": str(first_error)},
            )
            repair = [
                *messages,
                {"role": "assistant", "content": completion.content[:8000]},
                {
                    "role": "user",
                    "content": (
                        f"Your previous answer could not be used: {first_error}. Answer again with only "
                        "one complete JSON object that matches the required schema, and nothing else."
                    ),
                },
            ]
            truncated = completion.finish_reason == "length"
            completion = await self._complete(
                repair, output, max_tokens * 2 if truncated else max_tokens, temperature
            )
            requests, tokens_in, tokens_out = (
                2,
                tokens_in + completion.input_tokens,
                tokens_out + completion.output_tokens,
            )
            try:
                value = parse_structured(completion.content, output, completion.finish_reason)
            except ValueError as second_error:
                LLM_ERRORS.labels(self.task, "invalid_output").inc()
                raise LLMOutputInvalid(
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
            return _FORMAT_BY_ENDPOINT.get(self.base_url, "json_schema")
        return configured

    def _request(
        self,
        messages: list[Message],
        output: type[BaseModel],
        mode: FormatMode,
        max_tokens: int,
        temperature: float,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        schema = strict_json_schema(output)
        if mode == "json_schema":
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": output.__name__, "schema": schema, "strict": True},
            }
            return request
        # Without server-side schemas the schema goes into the prompt.
        instruction = (
            "Answer with one JSON object that validates against this JSON Schema, and nothing else:\n"
            + json.dumps(schema, ensure_ascii=False)
        )
        request["messages"] = [*messages, {"role": "system", "content": instruction}]
        if mode == "json_object":
            request["response_format"] = {"type": "json_object"}
        return request

    async def _complete(
        self, messages: list[Message], output: type[BaseModel], max_tokens: int, temperature: float
    ) -> _Completion:
        estimate = sum(estimate_tokens(m.get("content", "")) for m in messages) + max_tokens
        attempt = 0
        # True while trying json_object after a 5xx to json_schema: a 5xx may also be a plain
        # outage, so the switch is kept only if json_object then gets an answer.
        probing = False
        while True:
            mode = self.format_mode()
            request = self._request(messages, output, mode, max_tokens, temperature)
            await self._request_bucket.acquire(1)
            await self._token_bucket.acquire(estimate)
            started = time.perf_counter()
            try:
                async with self._semaphore:
                    response = await self._client.chat.completions.create(**request)
            except openai.APIStatusError as exc:
                LLM_REQUEST_SECONDS.labels(self.task, self.model).observe(time.perf_counter() - started)
                status = exc.status_code
                if (
                    mode == "json_schema"
                    and self.settings.response_format == "auto"
                    and status in _SCHEMA_REJECTION_STATUSES
                ):
                    LLM_ERRORS.labels(self.task, "schema_unsupported").inc()
                    log.warning(
                        "%s answered %s to a json_schema request: using json_object for this endpoint",
                        self.base_url,
                        status,
                    )
                    _FORMAT_BY_ENDPOINT[self.base_url] = "json_object"
                    probing = status >= 500
                    continue
                if probing:  # json_object fails too: an outage, not a format problem
                    _FORMAT_BY_ENDPOINT.pop(self.base_url, None)
                    probing = False
                if status in (401, 403, 404):
                    kind = "auth" if status in (401, 403) else "not_found"
                    LLM_ERRORS.labels(self.task, kind).inc()
                    LLM_ERRORS.labels(self.task, "unavailable").inc()
                    raise LLMUnavailable(
                        f"{self.base_url} answered {status} for model {self.model}: check the key and model "
                        f"name ({exc.message})"
                    ) from exc
                if status == 429 or status >= 500 or status in (408, 409):
                    kind = "rate_limited" if status == 429 else "server_error"
                    attempt = await self._before_retry(attempt, kind, exc, _retry_after_seconds(exc.response))
                    continue
                LLM_ERRORS.labels(self.task, "rejected").inc()
                raise LLMRequestRejected(
                    f"{self.base_url} rejected the request with {status}: {exc.message}"
                ) from exc
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                if probing:
                    _FORMAT_BY_ENDPOINT.pop(self.base_url, None)
                    probing = False
                kind = "timeout" if isinstance(exc, openai.APITimeoutError) else "connection"
                attempt = await self._before_retry(attempt, kind, exc, None)
                continue
            LLM_REQUEST_SECONDS.labels(self.task, self.model).observe(time.perf_counter() - started)
            return self._account(response, messages, estimate)

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

    def _account(self, response: Any, messages: list[Message], estimate: int) -> _Completion:
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
        return _Completion(content, choice.finish_reason if choice else None, tokens_in, tokens_out)
