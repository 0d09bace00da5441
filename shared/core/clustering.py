"""Story clustering at ingest: which known story, if any, does a new article belong to?

Stages, cheapest and surest first; the first stage that matches decides:

1. **url**: the canonical URL was seen before (the same article again).
2. **near_duplicate**: MinHash LSH over character shingles of the folded title + lead finds a
   wire copy or a light rewrite of a member (also across Simplified/Traditional Chinese, since
   the text is folded first). The article joins that story and is marked as a near copy, so it
   does not count as independent coverage.
3. **embedding**: multilingual-e5 vectors of title + lead. Same-story similarity overlaps with
   same-company similarity, so a similarity threshold alone would merge "OpenAI releases GPT-X"
   with "OpenAI CFO says device by year end". An article joins story S only if
   (a) S is its best match, judged on S's vectors in the article's language when S has any (an
   English article is compared with the English members, a cross-language comparison is used
   only for a story not yet seen in that language), (b) the cosine clears the threshold of that
   language pair, tuned on the labelled set (e5 puts Chinese texts closer together than English
   ones, and cross-language pairs lower than both), and (c) *mutual best match*: the article is
   closer to S than any other story in the index is, so an article landing in a crowd of
   same-company stories joins none of them.

**One publisher, one article per story**: stage 3 never joins an article to a story that already
holds an article of the same publisher (the host of its canonical URL) in the same language. A
publisher does not cover one story twice under two URLs with different text: four OpenAI posts of
one week (the GPT-5.2 launch, its system card, a science post, a biology post) embed within e5's
same-story range of each other and were one story. The same text at another URL is still a near
copy (stage 2), and a publisher's own translation (same host, other language) still joins.

**Roundups** (a digest whose title lists several headlines, ``StoryFacts.roundup``) take no part in
stage 3 (they join no story and no story joins them: their vectors are not in the index), and are
near copies only of roundups.

**Conflict vetoes** (shared.core.story_facts) apply to stages 2 and 3: a story whose facts
contradict the article's (another model name or version in the title, another money amount,
another year, another event type of the same company, no organisation in common) is passed over
and the next-best story is tried; every story close enough to matter is checked, so the result
does not depend on which story happened to arrive first. A story's closest neighbour (for the
mutual-best rule) ignores stories its facts contradict.

Everything else starts a new story whose id is the stable id of its first article.

**Revisable decisions**: after each arrival the stories around the newcomer are clustered again
from scratch in canonical order (published time, then article id) with the same stages and
vetoes; a different grouping is adopted (ids kept stable) and reported as ``StoryRevision``s in
``Assignment.revisions``, so the final partition depends on the set of articles rather than on
the order they arrived in (see bench/clustering.py for how far that holds). The index is
pure and in memory (no I/O, no clock: ``now`` is passed in), bounded by a time window, and
deterministic for the same input order. ``snapshot()``/``restore()`` give plain JSON-able dicts.
"""

from __future__ import annotations

import base64
import heapq
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
from numpy.typing import NDArray

from shared.core.embeddings import Embedder, Vectors
from shared.core.language import fold_for_matching
from shared.core.minhash import SCHEME, MinHash, MinHashLSH, lsh_params
from shared.core.story_facts import StoryFacts, conflict
from shared.core.story_revisions import RevisionKind, StoryRevision
from shared.events import stable_id

Method = Literal["new", "url", "near_duplicate", "embedding"]
# /2: each member carries what a replay needs (its facts, float16 vector, order key); /1 is read.
SNAPSHOT_FORMAT = "story-index/2"
_READABLE_FORMATS = frozenset({"story-index/1", SNAPSHOT_FORMAT})
# The MinHash permutation scheme (shared.core.minhash, datasketch's "affine32"); persisted hash
# values are only comparable within one.
MINHASH_SCHEME = SCHEME
_NON_WORD = re.compile(r"[\W_]+")


# Languages as small codes so per-row thresholds are one vectorised comparison.
_LANGUAGE_CODES = {"en": 0, "zh": 1}
_OTHER_CODE = 2
_CODE_LANGUAGES = {0: "en", 1: "zh", 2: "other"}


def _language_code(language: str) -> int:
    return _LANGUAGE_CODES.get(language, _OTHER_CODE)


@dataclass(frozen=True)
class ClusterDoc:
    """What the clustering needs to know about one article."""

    article_id: str
    canonical_url: str
    title: str
    lead: str  # first ~500 characters of the body or summary
    language: str  # "en" | "zh" | "other"
    published_at: datetime | None = None


@dataclass(frozen=True)
class Assignment:
    story_id: str
    method: Method
    # url: 1.0; near_duplicate: estimated Jaccard of the shingles; embedding: cosine; new: the
    # best cosine seen (None when nothing was compared).
    similarity: float | None = None
    # The member this article is a near copy of (not independent coverage), else None.
    near_duplicate_of: str | None = None
    # Earlier decisions this arrival revised (members moved between stories, stories merged or
    # split); empty when only the newcomer was placed. See shared.core.story_revisions.
    revisions: tuple[StoryRevision, ...] = ()

    @property
    def is_new(self) -> bool:
        return self.method == "new"


