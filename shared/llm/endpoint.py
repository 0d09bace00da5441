"""What the gateway learns about one model endpoint while it runs, shared by every gateway of the
process that talks to the same (base URL, model).

- **Speed** (``SpeedModel``): seconds per token, from every answer. A request's timeout is derived
  from the work it asks for (prompt tokens and ``max_tokens``) at the observed speed, with a
  safety factor; the time a request waits in our own limiter is never part of it (the clock
  starts when the request is sent).
- **Concurrency** (``AdaptiveLimiter``): additive increase after an answer that came at the
  endpoint's usual speed, multiplicative decrease on a timeout, a 429, or an answer much slower
  than usual while others were in flight (the server queues: a one-slot llama.cpp server).
  A request we gave up on still occupies the server: its slot is held for as long as the server
  may keep working on it, so nothing new is sent to a server still busy with abandoned work.
- **Context window**: a setting per task, else what the server says (vLLM's ``max_model_len``
  in /v1/models, llama.cpp's ``n_ctx`` in /props, ``context_length``/``context_window`` fields),
  else learned from a 400 whose message states it, else a default assumption.
- **Response format** and **where instructions go** (system or user message), per endpoint.

Pure bookkeeping plus an asyncio condition; the HTTP side lives in gateway.py and discovery.py.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

FormatMode = Literal["json_schema", "json_object_schema", "json_object", "none"]
InstructionsRole = Literal["system", "user"]
ContextSource = Literal["setting", "server", "learned", "assumed"]

# Prefill (reading the prompt) is much faster than decoding; one prompt token costs about this
# fraction of an output token's time on CPU servers (GPU servers are faster still: safe side).
PROMPT_TOKEN_COST = 0.1

# --- 400s classified by their message ------------------------------------------------------------

_CONTEXT_LIMIT_PATTERNS = (
    # llama-cpp-python: "Requested tokens (12337) exceed context window of 4096"
    re.compile(r"context window of (\d+)", re.I),
    # OpenAI, vLLM, DeepSeek: "This model's maximum context length is 8192 tokens."
    re.compile(r"maximum context length is (\d+)", re.I),
    # vLLM (newer): "... longer than the maximum model length of 4096"
    re.compile(r"maximum model length of (\d+)", re.I),
    # llama.cpp server: {"n_ctx": 4096, ...} in the error body, or "context size (4096)"
    re.compile(r"\"?n_ctx\"?\s*[:=]\s*(\d+)", re.I),
    re.compile(r"context (?:size|length) (?:of |is )?\(?(\d+)\)?", re.I),
)
_CONTEXT_WORDS = re.compile(
    r"context (?:window|length|size)|maximum (?:context|model) length|too many tokens|"
    r"exceeds? the available context|prompt is too long|input is too long|reduce the length",
    re.I,
)
_FORMAT_WORDS = re.compile(r"response_format|json_schema|json schema|structured output|grammar", re.I)


def context_limit_from_message(message: str) -> int | None:
    """The context window a server's error message states, if it states one."""
    for pattern in _CONTEXT_LIMIT_PATTERNS:
        match = pattern.search(message)
        if match:
            value = int(match.group(1))
            if 256 <= value <= 10_000_000:
                return value
    return None


RejectionKind = Literal["context", "format", "other"]


def classify_rejection(message: str) -> RejectionKind:
    """What a 400/413/422 says is wrong: the request is longer than the context, the server does
    not take the response format, or something else. A context-length 400 never reads as
    "this server does not support json_schema"."""
    if _CONTEXT_WORDS.search(message) or context_limit_from_message(message) is not None:
        return "context"
    if _FORMAT_WORDS.search(message):
        return "format"
    return "other"


# --- speed --------------------------------------------------------------------------------------


@dataclass
class SpeedModel:
    """Seconds per token (an output token; a prompt token counts PROMPT_TOKEN_COST of one),
    smoothed; plus the fastest seen, to recognise answers slowed by a server-side queue."""

    seconds_per_token: float | None = None
    fastest: float | None = None
    samples: int = 0
    alpha: float = 0.3

    @staticmethod
    def work(prompt_tokens: int, output_tokens: int) -> float:
        return max(1.0, output_tokens + PROMPT_TOKEN_COST * prompt_tokens)

    def observe(self, latency_s: float, prompt_tokens: int, output_tokens: int) -> float:
        """Record one answer; returns its seconds per token."""
        per_token = max(latency_s, 1e-6) / self.work(prompt_tokens, output_tokens)
        if self.seconds_per_token is None:
            self.seconds_per_token = per_token
        else:
            self.seconds_per_token += self.alpha * (per_token - self.seconds_per_token)
        self.fastest = per_token if self.fastest is None else min(self.fastest, per_token)
        self.samples += 1
        return per_token

    def expected_seconds(self, prompt_tokens: int, max_tokens: int) -> float | None:
        """How long the server may take to answer with at most ``max_tokens`` (None: unknown)."""
        if self.seconds_per_token is None:
            return None
        return self.seconds_per_token * self.work(prompt_tokens, max_tokens)

    @property
    def tokens_per_second(self) -> float | None:
        return 1.0 / self.seconds_per_token if self.seconds_per_token else None


