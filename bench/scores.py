"""Hot, Quality and Impact measured against hand-labelled calibration stories.

Loads tests/data/scoring/stories.jsonl (stories with hand-assigned low / mid / high bands for each
score, decided from the meaning of the story before any constant was tuned), scores every story
with ``shared.core.scoring`` (no LLM rubric) and prints one JSON object: the Spearman correlation
between each score and its bands (all stories, the `tune` split the constants were adjusted on,
and the `holdout` split that was not looked at while tuning), the distribution of each score
(counts per decile, share in 60-80) and the mean score per band.

    .venv/bin/python bench/scores.py                 # summary
    .venv/bin/python bench/scores.py --per-story     # plus every story's scores and bands

The `real` part scores the 239 items a `newsroom up --once` run over the 13 real feeds produced
(tests/data/scoring/real_items.jsonl: the score stage's inputs, as stored in its state) with the
current formulas, and compares Quality with 64 hand-labelled bands (real_labels.jsonl; labelled
before recalibrating; `fit` half used to choose the constants, `holdout` half not): Spearman per
split and over the non-low items (mid vs high), the distribution (deciles, share >= 90), the
figures with the previous formula as published by that run, and each order statistic over 20
seeded resamples of the labelled set (how much the figure moves with the sample).

stories_per_s is the speed of scoring all three scores on one core; it is noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from scipy.stats import spearmanr

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from shared.core.scoring import (  # noqa: E402
    ContentFacts,
    EngagementFacts,
    MemberFacts,
    StoryFacts,
    content_facts_from_doc,
    default_config,
    impact_score,
    quality_score,
    score_all,
)

DEFAULT_DATA = REPO_ROOT / "tests" / "data" / "scoring" / "stories.jsonl"
REAL_ITEMS = REPO_ROOT / "tests" / "data" / "scoring" / "real_items.jsonl"
REAL_LABELS = REPO_ROOT / "tests" / "data" / "scoring" / "real_labels.jsonl"
SCORES = ("hot", "quality", "impact")
BAND_RANK = {"low": 0, "mid": 1, "high": 2}


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def story_facts(record: dict[str, Any]) -> StoryFacts:
    members = []
    for m in record["members"]:
        engagement = EngagementFacts(**m["engagement"]) if m.get("engagement") else None
        joined_at = _time(m["joined_at"])
        assert joined_at is not None
        members.append(
            MemberFacts(
                article_id=m["article_id"],
                source_id=m["source_id"],
                joined_at=joined_at,
                source_weight=m["source_weight"],
                published_at=_time(m.get("published_at")),
                near_duplicate_of=m.get("near_duplicate_of"),
                language=m["language"],
                engagement=engagement,
            )
        )
    return StoryFacts(members=tuple(members))


def content_facts(record: dict[str, Any], story: StoryFacts) -> ContentFacts:
    return ContentFacts(
        title=record["title"],
        body=record["body"],
        language=record["language"],
        tags=tuple(record["tags"]),
        entity_ids=tuple(record["entities"]),
        amounts_usd=tuple(record["amounts_usd"]),
        user_counts=tuple(record["user_counts"]),
        translation_qa_flags=tuple(record["translation_qa_flags"]),
        paywall_teaser=record["paywall_teaser"],
        source_reputation=record["source_reputation"],
        originality=record["originality"],
        coverage_languages=story.languages,
    )


def load_calibration(path: Path = DEFAULT_DATA) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def score_records(records: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Scores of every record, in order: [{"hot": .., "quality": .., "impact": ..}, ...]."""
    out = []
    for record in records:
        story = story_facts(record)
        now = _time(record["now"])
        assert now is not None
        details = score_all(story, content_facts(record, story), now)
        out.append({name: details[name].value for name in SCORES})
    return out


def spearman(values: list[float], bands: list[str]) -> float | None:
    if len(set(bands)) < 2:
        return None
    rho = spearmanr(values, [BAND_RANK[b] for b in bands]).statistic
    return round(float(rho), 3)


