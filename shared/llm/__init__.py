"""LLM gateway for any OpenAI-compatible Chat Completions endpoint (see gateway.py).

``OUTAGE_ERRORS``: exceptions that mean "the model server is down"; the pipeline nacks such a
message with a delay and never dead-letters it for that.
"""

from shared.llm.cache import CachedAnswer, CacheKey, InMemoryLLMCache, LLMCache, MongoLLMCache
from shared.llm.endpoint import forget_endpoints
from shared.llm.gateway import (
    LLMAnswerTruncated,
    LLMContextExceeded,
    LLMError,
    LLMGateway,
    LLMNotConfigured,
    LLMOutputInvalid,
    LLMRequestRejected,
    LLMTimeout,
    LLMUnavailable,
    RetryPolicy,
    StructuredResult,
    TokenBucket,
    not_configured_reason,
    whole_reason,
)
from shared.llm.prompts import PromptTemplate, load_glossary, load_prompt

OUTAGE_ERRORS: tuple[type[BaseException], ...] = (LLMUnavailable,)

__all__ = [
    "OUTAGE_ERRORS",
    "CacheKey",
    "CachedAnswer",
    "InMemoryLLMCache",
    "LLMAnswerTruncated",
    "LLMCache",
    "LLMContextExceeded",
    "LLMError",
    "LLMGateway",
    "LLMNotConfigured",
    "LLMOutputInvalid",
    "LLMRequestRejected",
    "LLMTimeout",
    "LLMUnavailable",
    "MongoLLMCache",
    "PromptTemplate",
    "RetryPolicy",
    "StructuredResult",
    "TokenBucket",
    "forget_endpoints",
    "load_glossary",
    "load_prompt",
    "not_configured_reason",
    "whole_reason",
]
