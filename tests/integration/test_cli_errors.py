"""Issue 13.4, 13.7, 13.8, 13.9: what a new user meets in the first minutes of the CLI.

- `newsroom tail` shows news (published/updated), not dead letters, and `--count N` prints N;
- `newsroom sources list` reads, it never writes configuration;
- a second `newsroom up` while a port is taken fails before starting anything, in one line that
  names the port and the setting that moves it;
- every command against a stopped system says so in one line (no traceback)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from shared import subjects
from shared.events import DeadLetter
from shared.pipeline import stream_configs
from shared.runtime.embedded import free_port, free_port_block
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def newsroom(
    *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSROOM_")}
    return subprocess.run(
        [sys.executable, "-m", "newsroom.cli", *args],
        cwd=REPO,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- tail -------------------------------------------------------------------------------------


async def fill_streams(url: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    for config in stream_configs(Settings()):
        await js.add_stream(config)
    # Dead letters first: the old default subject (news.*.>) bound to the DLQ stream.
    for n in range(3):
        letter = DeadLetter(
            stage="ingest",
            subject=f"source.s{n}",
            error_type="FeedParseError",
            error="broken",
            deliveries=1,
            payload="x",
        )
        await js.publish(subjects.dlq("ingest"), letter.model_dump_json().encode())
    for n in range(4):
        event = {
            "kind": "published",
            "story_id": f"s{n}",
            "version": 1,
            "item": {"title": {"en": f"Story {n}"}},
        }
        await js.publish(subjects.published("chips"), json.dumps(event).encode())
    update = {"kind": "updated", "story_id": "s0", "version": 2, "item": {"title": {"en": "Story 0"}}}
    await js.publish(subjects.updated("chips"), json.dumps(update).encode())
    await nc.close()


def test_tail_shows_published_and_updated_events_and_count_is_exact(nats_url_: str) -> None:
    asyncio.run(fill_streams(nats_url_))
    env = {"NEWSROOM_NATS_URL": nats_url_}
    three = newsroom("tail", "--replay", "--count", "3", env=env)
    assert three.returncode == 0, three.stderr[-2000:]
    lines = [json.loads(line) for line in three.stdout.splitlines() if line.strip()]
    assert len(lines) == 3
    assert all(line["subject"].startswith(("news.published.", "news.updated.")) for line in lines), lines
    everything = newsroom("tail", "--replay", "--count", "5", env=env)
    kinds = sorted(json.loads(line)["kind"] for line in everything.stdout.splitlines() if line.strip())
    assert kinds == ["published"] * 4 + ["updated"]
    letters = newsroom("tail", "--replay", "--count", "2", "--subject", "news.dlq.>", env=env)
    rows = [json.loads(line) for line in letters.stdout.splitlines() if line.strip()]
    assert len(rows) == 2 and all(r["kind"] == "dead_letter" and r["stage"] == "ingest" for r in rows)


# --- sources list -----------------------------------------------------------------------------


def test_sources_list_writes_no_configuration(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    listed = newsroom("sources", "list", env={"NEWSROOM_DATA_DIR": str(data_dir)})
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert len([line for line in listed.stdout.splitlines() if not line.startswith("#")]) >= 5
    assert not (data_dir / "sources.yaml").exists()
    assert not data_dir.exists() or list(data_dir.iterdir()) == []
    # Writing commands still create the operator's file (a copy of what was listed).
    disabled = newsroom("sources", "disable", "aiwire", env={"NEWSROOM_DATA_DIR": str(data_dir)})
    assert (data_dir / "sources.yaml").exists(), disabled.stdout + disabled.stderr


# --- newsroom up with a port taken ------------------------------------------------------------


@pytest.fixture()
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def free_embedded_ports() -> dict[str, str]:
    return {
        f"NEWSROOM_EMBEDDED__{name}": str(free_port())
        for name in ("NATS_PORT", "NATS_MONITOR_PORT", "MONGO_PORT")
    }


@pytest.mark.parametrize(
    ("setting", "what"),
    [
        ("NEWSROOM_EMBEDDED__NATS_PORT", "embedded NATS"),
        ("NEWSROOM_EMBEDDED__MONGO_PORT", "MongoDB"),
        ("NEWSROOM_METRICS_BASE_PORT", "ingest stage"),
        ("NEWSROOM_PUBLISH__API_PORT", "read API"),
    ],
)
def test_up_with_a_port_taken_fails_in_one_line_naming_the_setting(
    tmp_path: Path, taken_port: int, setting: str, what: str
) -> None:
    env = {
        **free_embedded_ports(),
        "NEWSROOM_METRICS_BASE_PORT": str(free_port_block(5)),
        "NEWSROOM_PUBLISH__API_PORT": str(free_port()),
        setting: str(taken_port),
    }
    args = ["up", "--data-dir", str(tmp_path / "var"), "--timeout", "5"]
    done = newsroom(*args, env=env)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert len(output.splitlines()) == 1, output
    assert str(taken_port) in output and setting in output and what in output, output
    assert "is up" not in output
    assert not (tmp_path / "var" / "nats").exists()  # nothing was started


# --- a stopped system -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["tail", "--count", "1"],
        ["dlq", "list"],
        ["dlq", "replay", "--stage", "ingest"],
        ["reprocess", "--since", "1h", "--stage", "translate"],
        ["submit", "https://news.example.com/a"],
    ],
    ids=lambda c: "-".join(c[:2]),
)
def test_every_command_against_a_stopped_system_says_so_in_one_line(command: list[str]) -> None:
    port = free_port()  # nothing listens there
    done = newsroom(*command, env={"NEWSROOM_NATS_URL": f"nats://127.0.0.1:{port}"})
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 1, output
    assert len(output.splitlines()) == 1, output
    assert "Traceback" not in output and f"127.0.0.1:{port}" in output and "not running" in output
