"""`newsroom`: run the whole system or one stage, watch its output, operate it.

    newsroom up                  embedded NATS + Mongo-wire server + the five services
    newsroom up --once FEED      ingest one feed, wait until every story is published, print, stop
    newsroom run STAGE           one stage as its own process (ingest|translate|analyze|score|publish|api)
    newsroom tail                print news.published.* / news.updated.* events as they arrive
    newsroom status              streams, consumer lag, dead letters
    newsroom dlq list|show|replay
    newsroom asyncapi            write docs/asyncapi.json from the FastStream apps
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import runpy
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.settings import STAGES, Settings, load_settings

SERVICE_MODULES = {stage: f"services.{stage}" for stage in STAGES}
SERVICE_MODULES["api"] = "services.publish.read_api"


def _print(*parts: object) -> None:
    print(*parts, flush=True)


# --- up ---------------------------------------------------------------------------------------


def _parse_replicas(values: list[str]) -> dict[str, int]:
    replicas = {stage: 1 for stage in STAGES}
    for value in values:
        stage, _, count = value.partition("=")
        if stage not in replicas or not count.isdigit() or int(count) < 1:
            raise SystemExit(f"--replicas takes STAGE=N with a stage of {', '.join(STAGES)}: got {value!r}")
        replicas[stage] = int(count)
    return replicas


def _pick_port(preferred: int) -> int:
    from shared.runtime.embedded import free_port, port_open

    return preferred if not port_open("127.0.0.1", preferred) else free_port()


async def _drained(nats_url: str, mongo_url: str, settings: Settings) -> tuple[bool, int]:
    """True when every pipeline consumer has nothing pending or unacknowledged."""
    from shared import ops
    from shared.storage import ITEMS, MongoStore

    nc = await ops.connect(nats_url)
    try:
        lags = await ops.consumer_lag(nc)
        streams = await ops.stream_state(nc)
    finally:
        await nc.close()
    store = MongoStore(mongo_url, settings.mongo_db, settings.mongo_driver)
    try:
        items = await store.collection(ITEMS).count_documents({})
    finally:
        await store.close()
    pipeline = streams.get("NEWS_PIPELINE", {}).get("messages", 0)
    busy = any(lag.pending or lag.ack_pending for lag in lags if lag.stream == "NEWS_PIPELINE")
    expected = {"translate", "analyze", "score", "score-joined", "publish"}
    present = {lag.consumer for lag in lags}
    return (pipeline > 0 and not busy and expected <= present), items


async def _show_items(mongo_url: str, settings: Settings, limit: int = 20) -> int:
    from shared.storage import ITEMS, MongoStore

    store = MongoStore(mongo_url, settings.mongo_db, settings.mongo_driver)
    try:
        docs = await store.collection(ITEMS).find({}).sort("published_at", -1).to_list(length=limit)
        total: int = await store.collection(ITEMS).count_documents({})
    finally:
        await store.close()
    for doc in docs:
        scores = doc.get("scores") or {}
        values = " ".join(
            f"{name}={round(scores[name]['value'])}" if scores.get(name) else f"{name}=n/a"
            for name in ("hot", "quality", "impact")
        )
        title = doc.get("title") or {}
        tags = ",".join(t["id"] for t in doc.get("tags", [])) or "untagged"
        _print(f"- [{tags}] {title.get('en') or '—'} | {title.get('zh') or '—'} ({values}, sources={len(doc.get('sources', []))})")
    return total


def cmd_up(args: argparse.Namespace) -> int:
    from shared.logs import configure_logging
    from shared.runtime.embedded import (
        EmbeddedServerError, check_data_dir, child_env, mongo_url, mongo_wire_server, nats_server, nats_url,
    )
    from shared.runtime.supervisor import Supervisor

    settings = load_settings()
    configure_logging("supervisor", settings.log_level)
    data_dir = Path(args.data_dir or settings.data_dir).resolve()
    try:
        check_data_dir(data_dir)
    except EmbeddedServerError as exc:
        _print(f"newsroom: {exc}")
        return 2
    log_dir = data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    servers = []
    n_url, m_url = settings.nats_url, settings.mongo_url
    try:
        if not n_url:
            nats = nats_server(data_dir, port=_pick_port(4222), monitor_port=_pick_port(8222)).start()
            servers.append(nats)
            n_url = nats_url(nats)
        if not m_url:
            mongo = mongo_wire_server(data_dir, port=_pick_port(27017)).start()
            servers.append(mongo)
            m_url = mongo_url(mongo)
    except EmbeddedServerError as exc:
        _print(f"newsroom: could not start an embedded server: {exc}")
        for server in servers:
            server.stop()
        return 2

    env_extra = {"NEWSROOM_NATS_URL": n_url, "NEWSROOM_MONGO_URL": m_url, "NEWSROOM_DATA_DIR": str(data_dir)}
    if args.once is not None:
        if args.once:
            once = Path(args.once)
            env_extra["NEWSROOM_INGEST__FEEDS"] = str(once.resolve()) if once.exists() else args.once
        env_extra["NEWSROOM_INGEST__POLL"] = "false"
    elif args.feeds:
        env_extra["NEWSROOM_INGEST__FEEDS"] = args.feeds
    replicas = _parse_replicas(args.replicas or [])
    supervisor = Supervisor()
    base_port = settings.metrics_base_port
    for stage in STAGES:
        for index in range(replicas[stage]):
            env = child_env({**env_extra, "NEWSROOM_METRICS_BASE_PORT": str(base_port + 10 * index)})
            supervisor.add(stage if replicas[stage] == 1 else f"{stage}-{index + 1}", SERVICE_MODULES[stage], env, log_dir)
    if args.once is None and not args.no_api and importlib.util.find_spec("services.publish.read_api"):
        supervisor.add("api", SERVICE_MODULES["api"], child_env(env_extra), log_dir)

    stop = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    supervisor.start_all()
    _print(f"AI Newsroom is up. Data: {data_dir}  Logs: {log_dir}")
    _print(f"  NATS:    {n_url}" + ("  (embedded)" if any(s.name == "nats-server" for s in servers) else ""))
    _print(f"  MongoDB: {m_url}" + ("  (embedded nx-27017)" if any(s.name == "nx-27017" for s in servers) else ""))
    for index, stage in enumerate(STAGES):
        _print(f"  {stage:<9} http://{settings.host}:{base_port + index}/metrics  /healthz  /readyz")
    if args.once is None and any(c.name == "api" for c in supervisor.children):
        _print(f"  read API  http://{settings.publish.api_host}:{settings.publish.api_port}/")
    _print("Ctrl-C stops everything." if args.once is None else f"One pass over {args.once or 'the sources'} ...")

    code = 0
    deadline = time.monotonic() + args.timeout
    stable_since: float | None = None
    try:
        while not stop["now"]:
            supervisor.check()
            time.sleep(0.5)
            if args.once is not None:
                done, items = asyncio.run(_drained(n_url, m_url, settings))
                if done and items:
                    stable_since = stable_since or time.monotonic()
                    if time.monotonic() - stable_since >= 3.0:
                        total = asyncio.run(_show_items(m_url, settings))
                        _print(f"{total} item(s) published to MongoDB and announced on news.published.*")
                        break
                else:
                    stable_since = None
                if time.monotonic() > deadline:
                    _print(f"newsroom: timed out after {args.timeout:.0f}s; see the logs in {log_dir}")
                    code = 1
                    break
    finally:
        supervisor.stop_all()
        for server in reversed(servers):
            server.stop()
        _print("Stopped.")
    return code


# --- run, tail, status, dlq -------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    module = SERVICE_MODULES.get(args.stage)
    if module is None:
        _print(f"unknown stage {args.stage!r}; one of {', '.join(SERVICE_MODULES)}")
        return 2
    sys.argv = [module]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


async def _tail(settings: Settings, subject: str, replay: bool, count: int | None) -> None:
    from nats.js.api import ConsumerConfig, DeliverPolicy

    from shared import ops

    nc = await ops.connect(settings.require_nats_url())
    js = nc.jetstream()
    seen = 0
    done = asyncio.Event()

    async def on_message(msg: Any) -> None:
        nonlocal seen
        data = json.loads(msg.data)
        item = data.get("item", {})
        title = item.get("title", {})
        _print(json.dumps({"subject": msg.subject, "kind": data.get("kind"), "version": data.get("version"),
                           "story_id": data.get("story_id"), "title_en": title.get("en"),
                           "title_zh": title.get("zh")}, ensure_ascii=False))
        seen += 1
        if count is not None and seen >= count:
            done.set()

    policy = DeliverPolicy.ALL if replay else DeliverPolicy.NEW
    sub = await js.subscribe(subject, cb=on_message, ordered_consumer=True,
                             config=ConsumerConfig(deliver_policy=policy))
    try:
        await done.wait()
    finally:
        await sub.unsubscribe()
        await nc.close()


def cmd_tail(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_tail(load_settings(), args.subject, args.replay, args.count))
    return 0


async def _status(settings: Settings) -> dict[str, Any]:
    from shared import ops

    nc = await ops.connect(settings.require_nats_url())
    try:
        streams = await ops.stream_state(nc)
        lags = await ops.consumer_lag(nc)
        letters = await ops.dead_letters(nc, limit=10_000)
    finally:
        await nc.close()
    by_stage: dict[str, int] = {}
    for _, letter in letters:
        by_stage[letter.stage] = by_stage.get(letter.stage, 0) + 1
    status: dict[str, Any] = {
        "streams": streams,
        "consumers": [lag.__dict__ for lag in lags],
        "dead_letters": by_stage,
    }
    try:
        from shared.storage import SOURCE_STATE, MongoStore

        store = MongoStore(settings.require_mongo_url(), settings.mongo_db, settings.mongo_driver, timeout_ms=2000)
        try:
            docs = await store.collection(SOURCE_STATE).find({}).to_list(length=1000)
            status["sources"] = [
                {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in doc.items()} for doc in docs
            ]
        finally:
            await store.close()
    except Exception as exc:  # status must work even when MongoDB is down
        status["sources_error"] = str(exc)
    return status


def cmd_status(args: argparse.Namespace) -> int:
    _print(json.dumps(asyncio.run(_status(load_settings())), indent=2, ensure_ascii=False, default=str))
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from shared import ops

    async def run() -> int:
        nc = await ops.connect(load_settings().require_nats_url())
        try:
            if args.action == "list":
                for seq, letter in await ops.dead_letters(nc, limit=args.limit):
                    _print(json.dumps({"seq": seq, "stage": letter.stage, "subject": letter.subject,
                                       "error_type": letter.error_type, "error": letter.error[:200],
                                       "failed_at": letter.failed_at.isoformat()}, ensure_ascii=False))
            elif args.action == "show":
                for seq, letter in await ops.dead_letters(nc, limit=100_000):
                    if seq == args.seq:
                        _print(json.dumps(ops.describe(letter), indent=2, ensure_ascii=False))
                        return 0
                _print(f"no dead letter {args.seq}")
                return 1
            elif args.action == "replay":
                subject = await ops.replay_dead_letter(nc, args.seq)
                _print(f"replayed dead letter {args.seq} to {subject}")
            return 0
        finally:
            await nc.close()

    return asyncio.run(run())


def cmd_asyncapi(args: argparse.Namespace) -> int:
    from shared.asyncapi import write_asyncapi

    path = write_asyncapi(Path(args.output))
    _print(f"wrote {path}")
    return 0


# Subcommands contributed by services (e.g. `newsroom sources`, `newsroom submit` from ingest).
EXTENSIONS = ("services.ingest.cli",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsroom", description="AI Newsroom: a bilingual AI-news wire.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole system (embedded NATS and Mongo-wire server by default)")
    up.add_argument("--data-dir", help="all state lives here (default: NEWSROOM_DATA_DIR or ./var)")
    up.add_argument("--once", metavar="FEED", nargs="?", const="",
                    help="one pass over the sources (or only FEED, a URL or file), wait until published, stop")
    up.add_argument("--feeds", help="comma-separated feed URLs/paths to poll in addition to the sources file")
    up.add_argument("--replicas", action="append", metavar="STAGE=N", help="processes per stage, e.g. translate=3")
    up.add_argument("--timeout", type=float, default=300.0, help="with --once: give up after this many seconds")
    up.add_argument("--no-api", action="store_true", help="do not start the read API process")
    up.set_defaults(func=cmd_up)

    run = sub.add_parser("run", help="run one stage as its own process")
    run.add_argument("stage", choices=sorted(SERVICE_MODULES))
    run.set_defaults(func=cmd_run)

    tail = sub.add_parser("tail", help="print published/updated events")
    tail.add_argument("--subject", default="news.*.>", help="subject filter (default: all published and updated)")
    tail.add_argument("--replay", action="store_true", help="start from the oldest retained event")
    tail.add_argument("--count", type=int, help="exit after this many events")
    tail.set_defaults(func=cmd_tail)

    status = sub.add_parser("status", help="streams, consumer lag, dead letters, source health")
    status.set_defaults(func=cmd_status)

    dlq = sub.add_parser("dlq", help="dead letters: list, show, replay")
    dlq.add_argument("action", choices=["list", "show", "replay"])
    dlq.add_argument("seq", nargs="?", type=int, default=0)
    dlq.add_argument("--limit", type=int, default=100)
    dlq.set_defaults(func=cmd_dlq)

    asyncapi = sub.add_parser("asyncapi", help="write the AsyncAPI document of the event contracts")
    asyncapi.add_argument("--output", default="docs/asyncapi.json")
    asyncapi.set_defaults(func=cmd_asyncapi)

    for name in EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        register: Callable[[Any], None] | None = getattr(module, "register_commands", None)
        if register:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
