"""Soak: the whole system at a steady rate for a while, with memory and lag sampled and plotted.

The five stages and the read API run as separate processes on an embedded nats-server and
nx-27017 (no LLM configured). A writer adds ``--rate`` new distinct stories per second, spread over
``--sources`` RSS files that ingest polls every 30 s (the shortest interval a source may have);
each file keeps its latest ``--window`` entries, like a real feed. Every ``--sample-s`` seconds the
bench records each process's RSS, the pipeline consumers' backlog (pending + unacknowledged) and
how many articles reached an item. At the end it reports the RSS slope per service (least squares
over the second half of the run, MB per hour), the latency from feed write to published and from
ingest to published, and writes a PNG plot (matplotlib) with memory and lag over time.

    python bench/soak.py [--minutes 30] [--rate 1.0] [--plot var/bench/soak.png]

Prints JSON. Numbers are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.memory import machine, pipeline_busy, start_system  # noqa: E402
from tests.faults.stories import fault_stories  # noqa: E402
from tests.support.stack import write_feed  # noqa: E402

POLL_INTERVAL_S = 30  # the minimum a source allows (shared/sources.py)


def slope_per_hour(times_s: list[float], values: list[float]) -> float | None:
    """Least-squares slope in units per hour."""
    n = len(times_s)
    if n < 3:
        return None
    mean_t, mean_v = sum(times_s) / n, sum(values) / n
    var = sum((t - mean_t) ** 2 for t in times_s)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (v - mean_v) for t, v in zip(times_s, values, strict=True))
    return cov / var * 3600.0


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def write_sources(path: Path, feeds: list[Path]) -> None:
    lines = ["sources:"]
    for i, feed in enumerate(feeds):
        lines += [
            f"  - id: soak-{i}",
            f"    name: Soak feed {i}",
            f"    url: {feed.resolve().as_uri()}",
            "    language: en",
            f"    poll_interval_s: {POLL_INTERVAL_S}",
            "    full_text: never",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot(path: Path, samples: list[dict[str, Any]], services: list[str]) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot"
    minutes = [s["t_s"] / 60 for s in samples]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for name in services:
        top.plot(minutes, [s["rss_mb"].get(name) for s in samples], label=name)
    top.axhline(200, color="grey", linestyle="--", linewidth=0.8, label="200 MB target")
    top.set_ylabel("RSS (MB)")
    top.legend(fontsize=8, ncol=4)
    top.set_title("AI Newsroom soak: memory and lag")
    bottom.plot(minutes, [s["backlog"] for s in samples], label="pipeline backlog (messages)")
    bottom.plot(
        minutes,
        [s["written"] - s["published_articles"] for s in samples],
        label="articles written, not yet published",
    )
    bottom.set_xlabel("minutes")
    bottom.set_ylabel("messages / articles")
    bottom.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def soak(
    minutes: float, rate: float, n_sources: int, window: int, sample_s: float, plot_path: Path, workdir: Path
) -> dict[str, Any]:
    from pymongo import MongoClient

    duration_s = minutes * 60
    stories = fault_stories(int(rate * duration_s) + 10, prefix="soak", seed=int(time.time()))
    feeds = [workdir / f"soak-{i}.xml" for i in range(n_sources)]
    # One story in each feed before start-up: an empty feed is a parse error (dead-lettered).
    entries: list[list[tuple[str, str, str]]] = [[stories[i]] for i in range(n_sources)]
    for feed, first in zip(feeds, entries, strict=True):
        write_feed(feed, first, title=feed.stem)
    sources = workdir / "sources.yaml"
    write_sources(sources, feeds)
    running = start_system(
        workdir, {"NEWSROOM_INGEST__SOURCES_FILE": str(sources), "NEWSROOM_INGEST__POLL": "true"}
    )
    written_at: dict[str, float] = {stories[i][0]: time.time() for i in range(n_sources)}
    samples: list[dict[str, Any]] = []
    try:
        ready_s = running.wait_ready()
        db: Any = MongoClient(running.mongo_url, tz_aware=True).newsroom
        started = time.time()
        next_sample = started
        written = n_sources
        while True:
            now = time.time()
            elapsed = now - started
            due = min(len(stories), n_sources + int(elapsed * rate)) if elapsed < duration_s else written
            if due > written:
                touched = set()
                for index in range(written, due):
                    which = index % n_sources
                    entries[which] = [*entries[which], stories[index]][-window:]
                    written_at[stories[index][0]] = now
                    touched.add(which)
                for which in touched:
                    write_feed(feeds[which], entries[which], title=feeds[which].stem)
                written = due
            if now >= next_sample:
                published = sum(len(d.get("sources", [])) for d in db.items.find({}, {"sources": 1}))
                samples.append(
                    {
                        "t_s": round(elapsed, 1),
                        "rss_mb": {k: round(v, 1) for k, v in running.rss().items()},
                        "backlog": pipeline_busy(running.nats_url),
                        "written": written,
                        "published_articles": published,
                        "alive": sorted(running.pids()),
                    }
                )
                next_sample = now + sample_s
            if elapsed >= duration_s:
                break
            time.sleep(0.2)
        # Drain: the last writes need one poll interval plus the pipeline.
        drain_started = time.time()
        while time.time() - drain_started < POLL_INTERVAL_S * 3:
            published = sum(len(d.get("sources", [])) for d in db.items.find({}, {"sources": 1}))
            if published >= written and pipeline_busy(running.nats_url) == 0:
                break
            time.sleep(2)
        docs = list(db.items.find({}, {"sources": 1, "published_at": 1, "first_seen_at": 1}))
        restarts = {c.name: c.restarts for c in running.supervisor.children}
        exited = {c.name: c.proc.returncode for c in running.supervisor.children if c.proc and not c.alive}
    finally:
        running.stop()

    feed_to_published = []
    ingest_to_published = []
    for doc in docs:
        if doc.get("published_at") and doc.get("first_seen_at"):
            ingest_to_published.append((doc["published_at"] - doc["first_seen_at"]).total_seconds())
        for source in doc.get("sources", []):
            when = written_at.get(source["url"])
            if when is not None and doc.get("published_at") and source["url"] == doc["sources"][0]["url"]:
                feed_to_published.append(doc["published_at"].timestamp() - when)
    services = sorted({name for s in samples for name in s["rss_mb"]})
    half = [s for s in samples if s["t_s"] >= duration_s / 2]
    memory = {}
    for name in services:
        series = [(s["t_s"], s["rss_mb"][name]) for s in samples if name in s["rss_mb"]]
        late = [(t, v) for t, v in series if t >= duration_s / 2]
        memory[name] = {
            "start_mb": series[0][1] if series else None,
            "end_mb": series[-1][1] if series else None,
            "max_mb": max(v for _, v in series) if series else None,
            "slope_second_half_mb_per_h": _round(slope_per_hour([t for t, _ in late], [v for _, v in late])),
            "slope_whole_run_mb_per_h": _round(
                slope_per_hour([t for t, _ in series], [v for _, v in series])
            ),
        }
    problem = plot(plot_path, samples, services)
    published_articles = sum(len(d.get("sources", [])) for d in docs)
    return {
        "minutes": minutes,
        "rate_per_s": rate,
        "sources": n_sources,
        "startup_to_ready_s": round(ready_s, 1),
        "articles_written": written,
        "articles_published": published_articles,
        "items": len(docs),
        "lost_or_late": written - published_articles,
        "feed_write_to_published_s": {
            "p50": _round(percentile(feed_to_published, 0.5)),
            "p95": _round(percentile(feed_to_published, 0.95)),
            "max": _round(max(feed_to_published, default=None)),
        },
        "ingest_to_published_s": {
            "p50": _round(percentile(ingest_to_published, 0.5)),
            "p95": _round(percentile(ingest_to_published, 0.95)),
        },
        "backlog_max": max((s["backlog"] for s in samples), default=None),
        "backlog_mean_second_half": _round(sum(s["backlog"] for s in half) / len(half)) if half else None,
        "memory": memory,
        "restarts": restarts,
        "exited": exited,
        "plot": str(plot_path) if problem is None else problem,
        "samples": len(samples),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=1.0, help="new stories per second")
    parser.add_argument("--sources", type=int, default=6)
    parser.add_argument("--window", type=int, default=100, help="entries kept in each feed file")
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--plot", type=Path, default=REPO / "var" / "bench" / "soak.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = soak(args.minutes, args.rate, args.sources, args.window, args.sample_s, args.plot, Path(tmp))
    print(json.dumps({"benchmark": "soak", "machine": machine(), **result}, indent=2))


if __name__ == "__main__":
    main()
