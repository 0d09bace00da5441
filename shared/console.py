"""What `newsroom up` prints about items and the language model (the CLI only calls these).

- ``item_lines``: one item, both titles, each with where it comes from (a source's name, the
  model, or the reader's "not available yet" line).
- ``bilingual_summary``: items published, how many are bilingual and how (sources / model), how
  many in one language only.
- ``model_banner`` / ``model_status``: the operator's view of the language model: whether
  translation and analysis by a model are on, and how to turn them on. This advice belongs here,
  in the logs and in ``newsroom status``, never in an item or a page.
- ``terminal_safe``: stored text (titles, source names come from feeds anyone can publish) as the
  operator's terminal may receive it: without the control characters that make escape sequences.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from shared.core.control_chars import BIDI_CONTROLS, NOT_TEXT
from shared.settings import Settings

LANGUAGES = ("en", "zh")
ENABLE_HINT = (
    "set NEWSROOM_LLM__BASE_URL and NEWSROOM_LLM__MODEL (any OpenAI-compatible endpoint) to turn them on"
)

# What a terminal acts on instead of showing: C0 controls (ESC starts every escape sequence: colours,
# OSC 8 hyperlinks, window titles, clipboard writes), DEL, C1 controls (CSI, OSC and DCS exist as one
# character too), bidi overrides and isolates (they reorder the rest of the line), and lone
# surrogates (``print`` raises on them). Tab, line feed and carriage return are handled apart.
_TERMINAL_CONTROLS = re.compile(f"[{NOT_TEXT}{BIDI_CONTROLS}]")
_LINE_BREAKS = re.compile("[\t\n\r]")


def terminal_safe(text: str, *, one_line: bool = True) -> str:
    """``text`` without terminal controls; the text they carried stays (an escape sequence's
    parameters show as plain characters, so the operator sees that a title was odd). ``one_line``
    also turns tabs and line breaks into spaces: a stored title must not forge console lines."""
    text = _TERMINAL_CONTROLS.sub("", text)
    return _LINE_BREAKS.sub(" ", text) if one_line else text.replace("\r", "")


def _origin(doc: Mapping[str, Any], language: str) -> Mapping[str, Any]:
    return ((doc.get("languages") or {}).get(language)) or {}


def _provenance_label(doc: Mapping[str, Any], language: str) -> str:
    text = _origin(doc, language)
    origin = text.get("origin")
    if origin == "source":
        return f"source: {text.get('source_name') or '?'}"
    if origin == "model":
        return f"model: {text.get('model') or '?'}"
    return "none"


def item_lines(doc: Mapping[str, Any]) -> list[str]:
    """One item as the console shows it: scores, tags and sources, then one line per language."""
    scores = doc.get("scores") or {}
    values = " ".join(
        f"{name}={round(scores[name]['value'])}" if scores.get(name) else f"{name}=n/a"
        for name in ("hot", "quality", "impact")
    )
    tags = ",".join(t["id"] for t in doc.get("tags", [])) or "untagged"
    lines = [f"- [{tags}] {values} sources={len(doc.get('sources', []))}"]
    title = doc.get("title") or {}
    for language in LANGUAGES:
        shown = title.get(language)
        if shown:
            lines.append(f"    {language}: {shown}  ({_provenance_label(doc, language)})")
        else:
            notice = _origin(doc, language).get("notice") or "—"
            lines.append(f"    {language}: {notice}")
    return [terminal_safe(line) for line in lines]


def bilingual_kind(doc: Mapping[str, Any]) -> str:
    """``sources`` (both languages written by outlets), ``model`` (one translated), ``none``."""
    title = doc.get("title") or {}
    if not all(title.get(language) for language in LANGUAGES):
        return "none"
    origins = {_origin(doc, language).get("origin") for language in LANGUAGES}
    return "model" if "model" in origins else "sources"


def bilingual_counts(docs: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = Counter(bilingual_kind(doc) for doc in docs)
    total = sum(counts.values())
    return {
        "published": total,
        "bilingual": counts["sources"] + counts["model"],
        "sources": counts["sources"],
        "model": counts["model"],
        "none": counts["none"],
    }


def bilingual_summary(docs: Iterable[Mapping[str, Any]]) -> str:
    c = bilingual_counts(docs)
    return (
        f"Items: {c['published']} published, {c['bilingual']} bilingual "
        f"(from sources {c['sources']}, by model {c['model']}), {c['none']} in one language only"
    )


SUMMARY_PROJECTION = {"title": 1, "languages.en.origin": 1, "languages.zh.origin": 1}


async def show_items(mongo_url: str, settings: Settings, limit: int = 20) -> int:
    """Print the newest ``limit`` items and the bilingual summary line; returns the item count."""
    from shared.storage import ITEMS, MongoStore

    store = MongoStore(mongo_url, settings.mongo_db, settings.mongo_driver)
    try:
        items = store.collection(ITEMS)
        docs = await items.find({}).sort("published_at", -1).to_list(length=limit)
        everything = await items.find({}, SUMMARY_PROJECTION).to_list(length=None)
    finally:
        await store.close()
    for doc in docs:
        for line in item_lines(doc):
            print(line, flush=True)
    print(bilingual_summary(everything), flush=True)
    return len(everything)


def model_status(settings: Settings) -> dict[str, Any]:
    """Per task (translate, analyze, score): on with the model, or off with how to turn it on."""
    from shared.llm.gateway import not_configured_reason

    out: dict[str, Any] = {}
    for task in ("translate", "analyze", "score"):
        reason = not_configured_reason(settings.llm, task)
        out[task] = {"enabled": reason is None, **({"how_to_enable": reason} if reason else {})}
    return out


def model_banner(settings: Settings) -> str:
    """One line for the start-up banner."""
    status = model_status(settings)
    off = [task for task, state in status.items() if not state["enabled"]]
    if not off:
        return "  Language model: on (translation, analysis commentary, score rubrics)"
    what = (
        "translation and analysis by a language model are off"
        if len(off) == 3
        else (f"language model off for {', '.join(off)}")
    )
    return f"  Language model: {what}; {ENABLE_HINT} (stories covered in both languages stay bilingual)"
