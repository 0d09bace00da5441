"""The score stage's decisions (services/score/usecase.py): what is published on analyzed, joined
and decay, and what is not; originality; the stored state's round trip."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from services.score.rubric import LLMRubricJudge, RubricAnswer
from services.score.usecase import (
    HOT_ONLY_REASON,
    NO_LLM_REASON,
    ScoreState,
    ScoreUseCase,
    decay_msg_id,
    on_analyzed,
    on_decay,
    on_joined,
    score_values,
)
from shared.core.scoring import default_config
from shared.core.scoring.facts import content_facts_from_doc, content_facts_to_doc
from shared.core.scoring.originality import TextView, originality
from shared.events import (
    Amount,
    Analysis,
    Article,
    Bilingual,
    Cluster,
    Entity,
    SectionStatus,
    StoryEvent,
    StoryMember,
    Tag,
    Translation,
)
from shared.llm import LLMOutputInvalid, StructuredResult

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
CFG = default_config()
MIN_CHANGE = 3.0

TITLE = "TSMC lifts 2026 capital spending to $52 billion as AI chip orders climb"
BODY = (
    "Taiwan Semiconductor Manufacturing Co raised its capital spending plan for 2026 to $52 billion, "
    "up from $42 billion a year earlier, citing demand for advanced packaging from Nvidia and other "
    "AI chip designers.\n"
    "The company said revenue from high-performance computing made up 58% of its quarterly sales, and "
    "that its CoWoS packaging capacity would roughly double again next year.\n"
    '"Our customers\' demand for AI accelerators continues to be very strong," chief executive C.C. Wei '
    "told analysts on the earnings call.\n"
    "About 70% of the budget goes to 2-nanometre and 3-nanometre production, with the rest split "
    "between packaging and specialty processes."
)
REWRITE_TITLE = "TSMC lifts 2026 capital spending to $52 billion as AI chip orders climb, report says"
REWRITE_LEAD = (
    "Taiwan Semiconductor Manufacturing Co raised its capital spending plan for 2026 to $52 billion, "
    "up from $42 billion a year earlier, citing demand for advanced packaging from Nvidia and other "
    "AI chip designers."
)


def member(
    article_id: str,
    source_id: str,
    joined: datetime,
    *,
    language: str = "en",
    title: str = TITLE,
    weight: float = 1.0,
    published: datetime | None = None,
    duplicate_of: str | None = None,
) -> StoryMember:
    return StoryMember(
        article_id=article_id,
        source_id=source_id,
        source_name=source_id.title(),
        source_weight=weight,
        url=f"https://{source_id}.example.com/{article_id}",
        title=title,
        language=language,  # type: ignore[arg-type]
        published_at=published,
        joined_at=joined,
        near_duplicate_of=duplicate_of,
    )


def article(m: StoryMember, *, body: str | None = BODY, summary: str | None = None) -> Article:
    return Article(
        article_id=m.article_id,
        source_id=m.source_id,
        source_name=m.source_name,
        source_weight=m.source_weight,
        url=m.url,
        canonical_url=m.url,
        title=m.title,
        summary=summary,
        body=body,
        language=m.language,
        published_at=m.published_at,
        fetched_at=m.joined_at,
    )


def analyzed_event(
    rep: StoryMember, members: list[StoryMember] | None = None, event_id: str = "ev-analyzed"
) -> StoryEvent:
    translation = Translation(
        status=SectionStatus.OK,
        source_language="en",
        title=Bilingual(zh="台积电将2026年资本支出上调至520亿美元,AI芯片订单攀升"),
    )
    analysis = Analysis(
        status=SectionStatus.OK,
        tags=[Tag(id="chips", en="Chips", zh="芯片", source="local")],
        entities=[
            Entity(id="tsmc", en="TSMC", kind="company", source="local"),
            Entity(id="nvidia", en="Nvidia", kind="company", source="local"),
        ],
        amounts=[Amount(text="$52 billion", value=52e9, currency="USD", usd=52e9)],
    )
    return StoryEvent(
        event_id=event_id,
        story_id="s1",
        article_id=rep.article_id,
        article=article(rep),
        cluster=Cluster(story_id="s1", is_new=True, method="new", members=members or [rep]),
        translation=translation,
        analysis=analysis,
    )


def joined_event(
    new: StoryMember,
    members: list[StoryMember],
    event_id: str,
    *,
    body: str | None = None,
    summary: str | None = None,
) -> StoryEvent:
    return StoryEvent(
        event_id=event_id,
        story_id="s1",
        article_id=new.article_id,
        article=article(new, body=body, summary=summary),
        cluster=Cluster(story_id="s1", is_new=False, method="embedding", similarity=0.9, members=members),
    )


A1 = member("a1", "wire", T0, weight=1.2, published=T0 - timedelta(minutes=5))
A2 = member(
    "a2", "techdaily", T0 + timedelta(minutes=40), title="TSMC to spend up to $52bn next year on AI demand"
)
A3 = member("a3", "copysite", T0 + timedelta(minutes=50), title=REWRITE_TITLE, duplicate_of="a1")
A4 = member(
    "a4", "36kr", T0 + timedelta(minutes=70), language="zh", title="台积电将明年资本开支提高到520亿美元"
)
A5 = member(
    "a5", "eetimes", T0 + timedelta(minutes=90), title="TSMC budget jump signals packaging crunch easing"
)


def scored(decision_outgoing: object) -> StoryEvent:
    assert decision_outgoing is not None
    payload = decision_outgoing.payload  # type: ignore[attr-defined]
    assert isinstance(payload, StoryEvent) and payload.scores is not None
    return payload


# --- analyzed ---------------------------------------------------------------------------------


def test_analyzed_always_publishes_all_three_scores_with_components_and_versions() -> None:
    decision = on_analyzed(None, analyzed_event(A1), T0 + timedelta(minutes=10), CFG)
    out = scored(decision.outgoing)
    scores = out.scores
    assert scores is not None and scores.trigger == "analyzed" and scores.status == "ok"
    assert scores.reason == NO_LLM_REASON
    for name in ("hot", "quality", "impact"):
        detail = getattr(scores, name)
        assert detail is not None and detail.formula_version == CFG.formula_versions[name]
        assert detail.components and detail.llm_rubric is None
    assert scores.quality is not None and scores.quality.components["llm_weight"] == 0.0
    assert scores.quality.components["originality"] == 1.0  # nothing earlier in the story
    assert decision.outgoing is not None and decision.outgoing.msg_id == "score:ev-analyzed"
    assert decision.state.last_values == score_values(
        {"hot": scores.hot, "quality": scores.quality, "impact": scores.impact}
    )
    assert decision.state.version == 1


def test_analyzed_after_an_early_join_scores_all_members() -> None:
    early = on_joined(None, joined_event(A2, [A1, A2], "ev-j2"), A2.joined_at, CFG, MIN_CHANGE)
    early_out = scored(early.outgoing)
    assert early_out.scores is not None and early_out.scores.status == "partial"
    assert early_out.scores.reason == HOT_ONLY_REASON
    assert early_out.scores.quality is None and early_out.scores.impact is None
    decision = on_analyzed(early.state, analyzed_event(A1), A2.joined_at + timedelta(minutes=1), CFG)
    out = scored(decision.outgoing)
    assert [m.article_id for m in out.cluster.members] == ["a1", "a2"]
    assert out.scores is not None and out.scores.hot is not None
    assert out.scores.hot.components["independent_sources"] == 2.0


# --- joined -----------------------------------------------------------------------------------


def test_each_new_source_is_published_with_rising_hot() -> None:
    state = on_analyzed(None, analyzed_event(A1), T0 + timedelta(minutes=5), CFG).state
    hots = [state.last_values["hot"]] if state.last_values else []
    members = [A1]
    for index, new in enumerate([A2, A4, A5]):
        members = [*members, new]
        event = joined_event(new, members, f"ev-j{index}")
        decision = on_joined(state, event, new.joined_at, CFG, MIN_CHANGE)
        out = scored(decision.outgoing)
        assert out.scores is not None and out.scores.trigger == "joined"
        assert decision.why == "joined: new member"
        assert {m.article_id for m in out.cluster.members} == {m.article_id for m in members}
        assert out.scores.hot is not None
        hots.append(out.scores.hot.value)
        state = decision.state
    assert hots == sorted(hots) and hots[-1] > hots[0]
    assert len(hots) == 4


def test_a_near_duplicate_is_published_as_a_new_source_though_hot_barely_moves() -> None:
    state = on_analyzed(None, analyzed_event(A1), T0 + timedelta(minutes=5), CFG).state
    state = on_joined(state, joined_event(A2, [A1, A2], "ev-j2"), A2.joined_at, CFG, MIN_CHANGE).state
    decision = on_joined(state, joined_event(A3, [A1, A2, A3], "ev-j3"), A3.joined_at, CFG, MIN_CHANGE)
    out = scored(decision.outgoing)
    assert decision.why == "joined: new member"
    assert out.scores is not None and out.scores.hot is not None and state.last_values is not None
    assert abs(out.scores.hot.value - state.last_values["hot"]) < MIN_CHANGE
    assert out.scores.hot.components["duplicates"] == 1.0


def test_join_that_adds_nothing_and_moves_nothing_is_not_published() -> None:
    state = on_analyzed(None, analyzed_event(A1), T0 + timedelta(minutes=5), CFG).state
    first = on_joined(state, joined_event(A2, [A1, A2], "ev-j2"), A2.joined_at, CFG, MIN_CHANGE)
    assert first.outgoing is not None
    # An older join (its member list is a subset) arriving late, a minute on: nothing to announce.
    late = on_joined(
        first.state, joined_event(A1, [A1], "ev-old"), A2.joined_at + timedelta(minutes=1), CFG, MIN_CHANGE
    )
    assert late.outgoing is None and late.why == "joined: nothing new and no score moved enough"
    assert late.state.last_values == first.state.last_values
    assert late.state.recent_events["ev-old"] == ""


def test_redelivered_join_repeats_its_decision_with_the_same_msg_id() -> None:
    state = on_analyzed(None, analyzed_event(A1), T0 + timedelta(minutes=5), CFG).state
    first = on_joined(state, joined_event(A2, [A1, A2], "ev-j2"), A2.joined_at, CFG, MIN_CHANGE)
    again = on_joined(
        first.state,
        joined_event(A2, [A1, A2], "ev-j2"),
        A2.joined_at + timedelta(seconds=30),
        CFG,
        MIN_CHANGE,
    )
    assert first.outgoing is not None and again.outgoing is not None
    assert again.outgoing.msg_id == first.outgoing.msg_id == "score:ev-j2"
    quiet = on_joined(again.state, joined_event(A1, [A1], "ev-old"), A2.joined_at, CFG, MIN_CHANGE)
    assert quiet.outgoing is None
    repeat = on_joined(quiet.state, joined_event(A1, [A1], "ev-old"), A2.joined_at, CFG, MIN_CHANGE)
    assert repeat.outgoing is None and repeat.why.startswith("redelivered")


def test_join_of_an_earlier_published_original_lowers_originality_and_quality() -> None:
    # Our representative turns out to be a rewrite: the wire original, published an hour before,
    # is fetched later and joins the story.
    rewrite = member("r1", "aggregator", T0, published=T0 - timedelta(minutes=10))
    event = analyzed_event(rewrite)
    event = event.model_copy(update={"article": article(rewrite, body=None, summary=REWRITE_LEAD)})
    state = on_analyzed(None, event, T0, CFG).state
    before = scored(on_analyzed(None, event, T0, CFG).outgoing).scores
    original = member(
        "o1",
        "wire",
        T0 + timedelta(minutes=20),
        published=T0 - timedelta(hours=1),
        title=REWRITE_TITLE.removesuffix(", report says"),
        weight=1.2,
    )
    decision = on_joined(
        state,
        joined_event(original, [rewrite, original], "ev-o1", summary=REWRITE_LEAD),
        original.joined_at,
        CFG,
        MIN_CHANGE,
    )
    after = scored(decision.outgoing).scores
    assert before is not None and after is not None
    assert before.quality is not None and after.quality is not None
    assert before.quality.components["originality"] == 1.0
    assert after.quality.components["originality"] < 0.2
    assert after.quality.value < before.quality.value


# --- decay ------------------------------------------------------------------------------------


def test_decay_publishes_only_when_hot_moved_enough_and_with_a_deterministic_id() -> None:
    state = on_analyzed(None, analyzed_event(A1), T0, CFG).state
    assert on_decay(state, T0 + timedelta(minutes=5), CFG, MIN_CHANGE).outgoing is None
    later = T0 + timedelta(hours=12)
    decision = on_decay(state, later, CFG, MIN_CHANGE)
    out = scored(decision.outgoing)
    assert out.scores is not None and out.scores.trigger == "decay"
    assert out.scores.hot is not None and state.last_values is not None
    assert out.scores.hot.value <= state.last_values["hot"] - MIN_CHANGE
    assert out.article.article_id == "a1" and [m.article_id for m in out.cluster.members] == ["a1"]
    assert out.translation is None and out.analysis is None  # a re-score: publish keeps the content
    # Two passes (or two processes) at the same moment publish under one id.
    assert decision.outgoing is not None
    assert on_decay(state, later, CFG, MIN_CHANGE).outgoing.msg_id == decision.outgoing.msg_id  # type: ignore[union-attr]
    assert decision.outgoing.msg_id == decay_msg_id(
        decision.state,
        score_values({"hot": out.scores.hot, "quality": out.scores.quality, "impact": out.scores.impact}),
    )
    # Once recorded, the same moment publishes nothing.
    assert on_decay(decision.state, later + timedelta(minutes=1), CFG, MIN_CHANGE).outgoing is None


def test_decay_of_a_story_without_content_compares_hot_only() -> None:
    state = on_joined(None, joined_event(A2, [A1, A2], "ev-j2"), A2.joined_at, CFG, MIN_CHANGE).state
    assert state.last_values is not None and set(state.last_values) == {"hot"}
    out = scored(on_decay(state, A2.joined_at + timedelta(hours=10), CFG, MIN_CHANGE).outgoing)
    assert out.scores is not None and out.scores.quality is None and out.scores.status == "partial"


# --- originality and state --------------------------------------------------------------------


def test_originality_counts_copied_text_not_shared_headline_words() -> None:
    rep = {"en": TextView("en", REWRITE_TITLE, REWRITE_LEAD)}
    assert originality(rep, []) == 1.0
    assert originality(rep, [TextView("en", TITLE, REWRITE_LEAD)]) < 0.2
    # Known only by a similar title: weak evidence, at most half off.
    title_only = originality(rep, [TextView("en", TITLE, None)])
    assert 0.5 <= title_only < 0.7
    unrelated = TextView(
        "en",
        "Mistral opens a Paris office for enterprise sales",
        "The French lab hired forty people for its new sales team.",
    )
    assert originality(rep, [unrelated]) > 0.9
    # A member in a language the representative has no text in cannot be compared.
    assert originality(rep, [TextView("zh", "台积电资本开支", "台积电将资本开支提高到520亿美元。")]) == 1.0


def test_state_round_trips_through_its_stored_form() -> None:
    state = on_analyzed(None, analyzed_event(A1), T0, CFG).state
    state = on_joined(
        state,
        joined_event(A2, [A1, A2], "ev-j2", summary="TSMC will spend more."),
        A2.joined_at,
        CFG,
        MIN_CHANGE,
    ).state
    restored = ScoreState.from_doc(state.to_doc())
    assert restored == state
    assert state.content is not None
    assert content_facts_from_doc(content_facts_to_doc(state.content)) == state.content


# --- the use case with a repository -----------------------------------------------------------


class MemoryStates:
    """An in-memory StateRepository that can make the next saves lose to a concurrent writer."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, object]] = {}
        self.conflicts = 0

    async def get(self, story_id: str) -> ScoreState | None:
        doc = self.docs.get(story_id)
        return ScoreState.from_doc(doc) if doc else None

    async def save(self, state: ScoreState, expected_version: int) -> bool:
        if self.conflicts:
            self.conflicts -= 1
            return False
        stored = self.docs.get(state.story_id)
        if int(stored["version"] if stored else 0) != expected_version:  # type: ignore[call-overload]
            return False
        self.docs[state.story_id] = state.to_doc()
        return True

    async def young(self, since: datetime, limit: int) -> list[ScoreState]:
        # As the Mongo query: a state without members (only a revision known) has no first_seen_at.
        dated = [(s.first_seen_at, s) for s in map(ScoreState.from_doc, self.docs.values())]
        young = [(first, s) for first, s in dated if first is not None and first >= since]
        return [s for _, s in sorted(young, key=lambda pair: pair[0], reverse=True)][:limit]


