"""Every metric named in the alert rules and the Grafana dashboard is exported by a live service.

The five stages run as real processes against a real nats-server and nx-27017; a small feed goes
through (plus one feed that cannot be read, and one malformed event that is dead-lettered) so the
lazily created label sets exist; then each service's /metrics is scraped and the names compared
(a histogram is queried as name_bucket/_sum/_count, a counter as name_total)."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nats as nats_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared import subjects
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.settings import STAGE_PORT_OFFSET, STAGES
from tests.support.stack import Stack, distinct_stories, write_feed
from tests.support.waits import PIPELINE_TEST_TIMEOUT_S, WAIT_S
from tests.unit.test_deploy_files import queried_metric_names

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PIPELINE_TEST_TIMEOUT_S)]

STORIES = 2  # enough for every label set; analyze's local tier is CPU-heavy on a shared machine
# Series Prometheus makes itself when it scrapes (not in any /metrics output).
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Families that must have samples after this run, not only be declared.
MUST_HAVE_SAMPLES = {
    "newsroom_events_received_total",
    "newsroom_events_emitted_total",
    "newsroom_processing_seconds_bucket",
    "newsroom_items_published_total",
    "newsroom_last_published_timestamp_seconds",
    "newsroom_ingest_to_publish_seconds_bucket",
    "newsroom_mongo_write_seconds_bucket",
    "newsroom_consumer_pending_messages",
    "newsroom_consumer_ack_pending_messages",
    "newsroom_stream_messages",
    "newsroom_dead_letters_total",
    "newsroom_dead_letter_messages",
    "newsroom_service_up",
    "newsroom_source_fetch_total",
    "newsroom_source_consecutive_failures",
    "newsroom_source_last_success_timestamp_seconds",
    "process_cpu_seconds_total",
    "process_start_time_seconds",
}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "gauge": (),
}


@pytest.fixture()
def stack(nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(nats_url(nats), mongo_server, mongo_db_name, tmp_path)
    yield running
    running.stop_all()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


def exported_names(expositions: list[str]) -> tuple[set[str], set[str]]:
    """(every name a query may use, the names that have samples)."""
    queryable: set[str] = set()
    sampled: set[str] = set()
    for text in expositions:
        for family in text_string_to_metric_families(text):
            queryable.add(family.name)
            queryable.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
            sampled.update(sample.name for sample in family.samples)
    return queryable | sampled, sampled


async def publish_malformed(url: str) -> None:
    nc = await nats_client.connect(url)
    try:
        await nc.jetstream().publish(
            subjects.TRANSLATED,
            b'{"story_id": "broken", "not": "an event"}',
            headers={"Nats-Msg-Id": "test:malformed"},
        )
    finally:
        await nc.close()


def test_every_metric_in_alerts_and_dashboard_is_exported_by_a_live_service(
    stack: Stack, tmp_path: Path
) -> None:
    feed = write_feed(tmp_path / "feed.xml", distinct_stories(STORIES, prefix="names"))
    unreadable = tmp_path / "no-such-feed.xml"  # a failing source: its health metrics get samples
    stack.env_extra = {"NEWSROOM_INGEST__FEEDS": f"{feed},{unreadable}", "NEWSROOM_INGEST__POLL": "false"}
    stack.start_all()
    stack.wait_items(STORIES)
    asyncio.run(publish_malformed(stack.nats_url))

    ports = {stage: stack.base_port + STAGE_PORT_OFFSET[stage] for stage in STAGES}
    deadline = time.monotonic() + WAIT_S
    lag_line = 'newsroom_consumer_pending_messages{consumer="publish",stream="NEWS_PIPELINE"}'
    while True:  # the lag numbers are cached for a few seconds: wait for the dead letter to show
        expositions = {stage: scrape(port) for stage, port in ports.items()}
        # ... and for every stage's first snapshot (taken in the background; slow under load).
        if any(
            'newsroom_dead_letter_messages{stage="analyze"} 1.0' in text for text in expositions.values()
        ) and all(lag_line in text for text in expositions.values()):
            break
        if time.monotonic() > deadline:
            raise AssertionError("the dead letter or a stage's lag lines never showed\n" + stack.logs())
        time.sleep(0.25)

    queryable, sampled = exported_names(list(expositions.values()))
    used = queried_metric_names()
    missing = {
        name: sorted(where)
        for name, where in used.items()
        if name not in queryable and name not in PROMETHEUS_SYNTHETIC
    }
    assert not missing, f"queried but not exported by any service: {missing}"
    assert MUST_HAVE_SAMPLES <= set(used) | {"newsroom_consumer_ack_pending_messages"}
    assert MUST_HAVE_SAMPLES <= sampled, sorted(MUST_HAVE_SAMPLES - sampled)
    # Every stage reports the consumer lag (JetStream-wide), so one stage down does not hide it.
    for stage, text in expositions.items():
        assert lag_line in text, stage
