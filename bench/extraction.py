"""Article extraction measured on the public article-extraction benchmark (181 real pages).

Runs exactly ``shared.core.extraction.extract_article`` (the function ingest uses) on every page:
decompress, decode with ``decode_html``, extract; scores with our implementation of the
benchmark's metric (``shared.core.extraction_metrics``) and prints one JSON object.

    .venv/bin/python bench/extraction.py                     # the default settings
    .venv/bin/python bench/extraction.py --set favor_precision=false --set balanced_fallback=false

pages_per_s is the extraction speed on one core (decode + extract, scoring excluded); on a
shared machine it varies from run to run.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from shared.core.extraction import (  # noqa: E402
    DEFAULT_SETTINGS,
    ExtractorSettings,
    decode_html,
    extract_article,
)
from shared.core.extraction_metrics import PageScore, aggregate, score_page  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "article-extraction-benchmark"


def parse_settings(assignments: list[str]) -> ExtractorSettings:
    """Apply ``name=value`` overrides (bool, int, float) to the default settings."""
    fields = {f.name: f for f in dataclasses.fields(ExtractorSettings)}
    changes: dict[str, Any] = {}
    for assignment in assignments:
        name, _, value = assignment.partition("=")
        if name not in fields:
            raise SystemExit(f"unknown setting {name!r}; known: {', '.join(fields)}")
        current = getattr(DEFAULT_SETTINGS, name)
        if isinstance(current, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise SystemExit(f"{name} expects true or false, got {value!r}")
            changes[name] = value.lower() in ("true", "1")
        else:
            changes[name] = type(current)(value)
    return dataclasses.replace(DEFAULT_SETTINGS, **changes)


def load_benchmark(data_dir: Path) -> tuple[dict[str, dict[str, str]], dict[str, bytes]]:
    """Ground truth ({id: {"articleBody", "url"}}) and the raw (decompressed) page bytes."""
    truth: dict[str, dict[str, str]] = json.loads((data_dir / "ground-truth.json").read_text("utf-8"))
    pages = {
        page_id: gzip.decompress((data_dir / "html" / f"{page_id}.html.gz").read_bytes()) for page_id in truth
    }
    return truth, pages


def run(data_dir: Path, settings: ExtractorSettings, worst: int = 10) -> dict[str, Any]:
    truth, pages = load_benchmark(data_dir)
    predicted: dict[str, str] = {}
    methods: dict[str, int] = {}
    started = time.perf_counter()
    for page_id, entry in truth.items():
        article = extract_article(decode_html(pages[page_id]), url=entry.get("url"), settings=settings)
        predicted[page_id] = article.text if article is not None else ""
        method = article.method if article is not None else "none"
        methods[method] = methods.get(method, 0) + 1
    elapsed = time.perf_counter() - started

    scores: dict[str, PageScore] = {
        page_id: score_page(entry.get("articleBody", ""), predicted[page_id])
        for page_id, entry in truth.items()
    }
    total = aggregate(scores.values())
    worst_pages = sorted(scores.items(), key=lambda item: (item[1].f1, item[0]))[:worst]
    return {
        "f1": round(total.f1, 4),
        "precision": round(total.precision, 4),
        "recall": round(total.recall, 4),
        "accuracy": round(total.accuracy, 4),
        "pages_per_s": round(len(truth) / elapsed, 1),
        "n_pages": total.n_pages,
        "extractor": "shared.core.extraction.extract_article (trafilatura)",
        "settings": settings.as_dict(),
        "methods": methods,
        "worst_pages": [
            {
                "id": page_id,
                "url": truth[page_id].get("url"),
                "f1": round(score.f1, 3),
                "precision": None if score.precision is None else round(score.precision, 3),
                "recall": None if score.recall is None else round(score.recall, 3),
            }
            for page_id, score in worst_pages
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="benchmark directory")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a setting")
    parser.add_argument("--worst", type=int, default=10, help="how many worst pages to list")
    args = parser.parse_args()
    # trafilatura logs every page it discards; the JSON on stdout is the report.
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    print(json.dumps(run(args.data, parse_settings(args.set), args.worst), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
