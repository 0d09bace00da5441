"""`newsroom`: run the whole system or one stage, watch its output, operate it.

newsroom up                  embedded NATS + Mongo-wire server + the five services
newsroom up --once FEED      ingest one feed, wait until every story is published, print, stop
newsroom run STAGE           one stage as its own process (ingest|translate|analyze|score|publish|api)
newsroom tail                print news.published.* / news.updated.* events as they arrive
newsroom status              streams, consumer lag, dead letters, source health (JSON)
newsroom dlq list|show|replay
newsroom reprocess --since T --stage S   re-run a stage for stories seen since T
newsroom asyncapi            write docs/asyncapi.json from the FastStream apps
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import re
import runpy
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared import console
from shared.settings import STAGE_PORT_OFFSET, STAGES, Settings, load_settings

SERVICE_MODULES = {stage: f"services.{stage}" for stage in STAGES}
SERVICE_MODULES["api"] = "services.publish.read_api"


def _print(*parts: object) -> None:
    # Everything printed can carry stored or remote text (titles in `tail`, feed errors in `status`,
    # dead letters): JSON escapes C0 controls but not C1 ones, and messages are not JSON at all.
    print(*(console.terminal_safe(str(part), one_line=False) for part in parts), flush=True)


# --- up ---------------------------------------------------------------------------------------


def _parse_replicas(values: list[str]) -> dict[str, int]:
    replicas = {stage: 1 for stage in STAGES}
    for value in values:
        stage, _, count = value.partition("=")
        if stage not in replicas or not count.isdigit() or int(count) < 1:
            raise SystemExit(f"--replicas takes STAGE=N with a stage of {', '.join(STAGES)}: got {value!r}")
        replicas[stage] = int(count)
    return replicas


def replica_layout(replicas: dict[str, int], base_port: int) -> list[tuple[str, str, int]]:
    """(process name, stage, its NEWSROOM_METRICS_BASE_PORT) for every replica: replica i of a
    stage listens on base_port + 10*i + the stage's offset, so replicas never share a port."""
    layout = []
    for stage in STAGES:
        count = replicas.get(stage, 1)
        for index in range(count):
            layout.append((stage if count == 1 else f"{stage}-{index + 1}", stage, base_port + 10 * index))
    return layout


def port_in_use(host: str, port: int) -> bool:
    """True when something listens on (host, port) or the port cannot be bound there."""
    import socket

    from shared.runtime.embedded import port_open

    if port_open(host, port):
        return True
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As the servers do: a port in TIME_WAIT is free for them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def ports_needed(
    settings: Settings, layout: list[tuple[str, str, int]], with_api: bool
) -> list[tuple[str, int, str, str]]:
    """(host, port, what, the setting that moves it) of every port `newsroom up` will listen on."""
    needed: list[tuple[str, int, str, str]] = []
    if not settings.nats_url:
        needed.append(
            ("127.0.0.1", settings.embedded.nats_port, "embedded NATS", "NEWSROOM_EMBEDDED__NATS_PORT")
        )
        needed.append(
            (
                "127.0.0.1",
                settings.embedded.nats_monitor_port,
                "embedded NATS monitoring",
                "NEWSROOM_EMBEDDED__NATS_MONITOR_PORT",
            )
        )
    if not settings.mongo_url:
        needed.append(
            (
                "127.0.0.1",
                settings.embedded.mongo_port,
                "embedded MongoDB (nx-27017)",
                "NEWSROOM_EMBEDDED__MONGO_PORT",
            )
        )
    for name, stage, replica_base in layout:
        needed.append(
            (
                settings.host,
                replica_base + STAGE_PORT_OFFSET[stage],
                f"the {name} stage's metrics",
                "NEWSROOM_METRICS_BASE_PORT",
            )
        )
    if with_api:
        needed.append(
            (
                settings.publish.api_host,
                settings.publish.api_port,
                "the read API",
                "NEWSROOM_PUBLISH__API_PORT",
            )
        )
    return needed


def first_port_taken(needed: list[tuple[str, int, str, str]]) -> str | None:
    """One line naming the first port already in use and the setting that moves it, or None."""
    for host, port, what, setting in needed:
        if port_in_use(host, port):
            return (
                f"newsroom: port {port} on {host} ({what}) is already in use: is another `newsroom up` "
                f"running? Stop it, or set {setting} to a free port."
            )
    return None


