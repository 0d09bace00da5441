"""The score service on a real nats-server (JetStream) and nx-27017, in-process with an injected
clock, with the publish service behind it: a story that gains three sources over "time" is
re-scored with rising Hot and announced as updates; when time moves on, its Hot decays and the
decay re-score reaches the item without being announced as news. The item shows components and
formula versions of all three."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import nats as nats_client

from services.publish.app import build as build_publish
from services.score.app import build as build_score
from shared import subjects
from shared.core.scoring import default_config
from shared.events import (
    Amount,
    Analysis,
    Article,
    Bilingual,
    Cluster,
    Entity,
    SectionStatus,
    StoryEvent,
    StoryMember,
    Tag,
    Translation,
)
from shared.pipeline import Outgoing, publish_durably
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.settings import DeliverySettings, ScoreSettings, Settings, StageDelivery
from shared.storage import ITEMS, SCORE_STATE, MongoStore
from tests.support.inproc import running, wait_until

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
MIN_CHANGE = 3.0

TITLE = "Nvidia wins approval to ship H20 successors to China under new licence terms"
BODY = (
    "The US Commerce Department has granted Nvidia licences to sell a cut-down successor of its H20 "
    "accelerator to customers in China, according to a filing published on Friday, ending a "
    "six-month pause that the company said cost it $4.5 billion in written-off inventory.\n"
    "Under the new terms Nvidia pays 15% of the revenue from those sales to the US government, and "
    "each shipment above 1,000 units needs a separate end-user check.\n"
    '"We are glad to serve our customers in China again within the rules," Nvidia said in a '
    "statement. Analysts at two brokerages estimate the China business at $12 billion to $15 billion "
    "a year if volumes return to their 2024 level.\n"
    "Huawei, whose Ascend chips had filled part of the gap, did not comment."
)
TITLE_ZH = "英伟达获准在新许可条款下向中国出货H20后续芯片"


def member(
    article_id: str,
    source_id: str,
    joined: datetime,
    title: str,
    *,
    language: str = "en",
    weight: float = 1.0,
) -> StoryMember:
    return StoryMember(
        article_id=article_id,
        source_id=source_id,
        source_name=source_id.title(),
        source_weight=weight,
        url=f"https://{source_id}.example.com/{article_id}",
        title=title,
        language=language,  # type: ignore[arg-type]
        published_at=joined - timedelta(minutes=2),
        joined_at=joined,
    )


def article(m: StoryMember, body: str | None, summary: str | None) -> Article:
    return Article(
        article_id=m.article_id,
        source_id=m.source_id,
        source_name=m.source_name,
        source_weight=m.source_weight,
        url=m.url,
        canonical_url=m.url,
        title=m.title,
        summary=summary,
        body=body,
        language=m.language,
        published_at=m.published_at,
        fetched_at=m.joined_at,
    )


FIRST = member("n1", "wire", T0, TITLE, weight=1.2)
JOINS = [
    (
        member("n2", "techdesk", T0 + timedelta(minutes=10), "Nvidia cleared to resume China AI chip sales"),
        "Nvidia can sell a new China-only accelerator again after Washington approved licences.",
    ),
    (
        member("n3", "36kr", T0 + timedelta(minutes=20), "美国批准英伟达对华出售新款AI芯片", language="zh"),
        "美国商务部向英伟达发放许可,允许其向中国客户出售H20的后续型号。",
    ),
    (
        member(
            "n4", "chipweekly", T0 + timedelta(minutes=30), "What the Nvidia China licence means for Huawei"
        ),
        "Huawei's Ascend line loses its clearest opening as Nvidia returns to the Chinese market.",
    ),
]


def analyzed_event() -> StoryEvent:
    return StoryEvent(
        story_id="story-nv",
        article_id=FIRST.article_id,
        article=article(FIRST, BODY, None),
        cluster=Cluster(story_id="story-nv", is_new=True, method="new", members=[FIRST]),
        translation=Translation(status=SectionStatus.OK, source_language="en", title=Bilingual(zh=TITLE_ZH)),
        analysis=Analysis(
            status=SectionStatus.OK,
            tags=[
                Tag(id="chips", en="Chips", zh="芯片", source="local"),
                Tag(id="regulation-policy", en="Policy & regulation", zh="政策监管", source="local"),
            ],
            entities=[
                Entity(id="nvidia", en="Nvidia", kind="company", source="local"),
                Entity(id="huawei", en="Huawei", kind="company", source="local"),
            ],
            amounts=[
                Amount(text="$4.5 billion", value=4.5e9, currency="USD", usd=4.5e9),
                Amount(text="$15 billion", value=15e9, currency="USD", usd=15e9),
            ],
        ),
    )


def joined_event(index: int) -> StoryEvent:
    new, summary = JOINS[index]
    members = [FIRST, *(m for m, _ in JOINS[: index + 1])]
    return StoryEvent(
        story_id="story-nv",
        article_id=new.article_id,
        article=article(new, None, summary),
        cluster=Cluster(
            story_id="story-nv", is_new=False, method="embedding", similarity=0.86, members=members
        ),
    )


async def stream_payloads(url: str, stream: str, prefix: str) -> list[dict[str, Any]]:
    nc = await nats_client.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out = []
        if info.state.messages:
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(stream, seq)
                if (msg.subject or "").startswith(prefix):
                    out.append(json.loads(msg.data or b"{}"))
        return out
    finally:
        await nc.close()


async def test_story_gains_three_sources_then_decays(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str
) -> None:
    url = nats_url(nats)
    fast = StageDelivery(max_deliver=3, ack_wait_s=30.0, batch_size=4, retry_delay_s=0.05)
    settings = Settings(
        nats_url=url,
        mongo_url=mongo_server,
        mongo_db=mongo_db_name,
        delivery=DeliverySettings(score=fast, publish=fast, outage_retry_delay_s=0.1),
        # The decay loop runs every 0.2 s; it publishes only when the (injected) clock moved Hot.
        score=ScoreSettings(min_change_points=MIN_CHANGE, rescore_window_h=48.0, rescore_interval_s=0.2),
    )
    clock = [T0 + timedelta(minutes=5)]
    store = MongoStore(mongo_server, mongo_db_name)
    score_service = build_score(settings, now=lambda: clock[0])
    publish_service = build_publish(settings)

    async def scored(trigger: str) -> list[StoryEvent]:
        payloads = await stream_payloads(url, "NEWS_PIPELINE", subjects.SCORED)
        events = [StoryEvent.model_validate(p) for p in payloads]
        return [e for e in events if e.scores is not None and e.scores.trigger == trigger]

    async def item() -> dict[str, Any]:
        doc = await store.get(ITEMS, "story-nv")
        assert doc is not None
        return doc

    try:
        async with running(score_service), running(publish_service):
            broker = score_service.broker
            await publish_durably(broker, Outgoing(subjects.ANALYZED, analyzed_event(), "t:analyzed"), "test")

            async def published() -> bool:
                return await store.get(ITEMS, "story-nv") is not None

            await wait_until(published)
            hot_on_item = [(await item())["scores"]["hot"]["value"]]

            for index in range(len(JOINS)):
                clock[0] = JOINS[index][0].joined_at  # the article joins "now"
                join = Outgoing(subjects.STORY_JOINED, joined_event(index), f"t:j{index}")
                await publish_durably(broker, join, "test")

                async def has_sources(n: int = index + 2) -> bool:
                    return len((await item())["sources"]) == n

                await wait_until(has_sources)
                hot_on_item.append((await item())["scores"]["hot"]["value"])

            joined = await scored("joined")
            assert [e.article_id for e in joined] == ["n2", "n3", "n4"]
            joined_hot = [e.scores.hot.value for e in joined if e.scores and e.scores.hot]
            assert joined_hot == sorted(joined_hot) and len(set(joined_hot)) == 3
            assert hot_on_item == sorted(hot_on_item) and hot_on_item[-1] > hot_on_item[0] + 20
            assert await scored("decay") == []  # the clock barely moved: nothing decayed enough
            before_decay = await item()

            clock[0] = T0 + timedelta(hours=18)  # time moves on, nothing joins

            async def decayed() -> bool:
                hot_now = (await item())["scores"]["hot"]["value"]
                return bool(await scored("decay")) and hot_now < hot_on_item[-1]

            await wait_until(decayed)
            await asyncio.sleep(1.0)  # further loops at the same moment must add nothing
            decay_events = await scored("decay")
            after = await item()
    finally:
        await store.close()

    assert len(decay_events) == 1
    decay = decay_events[0]
    assert decay.scores is not None and decay.scores.hot is not None
    assert decay.scores.hot.value <= hot_on_item[-1] - MIN_CHANGE
    assert {m.article_id for m in decay.cluster.members} == {"n1", "n2", "n3", "n4"}
    assert decay.scores.computed_at == clock[0]

    # The item: decayed Hot, four sources, Quality and Impact kept, each with its reasons.
    config = default_config()
    scores = after["scores"]
    assert scores["hot"]["value"] == decay.scores.hot.value
    assert scores["hot"]["components"]["independent_sources"] == 4.0
    assert scores["hot"]["components"]["age_h"] >= 18.0
    for name in ("hot", "quality", "impact"):
        assert scores[name]["formula_version"] == config.formula_versions[name]
        assert scores[name]["components"], name
    assert scores["impact"]["components"]["scope"] > 0.0  # covered in English and Chinese
    # Readable reasons reach the stored item in both languages, built from the same components.
    assert scores["hot"]["reasons"][0]["en"].startswith("4 independent sources in ")
    assert "个独立来源" in scores["hot"]["reasons"][0]["zh"]
    assert any(r["en"].startswith("Covered in English and Chinese") for r in scores["impact"]["reasons"])
    assert all(r["en"] and r["zh"] for name in ("hot", "quality", "impact") for r in scores[name]["reasons"])
    assert scores["quality"]["components"]["llm_weight"] == 0.0
    assert scores["status"] == "ok" and "no LLM" in scores["reason"]
    assert after["sources"][0]["article_id"] == "n1" and len(after["sources"]) == 4
    # Hot sinking with age is stored (lists sort by it) but is not a material change: no new
    # version, "updated" stays the time of the last join, no update is announced for it.
    assert before_decay["version"] > 1 and after["version"] == before_decay["version"]
    assert after["updated_at"] == before_decay["updated_at"]

    # Each material change was announced: published once, then an update per join.
    announced = await stream_payloads(url, "NEWS_OUT", "news.")
    kinds = [a["kind"] for a in announced]
    assert kinds.count("published") == 1
    assert kinds.count("updated") == len(JOINS)

    state = MongoStore(mongo_server, mongo_db_name)
    try:
        doc = await state.get(SCORE_STATE, "story-nv")
    finally:
        await state.close()
    assert doc is not None and doc["last_values"]["hot"] == decay.scores.hot.value
