"""Bilingual out of the box (issue 14): prints one JSON object.

- ``no_model``: the bundled sample corpus and the real Qwen blog posts (22 stories, each in English
  and Chinese) through the five services on an embedded nats-server and nx-27017, no language
  model: share of items with both titles and both summaries, share of the stories that have an
  article in each language that come out bilingual, wrong pairings (a title in one language from
  another story; labels in tests/data/bilingual/).
- ``tokens``: the same runs with the scripted OpenAI-compatible server of the tests as translate's
  model (a pseudo-translator that keeps names and numbers): translation tokens per published
  story with the model tier forced (``NEWSROOM_TRANSLATE__SOURCE_TEXT=false``, the behaviour
  before) and with source text first; tokens spent on stories that end up covered in both
  languages by their own sources.
- ``updates``: 1,000 stories folded by the item merge (pure, in process) with copies and
  other-language members joining in random order: updated events per join, ``language_added``
  per story (must be exactly once for a story that gained a language after publication).

    .venv/bin/python bench/bilingual.py                  # everything (about 8 minutes here)
    .venv/bin/python bench/bilingual.py --parts updates  # one part; --stories N for its size
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.runtime.embedded import mongo_url, mongo_wire_server, nats_server, nats_url  # noqa: E402

SAMPLE_SOURCES = REPO / "shared" / "sample_corpus" / "sources.yaml"


# --- the pipeline runs ----------------------------------------------------------------------


def run_pipeline(sources: Path, workdir: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """Items of one pass over ``sources`` through the five services (embeddings on)."""
    from tests.e2e.test_wire import settle
    from tests.support.stack import Stack

    nats = nats_server(workdir / "nats").start()
    mongo = mongo_wire_server(workdir / "mongo").start()
    stack = Stack(nats_url(nats), mongo_url(mongo), "newsroom", workdir, embeddings=True)
    stack.env_extra = {
        "NEWSROOM_INGEST__SOURCES_FILE": str(sources),
        "NEWSROOM_INGEST__POLL": "false",
        "NEWSROOM_LOG_LEVEL": "WARNING",
        **env,
    }
    try:
        stack.start_all()
        return settle(stack, quiet_s=8.0, timeout_s=600.0)
    finally:
        stack.stop_all()
        mongo.stop()
        nats.stop()


CORPORA = ("sample_corpus", "qwen_blog_dev")
SELECTED: list[str] = list(CORPORA)
SHUFFLE_SEED: int | None = None


def corpora(workdir: Path) -> dict[str, tuple[Path, dict[str, str]]]:
    """The selected corpora: sources file and labels. With a shuffle seed, the Qwen feeds list
    their entries in a shuffled order (the arrival order then changes clustering's decisions)."""
    from tests.support.bilingual_feeds import labels_of_rows, load_rows, sample_corpus_labels, write_feed_pair

    rows = load_rows()
    if SHUFFLE_SEED is not None:
        random.Random(SHUFFLE_SEED).shuffle(rows)
    found = {
        "sample_corpus": (SAMPLE_SOURCES, sample_corpus_labels()),
        "qwen_blog_dev": (write_feed_pair(rows, workdir / "qwen-feeds"), labels_of_rows(rows)),
    }
    return {name: found[name] for name in SELECTED}


def no_model(workdir: Path) -> dict[str, Any]:
    from tests.support.bilingual_feeds import pairing_report

    out = {}
    for name, (sources, labels) in corpora(workdir).items():
        started = time.perf_counter()
        items = run_pipeline(sources, workdir / f"nomodel-{name}", {})
        report = pairing_report(items, labels)
        report["seconds"] = round(time.perf_counter() - started, 1)
        out[name] = report
    return out


_LATIN_OR_NUMBER = re.compile(r"[A-Za-z][A-Za-z0-9.\-]*|\d[\d.,%]*")
_ZH_FILLER = "该公司表示这项进展意义重大业内人士认为"
_EN_FILLER = "the company said the move matters according to people in the industry".split()


class PseudoTranslator:
    """A scripted translate model: keeps names and numbers, fills the rest in the target language
    (so the QA checks mostly pass, as a competent model's would). Records its answers' tokens."""

    def __init__(self) -> None:
        self.completion_tokens: list[int] = []

    def render(self, text: str, target: str) -> str:
        kept = _LATIN_OR_NUMBER.findall(text)
        visible = len(re.sub(r"\s+", "", text))
        if target == "zh":
            size = max(4, visible // 3)
            filler = (_ZH_FILLER * (size // len(_ZH_FILLER) + 1))[:size]
            step = max(1, len(filler) // (len(kept) + 1))
            parts = [
                filler[i * step : (i + 1) * step] + (kept[i] if i < len(kept) else "")
                for i in range(len(kept) + 1)
            ]
            return "".join(parts) + filler[(len(kept) + 1) * step :] + "。"
        words = max(4, visible * 2 // 3)
        filler_words = [_EN_FILLER[i % len(_EN_FILLER)] for i in range(words)]
        step = max(1, len(filler_words) // (len(kept) + 1))
        for i, token in enumerate(kept):
            filler_words.insert(min(len(filler_words), (i + 1) * step + i), token)
        return " ".join(filler_words).capitalize() + "."

    def __call__(self, request: dict[str, Any]) -> Any:
        from shared.core.translation import estimate_tokens
        from tests.support.scripted_llm import request_segments, segments_reply

        segments = request_segments(request)
        # The direction: Chinese segments are translated into English, others into Chinese.
        target = "en" if re.search(r"[\u4e00-\u9fff]", " ".join(segments.values())) else "zh"
        reply = segments_reply({k: self.render(v, target) for k, v in segments.items()})
        self.completion_tokens.append(estimate_tokens(reply.content or ""))
        return reply


def tokens(workdir: Path) -> dict[str, Any]:
    from shared.core.translation import estimate_tokens
    from tests.support.scripted_llm import ScriptedLLM, request_segments

    out: dict[str, Any] = {}
    for name, (sources, _labels) in corpora(workdir).items():
        result: dict[str, Any] = {}
        for label, source_text in (
            ("before_model_tier_forced", "false"),
            ("after_source_text_first", "true"),
        ):
            responder = PseudoTranslator()
            with ScriptedLLM(responder=responder) as server:
                env = {
                    "NEWSROOM_LLM__TRANSLATE__BASE_URL": server.url,
                    "NEWSROOM_LLM__TRANSLATE__MODEL": "scripted",
                    "NEWSROOM_LLM__TRANSLATE__API_KEY": "bench",
                    "NEWSROOM_TRANSLATE__SOURCE_TEXT": source_text,
                    # The product's default grace (the test stacks turn it off).
                    "NEWSROOM_TRANSLATE__SOURCE_WAIT_S": "20",
                }
                items = run_pipeline(sources, workdir / f"tokens-{name}-{source_text}", env)
                requests = list(server.requests)
            prompt = [
                sum(estimate_tokens(str(m.get("content", ""))) for m in r["messages"]) for r in requests
            ]
            spent = [p + c for p, c in zip(prompt, responder.completion_tokens, strict=False)]
            by_title = {item["title"].get(item["origin_language"]): item for item in items}
            covered_ids = {
                item["_id"]
                for item in items
                if all((item["languages"].get(lang) or {}).get("origin") == "source" for lang in ("en", "zh"))
            }
            on_covered = 0
            covered_translated: set[str] = set()
            for request, cost in zip(requests, spent, strict=False):
                item = by_title.get(request_segments(request).get("title"))
                if item is not None and item["_id"] in covered_ids:
                    on_covered += cost
                    covered_translated.add(item["_id"])
            result[label] = {
                "items": len(items),
                "requests": len(requests),
                "tokens": sum(spent),
                "tokens_per_published_story": round(sum(spent) / len(items), 1) if items else None,
                "stories_covered_in_both_languages": len(covered_ids),
                "tokens_on_covered_stories": on_covered,
                "covered_stories_translated_anyway": len(covered_translated),
            }
        out[name] = result
    return out


# --- update counts (pure) --------------------------------------------------------------------


def updates(stories: int, seed: int = 7) -> dict[str, Any]:
    """Fold ``stories`` stories with random copies and other-language members joining in random
    order (a fifth of the joins before the story's own event), announcing after every event."""
    from shared.core.items import merge_event, pending_with
    from shared.events import (
        Analysis,
        Article,
        Bilingual,
        Cluster,
        Provenance,
        ScoreDetail,
        Scores,
        SectionStatus,
        StoryEvent,
        StoryMember,
        Translation,
    )
    from shared.items import Item
    from shared.llm import load_glossary
    from tests.support.bilingual_feeds import load_rows

    glossary = load_glossary()
    rows = load_rows()
    texts = {lang: [r["text"] for r in rows if r["lang"] == lang] for lang in ("en", "zh")}
    rng = random.Random(seed)
    t0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)

    def article(story: int, n: int, lang: str, minutes: int) -> Article:
        aid = f"s{story}-a{n}"
        title = f"Model{story} launch: coverage {n}" if lang == "en" else f"Model{story}发布：报道{n}"
        return Article(
            article_id=aid,
            source_id=f"src{n % 9}",
            source_name=f"Outlet {n % 9}",
            source_weight=0.8 + (n % 5) / 10,
            url=f"https://o{n % 9}.example/{aid}",
            canonical_url=f"https://o{n % 9}.example/{aid}",
            title=title,
            body=rng.choice(texts[lang]),
            language=lang,  # type: ignore[arg-type]
            published_at=t0 + timedelta(minutes=minutes),
            fetched_at=t0 + timedelta(minutes=minutes),
        )

    def member(a: Article, minutes: int) -> StoryMember:
        return StoryMember.of(a, t0 + timedelta(minutes=minutes))

    def scores(minutes: int) -> Scores:
        detail = ScoreDetail(value=40.0 + rng.random() * 2, formula_version="bench")
        return Scores(
            status=SectionStatus.OK,
            hot=detail,
            quality=detail,
            impact=detail,
            computed_at=t0 + timedelta(minutes=minutes),
        )

    totals: Counter[str] = Counter()
    per_story_updates: list[int] = []
    language_added_wrong = 0
    started = time.perf_counter()
    for story in range(stories):
        lang = rng.choice(("en", "zh"))
        other = "zh" if lang == "en" else "en"
        rep = article(story, 0, lang, 0)
        joiners = [article(story, n, lang, n) for n in range(1, 1 + rng.randint(0, 3))]
        other_count = 0 if rng.random() < 0.3 else rng.randint(1, 4)
        joiners += [article(story, 10 + n, other, 10 + n) for n in range(other_count)]
        rng.shuffle(joiners)
        members = [member(rep, 0)]
        events: list[StoryEvent] = []
        for i, a in enumerate(joiners):
            members.append(member(a, i + 1))
            events.append(
                StoryEvent(
                    story_id=f"st{story}",
                    article_id=a.article_id,
                    article=a,
                    cluster=Cluster(
                        story_id=f"st{story}", is_new=False, method="embedding", members=list(members)
                    ),
                    scores=scores(i + 1),
                )
            )
        full = StoryEvent(
            story_id=f"st{story}",
            article_id=rep.article_id,
            article=rep,
            cluster=Cluster(story_id=f"st{story}", is_new=True, method="new", members=[member(rep, 0)]),
            translation=Translation(
                status=SectionStatus.UNAVAILABLE,
                reason="no language model configured",
                source_language=lang,  # type: ignore[arg-type]
                title=Bilingual(**{lang: rep.title}),
            ),
            analysis=Analysis(
                status=SectionStatus.PARTIAL,
                summary=Bilingual(**{lang: "Extract."}),
                summary_provenance=Provenance(tier="local"),
            ),
            scores=scores(0),
        )
        early = sum(rng.random() < 0.2 for _ in events)
        sequence = [*events[:early], full, *events[early:]]
        item: Item | None = None
        pending: dict[str, Any] | None = None
        first_titles: dict[str, str | None] | None = None
        story_updates = 0
        added = 0
        for n, event in enumerate(sequence):
            merge = merge_event(item, pending, event, t0 + timedelta(minutes=30 + n), glossary)
            if merge is None:
                pending = pending_with(pending, event)
                continue
            if merge.created:
                first_titles = {"en": merge.item.title.en, "zh": merge.item.title.zh}
            elif merge.material:
                story_updates += 1
                totals.update(merge.reasons)
                added += "language_added" in merge.reasons
            item = merge.item
        totals["joins"] += len(events)
        totals["joins_after_publication"] += len(events) - early
        per_story_updates.append(story_updates)
        gained = (
            item is not None
            and first_titles is not None
            and not first_titles[other]
            and bool(item.title.get(other))
        )
        totals["stories_gaining_a_language"] += gained
        language_added_wrong += added != (1 if gained else 0)
        totals["stories_bilingual"] += item is not None and bool(item.title.en and item.title.zh)
    elapsed = time.perf_counter() - started
    return {
        "stories": stories,
        "joins": totals["joins"],
        "joins_after_publication": totals["joins_after_publication"],
        "updated_events": sum(per_story_updates),
        "updated_per_join_after_publication": round(
            sum(per_story_updates) / max(1, totals["joins_after_publication"]), 3
        ),
        "max_updates_one_story": max(per_story_updates, default=0),
        "reasons": {
            k: totals[k]
            for k in (
                "language_added",
                "source_text_replaced_translation",
                "source_added",
                "scores_changed",
                "content_changed",
            )
        },
        "stories_gaining_a_language": totals["stories_gaining_a_language"],
        "stories_with_language_added_not_exactly_once": language_added_wrong,
        "stories_bilingual": totals["stories_bilingual"],
        "ms_per_event": round(1000 * elapsed / max(1, totals["joins"] + stories), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="no_model,tokens,updates")
    parser.add_argument("--stories", type=int, default=1000, help="stories of the updates part")
    parser.add_argument("--corpora", default=",".join(CORPORA), help="sample_corpus,qwen_blog_dev")
    parser.add_argument("--shuffle-seed", type=int, default=None, help="shuffle the Qwen feeds' entry order")
    args = parser.parse_args(argv)
    SELECTED[:] = [c.strip() for c in args.corpora.split(",") if c.strip()]
    global SHUFFLE_SEED
    SHUFFLE_SEED = args.shuffle_seed
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    report: dict[str, Any] = {
        "benchmark": "bilingual",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "shuffle_seed": SHUFFLE_SEED,
    }
    with tempfile.TemporaryDirectory(prefix="bench-bilingual-") as tmp:
        workdir = Path(tmp)
        if "no_model" in parts:
            report["no_model"] = no_model(workdir)
        if "tokens" in parts:
            report["tokens"] = tokens(workdir)
        if "updates" in parts:
            report["updates"] = updates(args.stories)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
