"""Readable score reasons (shared/core/scoring/reasons.py) and the failed-model rule of Quality."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.core.scoring import (
    ContentFacts,
    MemberFacts,
    StoryFacts,
    content_facts_from_doc,
    content_facts_to_doc,
    hot_score,
    impact_score,
    quality_score,
)
from shared.core.scoring.reasons import duration, impact_reasons, money, quality_reasons
from shared.events import ScoreDetail

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

ARTICLE = (
    "OpenAI and Apple said on Tuesday that ChatGPT will be built into Siri on 1.5 billion active "
    "iPhones from next spring, in a deal worth about $2 billion a year to OpenAI.\n\n"
    '"This puts our models in more hands than any launch before," chief executive Sam Altman said '
    "in a statement. Apple will pay per request and keep requests anonymous, the companies said.\n\n"
    "Analysts at Morgan Stanley estimated that 40% of iPhone owners would try the feature within "
    "a year, and that Google could lose up to 8% of its mobile search queries."
)


def member(
    article_id: str, source_id: str, hours_ago: float, language: str = "en", duplicate_of: str | None = None
) -> MemberFacts:
    return MemberFacts(
        article_id=article_id,
        source_id=source_id,
        joined_at=NOW - timedelta(hours=hours_ago),
        language=language,
        near_duplicate_of=duplicate_of,
    )


def texts(detail: ScoreDetail) -> list[tuple[str, str]]:
    return [(r.en, r.zh) for r in detail.reasons]


def whole_sentence(text: str) -> bool:
    return text.endswith((".", "。")) and "…" not in text


# --- Hot ----------------------------------------------------------------------------------------


def test_hot_reason_counts_sources_span_and_chinese_ones() -> None:
    story = StoryFacts(
        members=(
            member("a1", "reuters", 8),
            member("a2", "36kr", 6, "zh"),
            member("a3", "bloomberg", 4),
            member("a4", "jiqizhixin", 2, "zh"),
            member("a5", "wire-copy", 1, duplicate_of="a1"),
        )
    )
    detail = hot_score(story, NOW)
    assert detail.components["independent_sources"] == 4
    assert detail.components["sources_zh"] == 2 and detail.components["span_h"] == 6
    first = texts(detail)[0]
    assert first == (
        "4 independent sources in 6 hours, 2 of them in Chinese.",
        "6 小时内 4 个独立来源，其中 2 个中文。",
    )
    assert any("1 copy of the same text" in en for en, _ in texts(detail))
    assert all(whole_sentence(en) and whole_sentence(zh) for en, zh in texts(detail))


def test_hot_reason_for_a_lone_old_article() -> None:
    detail = hot_score(StoryFacts(members=(member("a1", "36kr", 81, "zh"),)), NOW)
    en = [r.en for r in detail.reasons]
    assert en[0] == "One source so far."
    assert "First seen 3 days ago, so attention has faded." in en
    assert "首次出现于 3 天前，热度已经减退。" in [r.zh for r in detail.reasons]
    # The raw component names never reach the sentences.
    assert not any("age_h" in r.en or "coverage_points" in r.en for r in detail.reasons)


def test_durations_and_money_read_naturally() -> None:
    assert duration(0.4) == ("24 minutes", "24 分钟")
    assert duration(1) == ("1 hour", "1 小时")
    assert duration(81.02) == ("3 days", "3 天")
    assert money(1.2e9) == ("$1.2 billion", "12 亿美元")
    assert money(3e7) == ("$30 million", "3000 万美元")


# --- Quality ------------------------------------------------------------------------------------


def test_quality_reasons_describe_length_figures_and_quotes() -> None:
    detail = quality_score(ContentFacts(title="ChatGPT comes to Siri", body=ARTICLE, language="en"))
    first_en, first_zh = texts(detail)[0]
    assert first_en.startswith("About ") and "words" in first_en and "figures" in first_en
    assert "1 quote" in first_en
    assert "个数据" in first_zh and "1 处引语" in first_zh


def test_quality_reasons_name_a_teaser_and_its_penalties() -> None:
    notice = ContentFacts(
        title="致歉",
        body="关于昨日文章中的错误，我们深表歉意。",
        language="zh",
        translation_qa_flags=("title:number_mismatch:5亿",),
        paywall_teaser=True,
    )
    reasons = texts(quality_score(notice))
    assert reasons[0] == ("Only a paywall teaser is readable.", "付费墙后，只能读到导语。")
    assert any("translation check found 1 problem" in en for en, _ in reasons)
    assert ("Reads as a notice or a call to action, not news.", "更像通知或广告，而不是新闻。") in reasons
    assert any("只是导语或短讯" in zh for _, zh in reasons)
    assert all(whole_sentence(en) and whole_sentence(zh) for en, zh in reasons)


def test_an_empty_body_says_so() -> None:
    detail = quality_score(ContentFacts(title="Project Glasswing", body="", language="en"))
    assert texts(detail)[0] == ("No text beyond the title.", "除标题外没有正文。")


def test_quality_reasons_keep_sentences_whole_when_many_apply() -> None:
    components = {
        "penalty_paywall": 0.25,
        "penalty_translation_qa": 0.24,
        "translation_qa_flags": 2,
        "marketing_hits": 3,
        "word_units": 40,
        "originality": 0.1,
        "llm_weight": 0.5,
        "llm": 0.5,
    }
    reasons = quality_reasons(components, "en")
    assert len(reasons) == 4  # the most telling four, each whole
    assert all(whole_sentence(r.en) and whole_sentence(r.zh) for r in reasons)


# --- Impact -------------------------------------------------------------------------------------


def test_impact_reasons_name_entities_event_and_money_in_both_languages() -> None:
    content = ContentFacts(
        title="t",
        body=ARTICLE,
        language="en",
        tags=("product-launch",),
        entity_ids=("openai", "apple"),
        amounts_usd=(2e9,),
        user_counts=(1_500_000_000,),
        coverage_languages=frozenset({"en", "zh"}),
        labels={
            "openai": ("OpenAI", "OpenAI"),
            "apple": ("Apple", "苹果"),
            "product-launch": ("Product launch", "产品发布"),
        },
    )
    reasons = texts(impact_score(content))
    assert reasons[0] == ("Names OpenAI and Apple; product launch.", "涉及 OpenAI、苹果；产品发布。")
    assert ("Involves $2 billion.", "涉及金额 20 亿美元。") in reasons
    assert ("Reaches 1.5 billion users.", "涉及 15 亿用户。") in reasons
    assert any(en.startswith("Covered in English and Chinese") for en, _ in reasons)


def test_impact_reasons_without_labels_fall_back_to_ids_and_say_when_nothing_is_named() -> None:
    assert impact_reasons({}, [], [])[0].en.startswith("No major company")
    content = ContentFacts(title="t", body="x", language="en", entity_ids=("nexaflow",))
    assert impact_score(content).reasons[0].en.startswith("Names nexaflow")


def test_labels_survive_the_state_document() -> None:
    content = ContentFacts(
        title="t",
        body="b",
        language="zh",
        entity_ids=("apple",),
        labels={"apple": ("Apple", "苹果"), "x": ("X", None)},
    )
    back = content_facts_from_doc(content_facts_to_doc(content))
    assert back.labels == {"apple": ("Apple", "苹果"), "x": ("X", None)}
    assert content_facts_from_doc({**content_facts_to_doc(content), "labels": None}).labels == {}


# --- a failed model never scores below no model ------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [("title:no_translation",), ("title:no_translation", "body:no_translation"), ("summary:no_translation",)],
)
def test_a_missing_translation_costs_nothing(flags: tuple[str, ...]) -> None:
    no_model = quality_score(ContentFacts(title="t", body=ARTICLE, language="en"))
    failed_model = quality_score(
        ContentFacts(title="t", body=ARTICLE, language="en", translation_qa_flags=flags)
    )
    assert failed_model.value == no_model.value
    assert failed_model.components["penalty_translation_qa"] == 0


def test_a_published_translation_with_a_wrong_number_still_costs() -> None:
    base = quality_score(ContentFacts(title="t", body=ARTICLE, language="en")).value
    flagged = quality_score(
        ContentFacts(
            title="t",
            body=ARTICLE,
            language="en",
            translation_qa_flags=("title:no_translation", "body:numbers:5亿"),
        )
    )
    assert flagged.components["translation_qa_flags"] == 1
    assert flagged.value < base
