"""SIGKILL each service in turn in the middle of one run, restart it, and check that every article
of the feed was published exactly once (by URL, by story id and by event count).

    NEWSROOM_FAULT_STORIES=2000 .venv/bin/pytest tests/faults/test_process_kills.py -s

Each kill must land mid-run, whatever the machine's speed: a kill timed by how far ingest had got
missed a fast stage that had already done all its work (translate, on a loaded CI machine). So
the consuming stages start paused (SIGSTOP) and each one in turn, once its whole input is waiting,
is resumed, frozen again as soon as it has emitted something, and killed there: it has done part
of its work and holds the rest, some of it delivered and unacknowledged. translate is the fastest
stage (a backlog of the whole feed took it a few times the polling interval), so it gets a model
(the scripted server) that answers one request at a time while translate runs before its kill:
it cannot emit more stories than it got answers, however slow the test's polling is. Likewise
ingest: the feed's last story comes from a second source whose server answers only after the
kill, so ingest's pass is unfinished when it is killed.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from shared import subjects
from shared.settings import STAGES
from tests.faults.harness import (
    CONSUMERS,
    STAGE_OUTPUT,
    FaultRig,
    audit,
    consumer_states,
    consumers_exist,
    count_prefix,
    fault_story_count,
    report,
    start_rig,
    stop_rig,
)
from tests.support.scripted_llm import AnswerGate, Reply, ScriptedLLM, request_segments, segments_reply

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CONSUMING = tuple(s for s in STAGES if s != "ingest")
# Polling this often catches a stage between its first output and its last (a backlog of the whole
# feed takes a stage far longer than this to work through).
FAST_POLL_S = 0.01


def answer_in_chinese(request: dict[str, Any]) -> Reply:
    """A Chinese text for every segment (the QA checks may flag it: translate still hands the
    story on, with the flags)."""
    return segments_reply({segment: "测试模型给出的一段中文译文。" for segment in request_segments(request)})


@pytest.fixture()
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM(answer_in_chinese) as server:
        yield server


@pytest.fixture()
def rig(tmp_path: Path, llm: ScriptedLLM) -> Iterator[FaultRig]:
    model = {
        # Only translate gets the model (analyze and score keep their local tier).
        "NEWSROOM_LLM__TRANSLATE__BASE_URL": llm.url,
        "NEWSROOM_LLM__TRANSLATE__MODEL": "scripted",
        "NEWSROOM_LLM__TRANSLATE__API_KEY": "test",
    }
    running = start_rig(tmp_path, fault_story_count(), env_extra=model, stages=CONSUMING, held_stories=1)
    yield running
    stop_rig(running)


def stage_output(rig: FaultRig, stage: str) -> int:
    if stage == "publish":
        return rig.item_count()
    return count_prefix(rig.pipeline_counts(), *STAGE_OUTPUT[stage])


def signal_stage(rig: FaultRig, stage: str, sig: signal.Signals) -> None:
    os.kill(rig.stack.procs[stage].pid, sig)


def stage_idle(rig: FaultRig, stage: str) -> bool:
    """The stage has nothing left to do: ingest's pass is finished, or none of the stage's
    consumers has a message pending or unacknowledged."""
    if stage == "ingest":
        return rig.stack.ingest_pass_done()
    states = consumer_states(rig.nats_url)
    mine = [states.get(durable) for durable, owner in CONSUMERS.items() if owner == stage]
    return all(s is not None and s["pending"] == 0 and s["ack_pending"] == 0 for s in mine)


def work_held(consumers: dict[str, dict[str, int]]) -> int:
    return sum(c["pending"] + c["ack_pending"] for c in consumers.values())


def kill_after_first_output(rig: FaultRig, stage: str, gate: AnswerGate | None = None) -> dict[str, object]:
    """Let ``stage`` run until it has emitted something more, freeze it, and SIGKILL it there.
    With ``gate`` (the model's), the stage's requests are answered one at a time until then."""
    start = stage_output(rig, stage)
    if gate is not None:
        gate.close()

    def emitted() -> bool:
        if stage_output(rig, stage) > start:
            return True
        if gate is not None and gate.spent():
            gate.allow_one()
        return False

    if stage == "ingest":
        rig.stack.start("ingest")
    else:
        signal_stage(rig, stage, signal.SIGCONT)
    rig.wait_for(f"{stage} to emit", emitted, timeout_s=300, every_s=FAST_POLL_S)
    signal_stage(rig, stage, signal.SIGSTOP)
    at_kill = stage_output(rig, stage)
    consumers = {k: v for k, v in consumer_states(rig.nats_url).items() if CONSUMERS[k] == stage}
    pass_done = rig.stack.ingest_pass_done() if stage == "ingest" else None
    rig.stack.kill(stage)
    rig.note("SIGKILL", stage=stage, ingest_emitted=rig.emitted_by_ingest(), stage_output=at_kill)
    answers = None
    if gate is not None:
        answers = gate.answered
        gate.open()
    if stage == "ingest" and rig.held is not None:
        rig.held.release()
    rig.stack.start(stage)
    return {
        "output_at_kill": at_kill,
        "consumers": consumers,
        "ingest_pass_done": pass_done,
        "model_answers_at_kill": answers,
    }


def test_sigkill_each_service_in_turn_loses_and_doubles_nothing(
    rig: FaultRig, llm: ScriptedLLM, record_property: Callable[[str, object], None]
) -> None:
    total = len(rig.feed_urls)
    rig.wait_for("the consumers to be declared", partial(consumers_exist, rig.nats_url), timeout_s=120)
    for stage in CONSUMING:
        signal_stage(rig, stage, signal.SIGSTOP)
    kills: dict[str, dict[str, object]] = {}
    upstream = None
    for stage in STAGES:
        if upstream is not None:
            # The whole input of this stage is waiting for it (the stages after it are frozen).
            rig.wait_for(f"{upstream} to finish", partial(stage_idle, rig, upstream), timeout_s=300)
        kills[stage] = kill_after_first_output(rig, stage, llm.gate if stage == "translate" else None)
        upstream = stage
    rig.wait_settled(timeout_s=600)
    ledger = audit(rig)
    for stage in STAGES:
        kills[stage]["output_at_end"] = stage_output(rig, stage)
    report("sigkill_each_service", rig, ledger, {"kills": kills}, record_property)

    assert not ledger.problems, ledger.problems
    assert ledger.numbers["articles_published"] == total
    # Each kill landed mid-run: the killed stage had emitted part of its output, still had work
    # (ingest: its pass unfinished; the others: messages pending or unacknowledged) and did it
    # after its restart. (publish: items; the others: the events they emit.)
    held = {
        s: k
        for s, k in kills.items()
        if (k["ingest_pass_done"] if s == "ingest" else not work_held(k["consumers"]))  # type: ignore[arg-type]
    }
    assert not held, f"these stages had no work left when killed: {held}"
    late = {s: k for s, k in kills.items() if not int(k["output_at_end"]) > int(k["output_at_kill"])}  # type: ignore[call-overload]
    assert not late, f"these kills did not land mid-run: {late}"
    assert ledger.numbers["published_events"] == ledger.numbers["items"]
    assert count_prefix(rig.pipeline_counts(), subjects.INGESTED) == ledger.numbers["stories_new"]
