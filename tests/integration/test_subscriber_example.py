"""Issue 13.5: the subscriber example (docs/examples/subscribe.py) and `shared/ops.py` survive
nats-py's bare ``asyncio.TimeoutError``. nats-py raises it from ``_fetch_n`` when the answer to its
no-wait probe arrives after the fetch's deadline, which happens on a loaded machine; the test
makes that deterministic by making the deadline already spent when the probe is answered."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.client import JetStreamContext

from shared import ops, subjects
from shared.pipeline import stream_configs
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def slow_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fetch finds its deadline spent once the no-wait probe is answered."""

    def spent(timeout: float | None, start_time: float) -> float | None:
        return None if timeout is None else 0.0

    monkeypatch.setattr(JetStreamContext, "_time_until", staticmethod(spent))


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("subscribe_example", REPO / "docs/examples/subscribe.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def setup_streams(url: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    for config in stream_configs(Settings()):
        await js.add_stream(config)
    await nc.close()


async def publish_events(url: str, stories: list[str], delay_s: float = 0.0) -> None:
    await asyncio.sleep(delay_s)
    nc = await nats.connect(url)
    js = nc.jetstream()
    for story in stories:
        event = {"kind": "published", "story_id": story, "version": 1, "item": {"title": {"en": story}}}
        await js.publish(subjects.published("chips"), json.dumps(event).encode())
    await nc.close()


async def test_the_example_keeps_waiting_through_fetch_timeouts(
    nats_url_: str, slow_machine: None, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load_example()
    await setup_streams(nats_url_)
    await publish_events(nats_url_, ["s1"])
    # The second event arrives while the example is idle: its fetches time out meanwhile.
    later = asyncio.ensure_future(publish_events(nats_url_, ["s2"], delay_s=2.5))
    await example.main(nats_url_, "example-test", "news.*.>", 2, 30.0)
    await later
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [p["story_id"] for p in printed] == ["s1", "s2"]


async def test_reprocess_reading_survives_fetch_timeouts(nats_url_: str, slow_machine: None) -> None:
    await setup_streams(nats_url_)
    nc = await ops.connect(nats_url_)
    try:
        found = await ops.read_subject_since(
            nc.jetstream(), subjects.INGESTED, datetime.now(UTC) - timedelta(hours=1)
        )
    finally:
        await nc.close()
    assert found == []
