"""Where the four consuming stages spend their CPU per story, and how many MongoDB commands each
sends per story, by command and collection.

The same setup as bench/pipeline.py's four-stage run (embedded nats-server and nx-27017, events
injected onto news.ingested as ingest emits them, the story's vector carried when the code has the
field), but each stage process runs under a probe (``python bench/stage_costs.py --probe MODULE``):
a pymongo command listener counts the commands it sends, and cProfile runs only over the measured
window (SIGUSR1 starts it after the warm-up story, SIGUSR2 writes the profile and the counts). The
servers' CPU (nx-27017, nats-server) over the same window is reported too. cProfile slows the
stages (its figures are shares, not absolute costs); ``--no-profile`` gives the CPU per story
without it.

    python bench/stage_costs.py [--articles 200] [--top 25] [--no-profile] [--py-spy PATH]

``--py-spy PATH`` samples every thread of each stage with py-spy (when installed; not a project
dependency) instead of cProfile, which sees only the main thread (analyze's local tier runs in a
worker thread).

Prints JSON (per stage: CPU s per story, commands per story, the top functions by cumulative and
own time). Numbers depend on the machine; they are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")


def probe(module: str, out_dir: str) -> None:
    """Run a stage module as __main__ with command counting and a profiler switched by signals."""
    import cProfile
    import runpy

    from pymongo import monitoring

    counts: Counter[str] = Counter()
    state: dict[str, Any] = {"profile": None}
    profiling = os.environ.get("STAGE_COSTS_PROFILE", "1") == "1"

    class Listener(monitoring.CommandListener):
        def started(self, event: monitoring.CommandStartedEvent) -> None:
            target = event.command.get(event.command_name)
            collection = target if isinstance(target, str) else ""
            counts[f"{event.command_name} {collection}".strip()] += 1

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    monitoring.register(Listener())

    def start(signum: int, frame: Any) -> None:
        counts.clear()
        if profiling:
            # CPU time, not wall time: an idle wait for the next message costs nothing.
            state["profile"] = cProfile.Profile(time.process_time)
            state["profile"].enable()

    def stop(signum: int, frame: Any) -> None:
        name = module.rsplit(".", 1)[-1]
        profile = state["profile"]
        if profile is not None:
            profile.disable()
            profile.dump_stats(os.path.join(out_dir, f"{name}.prof"))
        with open(os.path.join(out_dir, f"{name}.counts.json"), "w", encoding="utf-8") as out:
            json.dump(dict(counts), out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = [module]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def top_functions(path: Path, count: int, key: str) -> list[dict[str, Any]]:
    stats = pstats.Stats(str(path))
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    entries = stats.stats  # type: ignore[attr-defined]
    ordered = sorted(entries.items(), key=lambda kv: kv[1][3 if key == "cumulative" else 2], reverse=True)
    for (filename, line, func), (_cc, calls, own, cumulative, _callers) in ordered[:count]:
        short = filename.replace(str(REPO) + "/", "")
        if "site-packages/" in short:
            short = short.split("site-packages/", 1)[1]
        rows.append(
            {
                "function": f"{short}:{line}:{func}",
                "calls": calls,
                "own_share": round(own / total, 3) if total else None,
                "cumulative_share": round(cumulative / total, 3) if total else None,
            }
        )
    return rows


def collapsed_top(path: Path, count: int) -> dict[str, list[dict[str, Any]]]:
    """py-spy's collapsed stacks (``frame;frame;... samples``): the functions by samples on the
    stack (inclusive) and at its top (own), as shares of all samples (idle ones are not taken)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        n = int(samples)
        total += n
        frames = [
            frame.replace(str(REPO) + "/", "").split("site-packages/")[-1] for frame in stack.split(";")
        ]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n

    def rows(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "share": round(n / total, 3)} for f, n in counter.most_common(count)]

    return {"samples": [{"function": "all", "share": total}], "inclusive": rows(inclusive), "own": rows(own)}


