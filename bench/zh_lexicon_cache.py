"""The Chinese lexicon read from its cache against built from jieba's dictionary, as analyze starts.

Each run is a fresh process that does what analyze's start does for the local tier
(``LocalTier.warm_up()`` without an embedding model: the lexicon, yake, the taxonomy, a first
story per language), with ``NEWSROOM_LEXICON_CACHE_DIR`` off (built: main's behaviour), on an empty
folder (the first start: built, then written) or on the folder the first start left (read). It
reports the process's CPU seconds for the lexicon alone and for the whole warm-up, the wall time,
and its peak and final RSS (VmHWM, VmRSS). Modes alternate, ``--rounds`` times. Then every mode
segments the real Chinese texts of ``../shared/data/real-world/`` (as bench/zh_lexicon.py reads
them) and the token lists are compared with the built lexicon's.

    .venv/bin/python bench/zh_lexicon_cache.py [--rounds 3] [--data ../shared/data/real-world]

Prints JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.zh_lexicon import DEFAULT_DATA, load_texts  # noqa: E402

CHILD = """
import json, resource, sys, time
def status():
    with open('/proc/self/status', encoding='ascii') as f:
        pairs = (line.split(':', 1) for line in f)
        return {k: int(v.split()[0]) / 1024 for k, v in pairs if k in ('VmRSS', 'VmHWM')}
cpu0, wall0 = time.process_time(), time.perf_counter()
from shared.settings import Settings
from shared.adapters.zh_lexicon_cache import use_lexicon_cache
from shared.core.keyphrases import zh_lexicon
from services.analyze.local_tier import LocalTier
use_lexicon_cache(Settings().lexicon_cache_dir)
cpu1 = time.process_time()
lexicon = zh_lexicon()
cpu2 = time.process_time()
tier = LocalTier(embedder=lambda: None)
tier.warm_up().result()
tier.close()
cpu3, wall3 = time.process_time(), time.perf_counter()
texts = json.loads(open(sys.argv[1], encoding='utf-8').read())
cuts = [lexicon.tokenizer.lcut(t) for t in texts]
print(json.dumps({'lexicon_cpu_s': cpu2 - cpu1, 'start_cpu_s': cpu3 - cpu0, 'start_wall_s': wall3 - wall0,
                  **{k.lower() + '_mb': v for k, v in status().items()}, 'cuts': cuts}, ensure_ascii=False))
"""


def run(mode_dir: str, texts_file: Path) -> dict[str, Any]:
    env = {**os.environ, "NEWSROOM_LEXICON_CACHE_DIR": mode_dir, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(texts_file)], cwd=REPO, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    texts = load_texts(args.data)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="zh-lexicon-cache-") as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts, ensure_ascii=False), "utf-8")
        results: dict[str, list[dict[str, Any]]] = {"built": [], "first_start": [], "cached": []}
        for round_ in range(args.rounds):
            cache = Path(tmp) / f"cache-{round_}"
            results["built"].append(run("", texts_file))
            results["first_start"].append(run(str(cache), texts_file))
            results["cached"].append(run(str(cache), texts_file))
        cache_files = sorted(p.stat().st_size for p in Path(tmp).glob("cache-0/*"))
    reference = results["built"][0]["cuts"]
    summary: dict[str, Any] = {}
    for mode, runs in results.items():
        summary[mode] = {
            key: round(statistics.median(r[key] for r in runs), 3)
            for key in ("lexicon_cpu_s", "start_cpu_s", "start_wall_s", "vmhwm_mb", "vmrss_mb")
        }
        summary[mode]["runs"] = [{k: round(v, 3) for k, v in r.items() if k != "cuts"} for r in runs]
        summary[mode]["texts_segmented_identically"] = sum(
            sum(a == b for a, b in zip(r["cuts"], reference, strict=True)) for r in runs
        ) / len(runs)
        summary[mode]["segmentation_sha256"] = sorted(
            {
                hashlib.sha256(json.dumps(r["cuts"], ensure_ascii=False).encode()).hexdigest()[:16]
                for r in runs
            }
        )
    print(
        json.dumps(
            {
                "benchmark": "zh_lexicon_cache",
                "texts": len(texts),
                "characters": sum(len(t) for t in texts),
                "rounds": args.rounds,
                "cache_file_bytes": cache_files,
                "load_average_before": [round(x, 2) for x in load],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                **summary,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
