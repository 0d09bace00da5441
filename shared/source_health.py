"""Source health: when each source last worked, its last error, its consecutive failures and its
conditional-GET validators, kept in MongoDB (``source_state``, one document per source id) and
exported as Prometheus metrics. Labels are source ids from the configuration (a bounded set) and
fixed outcome names."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from prometheus_client import Counter, Gauge, Histogram
from pydantic import BaseModel

from shared.metrics import REGISTRY
from shared.storage import SOURCE_STATE, MongoStore

# Outcome label values: "ok", "not_modified", "parse_error", or a FetchError kind.
SOURCE_FETCHES = Counter(
    "newsroom_source_fetch_total", "Polls of a source by outcome", ["source", "outcome"], registry=REGISTRY
)
SOURCE_CONSECUTIVE_FAILURES = Gauge(
    "newsroom_source_consecutive_failures", "Failed polls of a source in a row", ["source"], registry=REGISTRY
)
SOURCE_LAST_SUCCESS = Gauge(
    "newsroom_source_last_success_timestamp_seconds",
    "Unix time of a source's last successful poll",
    ["source"],
    registry=REGISTRY,
)
SOURCE_CIRCUIT_OPEN = Gauge(
    "newsroom_source_circuit_open",
    "1 while a source's circuit breaker is open",
    ["source"],
    registry=REGISTRY,
)
SOURCE_ENTRIES = Counter(
    "newsroom_source_entries_total", "Entries read from a source's feed", ["source"], registry=REGISTRY
)
SOURCE_FETCH_SECONDS = Histogram(
    "newsroom_source_fetch_seconds",
    "Time to fetch and parse one source",
    [],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
PAGE_FETCHES = Counter(
    "newsroom_article_page_fetch_total",
    "Article pages fetched for full text, by outcome",
    ["outcome"],
    registry=REGISTRY,
)

CircuitState = Literal["closed", "open", "half_open"]


class SourceHealth(BaseModel):
    source_id: str
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str | None = None
    last_error_kind: str | None = None
    consecutive_failures: int = 0
    circuit: CircuitState = "closed"
    next_attempt_at: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    entries_last_poll: int = 0
    warnings: list[str] = []

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(exclude={"source_id"})


class SourceHealthStore:
    """Reads and writes ``source_state`` and keeps the metrics in step with it."""

    def __init__(self, store: MongoStore) -> None:
        self.store = store

    async def get(self, source_id: str) -> SourceHealth:
        doc = await self.store.get(SOURCE_STATE, source_id)
        if doc is None:
            return SourceHealth(source_id=source_id)
        doc.pop("_id", None)
        return SourceHealth.model_validate({**doc, "source_id": source_id})

    async def all(self) -> dict[str, SourceHealth]:
        found: dict[str, SourceHealth] = {}
        async for doc in self.store.collection(SOURCE_STATE).find({}):
            source_id = str(doc.pop("_id"))
            found[source_id] = SourceHealth.model_validate({**doc, "source_id": source_id})
        return found

    async def save(self, health: SourceHealth) -> None:
        """One write per poll. The model is the whole stored document (nothing else writes
        ``source_state``), so the document is replaced: a replace stores its top-level datetimes
        on nx-27017 as on MongoDB, where a ``$set`` of them needs a read of the document first on
        nx-27017 (``MongoStore.upsert``: a read and a write per poll)."""
        await self.store.upsert_many(
            SOURCE_STATE, {health.source_id: health.to_doc()}, whole={health.source_id}
        )


def record_success(
    health: SourceHealth,
    now: datetime,
    *,
    not_modified: bool,
    entries: int,
    etag: str | None,
    last_modified: str | None,
    next_attempt_at: datetime,
    warnings: list[str] | None = None,
) -> SourceHealth:
    """The health after a successful poll (metrics updated)."""
    outcome = "not_modified" if not_modified else "ok"
    SOURCE_FETCHES.labels(health.source_id, outcome).inc()
    SOURCE_CONSECUTIVE_FAILURES.labels(health.source_id).set(0)
    SOURCE_LAST_SUCCESS.labels(health.source_id).set(now.timestamp())
    SOURCE_CIRCUIT_OPEN.labels(health.source_id).set(0)
    if entries:
        SOURCE_ENTRIES.labels(health.source_id).inc(entries)
    return health.model_copy(
        update={
            "last_attempt_at": now,
            "last_success_at": now,
            "consecutive_failures": 0,
            "circuit": "closed",
            "next_attempt_at": next_attempt_at,
            "etag": etag,
            "last_modified": last_modified,
            "entries_last_poll": entries,
            "warnings": list(warnings or []),
        }
    )


def record_failure(
    health: SourceHealth,
    now: datetime,
    *,
    kind: str,
    error: str,
    consecutive_failures: int,
    circuit: CircuitState,
    next_attempt_at: datetime,
) -> SourceHealth:
    """The health after a failed poll (metrics updated). Validators are kept for the next try."""
    SOURCE_FETCHES.labels(health.source_id, kind).inc()
    SOURCE_CONSECUTIVE_FAILURES.labels(health.source_id).set(consecutive_failures)
    SOURCE_CIRCUIT_OPEN.labels(health.source_id).set(1 if circuit == "open" else 0)
    return health.model_copy(
        update={
            "last_attempt_at": now,
            "last_error_at": now,
            "last_error": error[:1000],
            "last_error_kind": kind,
            "consecutive_failures": consecutive_failures,
            "circuit": circuit,
            "next_attempt_at": next_attempt_at,
        }
    )
