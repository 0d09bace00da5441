"""Revisions of earlier clustering decisions (pure; no I/O).

The story index may revise what it decided before when new evidence arrives (an article in a new
language, an earlier article that arrived late): a member moves from one story to another, two
stories become one, or one story splits. Each story whose member list changed, other than by the
plain join of the newcomer, is reported once per arrival as a ``StoryRevision`` so that ingest can
tell the pipeline (``news.story.revised``) and publish can change the item.

Story ids are kept stable: a revised group keeps the id of the existing story it shares most
members with (ties: the older story), so a published item keeps its id when its story grows or
loses a member; a story all of whose members moved elsewhere ends with ``merged_into`` set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RevisionKind = Literal["merged", "split", "moved"]


@dataclass(frozen=True)
class StoryRevision:
    """One story's member list after a revision.

    ``members``: the complete list of the story's article ids after the revision, in the index's
    member order (empty when the story ended). ``merged_into``: the story that took all its members
    when it ended, else None. ``added`` / ``removed``: the article ids that moved in / out with this
    revision (the newcomer that caused it is not counted in ``added``; it travels with its own
    ``news.ingested`` / ``news.story.joined`` event).
    """

    story_id: str
    kind: RevisionKind
    members: tuple[str, ...]
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    merged_into: str | None = None

    @property
    def ended(self) -> bool:
        return not self.members