async def test_use_case_retries_a_lost_write_and_decays_with_its_clock() -> None:
    clock = [T0]
    repo = MemoryStates()
    usecase = ScoreUseCase(
        repository=repo, min_change=MIN_CHANGE, rescore_window_h=48.0, now=lambda: clock[0]
    )
    assert len(await usecase.analyzed(analyzed_event(A1))) == 1
    repo.conflicts = 2  # two concurrent writers win first: the join is re-applied on fresh state
    clock[0] = A2.joined_at
    out = await usecase.joined(joined_event(A2, [A1, A2], "ev-j2"))
    assert len(out) == 1 and repo.docs["s1"]["version"] == 2

    published: list[StoryEvent] = []

    async def publish(outgoing: object) -> bool:
        published.append(scored(outgoing))
        return True

    clock[0] = A2.joined_at + timedelta(minutes=1)
    assert (await usecase.decay_pass(publish)).published == 0
    clock[0] = T0 + timedelta(hours=20)
    report = await usecase.decay_pass(publish)
    assert report.scanned == 1 and report.published == 1
    clock[0] = T0 + timedelta(hours=49)  # out of the window: no longer re-scored
    assert (await usecase.decay_pass(publish)).scanned == 0
    assert [e.scores.trigger for e in published if e.scores] == ["decay"]


