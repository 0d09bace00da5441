"""Control characters and terminal escapes do not survive ingest (tests/data/feeds/
hostile_controls.xml: the malformed entry of a hostile run, whose ESC [31m reached the stored title,
the operator's console and every page)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from services.ingest.articles import build_article, identify
from shared.core.feeds import clean_text, is_teaser, one_line, parse_feed
from shared.sources import Source

FEED = Path(__file__).resolve().parents[1] / "data" / "feeds" / "hostile_controls.xml"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_title_with_an_escape_sequence_is_stored_without_it() -> None:
    parsed = parse_feed(FEED.read_bytes(), "rss", base_url="https://example.com/", now=NOW)
    (entry,) = parsed.entries
    assert entry.title == "Control chars red vertical tab in DeepSeek title"
    source = Source(id="hostile", name="Hostile", url="https://example.com/feed.xml")
    article = build_article(source, entry, identify(entry.url), NOW, teaser=is_teaser(entry))
    assert article.title == "Control chars red vertical tab in DeepSeek title"
    text = (article.summary or "") + (article.body or "")
    assert "DeepSeek published a paper on reasoning" in text
    assert "\x1b" not in text and "[0m" not in text


def test_clean_text_removes_controls_and_keeps_layout() -> None:
    # OSC (window title), CSI in its 8-bit form, NUL, DEL, C1; tabs and line breaks are layout.
    assert clean_text("a\x1b]0;evil\x07b\x9b1mc\x00d\x7fe\x80f") == "abcdef"
    # A forged hyperlink (OSC 8, ended by ESC \\) keeps only its visible text.
    assert clean_text("see \x1b]8;;https://evil.example\x1b\\here\x1b]8;;\x1b\\ now") == "see here now"
    assert clean_text("col\tcol\nline\r\n") == "col\tcol\nline\r\n"
    assert clean_text("第一行\x85第二行") == "第一行\n第二行"  # NEL is a line break
    # Text a reader needs is kept: zero-width joiner in an emoji, bidi marks, CJK, accents.
    kept = "👩\u200d💻 \u200fعربي café 谷歌"
    assert clean_text(kept) == kept


def test_one_line_collapses_what_is_left() -> None:
    assert one_line("  Title\x0b with \x1b[1mbold\x1b[0m\nand a break ") == "Title with bold and a break"
    assert one_line(None) == ""
