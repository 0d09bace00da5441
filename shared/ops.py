"""Operational queries and actions over JetStream, all safe while the system is live:

- stream state, consumer lag (durable consumers only), dead-letter counts per stage;
- dead letters: list, show, replay (publish the original payload back, then delete the letter);
- reprocess: re-publish a stage's input events for stories seen since a time (e.g. after a prompt
  change), as *new* events with new ids, so the stage and everything after it run again.

Reading never takes messages away from the stages: dead letters are read by sequence number,
reprocess reads through its own ephemeral consumer (no acks, deleted when done)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from shared import subjects
from shared.events import DeadLetter, StoryEvent, stable_id

# The subject each re-runnable stage consumes. ``score`` is re-run from the analysed events (the
# ``news.story.joined`` re-scores read the story's members from the score state, so they follow).
REPROCESS_INPUT: dict[str, str] = {
    "translate": subjects.INGESTED,
    "analyze": subjects.TRANSLATED,
    "score": subjects.ANALYZED,
}


# The durable consumers of the pipeline stream that the stages declare at start-up (the revised
# ones read news.story.revised).
PIPELINE_CONSUMERS = (
    "translate",
    "analyze",
    "score",
    "score-joined",
    "score-revised",
    "publish",
    "publish-revised",
)


@dataclass(frozen=True)
class ConsumerLag:
    stream: str
    consumer: str
    pending: int  # in the stream, not yet delivered to the consumer
    ack_pending: int  # delivered, not yet acknowledged (being worked on, or waiting for a retry)
    redelivered: int  # of the ack-pending ones, delivered more than once
    waiting: int  # pull requests waiting for messages (idle workers)


async def _quiet(error: Exception) -> None:
    """nats-py's default error callback prints a traceback per failed attempt; the caller gets
    the final error (NoServersError) and says it in one line."""


async def connect(url: str) -> Client:
    """A short-lived operator connection: gives up quickly when NATS is not there."""
    return await nats.connect(
        url, connect_timeout=3, max_reconnect_attempts=1, reconnect_time_wait=0.5, error_cb=_quiet
    )


async def stream_state(js: JetStreamContext) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for spec in subjects.ALL_STREAMS:
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            continue
        out[spec.name] = {
            "messages": info.state.messages,
            "bytes": info.state.bytes,
            "first_seq": info.state.first_seq,
            "last_seq": info.state.last_seq,
            "consumers": info.state.consumer_count,
        }
    return out


async def consumer_lag(js: JetStreamContext) -> list[ConsumerLag]:
    """Lag of every durable consumer of our streams. Ephemeral consumers (``newsroom tail``,
    ``reprocess``) are left out: their names are random, they would make unbounded metric labels."""
    lags = []
    for spec in subjects.ALL_STREAMS:
        try:
            consumers = await js.consumers_info(spec.name)
        except NotFoundError:
            continue
        for info in consumers:
            if not info.config.durable_name:
                continue
            lags.append(
                ConsumerLag(
                    spec.name,
                    info.name,
                    info.num_pending or 0,
                    info.num_ack_pending or 0,
                    info.num_redelivered or 0,
                    info.num_waiting or 0,
                )
            )
    return sorted(lags, key=lambda lag: (lag.stream, lag.consumer))


def stage_of_dlq_subject(subject: str) -> str:
    return subject.removeprefix(subjects.DLQ_PREFIX + ".")


async def dead_letter_counts(js: JetStreamContext) -> dict[str, int]:
    """Dead letters waiting in NEWS_DLQ, per stage (one stream-info request, whatever their number)."""
    try:
        info = await js.stream_info(subjects.DLQ_STREAM.name, subjects_filter=f"{subjects.DLQ_PREFIX}.>")
    except NotFoundError:
        return {}
    per_subject = sorted((info.state.subjects or {}).items())
    return {stage_of_dlq_subject(subject): count for subject, count in per_subject}


async def dead_letter(js: JetStreamContext, seq: int) -> DeadLetter | None:
    try:
        raw = await js.get_msg(subjects.DLQ_STREAM.name, seq)
    except NotFoundError:
        return None
    return DeadLetter.model_validate_json(raw.data or b"{}")


async def dead_letters(
    js: JetStreamContext, limit: int = 100, stage: str | None = None
) -> list[tuple[int, DeadLetter]]:
    """The oldest ``limit`` dead letters (optionally of one stage), with their stream sequence."""
    try:
        info = await js.stream_info(subjects.DLQ_STREAM.name)
    except NotFoundError:
        return []
    letters: list[tuple[int, DeadLetter]] = []
    if not info.state.messages:
        return letters
    seq = info.state.first_seq
    while seq <= info.state.last_seq and len(letters) < limit:
        try:
            raw = await js.get_msg(subjects.DLQ_STREAM.name, seq)
        except NotFoundError:  # replayed (deleted) letters leave gaps
            seq += 1
            continue
        letter = DeadLetter.model_validate_json(raw.data or b"{}")
        if stage is None or letter.stage == stage:
            letters.append((seq, letter))
        seq += 1
    return letters


async def replay_dead_letter(js: JetStreamContext, seq: int) -> str:
    """Publish the original payload back to its subject (after the cause is fixed), then delete the
    dead letter. Returns the subject it went to. The stage's consumer picks it up like any new
    message; its outputs are deduplicated by the event id as usual."""
    letter = await dead_letter(js, seq)
    if letter is None:
        raise LookupError(f"no dead letter with sequence {seq} (already replayed, or expired)")
    if letter.subject not in subjects.PIPELINE_STREAM.subjects:
        raise ValueError(f"dead letter {seq} came from {letter.subject!r}, which cannot be replayed")
    # The id is unique per dead letter: a second replay of the same letter inside the duplicate
    # window is dropped by the stream (and the letter is gone after the first anyway).
    await js.publish(
        letter.subject,
        letter.payload.encode("utf-8"),
        headers={"Nats-Msg-Id": f"replay:{seq}", "content-type": "application/json"},
    )
    await js.delete_msg(subjects.DLQ_STREAM.name, seq)
    return letter.subject


def describe(letter: DeadLetter) -> dict[str, Any]:
    data = letter.model_dump(mode="json")
    try:
        data["payload"] = json.loads(letter.payload)
    except ValueError:
        pass
    return data


# --- reprocess --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Republish:
    subject: str
    event: StoryEvent
    msg_id: str


@dataclass(frozen=True)
class ReprocessPlan:
    stage: str
    run_id: str
    republish: list[Republish]
    unreadable: int  # messages on the subject that are not valid events (left alone)


REPROCESS_ID_PREFIX = "reprocess:"


def plan_reprocess(
    stage: str,
    found: Iterable[tuple[int, bytes, str]],
    run_id: str,
    now: datetime,
    story_ids: set[str] | None = None,
) -> ReprocessPlan:
    """Pure: from the stage's input messages (stream sequence, body, Nats-Msg-Id), the events to
    publish again.

    One event per story: its latest original input (events published by an earlier reprocess are
    skipped, so every run starts from the same originals). Each gets a new event id derived from
    (run id, stage, original event id): the stage's own outputs are keyed by the incoming event id,
    so they are new events, while repeating the same run (e.g. after a crash half-way) publishes
    the same ids again and the stream drops them as duplicates."""
    if stage not in REPROCESS_INPUT:
        raise ValueError(f"stage {stage!r} cannot be reprocessed; one of {', '.join(REPROCESS_INPUT)}")
    subject = REPROCESS_INPUT[stage]
    latest: dict[str, tuple[int, StoryEvent]] = {}
    unreadable = 0
    for seq, body, message_id in found:
        if message_id.startswith(REPROCESS_ID_PREFIX):
            continue
        try:
            event = StoryEvent.model_validate_json(body)
        except ValidationError:
            unreadable += 1
            continue
        if story_ids is not None and event.story_id not in story_ids:
            continue
        if event.story_id not in latest or latest[event.story_id][0] < seq:
            latest[event.story_id] = (seq, event)
    republish = []
    for _, event in sorted(latest.values(), key=lambda pair: pair[0]):
        fresh = event.model_copy(
            update={
                "event_id": stable_id("reprocess", run_id, stage, event.event_id, length=32),
                "occurred_at": now,
            }
        )
        republish.append(Republish(subject, fresh, f"{REPROCESS_ID_PREFIX}{run_id}:{stage}:{event.event_id}"))
    return ReprocessPlan(stage, run_id, republish, unreadable)


async def read_subject_since(
    js: JetStreamContext, subject: str, since: datetime, fetch_batch: int = 256, idle_timeout_s: float = 2.0
) -> list[tuple[int, bytes, str]]:
    """Every message of ``subject`` stored since ``since`` (stream sequence, body, Nats-Msg-Id), through an
    ephemeral no-ack consumer: the stages' durable consumers are not touched."""
    stream = subjects.stream_for(subject).name
    sub = await js.pull_subscribe(
        subject,
        stream=stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=since,
            ack_policy=AckPolicy.NONE,
            filter_subject=subject,
            inactive_threshold=60.0,
            mem_storage=True,
        ),
    )
    found: list[tuple[int, bytes, str]] = []
    try:
        while True:
            try:
                batch = await sub.fetch(fetch_batch, timeout=idle_timeout_s)
            except TimeoutError:  # covers nats.errors.TimeoutError
                # nats-py raises a bare asyncio.TimeoutError too (its no-wait probe answered after
                # the deadline, on a loaded machine): both mean "nothing more to read".
                break
            pending = 1
            for msg in batch:
                message_id = (msg.headers or {}).get("Nats-Msg-Id", "")
                found.append((msg.metadata.sequence.stream, msg.data, message_id))
                pending = msg.metadata.num_pending
            if pending == 0:
                break
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return found


