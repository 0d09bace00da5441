"""Webhook delivery: signature, retries with backoff, no retry on 4xx, bounded queue, never blocking."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from services.publish.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RetryPolicy,
    WebhookDispatcher,
    sign,
    verify_signature,
)
from tests.support.items import sample_items

SECRET = b"s3cret-for-tests"
URL = "http://receiver.test/hook"


def item_doc() -> dict[str, object]:
    # What publish submits: the item as events carry it (``id``, JSON values).
    return sample_items(datetime(2026, 11, 20, tzinfo=UTC))[1].model_dump(mode="json")


class Receiver:
    """Answers with the scripted status codes in turn, then 200; records every request."""

    def __init__(self, statuses: list[int] | None = None, fail_connect: int = 0) -> None:
        self.statuses = list(statuses or [])
        self.fail_connect = fail_connect
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_connect:
            self.fail_connect -= 1
            raise httpx.ConnectError("connection refused", request=request)
        status = self.statuses.pop(0) if self.statuses else 200
        return httpx.Response(status, headers={"Retry-After": "2"} if status == 429 else {})


def dispatcher(receiver: Receiver, delays: list[float], **kwargs: object) -> WebhookDispatcher:
    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)

    client = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    return WebhookDispatcher(
        [URL],
        SECRET,
        client=client,
        sleep=record_sleep,
        rand=lambda: 1.0,
        clock=lambda: 1_800_000_000.0,
        retry=RetryPolicy(max_attempts=4, base_delay_s=0.5, max_delay_s=3.0),
        **kwargs,  # type: ignore[arg-type]
    )


async def test_delivery_is_signed_and_verifiable() -> None:
    receiver, delays = Receiver(), list[float]()
    hooks = dispatcher(receiver, delays)
    await hooks.start()
    assert hooks.submit("published", item_doc())
    await hooks.stop()
    (request,) = receiver.requests
    body = request.content
    assert request.headers[EVENT_HEADER] == "published"
    assert request.headers[TIMESTAMP_HEADER] == "1800000000"
    assert request.headers[SIGNATURE_HEADER] == sign(SECRET, "1800000000", body)
    signature = request.headers[SIGNATURE_HEADER]
    assert verify_signature(SECRET, body, "1800000000", signature, now=1_800_000_030)
    assert not verify_signature(b"other", body, "1800000000", signature, now=1_800_000_030)
    assert not verify_signature(SECRET, body + b" ", "1800000000", signature, now=1_800_000_030)
    # a replay long after signing is refused
    assert not verify_signature(SECRET, body, "1800000000", signature, now=1_800_009_000)
    payload = json.loads(body)
    assert payload["event"] == "published"
    assert payload["item"]["id"] == "story-tsmc-copos"
    assert payload["item"]["published_at"].startswith("2026-11-19T")
    assert hooks.outcomes["delivered"] == 1


async def test_5xx_and_connection_errors_are_retried_with_backoff() -> None:
    receiver, delays = Receiver(statuses=[503, 500], fail_connect=1), list[float]()
    hooks = dispatcher(receiver, delays)
    await hooks.start()
    hooks.submit("updated", item_doc())
    await hooks.stop()
    assert len(receiver.requests) == 4  # connect error, 503, 500, then 200
    assert delays == [0.5, 1.0, 2.0]  # exponential (jitter pinned to its maximum)
    ids = {r.headers[DELIVERY_HEADER] for r in receiver.requests}
    assert len(ids) == 1  # the same delivery id on every retry, for receiver-side dedup
    assert hooks.outcomes == {"delivered": 1, "failed": 0, "rejected": 0, "dropped": 0}


async def test_429_honours_retry_after_and_gives_up_after_max_attempts() -> None:
    receiver, delays = Receiver(statuses=[429, 502, 502, 502, 502]), list[float]()
    hooks = dispatcher(receiver, delays)
    await hooks.start()
    hooks.submit("updated", item_doc())
    await hooks.stop()
    assert len(receiver.requests) == 4
    assert delays == [2.0, 1.0, 2.0]  # Retry-After: 2, then backoff
    assert hooks.outcomes["failed"] == 1 and hooks.outcomes["delivered"] == 0


async def test_4xx_is_not_retried() -> None:
    receiver, delays = Receiver(statuses=[410]), list[float]()
    hooks = dispatcher(receiver, delays)
    await hooks.start()
    hooks.submit("published", item_doc())
    await hooks.stop()
    assert len(receiver.requests) == 1 and delays == []
    assert hooks.outcomes["rejected"] == 1


async def test_full_queue_drops_without_blocking() -> None:
    gate = asyncio.Event()

    async def slow_handler(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(200)

    client = httpx.AsyncClient(transport=httpx.MockTransport(slow_handler))
    hooks = WebhookDispatcher([URL], SECRET, client=client, queue_size=2)
    await hooks.start()
    results = [hooks.submit("updated", item_doc()) for _ in range(5)]
    await asyncio.sleep(0)  # the worker takes the first one off the queue
    results.append(hooks.submit("updated", item_doc()))
    # 2 fit in the queue at first; the worker freed one slot; everything else was dropped at once
    assert results.count(True) == 3
    assert hooks.outcomes["dropped"] == 3
    gate.set()
    await hooks.stop()
    assert hooks.outcomes["delivered"] == 3


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookDispatcher([URL], "")
    with pytest.raises(ValueError, match="http"):
        WebhookDispatcher(["ftp://example.org/x"], "k")


async def test_submit_before_start_reports_failure() -> None:
    hooks = WebhookDispatcher([URL], SECRET)
    assert hooks.submit("published", item_doc()) is False
