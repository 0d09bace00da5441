"""SIGKILL each service in turn in the middle of one run, restart it, and check that every article
of the feed was published exactly once (by URL, by story id and by event count).

    NEWSROOM_FAULT_STORIES=2000 .venv/bin/pytest tests/faults/test_process_kills.py -s
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from shared import subjects
from shared.settings import STAGES
from tests.faults.harness import (
    STAGE_OUTPUT,
    FaultRig,
    audit,
    consumer_states,
    count_prefix,
    fault_story_count,
    report,
    start_rig,
    stop_rig,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# Kill points, as the share of the feed that ingest has emitted: one stage after the other.
KILL_AT = dict(zip(STAGES, (0.15, 0.3, 0.45, 0.6, 0.75), strict=True))


@pytest.fixture()
def rig(tmp_path: Path) -> Iterator[FaultRig]:
    running = start_rig(tmp_path, fault_story_count())
    yield running
    stop_rig(running)


def emitted_at_least(rig: FaultRig, count: int) -> bool:
    return rig.emitted_by_ingest() >= count


def stage_output(rig: FaultRig, stage: str) -> int:
    if stage == "publish":
        return rig.item_count()
    return count_prefix(rig.pipeline_counts(), *STAGE_OUTPUT[stage])


def test_sigkill_each_service_in_turn_loses_and_doubles_nothing(
    rig: FaultRig, record_property: Callable[[str, object], None]
) -> None:
    total = len(rig.feed_urls)
    kills: dict[str, dict[str, object]] = {}
    for stage in STAGES:
        threshold = int(KILL_AT[stage] * total)
        rig.wait_for(
            f"ingest to emit {threshold} articles", partial(emitted_at_least, rig, threshold), timeout_s=300
        )
        before = stage_output(rig, stage)
        consumers = consumer_states(rig.nats_url)
        rig.stack.kill(stage)
        rig.note("SIGKILL", stage=stage, ingest_emitted=rig.emitted_by_ingest(), stage_output=before)
        kills[stage] = {
            "output_at_kill": before,
            "consumers": {k: v for k, v in consumers.items() if k.startswith(stage)},
        }
        time.sleep(0.5)
        rig.stack.start(stage)
    rig.wait_settled(timeout_s=600)
    ledger = audit(rig)
    for stage in STAGES:
        kills[stage]["output_at_end"] = stage_output(rig, stage)
    report("sigkill_each_service", rig, ledger, {"kills": kills}, record_property)

    assert not ledger.problems, ledger.problems
    assert ledger.numbers["articles_published"] == total
    # Each kill landed mid-run: the killed stage still had work and did it after its restart.
    # (publish: items; the others: the events they emit.)
    late = {s: k for s, k in kills.items() if not int(k["output_at_end"]) > int(k["output_at_kill"])}  # type: ignore[call-overload]
    assert not late, f"these kills did not land mid-run: {late}"
    assert ledger.numbers["published_events"] == ledger.numbers["items"]
    assert count_prefix(rig.pipeline_counts(), subjects.INGESTED) == ledger.numbers["stories_new"]
