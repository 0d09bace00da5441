"""The bilingual gazetteer: one entity per company however it is written, and no false friends."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.core.entities import KINDS, GazetteerError, find_entities, load_gazetteer, parse_gazetteer
from shared.core.taxonomy import load_taxonomy

SAMPLE = (Path(__file__).resolve().parents[1] / "data" / "tagging" / "sample_item.txt").read_text("utf-8")


def ids(text: str) -> list[str]:
    return [m.id for m in find_entities(text)]


def test_sample_item_names_each_company_once_whatever_the_language() -> None:
    matches = find_entities(SAMPLE)
    by_id = {m.id: m for m in matches}
    assert len(by_id) == len(matches)  # one match per entity
    expected = {
        "openai": {"OpenAI"},
        "meta": {"Meta"},
        "bytedance": {"ByteDance", "字节跳动"},
        "foxconn": {"Foxconn", "鸿海"},
        "tsmc": {"TSMC", "台积电"},
    }
    for entity_id, surfaces in expected.items():
        assert entity_id in by_id, entity_id
        assert surfaces <= set(by_id[entity_id].surfaces), (entity_id, by_id[entity_id].surfaces)
    assert by_id["bytedance"].count >= 4
    assert by_id["tsmc"].zh == "台积电" and by_id["tsmc"].en == "TSMC"


@pytest.mark.parametrize(
    ("text", "entity_id"),
    [
        ("富士康宣布扩产", "foxconn"),
        ("Hon Hai Precision reported sales", "foxconn"),
        ("鸿海精密董事会", "foxconn"),
        ("台積電擴產", "tsmc"),
        ("字节发布新模型", "bytedance"),
        ("豆包的日活用户", "doubao"),
        ("Nvidia and NVIDIA", "nvidia"),
        ("黄仁勋在台北", "jensen-huang"),
    ],
)
def test_aliases_map_to_the_canonical_entity(text: str, entity_id: str) -> None:
    assert ids(text) == [entity_id]


def test_products_and_people_carry_their_organisation() -> None:
    gazetteer = load_gazetteer()
    assert gazetteer.entities["doubao"].org == "bytedance"
    assert gazetteer.entities["sarah-friar"].org == "openai"


def test_longest_alias_wins_in_chinese() -> None:
    (match,) = find_entities("字节跳动的豆包大模型")[:1]
    assert match.surfaces == ("字节跳动",)
    assert ids("美国商务部出台新规") == ["us-department-of-commerce"]
    assert ids("商务部新闻发言人") == ["mofcom"]


def test_short_latin_aliases_are_case_sensitive_and_word_bounded() -> None:
    assert ids("a meta-level metaverse discussion about meta data") == []
    assert ids("The harm of ARMS races") == []
    assert ids("Meta said") == ["meta"]
    assert ids("Released under the MIT License.") == []
    assert ids("Researchers at MIT found") == ["mit"]
    # long Latin names are matched whatever the case
    assert ids("OPENAI and openai") == ["openai"]


def test_gazetteer_size_kinds_weights_and_slugs() -> None:
    entities = load_gazetteer().entities
    assert len(entities) >= 150
    taxonomy_ids = set(load_taxonomy().ids)
    for e in entities.values():
        assert e.kind in KINDS, e.id
        assert 0.0 <= e.impact_weight <= 1.0, e.id
        assert e.id == e.id.lower() and " " not in e.id, e.id
        assert set(e.tags) <= taxonomy_ids, e.id
    assert entities["openai"].impact_weight > entities["hengmai-micro"].impact_weight


def test_an_alias_claimed_by_two_entities_is_rejected() -> None:
    text = """
entities:
  - {id: a, en: Alpha, zh: 阿尔法, kind: company, impact_weight: 0.5, aliases: [Shared Name]}
  - {id: b, en: Beta, zh: 贝塔, kind: company, impact_weight: 0.5, aliases: [Shared Name]}
"""
    with pytest.raises(GazetteerError, match="Shared Name"):
        parse_gazetteer(text)


def test_the_substring_prefilter_finds_what_the_full_alternation_finds() -> None:
    """find() compiles only the aliases present as substrings; the matches must be those of the
    one alternation over every alias, also where case-insensitive matching goes beyond
    casefold (ı, İ) or casefold beyond ASCII lower-casing (ſ, the Kelvin sign)."""
    gazetteer = load_gazetteer()
    insensitive = sorted(alias for alias in gazetteer._folded if alias.isascii() and alias.isalpha())
    assert insensitive, "no case-insensitive alias to test with"
    texts = ["", "MIT License by MIT", "字节跳动和字节, 美国商务部", "Meta meta METAverse"]
    for alias in insensitive[:40]:
        texts += [
            f"News: {alias.upper()} and {alias.title()}.",
            alias.replace("i", "ı").replace("s", "ſ"),
            alias.upper().replace("I", "İ").replace("K", "\u212a"),
            f"x{alias}y {alias}",
        ]
    for text in texts:
        expected = [(m.group(0), m.start()) for m in gazetteer._regex.finditer(text)]
        regex = gazetteer._regex_for(text)
        found = [(m.group(0), m.start()) for m in regex.finditer(text)] if regex is not None else []
        assert found == expected, text
