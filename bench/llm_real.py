"""Stories of the sample corpus through translate and analyze against any OpenAI-compatible
server, with the settings the services use: what a story costs and what comes out.

    python bench/llm_real.py --base-url http://127.0.0.1:18080/v1 --model M [--stories 3]
                             [--price-in 0.27 --price-out 1.10] [--feeds a.rss,b.rss]
    python bench/llm_real.py --scripted [--stories 3]     # the scripted server of tests/support
                                                          # (also what it does without --base-url)

Stories come from shared/sample_corpus (bandaoti-gbk.rss and regional-roundup.rss first, as in
issue 18, then the other feeds), built into articles as ingest builds them. Each story goes
through the translate use case and then the analyze use case (local tier included), each with
its own gateway, exactly as the two services call them; the LLM cache is off (every run asks).

Prints JSON: HTTP requests and tokens per story (median and max), request latency p50/p95 and
outcomes (from the gateway's metrics: timeouts included), answers rejected and why (weak
answers, QA and guard-rail failures, unusable JSON), items bilingual / partial / without a
translation, what the endpoint taught the gateway (context window, speed, concurrency), and the
cost per 1,000 stories from --price-in/--price-out (USD per million input/output tokens; 0 for a
local server, whose cost is its machine time: stories per hour is printed too).

--scripted answers every request with a valid but untranslated echo from the scripted server, so
the numbers show the pipeline's request pattern with an answer that must be rejected; it is for
comparing request counts, not quality. Numbers are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
import urllib.parse
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.analyze.local_tier import LocalTier  # noqa: E402
from services.analyze.usecase import AnalyzeUseCase  # noqa: E402
from services.ingest.articles import build_article, identify  # noqa: E402
from services.translate.usecase import TranslateUseCase  # noqa: E402
from shared.core.feeds import parse_feed  # noqa: E402
from shared.events import Article, Cluster, SectionStatus, StoryEvent, StoryMember  # noqa: E402
from shared.llm import LLMGateway, forget_endpoints, load_glossary, load_prompt  # noqa: E402
from shared.metrics import REGISTRY  # noqa: E402
from shared.settings import LLMSettings  # noqa: E402
from shared.sources import load_sources  # noqa: E402

CORPUS = REPO / "shared" / "sample_corpus"
FIRST_FEEDS = ("bandaoti", "roundup")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def corpus_articles(limit: int) -> list[Article]:
    sources = load_sources(CORPUS / "sources.yaml").sources
    ordered = sorted(
        (s for s in sources if s.url.startswith("file:")),
        key=lambda s: (FIRST_FEEDS.index(s.id) if s.id in FIRST_FEEDS else len(FIRST_FEEDS), s.id),
    )
    articles: list[Article] = []
    for source in ordered:
        path = Path(urllib.parse.urlparse(source.url).path)
        if not path.is_file():
            continue
        try:
            feed = parse_feed(
                path.read_bytes(),
                source.kind,
                base_url=source.url,
                now=NOW,
                encoding_override=source.encoding,
            )
        except Exception:  # a deliberately broken sample feed
            continue
        for entry in feed.entries:
            articles.append(build_article(source, entry, identify(entry.url), NOW))
            if len(articles) >= limit:
                return articles
    return articles


def story_event(article: Article) -> StoryEvent:
    member = StoryMember(
        article_id=article.article_id,
        source_id=article.source_id,
        source_name=article.source_name,
        url=article.url,
        title=article.title,
        language=article.language,
        joined_at=NOW,
    )
    return StoryEvent(
        story_id=f"s-{article.article_id}",
        article_id=article.article_id,
        article=article,
        cluster=Cluster(story_id=f"s-{article.article_id}", is_new=True, method="new", members=[member]),
    )


def metric_total(name: str, **labels: str) -> float:
    total = 0.0
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def metric_by(name: str, label: str, **labels: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                key = sample.labels.get(label, "")
                out[key] = out.get(key, 0.0) + sample.value
    return {k: v for k, v in sorted(out.items()) if v}


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Upper bound of the bucket holding quantile q (cumulative (le, count) pairs)."""
    if not buckets or buckets[-1][1] == 0:
        return None
    target = q * buckets[-1][1]
    for le, count in buckets:
        if count >= target:
            return le
    return None


