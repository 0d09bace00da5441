"""Prometheus metrics of the LLM gateway and of translation QA (on the shared registry)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from shared.metrics import REGISTRY

LLM_TOKENS = Counter(
    "newsroom_llm_tokens_total",
    "Tokens sent to (in) and received from (out) a model",
    ["task", "model", "direction"],
    registry=REGISTRY,
)
LLM_REQUEST_SECONDS = Histogram(
    "newsroom_llm_request_seconds",
    "Latency of one Chat Completions request",
    ["task", "model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300),
    registry=REGISTRY,
)
LLM_ERRORS = Counter(
    "newsroom_llm_errors_total",
    "LLM failures by kind (rate_limited, server_error, timeout, connection, auth, rejected, "
    "schema_unsupported, invalid_output, unavailable, cache)",
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
