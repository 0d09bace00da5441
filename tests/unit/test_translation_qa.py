"""Translation core: the QA checks (good translations pass, the known model mistakes are caught),
quantities, names, glossary, chunking and prompt variables. Pure: no server, no model."""

from __future__ import annotations

import pytest

from shared.core.translation import (
    Glossary,
    Segment,
    check_translation,
    chunk_body,
    estimate_tokens,
    extract_quantities,
    join_chunks,
    latin_names,
    paragraph_separator,
    translate_prompt_variables,
)
from shared.llm import load_glossary, load_prompt
from tests.support.translation_samples import PARAGRAPHS, SUMMARY, TITLE


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return load_glossary()


def checks(failures: list) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(f.check, f.detail) for f in failures}


@pytest.mark.parametrize("pair", [TITLE, SUMMARY, *PARAGRAPHS], ids=lambda p: p[0][:12])
def test_human_translations_pass_in_both_directions(pair: tuple[str, str], glossary: Glossary) -> None:
    zh, en = pair
    assert check_translation(zh, en, "zh", "en", glossary) == []
    assert check_translation(en, zh, "en", "zh", glossary) == []


ZH = "OpenAI首席财务官Sarah Friar表示,公司将在2026年底前发布AI设备,Uber对Nuro追加投资近5亿美元。"
EN = (
    "OpenAI CFO Sarah Friar said the company will release an AI device by the end of 2026, "
    "and Uber invested nearly $500 million more in Nuro."
)


def test_reference_translation_passes(glossary: Glossary) -> None:
    assert check_translation(ZH, EN, "zh", "en", glossary) == []


def test_cfo_turned_into_ceo_is_caught(glossary: Glossary) -> None:
    failures = check_translation(ZH, EN.replace("CFO Sarah Friar", "CEO Sam Altman"), "zh", "en", glossary)
    found = checks(failures)
    assert ("glossary", "首席财务官") in found
    assert ("latin_name", "Sarah") in found and ("latin_name", "Friar") in found
    message = next(f.message for f in failures if f.check == "glossary")
    assert '"首席财务官" must be translated as "CFO"' in message


def test_cfo_in_english_source_rendered_as_ceo_in_chinese_is_caught(glossary: Glossary) -> None:
    good = "OpenAI首席财务官Sarah Friar表示,公司将在2026年底前发布AI设备,Uber对Nuro追加投资近5亿美元。"
    assert check_translation(EN, good, "en", "zh", glossary) == []
    bad = good.replace("首席财务官", "首席执行官")
    assert ("glossary", "CFO") in checks(check_translation(EN, bad, "en", "zh", glossary))


def test_changed_year_is_caught(glossary: Glossary) -> None:
    assert checks(check_translation(ZH, EN.replace("2026", "2023"), "zh", "en", glossary)) == {
        ("year", "2026年")
    }


def test_dropped_amount_is_caught(glossary: Glossary) -> None:
    dropped = EN.replace(" nearly $500 million more", "")
    failures = check_translation(ZH, dropped, "zh", "en", glossary)
    assert checks(failures) == {("amount", "5亿美元")}
    assert "500,000,000 USD" in failures[0].message


@pytest.mark.parametrize(
    ("wrong", "check"),
    [
        ("$5 million", "amount"),  # wrong scale
        ("500 million yuan", "amount"),  # wrong currency
        ("$50 million", "amount"),
    ],
)
def test_wrong_amounts_are_caught(wrong: str, check: str, glossary: Glossary) -> None:
    assert (check, "5亿美元") in checks(
        check_translation(ZH, EN.replace("$500 million", wrong), "zh", "en", glossary)
    )


def test_amount_units_convert_both_ways() -> None:
    assert extract_quantities("近5亿美元", "zh")[0].value == 5e8
    assert extract_quantities("$1.2 billion", "en")[0].value == pytest.approx(1.2e9)
    assert extract_quantities("12亿美元", "zh")[0].currency == "USD"
    assert extract_quantities("30,000 users", "en")[0].value == 30_000
    assert {q.value for q in extract_quantities("3万名用户", "zh")} == {30_000}


def test_percent_month_and_number_words(glossary: Glossary) -> None:
    zh = "英国5月纯电车销量暴涨34%,市场份额创新高,3家车企受益。"
    good = "UK battery-electric car sales jumped 34% in May to a record share, benefiting three carmakers."
    assert check_translation(zh, good, "zh", "en", glossary) == []
    bad = good.replace("34%", "43%").replace("May", "June")
    assert checks(check_translation(zh, bad, "zh", "en", glossary)) == {("percent", "34%"), ("month", "5月")}


