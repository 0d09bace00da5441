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

``--ingest`` measures ingest instead, alone with the two servers, as bench/pipeline.py's end-to-end
run feeds it: a file feed of one warm-up story, then N more distinct stories picked up at the next
poll (the source polls every 30 s); ingest's CPU and commands per story over those N, and
nx-27017's CPU (all of it ingest's then). ``--no-embeddings`` runs it without the model
(NEWSROOM_EMBEDDINGS=false: URL and near-duplicate clustering only), which leaves ingest's own
CPU without the ~0.085 s of the embedding.

    python bench/stage_costs.py --ingest [--articles 200] [--no-profile] [--no-embeddings]

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
    return metric_total(port, "newsroom_items_published_total")


def metric_total(port: int, name: str) -> int:
    """The sum of a counter over its labels, from a stage's /metrics (0 when it does not answer)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0
    return int(
        sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))
    )


def start_samplers(py_spy: str | None, pids: dict[str, int], out_dir: Path) -> dict[str, Any]:
    """One py-spy sampler per process (every thread, raw collapsed stacks), when asked for."""
    import subprocess

    samplers = {}
    for name, pid in pids.items() if py_spy else ():
        argv = [str(py_spy), "record", "--pid", str(pid), "--rate", "200", "--format", "raw"]
        argv += ["--output", str(out_dir / f"{name}.spy.txt"), "--nonblocking"]
        samplers[name] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return samplers


def stop_samplers(samplers: dict[str, Any]) -> None:
    for sampler in samplers.values():
        sampler.send_signal(signal.SIGINT)
        sampler.wait(30)


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
        samplers = start_samplers(py_spy, {**pids, "nx-27017": servers["nx-27017"]}, out_dir)
        if samplers:
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
        stop_samplers(samplers)
        time.sleep(3.0)
        load_after = os.getloadavg()
    finally:
        supervisor.stop_all()
        nats.stop()
        mongo.stop()
    per_story = {name: round((after[name] - before[name]) / max(done, 1), 4) for name in before}
    stages: dict[str, Any] = {}
    for name in [*pids, "nx-27017"]:
        if name not in pids:  # the server: only its samples
            spy = out_dir / f"{name}.spy.txt"
            if spy.exists():
                stages[name] = {"py_spy": collapsed_top(spy, top)}
            continue
        stages[name] = stage_entry(name, out_dir, done, per_story[name], top)
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


def ingest_emitted(port: int) -> int:
    """ingest's newsroom_events_emitted_total (every subject), read from its /metrics."""
    return metric_total(port, "newsroom_events_emitted_total")


def stage_entry(name: str, out_dir: Path, done: int, cpu_s_per_story: float, top: int) -> dict[str, Any]:
    counts_path = out_dir / f"{name}.counts.json"
    counts = json.loads(counts_path.read_text()) if counts_path.exists() else {}
    entry: dict[str, Any] = {
        "cpu_s_per_story": cpu_s_per_story,
        "mongo_commands_per_story": round(sum(counts.values()) / max(done, 1), 3),
        "mongo_commands_by_type_per_story": {
            key: round(value / max(done, 1), 3)
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
    return entry


def run_ingest(
    count: int, top: int, profile: bool, embeddings: bool, py_spy: str | None = None
) -> dict[str, Any]:
    """Ingest alone under the probe, fed as bench/pipeline.py's end-to-end run feeds it."""
    import yaml
    from pipeline import embedded_stack, proc_cpu_s  # type: ignore[import-not-found]

    from shared.settings import STAGES
    from tests.support.stack import distinct_stories, write_feed

    workdir = Path(tempfile.mkdtemp(prefix="ingest-costs-"))
    out_dir = workdir / "probe"
    out_dir.mkdir()
    feed = workdir / "feed.xml"
    stories = distinct_stories(count + 1, prefix="bench")
    write_feed(feed, stories[:1], title="Bench")
    sources = workdir / "sources.yaml"
    source = {"id": "bench", "name": "Bench", "url": feed.resolve().as_uri(), "poll_interval_s": 30}
    sources.write_text(yaml.safe_dump({"sources": [source]}), encoding="utf-8")
    env = {
        "NEWSROOM_INGEST__SOURCES_FILE": str(sources),
        "NEWSROOM_INGEST__POLL": "true",
        "NEWSROOM_EMBEDDINGS": "true" if embeddings else "false",
        "STAGE_COSTS_PROFILE": "1" if profile else "0",
    }
    nats, mongo, supervisor, db = embedded_stack(workdir / "s", ["ingest"], env)
    child = supervisor.children[0]
    child.argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--probe",
        child.argv[-1],
        "--out",
        str(out_dir),
    ]
    port = int(child.env["NEWSROOM_METRICS_BASE_PORT"]) + STAGES.index("ingest")
    try:
        supervisor.start_all()
        # Polled by the articles' count (one cheap command), not ingest's /metrics: rendering
        # those costs ingest ~25 ms of CPU each time.
        deadline = time.perf_counter() + 600
        while db.articles.estimated_document_count() < 1 and time.perf_counter() < deadline:
            time.sleep(1.0)
        time.sleep(2.0)  # the warm-up story's last writes
        assert child.proc is not None and nats.proc is not None and mongo.proc is not None
        pids = {"ingest": child.proc.pid, "nx-27017": mongo.proc.pid, "nats-server": nats.proc.pid}
        emitted_before = ingest_emitted(port)
        os.kill(child.proc.pid, signal.SIGUSR1)
        samplers = start_samplers(py_spy, {"ingest": child.proc.pid, "nx-27017": mongo.proc.pid}, out_dir)
        time.sleep(2.0 if samplers else 0.5)
        before = {name: proc_cpu_s(pid) for name, pid in pids.items()}
        load_before = os.getloadavg()
        write_feed(feed, stories, title="Bench")
        deadline = time.perf_counter() + 900
        # The chunks' records follow their events: until every article is recorded.
        while db.articles.estimated_document_count() < count + 1 and time.perf_counter() < deadline:
            time.sleep(0.5)
        time.sleep(1.0)
        after = {name: proc_cpu_s(pid) for name, pid in pids.items()}
        done = ingest_emitted(port) - emitted_before
        os.kill(child.proc.pid, signal.SIGUSR2)
        stop_samplers(samplers)
        time.sleep(3.0)
        load_after = os.getloadavg()
    finally:
        supervisor.stop_all()
        nats.stop()
        mongo.stop()
    per_story = {name: round((after[name] - before[name]) / max(count, 1), 4) for name in before}
    return {
        "articles": count,
        "events_emitted": done,
        "embeddings": embeddings,
        "profiled": profile,
        "cpu_s_per_story": per_story,
        "ingest": stage_entry("ingest", out_dir, count, per_story["ingest"], top),
        **(
            {"nx-27017": {"py_spy": collapsed_top(out_dir / "nx-27017.spy.txt", top)}}
            if (out_dir / "nx-27017.spy.txt").exists()
            else {}
        ),
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
    parser.add_argument("--ingest", action="store_true", help="ingest alone, fed by a file feed")
    parser.add_argument("--no-embeddings", action="store_true", help="with --ingest: without the model")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.probe, args.out)
        return
    if args.ingest:
        profile = not args.no_profile and not args.py_spy
        result = run_ingest(args.articles, args.top, profile, not args.no_embeddings, args.py_spy)
    else:
        result = run(args.articles, args.top, not args.no_profile, args.py_spy)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
