"""Hot, Quality and Impact scores (0-100, with components and formula version).

Pure functions: plain inputs (StoryFacts, ContentFacts) and an explicit `now`; constants from
shared/data/scoring.yaml (see docs/scoring.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from shared.core.scoring.config import ScoringConfig, ScoringConfigError, default_config, parse_config
from shared.core.scoring.facts import (
    ContentFacts,
    EngagementFacts,
    LLMRubric,
    MemberFacts,
    StoryFacts,
    content_facts_from_doc,
    content_facts_from_sections,
    content_facts_to_doc,
    story_facts_from_members,
)
from shared.core.scoring.hot import hot_score
from shared.core.scoring.impact import impact_score
from shared.core.scoring.originality import TextView, originality
from shared.core.scoring.quality import looks_like_paywall_teaser, quality_score
from shared.core.scoring.text import count_quotes, parse_user_counts
from shared.events import ScoreDetail

__all__ = [
    "ContentFacts",
    "EngagementFacts",
    "LLMRubric",
    "MemberFacts",
    "ScoringConfig",
    "ScoringConfigError",
    "StoryFacts",
    "TextView",
    "content_facts_from_doc",
    "content_facts_from_sections",
    "content_facts_to_doc",
    "count_quotes",
    "default_config",
    "hot_score",
    "impact_score",
    "looks_like_paywall_teaser",
    "originality",
    "parse_config",
    "parse_user_counts",
    "quality_score",
    "rescore_needed",
    "score_all",
    "score_values",
    "story_facts_from_members",
]


def score_all(
    story: StoryFacts, content: ContentFacts, now: datetime, config: ScoringConfig | None = None
) -> dict[str, ScoreDetail]:
    """{"hot", "quality", "impact"} for one story at `now`."""
    cfg = config or default_config()
    return {
        "hot": hot_score(story, now, cfg),
        "quality": quality_score(content, cfg),
        "impact": impact_score(content, cfg),
    }


def score_values(scores: Mapping[str, ScoreDetail | None]) -> dict[str, float]:
    """{"hot": 71.2, ...} for the scores present (the input of rescore_needed)."""
    return {name: detail.value for name, detail in scores.items() if detail is not None}


def rescore_needed(old: Mapping[str, float] | None, new: Mapping[str, float], min_change: float) -> bool:
    """Whether a re-score is worth publishing: nothing published yet, a score appeared or
    disappeared, or one moved by at least `min_change` points."""
    if min_change < 0:
        raise ValueError("min_change must be >= 0")
    if old is None or set(old) != set(new):
        return True
    return any(abs(new[name] - old[name]) >= min_change for name in new)