def distribution(values: list[float]) -> dict[str, Any]:
    deciles = [0] * 10
    for v in values:
        deciles[min(9, int(v // 10))] += 1
    return {
        "deciles": deciles,  # counts in [0,10), [10,20), ... [90,100]
        "share_60_80": round(sum(60 <= v < 80 for v in values) / len(values), 3),
        "min": round(min(values), 1),
        "median": round(statistics.median(values), 1),
        "max": round(max(values), 1),
    }


def evaluate(records: list[dict[str, Any]], scores: list[dict[str, float]]) -> dict[str, Any]:
    splits = {
        "all": list(range(len(records))),
        "tune": [i for i, r in enumerate(records) if r["split"] == "tune"],
        "holdout": [i for i, r in enumerate(records) if r["split"] == "holdout"],
    }
    result: dict[str, Any] = {"spearman": {}, "distribution": {}, "band_means": {}}
    for name in SCORES:
        result["spearman"][name] = {
            split: spearman([scores[i][name] for i in idx], [records[i]["bands"][name] for i in idx])
            for split, idx in splits.items()
        }
        values = [s[name] for s in scores]
        result["distribution"][name] = distribution(values)
        result["band_means"][name] = {
            band: round(
                statistics.mean(
                    v
                    for s, r in zip(scores, records, strict=True)
                    if r["bands"][name] == band
                    for v in [s[name]]
                ),
                1,
            )
            for band in BAND_RANK
            if any(r["bands"][name] == band for r in records)
        }
    result["split_sizes"] = {k: len(v) for k, v in splits.items()}
    return result


# --- the real-feed sample ----------------------------------------------------------------------


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def real_distribution(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    cut = [ordered[min(len(ordered) - 1, int(len(ordered) * q / 10))] for q in range(1, 10)]
    return {
        **distribution(values),
        "share_ge_90": round(sum(v >= 90 for v in values) / len(values), 3),
        "decile_cuts": [round(v, 1) for v in cut],  # the 10th, 20th, ... 90th percentile
    }


def score_real(items: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """article id -> {"quality", "impact"} with the current formulas."""
    out = {}
    for item in items:
        content = content_facts_from_doc(item["content"])
        out[item["article_id"]] = {
            "quality": quality_score(content).value,
            "impact": impact_score(content).value,
        }
    return out


def evaluate_real(
    items: list[dict[str, Any]], labels: list[dict[str, Any]], seed: int = 16
) -> dict[str, Any]:
    scores = score_real(items)
    before = {i["article_id"]: i["published_quality_1"] for i in items}
    by_split: dict[str, list[dict[str, Any]]] = {
        "all": labels,
        "fit": [lab for lab in labels if lab["split"] == "fit"],
        "holdout": [lab for lab in labels if lab["split"] == "holdout"],
        "mid_vs_high": [lab for lab in labels if lab["quality"] != "low"],
    }

    def rho(rows: list[dict[str, Any]], table: dict[str, dict[str, float]]) -> float | None:
        return spearman([table[r["article_id"]]["quality"] for r in rows], [r["quality"] for r in rows])

    rng = random.Random(seed)
    resampled = [rho([rng.choice(labels) for _ in labels], scores) for _ in range(20)]
    resampled_values = sorted(r for r in resampled if r is not None)
    quality = [s["quality"] for s in scores.values()]
    impact = [s["impact"] for s in scores.values()]
    return {
        "items": len(items),
        "labelled": {split: len(rows) for split, rows in by_split.items()},
        "quality": {
            "spearman": {split: rho(rows, scores) for split, rows in by_split.items()},
            "spearman_bootstrap_20": {"min": resampled_values[0], "max": resampled_values[-1]},
            "band_means": {
                band: round(
                    statistics.mean(
                        scores[r["article_id"]]["quality"] for r in labels if r["quality"] == band
                    ),
                    1,
                )
                for band in BAND_RANK
            },
            "distribution": real_distribution(quality),
            "previous_formula": {
                "spearman": {split: rho(rows, before) for split, rows in by_split.items()},
                "distribution": real_distribution([b["quality"] for b in before.values()]),
            },
        },
        "impact": {
            "distribution": real_distribution(impact),
            "previous_formula": {"distribution": real_distribution([b["impact"] for b in before.values()])},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-story", action="store_true", help="include every story's scores")
    args = parser.parse_args()

    records = load_calibration(args.data)
    cfg = default_config()
    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        scores = score_records(records)
    elapsed = time.perf_counter() - started

    report: dict[str, Any] = {
        "data": str(args.data.relative_to(REPO_ROOT))
        if args.data.is_relative_to(REPO_ROOT)
        else str(args.data),
        "stories": len(records),
        "llm_rubric": False,
        "formula_versions": dict(cfg.formula_versions),
        "config_version": cfg.version,
        **evaluate(records, scores),
        "stories_per_s": round(rounds * len(records) / elapsed, 1),
    }
    if REAL_ITEMS.exists() and REAL_LABELS.exists():
        report["real"] = evaluate_real(load_jsonl(REAL_ITEMS), load_jsonl(REAL_LABELS))
    if args.per_story:
        report["per_story"] = [
            {"id": r["id"], "split": r["split"], **{n: [round(s[n], 1), r["bands"][n]] for n in SCORES}}
            for r, s in zip(records, scores, strict=True)
        ]
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
