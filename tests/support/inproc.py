"""Run a stage's Service inside the test's event loop against real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from shared.service import Service
from shared.settings import DeliverySettings, Settings, StageDelivery
from tests.support.waits import WAIT_S

# Quick retries for in-process stages: a test waits seconds, not minutes, for a redelivery.
FAST_DELIVERY = StageDelivery(max_deliver=3, ack_wait_s=30.0, batch_size=4, retry_delay_s=0.05)


def fast_settings(nats_url: str, mongo_url: str, mongo_db: str, *stages: str, **extra: object) -> Settings:
    """Settings for in-process ``stages`` on the test's servers, with FAST_DELIVERY."""
    delivery = DeliverySettings.model_validate(
        {**{stage: FAST_DELIVERY for stage in stages}, "outage_retry_delay_s": 0.1}
    )
    return Settings.model_validate(
        {"nats_url": nats_url, "mongo_url": mongo_url, "mongo_db": mongo_db, "delivery": delivery, **extra}
    )


@asynccontextmanager
async def running(service: Service) -> AsyncIterator[Service]:
    await service._on_startup()
    await service.broker.start()
    await service._after_startup()
    try:
        yield service
    finally:
        await service._on_shutdown()
        await service.broker.stop()


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout_s: float = WAIT_S) -> None:
    """Poll ``predicate`` every 0.1 s until it holds; AssertionError after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)
