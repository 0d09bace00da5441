"""Run every benchmark in bench/ with a quick configuration, one after the other, and print one JSON
document with each one's result (or its error: a failing benchmark does not stop the others).

    python bench/run_all.py [--budget-s 600] [--only pipeline,memory]

Quick configurations keep the whole run under ten minutes on the 2-core machine; each script's
own defaults give the full-size numbers in bench/README.md. A script not listed in QUICK runs with
its defaults. The budget is shared: a script gets what is left (at least 30 s), and scripts that no
longer fit are recorded as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

# Quick arguments per script, and the share of the budget each may use at most.
QUICK: dict[str, tuple[list[str], float]] = {
    "pipeline": (["--articles", "600"], 150),
    "memory": (["--stories", "120", "--idle-s", "5"], 150),
    "soak": (["--minutes", "1.5", "--plot", str(REPO / "var" / "bench" / "soak-quick.png")], 170),
    "translate": (["--stories", "40"], 90),
    "read_api": (["--items", "2000", "--seconds", "5"], 90),
    "ingest": (["--seconds", "1", "--sizes", "1000"], 60),
    "clustering": (["--skip-cost", "--skip-tuning"], 90),
    "extraction": ([], 90),
    "scores": ([], 45),
    "tagging": ([], 120),
    "translation_qa": (["--seeds", "0", "1", "2"], 60),
}
# Cheap, deterministic quality benches first; the process-heavy ones after.
ORDER = [
    "scores",
    "extraction",
    "ingest",
    "clustering",
    "tagging",
    "translation_qa",
    "read_api",
    "translate",
    "pipeline",
    "memory",
    "soak",
]


def last_json(text: str) -> Any:
    """The JSON document a script printed (the whole output, else its last top-level object)."""
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    start = text.rfind("\n{")
    while start != -1:
        try:
            return json.loads(text[start + 1 :])
        except ValueError:
            start = text.rfind("\n{", 0, start)
    if text.startswith("{"):
        return json.loads(text)
    raise ValueError("no JSON document in the output")


def run_one(name: str, args: list[str], timeout_s: float) -> dict[str, Any]:
    started = time.monotonic()
    command = [sys.executable, str(BENCH / f"{name}.py"), *args]
    try:
        done = subprocess.run(
            command,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    except subprocess.TimeoutExpired:
        return {
            "status": "error",
            "error": f"timed out after {timeout_s:.0f}s",
            "args": args,
            "seconds": round(time.monotonic() - started, 1),
        }
    seconds = round(time.monotonic() - started, 1)
    if done.returncode != 0:
        return {
            "status": "error",
            "error": f"exit code {done.returncode}",
            "stderr_tail": done.stderr[-1500:],
            "args": args,
            "seconds": seconds,
        }
    try:
        result = last_json(done.stdout)
    except ValueError as exc:
        return {
            "status": "error",
            "error": str(exc),
            "stdout_tail": done.stdout[-800:],
            "args": args,
            "seconds": seconds,
        }
    return {"status": "ok", "args": args, "seconds": seconds, "result": result}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget-s", type=float, default=570.0, help="total time for all benchmarks")
    parser.add_argument("--only", default="", help="comma-separated script names")
    args = parser.parse_args()
    found = sorted(
        p.stem
        for p in BENCH.glob("*.py")
        if p.stem not in ("run_all", "__init__") and not p.stem.startswith("_")
    )
    wanted = [n for n in args.only.split(",") if n] or found
    names = [n for n in ORDER if n in wanted] + [n for n in wanted if n not in ORDER]
    started = time.monotonic()
    results: dict[str, Any] = {}
    for name in names:
        if name not in found:
            results[name] = {"status": "error", "error": "no such benchmark"}
            continue
        quick_args, cap_s = QUICK.get(name, ([], 120.0))
        left = args.budget_s - (time.monotonic() - started)
        if left < 30:
            results[name] = {"status": "skipped", "reason": f"the {args.budget_s:.0f}s budget is used up"}
            continue
        print(
            f"[run_all] {name} {' '.join(quick_args)} (up to {min(cap_s, left):.0f}s)",
            file=sys.stderr,
            flush=True,
        )
        results[name] = run_one(name, quick_args, min(cap_s, left))
    print(
        json.dumps(
            {
                "benchmark": "run_all",
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
                },
                "total_seconds": round(time.monotonic() - started, 1),
                "ok": [n for n, r in results.items() if r["status"] == "ok"],
                "failed": [n for n, r in results.items() if r["status"] == "error"],
                "skipped": [n for n, r in results.items() if r["status"] == "skipped"],
                "results": results,
            },
            indent=2,
            ensure_ascii=False,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
