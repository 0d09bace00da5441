"""The bilingual taxonomy loads, is complete, and rejects malformed files."""

from __future__ import annotations

import re

import pytest

from shared.core.taxonomy import TaxonomyError, load_taxonomy, parse_taxonomy

REQUIRED = {
    "product-launch": "产品发布",
    "model-release": "模型发布",
    "agent": "Agent",
    "chips": "芯片",
    "compute-infra": "算力基建",
    "funding-ma": "投融资",
    "regulation-policy": "监管政策",
    "research": "研究",
    "open-source": "开源",
    "autonomous-driving": "自动驾驶",
    "robotics": "机器人",
    "devices-hardware": "智能硬件",
    "enterprise-office": "企业应用",
    "safety-security": "安全",
    "people-org": "人事变动",
    "earnings-markets": "财报市场",
}


def test_taxonomy_has_a_version_and_the_required_tags_with_their_chinese_labels() -> None:
    taxonomy = load_taxonomy()
    assert taxonomy.version
    for tag_id, zh in REQUIRED.items():
        tag = taxonomy.get(tag_id)
        assert tag is not None, tag_id
        assert tag.zh == zh


def test_every_tag_has_both_labels_triggers_and_examples_in_both_languages() -> None:
    for tag in load_taxonomy().tags:
        assert tag.en.strip() and tag.zh.strip(), tag.id
        assert re.search(r"[\u4e00-\u9fff]", tag.zh) or tag.zh == "Agent", tag.id
        assert tag.triggers_en and tag.triggers_zh, tag.id
        assert len(tag.examples_en) >= 3 and len(tag.examples_zh) >= 3, tag.id
        assert all(re.search(r"[\u4e00-\u9fff]", ex) for ex in tag.examples_zh), tag.id
        assert tag.label("zh") == tag.zh and tag.label("en") == tag.en


def test_tag_ids_are_slugs_and_unique() -> None:
    ids = load_taxonomy().ids
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(?:-[a-z]+)*", i) for i in ids)


def test_conjunction_triggers_are_split_into_parts() -> None:
    tag = load_taxonomy().get("model-release")
    assert tag is not None
    conj = [t for t in tag.triggers_zh if len(t.parts) > 1]
    assert conj and all(len(t.parts) == 2 for t in conj)


MINIMAL = """
version: 9
tags:
  - id: chips
    en: Chips
    zh: 芯片
    description: d
    triggers: {en: [chip], zh: [芯片]}
    examples: {en: [a], zh: [甲]}
"""


def test_parse_minimal_taxonomy() -> None:
    taxonomy = parse_taxonomy(MINIMAL)
    assert taxonomy.version == "9" and taxonomy.ids == ("chips",)
    assert "chips" in taxonomy and "robotics" not in taxonomy


def test_a_tag_without_a_chinese_label_is_rejected() -> None:
    with pytest.raises(TaxonomyError, match="zh"):
        parse_taxonomy(MINIMAL.replace("    zh: 芯片\n", ""))


def test_duplicate_tag_ids_are_rejected() -> None:
    doubled = MINIMAL + MINIMAL.split("tags:\n", 1)[1]
    with pytest.raises(TaxonomyError, match="duplicate"):
        parse_taxonomy(doubled)
