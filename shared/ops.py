"""Operational queries over JetStream, safe while the system is live: stream and consumer state,
dead letters (list, show, replay)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from shared import subjects
from shared.events import DeadLetter


@dataclass(frozen=True)
class ConsumerLag:
    stream: str
    consumer: str
    pending: int  # not yet delivered
    ack_pending: int  # delivered, not yet acknowledged
    redelivered: int


async def connect(url: str) -> Client:
    return await nats.connect(url, connect_timeout=5, max_reconnect_attempts=3)


async def stream_state(nc: Client) -> dict[str, dict[str, Any]]:
    js = nc.jetstream()
    out: dict[str, dict[str, Any]] = {}
    for spec in subjects.ALL_STREAMS:
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            continue
        out[spec.name] = {"messages": info.state.messages, "bytes": info.state.bytes,
                          "first_seq": info.state.first_seq, "last_seq": info.state.last_seq}
    return out


async def consumer_lag(nc: Client) -> list[ConsumerLag]:
    js = nc.jetstream()
    lags = []
    for spec in subjects.ALL_STREAMS:
        try:
            consumers = await js.consumers_info(spec.name)
        except NotFoundError:
            continue
        for info in consumers:
            lags.append(ConsumerLag(spec.name, info.name, info.num_pending or 0, info.num_ack_pending or 0,
                                    info.num_redelivered or 0))
    return lags


async def dead_letters(nc: Client, limit: int = 100) -> list[tuple[int, DeadLetter]]:
    js = nc.jetstream()
    try:
        info = await js.stream_info(subjects.DLQ_STREAM.name)
    except NotFoundError:
        return []
    letters: list[tuple[int, DeadLetter]] = []
    seq = info.state.first_seq
    while seq and seq <= info.state.last_seq and len(letters) < limit:
        try:
            raw = await js.get_msg(subjects.DLQ_STREAM.name, seq)
            letters.append((seq, DeadLetter.model_validate_json(raw.data or b"{}")))
        except NotFoundError:
            pass
        seq += 1
    return letters


async def replay_dead_letter(nc: Client, seq: int) -> str:
    """Publish the original payload back to its subject (after the cause is fixed), then remove the
    dead letter. Returns the subject it went to."""
    js = nc.jetstream()
    raw = await js.get_msg(subjects.DLQ_STREAM.name, seq)
    letter = DeadLetter.model_validate_json(raw.data or b"{}")
    if letter.subject not in subjects.PIPELINE_STREAM.subjects:
        raise ValueError(f"dead letter {seq} came from {letter.subject!r}, which cannot be replayed")
    await js.publish(letter.subject, letter.payload.encode("utf-8"),
                     headers={"Nats-Msg-Id": f"replay:{seq}", "content-type": "application/json"})
    await js.delete_msg(subjects.DLQ_STREAM.name, seq)
    return letter.subject


def describe(letter: DeadLetter) -> dict[str, Any]:
    data = letter.model_dump(mode="json")
    try:
        data["payload"] = json.loads(letter.payload)
    except ValueError:
        pass
    return data
