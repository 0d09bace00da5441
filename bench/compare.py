"""The pipeline bench for the working tree and for another commit, side by side in one run.

    .venv/bin/python bench/compare.py BASE_REV [--articles 300] [--rounds 1] [--e2e]

BASE_REV is checked out into a temporary git worktree. The working tree's bench/pipeline.py is
copied into it, so both trees are measured by the same harness (it feature-detects what the code
offers, e.g. whether events carry the story's vector). The runs alternate (base, head, base, head
... for ``--rounds``) so that a change of load on the shared machine hits both; the figures and
the load average are printed per run, and the speed-up is the ratio of the medians of articles/s
through the four consuming stages (and end to end through ingest with ``--e2e``: articles/s, the
ratio to the compute bound, CPU per story of every process incl. nats-server and nx-27017,
embeddings per story and peak RSS, per side).

Prints JSON. The working tree's uncommitted changes are measured as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def run_bench(tree: Path, articles: int, e2e: bool) -> dict[str, Any]:
    argv = [sys.executable, str(tree / "bench" / "pipeline.py"), "--articles", str(articles), "--skip-raw"]
    if not e2e:
        argv.append("--skip-e2e")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    load = os.getloadavg()[0]
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pipeline bench failed in {tree}:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["load_avg_1m_at_start"] = round(load, 2)
    return result


def summary(result: dict[str, Any]) -> dict[str, Any]:
    stages = result["stages"]
    e2e = result.get("end_to_end_with_ingest") or {}
    return {
        "articles_per_s": stages["articles_per_s"],
        "e2e_articles_per_s": e2e.get("articles_per_s"),
        "e2e_ratio_to_compute_bound": e2e.get("ratio_to_compute_bound"),
        "e2e_cpu_limited_articles_per_s": e2e.get("cpu_limited_articles_per_s"),
        "e2e_cpu_s_per_story_all_processes": e2e.get("cpu_s_per_story_all_processes"),
        "e2e_ingest_cpu_s_per_story": e2e.get("ingest_cpu_s_per_story"),
        "e2e_ingest_embeddings_per_story": e2e.get("ingest_embeddings_per_story"),
        "e2e_ingest_peak_rss_mb": e2e.get("ingest_peak_rss_mb"),
        "e2e_latency_ingest_to_published_p50_s": e2e.get("latency_ingest_to_published_p50_s"),
        "e2e_load_avg": e2e.get("load_avg"),
        "e2e_processes": e2e.get("processes"),
        "cpu_s_per_story_all_stages": stages["cpu_s_per_story_all_stages"],
        "processes": stages["processes"],
        "events_carry_vector": stages["events_carry_vector"],
        "ratio_to_compute_bound": stages["ratio_to_compute_bound"],
        "compute_bound_articles_per_s": stages["irreducible_work"]["compute_bound_articles_per_s"],
        "load_avg_1m": {"start": result["load_avg_1m_at_start"], **stages["load_avg_1m"]},
    }


def git(*argv: str) -> str:
    return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_rev")
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--e2e", action="store_true", help="also end to end through ingest")
    args = parser.parse_args()
    base_commit = git("rev-parse", "--verify", f"{args.base_rev}^{{commit}}")
    head = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    tmp = Path(tempfile.mkdtemp(prefix="newsroom-compare-"))
    base_tree = tmp / "base"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(base_tree), base_commit],
        cwd=REPO,
        capture_output=True,
        check=True,
    )
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "head": []}
    try:
        shutil.copy2(REPO / "bench" / "pipeline.py", base_tree / "bench" / "pipeline.py")
        for _ in range(args.rounds):
            for side, tree in (("base", base_tree), ("head", REPO)):
                runs[side].append(summary(run_bench(tree, args.articles, args.e2e)))
                print(side, json.dumps(runs[side][-1]), file=sys.stderr, flush=True)  # progress
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=REPO, check=False)
        shutil.rmtree(tmp, ignore_errors=True)

    def median(side: str, key: str) -> float | None:
        values = [run[key] for run in runs[side] if isinstance(run[key], (int, float))]
        return statistics.median(values) if values else None

    report: dict[str, Any] = {
        "benchmark": "compare",
        "base": base_commit,
        "head": head + (" + uncommitted changes" if dirty else ""),
        "articles": args.articles,
        "rounds": args.rounds,
        "machine": {"cpus": os.cpu_count()},
        "runs": runs,
    }
    for key, name in (
        ("articles_per_s", "speedup_four_stages"),
        ("e2e_articles_per_s", "speedup_end_to_end"),
    ):
        base, new = median("base", key), median("head", key)
        report[name] = round(new / base, 2) if base and new else None
    # Per side: the medians of what the end-to-end target is judged on, and CPU per story per
    # process (the servers included).
    for side in ("base", "head"):
        report[f"{side}_median"] = {
            key: median(side, key)
            for key in (
                "articles_per_s",
                "compute_bound_articles_per_s",
                "e2e_articles_per_s",
                "e2e_ratio_to_compute_bound",
                "e2e_cpu_limited_articles_per_s",
                "e2e_cpu_s_per_story_all_processes",
                "e2e_ingest_cpu_s_per_story",
                "e2e_ingest_embeddings_per_story",
                "e2e_ingest_peak_rss_mb",
                "e2e_latency_ingest_to_published_p50_s",
            )
        }
        per_process: dict[str, dict[str, list[float]]] = {}
        for run in runs[side]:
            for name, figures in (run.get("e2e_processes") or {}).items():
                for key in ("cpu_s_per_story", "peak_rss_mb", "embeddings_per_story"):
                    if isinstance(figures.get(key), (int, float)):
                        per_process.setdefault(name, {}).setdefault(key, []).append(figures[key])
        report[f"{side}_e2e_per_process_median"] = {
            name: {key: statistics.median(values) for key, values in figures.items()}
            for name, figures in per_process.items()
        }
    report["load_avg_1m_per_run"] = {side: [run["load_avg_1m"] for run in runs[side]] for side in runs}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
