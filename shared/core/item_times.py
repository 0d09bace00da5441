"""The two times a reader is shown for a story (pure).

*First appearance*: when the news first appeared, i.e. the earliest publication time a source gives,
or, for a source that gives none, when the pipeline first saw it. A source's publication time later
than its own first sighting is clock skew or a re-dated page: the sighting is used instead, so a
story never "appears" after it was seen.

*Last update* (``last_news_update``): when the story last moved on as news, which is when the
latest of its sources reported it: that source's publication time, capped like the first appearance
at when the pipeline first saw it, and never later than the item's last material change. An item
still at its first version has not changed since it appeared, so its first appearance is also its
last update. Processing time is never shown as news time: a first pass over months-old feeds joins
an April report to an April story today, and the story was last updated in April, not "16m ago".
A change that no new report brought (a score that moved, a translation or analysis that arrived,
text rewritten by a reprocess) is not news and does not move it; the stored ``updated_at`` keeps
recording when the item last changed materially (events, ``sort=updated``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class Sighting(Protocol):
    @property
    def published_at(self) -> datetime | None: ...

    @property
    def joined_at(self) -> datetime: ...


@dataclass(frozen=True)
class SourceTimes:
    """A source's two times read straight from a stored item (a list page needs no full model)."""

    published_at: datetime | None
    joined_at: datetime


def appearance(source: Sighting) -> datetime:
    """When one source reported the news: its publication time, or its first sighting when it gives
    none or a later one (clock skew, a re-dated page)."""
    published = source.published_at
    return published if published is not None and published <= source.joined_at else source.joined_at


def first_appearance(sources: Iterable[Sighting], fallback: datetime) -> datetime:
    """Earliest of each source's publication time (capped at its first sighting) or first sighting;
    ``fallback`` when there are no sources."""
    return min((appearance(s) for s in sources), default=fallback)


def last_news_update(
    version: int, published_at: datetime, updated_at: datetime, sources: Iterable[Sighting]
) -> datetime:
    """The last update a reader is shown: the latest source's appearance, between the first
    appearance (``published_at``) and the last material change (``updated_at``); ``published_at``
    while the item is at its first version or when no later report exists."""
    if version <= 1:
        return published_at
    latest = max((appearance(s) for s in sources), default=published_at)
    return max(published_at, min(latest, updated_at))


def changed_since_appearance(version: int) -> bool:
    """Whether an "updated …" time is worth showing next to the first appearance."""
    return version > 1
