"""Property tests (hypothesis) of the pure scoring formulas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.scoring import (
    ContentFacts,
    EngagementFacts,
    LLMRubric,
    MemberFacts,
    StoryFacts,
    hot_score,
    impact_score,
    quality_score,
    rescore_needed,
)
from shared.core.scoring.config import default_config

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SOURCES = [f"source-{i}" for i in range(12)]
TAGS = list(default_config().event_type_weights)
ENTITIES = ["openai", "nvidia", "cac", "european-commission", "lumora", "tsmc", "some-startup", "huawei"]

weights = st.floats(min_value=0.0, max_value=4.0, allow_nan=False)
engagements = st.one_of(
    st.none(),
    st.builds(
        EngagementFacts,
        rank=st.one_of(st.none(), st.integers(1, 500)),
        views=st.one_of(st.none(), st.integers(0, 10**9)),
        comments=st.one_of(st.none(), st.integers(0, 10**5)),
        likes=st.one_of(st.none(), st.integers(0, 10**6)),
    ),
)


@st.composite
def stories(draw: st.DrawFn) -> StoryFacts:
    """1-12 members that joined within the last 5 days, some duplicates, some with engagement."""
    count = draw(st.integers(1, 12))
    members: list[MemberFacts] = []
    for i in range(count):
        joined = NOW - timedelta(minutes=draw(st.integers(0, 5 * 24 * 60)))
        published = draw(st.one_of(st.none(), st.integers(0, 4 * 24 * 60)))
        dup_of = (
            draw(st.one_of(st.none(), st.sampled_from([m.article_id for m in members]))) if members else None
        )
        members.append(
            MemberFacts(
                article_id=f"a{i}",
                source_id=draw(st.sampled_from(SOURCES)),
                joined_at=joined,
                source_weight=draw(weights),
                published_at=None if published is None else joined - timedelta(minutes=published),
                near_duplicate_of=dup_of,
                language=draw(st.sampled_from(["en", "zh", "other"])),
                engagement=draw(engagements),
            )
        )
    return StoryFacts(members=tuple(members))


def last_joined(story: StoryFacts) -> datetime:
    return max(m.joined_at for m in story.members)


texts = st.text(
    alphabet=st.sampled_from(list('abc de.,!?\n"“”0123456789%$人工智能发布。，重磅颠覆')), max_size=400
)


@st.composite
def contents(draw: st.DrawFn) -> ContentFacts:
    rubric_scale = draw(st.sampled_from(["1-5", "0-100"]))
    low, high = (1.0, 5.0) if rubric_scale == "1-5" else (0.0, 100.0)
    score = st.floats(min_value=low, max_value=high, allow_nan=False)
    quality_rubric = draw(
        st.one_of(
            st.none(),
            st.builds(
                LLMRubric,
                scores=st.fixed_dictionaries({"depth": score, "writing": score}),
                scale=st.just(rubric_scale),
            ),
        )
    )
    impact_rubric = draw(
        st.one_of(
            st.none(),
            st.builds(
                LLMRubric, scores=st.fixed_dictionaries({"impact": score}), scale=st.just(rubric_scale)
            ),
        )
    )
    return ContentFacts(
        title=draw(texts),
        body=draw(texts),
        language=draw(st.sampled_from(["en", "zh", "other"])),
        tags=tuple(draw(st.lists(st.sampled_from([*TAGS, "not-a-tag"]), max_size=4))),
        entity_ids=tuple(draw(st.lists(st.sampled_from(ENTITIES), max_size=5))),
        amounts_usd=tuple(draw(st.lists(st.floats(0, 1e13, allow_nan=False), max_size=3))),
        user_counts=tuple(draw(st.lists(st.integers(0, 5 * 10**9), max_size=2))),
        quote_count=draw(st.one_of(st.none(), st.integers(0, 20))),
        translation_qa_flags=tuple(
            draw(
                st.lists(st.sampled_from(["number_mismatch", "name_mismatch", "wrong_language"]), max_size=3)
            )
        ),
        paywall_teaser=draw(st.booleans()),
        source_reputation=draw(weights),
        originality=draw(st.floats(0.0, 1.0)),
        coverage_languages=frozenset(draw(st.lists(st.sampled_from(["en", "zh"]), max_size=2))),
        quality_rubric=quality_rubric,
        impact_rubric=impact_rubric,
    )


@settings(max_examples=100, deadline=None)
@given(stories(), st.integers(0, 30 * 24 * 60))
def test_hot_is_within_0_and_100(story: StoryFacts, later_min: int) -> None:
    detail = hot_score(story, last_joined(story) + timedelta(minutes=later_min))
    assert 0.0 <= detail.value <= 100.0
    assert detail.formula_version == default_config().formula_versions["hot"]


@settings(max_examples=100, deadline=None)
@given(contents())
def test_quality_and_impact_are_within_0_and_100(content: ContentFacts) -> None:
    for detail in (quality_score(content), impact_score(content)):
        assert 0.0 <= detail.value <= 100.0
        assert detail.components


@settings(max_examples=100, deadline=None)
@given(stories(), weights, st.integers(1, 3 * 24 * 60), engagements)
def test_hot_never_falls_when_an_independent_source_joins(
    story: StoryFacts, weight: float, after_min: int, engagement: EngagementFacts | None
) -> None:
    now = last_joined(story) + timedelta(minutes=after_min)
    new_source = next(
        s for s in [*SOURCES, "brand-new-source"] if s not in {m.source_id for m in story.members}
    )
    joined = story.with_member(
        MemberFacts(
            article_id="new",
            source_id=new_source,
            joined_at=now,
            source_weight=weight,
            published_at=now - timedelta(hours=1),
            engagement=engagement,
        )
    )
    assert hot_score(joined, now).value >= hot_score(story, now).value


@settings(max_examples=100, deadline=None)
@given(stories(), st.integers(0, 10 * 24 * 60), st.integers(1, 3 * 24 * 60))
def test_hot_always_falls_with_age_when_nothing_joins(
    story: StoryFacts, start_min: int, more_min: int
) -> None:
    earlier = last_joined(story) + timedelta(minutes=start_min)
    later = earlier + timedelta(minutes=more_min)
    assert hot_score(story, later).value < hot_score(story, earlier).value


@settings(max_examples=100, deadline=None)
@given(stories(), weights, st.integers(0, 24 * 60), st.data())
def test_a_near_duplicate_raises_hot_less_than_an_independent_source(
    story: StoryFacts, weight: float, after_min: int, data: st.DataObject
) -> None:
    now = last_joined(story) + timedelta(minutes=after_min)
    original = data.draw(st.sampled_from([m.article_id for m in story.members]))
    new_source = next(
        s for s in [*SOURCES, "brand-new-source"] if s not in {m.source_id for m in story.members}
    )
    duplicate = story.with_member(
        MemberFacts(
            article_id="copy",
            source_id=new_source,
            joined_at=now,
            source_weight=weight,
            near_duplicate_of=original,
        )
    )
    independent = story.with_member(
        MemberFacts(article_id="copy", source_id=new_source, joined_at=now, source_weight=weight)
    )
    base = hot_score(story, now).value
    assert base <= hot_score(duplicate, now).value < hot_score(independent, now).value


@settings(max_examples=100, deadline=None)
@given(stories(), st.integers(0, 48 * 60), st.randoms(use_true_random=False))
def test_hot_does_not_depend_on_member_order(story: StoryFacts, after_min: int, rng: object) -> None:
    now = last_joined(story) + timedelta(minutes=after_min)
    shuffled = list(story.members)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert hot_score(StoryFacts(members=tuple(shuffled)), now) == hot_score(story, now)


@settings(max_examples=100, deadline=None)
@given(contents(), st.floats(1e3, 1e12), st.floats(2.0, 1000.0))
def test_impact_rises_with_the_money_magnitude(content: ContentFacts, amount: float, factor: float) -> None:
    smaller = ContentFacts(**{**content.__dict__, "amounts_usd": (amount,)})
    larger = ContentFacts(**{**content.__dict__, "amounts_usd": (amount * factor,)})
    assert impact_score(larger).value > impact_score(smaller).value


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["hot", "quality", "impact"]), st.floats(0, 100), min_size=1),
    st.floats(0.1, 20.0),
    st.data(),
)
def test_rescore_needed_only_when_a_score_moves_enough(
    old: dict[str, float], min_change: float, data: st.DataObject
) -> None:
    small = {
        k: min(100.0, max(0.0, v + data.draw(st.floats(-0.99, 0.99)) * min_change)) for k, v in old.items()
    }
    small = {k: v if abs(v - old[k]) < min_change else old[k] for k, v in small.items()}
    assert not rescore_needed(old, small, min_change)
    moved_key = data.draw(st.sampled_from(sorted(old)))
    moved = {**old, moved_key: old[moved_key] + min_change * 1.001}
    assert rescore_needed(old, moved, min_change)
    assert rescore_needed(None, old, min_change)
