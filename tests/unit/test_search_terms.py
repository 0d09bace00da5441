"""Index terms: the same cut for an item and for a query, in both languages."""

from __future__ import annotations

from shared.core.search_terms import filter_term, filter_terms, item_terms, query_terms, word_terms
from shared.llm.prompts import load_glossary


def test_chinese_is_folded_to_simplified_and_cut_in_pairs() -> None:
    assert word_terms("臺積電") == {"台积", "积电"}
    assert word_terms("台积电的封装") == {"台积", "积电", "电的", "的封", "封装"}


def test_latin_words_are_case_folded_and_plurals_also_filed_bare() -> None:
    assert word_terms("TSMC ships Chips, the glass") == {"tsmc", "ships", "ship", "chips", "chip", "glass"}
    # A query word is looked up as written: "chips" does not find an item that only says "chip".
    assert word_terms("Chips", query=True) == {"chips"}


def test_a_query_needs_the_pairs_of_each_word_not_across_words() -> None:
    # 电封 is not required: "台积电封装" segmented is 台积电 + 封装.
    assert query_terms(["台积电", "封装"]) == {"台积", "积电", "封装"}
    assert query_terms(["的"]) == set()  # one character: not filed, nothing to look up


def test_labels_and_glossary_give_the_other_language() -> None:
    doc = {
        "title": {"zh": "鸿海在美国建设新工厂"},
        "entities": [{"id": "tsmc", "en": "TSMC", "zh": "台积电"}],
        "tags": [{"id": "chips", "en": "Chips", "zh": "芯片"}],
        "sources": [{"title": "鸿海扩产", "language": "zh"}],
    }
    terms = item_terms(doc, load_glossary())
    assert {"tsmc", "台积", "chips", "芯片", "foxconn", "hon", "hai"} <= terms
    assert "foxconn" not in item_terms(doc)  # without the glossary only the text and labels


def test_tags_and_entities_give_filter_terms_no_query_can_produce() -> None:
    doc = {
        "title": {"en": "tag:chips entity:tsmc"},
        "tags": [{"id": "chips", "en": "Chips", "zh": "芯片"}, {"id": "funding-ma"}],
        "entities": [{"id": "tsmc", "en": "TSMC"}, {"en": "no id"}],
    }
    assert filter_terms(doc) == {"tag:chips", "tag:funding-ma", "entity:tsmc"}
    assert filter_term("tag", "Chips") == "tag:Chips"  # ids compare exactly, as the filter does
    # A query typed like a filter term looks up words, never the filter's term.
    assert query_terms(["tag:chips", "entity:tsmc"]) == {"tag", "chips", "entity", "tsmc"}
    assert not filter_terms(doc) & item_terms(doc)
