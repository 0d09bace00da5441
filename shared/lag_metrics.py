"""Consumer lag and stream state read from JetStream, exported as Prometheus gauges by a custom
collector on ``shared.metrics.REGISTRY``.

Every service process reports the same JetStream-wide numbers (they describe the server, not the
process), so a stage that is down does not hide the lag it leaves behind; query them with
``max by (stream, consumer)``. Labels are stream names, durable consumer names and stage names,
all set by our code (ephemeral consumers are left out): a bounded set.

A scrape never waits for JetStream: ``collect()`` returns the last snapshot at once and, when it
is older than ``ttl_s``, starts one refresh in the background (so at most one JetStream query per
``ttl_s`` per process, however often it is scraped). ``newsroom_jetstream_snapshot_age_seconds``
says how old the numbers are."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from nats.js.client import JetStreamContext
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared import ops
from shared.metrics import REGISTRY

log = logging.getLogger("newsroom.lag_metrics")


@dataclass(frozen=True)
class JetStreamSnapshot:
    taken_at: float  # Unix time
    streams: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (messages, bytes)
    consumers: list[ops.ConsumerLag] = field(default_factory=list)
    dead_letters: dict[str, int] = field(default_factory=dict)  # stage -> letters waiting


def metric_families(snapshot: JetStreamSnapshot | None, now: float, query_errors: int) -> list[Metric]:
    """Pure: the Prometheus families for one snapshot (families without samples when there is none
    yet, so the names are always exported)."""
    consumer_labels = ["stream", "consumer"]
    pending = GaugeMetricFamily(
        "newsroom_consumer_pending_messages",
        "Messages in the stream not yet delivered to a durable consumer (its backlog)",
        labels=consumer_labels,
    )
    ack_pending = GaugeMetricFamily(
        "newsroom_consumer_ack_pending_messages",
        "Messages delivered to a durable consumer and not yet acknowledged (in work or waiting for a retry)",
        labels=consumer_labels,
    )
    redelivered = GaugeMetricFamily(
        "newsroom_consumer_redelivered_messages",
        "Unacknowledged messages of a durable consumer that were delivered more than once",
        labels=consumer_labels,
    )
    waiting = GaugeMetricFamily(
        "newsroom_consumer_waiting_pulls",
        "Pull requests waiting for messages (idle workers) of a durable consumer",
        labels=consumer_labels,
    )
    stream_messages = GaugeMetricFamily(
        "newsroom_stream_messages", "Messages stored in a stream", labels=["stream"]
    )
    stream_bytes = GaugeMetricFamily("newsroom_stream_bytes", "Bytes stored in a stream", labels=["stream"])
    letters = GaugeMetricFamily(
        "newsroom_dead_letter_messages",
        "Dead letters waiting in NEWS_DLQ (not replayed), per stage",
        labels=["stage"],
    )
    age = GaugeMetricFamily(
        "newsroom_jetstream_snapshot_age_seconds", "Age of the JetStream numbers above (NaN before the first)"
    )
    errors = CounterMetricFamily(
        "newsroom_jetstream_query_errors",
        "JetStream state queries that failed (the last snapshot is kept)",
        value=query_errors,
    )
    if snapshot is not None:
        for lag in snapshot.consumers:
            labels = [lag.stream, lag.consumer]
            pending.add_metric(labels, lag.pending)
            ack_pending.add_metric(labels, lag.ack_pending)
            redelivered.add_metric(labels, lag.redelivered)
            waiting.add_metric(labels, lag.waiting)
        for name, (messages, size) in sorted(snapshot.streams.items()):
            stream_messages.add_metric([name], messages)
            stream_bytes.add_metric([name], size)
        for stage, count in sorted(snapshot.dead_letters.items()):
            letters.add_metric([stage], count)
        age.add_metric([], max(0.0, now - snapshot.taken_at))
    else:
        age.add_metric([], float("nan"))
    return [pending, ack_pending, redelivered, waiting, stream_messages, stream_bytes, letters, age, errors]


async def take_snapshot(js: JetStreamContext, now: float) -> JetStreamSnapshot:
    streams = await ops.stream_state(js)
    return JetStreamSnapshot(
        taken_at=now,
        streams={name: (int(s["messages"]), int(s["bytes"])) for name, s in streams.items()},
        consumers=await ops.consumer_lag(js),
        dead_letters=await ops.dead_letter_counts(js),
    )


class JetStreamLagCollector(Collector):
    def __init__(self, ttl_s: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self.snapshot: JetStreamSnapshot | None = None
        self.query_errors = 0
        self._js: JetStreamContext | None = None
        self._refreshing: asyncio.Task[None] | None = None

    def attach(self, js: JetStreamContext) -> None:
        """Use this JetStream connection (the service's broker's) for the queries."""
        self._js = js

    def detach(self) -> None:
        self._js = None
        if self._refreshing is not None:
            self._refreshing.cancel()
            self._refreshing = None

    async def refresh(self) -> None:
        js = self._js
        if js is None:
            return
        try:
            self.snapshot = await asyncio.wait_for(take_snapshot(js, self.clock()), timeout=5.0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a scrape must never fail because NATS is slow or away
            self.query_errors += 1
            log.warning("JetStream state query failed: %r (keeping the last snapshot)", exc)

    def _stale(self) -> bool:
        return self.snapshot is None or self.clock() - self.snapshot.taken_at >= self.ttl_s

    def _maybe_refresh(self) -> None:
        if self._js is None or not self._stale():
            return
        if self._refreshing is not None and not self._refreshing.done():
            return
        try:  # scrapes run on the service's event loop; elsewhere (no loop) just report what we have
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._refreshing = loop.create_task(self.refresh(), name="jetstream-lag-refresh")

    def describe(self) -> Iterator[Metric]:
        # Registration calls describe(): no JetStream query at import time.
        return iter(metric_families(None, self.clock(), 0))

    def collect(self) -> Iterator[Metric]:
        self._maybe_refresh()
        return iter(metric_families(self.snapshot, self.clock(), self.query_errors))


COLLECTOR = JetStreamLagCollector()
REGISTRY.register(COLLECTOR)


async def attach(js: JetStreamContext) -> None:
    """Called by a service at start-up (after the streams exist): first snapshot now, later ones
    on demand when scraped."""
    COLLECTOR.attach(js)
    await COLLECTOR.refresh()


def detach() -> None:
    COLLECTOR.detach()