class Timed:
    """Wraps a gateway to time each structured call and count what it spent."""

    def __init__(self, gateway: LLMGateway) -> None:
        self.gateway = gateway
        self.model = gateway.model
        self.latencies: list[float] = []
        self.requests = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.rejected: Counter[str] = Counter()

    @property
    def context_tokens(self) -> int:
        return self.gateway.context_tokens

    async def structured(self, messages: Any, output: Any, **kwargs: Any) -> Any:
        requests_before = metric_total("newsroom_llm_requests_total", task=self.gateway.task)
        tokens_before = (
            metric_total("newsroom_llm_tokens_total", task=self.gateway.task, direction="in"),
            metric_total("newsroom_llm_tokens_total", task=self.gateway.task, direction="out"),
        )
        started = time.perf_counter()
        try:
            result = await self.gateway.structured(messages, output, **kwargs)
            for reason in result.rejected:
                self.rejected[f"{self.gateway.task}: unusable answer ({reason.split(' (')[0]})"] += 1
            return result
        except Exception as exc:
            self.rejected[f"{self.gateway.task}: {type(exc).__name__}"] += 1
            raise
        finally:
            self.latencies.append(time.perf_counter() - started)
            self.requests += int(
                metric_total("newsroom_llm_requests_total", task=self.gateway.task) - requests_before
            )
            self.tokens_in += int(
                metric_total("newsroom_llm_tokens_total", task=self.gateway.task, direction="in")
                - tokens_before[0]
            )
            self.tokens_out += int(
                metric_total("newsroom_llm_tokens_total", task=self.gateway.task, direction="out")
                - tokens_before[1]
            )


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    forget_endpoints()
    scripted = None
    base_url, model = args.base_url, args.model
    if args.scripted:
        from tests.support.scripted_llm import Reply, ScriptedLLM, request_segments

        def echo(request: dict[str, Any]) -> Reply:
            # A well-formed answer that gives the source back: the weak answer every check must catch.
            segments = request_segments(request)
            body: dict[str, Any]
            name = (request.get("response_format") or {}).get("json_schema", {}).get("name")
            if name == "TranslatedSegments" or (name is None and "segments" in json.dumps(request)[-4000:]):
                body = {"segments": [{"id": k, "text": v} for k, v in segments.items()]}
            else:
                article = next(iter(segments.values()), "")
                body = {
                    "summary_en": article,
                    "summary_zh": article,
                    "tags": [],
                    "entities": [],
                    "commentary_en": article,
                    "commentary_zh": article,
                }
            return Reply(content=json.dumps(body, ensure_ascii=False), delay_s=args.scripted_latency)

        scripted = ScriptedLLM(responder=echo).start()
        base_url, model = scripted.url, "scripted"
    settings = LLMSettings(
        base_url=base_url,
        model=model,
        api_key=args.api_key,
        prices_per_million={model: (args.price_in, args.price_out)},
    )
    translate_gw = Timed(LLMGateway(settings, "translate"))
    analyze_gw = Timed(LLMGateway(settings, "analyze"))
    glossary = load_glossary()
    translator = TranslateUseCase(translate_gw, glossary, load_prompt("translate"))  # type: ignore[arg-type]
    local = LocalTier()
    analyzer = AnalyzeUseCase(analyze_gw, load_prompt("analyze"), glossary, local)  # type: ignore[arg-type]

    articles = corpus_articles(args.stories)
    per_story: list[dict[str, Any]] = []
    outcomes: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    started = time.perf_counter()
    for article in articles:
        before = (
            translate_gw.requests + analyze_gw.requests,
            translate_gw.tokens_in + analyze_gw.tokens_in + translate_gw.tokens_out + analyze_gw.tokens_out,
        )
        story_started = time.perf_counter()
        event = story_event(article)
        translation = await translator.translate(article)
        event = event.model_copy(update={"translation": translation})
        analysis = await analyzer.analyze(event)
        title = translation.title
        if translation.status == SectionStatus.OK and title.en and title.zh:
            kind = "bilingual"
        elif title.en and title.zh:
            kind = "partial"
        else:
            kind = "without_translation"
        outcomes[kind] += 1
        for flag in translation.qa_flags:
            rejected["translate: " + ":".join(flag.split(":")[1:2])] += 1
        for failure in (analysis.commentary_reason or "", analysis.reason or ""):
            if "failed the fact checks" in failure:
                rejected["analyze: failed the guard rails"] += 1
                break
        per_story.append(
            {
                "title": article.title[:60],
                "language": article.language,
                "requests": translate_gw.requests + analyze_gw.requests - before[0],
                "tokens": translate_gw.tokens_in
                + analyze_gw.tokens_in
                + translate_gw.tokens_out
                + analyze_gw.tokens_out
                - before[1],
                "seconds": round(time.perf_counter() - story_started, 1),
                "translation": translation.status.value,
                "translation_reason": translation.reason,
                "commentary": "published" if analysis.commentary.en else "absent",
                "commentary_reason": analysis.commentary_reason,
            }
        )
    elapsed = time.perf_counter() - started
    for gw in (translate_gw, analyze_gw):
        rejected.update(gw.rejected)
    for task in ("translate", "analyze"):
        for reason, count in metric_by("newsroom_llm_rejected_answers_total", "reason", task=task).items():
            rejected[f"{task}: weak answer ({reason})"] += int(count)

    tokens_in = translate_gw.tokens_in + analyze_gw.tokens_in
    tokens_out = translate_gw.tokens_out + analyze_gw.tokens_out
    stories = max(1, len(articles))
    buckets: dict[float, float] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == "newsroom_llm_request_seconds_bucket":
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
    cumulative = sorted(buckets.items())
    gateway = translate_gw.gateway
    report = {
        "bench": "llm_real",
        "server": "scripted (echo answers)" if scripted else base_url,
        "model": model,
        "stories": len(articles),
        "requests_per_story": {
            "mean": round(sum(s["requests"] for s in per_story) / stories, 2),
            "max": max((s["requests"] for s in per_story), default=0),
        },
        "tokens_per_story": {
            "input": round(tokens_in / stories),
            "output": round(tokens_out / stories),
            "median_total": statistics.median([s["tokens"] for s in per_story]) if per_story else 0,
        },
        "request_latency_s": {
            "p50_bucket_le": histogram_quantile(0.5, cumulative),
            "p95_bucket_le": histogram_quantile(0.95, cumulative),
            "structured_call_p50": round(
                percentile(translate_gw.latencies + analyze_gw.latencies, 0.5) or 0, 2
            ),
            "structured_call_p95": round(
                percentile(translate_gw.latencies + analyze_gw.latencies, 0.95) or 0, 2
            ),
        },
        "request_outcomes": metric_by("newsroom_llm_requests_total", "outcome"),
        "rejected_answers": dict(sorted(rejected.items())),
        "items": {k: outcomes.get(k, 0) for k in ("bilingual", "partial", "without_translation")},
        "learned": {
            "context_tokens": gateway.context_tokens,
            "context_source": gateway.state.context_source,
            "format": gateway.format_mode(),
            "instructions": gateway.instructions_role(),
            "tokens_per_second": round(gateway.state.speed.tokens_per_second or 0, 1),
            "concurrency_limit": round(gateway.state.limiter.limit, 2),
        },
        "cost_per_1000_stories_usd": round(
            1000 * (tokens_in * args.price_in + tokens_out * args.price_out) / 1e6 / stories, 4
        ),
        "stories_per_hour": round(3600 * len(articles) / elapsed, 1) if elapsed else None,
        "elapsed_s": round(elapsed, 1),
        "per_story": per_story,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
    }
    await translate_gw.gateway.aclose()
    await analyze_gw.gateway.aclose()
    local.close()
    if scripted is not None:
        scripted.stop()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url")
    parser.add_argument("--model")
    parser.add_argument("--api-key")
    parser.add_argument("--stories", type=int, default=3)
    parser.add_argument("--price-in", type=float, default=0.0, help="USD per million input tokens")
    parser.add_argument("--price-out", type=float, default=0.0, help="USD per million output tokens")
    parser.add_argument("--scripted", action="store_true", help="use the scripted server of tests/support")
    parser.add_argument("--scripted-latency", type=float, default=0.05)
    args = parser.parse_args()
    if bool(args.base_url) != bool(args.model):
        parser.error("--base-url and --model go together")
    if not args.base_url:
        args.scripted = True  # nothing to measure against: the scripted server (bench/run_all.py)
    print(json.dumps(asyncio.run(run(args)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
