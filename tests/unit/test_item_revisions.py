"""Revised stories in the item (shared/core/item_revisions.py): the member list of the newest
revision is authoritative, an older or repeated revision changes nothing, a member that left does
not come back with a later event, the text follows the members, an ended story is merged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.core.item_revisions import (
    RevisionState,
    apply_revision,
    is_newer,
    respect_revision,
    state_after,
)
from shared.core.items import merge_event
from shared.events import (
    Analysis,
    Article,
    Bilingual,
    Cluster,
    LanguageOrigins,
    LanguageText,
    ScoreDetail,
    Scores,
    SectionStatus,
    StoryEvent,
    StoryMember,
    StoryRevised,
    Tag,
    Translation,
    revision_msg_id,
)
from shared.items import Item

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def member(n: int, language: str = "en", minutes: int = 0, title: str | None = None) -> StoryMember:
    return StoryMember(
        article_id=f"a{n}",
        source_id=f"s{n}",
        source_name=f"Source {n}",
        url=f"https://s{n}.org/x",
        title=title or f"Title {n}",
        language=language,  # type: ignore[arg-type]
        joined_at=T0 + timedelta(minutes=minutes),
    )


ZH = member(2, "zh", 1, "台积电扩大先进封装产能")
EN3 = member(3, "en", 2, "TSMC adds packaging capacity in Taiwan")


def full_event(members: list[StoryMember]) -> StoryEvent:
    article = Article(
        article_id="a1",
        source_id="s1",
        source_name="Source 1",
        url="https://s1.org/x",
        canonical_url="https://s1.org/x",
        title="TSMC expands advanced packaging",
        summary="TSMC expands its advanced packaging capacity.",
        body="TSMC expands its advanced packaging capacity. " * 20,
        language="en",
        fetched_at=T0,
    )
    return StoryEvent(
        story_id="st",
        article_id="a1",
        article=article,
        cluster=Cluster(story_id="st", is_new=True, method="new", members=members),
        translation=Translation(
            status=SectionStatus.OK, source_language="en", title=Bilingual(zh="台积电扩产封装")
        ),
        analysis=Analysis(
            status=SectionStatus.OK,
            summary=Bilingual(en="TSMC expands packaging.", zh="台积电扩产封装。"),
            tags=[Tag(id="chips", en="Chips", zh="芯片", source="local")],
        ),
        scores=Scores(
            status=SectionStatus.OK,
            hot=ScoreDetail(value=40.0, formula_version="hot-test"),
            quality=ScoreDetail(value=70.0, formula_version="q-test"),
            impact=ScoreDetail(value=60.0, formula_version="i-test"),
            computed_at=T0,
        ),
    )


def item_with(members: list[StoryMember]) -> Item:
    merge = merge_event(None, None, full_event(members), T0)
    assert merge is not None
    return merge.item


def revision(
    n: int,
    member_ids: list[str],
    rows: list[StoryMember],
    *,
    minutes: int = 10,
    removed: tuple[str, ...] = (),
    merged_into: str | None = None,
    representative: str | None = None,
    rerun: bool = False,
) -> StoryRevised:
    return StoryRevised(
        story_id="st",
        revision=n,
        as_of=T0 + timedelta(minutes=minutes),
        kind="merged" if merged_into else "moved",
        member_ids=member_ids,
        members=rows,
        removed=list(removed),
        merged_into=merged_into,
        representative=representative,
        rerun=rerun,
    )


NOW = T0 + timedelta(minutes=30)


def test_sources_become_exactly_the_listed_members() -> None:
    item = item_with([member(1), ZH, EN3])
    assert [s.article_id for s in item.sources] == ["a1", "a2", "a3"]
    merge = apply_revision(
        item, revision(1, ["a1", "a2", "a4"], [member(1), ZH, member(4, "en", 5)], removed=("a3",)), NOW
    )
    assert merge.material
    assert [s.article_id for s in merge.item.sources] == ["a1", "a2", "a4"]
    assert merge.item.version == item.version + 1
    assert merge.reasons[0] == "story_revised"
    assert "source_added" in merge.reasons
    assert merge.item.change_reasons == list(merge.reasons)


def test_applying_the_same_revision_again_changes_nothing() -> None:
    item = item_with([member(1), ZH, EN3])
    rev = revision(1, ["a1", "a2"], [member(1), ZH], removed=("a3",))
    once = apply_revision(item, rev, NOW).item
    twice = apply_revision(once, rev, NOW)
    assert not twice.material
    assert twice.item.version == once.version


def test_only_a_newer_revision_is_applied() -> None:
    state = state_after(revision(3, ["a1"], [member(1)]))
    assert not is_newer(state, revision(3, ["a1"], [member(1)]))
    assert not is_newer(state, revision(2, ["a1", "a3"], [member(1), EN3]))
    assert is_newer(state, revision(4, ["a1", "a3"], [member(1), EN3]))
    assert is_newer(None, revision(1, ["a1"], [member(1)]))


def test_a_member_that_left_does_not_come_back_with_a_later_event() -> None:
    item = item_with([member(1), ZH, EN3])
    rev = revision(1, ["a1", "a2"], [member(1), ZH], removed=("a3",))
    revised = apply_revision(item, rev, NOW).item
    # The score stage still holds a3 (its state is a union) and re-scores the story with it.
    late = full_event([member(1), ZH, EN3]).next(
        translation=None,
        analysis=None,
        cluster=Cluster(story_id="st", is_new=False, method="url", members=[member(1), ZH, EN3]),
    )
    filtered = respect_revision(late, state_after(rev))
    assert filtered is not None
    assert [m.article_id for m in filtered.cluster.members] == ["a1", "a2"]
    merge = merge_event(revised, None, filtered, NOW)
    assert merge is not None
    assert [s.article_id for s in merge.item.sources] == ["a1", "a2"]
    # Without the revision state the old merge would have brought a3 back (the regression).
    unfiltered = merge_event(revised, None, late, NOW)
    assert unfiltered is not None and "a3" in [s.article_id for s in unfiltered.item.sources]


def test_a_member_that_joined_after_the_revision_is_kept() -> None:
    item = item_with([member(1), ZH, EN3])
    rev = revision(1, ["a1", "a2"], [member(1), ZH], minutes=10, removed=("a3",))
    late_joiner = member(5, "en", 20)
    joined = full_event([member(1), ZH, late_joiner]).next(
        translation=None,
        analysis=None,
        cluster=Cluster(story_id="st", is_new=False, method="url", members=[member(1), ZH, late_joiner]),
    )
    kept = respect_revision(joined, state_after(rev))
    assert kept is not None and [m.article_id for m in kept.cluster.members] == ["a1", "a2", "a5"]
    # And a repeated revision applied to an item that already has the late joiner keeps it.
    merged = merge_event(apply_revision(item, rev, NOW).item, None, kept, NOW)
    assert merged is not None
    again = apply_revision(merged.item, rev, NOW)
    assert "a5" in [s.article_id for s in again.item.sources]


def test_a_language_shown_from_a_member_that_left_is_chosen_again() -> None:
    other_zh = member(6, "zh", 3, "台积电宣布扩大先进封装产能")
    item = item_with([member(1), ZH])
    assert item.languages.zh is not None and item.languages.zh.article_id == "a2"
    assert item.title.zh == ZH.title
    # a2 moves away, another Chinese member takes its place as the story's Chinese text.
    merge = apply_revision(item, revision(1, ["a1", "a6"], [member(1), other_zh], removed=("a2",)), NOW)
    assert merge.item.title.zh == other_zh.title
    assert merge.item.languages.zh is not None and merge.item.languages.zh.article_id == "a6"
    # a2 moves away and no Chinese member remains: the language is missing, with the reason.
    gone = apply_revision(item, revision(1, ["a1"], [member(1)], removed=("a2",)), NOW).item
    assert gone.title.zh is None
    assert gone.languages.zh is not None and gone.languages.zh.reason == "source_left"
    assert gone.languages.zh.notice


def test_when_the_representative_leaves_its_text_goes_with_it() -> None:
    item = item_with([member(1), ZH, EN3])
    assert item.title.en == "TSMC expands advanced packaging"
    rev = revision(1, ["a2", "a3"], [ZH, EN3], removed=("a1",), representative="a3", rerun=True)
    revised = apply_revision(item, rev, NOW).item
    assert revised.representative_article_id == "a3"
    assert revised.title.en == EN3.title and revised.title.zh == ZH.title
    assert revised.summary == Bilingual()
    assert revised.analysis_reason and "moved to another story" in revised.analysis_reason
    assert revised.scores.quality is None and revised.scores.impact is None
    assert revised.scores.hot is not None
    assert revised.sources[0].article_id == "a3"
    # The re-run's full event for a3 restores the text (it is the representative now).
    rerun = full_event([ZH, EN3])
    rerun = rerun.model_copy(
        update={
            "article": rerun.article.model_copy(update={"article_id": "a3", "title": EN3.title}),
            "article_id": "a3",
        }
    )
    back = merge_event(revised, None, rerun, NOW + timedelta(minutes=5))
    assert back is not None and back.item.summary.en == "TSMC expands packaging."
    assert back.item.scores.quality is not None


def test_a_full_event_of_an_article_that_left_is_not_the_story_text() -> None:
    rev = revision(1, ["a2", "a3"], [ZH, EN3], removed=("a1",), representative="a3", rerun=True)
    stale = respect_revision(full_event([member(1), ZH, EN3]), state_after(rev))
    assert stale is not None and stale.translation is None and stale.analysis is None
    assert merge_event(None, None, stale, NOW) is None  # kept pending, not created from a1's text


def test_hot_follows_the_member_list() -> None:
    item = item_with([member(1), ZH, EN3])
    grown = apply_revision(
        item,
        revision(
            1, ["a1", "a2", "a3", "a7", "a8"], [member(1), ZH, EN3, member(7, "en", 4), member(8, "zh", 5)]
        ),
        NOW,
    )
    shrunk = apply_revision(item, revision(1, ["a1"], [member(1)], removed=("a2", "a3")), NOW)
    assert grown.item.scores.hot is not None and shrunk.item.scores.hot is not None
    assert grown.item.scores.hot.value > shrunk.item.scores.hot.value


def test_an_ended_story_is_merged_into_the_other() -> None:
    item = item_with([member(1), ZH])
    rev = revision(2, [], [], removed=("a1", "a2"), merged_into="other")
    merge = apply_revision(item, rev, NOW)
    assert merge.item.status == "merged" and merge.item.merged_into == "other"
    assert merge.reasons == ("merged",) and merge.item.sources == []
    state = state_after(rev)
    assert state.ended
    assert respect_revision(full_event([member(1)]), state) is None


def test_revision_state_round_trips_through_a_document() -> None:
    state = state_after(revision(2, ["a1", "a2"], [member(1), ZH], representative="a1"))
    doc = state.to_doc()
    doc["as_of"] = doc["as_of"].replace(tzinfo=None)  # the store may drop the zone
    assert RevisionState.from_doc(doc) == state


def test_a_broken_revision_is_rejected_by_the_contract() -> None:
    with pytest.raises(ValidationError):
        revision(1, ["a1", "a1"], [member(1)])
    with pytest.raises(ValidationError):
        revision(1, ["a1"], [member(1), ZH])  # a row for an article it does not list
    with pytest.raises(ValidationError):
        revision(1, ["a1"], [member(1)], merged_into="other")  # merged, yet has members
    with pytest.raises(ValidationError):
        revision(0, ["a1"], [member(1)])
    # The target becomes a redirect's Location: only an id, never a URL or a header break.
    for hostile in ("//evil.example/x", "https://evil.example/", "../admin", "st\r\nSet-Cookie: a=b"):
        with pytest.raises(ValidationError):
            revision(2, [], [], merged_into=hostile)
    assert revision(2, [], [], merged_into="st-b").merged_into == "st-b"


def test_msg_id_depends_on_story_revision_and_members() -> None:
    assert revision_msg_id("st", 1, ["a1", "a2"]) == revision_msg_id("st", 1, ["a1", "a2"])
    assert revision_msg_id("st", 1, ["a1", "a2"]) != revision_msg_id("st", 2, ["a1", "a2"])
    assert revision_msg_id("st", 1, ["a1", "a2"]) != revision_msg_id("st", 1, ["a1"])


def test_a_new_story_created_after_its_revision_lists_the_revised_members() -> None:
    # The newcomer a1 opened a story that took a2 and a3 from others; the revision reached publish
    # before the newcomer's own full event, which lists a1 only.
    rev = revision(1, ["a1", "a2", "a3"], [member(1), ZH, EN3], representative="a1")
    event = respect_revision(full_event([member(1)]), state_after(rev))
    assert event is not None
    merge = merge_event(None, None, event, NOW)
    assert merge is not None
    assert [s.article_id for s in merge.item.sources] == ["a1", "a2", "a3"]
    assert merge.item.title.zh == ZH.title  # the moved-in Chinese member writes the Chinese title
    alone = merge_event(None, None, full_event([member(1)]), NOW)
    assert alone is not None and len(alone.item.sources) == 1  # without the state: lost (old code)


def test_a_language_the_translate_stage_took_from_a_departed_member_is_not_shown() -> None:
    # Re-run of the story after a2 left: translate still saw a2 in ingest's member list.
    rev = revision(
        1, ["a1", "a6"], [member(1), member(6, "zh", 3, "台积电宣布扩大先进封装产能")], removed=("a2",)
    )
    event = full_event([member(1), ZH])
    assert event.translation is not None
    event = event.model_copy(
        update={
            "translation": event.translation.model_copy(
                update={
                    "title": Bilingual(zh=ZH.title),
                    "languages": LanguageOrigins(
                        zh=LanguageText(origin="source", article_id="a2", source_name="Source 2")
                    ),
                }
            )
        }
    )
    cleaned = respect_revision(event, state_after(rev))
    assert cleaned is not None and cleaned.translation is not None
    assert cleaned.translation.title.zh is None and cleaned.translation.languages.zh is None
    merge = merge_event(None, None, cleaned, NOW)
    assert merge is not None
    assert merge.item.title.zh == "台积电宣布扩大先进封装产能"
    assert merge.item.languages.zh is not None and merge.item.languages.zh.article_id == "a6"
