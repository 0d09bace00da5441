"""The score stage follows revised stories (services/score/usecase.py ``on_revised``): a member
that left no longer counts in decay's Hot, an older or repeated revision changes nothing, an ended
story is not re-scored, and a late event of a member that left does not bring it back."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.score.usecase import (
    ScoreState,
    ScoreUseCase,
    compute,
    on_analyzed,
    on_decay,
    on_joined,
    on_revised,
)
from shared.core.item_revisions import hot_of
from shared.events import StoryMember, StoryRevised
from shared.pipeline import Outgoing
from tests.unit.test_score_usecase import (
    A1,
    A2,
    A3,
    A4,
    CFG,
    MIN_CHANGE,
    MemoryStates,
    analyzed_event,
    joined_event,
    scored,
)

AFTER_A3 = A3.joined_at + timedelta(minutes=1)


def three_member_state() -> ScoreState:
    state = on_analyzed(None, analyzed_event(A1), A1.joined_at, CFG).state
    state = on_joined(state, joined_event(A2, [A1, A2], "ev-j2"), A2.joined_at, CFG, MIN_CHANGE).state
    return on_joined(state, joined_event(A3, [A1, A2, A3], "ev-j3"), A3.joined_at, CFG, MIN_CHANGE).state


def revision(number: int, members: list[StoryMember], *, removed: list[str], as_of: datetime) -> StoryRevised:
    return StoryRevised(
        story_id="s1",
        revision=number,
        as_of=as_of,
        kind="moved",
        member_ids=[m.article_id for m in members],
        members=members,
        removed=removed,
        caused_by="a9",
    )


A3_MOVED = revision(1, [A1, A2], removed=["a3"], as_of=AFTER_A3)


def ids(members: tuple[StoryMember, ...] | list[StoryMember]) -> list[str]:
    return [m.article_id for m in members]


def test_a_member_that_left_no_longer_counts_in_decay_hot() -> None:
    state = three_member_state()
    decision = on_revised(state, A3_MOVED, AFTER_A3, CFG)
    assert decision.outgoing is None  # publish applies the same revision to the item itself
    revised = decision.state
    assert ids(revised.members) == ["a1", "a2"] and revised.revision == 1
    assert revised.version == state.version + 1
    # The last published Hot is the one publish computed for the item from the kept members.
    expected = hot_of([A1, A2], AFTER_A3, CFG)
    assert expected is not None and revised.last_values is not None
    assert revised.last_values["hot"] == expected.value
    # Right after the revision decay has nothing to add (without it, the lower Hot of two
    # members would be compared with the three-member Hot and published).
    assert on_decay(revised, AFTER_A3 + timedelta(minutes=1), CFG, MIN_CHANGE).outgoing is None
    # Later, decay's Hot is that of the two members left.
    later = AFTER_A3 + timedelta(hours=12)
    out = scored(on_decay(revised, later, CFG, MIN_CHANGE).outgoing)
    assert ids(out.cluster.members) == ["a1", "a2"]
    # It is rebuilt from a member's article (the newest left), not from a3's, which left.
    assert out.article.article_id == "a2" and out.article.title == A2.title
    two = hot_of([A1, A2], later, CFG)
    assert out.scores is not None and out.scores.hot is not None and two is not None
    assert out.scores.hot.value == two.value
    stale = compute(state, later, CFG)["hot"]
    assert stale is not None and stale.value != two.value


def test_an_older_or_repeated_revision_changes_nothing() -> None:
    second = revision(2, [A1, A2], removed=["a3"], as_of=AFTER_A3)
    state = on_revised(three_member_state(), second, AFTER_A3, CFG).state
    first = revision(1, [A1, A2, A3], removed=[], as_of=A3.joined_at)
    for late in (second, first):
        decision = on_revised(state, late, AFTER_A3 + timedelta(minutes=5), CFG)
        assert decision.state is state and decision.outgoing is None
    assert ids(state.members) == ["a1", "a2"] and state.revision == 2


def test_an_ended_story_is_not_decayed_nor_re_scored_by_a_late_join() -> None:
    state = three_member_state()
    ended = StoryRevised(
        story_id="s1",
        revision=1,
        as_of=AFTER_A3,
        kind="merged",
        member_ids=[],
        removed=["a1", "a2", "a3"],
        merged_into="s2",
    )
    decision = on_revised(state, ended, AFTER_A3, CFG)
    assert decision.outgoing is None and decision.state.ended
    gone = decision.state
    assert on_decay(gone, AFTER_A3 + timedelta(hours=12), CFG, MIN_CHANGE).outgoing is None
    late = on_joined(gone, joined_event(A4, [A1, A2, A3, A4], "ev-j4"), A4.joined_at, CFG, MIN_CHANGE)
    assert late.outgoing is None and ids(late.state.members) == ids(gone.members)
    assert ScoreState.from_doc(late.state.to_doc()) == late.state


def test_a_late_event_of_a_member_that_left_does_not_bring_it_back() -> None:
    state = on_revised(three_member_state(), A3_MOVED, AFTER_A3, CFG).state
    # The join of a3 delivered again late (a new event id: not a redelivery of a known event).
    late = on_joined(state, joined_event(A3, [A1, A2, A3], "ev-j3-late"), AFTER_A3, CFG, MIN_CHANGE)
    assert ids(late.state.members) == ["a1", "a2"] and late.outgoing is None
    assert late.state.last_article_json == state.last_article_json  # decay is not rebuilt from a3
    # A new member that joined after the revision counts; the one that left, listed again, does not.
    joined = on_joined(late.state, joined_event(A4, [A1, A2, A3, A4], "ev-j4"), A4.joined_at, CFG, MIN_CHANGE)
    out = scored(joined.outgoing)
    assert ids(joined.state.members) == ["a1", "a2", "a4"] and ids(out.cluster.members) == ["a1", "a2", "a4"]
    # A full event of the article that left is not the story's text.
    full = on_analyzed(late.state, analyzed_event(A3, [A1, A2, A3], "ev-a3"), AFTER_A3, CFG)
    assert full.outgoing is None and full.state.representative == state.representative


def test_the_representative_leaving_drops_quality_and_impact_until_its_successor_is_analyzed() -> None:
    state = three_member_state()
    assert state.representative is not None and state.representative.article_id == "a1"
    rep_left = StoryRevised(
        story_id="s1",
        revision=1,
        as_of=AFTER_A3,
        kind="moved",
        member_ids=["a2", "a3"],
        members=[A2, A3],
        removed=["a1"],
        representative="a2",
        rerun=True,
    )
    revised = on_revised(state, rep_left, AFTER_A3, CFG).state
    assert revised.content is None and revised.representative is None
    assert revised.last_values is not None and set(revised.last_values) == {"hot"}
    out = scored(on_decay(revised, AFTER_A3 + timedelta(hours=12), CFG, MIN_CHANGE).outgoing)
    assert out.scores is not None and out.scores.quality is None and out.scores.impact is None


async def test_use_case_stores_the_revision_once() -> None:
    repo = MemoryStates()
    usecase = ScoreUseCase(
        repository=repo, min_change=MIN_CHANGE, rescore_window_h=48.0, now=lambda: AFTER_A3
    )
    published: list[Outgoing] = []

    async def publish(out: Outgoing) -> bool:
        published.append(out)
        return True

    await usecase.analyzed(analyzed_event(A1))
    await usecase.joined(joined_event(A2, [A1, A2], "ev-j2"))
    await usecase.joined(joined_event(A3, [A1, A2, A3], "ev-j3"))
    repo.conflicts = 1  # a concurrent writer wins first: the revision is applied to fresh state
    assert await usecase.revised(A3_MOVED, publish) == []
    stored = dict(repo.docs["s1"])
    assert stored["revision"] == 1 and [m["article_id"] for m in stored["members"]] == ["a1", "a2"]  # type: ignore[attr-defined]
    assert await usecase.revised(A3_MOVED, publish) == []  # a redelivery: no write
    assert repo.docs["s1"] == stored and published == []


async def test_a_decay_record_survives_a_stop_before_its_publish_and_is_cleared_once_out() -> None:
    clock = [AFTER_A3]
    repo = MemoryStates()
    usecase = ScoreUseCase(
        repository=repo, min_change=MIN_CHANGE, rescore_window_h=48.0, now=lambda: clock[0]
    )
    await usecase.analyzed(analyzed_event(A1))
    await usecase.joined(joined_event(A2, [A1, A2], "ev-j2"))

    async def stop(out: Outgoing) -> bool:
        raise ConnectionError("the process stops between its record and its publish")

    clock[0] = AFTER_A3 + timedelta(hours=12)
    with pytest.raises(ConnectionError):
        await usecase.decay_pass(stop)
    record = repo.docs["s1"]["unpublished_decay"]
    assert isinstance(record, list) and record[0].startswith("score:decay:s1:")
    published: list[Outgoing] = []

    async def publish(out: Outgoing) -> bool:
        published.append(out)
        repo.conflicts = 1 if len(published) == 1 else 0  # a join's write lands before the clear
        return True

    clock[0] = AFTER_A3 + timedelta(hours=13)  # the next pass: the recorded event, as recorded
    report = await usecase.decay_pass(publish)
    assert report.published == 1 and [o.msg_id for o in published] == [record[0]]
    assert repo.docs["s1"]["unpublished_decay"] is None
    assert (await usecase.decay_pass(publish)).published == 0  # not twice