def test_min_change_must_not_be_negative() -> None:
    state = on_analyzed(None, analyzed_event(A1), T0, CFG).state
    with pytest.raises(ValueError):
        on_decay(state, T0 + timedelta(hours=1), CFG, -1.0)


# --- the optional LLM rubric ------------------------------------------------------------------


class StubGateway:
    """Answers like shared.llm.LLMGateway.structured: a fixed answer, or a rejection."""

    def __init__(self, answer: RubricAnswer | None) -> None:
        self.answer = answer
        self.calls: list[list[dict[str, str]]] = []

    async def structured(
        self,
        messages: Sequence[dict[str, str]],
        output: type[RubricAnswer],
        *,
        prompt_version: str,
        max_tokens: int = 200,
        temperature: float = 0.0,
    ) -> StructuredResult[RubricAnswer]:
        self.calls.append(list(messages))
        if self.answer is None:
            raise LLMOutputInvalid("truncated JSON")
        return StructuredResult(
            value=self.answer,
            model="stub",
            prompt_version=prompt_version,
            cached=False,
            requests=1,
            input_tokens=10,
            output_tokens=10,
        )


async def test_llm_rubric_is_blended_in_and_kept_for_re_scores() -> None:
    gateway = StubGateway(
        RubricAnswer(depth=4, relevance=5, writing=4, practicality=4, significance=4, breadth=4)
    )
    judge = LLMRubricJudge(gateway)
    repo = MemoryStates()
    usecase = ScoreUseCase(
        repository=repo, min_change=MIN_CHANGE, rescore_window_h=48.0, now=lambda: T0, judge=judge
    )
    out = scored((await usecase.analyzed(analyzed_event(A1)))[0])
    assert len(gateway.calls) == 1
    prompt = gateway.calls[0][1]["content"]
    assert TITLE in prompt and "Chips" in prompt and "<source_text>" in prompt
    assert out.scores is not None and out.scores.reason is None
    assert out.scores.quality is not None and out.scores.impact is not None
    expected = {"depth": 4.0, "relevance": 5.0, "writing": 4.0, "practicality": 4.0}
    assert out.scores.quality.llm_rubric == expected
    assert out.scores.quality.components["llm_weight"] > 0 and out.scores.impact.components["llm_weight"] > 0
    # A join re-uses the stored rubric: no second call.
    joined = scored((await usecase.joined(joined_event(A2, [A1, A2], "ev-j2")))[0])
    assert len(gateway.calls) == 1
    assert joined.scores is not None and joined.scores.quality is not None
    assert joined.scores.quality.llm_rubric == out.scores.quality.llm_rubric and joined.scores.reason is None


