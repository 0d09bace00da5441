"""Prometheus metrics of the LLM gateway and of translation QA (on the shared registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import REGISTRY

LLM_TOKENS = Counter(
    "newsroom_llm_tokens_total",
    "Tokens sent to (in) and received from (out) a model",
    ["task", "model", "direction"],
    registry=REGISTRY,
)
LLM_REQUEST_SECONDS = Histogram(
    "newsroom_llm_request_seconds",
    "Latency of one Chat Completions request, whatever its outcome (timeouts included); time "
    "queued in the gateway's own limiter excluded",
    ["task", "model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600, 1200),
    registry=REGISTRY,
)
LLM_REQUESTS = Counter(
    "newsroom_llm_requests_total",
    "Chat Completions requests by outcome (ok, timeout, connection, server_error, rate_limited, "
    "context_exceeded, format_unsupported, rejected, auth, not_found)",
    ["task", "model", "outcome"],
    registry=REGISTRY,
)
LLM_CONCURRENCY_LIMIT = Gauge(
    "newsroom_llm_concurrency_limit",
    "Requests in flight the gateway allows this endpoint now (learned: AIMD)",
    ["task", "model"],
    registry=REGISTRY,
)
LLM_TOKENS_PER_SECOND = Gauge(
    "newsroom_llm_tokens_per_second",
    "Observed speed of the endpoint (output tokens per second, prompt tokens weighted)",
    ["task", "model"],
    registry=REGISTRY,
)
LLM_TIMEOUT_SECONDS = Gauge(
    "newsroom_llm_timeout_seconds",
    "Read timeout of the latest request (derived from its size and the observed speed)",
    ["task", "model"],
    registry=REGISTRY,
)
LLM_CONTEXT_TOKENS = Gauge(
    "newsroom_llm_context_tokens",
    "Context window requests are fitted to (setting, discovered, or learned from a 400)",
    ["task", "model"],
    registry=REGISTRY,
)
LLM_REJECTED_ANSWERS = Counter(
    "newsroom_llm_rejected_answers_total",
    "Model answers rejected as weak (empty, repetition, echo of the source or the prompt, wrong "
    "language), by task and reason",
    ["task", "reason"],
    registry=REGISTRY,
)
LLM_ERRORS = Counter(
    "newsroom_llm_errors_total",
    "LLM failures by kind (rate_limited, server_error, timeout, connection, auth, rejected, "
    "schema_unsupported, context, truncated, invalid_output, unavailable, cache)",
    ["task", "kind"],
    registry=REGISTRY,
)
LLM_CACHE_HITS = Counter(
    "newsroom_llm_cache_hits_total",
    "Answers served from the LLM cache (no tokens spent)",
    ["task"],
    registry=REGISTRY,
)
LLM_CACHE_MISSES = Counter(
    "newsroom_llm_cache_misses_total", "LLM calls not found in the cache", ["task"], registry=REGISTRY
)
LLM_COST_USD = Counter(
    "newsroom_llm_cost_usd_total",
    "Estimated spend from the price table (LLMSettings.prices_per_million)",
    ["task", "model"],
    registry=REGISTRY,
)
TRANSLATION_QA_RETRIES = Counter(
    "newsroom_translation_qa_retries_total",
    "Translation requests repeated because QA checks failed",
    [],
    registry=REGISTRY,
)
TRANSLATION_QA_FAILURES = Counter(
    "newsroom_translation_qa_failures_total",
    "QA failures left on a translation after its retry (they become qa_flags)",
    ["check"],
    registry=REGISTRY,
)
