"""RSS 2.0, Atom 1.0 and JSON Feed 1.1 of the wire, per language (en / zh) and per tag.

RSS and Atom are generated with feedgen (it writes the XML, namespaces and dates); JSON Feed is a
plain dict built to the 1.1 spec. Item text is untrusted: the HTML content of an entry is built
from escaped pieces only, and feedgen escapes it again for XML, as both formats expect.
An item whose text is missing in the feed's language shows its other language, and its entry says
so (the entry's language is the text's real language; it is never machine-filled here).
Dates: ``pubDate`` / ``published`` / ``date_published`` are when the news first appeared (the earliest
source publication, or first seen), ``updated`` / ``date_modified`` its last material change.
Every stored string passes ``showable`` first: a control character in one title (a real malformed
feed carries them) is not XML, and feedgen would refuse the whole feed.
An item with a title in neither language is "Untitled story" / "无标题资讯", never an empty entry.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from feedgen.feed import FeedGenerator

from services.publish.queries import ItemSummary
from services.publish.web.clean_text import showable
from shared.items import DISCLAIMER

FeedLanguage = Literal["en", "zh"]
FeedFormat = Literal["rss", "atom", "json"]

MEDIA_TYPES: dict[str, str] = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "AI Newsroom"
STORY_URN = "urn:ai-newsroom:story:"

_SITE_TITLE = {"en": "AI Newsroom: AI industry news", "zh": "AI Newsroom:AI 行业资讯"}
_SITE_DESCRIPTION = {
    "en": "Bilingual AI-industry news wire with Hot, Quality and Impact scores. AI-generated content.",
    "zh": "中英双语 AI 行业资讯,附热度、质量、影响力评分。内容由 AI 生成。",
}
_SCORE_LABELS = {"en": ("Hot", "Quality", "Impact"), "zh": ("热度", "质量", "影响力")}
_SOURCES_LABEL = {"en": "Sources", "zh": "来源"}
# The web page's short note for a missing language (never how to configure a translator).
_UNTITLED = {"en": "Untitled story", "zh": "无标题资讯"}
_UNTRANSLATED = {
    "en": "English version not available yet; shown in the original language.",
    "zh": "暂无中文版本,以下为原文。",
}


@dataclass(frozen=True)
class FeedContext:
    language: FeedLanguage
    site_url: str  # the web page the feed describes, absolute, ending without "/"
    feed_url: str  # this feed's own absolute URL
    updated_fallback: datetime  # the feed's "updated" when it has no items (pass "now")
    tag_id: str | None = None
    tag_label: str | None = None

    @property
    def title(self) -> str:
        base = _SITE_TITLE[self.language]
        return f"{base} · {showable(self.tag_label or '') or self.tag_id}" if self.tag_id else base


def item_url(site_url: str, item_id: str) -> str:
    from urllib.parse import quote

    return f"{site_url}/items/{quote(item_id, safe='')}"


def _text_in(
    item: ItemSummary, field: Literal["title", "summary"], language: FeedLanguage
) -> tuple[str, str]:
    """The text in ``language``, else in the other one: (text, its real language); a title in
    neither is the feed language's "Untitled story"."""
    bilingual = getattr(item, field)
    other: FeedLanguage = "zh" if language == "en" else "en"
    for lang in (language, other):
        text = showable(bilingual.get(lang) or "").strip()
        if text:
            return text, lang
    return (_UNTITLED[language] if field == "title" else ""), language


def _score_line(item: ItemSummary, language: FeedLanguage) -> str:
    labels = _SCORE_LABELS[language]
    values = (item.scores.hot, item.scores.quality, item.scores.impact)
    parts = [f"{label} {value:.0f}" for label, value in zip(labels, values, strict=True) if value is not None]
    return " · ".join(parts)


def _tag_labels(item: ItemSummary, language: FeedLanguage) -> list[str]:
    return [showable(tag.en if language == "en" else tag.zh) for tag in item.tags]


def _source_name(name: str) -> str:
    return showable(name).strip() or GENERATOR


def entry_html(item: ItemSummary, language: FeedLanguage) -> str:
    """The entry body as an HTML fragment built only from escaped text."""
    esc = html.escape
    summary, summary_lang = _text_in(item, "summary", language)
    _, title_lang = _text_in(item, "title", language)
    parts: list[str] = []
    if title_lang != language or (summary and summary_lang != language):
        parts.append(f"<p><em>{esc(_UNTRANSLATED[language])}</em></p>")
    if summary:
        parts.append(f'<p lang="{summary_lang}">{esc(summary)}</p>')
    score_line = _score_line(item, language)
    if score_line:
        parts.append(f"<p>{esc(score_line)}</p>")
    if item.sources:
        links = ", ".join(
            f'<a href="{esc(showable(s.url))}">{esc(_source_name(s.name))}</a>'
            if s.url.startswith(("http://", "https://"))
            else esc(_source_name(s.name))
            for s in item.sources
        )
        parts.append(f"<p>{esc(_SOURCES_LABEL[language])}: {links}</p>")
    parts.append(f"<p><small>{esc(DISCLAIMER.get(language) or '')}</small></p>")
    return "".join(parts)