async def test_rejected_llm_rubric_scores_without_it_and_says_why() -> None:
    quality, impact, reason = await LLMRubricJudge(StubGateway(None)).judge(analyzed_event(A1))
    assert quality is None and impact is None
    assert reason is not None and "LLMOutputInvalid" in reason


async def test_rubric_failure_is_logged_with_the_whole_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="newsroom.score.rubric")
    await LLMRubricJudge(StubGateway(None)).judge(analyzed_event(A1))
    failures = [r for r in caplog.records if r.name == "newsroom.score.rubric"]
    assert len(failures) == 1
    assert failures[0].__dict__["error"] == "truncated JSON" and failures[0].__dict__["story_id"] == "s1"


async def test_a_rejected_rubric_scores_exactly_like_no_model() -> None:
    with_failed_judge = ScoreUseCase(
        repository=MemoryStates(),
        min_change=MIN_CHANGE,
        rescore_window_h=48.0,
        now=lambda: T0,
        judge=LLMRubricJudge(StubGateway(None)),
    )
    without_model = ScoreUseCase(
        repository=MemoryStates(), min_change=MIN_CHANGE, rescore_window_h=48.0, now=lambda: T0
    )
    failed = scored((await with_failed_judge.analyzed(analyzed_event(A1)))[0]).scores
    plain = scored((await without_model.analyzed(analyzed_event(A1)))[0]).scores
    assert failed is not None and plain is not None
    assert failed.quality is not None and plain.quality is not None
    assert failed.impact is not None and plain.impact is not None
    assert failed.quality.value == plain.quality.value and failed.impact.value == plain.impact.value


