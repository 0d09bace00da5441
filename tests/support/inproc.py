"""Run a stage's Service inside the test's event loop against real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