# --- concurrency --------------------------------------------------------------------------------


class AdaptiveLimiter:
    """At most ``limit`` requests in flight; the limit moves between 1 and ``maximum`` (AIMD).

    ``hold(seconds)`` keeps a released slot occupied for a while: a request the client gave up
    on keeps the server busy until it finishes, and sending another one at once would only queue
    behind it (and time out in turn)."""

    def __init__(self, initial: int, maximum: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum = max(1, maximum)
        self.limit = float(min(max(1, initial), self.maximum))
        self.in_flight = 0
        self.held_until: list[float] = []
        self._clock = clock
        self._changed: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _condition(self) -> asyncio.Condition:
        # One process may run several event loops one after the other (tests, benches): the
        # condition belongs to the loop that uses it, and a new loop starts with nothing in flight.
        loop = asyncio.get_running_loop()
        if self._changed is None or self._loop is not loop:
            self._changed, self._loop = asyncio.Condition(), loop
            self.in_flight, self.held_until = 0, []
        return self._changed

    def _busy(self) -> int:
        now = self._clock()
        self.held_until = [t for t in self.held_until if t > now]
        return self.in_flight + len(self.held_until)

    async def acquire(self) -> None:
        changed = self._condition()
        async with changed:
            while self._busy() >= math.floor(self.limit):
                # A held slot frees itself when its time comes: look again then (at least every
                # second, so a slot never stays held past its time).
                timeout = min(1.0, min(self.held_until) - self._clock()) if self.held_until else None
                try:
                    await asyncio.wait_for(changed.wait(), timeout)
                except TimeoutError:
                    pass
            self.in_flight += 1

    async def release(self, hold_s: float = 0.0) -> None:
        changed = self._condition()
        async with changed:
            self.in_flight = max(0, self.in_flight - 1)
            if hold_s > 0:
                self.held_until.append(self._clock() + hold_s)
            changed.notify_all()

    def increase(self) -> None:
        """One step of additive increase: +1 per ``limit`` successes (about +1 per round)."""
        self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)

    def decrease(self, factor: float = 0.5) -> None:
        self.limit = max(1.0, self.limit * factor)


# --- the endpoint -------------------------------------------------------------------------------


@dataclass
class EndpointState:
    base_url: str
    model: str
    limiter: AdaptiveLimiter
    speed: SpeedModel = field(default_factory=SpeedModel)
    format: FormatMode | None = None  # learned in "auto" mode; None = not learned yet
    context_tokens: int | None = None
    context_source: ContextSource = "assumed"
    instructions: InstructionsRole | None = None  # learned in "auto" mode
    chat_template: str | None = None
    # Real prompt tokens per estimated token (the estimate is a heuristic; usage gives the truth).
    token_ratio: float = 1.0
    # Timeouts grow after each timeout (patience) and shrink back after answers in time.
    patience: float = 1.0
    discovered: bool = False
    discovery: asyncio.Task[None] | None = None

    def learn_context(self, tokens: int, source: ContextSource) -> None:
        """A context window stated by the server or its error messages; a smaller one always
        wins over an assumption or a setting that was too large."""
        smaller = self.context_tokens is not None and tokens < self.context_tokens
        if self.context_tokens is None or (source in ("server", "learned") and smaller):
            self.context_tokens, self.context_source = tokens, source
        elif self.context_source == "assumed":
            self.context_tokens, self.context_source = tokens, source

    def observe_usage(self, estimated_prompt: int, real_prompt: int | None) -> None:
        if real_prompt and estimated_prompt > 50:
            ratio = real_prompt / estimated_prompt
            self.token_ratio += 0.3 * (min(4.0, max(0.25, ratio)) - self.token_ratio)


_ENDPOINTS: dict[tuple[str, str], EndpointState] = {}


def endpoint_state(
    base_url: str, model: str, initial_concurrency: int, max_concurrency: int
) -> EndpointState:
    key = (base_url.rstrip("/"), model)
    state = _ENDPOINTS.get(key)
    if state is None:
        state = EndpointState(
            base_url=key[0], model=model, limiter=AdaptiveLimiter(initial_concurrency, max_concurrency)
        )
        _ENDPOINTS[key] = state
    return state


def forget_endpoints() -> None:
    """Forget everything learned (tests start each case from a clean slate)."""
    _ENDPOINTS.clear()
