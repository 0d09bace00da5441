"""The score stage's state of a story does not depend on the order its events arrive in
(services/score/usecase.py): every order of a realistic sequence (joins, a split revision, the
late analyzed event, a join after the split), each event delivered again afterwards, ends in the
same stored state, and no scored event published after the revision was handled counts a member
the revision removed. The same for the story a split created, whose revision usually reaches the
score stage before any of its events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from itertools import permutations
from typing import Any

import pytest

from services.score.usecase import ScoreUseCase, on_decay
from shared.core.item_revisions import RevisionState
from shared.events import StoryEvent, StoryMember, StoryRevised
from shared.pipeline import Outgoing
from tests.unit.test_score_usecase import (
    A1,
    A2,
    A3,
    A4,
    A5,
    CFG,
    MIN_CHANGE,
    MemoryStates,
    analyzed_event,
    joined_event,
    scored,
)

AFTER_A4 = A4.joined_at + timedelta(minutes=1)  # ingest's clock at the arrival that split the story
NOW = A5.joined_at + timedelta(minutes=5)  # the score stage's clock for every delivery
Event = StoryEvent | StoryRevised


def ids(members: Sequence[StoryMember]) -> list[str]:
    return [m.article_id for m in members]


def in_story(event: StoryEvent, story_id: str) -> StoryEvent:
    cluster = event.cluster.model_copy(update={"story_id": story_id})
    return event.model_copy(update={"story_id": story_id, "cluster": cluster})


def split(story_id: str, kept: list[StoryMember], **fields: Any) -> StoryRevised:
    """The split's revision of one of the two stories (ingest's clock as of a4's arrival)."""
    member_ids = [m.article_id for m in kept]
    return StoryRevised(
        story_id=story_id,
        revision=1,
        as_of=AFTER_A4,
        kind="split",
        member_ids=member_ids,
        members=kept,
        representative=member_ids[0],
        caused_by="a4",
        **fields,
    )


# The story that was split: a1 (its first article, analyzed late), a2 and a3 joined; a4 arrived
# and the index split a3 off with it into a new story; a5 joined after the split.
SPLIT_SOURCE: dict[str, Event] = {
    "analyzed a1": analyzed_event(A1),
    "joined a2": joined_event(A2, [A1, A2], "ev-j2"),
    "joined a3": joined_event(A3, [A1, A2, A3], "ev-j3"),
    "split": split("s1", [A1, A2], removed=["a3"]),
    "joined a5": joined_event(A5, [A1, A2, A5], "ev-j5"),
}

# The story the split created (new to the score stage): its revision, the analyzed event of its
# new representative (ingest re-ran it), and a join after the split.
SPLIT_CREATED: dict[str, Event] = {
    "split": split("s2", [A3, A4], rerun=True),
    "analyzed a3 (rerun)": in_story(analyzed_event(A3, [A3, A4], "ev-rerun-a3"), "s2"),
    "joined a5": in_story(joined_event(A5, [A3, A4, A5], "ev-s2-j5"), "s2"),
}

EXPECTED_MEMBERS = {"s1": ["a1", "a2", "a5"], "s2": ["a3", "a4", "a5"]}


class Run:
    """One arrival order through the use case, with what it published after the revision."""

    def __init__(self) -> None:
        self.repo = MemoryStates()
        self.usecase = ScoreUseCase(
            repository=self.repo, min_change=MIN_CHANGE, rescore_window_h=48.0, now=lambda: NOW
        )
        self.rule: RevisionState | None = None
        self.published: list[Outgoing] = []

    async def publish(self, out: Outgoing) -> bool:
        self.published.append(out)
        self.check(out)
        return True

    def check(self, out: Outgoing) -> None:
        if self.rule is None:
            return
        event = scored(out)
        members = event.cluster.members
        left = [m.article_id for m in members if not self.rule.is_member(m.article_id, m.joined_at)]
        assert not left, f"published after the revision with members it removed: {left}"
        assert event.article.article_id in ids(members), "published for an article that left"

    async def deliver(self, event: Event) -> None:
        if isinstance(event, StoryRevised):
            assert await self.usecase.revised(event, self.publish) == []
            self.rule = RevisionState(event.story_id, event.revision, event.as_of, tuple(event.member_ids))
            return
        handler = self.usecase.analyzed if event.analysis is not None else self.usecase.joined
        for out in await handler(event):
            await self.publish(out)

    def stored(self, story_id: str) -> dict[str, Any]:
        """The stored state without its delivery bookkeeping (write count, event ids seen)."""
        doc = dict(self.repo.docs[story_id])
        doc.pop("version")
        doc.pop("recent_events")
        return doc


async def final_state(story_id: str, events: dict[str, Event], order: Sequence[str]) -> dict[str, Any]:
    run = Run()
    for name in order:
        await run.deliver(events[name])
    once = run.stored(story_id)
    for name in order:  # every event delivered again (a redelivery after a lost ack)
        await run.deliver(events[name])
    assert run.stored(story_id) == once, "a redelivery changed the state"
    state = await run.repo.get(story_id)
    assert state is not None and ids(state.members) == EXPECTED_MEMBERS[story_id]
    # The decay re-score from that state counts exactly the members left.
    decay = on_decay(state, NOW + timedelta(hours=12), CFG, MIN_CHANGE)
    assert ids(scored(decay.outgoing).cluster.members) == EXPECTED_MEMBERS[story_id]
    return once


@pytest.mark.parametrize(("story_id", "events"), [("s1", SPLIT_SOURCE), ("s2", SPLIT_CREATED)])
async def test_every_arrival_order_ends_in_the_same_state(story_id: str, events: dict[str, Event]) -> None:
    natural = await final_state(story_id, events, list(events))
    assert natural["content"] is not None and natural["last_values"] is not None  # fully scored
    for order in permutations(events):
        assert await final_state(story_id, events, order) == natural, f"order {order}"


async def test_a_revision_before_the_story_s_first_event_is_kept_and_judges_it() -> None:
    run = Run()
    # The split's revision of the old story comes first, then an event decided before it that
    # still lists a3: a3 is not counted, not published, not stored.
    await run.deliver(SPLIT_SOURCE["split"])
    assert run.repo.docs["s1"]["revision"] == 1
    await run.deliver(SPLIT_SOURCE["joined a3"])
    await run.deliver(SPLIT_SOURCE["analyzed a1"])
    state = await run.repo.get("s1")
    assert state is not None and ids(state.members) == ["a1", "a2"]
    assert run.published and all("a3" not in ids(scored(o).cluster.members) for o in run.published)
