"""The operator's commands against a real nats-server and nx-27017, run as the operator runs them
(`python -m newsroom.cli ...` in a subprocess) while the stages are live:

- a message dead-lettered because of a bug is re-driven by `newsroom dlq replay SEQ` once the bug
  is fixed, and processed exactly once;
- `newsroom reprocess --since ... --stage translate` re-runs the stage for stored stories with new
  event ids (a repeated run with the same run id is deduplicated);
- `newsroom status` reports streams, consumer lag, dead letters and failing sources;
- the consumer-lag collector reports a durable consumer's backlog."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats as nats_client
import pytest
from prometheus_client import generate_latest
from pymongo import MongoClient

from services.translate.app import build as build_translate
from shared import lag_metrics, subjects
from shared.events import Article, Cluster, StoryEvent, StoryMember
from shared.metrics import REGISTRY
from shared.pipeline import Outgoing, msg_id, publish_durably, register_stage
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.service import new_service
from shared.settings import DeliverySettings, Settings, StageDelivery
from tests.support.inproc import running
from tests.support.stack import pipeline_consumers
from tests.support.waits import WAIT_S

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def event(story: str) -> StoryEvent:
    article = Article(
        article_id=f"a-{story}",
        source_id="wire",
        source_name="Wire",
        url=f"https://x.org/{story}",
        canonical_url=f"https://x.org/{story}",
        title=f"Story {story}",
        summary=f"About {story}.",
        language="en",
        fetched_at=NOW,
    )
    member = StoryMember(
        article_id=article.article_id,
        source_id="wire",
        source_name="Wire",
        url=article.url,
        title=article.title,
        language="en",
        joined_at=NOW,
    )
    return StoryEvent(
        story_id=story,
        article_id=article.article_id,
        article=article,
        cluster=Cluster(story_id=story, is_new=True, method="new", members=[member]),
    )


def fast_settings(url: str, mongo_url: str | None = None, db: str = "newsroom") -> Settings:
    fast = StageDelivery(max_deliver=2, ack_wait_s=5.0, batch_size=8, retry_delay_s=0.05)
    return Settings(
        nats_url=url,
        mongo_url=mongo_url,
        mongo_db=db,
        delivery=DeliverySettings(translate=fast, outage_retry_delay_s=0.05),
    )


async def cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    """`newsroom ARGS` as a separate process (the event loop keeps serving the in-process stage)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "newsroom.cli",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode()


NO_MONGO = "mongodb://127.0.0.1:1/?directConnection=true"


def cli_env(url: str, mongo_url: str = NO_MONGO, db: str = "x") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSROOM_")}
    env.update(
        NEWSROOM_NATS_URL=url, NEWSROOM_MONGO_URL=mongo_url, NEWSROOM_MONGO_DB=db, PYTHONPATH=str(REPO)
    )
    return env


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout_s: float = WAIT_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def translate_idle(url: str) -> Callable[[], Awaitable[bool]]:
    """translate's consumer has nothing pending or unacknowledged: every message it got is
    handled and its output is in the stream (a handler acks only after that)."""

    async def check() -> bool:
        pending, unacknowledged = (await pipeline_consumers(url))["translate"]
        return pending == 0 and unacknowledged == 0

    return check


async def subject_events(url: str, subject: str) -> list[dict[str, Any]]:
    nc = await nats_client.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("NEWS_PIPELINE")
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await js.get_msg("NEWS_PIPELINE", seq)
            except nats_client.js.errors.NotFoundError:
                continue
            if msg.subject == subject:
                found.append(json.loads(msg.data or b"{}"))
        return found
    finally:
        await nc.close()


async def publish_input(service: Any, stories: Sequence[str]) -> None:
    for story in stories:
        out = Outgoing(subjects.INGESTED, event(story), f"in:{story}")
        await publish_durably(service.broker, out, "test")


async def test_dlq_replay_redrives_a_dead_letter_after_the_cause_is_fixed(nats: EmbeddedServer) -> None:
    url = nats_url(nats)
    service = new_service("translate", fast_settings(url), with_store=False)
    bug = {"present": True}
    handled: Counter[str] = Counter()

    async def handler(ev: StoryEvent) -> Sequence[Outgoing]:
        if ev.story_id == "s1" and bug["present"]:
            raise RuntimeError("glossary entry for s1 is malformed")
        handled[ev.story_id] += 1
        return [Outgoing(subjects.TRANSLATED, ev.next(), msg_id("translate", ev.event_id))]

    register_stage(
        service.broker,
        service.settings,
        stage="translate",
        subject=subjects.INGESTED,
        durable="translate",
        handler=handler,
    )
    env = cli_env(url)
    async with running(service):
        await publish_input(service, ["s0", "s1", "s2"])

        async def one_dead_letter() -> bool:
            code, out = await cli(env, "dlq", "list")
            return code == 0 and '"story_id": "s1"' in out

        await wait_for(one_dead_letter)
        code, out = await cli(env, "dlq", "list", "--stage", "translate")
        letters = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert code == 0 and len(letters) == 1, out
        seq = letters[0]["seq"]
        assert letters[0]["error_type"] == "RuntimeError" and "malformed" in letters[0]["error"]
        assert letters[0]["deliveries"] == 2

        code, out = await cli(env, "dlq", "show", str(seq))
        shown = json.loads(out)
        assert code == 0 and shown["payload"]["story_id"] == "s1" and shown["subject"] == subjects.INGESTED

        code, out = await cli(env, "status")
        assert code == 0 and json.loads(out)["dead_letters"] == {"translate": 1}, out

        bug["present"] = False  # the fix is deployed
        code, out = await cli(env, "dlq", "replay", str(seq))
        assert code == 0 and f"replayed dead letter {seq} to {subjects.INGESTED}" in out, out

        async def replayed() -> bool:
            return handled["s1"] == 1

        await wait_for(replayed)
        await wait_for(translate_idle(url))  # s1's output is in the stream, a double would be too
        translated = Counter(e["story_id"] for e in await subject_events(url, subjects.TRANSLATED))
        assert translated == Counter({"s0": 1, "s1": 1, "s2": 1})
        assert handled == Counter({"s0": 1, "s1": 1, "s2": 1})

        code, out = await cli(env, "status")
        assert json.loads(out)["dead_letters"] == {}, out
        code, out = await cli(env, "dlq", "replay", str(seq))
        assert code == 1 and "no dead letter" in out, out


