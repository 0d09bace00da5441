"""The console of `newsroom up --once`: both titles per item with their provenance, one summary
line (published, bilingual and how), and the language-model banner with the operator advice that
items never carry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from newsroom import cli
from shared.console import (
    bilingual_counts,
    bilingual_summary,
    item_lines,
    model_banner,
    model_status,
    terminal_safe,
)
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


# A feed anyone can publish reaches the operator's terminal through `newsroom up --once`: ESC (C0)
# and CSI (C1) sequences, an OSC 8 hyperlink, a window title, a bell, a right-to-left override, and
# a line break that would forge a console line.
HOSTILE_EN = "Evil \x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\ \x1b[31mred\x9b2J\n    zh: forged"
HOSTILE_ZH = "标题\x07\u202e反转"
TERMINAL_CONTROLS = "\x1b\x07\x9b\u202e\n\r"


def test_item_lines_drop_terminal_controls_and_keep_the_text() -> None:
    hostile = doc(HOSTILE_EN, HOSTILE_ZH, "source", "source")
    hostile["languages"]["en"]["source_name"] = "Outlet\x1b]0;pwned\x07"
    hostile["tags"] = [{"id": "chips\x1b[2J"}]
    lines = item_lines(hostile)
    assert len(lines) == 3
    assert not any(ch in line for line in lines for ch in TERMINAL_CONTROLS)
    assert lines[0].startswith("- [chips[2J] ")
    assert lines[1] == (
        "    en: Evil ]8;;http://evil.example\\click]8;;\\ [31mred2J     zh: forged  (source: Outlet]0;pwned)"
    )
    assert lines[2] == "    zh: 标题反转  (source: Outlet zh)"


def test_everything_the_cli_prints_is_terminal_safe(capsys: pytest.CaptureFixture[str]) -> None:
    # `tail`, `status` and `dlq` print JSON of stored and remote text: JSON escapes C0 controls but
    # not C1 ones (CSI as one character) or DEL; messages such as "newsroom: {exc}" are not JSON.
    cli._print(
        json.dumps({"title_en": "a\x9b31mb\x7f", "error": "x\x1b]0;t\x07"}, ensure_ascii=False, indent=2)
    )
    printed = capsys.readouterr().out
    assert "\x9b" not in printed and "\x7f" not in printed and "\x1b" not in printed
    assert json.loads(printed) == {"title_en": "a31mb", "error": "x\x1b]0;t\x07"}  # escaped C0 stays JSON
    cli._print("newsroom: cannot read \x1b[2Jfeed\r\n")
    assert capsys.readouterr().out == "newsroom: cannot read [2Jfeed\n\n"
    assert terminal_safe("a\tb\u2066c\ud800") == "a bc"
