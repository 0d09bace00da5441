"""Webhooks: POST new and updated items to operator-configured URLs.

Never blocks the pipeline: ``submit`` only puts the delivery on a bounded in-memory queue per URL
(a full queue drops the delivery, logs it and counts it: the stream of ``news.updated.*`` events is
the durable channel; webhooks are best effort). One worker per URL sends in order and retries
connection errors, timeouts, 429 and 5xx with exponential backoff and full jitter (``Retry-After``
honoured up to the cap); other 4xx answers are not retried.

Each request carries:
  ``X-Newsroom-Event``      published | updated
  ``X-Newsroom-Delivery``   a unique id (the same across retries of one delivery: receivers dedupe)
  ``X-Newsroom-Timestamp``  Unix seconds when the request was signed
  ``X-Newsroom-Signature``  ``sha256=`` + hex HMAC-SHA256(secret, timestamp + "." + body)
Signing the timestamp with the body lets a receiver reject replays (``verify_signature``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Literal

import httpx
from prometheus_client import Counter

from shared.metrics import REGISTRY

log = logging.getLogger("newsroom.webhooks")

EventKind = Literal["published", "updated"]

SIGNATURE_HEADER = "X-Newsroom-Signature"
TIMESTAMP_HEADER = "X-Newsroom-Timestamp"
EVENT_HEADER = "X-Newsroom-Event"
DELIVERY_HEADER = "X-Newsroom-Delivery"

WEBHOOK_DELIVERIES = Counter(
    "newsroom_webhook_deliveries_total",
    "Webhook deliveries by outcome (delivered, failed after retries, rejected 4xx, dropped: queue full)",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "newsroom_webhook_attempts_total", "Webhook HTTP attempts, retries included", registry=REGISTRY
)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: bytes, body: bytes, timestamp: str, signature: str, now: float, tolerance_s: float = 300.0
) -> bool:
    """For receivers: the signature matches and the timestamp is within ``tolerance_s`` of ``now``."""
    try:
        sent_at = float(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    event: EventKind
    body: bytes


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 60.0
    timeout_s: float = 10.0

    def delay(self, attempt: int, rand: Callable[[], float], retry_after: float | None = None) -> float:
        """Full-jitter exponential backoff before attempt ``attempt + 1`` (attempt counts from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        return rand() * min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class WebhookDispatcher:
    """``WebhookDispatcher(urls, secret)``; ``await start()``; ``submit(kind, item_dict)`` from the
    publish handler; ``await stop()`` on shutdown (drains what it can within the timeout)."""

    def __init__(
        self,
        urls: Sequence[str],
        secret: str | bytes,
        *,
        queue_size: int = 1000,
        retry: RetryPolicy | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret is required: receivers verify the signature with it")
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"webhook URL must be http(s): {url!r}")
        self.urls = list(dict.fromkeys(urls))
        self.secret = secret.encode("utf-8") if isinstance(secret, str) else secret
        self.retry = retry or RetryPolicy()
        self._queues: dict[str, asyncio.Queue[Delivery]] = {
            url: asyncio.Queue(maxsize=queue_size) for url in self.urls
        }
        self._client = client
        self._owns_client = client is None
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._workers: list[asyncio.Task[None]] = []
        self.outcomes: dict[str, int] = {"delivered": 0, "failed": 0, "rejected": 0, "dropped": 0}

    # --- producer side ------------------------------------------------------------------------

    def submit(self, event_kind: EventKind, item: Mapping[str, Any]) -> bool:
        """Queue the item for every URL; never waits. False if any URL's queue was full (that
        delivery is dropped and counted) or the dispatcher is not running."""
        if not self._workers:
            log.warning(
                "webhook dispatcher not started: %s event for %s not sent", event_kind, item.get("id")
            )
            return False
        payload = {"event": event_kind, "item": dict(item)}
        body = json.dumps(payload, default=_json_default, ensure_ascii=False, separators=(",", ":"))
        delivery = Delivery(uuid.uuid4().hex, event_kind, body.encode("utf-8"))
        accepted = True
        for url, queue in self._queues.items():
            try:
                queue.put_nowait(delivery)
            except asyncio.QueueFull:
                accepted = False
                self._count("dropped")
                log.warning(
                    "webhook queue for %s is full: dropped %s delivery %s",
                    url,
                    event_kind,
                    delivery.delivery_id,
                )
        return accepted

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._workers:
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.retry.timeout_s, follow_redirects=False)
        self._workers = [
            asyncio.create_task(self._worker(url, queue), name=f"webhook:{url}")
            for url, queue in self._queues.items()
        ]

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Wait up to ``drain_timeout_s`` for the queues to empty, then cancel the workers."""
        if not self._workers:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(queue.join() for queue in self._queues.values())), drain_timeout_s
            )
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def pending(self) -> int:
        return sum(queue.qsize() for queue in self._queues.values())

    # --- worker -------------------------------------------------------------------------------

    async def _worker(self, url: str, queue: asyncio.Queue[Delivery]) -> None:
        while True:
            delivery = await queue.get()
            try:
                self._count(await self._deliver(url, delivery))
            except Exception:  # a bug here must not kill the worker for every later item
                log.exception("webhook worker for %s failed on delivery %s", url, delivery.delivery_id)
                self._count("failed")
            finally:
                queue.task_done()

    async def _deliver(self, url: str, delivery: Delivery) -> str:
        assert self._client is not None
        for attempt in range(1, self.retry.max_attempts + 1):
            timestamp = str(int(self._clock()))
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "AI-Newsroom-Webhooks/1",
                EVENT_HEADER: delivery.event,
                DELIVERY_HEADER: delivery.delivery_id,
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(self.secret, timestamp, delivery.body),
            }
            WEBHOOK_ATTEMPTS.inc()
            retry_after: float | None = None
            try:
                response = await self._client.post(
                    url, content=delivery.body, headers=headers, timeout=self.retry.timeout_s
                )
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= response.status_code < 300:
                    return "delivered"
                if response.status_code != 429 and response.status_code < 500:
                    log.warning(
                        "webhook %s rejected delivery %s with HTTP %d: not retried",
                        url,
                        delivery.delivery_id,
                        response.status_code,
                    )
                    return "rejected"
                reason = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
            if attempt == self.retry.max_attempts:
                log.warning(
                    "webhook %s: delivery %s failed after %d attempts (%s)",
                    url,
                    delivery.delivery_id,
                    attempt,
                    reason,
                )
                break
            await self._sleep(self.retry.delay(attempt, self._rand, retry_after))
        return "failed"

    def _count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        WEBHOOK_DELIVERIES.labels(outcome).inc()