async def test_reprocess_reruns_translate_with_new_event_ids_and_dedups_a_repeated_run(
    nats: EmbeddedServer,
    mongo_server: str,
    mongo_db_name: str,
) -> None:
    url = nats_url(nats)
    service = build_translate(fast_settings(url))
    stories = ["r1", "r2", "r3"]
    # A stored item whose input has left the stream (older than its retention): reported, not re-run.
    MongoClient[dict[str, Any]](mongo_server)[mongo_db_name].items.insert_one(
        {"_id": "expired", "first_seen_at": datetime.now(UTC) - timedelta(minutes=5)}
    )
    env = cli_env(url, mongo_server, mongo_db_name)
    async with running(service):
        await publish_input(service, stories)

        async def translated(n: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return len(await subject_events(url, subjects.TRANSLATED)) >= n

            return check

        await wait_for(await translated(3))
        first = await subject_events(url, subjects.TRANSLATED)

        code, out = await cli(env, "reprocess", "--since", "1h", "--stage", "translate", "--dry-run")
        report = json.loads(out)
        assert code == 0 and report["stories"] == 3 and "published" not in report, out
        await wait_for(translate_idle(url))  # what a dry run wrongly published would be handled
        assert len(await subject_events(url, subjects.TRANSLATED)) == 3  # a dry run publishes nothing

        code, out = await cli(env, "reprocess", "--since", "1h", "--stage", "translate", "--rate", "0")
        report = json.loads(out)
        assert code == 0 and report["published"] == 3 and report["duplicates_dropped"] == 0, out
        assert report["items_not_in_stream"] == 1 and report["items_not_in_stream_sample"] == ["expired"]
        await wait_for(await translated(6))

        code, out = await cli(
            env,
            "reprocess",
            "--since",
            "1h",
            "--stage",
            "translate",
            "--run-id",
            report["run_id"],
            "--rate",
            "0",
        )
        again = json.loads(out)
        assert code == 0 and again["published"] == 0 and again["duplicates_dropped"] == 3, out

        code, out = await cli(
            env, "reprocess", "--since", "1h", "--stage", "translate", "--story", "r2", "--rate", "0"
        )
        assert json.loads(out)["published"] == 1, out
        await wait_for(await translated(7))
        await wait_for(translate_idle(url))  # a double would be in the stream now
        events = await subject_events(url, subjects.TRANSLATED)
        assert Counter(e["story_id"] for e in events) == Counter({"r1": 2, "r2": 3, "r3": 2})
        assert len({e["event_id"] for e in events}) == 7
        assert all(e["translation"]["status"] == "unavailable" for e in events)
        # The re-runs keep the story's trace, so a reader can follow both runs.
        assert {e["trace_id"] for e in events} == {e["trace_id"] for e in first}


async def test_status_and_lag_metrics_report_a_stopped_stage_backlog(
    nats: EmbeddedServer,
    mongo_server: str,
    mongo_db_name: str,
) -> None:
    url = nats_url(nats)
    service = build_translate(fast_settings(url))
    async with running(service):  # creates the durable consumer
        pass
    publisher = new_service("ingest", fast_settings(url), with_store=False)
    async with running(publisher):
        await publish_input(publisher, [f"b{i}" for i in range(5)])
        await lag_metrics.COLLECTOR.refresh()
        exposition = generate_latest(REGISTRY).decode()
    assert 'newsroom_consumer_pending_messages{consumer="translate",stream="NEWS_PIPELINE"} 5.0' in exposition
    assert 'newsroom_stream_messages{stream="NEWS_PIPELINE"} 5.0' in exposition

    MongoClient[dict[str, Any]](mongo_server)[mongo_db_name].source_state.insert_many(
        [
            {"_id": "good-wire", "consecutive_failures": 0, "last_success_at": NOW},
            {
                "_id": "dead-wire",
                "consecutive_failures": 7,
                "circuit": "open",
                "last_error_kind": "http_status",
                "last_error": "HTTP 503",
                "last_success_at": NOW - timedelta(hours=9),
            },
        ]
    )
    code, out = await cli(cli_env(url, mongo_server, mongo_db_name), "status")
    status = json.loads(out)
    assert code == 0, out
    lag = {c["consumer"]: c for c in status["consumers"]}
    assert lag["translate"]["pending"] == 5 and lag["translate"]["ack_pending"] == 0
    assert status["streams"]["NEWS_PIPELINE"]["messages"] == 5
    assert status["sources"]["total"] == 2 and status["sources"]["healthy"] == 1
    assert [s["source"] for s in status["sources"]["failing"]] == ["dead-wire"]
    assert status["sources"]["failing"][0]["consecutive_failures"] == 7


@pytest.mark.parametrize("since", ["not a time", "12x"])
def test_reprocess_rejects_a_bad_since(since: str) -> None:
    from newsroom.cli import parse_since

    with pytest.raises(SystemExit):
        parse_since(since, NOW)
