"""nats-server restarted and the Mongo-wire server stopped in the middle of a run: the services
reconnect by themselves, messages wait, and every article is still published exactly once with
nothing dead-lettered for the outage.

    NEWSROOM_FAULT_STORIES=2000 NEWSROOM_FAULT_MONGO_DOWN_S=30 \\
        .venv/bin/pytest tests/faults/test_server_outages.py -s
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.settings import STAGES
from tests.faults.harness import (
    audit,
    consumer_states,
    env_float,
    fault_story_count,
    report,
    start_rig,
    stop_rig,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_nats_server_restart_mid_run(tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    down_s = env_float("NEWSROOM_FAULT_NATS_DOWN_S", 3.0)
    rig = start_rig(tmp_path, fault_story_count(), prefix="nats-restart")
    try:
        total = len(rig.feed_urls)
        rig.wait_for("ingest to emit a third of the feed", lambda: rig.emitted_by_ingest() >= total // 3, 300)
        before = {"ingest_emitted": rig.emitted_by_ingest(), "items": rig.item_count()}
        rig.restart_nats(down_s)
        rig.wait_settled(timeout_s=600)
        final_items = rig.item_count()
        ledger = audit(rig)
        alive = rig.alive()
        report(
            "nats_restart",
            rig,
            ledger,
            {"down_s": down_s, "at_restart": before, "alive": alive},
            record_property,
        )
    finally:
        stop_rig(rig)
    # On a fast machine ingest may have emitted everything already; the restart must still land while
    # the stages are publishing items (else the test would prove nothing).
    assert before["ingest_emitted"] < total or before["items"] < final_items, (
        "the restart landed after the run"
    )
    assert all(alive.values()), f"a service died instead of reconnecting: {alive}"
    assert not ledger.problems, ledger.problems


def test_mongo_outage_mid_run_waits_and_dead_letters_nothing(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    down_s = env_float("NEWSROOM_FAULT_MONGO_DOWN_S", 8.0)
    # publish starts late, so that a backlog is waiting for it when MongoDB goes away: the outage
    # then lands in the middle of publish's run (what the issue asks for), after ingest is done.
    rig = start_rig(
        tmp_path,
        fault_story_count(),
        prefix="mongo-outage",
        stages=tuple(s for s in STAGES if s != "publish"),
    )
    try:
        total = len(rig.feed_urls)
        rig.wait_for("ingest to emit the whole feed", lambda: rig.emitted_by_ingest() >= total, 300)
        rig.stack.start("publish")
        # Frozen (SIGSTOP) as soon as its first item is written, publish still holds the rest of
        # the backlog when MongoDB goes away, however fast it is; resumed into the outage.
        rig.wait_for("publish to write its first item", lambda: rig.item_count() >= 1, 120, every_s=0.01)
        rig.stack.pause("publish")
        at_stop = {"items": rig.item_count(), "consumers": consumer_states(rig.nats_url)}
        with rig.mongo_down():
            rig.stack.resume("publish")
            time.sleep(down_s)
            during = consumer_states(rig.nats_url)
        rig.wait_settled(timeout_s=600)
        ledger = audit(rig)
        alive = rig.alive()
        report(
            "mongo_outage",
            rig,
            ledger,
            {"down_s": down_s, "at_stop": at_stop, "consumers_during_outage": during, "alive": alive},
            record_property,
        )
    finally:
        stop_rig(rig)
    assert at_stop["items"] < ledger.numbers["items"], "the outage must land while publish is mid-run"
    assert all(alive.values()), f"a service died during the outage: {alive}"
    assert ledger.numbers["dead_letters"] == 0
    assert not ledger.problems, ledger.problems
