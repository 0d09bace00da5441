"""Wiring shared by the stages that call a model (translate, analyze, score's rubric): the stage's
Service with the LLM gateway for its task, and the interface a use case needs from the gateway.

Without an LLM configured for the task the service gets no gateway (and no MongoDB connection:
the store is there for the LLM cache only), and ``reason`` says why and how to configure one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from pydantic import BaseModel

from shared.llm.cache import LLMCache, MongoLLMCache
from shared.llm.gateway import LLMGateway, StructuredResult, not_configured_reason
from shared.service import Service, new_service
from shared.settings import Settings, load_settings
from shared.storage import MongoStore

T = TypeVar("T", bound=BaseModel)


class StructuredLLM(Protocol):
    """What a use case needs from the LLM gateway (tests give a fake)."""

    model: str

    async def structured(
        self,
        messages: Sequence[dict[str, str]],
        output: type[T],
        *,
        prompt_version: str,
        max_tokens: int = ...,
        temperature: float = ...,
    ) -> StructuredResult[T]: ...


@dataclass
class StageLLM:
    gateway: LLMGateway | None
    reason: str | None  # why there is no gateway (None when there is one)


def llm_stage(stage: str, task: str, settings: Settings | None = None) -> tuple[Service, StageLLM]:
    """The stage's Service and its task's gateway (with the MongoDB LLM cache), closed on shutdown."""
    settings = settings or load_settings()
    reason = not_configured_reason(settings.llm, task)
    service = new_service(stage, settings, with_store=reason is None)
    gateway: LLMGateway | None = None
    if reason is None:
        store = service.store
        cache: LLMCache | None = MongoLLMCache(store) if isinstance(store, MongoStore) else None
        gateway = LLMGateway(service.settings.llm, task, cache=cache)
        service.shutdown.append(gateway.aclose)
    return service, StageLLM(gateway, reason)


def warn_if_model_idle(service: Service, log: logging.Logger) -> None:
    """While one message waits on the model, others do their cache look-up, checks and publish:
    with only as many messages in flight as model slots, slots sit idle."""
    workers = service.settings.delivery.for_stage(service.stage).workers
    concurrency = service.settings.llm.concurrency
    if workers < 2 * concurrency:
        log.warning(
            "%s handles %d messages at once for %d concurrent LLM requests: set "
            "NEWSROOM_DELIVERY__%s__WORKERS to about %d to keep the model busy",
            service.stage,
            workers,
            concurrency,
            service.stage.upper(),
            2 * concurrency,
        )