def entry_text(item: ItemSummary, language: FeedLanguage) -> str:
    summary, _ = _text_in(item, "summary", language)
    lines = [summary, _score_line(item, language), DISCLAIMER.get(language) or ""]
    return "\n\n".join(line for line in lines if line)


def _latest(items: Sequence[ItemSummary], ctx: FeedContext) -> datetime:
    return max((item.updated_at for item in items), default=ctx.updated_fallback)


def _generator(items: Sequence[ItemSummary], ctx: FeedContext) -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(ctx.feed_url)
    fg.title(ctx.title)
    fg.subtitle(_SITE_DESCRIPTION[ctx.language])  # RSS <description>, Atom <subtitle>
    fg.language(ctx.language)
    fg.author({"name": GENERATOR})
    fg.link(href=ctx.feed_url, rel="self")
    # Last: feedgen makes the last link the RSS <channel><link>, which must be the site (issue 13).
    fg.link(href=ctx.site_url + "/", rel="alternate", type="text/html")
    fg.generator(GENERATOR)
    fg.updated(_latest(items, ctx))
    fg.lastBuildDate(_latest(items, ctx))
    for item in items:  # "append" keeps the given order (feedgen prepends by default)
        entry = fg.add_entry(order="append")
        title, _ = _text_in(item, "title", ctx.language)
        url = item_url(ctx.site_url, item.id)
        entry.id(STORY_URN + item.id)
        entry.guid(STORY_URN + item.id, permalink=False)
        entry.title(title)
        entry.link(href=url, rel="alternate", type="text/html")
        entry.published(item.published_at)
        entry.updated(item.updated_at)
        body = entry_html(item, ctx.language)
        entry.content(body, type="html")  # Atom <content type="html">
        entry.description(body)  # RSS <description>
        for tag, label in zip(item.tags, _tag_labels(item, ctx.language), strict=True):
            entry.category(term=tag.id, label=label)
        entry.author({"name": _source_name(item.sources[0].name) if item.sources else GENERATOR})
    return fg


def rss_feed(items: Sequence[ItemSummary], ctx: FeedContext) -> bytes:
    data: bytes = _generator(items, ctx).rss_str(pretty=True)
    return data


def atom_feed(items: Sequence[ItemSummary], ctx: FeedContext) -> bytes:
    data: bytes = _generator(items, ctx).atom_str(pretty=True)
    return data


def json_feed(items: Sequence[ItemSummary], ctx: FeedContext) -> dict[str, Any]:
    """A JSON Feed 1.1 document (https://www.jsonfeed.org/version/1.1/)."""
    entries: list[dict[str, Any]] = []
    for item in items:
        title, title_lang = _text_in(item, "title", ctx.language)
        summary, _ = _text_in(item, "summary", ctx.language)
        entry: dict[str, Any] = {
            "id": STORY_URN + item.id,
            "url": item_url(ctx.site_url, item.id),
            "title": title,
            "content_html": entry_html(item, ctx.language),
            "content_text": entry_text(item, ctx.language),
            "date_published": item.published_at.isoformat(),
            "date_modified": item.updated_at.isoformat(),
            "tags": _tag_labels(item, ctx.language),
            "language": title_lang,
            "_newsroom": {
                "story_id": item.id,
                "version": item.version,
                "hot": item.scores.hot,
                "quality": item.scores.quality,
                "impact": item.scores.impact,
                "ai_generated": item.ai_generated,
            },
        }
        if summary:
            entry["summary"] = summary
        if item.sources and item.sources[0].url.startswith(("http://", "https://")):
            entry["external_url"] = showable(item.sources[0].url)
        if item.sources:
            entry["authors"] = [{"name": _source_name(item.sources[0].name)}]
        entries.append(entry)
    return {
        "version": JSON_FEED_VERSION,
        "title": ctx.title,
        "home_page_url": ctx.site_url + "/",
        "feed_url": ctx.feed_url,
        "description": _SITE_DESCRIPTION[ctx.language],
        "language": ctx.language,
        "authors": [{"name": GENERATOR}],
        "items": entries,
    }


def render_feed(items: Sequence[ItemSummary], ctx: FeedContext, fmt: FeedFormat) -> tuple[bytes, str]:
    """(body, media type) of the feed in ``fmt``."""
    if fmt == "rss":
        return rss_feed(items, ctx), MEDIA_TYPES["rss"]
    if fmt == "atom":
        return atom_feed(items, ctx), MEDIA_TYPES["atom"]
    body = json.dumps(json_feed(items, ctx), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return body, MEDIA_TYPES["json"]