@dataclass(frozen=True)
class ClusteringConfig:
    window_h: float = 72.0
    # Characters per shingle: Chinese packs a word into 1-3 characters, English into ~5.
    shingle_chars_zh: int = 3
    shingle_chars_other: int = 5
    num_perm: int = 128
    # Estimated Jaccard at or above which an article is a near copy of a member.
    near_duplicate_threshold: float = 0.5
    # Cosine thresholds of the embedding stage, per language pair, tuned on the "tune" half of
    # tests/data/clustering (see bench/clustering.py). e5 places Chinese texts closer together
    # than English ones and cross-language pairs lower than either, so one number cannot fit.
    # Chosen as the middle of the best-F1 plateau of the tune-half grid (en 0.90-0.91, zh
    # 0.92-0.93, cross 0.82-0.85).
    en_en_threshold: float = 0.905
    zh_zh_threshold: float = 0.925
    cross_language_threshold: float = 0.835
    # Any pair with a language we do not tune for ("other": neither English nor Chinese), either
    # side: stricter than the tuned ones. Nothing calibrates e5 there (a 3000-character "word word
    # word…" text had cosine 0.84 with an unrelated Chinese story, above the cross-language 0.835).
    other_threshold: float = 0.935
    # Text embedded: title plus the first lead_chars characters of the lead.
    lead_chars: int = 200
    # Vectors kept per story (the first ones, at least one per language): bounds the cost of
    # large stories while letting a story be found from either language.
    max_vectors_per_story: int = 6
    # Require the mutual best match (switch off only to measure what it contributes).
    mutual_best: bool = True
    # One article per publisher and language in a story, and roundups kept out of the embedding
    # stage (switch off only to measure what they contribute).
    publisher_rule: bool = True
    roundups_apart: bool = True
    # Conflict vetoes (shared.core.story_facts): different model names, amounts or event types of
    # the same company keep stories apart whatever the cosine (switch off only to measure them).
    vetoes: bool = True
    # Stories within this margin below their threshold are fact-checked (the others can neither be
    # joined nor block a join, so they need no check).
    veto_scan_margin: float = 0.05
    # Revisable decisions: after each arrival the stories around the newcomer are clustered again
    # from scratch in canonical order (published time, then article id) and the result replaces
    # the current grouping when it differs, so the partition does not depend on arrival order.
    revise: bool = True
    # Stories whose best member is within this margin below its threshold to the newcomer (and
    # their closest neighbours within it) are replayed with the newcomer's story.
    revise_margin: float = 0.06
    # Bounds on one replay (the newcomer's story always takes part).
    max_revise_stories: int = 12
    max_revise_members: int = 64

    def threshold(self, language_a: str, language_b: str) -> float:
        return float(self.threshold_matrix()[_language_code(language_a), _language_code(language_b)])

    def threshold_matrix(self) -> np.ndarray:
        """Thresholds indexed by the two language codes (en 0, zh 1, other 2)."""
        matrix = np.full((3, 3), self.cross_language_threshold)
        matrix[0, 0], matrix[1, 1] = self.en_en_threshold, self.zh_zh_threshold
        matrix[_OTHER_CODE, :] = matrix[:, _OTHER_CODE] = self.other_threshold
        return matrix


@dataclass
class _Member:
    article_id: str
    canonical_url: str
    language: str
    near_duplicate_of: str | None
    minhash: MinHash | None
    # What a replay needs to place the member again. ``facts``/``order_key`` are None for members
    # restored from a snapshot written before revisions: their story is then never revised.
    facts: StoryFacts | None = None
    vector: np.ndarray | None = None  # float16 (the index computes with the same rounded values)
    order_key: tuple[float, str] | None = None  # (published or arrival timestamp, article id)

    @property
    def replayable(self) -> bool:
        return self.facts is not None and self.order_key is not None

    @property
    def roundup(self) -> bool:
        return self.facts is not None and self.facts.roundup

    @property
    def publisher(self) -> tuple[str, str] | None:
        """(host of the canonical URL, language); None when the URL names no host."""
        host = publisher_host(self.canonical_url)
        return (host, self.language) if host else None

    def fresh_copy(self) -> _Member:
        """The member as it arrived, before any placement (for a replay)."""
        return _Member(
            self.article_id,
            self.canonical_url,
            self.language,
            None,
            self.minhash,
            self.facts,
            self.vector,
            self.order_key,
        )


@dataclass
class _Story:
    story_id: str
    slot: int  # index into the per-story arrays
    created_at: datetime
    last_seen: datetime
    members: list[_Member] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # rows of the vector matrix
    # Union of the members' facts (names, amounts, event types): the conflict vetoes.
    facts: StoryFacts = field(default_factory=StoryFacts)


def publisher_host(canonical_url: str) -> str:
    """The publisher of an article: the host of its canonical URL ("" for a URL without one, such
    as a local file feed's relative link). Canonical URLs already drop "www." and the like."""
    try:
        return urlsplit(canonical_url).hostname or ""
    except ValueError:
        return ""


def _ts(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError("datetimes given to the story index must be timezone-aware")
    return moment.timestamp()


def _encode_array(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values).tobytes()).decode("ascii")


def _decode_array(text: str, dtype: type) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).copy()


def _new_lsh(threshold: float, num_perm: int) -> MinHashLSH:
    """A replay builds a small index per arrival: the band layout is computed once per
    (threshold, num_perm) (``lsh_params`` is cached)."""
    return MinHashLSH(num_perm, lsh_params(threshold, num_perm))


def _grow(array: np.ndarray, size: int, fill: float | int) -> np.ndarray:
    grown = np.full((size, *array.shape[1:]), fill, dtype=array.dtype)
    grown[: len(array)] = array
    return grown


