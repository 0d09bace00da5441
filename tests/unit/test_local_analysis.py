"""The local tier end to end (without the embedding model): tags, entities, amounts, key phrases,
extractive summary, and the Analysis event section it produces."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.core.keyphrases import keyphrases
from shared.core.local_analysis import NO_LLM_REASON, analyze_locally, to_event_section
from shared.core.summarize import extractive_summary, split_sentences
from shared.events import Analysis, SectionStatus

SAMPLE = (Path(__file__).resolve().parents[1] / "data" / "tagging" / "sample_item.txt").read_text("utf-8")


def paragraph(start: str, end: str) -> str:
    i = SAMPLE.index(start)
    return SAMPLE[i : SAMPLE.index(end, i)].strip()


ZH_BODY = paragraph("自动驾驶领域,Uber对Nuro", "葵花药业")
ZH_CHIPS = paragraph("技术前沿的进展冷静而缓慢", "自动驾驶领域,Uber对Nuro")
EN_BODY = paragraph("In autonomous driving, Uber invested", "Kuihua Pharmaceutical")


def test_chinese_story_local_analysis() -> None:
    local = analyze_locally("Uber对Nuro追加投资近5亿美元", ZH_BODY, "zh", embedder=None)
    assert local.tier == "local"
    assert {"autonomous-driving", "funding-ma"} <= {t.id for t in local.tags}
    assert {"uber", "nuro"} <= {e.id for e in local.entities}
    assert [(a.value, a.currency) for a in local.amounts] == [(500_000_000.0, "USD")] * 2
    assert "自动驾驶" in local.keyphrases  # kept whole by the domain dictionary
    assert local.summary is not None
    assert all(s in ZH_BODY for s in split_sentences(local.summary, "zh"))  # extracted, not written
    assert local.embedder is None and local.taxonomy_version


def test_english_story_local_analysis() -> None:
    local = analyze_locally("Uber puts nearly $500 million more into Nuro", EN_BODY, "en", embedder=None)
    assert "autonomous-driving" in {t.id for t in local.tags}
    assert local.amounts[0].usd == 500_000_000.0 and local.amounts[0].approx == "near"
    assert local.summary is not None
    assert all(s in EN_BODY for s in split_sentences(local.summary, "en"))


def test_event_section_has_no_commentary_and_says_why() -> None:
    local = analyze_locally("Uber对Nuro追加投资近5亿美元", ZH_BODY, "zh", embedder=None)
    section = to_event_section(local)
    assert isinstance(section, Analysis)
    assert section.status == SectionStatus.PARTIAL
    assert section.commentary.en is None and section.commentary.zh is None
    assert section.commentary_reason == NO_LLM_REASON
    assert section.tiers == ["local"]
    assert section.summary.zh == local.summary and section.summary.en is None
    assert section.summary_provenance is not None and section.summary_provenance.tier == "local"
    assert section.tags and all(t.source == "local" for t in section.tags)
    assert all(e.source == "local" for e in section.entities)
    assert {e.id for e in section.entities} >= {"uber", "nuro"}
    assert section.amounts[0].usd == 500_000_000.0
    # the section is a valid, serialisable part of the event contract
    assert Analysis.model_validate_json(section.model_dump_json()) == section


def test_a_short_article_is_its_own_summary() -> None:
    # One sentence after the headline: the lead sentence is the summary (it used to be none,
    # "text too short to summarise"), and the headline is not part of it.
    local = analyze_locally("台积电扩产", "台积电扩产\n台积电宣布扩大先进封装产能。", "zh", embedder=None)
    assert local.summary == "台积电宣布扩大先进封装产能。" and local.summary_reason is None
    section = to_event_section(local, commentary_reason="LLM answer rejected: invented company")
    assert section.summary.zh == local.summary and section.summary_provenance is not None
    assert section.commentary_reason == "LLM answer rejected: invented company"
    assert "chips" in {t.id for t in section.tags}


def test_a_text_of_only_the_headline_has_no_summary_and_says_why() -> None:
    local = analyze_locally("台积电扩产", "台积电扩产", "zh", embedder=None)
    assert local.summary is None and local.summary_reason is not None
    section = to_event_section(local)
    assert section.summary.zh is None and section.reason is not None and "no sentence" in section.reason


# The real failure: an extracted page body starts with the page's headline on its own line, and the
# summary glued it to the first sentence ("...data centres and power Foxconn, the Taiwanese...").
FOXCONN_TITLE = "Foxconn and SK Group team up on AI servers, data centres and power"
FOXCONN_BODY = (
    FOXCONN_TITLE + "\n\n"
    "Foxconn, the Taiwanese electronics maker formally known as Hon Hai Precision Industry, signed a "
    "memorandum of understanding with South Korea's SK Group on Wednesday to work together on AI servers, "
    "data centres and the energy needed to run them.\n\n"
    "Under the agreement, signed in Taipei by Foxconn chairman Young Liu and SK Group chairman Chey Tae-won, "
    "the companies will study joint data-centre projects in South Korea and Southeast Asia.\n\n"
    "Foxconn has been reinventing itself from an iPhone assembler into a supplier of AI infrastructure.\n\n"
    "The memorandum is not binding and the companies did not disclose any investment amounts."
)


@pytest.mark.parametrize("title", [FOXCONN_TITLE, None])
def test_the_headline_is_never_glued_to_the_summary(title: str | None) -> None:
    summary = extractive_summary(FOXCONN_BODY, "en", title=title)
    assert summary is not None
    assert "power Foxconn" not in summary and FOXCONN_TITLE not in summary
    assert summary.startswith("Foxconn, the Taiwanese electronics maker")


def test_the_chinese_headline_line_is_not_part_of_the_summary() -> None:
    body = (
        "鸿海与SK集团洽谈合作\n"
        "鸿海与SK集团周三签署合作备忘录。双方将研究数据中心项目。鸿海提供服务器。SK提供能源。"
    )
    summary = extractive_summary(body, "zh", title="鸿海与SK集团洽谈合作")
    assert summary is not None and "洽谈合作" not in summary


def test_a_long_single_sentence_is_clipped_at_a_clause() -> None:
    sentence = "工业和信息化部发布通知，" + "启动技术创新试点工作，" * 30 + "开展验证。"
    summary = extractive_summary(sentence, "zh", max_chars=60)
    assert summary is not None and len(summary) <= 60 and summary.endswith("…")
    assert sentence.startswith(summary[:-1])


def test_extractive_summary_keeps_sentence_order_and_length_limit() -> None:
    summary = extractive_summary(ZH_CHIPS, "zh", max_sentences=2, max_chars=120)
    assert summary is not None and len(summary) <= 120
    sentences = split_sentences(summary, "zh")
    assert len(sentences) <= 2
    positions = [ZH_CHIPS.index(s) for s in sentences]
    assert positions == sorted(positions)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_few_sentences_are_their_own_summary(language: str) -> None:
    text = "一句话。两句话。" if language == "zh" else "One. Two."
    assert extractive_summary(text, language) == text
    assert extractive_summary("", language) is None
    assert extractive_summary("Anything at all. More. Even more. Last.", "other") is None


def test_english_sentence_split_keeps_initials_and_abbreviations() -> None:
    text = "TSMC CEO C.C. Wei said U.S. rules matter. He added more. Then 2026 came."
    assert split_sentences(text, "en") == [
        "TSMC CEO C.C. Wei said U.S. rules matter.",
        "He added more.",
        "Then 2026 came.",
    ]


def test_keyphrases_keep_domain_words_whole() -> None:
    phrases = keyphrases(ZH_CHIPS, "zh", k=10)
    assert "台积电" in phrases and "先进封装" in phrases
    assert "台积" not in phrases
    assert keyphrases("", "zh") == [] and keyphrases("text", "other") == []
    en = keyphrases(EN_BODY, "en", k=6)
    assert 0 < len(en) <= 6 and "Nuro" in " ".join(en)
