"""Facts that keep two stories apart however similar their embeddings are (clustering vetoes).

The embedding puts "Qwen2.5-Coder released" next to "Qwen2.5 released" (same company, same day,
same words), and "OpenAI raises at $750bn" next to "Nvidia invests $10bn in OpenAI". What tells
them apart are facts the core already extracts:

- **model / product / version names** in the title ("GPT-5.5", "Qwen2.5-Coder", "B30A", "Opus 5");
- **money amounts** in the title (shared.core.money, converted to USD so $10bn = 100亿美元);
- **event types** of the title (launch, funding, earnings, legal, regulation, factory, ...)
  for the same company (shared.core.entities);
- **organisations**: two texts that each name companies, none in common (cross-language cosines
  of unrelated stories reach 0.86 with e5: "ByteDance capex" vs "輝達 earnings");
- **years** in the title ("…to 2027" vs "…by end of 2028");
- **publication times** more than a week apart: a story is a few days of news, and a feed that
  carries its archive (a 2016 post next to a 2026 one, both first seen now) must not turn two
  short titles that embed alike into one story.

A **roundup** (a daily digest or briefing whose title lists several headlines: "AI日报：Claude推出
Claude Design；DeepSeek开启首轮外部融资；…", "8 点 1 氪：…；…；…") is not one story: it embeds
close to each story it lists. ``StoryFacts.roundup`` marks it; the clustering never joins it to a
story, nor a story to it, by embedding (shared.core.clustering).

Each rule compares one side's *title* facts with the other side's *title + lead* mentions, so a
story whose lead names the other model or amount is not vetoed: a veto needs a positive
contradiction, never just missing evidence. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.core.entities import find_entities
from shared.core.language import fold_for_matching, to_simplified
from shared.core.money import find_years, parse_amounts

# Names like gpt-5.5, qwen2.5-coder, b30a, v4, r1-0528, nvl144: a letter followed (possibly after
# a hyphen or dot) by a digit. Digit-first tokens ("2nm", "3b", "1m") are sizes, not names.
_LATIN_TOKEN = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")
_LETTER_THEN_DIGIT = re.compile(r"[a-z][.\-]?\d")
# "Opus 5", "Seedance 2.0", "Ernie 5.0": a capitalised name followed by a short version number.
_NAME_VERSION = re.compile(r"(?<![A-Za-z0-9])([A-Z][A-Za-z]+)[ \-](\d{1,2}(?:\.\d{1,2})?)(?![\d.]*\d)")
_NOT_A_NAME = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec top the and for with over under about "
    "phase series part chapter day week year years days weeks step level tier".split()
)
# Variant words that make another model of the same family: "GPT-5.5 mini" is not "GPT-5.5".
_VARIANT = re.compile(
    r"([a-z0-9]+(?:[.\-][a-z0-9]+)*)[ \-](mini|nano|pro|max|lite|flash|turbo|plus|ultra|air|preview|"
    r"instruct|coder|vl|omni|edit|embedding|guard|math|audio|vision)(?![a-z0-9])"
)
_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−"})

# Event types, English and (Simplified, folded) Chinese keywords. A title may have several.
# 上线 ("goes live") is left out of launch: it says the same of a data centre or a service.
_EVENT_PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "launch": r"\b(launch\w*|releas\w*|unveil\w*|introduc\w*|debut\w*|open-sourc\w*|rolls? out|"
        r"is here|is out|arrives?)\b|发布|推出|开源|亮相|问世|来了",
        "funding": r"\b(rais\w*|funding|valu\w*|invest\w*|share sale|stake|round)\b|融资|估值|投资|老股|入股",
        "earnings": r"\b(revenue|earnings|quarterly|profit|sales|forecast\w*|guidance)\b|营收|财报|财季|"
        r"净利|营业额|财测|指引",
        "legal": r"\b(court|judge|lawsuit|sue[sd]?|copyright|dismiss\w*)\b|法官|法院|诉讼|起诉|版权",
        "regulation": r"\b(ban\w*|bars?|barred|export|blocks?|rules|regulat\w*|act)\b|"
        r"禁止|出口|禁令|监管|法案|条款",
        "factory": r"\b(plant|fab|factory|production|build\w*)\b|工厂|厂|量产|动工|晶圆厂",
        "spending": r"\b(capex|capital spending|spending|capital expenditure)\b|资本开支|资本支出",
        "people": r"\b(ceo|cfo|cto|hire[sd]?|resign\w*|appoint\w*|steps down)\b|辞职|任命|离职|加盟",
    }.items()
}

# A roundup's title: headlines separated by semicolons ("AI日报：A；B；C"), at least three of them, or
# at least two after a digest label ("【大公司晚报】A；B", "Daily briefing: A; B"). Two clauses
# without a label are one headline ("Nvidia beats estimates; shares fall").
_HEADLINE_BREAK = re.compile(r"\s*[;；]\s*")
_DIGEST_LABEL = re.compile(
    r"日报|早报|晚报|周报|月报|简报|快报|速递|速览|汇总|合集|一览|周刊|"
    r"\b(?:daily|weekly|digest|round-?up|newsletter|briefing|recap|this week in)\b",
    re.IGNORECASE,
)
# The label before the headlines: "AI日报：", "【大公司晚报】", "Daily briefing -".
_LABEL_PREFIX = re.compile(r"^\s*(?:【[^】]{1,20}】|\[[^\]]{1,30}\]|[^:：;；]{1,30}[:：])")
MIN_ROUNDUP_HEADLINES = 3


def is_roundup(title: str) -> bool:
    """True when ``title`` lists several headlines (a digest of the day's or week's news)."""
    label = _LABEL_PREFIX.match(title)
    rest = title[label.end() :] if label else title
    headlines = [part for part in _HEADLINE_BREAK.split(rest) if len(part.strip()) > 1]
    if len(headlines) >= MIN_ROUNDUP_HEADLINES:
        return True
    return len(headlines) >= 2 and label is not None and bool(_DIGEST_LABEL.search(label.group(0)))


# Amounts closer than this (relative) are the same figure written differently or rounded.
AMOUNT_TOLERANCE = 0.1


def model_names(text: str) -> set[str]:
    """Model, product and version names in ``text``, folded ("GPT‑5.5" -> "gpt-5.5")."""
    names = set()
    folded = fold_for_matching(text).translate(_DASHES)
    for token in _LATIN_TOKEN.findall(folded):
        token = token.strip(".-")
        if _LETTER_THEN_DIGIT.search(token):
            names.add(token)
            # "deepseek-v4" is also "V4" in a headline that names the brand in Chinese.
            brand, _, rest = token.partition("-")
            if rest and not any(ch.isdigit() for ch in brand) and _LETTER_THEN_DIGIT.search(rest):
                names.add(rest)
    for name, version in _NAME_VERSION.findall(text.translate(_DASHES)):
        if name.lower() not in _NOT_A_NAME:
            names.add(f"{name.lower()}-{version}")  # "GPT 5.5" is written "GPT-5.5" too
    for base, variant in _VARIANT.findall(folded):
        if _LETTER_THEN_DIGIT.search(base):
            names.add(f"{base}-{variant}")
    return names


def specific_names(names: set[str]) -> set[str]:
    """Without the names that a longer name in the set extends ("gpt-5.5" beside "gpt-5.5-mini"):
    a headline is about its most specific model."""
    return {n for n in names if not any(o != n and o.startswith(n) for o in names)}


def event_types(text: str) -> set[str]:
    folded = fold_for_matching(text).translate(_DASHES)
    return {name for name, pattern in _EVENT_PATTERNS.items() if pattern.search(folded)}


def amounts_usd(text: str) -> set[float]:
    return {round(a.usd, 2) for a in parse_amounts(text) if a.usd is not None and a.usd > 0}


def organisations(text: str) -> set[str]:
    """Organisations named in ``text`` (companies, labs, regulators, governments; products and
    people by the organisation they belong to: Qwen -> alibaba)."""
    return {m.org or m.id for m in find_entities(text)}


def _same_amount(a: float, b: float) -> bool:
    return abs(a - b) <= AMOUNT_TOLERANCE * max(a, b)


@dataclass
class StoryFacts:
    """Facts of one article, or the union over a story's members."""

    title_models: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)  # title + lead
    title_amounts: set[float] = field(default_factory=set)
    amounts: set[float] = field(default_factory=set)  # title + lead
    title_events: set[str] = field(default_factory=set)
    orgs: set[str] = field(default_factory=set)
    title_years: set[int] = field(default_factory=set)
    years: set[int] = field(default_factory=set)  # title + lead
    # Publication times (Unix seconds) of the members that give one: the span they cover.
    first_published: float | None = None
    last_published: float | None = None
    # A digest of several stories (``is_roundup``): joins no story by embedding.
    roundup: bool = False

    @classmethod
    def of(cls, title: str, lead: str, published_at: datetime | None = None) -> StoryFacts:
        # The gazetteer and the amount parser read Simplified Chinese: 字節跳動 is 字节跳动.
        title, lead = to_simplified(title), to_simplified(lead)
        both = f"{title}\n{lead}"
        return cls(
            title_models=specific_names(model_names(title)),
            models=model_names(both),
            title_amounts=amounts_usd(title),
            amounts=amounts_usd(both),
            title_events=event_types(title),
            orgs=organisations(both),
            title_years=set(find_years(title)),
            years=set(find_years(both)),
            first_published=published_at.timestamp() if published_at is not None else None,
            last_published=published_at.timestamp() if published_at is not None else None,
            roundup=is_roundup(title),
        )

    def add(self, other: StoryFacts) -> None:
        self.title_models |= other.title_models
        self.models |= other.models
        self.title_amounts |= other.title_amounts
        self.amounts |= other.amounts
        self.title_events |= other.title_events
        self.orgs |= other.orgs
        self.title_years |= other.title_years
        self.years |= other.years
        self.roundup = self.roundup or other.roundup
        spans = [span for span in (_publication_span(self), _publication_span(other)) if span]
        if spans:
            self.first_published = min(first for first, _ in spans)
            self.last_published = max(last for _, last in spans)

    def to_json(self) -> dict[str, Any]:
        return {
            "title_models": sorted(self.title_models),
            "models": sorted(self.models),
            "title_amounts": sorted(self.title_amounts),
            "amounts": sorted(self.amounts),
            "title_events": sorted(self.title_events),
            "orgs": sorted(self.orgs),
            "title_years": sorted(self.title_years),
            "years": sorted(self.years),
            "first_published": self.first_published,
            "last_published": self.last_published,
            "roundup": self.roundup,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoryFacts:
        return cls(
            title_models=set(data.get("title_models", [])),
            models=set(data.get("models", [])),
            title_amounts={float(x) for x in data.get("title_amounts", [])},
            amounts={float(x) for x in data.get("amounts", [])},
            title_events=set(data.get("title_events", [])),
            orgs=set(data.get("orgs", [])),
            title_years={int(x) for x in data.get("title_years", [])},
            years={int(x) for x in data.get("years", [])},
            first_published=data.get("first_published"),
            last_published=data.get("last_published"),
            roundup=bool(data.get("roundup", False)),
        )


def _any_same_amount(some: Iterable[float], others: Iterable[float]) -> bool:
    others = list(others)
    return any(_same_amount(a, b) for a in some for b in others)


# Publication times further apart than this are different news, whatever the texts say.
MAX_PUBLICATION_GAP_S = 7 * 24 * 3600.0


def _publication_span(facts: StoryFacts) -> tuple[float, float] | None:
    if facts.first_published is None or facts.last_published is None:
        return None
    return facts.first_published, facts.last_published


def _publication_gap_s(one: StoryFacts, other: StoryFacts) -> float:
    """Seconds between the two publication spans (0 when they overlap or either has none)."""
    a, b = _publication_span(one), _publication_span(other)
    if a is None or b is None:
        return 0.0
    return max(0.0, b[0] - a[1], a[0] - b[1])


def conflict(article: StoryFacts, story: StoryFacts) -> str | None:
    """Why ``article`` cannot belong to ``story`` (a short reason), or None when nothing contradicts."""
    if _publication_gap_s(article, story) > MAX_PUBLICATION_GAP_S:
        return "published"
    if article.title_models and story.title_models:
        # Headlines name the model they are about: "Qwen2.5" and "Qwen2.5-Coder" are different
        # releases even though the Qwen2.5 post's lead mentions the Coder and vice versa. Either
        # title's names must also be mentioned by the other side.
        if not (article.title_models & story.title_models):
            return "model"
        if not (article.title_models & story.models) or not (story.title_models & article.models):
            return "model"
    if article.title_amounts and story.title_amounts:
        # Either title's figure must appear on the other side ($10bn investment vs $750bn valuation).
        if not _any_same_amount(article.title_amounts, story.amounts) or not _any_same_amount(
            story.title_amounts, article.amounts
        ):
            return "amount"
    if article.orgs and story.orgs and not (article.orgs & story.orgs):
        return "organisation"
    if article.title_years and story.title_years:
        # "…fab to 2027" vs "…plant to open end of 2028": a different date is a different story
        # unless either side mentions the other's year.
        if not (article.title_years & story.years) or not (story.title_years & article.years):
            return "year"
    if (
        article.title_events
        and story.title_events
        and not (article.title_events & story.title_events)
        and article.orgs & story.orgs
    ):
        return "event"
    return None