def items_published(port: int) -> int:
    """publish's newsroom_items_published_total, read from its /metrics. Not a count of the items
    collection: on nx-27017 ``count_documents`` runs a Python aggregation over every document, so
    polling it would put O(items) of server CPU into the figures being measured."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("newsroom_items_published_total{")
        )
    )


def run(count: int, top: int, profile: bool, py_spy: str | None = None) -> dict[str, Any]:
    from pipeline import (  # type: ignore[import-not-found]
        _inject,
        carries_vectors,
        embedded_stack,
        ingested_events,
        proc_cpu_s,
        story_vectors,
    )

    from shared.runtime.embedded import nats_url
    from shared.settings import STAGES

    workdir = Path(tempfile.mkdtemp(prefix="stage-costs-"))
    out_dir = workdir / "probe"
    out_dir.mkdir()
    nats, mongo, supervisor, _db = embedded_stack(
        workdir / "s", STAGES[1:], {"STAGE_COSTS_PROFILE": "1" if profile else "0"}
    )
    for child in supervisor.children:
        module = child.argv[-1]
        child.argv = [sys.executable, str(Path(__file__).resolve()), "--probe", module, "--out", str(out_dir)]
    vectors = story_vectors(count) if carries_vectors() else None
    events = ingested_events(count, vectors=vectors)
    base_port = int(supervisor.children[0].env["NEWSROOM_METRICS_BASE_PORT"])
    publish_port = base_port + STAGES.index("publish")
    try:
        supervisor.start_all()
        while items_published(publish_port) == 0:
            try:
                warm = ingested_events(1, prefix=f"warmup-{time.time()}", vectors=(vectors or [])[:1] or None)
                asyncio.run(_inject(nats_url(nats), warm))
            except Exception:
                pass
            time.sleep(2.0)
        time.sleep(1.0)
        warm_items = items_published(publish_port)
        pids = {c.name: c.proc.pid for c in supervisor.children if c.proc is not None}
        assert nats.proc is not None and mongo.proc is not None
        servers = {"nx-27017": mongo.proc.pid, "nats-server": nats.proc.pid}
        for pid in pids.values():
            os.kill(pid, signal.SIGUSR1)
        samplers = {}
        if py_spy:
            import subprocess

            for name, pid in {**pids, "nx-27017": servers["nx-27017"]}.items():
                samplers[name] = subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        "200",
                        "--format",
                        "raw",
                        "--output",
                        str(out_dir / f"{name}.spy.txt"),
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            time.sleep(2.0)
        time.sleep(0.5)
        before = {name: proc_cpu_s(pid) for name, pid in {**pids, **servers}.items()}
        load_before = os.getloadavg()
        started = time.perf_counter()
        asyncio.run(_inject(nats_url(nats), events))
        while items_published(publish_port) < count + warm_items and time.perf_counter() - started < 900:
            time.sleep(1.0)  # each poll renders publish's /metrics: rarely
        elapsed = time.perf_counter() - started
        time.sleep(1.0)  # the last announcements
        after = {name: proc_cpu_s(pid) for name, pid in {**pids, **servers}.items()}
        done = items_published(publish_port) - warm_items
        for pid in pids.values():
            os.kill(pid, signal.SIGUSR2)
        for sampler in samplers.values():
            sampler.send_signal(signal.SIGINT)
            sampler.wait(30)
        time.sleep(3.0)
        load_after = os.getloadavg()
    finally:
        supervisor.stop_all()
        nats.stop()
        mongo.stop()
    per_story = {name: round((after[name] - before[name]) / max(done, 1), 4) for name in before}
    stages: dict[str, Any] = {}
    for name in [*pids, "nx-27017"]:
        counts_path = out_dir / f"{name}.counts.json"
        counts = json.loads(counts_path.read_text()) if counts_path.exists() else {}
        if name not in pids:  # the server: only its samples
            spy = out_dir / f"{name}.spy.txt"
            if spy.exists():
                stages[name] = {"py_spy": collapsed_top(spy, top)}
            continue
        entry: dict[str, Any] = {
            "cpu_s_per_story": per_story[name],
            "mongo_commands_per_story": round(sum(counts.values()) / max(done, 1), 2),
            "mongo_commands_by_type_per_story": {
                key: round(value / max(done, 1), 2)
                for key, value in sorted(counts.items(), key=lambda kv: -kv[1])
            },
        }
        prof = out_dir / f"{name}.prof"
        if prof.exists():
            entry["top_cumulative"] = top_functions(prof, top, "cumulative")
            entry["top_own"] = top_functions(prof, top, "own")
        spy = out_dir / f"{name}.spy.txt"
        if spy.exists():
            entry["py_spy"] = collapsed_top(spy, top)
        stages[name] = entry
    return {
        "articles": count,
        "published": done,
        "elapsed_s": round(elapsed, 2),
        "profiled": profile,
        "cpu_s_per_story": per_story,
        "cpu_s_per_story_four_stages": round(sum(per_story[n] for n in pids), 4),
        "stages": stages,
        "load_avg": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in load_after],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--py-spy", help="path of a py-spy binary: sample every thread instead of cProfile")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.probe, args.out)
        return
    print(json.dumps(run(args.articles, args.top, not args.no_profile, args.py_spy), indent=2))


if __name__ == "__main__":
    main()