async def _drained(nats_url: str, mongo_url: str, settings: Settings, since: float) -> tuple[bool, int]:
    """True when ingest finished its single pass (after ``since``, Unix seconds) and every pipeline
    consumer has nothing pending or unacknowledged. Quiet consumers alone are not enough: a source
    whose article pages time out keeps ingest busy while the stream is quiet."""
    from shared import ops
    from shared.storage import INGEST_STATE, ITEMS, SINGLE_PASS_ID, MongoStore

    nc = await ops.connect(nats_url)
    try:
        js = nc.jetstream()
        lags = await ops.consumer_lag(js)
        streams = await ops.stream_state(js)
    finally:
        await nc.close()
    store = MongoStore(mongo_url, settings.mongo_db, settings.mongo_driver)
    try:
        items = await store.collection(ITEMS).count_documents({})
        single_pass = await store.get(INGEST_STATE, SINGLE_PASS_ID) or {}
    finally:
        await store.close()
    if float(single_pass.get("finished_at") or 0.0) < since:
        return False, items
    pipeline = streams.get("NEWS_PIPELINE", {}).get("messages", 0)
    busy = any(lag.pending or lag.ack_pending for lag in lags if lag.stream == "NEWS_PIPELINE")
    expected = set(ops.PIPELINE_CONSUMERS)
    present = {lag.consumer for lag in lags}
    return (pipeline > 0 and not busy and expected <= present), items