class StoryIndex:
    """The recent-story index. Not thread-safe: one ingest worker owns one index."""

    def __init__(self, embedder: Embedder | None, config: ClusteringConfig | None = None) -> None:
        """``embedder=None`` disables the embedding stage explicitly (URL + near-duplicate only);
        there is no silent fallback to a weaker vector."""
        self.embedder = embedder
        self.config = config or ClusteringConfig()
        self._thresholds = self.config.threshold_matrix()
        self._reset()

    # --- state -------------------------------------------------------------------------------

    def _reset(self) -> None:
        cfg = self.config
        self._stories: dict[str, _Story] = {}
        self._members: dict[str, _Member] = {}
        self._article_story: dict[str, str] = {}
        self._url_article: dict[str, str] = {}
        lsh_threshold = max(0.1, cfg.near_duplicate_threshold - 0.1)  # candidates, verified after
        self._lsh = _new_lsh(lsh_threshold, cfg.num_perm)
        self._expiry: list[tuple[float, int, str]] = []
        self._seq = 0
        # Per story slot: its id (None once evicted) and its closest other story, as a calibrated
        # score (cosine minus the pair's threshold) and that story's slot.
        self._slot_story: list[str | None] = []
        self._neighbour_score = np.full(64, -np.inf)
        self._neighbour_slot = np.full(64, -1, dtype=np.int64)
        self._dead_slots = 0
        # Vector rows: the matrix, the owning slot (-1 = evicted), the language code, the article.
        self._dim: int | None = None
        self._vectors: Vectors = np.zeros((0, 0), dtype=np.float32)
        self._row_slot = np.full(64, -1, dtype=np.int64)
        self._row_language = np.full(64, _OTHER_CODE, dtype=np.int8)
        self._row_article: list[str] = []
        self._n_rows = 0
        self._dead_rows = 0

    @property
    def embedding_enabled(self) -> bool:
        return self.embedder is not None

    def __len__(self) -> int:
        return len(self._stories)

    def story_of(self, article_id: str) -> str | None:
        return self._article_story.get(article_id)

    def member_vector(self, article_id: str) -> NDArray[np.float32] | None:
        """The vector the clustering keeps for a member (float16 in the index; None when it had no
        embedding): a story re-sent after a revision carries its representative's vector, so
        analyze does not embed it again."""
        story = self._stories.get(self._article_story.get(article_id, ""))
        for member in story.members if story else []:
            if member.article_id == article_id and member.vector is not None:
                return member.vector.astype(np.float32)
        return None

    def members(self, story_id: str) -> list[str]:
        story = self._stories.get(story_id)
        return [m.article_id for m in story.members] if story else []

    def stats(self) -> dict[str, int]:
        return {
            "stories": len(self._stories),
            "articles": len(self._article_story),
            "vectors": self._n_rows - self._dead_rows,
        }

    # --- the three stages --------------------------------------------------------------------

    def assign(self, doc: ClusterDoc, now: datetime, *, revise: bool | None = None) -> Assignment:
        """Place one article: join a known story or start a new one. Evicts expired stories first.

        Then (unless ``revise`` is False or the configuration switches it off) the stories around
        the newcomer are clustered again in canonical order; when that grouping differs from the
        current one it is adopted and every changed story is listed in ``Assignment.revisions``.
        """
        self.evict(now)
        known_article = self._url_article.get(doc.canonical_url)
        if known_article is None and doc.article_id in self._article_story:
            known_article = doc.article_id
        if known_article is not None:
            story = self._stories[self._article_story[known_article]]
            self._touch(story, now)
            return Assignment(story.story_id, "url", 1.0, None)

        member = self._member_of(doc, now)
        placed = self._place(member, now)
        if not (self.config.revise if revise is None else revise):
            return placed
        return self._revise(member, placed, now)

    def _member_of(self, doc: ClusterDoc, now: datetime) -> _Member:
        """The article with everything the stages need, computed once (kept for replays)."""
        folded = fold_for_matching(f"{doc.title} {doc.lead}")
        wants_facts = self.config.vetoes or self.config.roundups_apart
        facts = StoryFacts.of(doc.title, doc.lead, doc.published_at) if wants_facts else StoryFacts()
        minhash = self._minhash(folded, doc.language) if folded else None
        vector = None
        if self.embedder is not None and folded:
            # Rounded to float16 once: stored, replayed and compared with the same values.
            vector = np.asarray(self.embedder.embed([self.embedding_text(doc)])[0], dtype=np.float16)
        published = doc.published_at or now
        return _Member(
            doc.article_id,
            doc.canonical_url,
            doc.language,
            None,
            minhash,
            facts,
            vector,
            (_ts(published), doc.article_id),
        )

    def _place(self, member: _Member, now: datetime) -> Assignment:
        """The three stages for a new member (its URL is not in the index)."""
        facts = member.facts or StoryFacts()
        if member.minhash is not None:
            near = self._near_duplicate(member.minhash, facts, member.roundup)
            if near is not None:
                original, jaccard = near
                story = self._stories[self._article_story[original]]
                member.near_duplicate_of = original
                self._join(story, member, now)
                return Assignment(story.story_id, "near_duplicate", jaccard, original)

        best_cosine: float | None = None
        if member.vector is not None and not self._apart(member):
            vector = member.vector.astype(np.float32)
            match = self._embedding_match(vector, member, facts)
            if match is not None:
                story, cosine, accepted = match
                best_cosine = cosine
                if accepted:
                    self._join(story, member, now)
                    return Assignment(story.story_id, "embedding", cosine, None)

        story = self._open_slot(stable_id("story", member.article_id), now, now)
        self._join(story, member, now)
        return Assignment(story.story_id, "new", best_cosine, None)

    def _apart(self, member: _Member) -> bool:
        """A roundup: no part in the embedding stage (it embeds close to every story it lists)."""
        return self.config.roundups_apart and member.roundup

    def _join(self, story: _Story, member: _Member, now: datetime) -> None:
        self._insert_member(story, member)
        if member.facts is not None:
            story.facts.add(member.facts)
        if member.vector is not None and not self._apart(member):
            self._add_vector(story, member.vector.astype(np.float32), member.language, member.article_id)
        self._touch(story, now)

    # --- revisable decisions -----------------------------------------------------------------

    def _neighbourhood(self, newcomer: _Member, home: _Story) -> list[_Story]:
        """The stories a replay regroups: the newcomer's, those whose best member is within
        ``revise_margin`` below its threshold to the newcomer (any language), and the closest
        neighbour of each when that is within the margin too; bounded, closest first."""
        cfg = self.config
        chosen = [home]
        if newcomer.vector is None or self._apart(newcomer) or self._n_rows == self._dead_rows:
            return chosen
        code = _language_code(newcomer.language)
        row_scores = self._row_scores(newcomer.vector.astype(np.float32), code)
        slots = self._row_slot[: self._n_rows]
        live = slots >= 0
        best = np.full(len(self._slot_story), -np.inf)
        np.maximum.at(best, slots[live], row_scores[live])
        best[home.slot] = np.inf
        near = np.flatnonzero(best >= -cfg.revise_margin)
        seeds = [int(s) for s in near[np.argsort(-best[near], kind="stable")]]
        ordered: list[int] = []
        for slot in seeds:
            ordered.append(slot)
            neighbour = int(self._neighbour_slot[slot])
            if neighbour >= 0 and self._neighbour_score[slot] >= -cfg.revise_margin:
                ordered.append(neighbour)
        seen = {home.slot}
        members = len(home.members)
        for slot in ordered:
            story_id = self._slot_story[slot]
            if slot in seen or story_id is None:
                continue
            seen.add(slot)
            story = self._stories[story_id]
            if len(chosen) >= cfg.max_revise_stories:
                break
            if members + len(story.members) > cfg.max_revise_members:
                continue
            chosen.append(story)
            members += len(story.members)
        return chosen

    def _replay(
        self, members: Sequence[_Member], now: datetime
    ) -> tuple[list[list[_Member]], dict[str, Assignment]]:
        """Cluster ``members`` from scratch in canonical order with the same rules and vetoes (in a
        small index of their own: no other story takes part). Returns the groups, in the order
        the replay opened them, and each member's placement in the replay."""
        replay = StoryIndex(None, self.config)
        placements: dict[str, Assignment] = {}
        for member in sorted(members, key=lambda m: m.order_key or (0.0, m.article_id)):
            placements[member.article_id] = replay._place(member.fresh_copy(), now)
        groups = [s.members for s in sorted(replay._stories.values(), key=lambda s: s.slot)]
        return groups, placements

    def _revise(self, newcomer: _Member, placed: Assignment, now: datetime) -> Assignment:
        home = self._stories[placed.story_id]
        stories = self._neighbourhood(newcomer, home)
        if sum(len(s.members) for s in stories) < 2:
            return placed
        if not all(m.replayable for s in stories for m in s.members):
            return placed  # restored from a snapshot without replay data: decisions stay final
        groups, placements = self._replay([m for s in stories for m in s.members], now)
        current = {frozenset(m.article_id for m in s.members) for s in stories}
        if {frozenset(m.article_id for m in g) for g in groups} == current:
            return placed
        return self._adopt(newcomer, placed, stories, groups, placements, now)

    def _adopt(
        self,
        newcomer: _Member,
        placed: Assignment,
        stories: list[_Story],
        groups: list[list[_Member]],
        placements: dict[str, Assignment],
        now: datetime,
    ) -> Assignment:
        """Replace ``stories`` by the replayed ``groups``, keeping ids stable, and report changes."""
        new_id = newcomer.article_id
        # Stories as they were before this arrival (a story the newcomer opened did not exist).
        before = {
            s.story_id: [m.article_id for m in s.members if m.article_id != new_id]
            for s in stories
            if not (placed.is_new and s.story_id == placed.story_id)
        }
        owner = {a: sid for sid, ids in before.items() for a in ids}
        old = {s.story_id: s for s in stories}
        # Each group keeps the id of the earlier story it shares most members with (ties: the
        # older story, by creation time then creation order; two groups tied for one story: the
        # one holding its earliest member, the article the id was made from); one id per group.
        position = {a: i for ids in before.values() for i, a in enumerate(ids)}
        candidates = []
        for index, group in enumerate(groups):
            overlap = Counter(owner[m.article_id] for m in group if m.article_id in owner)
            for story_id, count in overlap.items():
                first = min(position[m.article_id] for m in group if owner.get(m.article_id) == story_id)
                story = old[story_id]
                candidates.append((-count, story.created_at, story.slot, first, index, story_id))
        candidates.sort()
        group_id: dict[int, str] = {}
        for *_, index, story_id in candidates:
            if index not in group_id and story_id not in group_id.values():
                group_id[index] = story_id
        taken = set(group_id.values())
        for index, group in enumerate(groups):
            if index not in group_id:
                earliest = group[0].article_id  # in canonical order
                story_id = stable_id("story", earliest)
                if story_id in taken or (story_id in self._stories and story_id not in old):
                    # The earliest member started the story that another group kept: a derived id.
                    story_id = stable_id("story-split", ",".join(sorted(m.article_id for m in group)))
                group_id[index] = story_id
                taken.add(story_id)

        if len(set(group_id.values())) != len(groups):
            return placed  # defensive: never adopt a grouping that would give two groups one id
        dead_slots = [s.slot for s in stories]
        for story in stories:
            self._remove_story(story)
        for index, group in enumerate(groups):
            sources = [old[self._owner_before(m.article_id, owner, placed)] for m in group]
            kept = old.get(group_id[index])
            created = kept.created_at if kept is not None else min(s.created_at for s in sources)
            story = self._open_slot(group_id[index], created, max(s.last_seen for s in sources))
            for member in group:
                member.near_duplicate_of = placements[member.article_id].near_duplicate_of
                self._insert_member(story, member)
                if member.facts is not None:
                    story.facts.add(member.facts)
            for member in group:
                if member.vector is not None and not self._apart(member):
                    vector = member.vector.astype(np.float32)
                    self._add_vector(story, vector, member.language, member.article_id)
            self._touch(story, story.last_seen)
        self._repair_neighbours(dead_slots)
        if self._dead_rows > max(64, self._n_rows // 4) or self._dead_slots > max(
            64, len(self._slot_story) // 4
        ):
            self._compact()

        after = {group_id[i]: [m.article_id for m in g] for i, g in enumerate(groups)}
        # The story the newcomer opened counts as existing (empty) for the kinds: an earlier
        # member that moves to it "moved"; it is still reported as the newcomer's new story.
        opened: dict[str, list[str]] = {placed.story_id: []} if placed.is_new else {}
        revisions = _revisions(before | opened, after, new_id)
        final_id = self._article_story[new_id]
        if final_id not in before:
            return Assignment(final_id, "new", placed.similarity, None, revisions)
        if final_id == placed.story_id:
            return replace(placed, revisions=revisions)
        replayed = placements[new_id]
        if replayed.method != "new":
            return Assignment(
                final_id, replayed.method, replayed.similarity, replayed.near_duplicate_of, revisions
            )
        # The newcomer came first in canonical order and the others joined it in the replay.
        return Assignment(final_id, "embedding", self._closest_cosine(newcomer, final_id), None, revisions)

    @staticmethod
    def _owner_before(article: str, owner: dict[str, str], placed: Assignment) -> str:
        return owner.get(article, placed.story_id)

    def _closest_cosine(self, member: _Member, story_id: str) -> float | None:
        if member.vector is None:
            return None
        vector = member.vector.astype(np.float32)
        cosines = [
            float(m.vector.astype(np.float32) @ vector)
            for m in self._stories[story_id].members
            if m.vector is not None and m.article_id != member.article_id
        ]
        return round(max(cosines), 6) if cosines else None

    def embedding_text(self, doc: ClusterDoc) -> str:
        """The text the embedding stage embeds for ``doc``: title plus the start of the lead."""
        lead = doc.lead[: self.config.lead_chars].strip()
        return f"{doc.title.strip()}\n{lead}" if lead else doc.title.strip()

    def _shingles(self, folded: str, language: str) -> set[bytes]:
        size = self.config.shingle_chars_zh if language == "zh" else self.config.shingle_chars_other
        text = _NON_WORD.sub(" ", folded).strip()
        if language == "zh":
            text = text.replace(" ", "")  # spacing in Chinese text is layout, not content
        if len(text) <= size:
            return {text.encode("utf-8")} if text else set()
        return {text[i : i + size].encode("utf-8") for i in range(len(text) - size + 1)}

    def _minhash(self, folded: str, language: str) -> MinHash | None:
        shingles = self._shingles(folded, language)
        if not shingles:
            return None
        return MinHash.of(shingles, self.config.num_perm)

    def _near_duplicate(self, minhash: MinHash, facts: StoryFacts, roundup: bool) -> tuple[str, float] | None:
        best: tuple[float, int, str] | None = None
        for candidate in self._lsh.query(minhash):
            member = self._members.get(candidate)
            story = self._stories.get(self._article_story.get(candidate, ""))
            if member is None or member.minhash is None or story is None:
                continue
            if self.config.roundups_apart and member.roundup != roundup:
                continue  # a roundup's lead copies one story's: a copy of a roundup is a roundup
            jaccard = float(minhash.jaccard(member.minhash))
            if jaccard < self.config.near_duplicate_threshold or conflict(facts, story.facts):
                continue
            # Highest Jaccard wins; ties go to the story created first (deterministic).
            key = (-jaccard, story.slot, candidate)
            if best is None or key < best:
                best = key
        if best is None:
            return None
        # A copy of a copy points at the original: it is the same coverage.
        member = self._members[best[2]]
        return (member.near_duplicate_of or member.article_id), -best[0]

    def _row_scores(self, vector: np.ndarray, language_code: int) -> np.ndarray:
        """Per vector row: cosine minus the threshold of that language pair (>= 0 is a match)."""
        n = self._n_rows
        cosines = self._vectors[:n] @ vector
        thresholds = self._thresholds[language_code][self._row_language[:n]]
        scores = cosines.astype(np.float64) - thresholds
        scores[self._row_slot[:n] < 0] = -np.inf
        return scores

    def _story_scores(self, row_scores: np.ndarray, language_code: int) -> np.ndarray:
        """Per story slot, how well a vector in ``language_code`` matches the story.

        A story that has vectors in that language is judged by them only: same-language scores
        separate stories better, and a cross-language near-miss (e.g. an English article on one
        OpenAI story against the Chinese version of another) must not outvote them. A story
        without such vectors is judged by its others. Slots without vectors get -inf.
        """
        n_slots = len(self._slot_story)
        slots = self._row_slot[: self._n_rows]
        live = slots >= 0
        same = live & (self._row_language[: self._n_rows] == language_code)
        best_any = np.full(n_slots, -np.inf)
        np.maximum.at(best_any, slots[live], row_scores[live])
        best_same = np.full(n_slots, -np.inf)
        np.maximum.at(best_same, slots[same], row_scores[same])
        has_same = np.bincount(slots[same], minlength=n_slots) > 0
        return np.where(has_same, best_same, best_any)

    def _vetoed(self, slot: int, member: _Member, facts: StoryFacts) -> bool:
        story_id = self._slot_story[slot]
        if story_id is None:
            return True
        story = self._stories[story_id]
        if self.config.publisher_rule and self._same_publisher(member, story):
            return True
        return self.config.vetoes and conflict(facts, story.facts) is not None

    @staticmethod
    def _same_publisher(member: _Member, story: _Story) -> bool:
        """The story holds another article of ``member``'s publisher in its language."""
        publisher = member.publisher
        return publisher is not None and any(m.publisher == publisher for m in story.members)

    def _embedding_match(
        self, vector: np.ndarray, member: _Member, facts: StoryFacts
    ) -> tuple[_Story, float, bool] | None:
        """The best story for ``vector`` that no fact contradicts, and whether it is accepted.

        Every open story is considered, best calibrated score first: a story contradicted by a
        fact (another model name, amount or event type of the same company) is passed over and
        the next one is tried, so an article never lands in the first story above a threshold
        just because it arrived before its own story's first member in that language."""
        if self._n_rows == self._dead_rows:
            return None
        language_code = _language_code(member.language)
        row_scores = self._row_scores(vector, language_code)
        story_scores = self._story_scores(row_scores, language_code)
        best_slot = int(np.argmax(story_scores))  # the first maximum: the oldest story wins ties
        if self.config.vetoes or self.config.publisher_rule:
            # Only stories that could be accepted (or block one) need the fact check.
            near = np.flatnonzero(story_scores >= -self.config.veto_scan_margin)
            ordered = near[np.argsort(-story_scores[near], kind="stable")]
            # The best story no fact or publisher rules out (the ones after it need no check).
            allowed = next(
                (int(slot) for slot in ordered if not self._vetoed(int(slot), member, facts)), None
            )
            if allowed is not None:
                best_slot = allowed
            elif len(ordered):
                return None  # every close story is contradicted: a new story
        best_score = float(story_scores[best_slot])
        story_id = self._slot_story[best_slot]
        if not np.isfinite(best_score) or story_id is None:
            return None
        story = self._stories[story_id]
        rows = [r for r in story.rows if self._row_language[r] == language_code] or story.rows
        best_row = rows[int(np.argmax(row_scores[rows]))]
        cosine = float(self._vectors[best_row] @ vector)
        # Mutual best match: the article must be closer to the story than any other story is.
        mutual = best_score > self._neighbour_score[best_slot] or not self.config.mutual_best
        accepted = best_score >= 0.0 and bool(mutual)
        return story, round(cosine, 6), accepted

    # --- bookkeeping -------------------------------------------------------------------------

    def _open_slot(self, story_id: str, created_at: datetime, last_seen: datetime) -> _Story:
        slot = len(self._slot_story)
        if slot == len(self._neighbour_score):
            self._neighbour_score = _grow(self._neighbour_score, 2 * slot, -np.inf)
            self._neighbour_slot = _grow(self._neighbour_slot, 2 * slot, -1)
        self._slot_story.append(story_id)
        self._neighbour_score[slot], self._neighbour_slot[slot] = -np.inf, -1
        story = _Story(story_id=story_id, slot=slot, created_at=created_at, last_seen=last_seen)
        self._stories[story_id] = story
        return story

    def _insert_member(self, story: _Story, member: _Member) -> None:
        story.members.append(member)
        self._members[member.article_id] = member
        self._article_story[member.article_id] = story.story_id
        self._url_article[member.canonical_url] = member.article_id
        if member.minhash is not None and member.article_id not in self._lsh:
            self._lsh.insert(member.article_id, member.minhash)

    def _touch(self, story: _Story, now: datetime) -> None:
        if now > story.last_seen:
            story.last_seen = now
        self._seq += 1
        heapq.heappush(self._expiry, (_ts(story.last_seen), self._seq, story.story_id))

    def _add_vector(self, story: _Story, vector: np.ndarray, language: str, article: str) -> None:
        code = _language_code(language)
        has_language = any(int(self._row_language[r]) == code for r in story.rows)
        if len(story.rows) >= self.config.max_vectors_per_story and has_language:
            return
        self._append_row(story, vector, code, article)
        self._update_neighbours(story, vector, code)

    def _append_row(self, story: _Story, vector: np.ndarray, language_code: int, article: str) -> None:
        dim = int(vector.shape[0])
        if self._dim is None:
            self._dim = dim
            self._vectors = np.zeros((len(self._row_slot), dim), dtype=np.float32)
        elif dim != self._dim:
            raise ValueError(f"embedding dimension changed from {self._dim} to {dim}")
        row = self._n_rows
        if row == len(self._vectors):
            self._vectors = _grow(self._vectors, 2 * row, 0.0)
            self._row_slot = _grow(self._row_slot, 2 * row, -1)
            self._row_language = _grow(self._row_language, 2 * row, _OTHER_CODE)
        self._vectors[row] = vector
        self._row_slot[row] = story.slot
        self._row_language[row] = language_code
        self._row_article.append(article)
        self._n_rows += 1
        story.rows.append(row)

    def _update_neighbours(self, story: _Story, vector: np.ndarray, language_code: int) -> None:
        """Keep every story's closest other story current after ``story`` gained a vector."""
        scores = self._story_scores(self._row_scores(vector, language_code), language_code)
        scores[story.slot] = -np.inf
        n = len(scores)
        if self.config.vetoes:
            # A story the facts keep apart from this one is not its rival for a newcomer.
            for slot in np.flatnonzero(scores >= -self.config.veto_scan_margin):
                other = self._slot_story[int(slot)]
                if other is None or conflict(story.facts, self._stories[other].facts) is not None:
                    scores[slot] = -np.inf
        closer = scores > self._neighbour_score[:n]
        self._neighbour_score[:n][closer] = scores[closer]
        self._neighbour_slot[:n][closer] = story.slot
        best = int(np.argmax(scores))
        if scores[best] > self._neighbour_score[story.slot]:
            self._neighbour_score[story.slot], self._neighbour_slot[story.slot] = scores[best], best

    def _recompute_neighbour(self, story: _Story) -> None:
        best = np.full(len(self._slot_story), -np.inf)
        for row in story.rows:
            code = int(self._row_language[row])
            best = np.maximum(best, self._story_scores(self._row_scores(self._vectors[row], code), code))
        best[story.slot] = -np.inf
        if self.config.vetoes:
            for close in np.flatnonzero(best >= -self.config.veto_scan_margin):
                other = self._slot_story[int(close)]
                if other is None or conflict(story.facts, self._stories[other].facts) is not None:
                    best[close] = -np.inf
        slot = int(np.argmax(best))
        found = bool(np.isfinite(best[slot]))
        self._neighbour_score[story.slot] = best[slot] if found else -np.inf
        self._neighbour_slot[story.slot] = slot if found else -1

    # --- eviction ----------------------------------------------------------------------------

    def evict(self, now: datetime) -> list[str]:
        """Drop stories not seen for ``window_h`` hours; returns their ids (oldest first)."""
        cutoff = _ts(now - timedelta(hours=self.config.window_h))
        evicted: list[_Story] = []
        while self._expiry and self._expiry[0][0] < cutoff:
            seen_ts, _, story_id = heapq.heappop(self._expiry)
            story = self._stories.get(story_id)
            # Stale heap entries (the story was touched again later) are skipped.
            if story is not None and _ts(story.last_seen) == seen_ts:
                self._remove_story(story)
                evicted.append(story)
        if evicted:
            n = len(self._slot_story)
            self._repair_neighbours([s.slot for s in evicted])
            if self._dead_rows > max(64, self._n_rows // 4) or self._dead_slots > max(64, n // 4):
                self._compact()
        return [s.story_id for s in evicted]

    def _repair_neighbours(self, gone_slots: list[int]) -> None:
        """Recompute the closest neighbour of every live story whose neighbour was removed."""
        n = len(self._slot_story)
        gone = np.array(gone_slots, dtype=np.int64)
        for slot in np.flatnonzero(np.isin(self._neighbour_slot[:n], gone)):
            owner = self._slot_story[int(slot)]
            if owner is not None:
                self._recompute_neighbour(self._stories[owner])

    def _remove_story(self, story: _Story) -> None:
        for member in story.members:
            self._members.pop(member.article_id, None)
            self._article_story.pop(member.article_id, None)
            if self._url_article.get(member.canonical_url) == member.article_id:
                del self._url_article[member.canonical_url]
            if member.article_id in self._lsh:
                self._lsh.remove(member.article_id)
        for row in story.rows:
            self._row_slot[row] = -1
            self._dead_rows += 1
        self._slot_story[story.slot] = None
        self._neighbour_score[story.slot], self._neighbour_slot[story.slot] = -np.inf, -1
        self._dead_slots += 1
        del self._stories[story.story_id]

    def _compact(self) -> None:
        """Rebuild the slots and the vector matrix without evicted stories (order is kept)."""
        old_vectors, old_languages, old_articles = self._vectors, self._row_language, self._row_article
        old_scores, old_neighbours = self._neighbour_score, self._neighbour_slot
        stories = sorted(self._stories.values(), key=lambda s: s.slot)
        new_slot = np.full(len(self._slot_story), -1, dtype=np.int64)
        for index, story in enumerate(stories):
            new_slot[story.slot] = index
        size = max(64, len(stories))
        rows = max(64, self._n_rows - self._dead_rows)
        self._slot_story = []
        self._neighbour_score = np.full(size, -np.inf)
        self._neighbour_slot = np.full(size, -1, dtype=np.int64)
        self._vectors = np.zeros((rows, self._dim or 0), dtype=np.float32)
        self._row_slot = np.full(rows, -1, dtype=np.int64)
        self._row_language = np.full(rows, _OTHER_CODE, dtype=np.int8)
        self._row_article = []
        self._n_rows = self._dead_rows = self._dead_slots = 0
        for story in stories:
            old = story.slot
            story.slot = len(self._slot_story)
            self._slot_story.append(story.story_id)
            neighbour = int(old_neighbours[old])
            if neighbour >= 0 and new_slot[neighbour] >= 0:
                self._neighbour_score[story.slot] = old_scores[old]
                self._neighbour_slot[story.slot] = new_slot[neighbour]
            old_rows, story.rows = story.rows, []
            for row in old_rows:
                self._append_row(story, old_vectors[row], int(old_languages[row]), old_articles[row])

    # --- persistence -------------------------------------------------------------------------

    def story_state(self, story_id: str) -> dict[str, Any]:
        """One story as a JSON-able dict (an entry of ``snapshot()["stories"]``), for per-story upserts."""
        story = self._stories[story_id]
        with_vector = {m.article_id for m in story.members if m.replayable and m.vector is not None}
        score = float(self._neighbour_score[story.slot])
        neighbour = int(self._neighbour_slot[story.slot])
        return {
            "story_id": story.story_id,
            "created_at": story.created_at.isoformat(),
            "last_seen": story.last_seen.isoformat(),
            "neighbour_score": score if np.isfinite(score) else None,
            "neighbour_id": self._slot_story[neighbour] if neighbour >= 0 else None,
            "facts": story.facts.to_json(),
            "members": [
                {
                    "article_id": m.article_id,
                    "canonical_url": m.canonical_url,
                    "language": m.language,
                    "near_duplicate_of": m.near_duplicate_of,
                    "minhash": (
                        _encode_array(m.minhash.hashvalues.astype(np.uint32))
                        if m.minhash is not None
                        else None
                    ),
                    **self._replay_state(m),
                }
                for m in story.members
            ],
            # The rows the embedding stage compares with; a row's vector is its member's (stored
            # once, with the member) unless the member came from a snapshot without one.
            "vectors": [self._row_state(row, with_vector) for row in story.rows],
        }

    @staticmethod
    def _replay_state(member: _Member) -> dict[str, Any]:
        if not member.replayable or member.facts is None or member.order_key is None:
            return {}
        return {
            "facts": member.facts.to_json(),
            "order_ts": member.order_key[0],
            "vector16": _encode_array(member.vector) if member.vector is not None else None,
        }

    def _row_state(self, row: int, member_vectors: set[str]) -> dict[str, Any]:
        state: dict[str, Any] = {
            "article_id": self._row_article[row],
            "language": _CODE_LANGUAGES[int(self._row_language[row])],
        }
        if self._row_article[row] not in member_vectors:
            state["vector"] = _encode_array(self._vectors[row])
        return state

    def snapshot(self) -> dict[str, Any]:
        """The whole index as plain JSON-able data (vectors and MinHashes base64-encoded)."""
        ordered = sorted(self._stories.values(), key=lambda s: s.slot)
        return {
            "format": SNAPSHOT_FORMAT,
            "minhash_scheme": MINHASH_SCHEME,
            "embedder": self.embedder.name if self.embedder is not None else None,
            "config": asdict(self.config),
            "stories": [self.story_state(s.story_id) for s in ordered],
        }

    def restore(self, snapshot: Mapping[str, Any], now: datetime | None = None) -> None:
        """Replace the state with a snapshot (stories in their original order), then evict at ``now``.

        Refuses a snapshot made with another embedder or shingling: its vectors and MinHashes
        would not be comparable with new ones.
        """
        if (
            snapshot.get("format") not in _READABLE_FORMATS
            or snapshot.get("minhash_scheme") != MINHASH_SCHEME
        ):
            raise ValueError(f"unknown snapshot format {snapshot.get('format')!r}")
        embedder_name = self.embedder.name if self.embedder is not None else None
        stories = list(snapshot.get("stories", []))
        if any(s.get("vectors") for s in stories) and snapshot.get("embedder") != embedder_name:
            raise ValueError(
                f"snapshot vectors come from {snapshot.get('embedder')!r}, not {embedder_name!r}"
            )
        saved = snapshot.get("config", {})
        for key in ("num_perm", "shingle_chars_zh", "shingle_chars_other"):
            if key in saved and saved[key] != getattr(self.config, key):
                raise ValueError(f"snapshot {key}={saved[key]} differs from this index's configuration")
        self._reset()
        for state in stories:
            story = self._open_slot(
                state["story_id"],
                datetime.fromisoformat(state["created_at"]),
                datetime.fromisoformat(state["last_seen"]),
            )
            # Snapshots from before the vetoes have no facts: those stories are never vetoed.
            story.facts = StoryFacts.from_json(state.get("facts") or {})
            for m in state["members"]:
                minhash = None
                if m.get("minhash"):
                    hashvalues = _decode_array(m["minhash"], np.uint32)
                    if len(hashvalues) != self.config.num_perm:
                        raise ValueError(
                            f"snapshot MinHash has {len(hashvalues)} values, not {self.config.num_perm}"
                        )
                    minhash = MinHash(hashvalues)
                member = _Member(
                    m["article_id"], m["canonical_url"], m["language"], m["near_duplicate_of"], minhash
                )
                if "facts" in m and "order_ts" in m:  # format /2: replayable
                    member.facts = StoryFacts.from_json(m["facts"])
                    member.order_key = (float(m["order_ts"]), member.article_id)
                    if m.get("vector16"):
                        member.vector = _decode_array(m["vector16"], np.float16)
                self._insert_member(story, member)
            for v in state.get("vectors", []):
                if "vector" in v:
                    vector = _decode_array(v["vector"], np.float32)
                else:
                    stored = self._members[v["article_id"]].vector
                    if stored is None:
                        raise ValueError(f"snapshot row {v['article_id']!r} has no vector")
                    vector = stored.astype(np.float32)
                self._append_row(story, vector, _language_code(v["language"]), v["article_id"])
            self._touch(story, story.last_seen)
        # Neighbours are restored as saved; one pointing outside the restored set is recomputed.
        for state in stories:
            story = self._stories[state["story_id"]]
            neighbour = self._stories.get(state.get("neighbour_id") or "")
            if neighbour is not None and state.get("neighbour_score") is not None:
                self._neighbour_score[story.slot] = float(state["neighbour_score"])
                self._neighbour_slot[story.slot] = neighbour.slot
            elif state.get("neighbour_id") is not None:
                self._recompute_neighbour(story)
        if now is not None:
            self.evict(now)


def _revisions(
    before: dict[str, list[str]], after: dict[str, list[str]], newcomer: str
) -> tuple[StoryRevision, ...]:
    """The stories whose member lists changed, other than by the newcomer's plain join.

    ``before``: the stories before the arrival; ``after``: the regrouped stories (member order
    kept). A story that vanished ended (``merged``, ``merged_into`` the story holding most of its
    members); a new story made of earlier members is a ``split``; a story that took in all members
    of an ended story ``merged``; one that lost members to a new story ``split``; else ``moved``."""
    home = {a: story_id for story_id, ids in after.items() for a in ids}
    ended = {story_id for story_id in before if story_id not in after and before[story_id]}
    revisions: list[StoryRevision] = []
    for story_id, members in after.items():
        was = set(before.get(story_id, ()))
        now = [a for a in members if a != newcomer]
        added = tuple(a for a in now if a not in was)
        removed = tuple(a for a in before.get(story_id, ()) if a not in set(now))
        if not added and not removed:
            continue
        kind: RevisionKind = "moved"
        if story_id not in before:
            kind = "split"
        elif any(e for e in ended if before[e] and all(home.get(a) == story_id for a in before[e])):
            kind = "merged"
        elif any(home.get(a) not in before for a in removed):
            kind = "split"
        revisions.append(StoryRevision(story_id, kind, tuple(members), added, removed))
    for story_id in sorted(ended, key=list(before).index):
        went = Counter(home[a] for a in before[story_id])
        merged_into = min(went, key=lambda s: (-went[s], list(after).index(s))) if went else None
        revisions.append(
            StoryRevision(story_id, "merged", (), (), tuple(before[story_id]), merged_into=merged_into)
        )
    return tuple(revisions)