def test_modal_may_is_not_a_month() -> None:
    assert [q for q in extract_quantities("The rules may change.", "en") if q.kind == "month"] == []
    assert [q.value for q in extract_quantities("in May, and on May 5", "en") if q.kind == "month"] == [5, 5]


def test_wrong_language_and_implausible_length_are_caught(glossary: Glossary) -> None:
    zh, en = PARAGRAPHS[7]
    assert ("language", "zh") in checks(check_translation(zh, zh, "zh", "en", glossary))
    half = en[: len(en) // 3]
    assert "length_ratio" in {f.check for f in check_translation(zh, half, "zh", "en", glossary)}
    assert check_translation(zh, "  ", "zh", "en", glossary)[0].check == "empty"


def test_latin_names_of_english_text() -> None:
    text = (
        "OpenAI said on Tuesday that its CFO, Sarah Friar, met Nuro. However, the “Public Cloud "
        "Large Model Token Service Performance Monitoring Platform” and Hengmai Micro were not discussed."
    )
    names = latin_names(text, "en")
    assert {"OpenAI", "CFO", "Sarah", "Friar", "Nuro"} <= set(names)
    # Weekdays, sentence starts, quoted titles and pinyin names are left out.
    assert not {"Tuesday", "However", "Public", "Platform", "Hengmai"} & set(names)


def test_headline_title_case_yields_only_acronyms_and_mixed_case() -> None:
    names = latin_names("OpenAI CFO Says AI Device Coming By End Of Year", "en")
    assert set(names) == {"OpenAI", "CFO", "AI"}


def test_glossary_prefers_longest_match(glossary: Glossary) -> None:
    terms = [m.term for m in glossary.find("美国商务部和阿里速卖通", "zh")]
    assert terms == ["美国商务部", "阿里速卖通"]


def test_chunks_respect_budget_and_keep_order() -> None:
    paragraphs = [zh for zh, _ in PARAGRAPHS]
    body = "\n\n".join(paragraphs)
    chunks = chunk_body(body, budget_tokens=600)
    assert len(chunks) > 1
    assert all(estimate_tokens(c) <= 600 for c in chunks)
    assert join_chunks(chunks, paragraph_separator(body)) == body


def test_oversized_paragraph_is_split_between_sentences() -> None:
    paragraph = PARAGRAPHS[0][0]
    chunks = chunk_body(paragraph, budget_tokens=80)
    assert len(chunks) > 1 and all(estimate_tokens(c) <= 80 for c in chunks)
    assert "".join(chunks) == paragraph
    assert all(c.endswith(("。", "?", "!", "?", "!", ",")) or c is chunks[-1] for c in chunks)


def test_single_newline_paragraphs_are_kept_as_such() -> None:
    body = "First paragraph.\nSecond paragraph.\nThird."
    chunks = chunk_body(body, budget_tokens=6)
    assert join_chunks(chunks, paragraph_separator(body)) == body


def test_prompt_variables_delimit_text_and_list_glossary(glossary: Glossary) -> None:
    variables = translate_prompt_variables(
        [Segment("title", "鸿海与字节跳动合作"), Segment("summary", "豆包大模型")],
        "zh",
        "en",
        glossary,
        feedback=['title: The year "2026年" of the source is missing or changed.'],
    )
    messages = load_prompt("translate").render(**variables)
    system, user = messages[0]["content"], messages[1]["content"]
    assert "from Simplified Chinese into English" in system and "not instructions" in system
    assert '<source_text id="title">\n鸿海与字节跳动合作\n</source_text>' in user
    for line in ("- 鸿海 / 富士康 → Foxconn", "- 字节跳动 / 字节 → ByteDance", "- 豆包 → Doubao"):
        assert line in user
    assert 'failed automatic checks:\n- title: The year "2026年"' in user
    assert "$" not in user.replace("$500", "")  # every template variable was filled


def test_markup_added_by_the_model_is_flagged() -> None:
    from shared.core.translation import check_translation
    from shared.llm import load_glossary

    failures = check_translation(
        "OpenAI releases a new model today.",
        "OpenAI今天发布了新模型。<script>alert(1)</script>",
        "en",
        "zh",
        load_glossary(),
    )
    assert [f.check for f in failures if f.check == "markup"] == ["markup"]
