"""View helpers of the web page: which language(s) to show, relative times, safe links.

Everything shown comes from stored items, whose text is untrusted: templates are autoescaped
(Jinja2, .html), links are kept only for http(s) URLs, and no markup from an item is ever marked safe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.publish.queries import ItemSummary, TagCount
from shared.core.relative_time import published_updated_label, relative_time
from shared.events import Bilingual, Entity, Tag
from shared.items import Item

Display = Literal["en", "zh", "both"]
TextLanguage = Literal["en", "zh"]

LANGUAGE_NAMES: dict[str, str] = {"en": "English", "zh": "中文", "both": "English / 中文"}
SORT_LABELS: dict[str, tuple[str, str]] = {
    "hot": ("Hot", "热度"), "quality": ("Quality", "质量"), "impact": ("Impact", "影响力"),
    "time": ("Latest", "最新"), "updated": ("Updated", "最近更新"),
}


@dataclass(frozen=True)
class Text:
    lang: TextLanguage
    text: str
    fallback: bool  # shown because the requested language has no text


def languages(display: Display) -> tuple[TextLanguage, ...]:
    return ("en", "zh") if display == "both" else (display,)


def texts(value: Bilingual, display: Display) -> list[Text]:
    """The text(s) to show: each requested language that has text; when a single requested
    language has none, the other one, flagged as a fallback."""
    shown = [Text(lang, text, False) for lang in languages(display) if (text := value.get(lang))]
    if shown or display == "both":
        return shown
    other: TextLanguage = "zh" if display == "en" else "en"
    text = value.get(other)
    return [Text(other, text, True)] if text else []


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\r\n", "\n").split("\n") if p.strip()]


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL, else None (javascript:, data: ... are dropped)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def tag_labels(tag: Tag | TagCount, display: Display) -> list[Text]:
    return entity_names(tag, display)


def entity_names(named: Tag | TagCount | Entity, display: Display) -> list[Text]:
    """Names in the shown language(s), once when both spell it the same ("Agent", "OpenAI")."""
    shown = texts(Bilingual(en=named.en, zh=named.zh), display)
    return shown[:1] if len(shown) == 2 and shown[0].text == shown[1].text else shown


class WebRenderer:
    def __init__(self, templates: Jinja2Templates, clock: Callable[[], datetime]) -> None:
        self.templates = templates
        self.clock = clock
        env = templates.env
        env.filters["paragraphs"] = paragraphs
        env.filters["safe_url"] = safe_url
        env.globals.update(
            texts=texts, tag_labels=tag_labels, entity_names=entity_names, languages=languages,
            LANGUAGE_NAMES=LANGUAGE_NAMES, SORT_LABELS=SORT_LABELS, quote=lambda s: quote(s, safe=""),
        )

    def _times(self, published_at: datetime, updated_at: datetime, display: Display) -> list[Text]:
        now = self.clock()
        return [Text(lang, published_updated_label(published_at, updated_at, now, lang), False)
                for lang in languages(display)]

    def _render(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        response: HTMLResponse = self.templates.TemplateResponse(request, name, context, status_code=status)
        return response

    def list_page(
        self, request: Request, items: Sequence[ItemSummary], tags: Sequence[TagCount], display: Display,
        tag: str | None, sort: str, next_url: str | None,
    ) -> HTMLResponse:
        def link(**changes: str | None) -> str:
            params = {"lang": display, "tag": tag, "sort": sort, **changes}
            return "/?" + urlencode({k: v for k, v in params.items() if v})

        rows = [
            {"item": item, "times": self._times(item.published_at, item.updated_at, display)}
            for item in items
        ]
        return self._render(request, "list.html", {
            "display": display, "rows": rows, "tags": tags, "tag": tag, "sort": sort,
            "next_url": next_url, "link": link,
            "lang_links": {d: link(lang=d) for d in ("en", "zh", "both")},
        })

    def item_page(self, request: Request, item: Item, display: Display) -> HTMLResponse:
        now = self.clock()
        representative = item.representative_article_id
        sources = sorted(item.sources, key=lambda s: s.article_id != representative)
        source_rows = [
            {"source": s, "href": safe_url(s.url),
             "times": [Text(lang, relative_time(s.published_at, now, lang), False)
                       for lang in languages(display)] if s.published_at else []}
            for s in sources
        ]
        return self._render(request, "item.html", {
            "display": display, "item": item,
            "times": self._times(item.published_at, item.updated_at, display),
            "sources": source_rows,
            "lang_links": {d: f"/items/{quote(item.id, safe='')}?lang={d}" for d in ("en", "zh", "both")},
        })

    def not_found(self, request: Request, display: Display) -> HTMLResponse:
        return self._render(request, "not_found.html", {
            "display": display, "lang_links": {d: f"/?lang={d}" for d in ("en", "zh", "both")},
        }, status=404)
