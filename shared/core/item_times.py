"""The two times a reader is shown for a story (pure).

*First appearance*: when the news first appeared, i.e. the earliest publication time a source gives,
or, for a source that gives none, when the pipeline first saw it. A source's publication time later
than its own first sighting is clock skew or a re-dated page: the sighting is used instead, so a
story never "appears" after it was seen.

*Last material change*: when the item last changed in a way a reader would notice (a new source,
new text, a score that moved). An item still at its first version has not changed since it
appeared, so its first appearance is also its last change; processing time is never shown as news
time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol


class Sighting(Protocol):
    @property
    def published_at(self) -> datetime | None: ...

    @property
    def joined_at(self) -> datetime: ...


def first_appearance(sources: Iterable[Sighting], fallback: datetime) -> datetime:
    """Earliest of each source's publication time (capped at its first sighting) or first sighting;
    ``fallback`` when there are no sources."""
    times = [
        s.published_at if s.published_at is not None and s.published_at <= s.joined_at else s.joined_at
        for s in sources
    ]
    return min(times, default=fallback)


def last_material_change(version: int, published_at: datetime, updated_at: datetime) -> datetime:
    """``updated_at`` once the item changed after it was first published, else ``published_at``."""
    if version <= 1:
        return published_at
    return max(updated_at, published_at)


def changed_since_appearance(version: int) -> bool:
    """Whether an "updated …" time is worth showing next to the first appearance."""
    return version > 1
