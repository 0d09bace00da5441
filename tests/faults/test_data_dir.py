"""An unusable data directory is reported clearly at start-up, by check_data_dir and by
`newsroom up` (exit code 2, one line that names the directory and the cause), before any server
or service is started."""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.runtime import embedded
from shared.runtime.embedded import EmbeddedServerError, check_data_dir

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534


@pytest.fixture()
def read_only_dir() -> Iterator[Path]:
    """A directory the test user cannot write (world-readable parents, so another user can reach it)."""
    base = Path(tempfile.mkdtemp(prefix="newsroom-ro-"))
    os.chmod(base, 0o755)
    target = base / "data"
    target.mkdir()
    os.chmod(target, 0o555)
    try:
        yield target
    finally:
        os.chmod(target, 0o755)
        shutil.rmtree(base, ignore_errors=True)


def newsroom_up(data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSROOM_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "newsroom.cli",
            "up",
            "--data-dir",
            str(data_dir),
            "--once",
            str(REPO / "tests" / "data" / "feeds" / "sample-en.xml"),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits; see the injected test")
def test_read_only_data_dir_stops_newsroom_up_with_a_clear_message(read_only_dir: Path) -> None:
    done = newsroom_up(read_only_dir / "var", read_only_dir.parent)
    output = done.stdout + done.stderr
    print(f"FAULT-RESULT read-only data dir: exit {done.returncode}: {output.strip()[-300:]}")
    assert done.returncode == 2, output
    assert str(read_only_dir / "var") in output and "not writable" in output, output
    assert "Permission denied" in output, output
    assert "AI Newsroom is up" not in output  # nothing was started


def test_permission_error_is_reported_by_newsroom_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same as above where the suite runs as root: the permission error is injected."""

    def denied(self: Path, data: bytes) -> int:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "write_bytes", denied)
    assert cli_up(tmp_path / "var") == 2
    printed = capsys.readouterr().out
    assert f"data directory {tmp_path / 'var'} is not writable" in printed and "Permission denied" in printed


def test_data_dir_under_a_file_stops_newsroom_up(tmp_path: Path) -> None:
    """A real, unprivileged failure whoever runs the suite: the data dir's parent is a file."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    done = newsroom_up(blocker / "var", tmp_path)
    output = done.stdout + done.stderr
    print(f"FAULT-RESULT data dir under a file: exit {done.returncode}: {output.strip()[-300:]}")
    assert done.returncode == 2, output
    assert f"data directory {blocker / 'var'} cannot be written (Not a directory)" in output, output
    assert "AI Newsroom is up" not in output


def cli_up(data_dir: Path) -> int:
    from newsroom import cli

    args = argparse.Namespace(
        data_dir=str(data_dir), once=None, feeds=None, replicas=None, no_api=True, timeout=5.0
    )
    return cli.cmd_up(args)


def test_full_disk_is_reported_before_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A nearly full file system (free space check) and a write that fails with ENOSPC."""
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(embedded.shutil, "disk_usage", lambda path: usage._replace(free=12 * 1024 * 1024))
    with pytest.raises(EmbeddedServerError, match=r"has only 12 MiB free \(need 64\)"):
        check_data_dir(tmp_path / "almost-full")

    assert cli_up(tmp_path / "almost-full") == 2
    printed = capsys.readouterr().out
    assert "has only 12 MiB free" in printed and str(tmp_path / "almost-full") in printed

    monkeypatch.undo()

    def no_space(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_bytes", no_space)
    with pytest.raises(EmbeddedServerError, match="cannot be written \\(No space left on device\\)"):
        check_data_dir(tmp_path / "full")
