"""View helpers of the web page: which language(s) to show, relative times, views, safe links.

Everything shown comes from stored items, whose text is untrusted: templates are autoescaped
(Jinja2, .html), links are kept only for http(s) URLs, and no markup from an item is ever marked safe.
The pages run no script (the Content-Security-Policy allows none): the search box is a plain GET
form and the list/card switch a link.
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
from services.publish.views import format_count
from services.publish.web.clean_text import finalize_output, plain_title
from services.publish.web.score_text import reason_lines
from shared.core.bilingual import NO_MODEL_REASON
from shared.core.item_revisions import REP_LEFT_REASON
from shared.core.item_times import changed_since_appearance
from shared.core.relative_time import published_updated_label, relative_time
from shared.events import Bilingual, Entity, Tag
from shared.items import Item

Display = Literal["en", "zh", "both"]
ListView = Literal["cards", "list"]
TextLanguage = Literal["en", "zh"]

LANGUAGE_NAMES: dict[str, str] = {"en": "English", "zh": "中文", "both": "English / 中文"}
SORT_LABELS: dict[str, tuple[str, str]] = {
    "hot": ("Hot", "热度"),
    "quality": ("Quality", "质量"),
    "impact": ("Impact", "影响力"),
    "time": ("Latest", "最新"),
    "updated": ("Updated", "最近更新"),
}
# Shown, in the missing language itself, where an item has no text in a language the reader chose.
MISSING_NOTES: dict[TextLanguage, str] = {
    "en": "English version not available yet",
    "zh": "暂无中文版本",
}


@dataclass(frozen=True)
class Text:
    lang: TextLanguage
    text: str
    fallback: bool = False  # shown because the requested language has no text


def languages(display: Display) -> tuple[TextLanguage, ...]:
    return ("en", "zh") if display == "both" else (display,)


def html_lang(lang: str) -> str:
    """The HTML lang of a text language; "und" (undetermined) for a source in another language."""
    return {"zh": "zh-Hans", "en": "en"}.get(lang, "und")


def texts(value: Bilingual, display: Display) -> list[Text]:
    """The text(s) to show: each requested language that has text; when a single requested
    language has none, the other one, flagged as a fallback."""
    shown = [Text(lang, text) for lang in languages(display) if (text := value.get(lang))]
    if shown or display == "both":
        return shown
    other: TextLanguage = "zh" if display == "en" else "en"
    text = value.get(other)
    return [Text(other, text, True)] if text else []


SUMMARY_MISSING_NOTES: dict[TextLanguage, str] = {
    "en": "No English summary yet",
    "zh": "暂无中文摘要",
}


def summary_notes(summary: Bilingual, title: Bilingual, display: Display) -> list[Text]:
    """A note, in the language itself, for each chosen language whose title is there but whose
    summary is not, when a summary in the other language is shown instead (an English headline
    over a Chinese paragraph would otherwise go unexplained)."""
    if not (summary.en or summary.zh):
        return []
    return [
        Text(lang, SUMMARY_MISSING_NOTES[lang])
        for lang in languages(display)
        if title.get(lang) and not summary.get(lang)
    ]


def missing_notes(value: Bilingual, display: Display) -> list[Text]:
    """A short note, in the language itself, for each language the reader chose that has no text
    (only when the other language has some: an item with no title at all says nothing here)."""
    if not (value.en or value.zh):
        return []
    return [Text(lang, MISSING_NOTES[lang]) for lang in languages(display) if not value.get(lang)]


# Why an item has no analysis, for the reader, from the operator's ``analysis_reason`` (free text
# written by analyze or by a story revision; its fixed phrases are shared constants): the cause in a
# few words, never the raw message.
ANALYSIS_ABSENT: dict[str, tuple[str, str]] = {
    "no_model": (
        "No analysis: this wire runs without a language model, which writes the analyses.",
        "暂无深度分析:本站未配置撰写分析的语言模型。",
    ),
    "revised": (
        "The analysis is being rewritten: the story's sources changed.",
        "深度分析正在重写:本条资讯的来源有变动。",
    ),
    "language": (
        "No analysis: analyses are written for English and Chinese stories only.",
        "暂无深度分析:仅为中英文资讯撰写分析。",
    ),
    "failed": (
        "No analysis: the language model's answer could not be used.",
        "暂无深度分析:语言模型的回答未通过检查。",
    ),
    "pending": ("No analysis for this story yet.", "本条暂无深度分析。"),
}


def analysis_absent_kind(reason: str | None) -> str:
    """Which ANALYSIS_ABSENT note fits the stored reason."""
    text = (reason or "").casefold()
    if not text:
        return "pending"
    if NO_MODEL_REASON in text or "no llm configured" in text:
        return "no_model"
    if text.startswith(REP_LEFT_REASON.casefold()[:24]):
        return "revised"
    if "english and chinese stories only" in text:
        return "language"
    return "failed"


def analysis_absent(reason: str | None, display: Display) -> list[Text]:
    """Why the analysis is missing, in the shown language(s)."""
    en, zh = ANALYSIS_ABSENT[analysis_absent_kind(reason)]
    return bilingual_label(en, zh, display)


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


def bilingual_label(en: str, zh: str, display: Display) -> list[Text]:
    pair: dict[TextLanguage, str] = {"en": en, "zh": zh}
    return [Text(lang, pair[lang]) for lang in languages(display)]


def views_label(count: int, display: Display) -> list[Text]:
    """ "1.2k views" / "1.2k 次浏览"."""
    n = format_count(count)
    return bilingual_label(f"{n} view{'' if count == 1 else 's'}", f"{n} 次浏览", display)


def sources_label(count: int, display: Display) -> list[Text]:
    return bilingual_label(f"{count} source{'' if count == 1 else 's'}", f"{count} 个来源", display)


def language_provenance(item: Item, display: Display) -> list[Text]:
    """Where each shown title comes from, said quietly: the source that wrote it ("from 36Kr") or
    "machine-translated". A missing language gets no line (its missing note covers it); a title
    shown in the other language because the chosen one is missing gets one."""
    representative = next((s for s in item.sources if s.article_id == item.representative_article_id), None)
    shown = {t.lang for t in texts(item.title, display)}
    out: list[Text] = []
    for lang in ("en", "zh"):
        if lang not in shown:
            continue
        written_by = None
        # Per-language provenance when the item carries it (``Item.languages``, written by the
        # translate stage from the member that supplied the text); else what the item says.
        origins = getattr(item, "languages", None)
        origin = origins.get(lang) if origins is not None else None
        if origin is not None and origin.origin == "source" and origin.source_name:
            written_by = origin.source_name
        elif origin is not None and origin.origin == "model":
            written_by = None
        elif lang == item.origin_language and representative is not None:
            written_by = representative.source_name
        elif item.translation.provenance is not None and item.translation.provenance.tier == "source":
            written_by = next((s.source_name for s in item.sources if s.language == lang), None)
        language = "English" if lang == "en" else "中文"
        if written_by:
            text = f"{language}: from {written_by}" if lang == "en" else f"{language}:来自 {written_by}"
        else:
            text = f"{language}: machine-translated" if lang == "en" else f"{language}:机器翻译"
        out.append(Text(lang, text))
    return out


class WebRenderer:
    def __init__(self, templates: Jinja2Templates, clock: Callable[[], datetime]) -> None:
        self.templates = templates
        self.clock = clock
        env = templates.env
        env.finalize = finalize_output  # set before the first template is compiled
        env.filters["paragraphs"] = paragraphs
        env.filters["safe_url"] = safe_url
        env.filters["plain_title"] = plain_title
        env.globals.update(
            texts=texts,
            missing_notes=missing_notes,
            summary_notes=summary_notes,
            tag_labels=tag_labels,
            entity_names=entity_names,
            languages=languages,
            html_lang=html_lang,
            views_label=views_label,
            sources_label=sources_label,
            analysis_absent=analysis_absent,
            reason_lines=reason_lines,
            LANGUAGE_NAMES=LANGUAGE_NAMES,
            SORT_LABELS=SORT_LABELS,
            quote=lambda s: quote(s, safe=""),
        )

    def _times(self, published_at: datetime, updated_at: datetime | None, display: Display) -> list[Text]:
        now = self.clock()
        return [
            Text(lang, published_updated_label(published_at, updated_at, now, lang))
            for lang in languages(display)
        ]

    def _render(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        response: HTMLResponse = self.templates.TemplateResponse(request, name, context, status_code=status)
        return response

    def list_page(
        self,
        request: Request,
        items: Sequence[ItemSummary],
        tags: Sequence[TagCount],
        display: Display,
        tag: str | None,
        sort: str,
        next_url: str | None,
        *,
        view: ListView = "cards",
        query: str | None = None,
        query_error: bool = False,
    ) -> HTMLResponse:
        def link(**changes: str | None) -> str:
            params = {"lang": display, "tag": tag, "sort": sort, "view": view, "q": query, **changes}
            if params.get("view") == "cards":
                params["view"] = None  # the default
            return "/?" + urlencode({k: v for k, v in params.items() if v})

        rows = [
            {
                "item": item,
                # A summary's updated_at is already the last material change (= published_at
                # until the item first changed): no "updated" part for an unchanged item.
                "times": self._times(
                    item.published_at,
                    item.updated_at if changed_since_appearance(item.version) else None,
                    display,
                ),
                "views": views_label(item.views, display) if item.views else [],
                "missing": missing_notes(item.title, display),
            }
            for item in items
        ]
        return self._render(
            request,
            "list.html",
            {
                "display": display,
                "rows": rows,
                "tags": tags,
                "tag": tag,
                "active_tag": next((t for t in tags if t.id == tag), None) if tag else None,
                "sort": sort,
                "view": view,
                "query": query or "",
                "query_error": query_error,
                "next_url": next_url,
                # A later page (opened through "More"): a way back to the first one.
                "paged": bool(request.query_params.get("cursor")),
                "link": link,
                "lang_links": {d: link(lang=d) for d in ("en", "zh", "both")},
            },
        )

    def item_page(self, request: Request, item: Item, display: Display) -> HTMLResponse:
        now = self.clock()
        representative = item.representative_article_id
        sources = sorted(item.sources, key=lambda s: s.article_id != representative)
        source_rows = [
            {
                "source": s,
                "href": safe_url(s.url),
                "times": [
                    Text(lang, relative_time(s.published_at or s.joined_at, now, lang))
                    for lang in languages(display)
                ],
            }
            for s in sources
        ]
        changed = changed_since_appearance(item.version)
        return self._render(
            request,
            "item.html",
            {
                "display": display,
                "item": item,
                "query": "",
                "times": self._times(item.published_at, item.updated_at if changed else None, display),
                "views": views_label(item.views, display) if item.views else [],
                "sources_count": sources_label(len(item.sources), display),
                "missing": missing_notes(item.title, display),
                "provenance": language_provenance(item, display),
                "sources": source_rows,
                "source_headline": sources[0].title if sources else None,
                "lang_links": {d: f"/items/{quote(item.id, safe='')}?lang={d}" for d in ("en", "zh", "both")},
            },
        )

    def not_found(self, request: Request, display: Display) -> HTMLResponse:
        return self._render(
            request,
            "not_found.html",
            {
                "display": display,
                "query": "",
                "lang_links": {d: f"/?lang={d}" for d in ("en", "zh", "both")},
            },
            status=404,
        )

    def bad_link(
        self, request: Request, display: Display, status: int, problems: Sequence[str], retry_url: str
    ) -> HTMLResponse:
        """A reader-facing error (a stale or hand-edited link, a page that cannot be shown): what went
        wrong in a few words, the page without the bad part, and the front page. Never raw JSON."""
        context = {"status": status, "problems": list(problems), "retry_url": retry_url}
        return self._render(request, "bad_link.html", {**_page_chrome(display), **context}, status=status)


def _page_chrome(display: Display) -> dict[str, Any]:
    """What base.html needs on a page that lists nothing: the language links and an empty search."""
    return {"display": display, "query": "", "lang_links": {d: f"/?lang={d}" for d in ("en", "zh", "both")}}
