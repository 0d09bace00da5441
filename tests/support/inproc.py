"""Run a stage's Service inside the test's event loop against real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from shared.service import Service


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


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    """Poll ``predicate`` every 0.1 s until it holds; AssertionError after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)
