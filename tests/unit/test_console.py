"""The console of `newsroom up --once`: both titles per item with their provenance, one summary
line (published, bilingual and how), and the language-model banner with the operator advice that
items never carry."""

from __future__ import annotations

from typing import Any

from shared.console import bilingual_counts, bilingual_summary, item_lines, model_banner, model_status
from shared.settings import LLMSettings, Settings


def doc(en: str | None, zh: str | None, en_origin: str, zh_origin: str) -> dict[str, Any]:
    def text(origin: str, language: str) -> dict[str, Any]:
        if origin == "source":
            return {"origin": "source", "source_name": f"Outlet {language}"}
        if origin == "model":
            return {"origin": "model", "model": "m1"}
        return {"origin": "none", "reason": "no_model", "notice": f"{language} version not available yet"}

    return {
        "title": {"en": en, "zh": zh},
        "languages": {"en": text(en_origin, "en"), "zh": text(zh_origin, "zh")},
        "scores": {"hot": {"value": 41.6}},
        "tags": [{"id": "chips"}],
        "sources": [{}, {}],
    }


DOCS = [
    doc("TSMC expands", "台积电扩产", "source", "source"),
    doc("Uber invests", "优步投资", "source", "model"),
    doc("Meta nuclear", None, "source", "none"),
]


def test_item_lines_show_both_titles_and_where_they_come_from() -> None:
    lines = item_lines(DOCS[0])
    assert lines[0] == "- [chips] hot=42 quality=n/a impact=n/a sources=2"
    assert lines[1:] == [
        "    en: TSMC expands  (source: Outlet en)",
        "    zh: 台积电扩产  (source: Outlet zh)",
    ]
    assert item_lines(DOCS[1])[2] == "    zh: 优步投资  (model: m1)"
    assert item_lines(DOCS[2])[2] == "    zh: zh version not available yet"


def test_summary_line_counts_bilingual_items_by_how() -> None:
    assert bilingual_counts(DOCS) == {"published": 3, "bilingual": 2, "sources": 1, "model": 1, "none": 1}
    assert bilingual_summary(DOCS) == (
        "Items: 3 published, 2 bilingual (from sources 1, by model 1), 1 in one language only"
    )


def test_banner_and_status_carry_the_operator_advice() -> None:
    off = Settings(llm=LLMSettings())
    assert "NEWSROOM_LLM__BASE_URL" in model_banner(off) and "off" in model_banner(off)
    assert "\n" not in model_banner(off)
    assert model_status(off)["translate"]["enabled"] is False
    on = Settings(llm=LLMSettings(base_url="http://127.0.0.1:9/v1", model="m"))
    assert "on" in model_banner(on) and "NEWSROOM_" not in model_banner(on)
    assert all(state["enabled"] for state in model_status(on).values())
