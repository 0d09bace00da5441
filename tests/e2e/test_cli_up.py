"""The README's run command: `newsroom up --once` brings the embedded stack up (its own nats-server
and nx-27017), publishes a feed's stories, prints them and stops, leaving no process behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.runtime.embedded import free_port, free_port_block
from tests.support import example_cache
from tests.support.waits import PIPELINE_RUN_S, PIPELINE_TEST_TIMEOUT_S, WAIT_S

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PIPELINE_TEST_TIMEOUT_S)]
REPO = Path(__file__).resolve().parents[2]
FEED = REPO / "tests" / "data" / "feeds" / "sample-en.xml"


def children_of_data_dir(data_dir: Path) -> list[str]:
    """Processes whose command line mentions the data directory (embedded servers, services)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = (
                (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
            environ = (Path("/proc") / pid / "environ").read_bytes()
        except OSError:
            continue
        if str(data_dir) in cmdline or str(data_dir).encode() in environ:
            found.append(cmdline)
    return found


def test_up_once_publishes_a_feed_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSROOM_")}
    env["NEWSROOM_METRICS_BASE_PORT"] = str(free_port_block(5))
    # The embedded servers' ports are settings; free ones, so a running system does not collide.
    for setting in ("NATS_PORT", "NATS_MONITOR_PORT", "MONGO_PORT"):
        env[f"NEWSROOM_EMBEDDED__{setting}"] = str(free_port())
    example_cache.seed(data_dir)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "newsroom.cli",
            "up",
            "--data-dir",
            str(data_dir),
            "--once",
            str(FEED),
            "--timeout",
            str(PIPELINE_RUN_S),
        ],
        capture_output=True,
        text=True,
        timeout=PIPELINE_RUN_S + 120,  # the CLI's own limit, plus its start and stop
        cwd=REPO,
        env=env,
    )
    example_cache.keep(data_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "5 item(s) published" in result.stdout
    for title in ("TSMC says CoPoS", "Uber invests nearly $500 million"):
        assert title in result.stdout
    assert (data_dir / "logs" / "publish.log").exists()
    assert children_of_data_dir(data_dir) == []


def test_unwritable_data_dir_is_reported_clearly(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocked = tmp_path / "file-not-dir"
        blocked.write_text("x")  # a file where the data directory should be: even root cannot mkdir it
        data_dir = blocked / "var"
    else:
        data_dir = tmp_path / "ro"
        data_dir.mkdir()
        data_dir.chmod(0o500)
    result = subprocess.run(
        [sys.executable, "-m", "newsroom.cli", "up", "--data-dir", str(data_dir), "--once", str(FEED)],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        cwd=REPO,
    )
    assert result.returncode == 2
    assert "data directory" in result.stdout and str(data_dir) in result.stdout
