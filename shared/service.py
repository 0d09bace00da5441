"""What every stage process shares: the broker, MongoDB, /metrics, /healthz, /readyz, background
tasks and the uvicorn server that hosts them. A stage module only declares its subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker
from prometheus_client import make_asgi_app

from shared import lag_metrics
from shared.adapters.zh_lexicon_cache import use_lexicon_cache
from shared.logs import configure_logging
from shared.metrics import REGISTRY, UP
from shared.pipeline import ensure_streams, make_broker
from shared.settings import Settings, load_settings
from shared.storage import MongoStore

log = logging.getLogger("newsroom.service")

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


def _plain(status: int, body: bytes) -> ASGIApp:
    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


@dataclass
class Service:
    stage: str
    settings: Settings
    broker: NatsBroker
    store: MongoStore | None = None
    background: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    started: bool = False

    async def ready(self) -> tuple[bool, str]:
        if not self.started:
            return False, "starting"
        if not await self.broker.ping(timeout=2.0):
            return False, "nats unreachable"
        if self.store is not None and not await self.store.ping():
            return False, "mongodb unreachable"
        return True, "ready"

    def _readyz(self) -> ASGIApp:
        async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
            ok, why = await self.ready()
            await _plain(200 if ok else 503, why.encode())(scope, receive, send)

        return app

    async def _on_startup(self) -> None:
        await self.broker.connect()
        await ensure_streams(self.broker, self.settings)
        # Consumer lag on /metrics (read from JetStream, cached; see shared/lag_metrics.py).
        await lag_metrics.attach(self.broker.config.connection_state.stream)
        if self.store is not None:
            await self.store.ensure_indexes()
        for hook in self.startup:
            await hook()

    async def _after_startup(self) -> None:
        for job in self.background:
            self._tasks.append(asyncio.create_task(self._guard(job), name=f"{self.stage}-{job.__name__}"))
        self.started = True
        UP.labels(self.stage).set(1)
        log.info("service started", extra={"stage": self.stage})

    async def _guard(self, job: Callable[[], Awaitable[None]]) -> None:
        """Keep a background loop alive: an error is logged and the loop restarted after a pause."""
        while True:
            try:
                await job()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task failed; restarting in 5 s", extra={"task": job.__name__})
                await asyncio.sleep(5)

    async def _on_shutdown(self) -> None:
        UP.labels(self.stage).set(0)
        lag_metrics.detach()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for hook in self.shutdown:
            await hook()
        if self.store is not None:
            await self.store.close()

    def asgi(self) -> AsgiFastStream:
        return AsgiFastStream(
            self.broker,
            asgi_routes=[
                ("/metrics", make_asgi_app(REGISTRY)),
                ("/healthz", _plain(200, b"ok")),
                ("/readyz", self._readyz()),
            ],
            on_startup=[self._on_startup],
            after_startup=[self._after_startup],
            on_shutdown=[self._on_shutdown],
        )


def new_service(stage: str, settings: Settings | None = None, with_store: bool = True) -> Service:
    settings = settings or load_settings()
    # The Chinese lexicon (analyze's key phrases and summaries, search queries) is read from its
    # cache instead of being built from jieba's dictionary at every start.
    use_lexicon_cache(settings.lexicon_cache_dir)
    store = (
        MongoStore(settings.require_mongo_url(), settings.mongo_db, settings.mongo_driver)
        if with_store
        else None
    )
    return Service(stage=stage, settings=settings, broker=make_broker(settings, stage), store=store)


def serve(service: Service) -> None:
    """Run one stage as a process: uvicorn hosts the FastStream app and the HTTP endpoints."""
    import uvicorn

    configure_logging(service.stage, service.settings.log_level)
    config = uvicorn.Config(
        service.asgi(),
        host=service.settings.host,
        port=service.settings.metrics_port(service.stage),
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    asyncio.run(uvicorn.Server(config).serve())
