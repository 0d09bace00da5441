"""Prometheus metrics shared by every service. One registry per process; names follow Prometheus
conventions (units in names, ``_total`` counters, bounded label sets: stage, subject, reason kind).

Defined elsewhere on the same registry: consumer lag and stream state (``shared/lag_metrics.py``,
read from JetStream), source health (``shared/source_health.py``), LLM and translation QA
(``shared/llm/metrics.py``), webhooks (``services/publish/webhooks.py``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
# process_cpu_seconds_total, process_resident_memory_bytes, ...: what sizing a stage needs (Linux).
ProcessCollector(registry=REGISTRY)

EVENTS_IN = Counter(
    "newsroom_events_received_total", "Events received by a stage", ["stage", "subject"], registry=REGISTRY
)
EVENTS_OUT = Counter(
    "newsroom_events_emitted_total",
    "Events a stage published (acknowledged by the stream)",
    ["stage", "subject"],
    registry=REGISTRY,
)
DUPLICATES = Counter(
    "newsroom_duplicate_publishes_total",
    "Publishes the stream dropped as duplicates (Nats-Msg-Id)",
    ["stage"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "newsroom_dead_letters_total",
    "Messages a stage sent to its dead-letter subject",
    ["stage", "reason"],
    registry=REGISTRY,
)
REDELIVERIES = Counter(
    "newsroom_redeliveries_total", "Messages a stage received more than once", ["stage"], registry=REGISTRY
)
IN_PROGRESS_ACKS = Counter(
    "newsroom_in_progress_acks_total",
    "In-progress acks (+WPI) sent for messages still being worked on (see shared/pipeline.py)",
    ["stage"],
    registry=REGISTRY,
)
REDELIVERED_WHILE_HANDLED = Counter(
    "newsroom_redelivered_while_handled_total",
    "Messages delivered again while this process was still working on them (should stay 0)",
    ["stage"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "newsroom_retries_total",
    "Messages a stage nacked for a later retry",
    ["stage", "kind"],
    registry=REGISTRY,
)
PROCESSING_SECONDS = Histogram(
    "newsroom_processing_seconds",
    "Time a stage spent on one message (including publishes)",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
PIPELINE_LATENCY_SECONDS = Histogram(
    "newsroom_ingest_to_publish_seconds",
    "From the article's ingest to its item being published",
    [],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
    registry=REGISTRY,
)
MONGO_WRITE_SECONDS = Histogram(
    "newsroom_mongo_write_seconds",
    "MongoDB write latency",
    ["collection"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
    registry=REGISTRY,
)
ITEMS_PUBLISHED = Counter(
    "newsroom_items_published_total",
    "Stories published for the first time",
    ["tag", "language"],
    registry=REGISTRY,
)
ITEMS_UPDATED = Counter(
    "newsroom_items_updated_total", "Updates of published stories", ["tag"], registry=REGISTRY
)
LAST_PUBLISHED = Gauge(
    "newsroom_last_published_timestamp_seconds",
    "Unix time of the last item published or updated",
    [],
    registry=REGISTRY,
)
UP = Gauge("newsroom_service_up", "1 while the service runs", ["stage"], registry=REGISTRY)
