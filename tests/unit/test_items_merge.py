"""Folding events into the item: order-independent, idempotent, versioned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.core.items import merge_event, pending_with
from shared.events import (
    Analysis,
    Article,
    Bilingual,
    Cluster,
    ScoreDetail,
    Scores,
    SectionStatus,
    StoryEvent,
    StoryMember,
    Tag,
    Translation,
)

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def member(n: int, minutes: int = 0) -> StoryMember:
    return StoryMember(
        article_id=f"a{n}",
        source_id=f"s{n}",
        source_name=f"Source {n}",
        url=f"https://s{n}.org/x",
        title=f"Title {n}",
        language="en",
        joined_at=T0 + timedelta(minutes=minutes),
    )


def full_event(hot: float = 40.0) -> StoryEvent:
    article = Article(
        article_id="a1",
        source_id="s1",
        source_name="Source 1",
        url="https://s1.org/x",
        canonical_url="https://s1.org/x",
        title="TSMC expands packaging",
        summary="Lead.",
        language="en",
        fetched_at=T0,
    )
    return StoryEvent(
        story_id="st",
        article_id="a1",
        article=article,
        cluster=Cluster(story_id="st", is_new=True, method="new", members=[member(1)]),
        translation=Translation(
            status=SectionStatus.OK, source_language="en", title=Bilingual(zh="台积电扩产封装")
        ),
        analysis=Analysis(
            status=SectionStatus.OK, tags=[Tag(id="chips", en="Chips", zh="芯片", source="local")]
        ),
        scores=scores(hot, T0),
    )


def scores(hot: float, at: datetime) -> Scores:
    return Scores(
        status=SectionStatus.OK, hot=ScoreDetail(value=hot, formula_version="hot-test"), computed_at=at
    )


def rescore(members: list[StoryMember], hot: float, at: datetime) -> StoryEvent:
    base = full_event()
    return base.next(
        translation=None,
        analysis=None,
        scores=scores(hot, at),
        cluster=Cluster(story_id="st", is_new=False, method="url", members=members),
    )


def test_first_full_event_creates_a_bilingual_item() -> None:
    merge = merge_event(None, None, full_event(), T0)
    assert merge is not None and merge.created
    item = merge.item
    assert item.title == Bilingual(en="TSMC expands packaging", zh="台积电扩产封装")
    assert item.primary_tag == "chips" and item.version == 1
    assert [s.article_id for s in item.sources] == ["a1"]


def test_redelivered_event_changes_nothing() -> None:
    item = merge_event(None, None, full_event(), T0).item  # type: ignore[union-attr]
    again = merge_event(item, None, full_event(), T0 + timedelta(minutes=5))
    assert again is not None and not again.material and again.item.version == 1


def test_new_source_is_a_material_update_with_a_higher_version() -> None:
    item = merge_event(None, None, full_event(), T0).item  # type: ignore[union-attr]
    later = T0 + timedelta(hours=1)
    merge = merge_event(item, None, rescore([member(1), member(2, 30)], 55.0, later), later)
    assert merge is not None and merge.material
    assert merge.item.version == 2 and merge.item.updated_at == later
    assert [s.article_id for s in merge.item.sources] == ["a1", "a2"]
    assert merge.item.scores.hot is not None and merge.item.scores.hot.value == 55.0


def test_hot_sinking_with_age_is_stored_but_is_not_news() -> None:
    item = merge_event(None, None, full_event(), T0).item  # type: ignore[union-attr]
    later = T0 + timedelta(hours=18)
    decay = rescore([member(1)], 12.0, later)
    decay = decay.next(scores=decay.scores.model_copy(update={"trigger": "decay"}))  # type: ignore[union-attr]
    merge = merge_event(item, None, decay, later)
    assert merge is not None and not merge.material
    assert merge.item.scores.hot is not None and merge.item.scores.hot.value == 12.0
    assert merge.item.version == 1 and merge.item.updated_at == item.updated_at
    # The same Hot move on a join (new coverage) is news.
    joined = merge_event(item, None, rescore([member(1), member(2, 30)], 12.0, later), later)
    assert joined is not None and joined.material and joined.item.version == 2


def test_late_old_score_does_not_overwrite_a_newer_one() -> None:
    item = merge_event(None, None, full_event(), T0).item  # type: ignore[union-attr]
    newer = merge_event(item, None, rescore([member(1)], 70.0, T0 + timedelta(hours=2)), T0).item  # type: ignore[union-attr]
    stale = merge_event(newer, None, rescore([member(1)], 10.0, T0 + timedelta(hours=1)), T0)
    assert stale is not None and stale.item.scores.hot is not None and stale.item.scores.hot.value == 70.0


def test_rescore_before_the_story_is_kept_pending_then_folded_in() -> None:
    early = rescore([member(1), member(3, 5)], 30.0, T0 + timedelta(minutes=10))
    assert merge_event(None, None, early, T0) is None
    pending = pending_with(None, early)
    merge = merge_event(None, pending, full_event(hot=20.0), T0)
    assert merge is not None
    assert {s.article_id for s in merge.item.sources} == {"a1", "a3"}
    # the pending re-score is newer than the pipeline's first score
    assert merge.item.scores.hot is not None and merge.item.scores.hot.value == 30.0