def test_a_failed_translation_model_scores_like_no_translation() -> None:
    event = analyzed_event(A1)
    failed = event.model_copy(
        update={
            "translation": Translation(
                status=SectionStatus.FAILED,
                source_language="en",
                qa_flags=["title:no_translation"],
                reason="title: the model gave no usable title translation",
            )
        }
    )
    none = event.model_copy(update={"translation": None})
    q_failed = scored(on_analyzed(None, failed, T0, CFG).outgoing).scores
    q_none = scored(on_analyzed(None, none, T0, CFG).outgoing).scores
    assert q_failed is not None and q_none is not None and q_failed.quality and q_none.quality
    assert q_failed.quality.value == q_none.quality.value


def test_scored_events_carry_readable_reasons_with_names_from_the_analysis() -> None:
    out = scored(on_analyzed(None, analyzed_event(A1), T0, CFG).outgoing).scores
    assert out is not None and out.hot and out.quality and out.impact
    assert out.hot.reasons[0].en == "One source so far."
    assert out.impact.reasons[0].en == "Names Nvidia and TSMC; chips."
    assert out.impact.reasons[0].zh == "涉及 Nvidia、TSMC；芯片。"
    assert ("Involves $52 billion.", "涉及金额 520 亿美元。") in [(r.en, r.zh) for r in out.impact.reasons]
    # Re-scores from the stored state keep the names.
    state = on_analyzed(None, analyzed_event(A1), T0, CFG).state
    decayed = on_decay(ScoreState.from_doc(state.to_doc()), T0 + timedelta(hours=30), CFG, 0.0)
    again = scored(decayed.outgoing).scores
    assert again is not None and again.impact is not None
    assert again.impact.reasons[0].en == "Names Nvidia and TSMC; chips."
