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


def test_short_text_has_no_summary_and_the_reason_is_published() -> None:
    local = analyze_locally("台积电扩产", "台积电宣布扩大先进封装产能。", "zh", embedder=None)
    assert local.summary is None
    assert local.summary_reason is not None and "too short" in local.summary_reason
    section = to_event_section(local, commentary_reason="LLM answer rejected: invented company")
    assert section.summary.zh is None and section.summary_provenance is None
    assert section.commentary_reason == "LLM answer rejected: invented company"
    assert section.reason is not None and "too short" in section.reason
    assert "chips" in {t.id for t in section.tags}


def test_extractive_summary_keeps_sentence_order_and_length_limit() -> None:
    summary = extractive_summary(ZH_CHIPS, "zh", max_sentences=2, max_chars=120)
    assert summary is not None and len(summary) <= 120
    sentences = split_sentences(summary, "zh")
    assert len(sentences) <= 2
    positions = [ZH_CHIPS.index(s) for s in sentences]
    assert positions == sorted(positions)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_too_few_sentences_give_no_summary(language: str) -> None:
    assert extractive_summary("一句话。两句话。" if language == "zh" else "One. Two.", language) is None
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