async def publish_plan(
    js: JetStreamContext, plan: ReprocessPlan, rate_per_s: float = 50.0
) -> tuple[int, int]:
    """Publish the plan at a bounded rate so live news keeps flowing between the re-runs.
    Returns (published, dropped as duplicates of an earlier run with the same run id)."""
    published = duplicates = 0
    interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
    for item in plan.republish:
        ack = await js.publish(
            item.subject,
            item.event.model_dump_json().encode("utf-8"),
            headers={"Nats-Msg-Id": item.msg_id, "content-type": "application/json"},
        )
        if ack.duplicate:
            duplicates += 1
        else:
            published += 1
        if interval:
            await asyncio.sleep(interval)
    return published, duplicates


def summarize_plan(plan: ReprocessPlan, limit: int = 20) -> dict[str, Any]:
    return {
        "stage": plan.stage,
        "run_id": plan.run_id,
        "subject": REPROCESS_INPUT[plan.stage],
        "stories": len(plan.republish),
        "unreadable_messages": plan.unreadable,
        "story_ids": [item.event.story_id for item in plan.republish[:limit]],
    }


def stories_missing(plan: ReprocessPlan, stored_ids: Sequence[str]) -> list[str]:
    """Stored items seen since the time whose input event is no longer in the stream (older than
    the pipeline stream's retention): they cannot be reprocessed from the stream."""
    planned = {item.event.story_id for item in plan.republish}
    return sorted(set(stored_ids) - planned)
