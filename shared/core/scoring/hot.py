"""Hot: how much attention a story is getting now. Deterministic and cluster-aware."""

from __future__ import annotations

import math
from datetime import datetime

from shared.core.scoring.config import EngagementConstants, HotConstants, ScoringConfig, default_config
from shared.core.scoring.facts import EngagementFacts, MemberFacts, StoryFacts
from shared.core.scoring.mapping import clamp, hill, log_ramp, rounded
from shared.core.scoring.reasons import hot_reasons
from shared.events import ScoreDetail


def _hours(seconds: float) -> float:
    return seconds / 3600.0


def story_started_at(members: tuple[MemberFacts, ...]) -> datetime:
    """When the story began: its first member's first sighting, or that member's publication time if
    earlier (a backfilled article is old on arrival). Later members never move the start."""
    first_seen = min(m.joined_at for m in members)
    starts = [first_seen]
    for m in members:
        if m.joined_at == first_seen and m.published_at is not None and m.published_at <= m.joined_at:
            starts.append(m.published_at)
    return min(starts)


def engagement_signal(engagement: EngagementFacts, constants: EngagementConstants) -> float:
    """0..1: the strongest of the member's signals (list rank, views, comments, likes)."""
    signals = [0.0]
    if engagement.rank is not None:
        signals.append(clamp(1.0 - math.log(engagement.rank) / math.log(constants.rank_horizon)))
    if engagement.views is not None:
        signals.append(log_ramp(engagement.views, constants.views_floor, constants.views_full))
    if engagement.comments is not None:
        signals.append(log_ramp(engagement.comments, constants.comments_floor, constants.comments_full))
    if engagement.likes is not None:
        signals.append(log_ramp(engagement.likes, constants.likes_floor, constants.likes_full))
    return max(signals)


def hot_score(story: StoryFacts, now: datetime, config: ScoringConfig | None = None) -> ScoreDetail:
    """Hot at `now`, from the members that had joined by then.

    raw = (ln(1 + coverage) + engagement_weight * ln(1 + engagement)) * 2^(-age_h / half_life_h)
          + velocity_weight * ln(1 + velocity);  value = Hill(raw)
    """
    cfg = config or default_config()
    c: HotConstants = cfg.hot
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    members = tuple(
        sorted((m for m in story.members if m.joined_at <= now), key=lambda m: (m.joined_at, m.article_id))
    )
    if not members:
        raise ValueError("no member of the story had joined by `now`: nothing to score")

    age_h = max(0.0, _hours((now - story_started_at(members)).total_seconds()))
    decay = 0.5 ** (age_h / c.half_life_h)

    seen_sources: set[str] = set()
    independent: list[MemberFacts] = []
    duplicate_weight = 0.0
    for m in members:
        weight = clamp(m.source_weight, c.source_weight_min, c.source_weight_max)
        if m.near_duplicate_of is None and m.source_id not in seen_sources:
            seen_sources.add(m.source_id)
            independent.append(m)
        else:
            duplicate_weight += weight
    independent_weight = sum(
        clamp(m.source_weight, c.source_weight_min, c.source_weight_max) for m in independent
    )
    duplicate_credit = min(c.duplicate_cap, c.duplicate_fraction * duplicate_weight)
    coverage = independent_weight + duplicate_credit

    # Velocity counts joins after the first independent source: a lone article is not momentum.
    velocity = sum(
        clamp(m.source_weight, c.source_weight_min, c.source_weight_max)
        * math.exp(-_hours((now - m.joined_at).total_seconds()) / c.velocity_tau_h)
        for m in independent[1:]
    )
    engagement = sum(engagement_signal(m.engagement, c.engagement) for m in members if m.engagement)

    coverage_points = math.log1p(coverage)
    engagement_points = c.engagement_weight * math.log1p(engagement)
    velocity_points = c.velocity_weight * math.log1p(velocity)
    raw = (coverage_points + engagement_points) * decay + velocity_points
    span_h = _hours((independent[-1].joined_at - independent[0].joined_at).total_seconds())
    components = {
        "independent_sources": float(len(independent)),
        "sources_zh": float(sum(1 for m in independent if m.language == "zh")),
        "span_h": span_h,
        "duplicates": float(len(members) - len(independent)),
        "coverage": coverage,
        "coverage_points": coverage_points,
        "engagement": engagement,
        "engagement_points": engagement_points,
        "age_h": age_h,
        "decay": decay,
        "velocity": velocity,
        "velocity_points": velocity_points,
        "raw": raw,
    }
    return ScoreDetail(
        value=hill(raw, c.mapping),
        components=rounded(components),
        formula_version=cfg.formula_versions["hot"],
        reasons=hot_reasons(components),
    )
