"""How many texts each process really ran through the embedding model (the pipeline bench reads
it to report embeddings per story; the target is one, computed at ingest)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter

from shared.metrics import REGISTRY

EMBEDDINGS_COMPUTED = Counter(
    "newsroom_embeddings_computed_total",
    "Texts embedded by the multilingual model (not answered from memory or from the event)",
    ["stage"],
    registry=REGISTRY,
)


def count_embeddings(stage: str) -> Callable[[int], None]:
    """A callback for ``MemoEmbedder(on_computed=...)`` that counts under ``stage``."""
    counter = EMBEDDINGS_COMPUTED.labels(stage)
    return counter.inc
