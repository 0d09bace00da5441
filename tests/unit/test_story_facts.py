"""Conflict vetoes of the clustering: facts that keep two stories apart whatever the cosine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.core.story_facts import StoryFacts, conflict, event_types, model_names


def facts(title: str, lead: str = "") -> StoryFacts:
    return StoryFacts.of(title, lead)


def test_model_names_are_folded_and_sizes_are_not_names() -> None:
    assert "gpt-5.5" in model_names("OpenAI launches GPT‑5.5")
    assert {"qwen2.5-coder"} <= model_names("Qwen2.5-Coder: Code More, Learn More!")
    assert "opus-5" in model_names("Anthropic launches Claude Opus 5 with a 1 million token context")
    assert model_names("字节开源3B视频模型，一张4090就能跑") == set()
    assert {"deepseek-v4", "v4"} <= model_names("DeepSeek-V4 is out")
    assert model_names("Revenue rose in October 2026") == set()


def test_same_day_releases_of_one_model_family_conflict() -> None:
    # Real (Qwen blog, 2024-09-19): two posts a few seconds apart, each lead naming the other.
    family = facts("Qwen2.5: A Party of Foundation Models!", "language models Qwen2.5 and Qwen2.5-Coder")
    coder = facts("Qwen2.5-Coder: Code More, Learn More!", "we introduced CodeQwen1.5 ... Qwen2.5")
    assert conflict(coder, family) == "model"
    zh_coder = facts("Qwen2.5-Coder: 码无止境，学无止境!", "四月初，我们发布了 CodeQwen1.5")
    assert conflict(zh_coder, coder) is None


def test_a_model_named_with_and_without_its_brand_is_one_model() -> None:
    en = facts("DeepSeek-V4 is out: open weights, 1M context and the same low price")
    zh = facts("DeepSeek发布V4模型，API价格维持不变")
    assert conflict(zh, en) is None


def test_different_amounts_conflict_the_same_amount_in_two_currencies_does_not() -> None:
    investment = facts("Nvidia Completes First $10 Billion Investment in OpenAI")
    valuation = facts(
        "OpenAI employee share sale values company at $750 billion", "a sale of about $10 billion"
    )
    assert conflict(investment, valuation) == "amount"
    zh = facts("首个吉瓦算力上线，英伟达向OpenAI完成首笔100亿美元投资")
    assert conflict(zh, investment) is None


def test_different_event_types_of_the_same_company_conflict() -> None:
    assert event_types("OpenAI employee share sale values company at $750 billion") == {"funding"}
    launch = facts("OpenAI launches GPT-5.5, says new model cuts hallucinations by half")
    ruling = facts("Judge rejects OpenAI bid to dismiss New York Times copyright claims")
    assert conflict(ruling, launch) == "event"
    # The same event type in the other language is no conflict.
    zh_launch = facts("OpenAI发布GPT-5.5：幻觉率减半，编程能力再提升")
    assert conflict(zh_launch, launch) is None


def test_different_organisations_and_years_conflict() -> None:
    capex = facts("字節跳動明年AI資本支出上看1600億人民幣 半數採購晶片")
    earnings = facts("輝達上季營收712億美元創新高 本季財測780億美元優於預期")
    assert conflict(capex, earnings) == "amount"  # 1600亿人民币 is not 712亿美元
    assert conflict(facts("字節跳動發布新模型"), facts("輝達發布新晶片")) == "organisation"
    arizona = facts("TSMC reportedly accelerates Arizona 2nm fab to 2027", "production in 2027")
    kumamoto = facts("台積電熊本二廠動工 預計2028年底營運", "預計2028年底營運")
    assert conflict(kumamoto, arizona) == "year"


def test_missing_facts_never_veto() -> None:
    assert conflict(facts("Nvidia's Rubin GPUs are now shipping"), facts("英伟达Vera Rubin开始出货")) is None
    assert conflict(StoryFacts(), facts("OpenAI launches GPT-5.5")) is None


def test_facts_round_trip_through_json() -> None:
    original = facts("Nvidia Completes First $10 Billion Investment in OpenAI in 2026", "GPT-5.5")
    assert StoryFacts.from_json(original.to_json()) == original
    dated = StoryFacts.of("Copy Fail", "", datetime(2026, 4, 29, 18, 13, tzinfo=UTC))
    assert StoryFacts.from_json(dated.to_json()) == dated


def test_reports_published_more_than_a_week_apart_are_different_news() -> None:
    # Real entries of two real feeds (Hacker News best, DeepSeek news) that one pass over the
    # feeds put into one story: short titles embed alike, and both were first seen at once.
    copy_fail = StoryFacts.of("Copy Fail", "", datetime(2026, 4, 29, 18, 13, tzinfo=UTC))
    deepseek = StoryFacts.of("DeepSeek-V3-0324 发布 2025/03/25", "", datetime(2025, 3, 25, tzinfo=UTC))
    assert conflict(copy_fail, deepseek) == "published" and conflict(deepseek, copy_fail) == "published"
    # A story's span grows with its members: a report four days after the last one still joins.
    story = StoryFacts.of("Nvidia's Rubin GPUs are now shipping", "", datetime(2026, 11, 2, tzinfo=UTC))
    story.add(StoryFacts.of("英伟达Vera Rubin开始出货", "", datetime(2026, 11, 6, tzinfo=UTC)))
    late = StoryFacts.of("Rubin shipments ramp", "", datetime(2026, 11, 6, tzinfo=UTC) + timedelta(days=4))
    assert conflict(late, story) is None
    assert conflict(StoryFacts.of("Rubin", "", datetime(2026, 11, 20, tzinfo=UTC)), story) == "published"
    # No publication time on either side: never a veto.
    assert conflict(facts("Copy Fail"), deepseek) is None


def test_a_variant_of_a_model_is_another_model() -> None:
    launch = facts("OpenAI launches GPT-5.5, says new model cuts hallucinations by half")
    mini = facts("OpenAI releases GPT-5.5 mini for developers at a fifth of the price", "GPT-5.5")
    assert conflict(mini, launch) == "model"
    assert conflict(facts("Qwen2.5 VL! Qwen2.5 VL!"), facts("Qwen2.5 VL！Qwen2.5 VL！")) is None
