"""One definition of the characters that are not text, used by every place that cleans text: a
character that one of them lets through (e.g. C1 controls in model answers, which analysis_llm's own
list missed) reaches a feed, a page or a terminal."""

from __future__ import annotations

import re

from services.publish.web.clean_text import showable
from shared.console import terminal_safe
from shared.core import analysis_llm, feeds
from shared.core.control_chars import NOT_TEXT, without_escape_sequences

# Every character of the Basic Multilingual Plane that NOT_TEXT names.
_PATTERN = re.compile(f"[{NOT_TEXT}]")
NOT_TEXT_CHARS = [chr(code) for code in range(0x10000) if _PATTERN.fullmatch(chr(code))]


def test_not_text_names_controls_but_keeps_tabs_and_line_breaks() -> None:
    assert {"\x1b", "\x7f", "\x9b", "\ud800", "\uffff"} <= set(NOT_TEXT_CHARS)
    assert not {"\t", "\n", "\r", " ", "a", "中"} & set(NOT_TEXT_CHARS)


def test_every_cleaner_removes_every_character_that_is_not_text() -> None:
    for cleaner in (showable, terminal_safe, feeds.clean_text, analysis_llm.clean_text):
        left = [hex(ord(c)) for c in NOT_TEXT_CHARS if c in cleaner(f"a{c}b")]
        assert not left, (cleaner.__module__, left)


def test_an_escape_sequence_goes_whole() -> None:
    assert (
        without_escape_sequences("Red \x1b[31malert\x1b[0m \x1b]8;;http://x/\x1b\\link") == "Red alert link"
    )