def cmd_up(args: argparse.Namespace) -> int:
    from shared.logs import configure_logging
    from shared.runtime.embedded import (
        EmbeddedServerError,
        check_data_dir,
        child_env,
        mongo_url,
        mongo_wire_server,
        nats_server,
        nats_url,
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
    replicas = _parse_replicas(args.replicas or [])
    layout = replica_layout(replicas, settings.metrics_base_port)
    with_api = args.once is None and not args.no_api and importlib.util.find_spec("services.publish.read_api")
    # Every port is checked before anything starts: a second `up` fails here in one line instead
    # of printing "up" and restart-looping its stages on "address already in use".
    taken = first_port_taken(ports_needed(settings, layout, bool(with_api)))
    if taken:
        _print(taken)
        return 2
    log_dir = data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    servers = []
    n_url, m_url = settings.nats_url, settings.mongo_url
    try:
        if not n_url:
            nats = nats_server(
                data_dir, port=settings.embedded.nats_port, monitor_port=settings.embedded.nats_monitor_port
            ).start()
            servers.append(nats)
            n_url = nats_url(nats)
        if not m_url:
            mongo = mongo_wire_server(data_dir, port=settings.embedded.mongo_port).start()
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
    supervisor = Supervisor()
    for name, stage, replica_base in layout:
        env = child_env({**env_extra, "NEWSROOM_METRICS_BASE_PORT": str(replica_base)})
        supervisor.add(name, SERVICE_MODULES[stage], env, log_dir)
    if with_api:
        supervisor.add("api", SERVICE_MODULES["api"], child_env(env_extra), log_dir)

    stop = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started_at = time.time()  # a single-pass mark older than this is from an earlier run
    supervisor.start_all()
    _print(f"AI Newsroom is up. Data: {data_dir}  Logs: {log_dir}")
    embedded = {s.name for s in servers}
    _print(f"  NATS:    {n_url}" + ("  (embedded)" if "nats-server" in embedded else ""))
    _print(f"  MongoDB: {m_url}" + ("  (embedded nx-27017)" if "nx-27017" in embedded else ""))
    for name, stage, replica_base in layout:
        port = replica_base + STAGE_PORT_OFFSET[stage]
        _print(f"  {name:<11} http://{settings.host}:{port}/metrics  /healthz  /readyz")
    if args.once is None and any(c.name == "api" for c in supervisor.children):
        _print(f"  read API  http://{settings.publish.api_host}:{settings.publish.api_port}/")
    _print(console.model_banner(settings))
    what = args.once or "the sources"
    _print("Ctrl-C stops everything." if args.once is None else f"One pass over {what} ...")

    code = 0
    deadline = time.monotonic() + args.timeout
    stable_since: float | None = None
    try:
        while not stop["now"]:
            supervisor.check()
            time.sleep(0.5)
            if args.once is not None:
                done, items = asyncio.run(_drained(n_url, m_url, settings, started_at))
                if done and items:
                    stable_since = stable_since or time.monotonic()
                    if time.monotonic() - stable_since >= 3.0:
                        total = asyncio.run(console.show_items(m_url, settings))
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


async def _tail(settings: Settings, subject: str | None, replay: bool, count: int | None) -> None:
    """Print events as JSON lines. Default: the published and updated events (stream NEWS_OUT);
    ``--subject`` picks any subject of any stream (``news.dlq.>`` for the dead letters)."""
    from nats.js.api import ConsumerConfig, DeliverPolicy

    from shared import ops, subjects

    nc = await ops.connect(settings.require_nats_url())
    js = nc.jetstream()
    seen = 0
    done = asyncio.Event()

    async def on_message(msg: Any) -> None:
        nonlocal seen
        if count is not None and seen >= count:
            return  # already printed what was asked; the rest arrived before the unsubscribe
        try:
            data = json.loads(msg.data)
        except ValueError:
            data = {}
        item = data.get("item") or {}
        title = item.get("title") or {}
        line = {
            "subject": msg.subject,
            "kind": data.get("kind"),
            "version": data.get("version"),
            "story_id": data.get("story_id"),
            "title_en": title.get("en"),
            "title_zh": title.get("zh"),
        }
        if msg.subject.startswith(subjects.DLQ_PREFIX + "."):
            line.update(kind="dead_letter", stage=data.get("stage"), error=str(data.get("error", ""))[:200])
        _print(json.dumps(line, ensure_ascii=False))
        seen += 1
        if count is not None and seen >= count:
            done.set()

    policy = DeliverPolicy.ALL if replay else DeliverPolicy.NEW
    filters = [subject] if subject else list(subjects.OUTPUT_STREAM.subjects)
    subs = []
    try:
        for one in filters:
            try:
                stream: str | None = subjects.stream_for(one).name
            except ValueError:
                stream = None  # a wildcard: the server says which stream holds it
            subs.append(
                await js.subscribe(
                    one,
                    cb=on_message,
                    ordered_consumer=True,
                    stream=stream,
                    config=ConsumerConfig(deliver_policy=policy),
                )
            )
        await done.wait()
    finally:
        for sub in subs:
            with contextlib.suppress(Exception):
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
        js = nc.jetstream()
        streams = await ops.stream_state(js)
        lags = await ops.consumer_lag(js)
        letters = await ops.dead_letter_counts(js)
    finally:
        await nc.close()
    status: dict[str, Any] = {
        "streams": streams,
        "consumers": [lag.__dict__ for lag in lags],
        "dead_letters": letters,
        "language_model": console.model_status(settings),
    }
    try:
        status["sources"] = await _source_health(settings)
    except Exception as exc:  # status must work even when MongoDB is down
        status["sources_error"] = f"{type(exc).__name__}: {exc}"
    return status


async def _source_health(settings: Settings) -> dict[str, Any]:
    """Failing sources first (consecutive failures, last success, last error), and a count of the rest."""
    from shared.source_health import SourceHealthStore
    from shared.storage import MongoStore

    store = MongoStore(
        settings.require_mongo_url(), settings.mongo_db, settings.mongo_driver, timeout_ms=2000
    )
    try:
        health = await SourceHealthStore(store).all()
    finally:
        await store.close()
    failing = sorted(
        (h for h in health.values() if h.consecutive_failures > 0),
        key=lambda h: (-h.consecutive_failures, h.source_id),
    )
    return {
        "total": len(health),
        "healthy": len(health) - len(failing),
        "failing": [
            {
                "source": h.source_id,
                "consecutive_failures": h.consecutive_failures,
                "circuit": h.circuit,
                "last_success_at": h.last_success_at.isoformat() if h.last_success_at else None,
                "last_error_kind": h.last_error_kind,
                "last_error": (h.last_error or "")[:200],
            }
            for h in failing
        ],
    }


def cmd_status(args: argparse.Namespace) -> int:
    _print(json.dumps(asyncio.run(_status(load_settings())), indent=2, ensure_ascii=False, default=str))
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from shared import ops

    async def run() -> int:
        nc = await ops.connect(load_settings().require_nats_url())
        try:
            js = nc.jetstream()
            if args.action == "list":
                for seq, letter in await ops.dead_letters(js, limit=args.limit, stage=args.stage):
                    _print(
                        json.dumps(
                            {
                                "seq": seq,
                                "stage": letter.stage,
                                "subject": letter.subject,
                                "story_id": letter.story_id,
                                "error_type": letter.error_type,
                                "error": letter.error[:200],
                                "deliveries": letter.deliveries,
                                "failed_at": letter.failed_at.isoformat(),
                            },
                            ensure_ascii=False,
                        )
                    )
                return 0
            if args.action == "show":
                if len(args.seq) != 1:
                    _print("dlq show takes one sequence number")
                    return 2
                found = await ops.dead_letter(js, args.seq[0])
                if found is None:
                    _print(f"no dead letter {args.seq[0]}")
                    return 1
                _print(json.dumps(ops.describe(found), indent=2, ensure_ascii=False))
                return 0
            # replay: the given sequence numbers, or every letter of --stage
            seqs = list(args.seq)
            if not seqs and args.stage:
                seqs = [seq for seq, _ in await ops.dead_letters(js, limit=args.limit, stage=args.stage)]
            if not seqs:
                _print("dlq replay takes sequence numbers (see `newsroom dlq list`) or --stage STAGE")
                return 2
            code = 0
            for seq in seqs:
                try:
                    subject = await ops.replay_dead_letter(js, seq)
                except (LookupError, ValueError) as exc:
                    _print(f"dead letter {seq}: {exc}")
                    code = 1
                    continue
                _print(f"replayed dead letter {seq} to {subject}")
            return code
        finally:
            await nc.close()

    return asyncio.run(run())


def parse_since(value: str, now: datetime) -> datetime:
    """An ISO 8601 time (UTC when no offset is given) or a duration back from now: 90m, 6h, 2d."""
    match = re.fullmatch(r"(\d+)\s*([smhd])", value.strip())
    if match:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        return now - timedelta(seconds=int(match.group(1)) * unit)
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise SystemExit(f"--since takes an ISO 8601 time or a duration like 6h: got {value!r}") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def _stored_story_ids(settings: Settings, since: datetime) -> list[str]:
    from shared.storage import ITEMS, MongoStore

    store = MongoStore(
        settings.require_mongo_url(), settings.mongo_db, settings.mongo_driver, timeout_ms=3000
    )
    try:
        cursor = store.collection(ITEMS).find({"first_seen_at": {"$gte": since}}, {"_id": 1})
        docs = await cursor.to_list(length=None)
    finally:
        await store.close()
    return [str(doc["_id"]) for doc in docs]


async def _reprocess(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from shared import ops
    from shared.events import new_id

    now = datetime.now(UTC)
    since = parse_since(args.since, now)
    run_id = args.run_id or f"{now:%Y%m%dT%H%M%SZ}-{new_id()[:6]}"
    nc = await ops.connect(settings.require_nats_url())
    try:
        js = nc.jetstream()
        found = await ops.read_subject_since(js, ops.REPROCESS_INPUT[args.stage], since)
        plan = ops.plan_reprocess(args.stage, found, run_id, now, set(args.story) if args.story else None)
        report = {**ops.summarize_plan(plan), "since": since.isoformat(), "dry_run": args.dry_run}
        if not args.dry_run:
            published, duplicates = await ops.publish_plan(js, plan, rate_per_s=args.rate)
            report.update(published=published, duplicates_dropped=duplicates)
    finally:
        await nc.close()
    if not args.story:
        try:
            missing = ops.stories_missing(plan, await _stored_story_ids(settings, since))
            report["items_not_in_stream"] = len(missing)
            report["items_not_in_stream_sample"] = missing[:20]
        except Exception as exc:  # the stream part is done; MongoDB only adds the coverage report
            report["items_check_error"] = f"{type(exc).__name__}: {exc}"
    return report


def cmd_reprocess(args: argparse.Namespace) -> int:
    report = asyncio.run(_reprocess(args, load_settings()))
    _print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


def cmd_asyncapi(args: argparse.Namespace) -> int:
    from shared.asyncapi import write_asyncapi

    path = write_asyncapi(Path(args.output))
    _print(f"wrote {path}")
    return 0


# Subcommands contributed by services (e.g. `newsroom sources`, `newsroom submit` from ingest).
EXTENSIONS = ("services.ingest.cli",)


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, got {value!r}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsroom", description="AI Newsroom: a bilingual AI-news wire.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole system (embedded NATS and Mongo-wire server by default)")
    up.add_argument("--data-dir", help="all state lives here (default: NEWSROOM_DATA_DIR or ./var)")
    up.add_argument(
        "--once",
        metavar="FEED",
        nargs="?",
        const="",
        help="one pass over the sources (or only FEED, a URL or file), wait until published, stop",
    )
    up.add_argument("--feeds", help="comma-separated feed URLs/paths to poll in addition to the sources file")
    up.add_argument(
        "--replicas", action="append", metavar="STAGE=N", help="processes per stage, e.g. translate=3"
    )
    up.add_argument(
        "--timeout", type=float, default=300.0, help="with --once: give up after this many seconds"
    )
    up.add_argument("--no-api", action="store_true", help="do not start the read API process")
    up.set_defaults(func=cmd_up)

    run = sub.add_parser("run", help="run one stage as its own process")
    run.add_argument("stage", choices=sorted(SERVICE_MODULES))
    run.set_defaults(func=cmd_run)

    tail = sub.add_parser("tail", help="print published/updated events")
    tail.add_argument(
        "--subject",
        default=None,
        help="subject filter, e.g. news.published.chips or news.dlq.> (default: every "
        "news.published.* and news.updated.* event)",
    )
    tail.add_argument("--replay", action="store_true", help="start from the oldest retained event")
    tail.add_argument("--count", type=_positive_int, help="exit after exactly this many events")
    tail.set_defaults(func=cmd_tail)

    status = sub.add_parser("status", help="streams, consumer lag, dead letters, source health")
    status.set_defaults(func=cmd_status)

    dlq = sub.add_parser("dlq", help="dead letters: list, show SEQ, replay SEQ... (or --stage S)")
    dlq.add_argument("action", choices=["list", "show", "replay"])
    dlq.add_argument("seq", nargs="*", type=int, help="stream sequence numbers, as `dlq list` prints them")
    dlq.add_argument("--stage", help="only this stage's dead letters (replay: all of them)")
    dlq.add_argument("--limit", type=int, default=100)
    dlq.set_defaults(func=cmd_dlq)

    from shared.ops import REPROCESS_INPUT

    reprocess = sub.add_parser(
        "reprocess",
        help="re-run a stage (and those after it) for stories seen since a time, e.g. after a prompt change",
    )
    reprocess.add_argument(
        "--since", required=True, help="ISO 8601 time (UTC if no offset) or a duration: 90m, 6h, 2d"
    )
    reprocess.add_argument("--stage", required=True, choices=sorted(REPROCESS_INPUT))
    reprocess.add_argument("--story", action="append", help="only this story id (repeatable)")
    reprocess.add_argument(
        "--rate", type=float, default=50.0, help="events published per second (default 50)"
    )
    reprocess.add_argument(
        "--run-id", help="repeat an interrupted run: its events are deduplicated by the stream"
    )
    reprocess.add_argument("--dry-run", action="store_true", help="only say what would be re-run")
    reprocess.set_defaults(func=cmd_reprocess)

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


def unreachable_message(exc: BaseException, settings: Settings) -> str | None:
    """One line for "the system is not running" (NATS or MongoDB unreachable), else None."""
    from nats.errors import ConnectionClosedError, NoServersError
    from nats.errors import TimeoutError as NatsTimeoutError
    from pymongo.errors import ConnectionFailure

    hint = "the system is not running (start it with `newsroom up`)"
    if isinstance(exc, (NoServersError, ConnectionClosedError, NatsTimeoutError, ConnectionRefusedError)):
        return (
            f"newsroom: cannot reach NATS at {settings.require_nats_url()}: {hint}, or set "
            "NEWSROOM_NATS_URL to where it runs."
        )
    if isinstance(exc, ConnectionFailure):
        return (
            f"newsroom: cannot reach MongoDB at {settings.require_mongo_url()}: {hint}, or set "
            "NEWSROOM_MONGO_URL to where it runs."
        )
    return None


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except Exception as exc:
        # Every command against a stopped system says so in one line, not a traceback.
        message = unreachable_message(exc, load_settings())
        if message is None:
            raise
        _print(message)
        return 1
    return result


if __name__ == "__main__":
    raise SystemExit(main())
