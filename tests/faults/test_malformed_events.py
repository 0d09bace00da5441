"""Malformed events published straight onto every pipeline subject, against the real running
services: each lands in news.dlq.<stage> with the reason, no service dies, and a good event sent
afterwards still becomes a published item. Bad news.submit requests get an error reply."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import pytest

from shared import subjects
from shared.events import SubmitReply
from shared.settings import STAGES
from tests.faults.harness import FaultRig, Ledger, collect, consumers_exist, report, start_rig, stop_rig
from tests.faults.test_llm_faults import article, story_event

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# The stages whose consumers read each subject (each dead-letters its own copy).
CONSUMER_STAGES = {
    subjects.INGESTED: ("translate",),
    subjects.TRANSLATED: ("analyze",),
    subjects.ANALYZED: ("score",),
    subjects.STORY_JOINED: ("score",),
    subjects.STORY_REVISED: ("score", "publish"),
    subjects.SCORED: ("publish",),
}


def malformed_payloads() -> dict[str, bytes]:
    good = json.loads(story_event(article(0)).model_dump_json())
    extra = {**good, "injected": "<script>alert(1)</script>"}
    bad_language = json.loads(json.dumps(good))
    bad_language["article"]["language"] = "klingon"
    wrong_type = {**good, "cluster": "not an object"}
    return {
        "empty": b"",
        "not-json": b"this is not json",
        "declared-json": b"this is not json either",
        "invalid-utf8": b'{"story_id": "\xff\xfe\xc3"}',
        "json-array": b"[]",
        "empty-object": b"{}",
        "wrong-field-type": json.dumps(wrong_type).encode(),
        "unknown-field": json.dumps(extra).encode(),
        "unknown-enum": json.dumps(bad_language).encode(),
        "deeply-nested": b"[" * 50_000 + b"]" * 50_000,
        "huge": json.dumps({"story_id": "x" * 900_000}).encode(),
    }


async def _send(url: str, messages: list[tuple[str, bytes, str]]) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for subject, payload, msg_id in messages:
            headers = {"Nats-Msg-Id": msg_id}
            if msg_id.endswith(":declared-json"):  # says JSON, is not
                headers["content-type"] = "application/json"
            await js.publish(subject, payload, headers=headers)
    finally:
        await nc.close()


async def _submit(url: str, payloads: list[bytes]) -> list[SubmitReply]:
    nc = await nats.connect(url)
    try:
        replies = []
        for payload in payloads:
            for _ in range(240):  # ingest answers once it has loaded its model
                try:
                    msg = await nc.request(subjects.SUBMIT, payload, timeout=30)
                    break
                except nats.errors.NoRespondersError:
                    await asyncio.sleep(0.5)
            else:
                raise AssertionError("ingest never answered news.submit")
            replies.append(SubmitReply.model_validate_json(msg.data))
        return replies
    finally:
        await nc.close()


@pytest.fixture()
def rig(tmp_path: Path) -> Iterator[FaultRig]:
    running = start_rig(
        tmp_path,
        1,
        prefix="malformed",
        env_extra={f"NEWSROOM_DELIVERY__{s.upper()}__RETRY_DELAY_S": "0.2" for s in STAGES},
    )
    yield running
    stop_rig(running)


def test_malformed_events_are_dead_lettered_and_services_survive(
    rig: FaultRig, record_property: Callable[[str, object], None]
) -> None:
    rig.wait_for("the stages' consumers", lambda: consumers_exist(rig.nats_url), 120)
    payloads = malformed_payloads()
    sent = [
        (subject, payload, f"bad:{subject}:{name}")
        for subject in CONSUMER_STAGES
        for name, payload in payloads.items()
    ]
    asyncio.run(_send(rig.nats_url, sent))
    replies = asyncio.run(
        _submit(rig.nats_url, [b"", b"not json", b'{"url": 5}', b'{"url": "javascript:alert(1)"}'])
    )

    def dead() -> list[dict[str, object]]:
        return [data for _, data in collect(rig.nats_url, subjects.DLQ_STREAM.name, "news.dlq.>")]

    expected = Counter(stage for s, _, _ in sent for stage in CONSUMER_STAGES[s])
    rig.wait_for(
        "every malformed event in a dead-letter subject",
        lambda: len(dead()) >= expected.total(),
        180,
        every_s=0.5,
    )
    letters = dead()
    alive_after_bad = rig.alive()

    # A good story afterwards still goes all the way through.
    good = story_event(article(1))
    asyncio.run(_send(rig.nats_url, [(subjects.INGESTED, good.model_dump_json().encode(), "good:1")]))
    rig.wait_for(
        "the good story's item",
        lambda: rig.stack.mongo().items.find_one({"_id": good.story_id}) is not None,
        180,
        every_s=0.5,
    )
    time.sleep(1.0)
    by_stage = Counter(str(d["stage"]) for d in letters)
    report(
        "malformed_events",
        rig,
        _ledger_stub(letters),
        {
            "sent": len(sent),
            "dead_letters_by_stage": dict(by_stage),
            "error_types": dict(Counter(str(d["error_type"]) for d in letters)),
            "submit_replies": [r.outcome for r in replies],
            "alive": rig.alive(),
        },
        record_property,
    )

    assert all(alive_after_bad.values()) and all(rig.alive().values()), rig.alive()
    assert by_stage == expected, (by_stage, expected)
    for letter in letters:
        assert letter["error_type"] == "PermanentError" and "invalid" in str(letter["error"]), letter["error"]
        assert str(letter["headers"]).startswith("{") and "bad:" in json.dumps(letter["headers"])
    assert all(not r.ok and r.error for r in replies), replies


def _ledger_stub(letters: list[dict[str, object]]) -> Ledger:
    return Ledger({"dead_letters": len(letters)}, [])
