"""Scale-out: three translate processes on one durable consumer (what `newsroom up --replicas
translate=3` and `docker compose up --scale translate=3` start) share 1,000 stories: every story is
translated exactly once and every process did part of the work.

Only the translate stage runs (its input is published straight to ``news.ingested``): the point is
the shared durable consumer, not the rest of the pipeline. Without an LLM configured each story's
translation is "unavailable" with the reason, still one event per story."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats as nats_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from newsroom.cli import replica_layout
from shared import subjects
from shared.events import Article, Cluster, StoryEvent, StoryMember
from shared.runtime.embedded import EmbeddedServer, free_port, nats_url, port_open
from shared.settings import STAGE_PORT_OFFSET
from tests.support.stack import Stack, distinct_stories, messages
from tests.support.waits import PIPELINE_TEST_TIMEOUT_S, WAIT_S

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PIPELINE_TEST_TIMEOUT_S)]

STORIES = 1000
REPLICAS = 3
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
# No Mongo is needed: translate without an LLM opens no MongoDB connection.
UNUSED_MONGO = "mongodb://127.0.0.1:1/?directConnection=true"


def ingested(index: int, link: str, title: str, description: str) -> StoryEvent:
    story = f"story-{index:04d}"
    article = Article(
        article_id=f"a-{index:04d}",
        source_id="wire",
        source_name="Test wire",
        url=link,
        canonical_url=link,
        title=title,
        summary=description,
        language="en",
        fetched_at=NOW,
    )
    member = StoryMember(
        article_id=article.article_id,
        source_id="wire",
        source_name="Test wire",
        url=link,
        title=title,
        language="en",
        joined_at=NOW,
    )
    return StoryEvent(
        story_id=story,
        article_id=article.article_id,
        article=article,
        cluster=Cluster(story_id=story, is_new=True, method="new", members=[member]),
    )


def free_base_port() -> int:
    """A base port whose three translate ports (base + 10*i + offset) are all free."""
    for _ in range(50):
        base = free_port()
        ports = [base + 10 * i + STAGE_PORT_OFFSET["translate"] for i in range(REPLICAS)]
        if not any(port_open("127.0.0.1", port) for port in ports):
            return base
    raise RuntimeError("no free port range for three translate replicas")


@pytest.fixture()
def replicas(nats: EmbeddedServer, tmp_path: Path) -> Iterator[list[Stack]]:
    base = free_base_port()
    layout = [entry for entry in replica_layout({"translate": REPLICAS}, base) if entry[1] == "translate"]
    stacks = []
    for name, _, replica_base in layout:
        log_dir = tmp_path / name
        log_dir.mkdir()
        stacks.append(Stack(nats_url(nats), UNUSED_MONGO, "unused", log_dir, base_port=replica_base))
    try:
        yield stacks
    finally:
        for stack in stacks:
            stack.stop_all()


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def metrics_port(stack: Stack) -> int:
    return stack.base_port + STAGE_PORT_OFFSET["translate"]


def wait_ready(stacks: list[Stack], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    waiting = list(stacks)
    while waiting and time.monotonic() < deadline:
        waiting = [s for s in waiting if http_get(f"http://127.0.0.1:{metrics_port(s)}/readyz")[0] != 200]
        time.sleep(0.2)
    if waiting:
        raise AssertionError("translate replicas not ready:\n" + "\n".join(s.logs() for s in waiting))


async def fetching_replicas(url: str) -> int:
    """Pull requests waiting on translate's durable consumer (one per fetching replica)."""
    nc = await nats_client.connect(url)
    try:
        info = await nc.jetstream().consumer_info("NEWS_PIPELINE", "translate")
        return info.num_waiting or 0
    finally:
        await nc.close()


async def publish_stories(url: str) -> None:
    nc = await nats_client.connect(url)
    try:
        js = nc.jetstream()
        for index, (link, title, description) in enumerate(distinct_stories(STORIES, prefix="scale")):
            event = ingested(index, link, title, description)
            await js.publish(
                subjects.INGESTED,
                event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": f"ingest:{event.article_id}"},
            )
    finally:
        await nc.close()


async def translate_done(url: str) -> bool:
    nc = await nats_client.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("NEWS_PIPELINE", subjects_filter=subjects.TRANSLATED)
        consumer = await js.consumer_info("NEWS_PIPELINE", "translate")
        translated = sum((info.state.subjects or {}).values())
        return translated >= STORIES and consumer.num_pending == 0 and consumer.num_ack_pending == 0
    finally:
        await nc.close()


def counter_total(exposition: str, family: str, **labels: str) -> float:
    total = 0.0
    for metric in text_string_to_metric_families(exposition):
        for sample in metric.samples:
            if sample.name == family and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_three_translate_processes_share_one_durable_consumer(replicas: list[Stack]) -> None:
    for stack in replicas:
        stack.start("translate")
    wait_ready(replicas)
    url = replicas[0].nats_url
    # Every replica is waiting for messages before the first one is published: the server hands
    # the backlog to the waiting pull requests in turn, so each replica gets a share by
    # construction (one that only started fetching later might find the backlog gone).
    replicas[0].wait_until(
        "every replica to fetch", lambda: asyncio.run(fetching_replicas(url)) >= REPLICAS, timeout_s=WAIT_S
    )
    asyncio.run(publish_stories(url))

    # Done: every story translated and the consumer has nothing pending or unacknowledged, so no
    # double translation can come after it.
    replicas[0].wait_until("translation to finish", lambda: asyncio.run(translate_done(url)), every_s=0.5)

    translated = messages(url, "NEWS_PIPELINE", subjects.TRANSLATED)
    per_story = Counter(data["story_id"] for _, data, _ in translated)
    assert len(per_story) == STORIES
    assert set(per_story.values()) == {1}, [s for s, n in per_story.items() if n > 1][:10]
    assert all(data["translation"]["status"] == "unavailable" for _, data, _ in translated)

    received, emitted = [], []
    for stack in replicas:
        status, exposition = http_get(f"http://127.0.0.1:{metrics_port(stack)}/metrics")
        assert status == 200
        received.append(counter_total(exposition, "newsroom_events_received_total", stage="translate"))
        emitted.append(counter_total(exposition, "newsroom_events_emitted_total", stage="translate"))
        # Every replica also reports the shared consumer's lag (drained by now).
        assert counter_total(exposition, "newsroom_consumer_pending_messages", consumer="translate") == 0
    assert all(count > 0 for count in received), f"work not spread across the replicas: {received}"
    assert sum(emitted) == STORIES, emitted
    assert sum(received) >= STORIES
