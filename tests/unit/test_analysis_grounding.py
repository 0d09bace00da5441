"""The analysis guard rails ground the model's summary and commentary with translation QA's own
fact checks: values in Chinese numerals and magnitudes, decades and names in pinyin must come from
the article (a real WMT news sentence, tests/data/translation_qa) or its translation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.core.analysis_llm import SourceText, TextLanguage, fact_failures
from shared.core.entities import Gazetteer, load_gazetteer
from shared.core.translation import Glossary
from shared.llm import load_glossary

DATA = Path(__file__).resolve().parents[1] / "data" / "translation_qa" / "wmt_zh_en_rows.jsonl"
ROWS = {raw["dev_row"]: raw for raw in map(json.loads, DATA.read_text(encoding="utf-8").splitlines())}


@pytest.fixture(scope="module")
def tools() -> tuple[Glossary, Gazetteer]:
    return load_glossary(), load_gazetteer()


def failures(
    text: str, language: TextLanguage, row: int, tools: tuple[Glossary, Gazetteer]
) -> set[tuple[str, str]]:
    """The model's ``text`` checked against a Chinese article (no translation available)."""
    glossary, gazetteer = tools
    sources = [SourceText(ROWS[row]["zh"], "zh")]
    return {
        (f.check, f.detail) for f in fact_failures(text, language, sources, glossary, gazetteer, "summary.en")
    }


def test_a_pinyin_name_must_be_the_articles_person(tools: tuple[Glossary, Gazetteer]) -> None:
    grounded = "Zhao Xiuping said the company has invested RMB 400 million in environmental protection."
    assert failures(grounded, "en", 32, tools) == set()
    invented = grounded.replace("Zhao Xiuping", "Zhang Wei")
    assert ("pinyin_name", "Zhang Wei") in failures(invented, "en", 32, tools)


def test_chinese_numerals_and_magnitudes_in_the_models_text_are_grounded(
    tools: tuple[Glossary, Gazetteer],
) -> None:
    # The article says 4个亿 (400 million).
    assert failures("赵秀平说,企业环保投资已达四个亿。", "zh", 32, tools) == set()
    assert failures("赵秀平说,企业环保投资已达四亿元。", "zh", 32, tools) == set()
    assert ("amount", "五个亿") in failures("赵秀平说,企业环保投资已达五个亿。", "zh", 32, tools)
    # 二十三岁 in the article; the model's English and Chinese must agree with it.
    assert failures("Xiao Xu, 23, graduated from university.", "en", 74, tools) == set()
    assert ("number", "24") in failures("Xiao Xu, 24, graduated from university.", "en", 74, tools)
    assert ("number", "三十二") in failures("三十二岁的小徐大学毕业。", "zh", 74, tools)


def test_decades_and_approximate_counts_are_grounded(tools: tuple[Glossary, Gazetteer]) -> None:
    # 上世纪70、80年代 = the 1970s and 1980s.
    assert failures("He grew up in rural China in the 1970s and 1980s.", "en", 111, tools) == set()
    assert ("decade", "1960s") in failures("He grew up in rural China in the 1960s.", "en", 111, tools)
    # 十多年前关闭 = closed more than ten years ago.
    assert failures("The coal yard has stood idle for more than 10 years.", "en", 6, tools) == set()
    assert ("number", "20") in failures("The coal yard has stood idle for 20 years.", "en", 6, tools)
