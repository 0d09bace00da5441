"""Supervises the stage processes of `newsroom up`: one process per stage replica, restarted with
backoff when it dies, all stopped (SIGTERM, then SIGKILL) on exit so no process is left behind."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("newsroom.supervisor")


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0

    def start(self) -> None:
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)
    max_backoff_s: float = 30.0
    stopping: bool = False

    def add(self, name: str, module: str, env: dict[str, str], log_dir: Path) -> Child:
        child = Child(name, [sys.executable, "-m", module], env, log_dir / f"{name}.log")
        self.children.append(child)
        return child

    def start_all(self) -> None:
        for child in self.children:
            child.start()

    def check(self) -> None:
        """Restart dead children with exponential backoff (reset after a minute of uptime)."""
        now = time.monotonic()
        for child in self.children:
            if child.alive or self.stopping:
                continue
            if child.next_start == 0.0:
                code = child.proc.returncode if child.proc else None
                if now - child.started_at > 60:
                    child.restarts = 0
                delay = min(self.max_backoff_s, 0.5 * (2**child.restarts))
                child.next_start = now + delay
                log.warning(
                    "%s exited with %s; restarting in %.1fs (see %s)", child.name, code, delay, child.log_path
                )
            elif now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                child.start()

    def stop_all(self, timeout_s: float = 15.0) -> None:
        self.stopping = True
        for child in self.children:
            if child.alive and child.proc:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for child in self.children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait(timeout=5)
