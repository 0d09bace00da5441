"""The local analysis tier: what can be said about a story without a language model.

Tags, entities, key phrases, money amounts, percentages and an extractive summary in the source
language, each marked as coming from the local tier. It never writes commentary: the "Analysis /
深度分析" text is left empty with the reason, as the contract in shared/events.py requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from shared.core.embeddings import Embedder
from shared.core.entities import EntityMatch, find_entities
from shared.core.keyphrases import keyphrases
from shared.core.money import ParsedAmount, ParsedPercentage, parse_amounts, parse_percentages
from shared.core.summarize import extractive_summary, split_sentences
from shared.core.tagging import DEFAULT_CONFIG, TaggerConfig, TagMatch, tag
from shared.core.taxonomy import load_taxonomy
from shared.events import Amount, Analysis, Bilingual, Entity, Provenance, SectionStatus, Tag

NO_LLM_REASON = "no language model configured: the local tier does not write commentary"


@dataclass(frozen=True, slots=True)
class LocalAnalysis:
    language: str
    tags: list[TagMatch]
    entities: list[EntityMatch]
    keyphrases: list[str]
    amounts: list[ParsedAmount]
    percentages: list[ParsedPercentage]
    summary: str | None
    summary_reason: str | None  # why there is no summary, when there is none
    taxonomy_version: str
    embedder: str | None  # the embedding model used for tagging, None when tags used triggers only
    tier: Literal["local"] = "local"


def analyze_locally(
    title: str,
    body: str,
    language: str,
    embedder: Embedder | None,
    config: TaggerConfig = DEFAULT_CONFIG,
    story_vector: NDArray[np.float32] | None = None,
) -> LocalAnalysis:
    """Run every local-tier analysis on a story (title + body in its source language).

    ``story_vector``: the story's vector computed at ingest (tagging then embeds nothing)."""
    taxonomy = load_taxonomy()
    full_text = f"{title}\n{body}" if body else title
    entities = find_entities(full_text)
    summary = extractive_summary(body, language, title=title) if body else None
    summary_reason = None
    if summary is None:
        if language not in ("en", "zh"):
            summary_reason = f"no extractive summariser for language {language!r}"
        else:
            count = len(split_sentences(body, language)) if body else 0
            summary_reason = f"no sentence to summarise ({count} sentences besides the title)"
    return LocalAnalysis(
        language=language,
        tags=tag(body, language, title, embedder, taxonomy, config, entities, story_vector),
        entities=entities,
        keyphrases=keyphrases(full_text, language),
        amounts=parse_amounts(full_text),
        percentages=parse_percentages(full_text),
        summary=summary,
        summary_reason=summary_reason,
        taxonomy_version=taxonomy.version,
        embedder=embedder.name if embedder is not None else None,
    )


def to_event_section(local: LocalAnalysis, commentary_reason: str = NO_LLM_REASON) -> Analysis:
    """The ``Analysis`` event section for a story analysed by the local tier only.

    Status is ``partial``: no commentary (with ``commentary_reason``), and the summary exists only
    in the source language (translation of the summary is not the local tier's job).
    """
    summary = Bilingual()
    if local.summary is not None and local.language in ("en", "zh"):
        summary = Bilingual(**{local.language: local.summary})
    missing = [commentary_reason]
    if local.summary is None and local.summary_reason:
        missing.append(local.summary_reason)
    return Analysis(
        status=SectionStatus.PARTIAL,
        reason="local tier only: " + "; ".join(missing),
        summary=summary,
        summary_provenance=Provenance(tier="local") if local.summary is not None else None,
        commentary=Bilingual(),
        commentary_provenance=None,
        commentary_reason=commentary_reason,
        tags=[Tag(id=t.id, en=t.en, zh=t.zh, source="local", confidence=t.confidence) for t in local.tags],
        entities=[Entity(id=e.id, en=e.en, zh=e.zh, kind=e.kind, source="local") for e in local.entities],
        keyphrases=list(local.keyphrases),
        amounts=[Amount(text=a.text, value=a.value, currency=a.currency, usd=a.usd) for a in local.amounts],
        tiers=["local"],
    )
