"""Run the demo: publish the scenario through a real gate worker, collect, report, clean up.

The order is what makes the demo's promise hold (see `streams.gate.fence`):

1. Topics are created under a fresh prefix (`demo-<yyyymmddHHMMSS>-`), so runs never mix.
2. A gate worker starts as a subprocess with the same settings; its faust output goes to
   `<data dir>/demo/worker.log`, not to the terminal.
3. The consent events are published, and the run waits until the worker has applied them (its
   consumer group has committed them: Kafka orders nothing across topics, and the state fence
   covers unsubscribes only). Then the unsubscribes are published and acknowledged, then the
   sends, then the bad records.
4. Once the gate answers, the racing pairs go out: each send right after its click's
   acknowledgement, while the gate is busy.
5. The run waits, bounded, until every decision, dead letter and suppression change is back,
   copies them into the ledger with the ledger sink (SQLite in `.data/` unless told otherwise),
   and prints the report.
6. Whatever happened, it stops the worker (SIGTERM, bounded wait, then SIGKILL) and deletes the
   run's topics and worker state, unless asked to keep them.

Failures the user can act on (broker down, database unreachable, the worker dying) are raised as
`SendgateError`s with one line saying what to do; the CLI prints them without a traceback.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import SecretStr
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError

from streams.core.clock import SystemClock
from streams.core.errors import SendgateError, ServiceUnavailableError
from streams.core.providers import load_providers
from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings, ensure_recipient_key_secret
from streams.demo.collector import GateOutput
from streams.demo.content import (
    TEMPLATE_ACCOUNT,
    ContentCase,
    build_content_case,
    sender_domains,
)
from streams.demo.enforcement import (
    STRUCK_ACCOUNT,
    EnforcementCase,
    build_enforcement_case,
    demo_policy_file,
)
from streams.demo.expected import expected_failed_rules
from streams.demo.providers import DEMO_SNS_TOPIC, SendgridSigner, SnsSigner
from streams.demo.replay import DemoReplay, replay_the_run
from streams.demo.report import DemoReport, OneClick, render_report
from streams.demo.scenario import (
    ACCOUNTS,
    DEFAULT_SEED,
    DEFAULT_SENDS,
    Scenario,
    build_scenario,
)
from streams.demo.webhooks import ACCOUNT as ESP_ACCOUNT
from streams.demo.webhooks import EspRun, NotifyRun, build_esp_case
from streams.demo.worker_process import WorkerProcess, display_path, start_worker
from streams.edges.admin import (
    check_broker,
    consumed_by_group,
    create_topics,
    delete_topics,
    describe_topics,
    is_problem,
)
from streams.edges.ledger import (
    ConsumerOffset,
    SinkProgress,
    ledger_consumer_group,
    ledger_counts,
    make_engine,
    run_ledger_sink,
    upgrade,
)
from streams.edges.ledger.catalogue import LEDGER_TOPICS
from streams.edges.notify import Delivery, run_notifier
from streams.edges.producer import SendgateProducer
from streams.edges.web.serve import free_loopback_port, serve_unsubscribes
from streams.edges.webhooks.serve import serve_webhooks
from streams.policy import load_policy
from streams.topics import (
    CONSENT_EVENTS,
    DELIVERY_EVENTS,
    ENFORCEMENT_EVENTS,
    ESP_WEBHOOKS,
    FEEDBACK_REPORTS,
    RATE_EVENTS,
    SENDER_DOMAINS,
    TOPICS,
    UNSUBSCRIBE_CLICKS,
    TopicSpec,
)

__all__ = ["DemoOptions", "DemoResult", "demo_settings", "run_demo"]

T = TypeVar("T")

BROKER_CHECK_TIMEOUT_S = 5.0
LEDGER_IDLE_EXIT_S = 1.0
"""The ledger sink stops after this long without a record; everything is on the topics by then."""


@dataclass(frozen=True)
class DemoOptions:
    """What `sendgate demo` can be asked for; the defaults are the README's demo."""

    sends: int = DEFAULT_SENDS
    seed: int = DEFAULT_SEED
    partitions: int | None = None
    database_url: str | None = None
    """None: a SQLite file `demo-ledger.sqlite3` in the data folder (zero setup)."""
    topic_prefix: str | None = None
    """None: `demo-<yyyymmddHHMMSS>-` in UTC."""
    keep_topics: bool = False
    timeout_s: float = 90.0
    """How long to wait for the gate's answers after the last record was published."""
    worker_stop_timeout_s: float = 30.0


@dataclass(frozen=True)
class DemoResult:
    """What a run did: the report it printed and what it was measured against."""

    report: DemoReport
    scenario: Scenario
    expected: dict[str, tuple[str, ...]]
    settings: Settings
    topics_deleted: bool
    replayed: DemoReplay


def demo_settings(settings: Settings, options: DemoOptions, *, now: datetime) -> Settings:
    """The process's settings with the demo's own prefix, partition count and ledger."""
    prefix = options.topic_prefix or f"demo-{now.astimezone(UTC):%Y%m%d%H%M%S}-"
    database_url = options.database_url or f"sqlite:///{settings.data_dir / 'demo-ledger.sqlite3'}"
    policy_file = settings.policy_file or demo_policy_file(settings.data_dir / "demo")
    return settings.model_copy(
        update={
            "topic_prefix": prefix,
            "topic_partitions": options.partitions or settings.topic_partitions,
            "database_url": SecretStr(database_url),
            "policy_file": policy_file,
            # The demo serves the links itself (`sendgate web`) on a free loopback port, with the
            # worker's signing keys (the worker has its own data folder).
            "unsubscribe_base_url": f"http://127.0.0.1:{free_loopback_port()}",
            "unsubscribe_key_file": settings.unsubscribe_keys_path,
        }
    )


def _progress(console: Console, *, bar: bool = True) -> Progress:
    columns = [SpinnerColumn(finished_text="[green]✓[/]"), TextColumn("{task.description}")]
    if bar:
        columns += [BarColumn(), MofNCompleteColumn()]
    return Progress(*columns, TimeElapsedColumn(), console=console)


async def _in_thread(function: Callable[..., T], *args: Any) -> T:
    try:
        return await asyncio.to_thread(function, *args)
    except ArgumentError as exc:
        raise SendgateError(f"the ledger database URL is not usable: {exc}") from None
    except (OperationalError, InterfaceError) as exc:
        raise ServiceUnavailableError(
            f"the ledger database did not answer ({type(exc.orig or exc).__name__}); "
            "is it running? (scripts/services status)"
        ) from None


# --- publishing ---------------------------------------------------------------------------------


async def _publish(
    producer: SendgateProducer,
    scenario: Scenario,
    settings: Settings,
    worker: WorkerProcess,
    console: Console,
    timeout_s: float,
) -> None:
    """Verified domains and consents (applied), clicks (acknowledged), sends (acknowledged),
    then the bad records."""
    with _progress(console) as progress:
        domains = sender_domains((*scenario.accounts, STRUCK_ACCOUNT), now=SystemClock().now())
        verified = progress.add_task("accounts verify their domains", total=len(domains))
        await producer.publish_many(
            domains, on_progress=lambda acked: progress.advance(verified, acked)
        )
        await _wait_until_applied(
            settings,
            SENDER_DOMAINS.full_name(settings),
            worker,
            timeout_s,
            lambda _: None,
            "sender domains",
        )
        consents = progress.add_task("publishing consent events", total=len(scenario.consents))
        await producer.publish_many(
            scenario.consents, on_progress=lambda acked: progress.advance(consents, acked)
        )
        applied = progress.add_task(
            "gate worker applies the consents", total=len(scenario.consents)
        )
        await _wait_until_applied(
            settings,
            CONSENT_EVENTS.full_name(settings),
            worker,
            timeout_s,
            lambda done: progress.update(applied, completed=done),
        )
        clicks = progress.add_task("publishing unsubscribes", total=len(scenario.clicks))
        await producer.publish_many(
            scenario.clicks, on_progress=lambda acked: progress.advance(clicks, acked)
        )
        sends = progress.add_task("publishing send requests", total=len(scenario.sends))
        await producer.publish_many(
            scenario.sends, on_progress=lambda acked: progress.advance(sends, acked)
        )
        bad = progress.add_task("publishing bad records", total=len(scenario.bad_records))
        for record in scenario.bad_records:
            await producer.send(record.topic, record.key or b"", record.value)
            progress.advance(bad)


async def _wait_until_applied(
    settings: Settings,
    topic: str,
    worker: WorkerProcess,
    timeout_s: float,
    on_progress: Callable[[int], None],
    what: str = "consent events",
) -> None:
    """Until the gate's consumer group has committed every record of `topic`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        done, total = await consumed_by_group(settings, settings.app_id, topic)
        on_progress(done)
        if done >= total:
            return
        worker.check_alive(f"the {what} to be applied")
        if asyncio.get_running_loop().time() > deadline:
            raise SendgateError(
                f"the gate worker applied {done} of {total} {what} in {timeout_s:.0f}s; "
                f"see its log: {display_path(worker.log_path)}"
            )
        await asyncio.sleep(0.25)


async def _race(
    producer: SendgateProducer,
    scenario: Scenario,
    output: GateOutput,
    worker: WorkerProcess,
    console: Console,
    timeout_s: float,
) -> None:
    """Once the gate answers, publish each racing send right after its click's acknowledgement."""
    with _progress(console, bar=False) as progress:
        task = progress.add_task("waiting for the gate worker to answer", total=1)
        await _until(
            output.first_decision.is_set,
            worker,
            output,
            "its first decision",
            timeout_s,
            f"the gate worker gave no decision within {timeout_s:.0f} s; "
            f"see its log: {display_path(worker.log_path)}",
        )
        progress.update(task, completed=1, description="the gate worker answers")
    with _progress(console) as progress:
        task = progress.add_task(
            "racing: each send right after its click's ack", total=len(scenario.race)
        )
        for click, send in scenario.race:
            await producer.publish(click)
            await producer.publish(send)
            progress.advance(task)


async def _wait_for_output(
    output: GateOutput,
    scenario: Scenario,
    worker: WorkerProcess,
    console: Console,
    timeout_s: float,
) -> None:
    """Until every decision, dead letter and suppression change is back, or the deadline."""
    targets = {
        "send decisions": (lambda: len(output.decisions), scenario.send_count),
        "dead letters": (lambda: len(output.dead_letters), len(scenario.bad_records)),
        "unsubscribes applied": (lambda: len(output.applied_clicks), scenario.click_count),
    }
    deadline = time.monotonic() + timeout_s
    with _progress(console) as progress:
        tasks = {name: progress.add_task(name, total=total) for name, (_, total) in targets.items()}
        while True:
            missing = []
            for name, (count, total) in targets.items():
                progress.update(tasks[name], completed=min(count(), total))
                if count() < total:
                    missing.append(f"{count():,} of {total:,} {name}")
            if not missing:
                return
            worker.check_alive("the gate's answers")
            output.check_reading()
            if time.monotonic() > deadline:
                raise SendgateError(
                    f"after {timeout_s:.0f} s only {', '.join(missing)} had arrived; "
                    f"see the worker's log: {display_path(worker.log_path)}"
                )
            await asyncio.sleep(0.1)


async def _strike(
    settings: Settings,
    case: EnforcementCase,
    output: GateOutput,
    worker: WorkerProcess,
    console: Console,
    timeout_s: float,
) -> None:
    """The enforcement story (`streams.demo.enforcement`): deliveries and complaints until strike
    1, then a broadcast and a receipt of the struck account."""
    enforcement_topic = ENFORCEMENT_EVENTS.full_name(settings)

    def struck() -> bool:
        actions = [event.action for event in output.enforcement.values()]
        fines = actions.count("fine_assessed")
        return "broadcasts_disabled" in actions and fines >= len(case.complaints)

    async with SendgateProducer(settings) as producer:
        with _progress(console) as progress:
            consents = progress.add_task(
                f"{STRUCK_ACCOUNT}: two customers sign up", total=len(case.probe_consents)
            )
            await producer.publish_many(
                case.probe_consents, on_progress=lambda acked: progress.advance(consents, acked)
            )
            await _wait_until_applied(
                settings, CONSENT_EVENTS.full_name(settings), worker, timeout_s, lambda _: None
            )
            delivered = progress.add_task(
                f"{STRUCK_ACCOUNT}: mail delivered to a bought list", total=len(case.deliveries)
            )
            await producer.publish_many(
                case.deliveries, on_progress=lambda acked: progress.advance(delivered, acked)
            )
            # Deliveries and complaints of different people sit on different partitions, so
            # the rate keeper could count them in any order: let it count the deliveries first,
            # as the mail went out before anyone complained.
            for topic, what in ((DELIVERY_EVENTS, "delivery events"), (RATE_EVENTS, "rate events")):
                await _wait_until_applied(
                    settings, topic.full_name(settings), worker, timeout_s, lambda _: None, what
                )
            complaints = progress.add_task(
                f"{STRUCK_ACCOUNT}: Gmail feedback-loop complaints", total=len(case.complaints)
            )
            for report in case.complaints:
                await producer.publish(report)
                progress.advance(complaints)
            waiting = progress.add_task("waiting for the strike", total=1)
            await _until(
                struck,
                worker,
                output,
                "the strike",
                timeout_s,
                f"no strike within {timeout_s:.0f} s of the complaints; "
                f"see the worker's log: {display_path(worker.log_path)}",
            )
            # Every worker's accounts table has the strike once the enforcement events are read.
            await _wait_until_applied(
                settings, enforcement_topic, worker, timeout_s, lambda _: None, "enforcement events"
            )
            progress.update(waiting, completed=1, description="strike 1 issued")
            for request in case.probe_sends:
                await producer.publish(request)
    await _until(
        lambda: all(request.request_id in output.decisions for request in case.probe_sends),
        worker,
        output,
        "the struck account's sends",
        timeout_s,
        f"the struck account's sends were not decided in {timeout_s:.0f} s",
    )


async def _until(
    done: Callable[[], bool],
    worker: WorkerProcess,
    output: GateOutput,
    what: str,
    timeout_s: float,
    failure: str,
    *,
    every_s: float = 0.1,
) -> None:
    """Wait until `done()`, the worker alive (`what` names what it is awaited for) and the
    output still read; `failure` is the error after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not done():
        worker.check_alive(what)
        output.check_reading()
        if time.monotonic() > deadline:
            raise SendgateError(failure)
        await asyncio.sleep(every_s)


async def _templates(
    settings: Settings,
    case: ContentCase,
    output: GateOutput,
    worker: WorkerProcess,
    console: Console,
    timeout_s: float,
) -> None:
    """Two templates sent as they are, to a customer who opted in (the files in
    streams/demo/templates; `sendgate check` reads them the same way)."""
    async with SendgateProducer(settings) as producer:
        with _progress(console) as progress:
            task = progress.add_task(
                f"{TEMPLATE_ACCOUNT}: two templates sent as they are", total=len(case.sends)
            )
            await producer.publish(case.consent)
            await _wait_until_applied(
                settings, CONSENT_EVENTS.full_name(settings), worker, timeout_s, lambda _: None
            )
            for request in case.sends:
                await producer.publish(request)
                progress.advance(task)
    await _until(
        lambda: all(request.request_id in output.decisions for request in case.sends),
        worker,
        output,
        "the template sends",
        timeout_s,
        f"the template sends were not decided in {timeout_s:.0f} s",
    )


async def _one_click(
    settings: Settings,
    scenario: Scenario,
    output: GateOutput,
    worker: WorkerProcess,
    console: Console,
    timeout_s: float,
) -> OneClick | None:
    """Take the List-Unsubscribe link of an allowed commercial decision, POST it the way a
    mailbox provider's one-click button does (RFC 8058), then send to that person again."""
    list_sends = {send.request_id for send in scenario.sends if send.list_id is not None}
    allowed = next(
        (
            decision
            for decision in sorted(output.decisions.values(), key=lambda d: d.request_id)
            if decision.headers.get("List-Unsubscribe") and decision.request_id in list_sends
        ),
        None,
    )
    if allowed is None:
        return None
    request = next(send for send in scenario.sends if send.request_id == allowed.request_id)
    link = allowed.headers["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    stop = asyncio.Event()
    listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    port = int(settings.unsubscribe_base_url.rsplit(":", 1)[1])
    server = asyncio.create_task(
        serve_unsubscribes(
            settings, host="127.0.0.1", port=port, stop=stop, on_listening=listening.set_result
        )
    )
    try:
        await asyncio.wait_for(listening, timeout_s)
        started = time.monotonic()
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                link,
                data="List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                allow_redirects=False,
            ) as response,
        ):
            status = response.status
        answered_ms = (time.monotonic() - started) * 1000
        again = request.model_copy(update={"request_id": f"{request.request_id}-after-one-click"})
        async with SendgateProducer(settings) as producer:
            await producer.publish(again)
        await _until(
            lambda: again.request_id in output.decisions,
            worker,
            output,
            "the send after the one-click unsubscribe",
            timeout_s,
            "the send after the one-click unsubscribe was not decided",
            every_s=0.05,
        )
    finally:
        stop.set()
        await asyncio.gather(server, return_exceptions=True)
    return OneClick(
        link=link,
        status=status,
        answered_ms=answered_ms,
        before=allowed,
        after=output.decisions[again.request_id],
    )


async def _esp_webhooks(
    settings: Settings,
    keyer: RecipientKeyer,
    output: GateOutput,
    worker: WorkerProcess,
    console: Console,
    timeout_s: float,
    *,
    now: datetime,
) -> EspRun:
    """Post an SES complaint and a SendGrid bounce to `sendgate webhooks`, signed as the
    providers sign them, then send to both people again (`streams.demo.webhooks`)."""
    sns, sendgrid = SnsSigner.create(), SendgridSigner.create()
    folder = settings.data_dir / "demo" / "sns-certificates"
    sns.install(folder)
    service_settings = settings.model_copy(
        update={
            "webhook_sns_topic_arns": (DEMO_SNS_TOPIC,),
            "webhook_sns_certificates_dir": folder,
            "webhook_sendgrid_public_key": sendgrid.public_key,
        }
    )
    case = build_esp_case(keyer, sns, sendgrid, now=now)
    statuses: dict[str, int] = {}
    stop = asyncio.Event()
    listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve_webhooks(
            service_settings,
            host="127.0.0.1",
            port=0,
            stop=stop,
            on_listening=listening.set_result,
        )
    )
    try:
        await asyncio.wait([listening, server], timeout=timeout_s, return_when="FIRST_COMPLETED")
        if server.done():
            server.result()
        if not listening.done():
            raise SendgateError("the webhook service did not start listening")
        port = listening.result()
        async with SendgateProducer(settings, keyer=keyer) as producer:
            with _progress(console) as progress:
                task = progress.add_task(
                    f"{ESP_ACCOUNT}: an SES complaint and a SendGrid bounce by webhook",
                    total=len(case.posts),
                )
                await producer.publish_many(case.consents)
                await _wait_until_applied(
                    settings, CONSENT_EVENTS.full_name(settings), worker, timeout_s, lambda _: None
                )
                async with aiohttp.ClientSession() as http:
                    for post in case.posts:
                        async with http.post(
                            f"http://127.0.0.1:{port}/webhooks/{post.esp}",
                            data=post.body,
                            headers=dict(post.headers),
                        ) as answer:
                            statuses[post.name] = answer.status
                        progress.advance(task)
                if any(status != 200 for status in statuses.values()):
                    raise SendgateError(f"the webhook service refused the demo's posts: {statuses}")
                # The worker reads the request, emits the bounce and the complaint, which ask
                # for the suppressions on unsubscribe-clicks: each step applied before the sends.
                for topic, what in (
                    (ESP_WEBHOOKS, "webhook requests"),
                    (DELIVERY_EVENTS, "delivery events"),
                    (FEEDBACK_REPORTS, "feedback reports"),
                    (UNSUBSCRIBE_CLICKS, "suppression requests"),
                ):
                    await _wait_until_applied(
                        settings, topic.full_name(settings), worker, timeout_s, lambda _: None, what
                    )
                for post in case.posts:
                    await producer.publish(post.probe)
    finally:
        stop.set()
        await asyncio.gather(server, return_exceptions=True)
    await _until(
        lambda: all(post.probe.request_id in output.decisions for post in case.posts),
        worker,
        output,
        "the sends after the webhooks",
        timeout_s,
        f"the sends after the webhooks were not decided in {timeout_s:.0f} s",
    )
    return EspRun(case, statuses)


async def _notify(
    settings: Settings,
    output: GateOutput,
    worker: WorkerProcess,
    console: Console,
    timeout_s: float,
) -> NotifyRun:
    """Run `sendgate notify` (in this process) against a local receiver, which verifies each
    request's signature and answers the first one 503, until every enforcement event of the run
    is delivered: the retry, then the strike in the billing or support system's hands."""
    secret = secrets.token_urlsafe(24)
    seen: list[tuple[str, str, int, bool]] = []
    delivered: dict[str, int] = {}

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers.get("Sendgate-Timestamp", "")
        offered = request.headers.get("Sendgate-Signature", "")
        expected = (
            "v1="
            + hmac.new(
                secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
            ).hexdigest()
        )
        verified = any(hmac.compare_digest(part, expected) for part in offered.split(","))
        status = 503 if not seen else (200 if verified else 401)
        event_id = request.headers.get("Sendgate-Event-Id", "")
        seen.append((event_id, request.headers.get("Sendgate-Event-Type", ""), status, verified))
        return web.Response(status=status, headers={"Retry-After": "1"} if status == 503 else {})

    app = web.Application()
    app.router.add_post("/enforcement", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/enforcement"
    notify_settings = settings.model_copy(
        update={
            "notify_urls": (url,),
            "notify_secret": SecretStr(secret),
            "notify_retry_base_s": 0.5,
            "notify_retry_max_s": 2.0,
        }
    )
    wanted = set(output.enforcement)
    stop = asyncio.Event()

    def heard(delivery: Delivery) -> None:
        if delivery.outcome == "delivered":
            delivered[delivery.event_id] = delivery.attempts

    notifier = asyncio.create_task(run_notifier(notify_settings, stop=stop, on_delivered=heard))
    try:
        with _progress(console, bar=False) as progress:
            task = progress.add_task("sendgate notify: the strike to a local receiver", total=1)
            deadline = time.monotonic() + timeout_s
            while not wanted <= set(delivered):
                if notifier.done():
                    notifier.result()
                    raise SendgateError("sendgate notify stopped before delivering the strike")
                worker.check_alive("the enforcement events to be delivered")
                if time.monotonic() > deadline:
                    raise SendgateError(
                        f"sendgate notify delivered {len(delivered)} of {len(wanted)} "
                        f"enforcement events in {timeout_s:.0f} s"
                    )
                await asyncio.sleep(0.1)
            progress.update(task, completed=1, description="sendgate notify: delivered")
    finally:
        stop.set()
        await asyncio.gather(notifier, return_exceptions=True)
        await runner.cleanup()
    return NotifyRun(url=url, requests=tuple(seen), delivered=delivered, awaited=frozenset(wanted))


# --- the ledger ---------------------------------------------------------------------------------


async def _fill_ledger(settings: Settings, expected_rows: int, console: Console) -> None:
    with _progress(console) as progress:
        task = progress.add_task(
            "copying decisions and changes into the ledger", total=expected_rows
        )

        def advance(totals: SinkProgress) -> None:
            progress.update(task, completed=totals.rows_inserted)

        await run_ledger_sink(settings, on_progress=advance, idle_exit_s=LEDGER_IDLE_EXIT_S)


def _run_counts(engine: Engine, settings: Settings) -> dict[str, int]:
    """Ledger rows that came from this run's topics (the ledger may hold earlier runs)."""
    queries = {
        table.name: select(func.count())
        .select_from(table)
        .where(table.c.kafka_topic == entry.topic.full_name(settings))
        for entry in LEDGER_TOPICS
        for table in entry.tables
    }
    queries[ConsumerOffset.__tablename__] = select(func.count()).where(
        ConsumerOffset.consumer_group == ledger_consumer_group(settings)
    )
    with engine.connect() as connection:
        return {name: connection.execute(query).scalar_one() for name, query in queries.items()}


def _ledger_counts(settings: Settings) -> tuple[dict[str, int], dict[str, int]]:
    engine = make_engine(settings.database_url.get_secret_value())
    try:
        return _run_counts(engine, settings), ledger_counts(engine)
    finally:
        engine.dispose()


# --- cleaning up --------------------------------------------------------------------------------


async def _run_topics(settings: Settings) -> list[TopicSpec]:
    """The catalogue's topics plus any the worker made under the run's prefix (faust's own)."""
    specs = list(TOPICS)
    known = {spec.full_name(settings) for spec in specs}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, client_id="sendgate-demo"
    )
    try:
        await asyncio.wait_for(admin.start(), BROKER_CHECK_TIMEOUT_S)
        names = await asyncio.wait_for(admin.list_topics(), BROKER_CHECK_TIMEOUT_S)
    except (KafkaError, OSError, TimeoutError):
        return specs
    finally:
        await admin.close()
    prefix = settings.topic_prefix
    extra = sorted(name for name in names if name.startswith(prefix) and name not in known)
    return specs + [
        TopicSpec(name.removeprefix(prefix), "made by the gate worker") for name in extra
    ]


async def _clean_up(
    settings: Settings,
    options: DemoOptions,
    worker: WorkerProcess | None,
    output: GateOutput | None,
    topics_created: bool,
    console: Console,
) -> bool:
    """Stop the worker and the reader; delete the run's topics and worker state unless kept."""
    if output is not None:
        await output.stop()
    if worker is not None:
        code = await worker.stop(options.worker_stop_timeout_s)
        console.print(
            f"gate worker stopped (exit code {code}); its log: {display_path(worker.log_path)}",
            markup=False,
            highlight=False,
        )
    if not topics_created:
        return False
    if options.keep_topics:
        console.print(
            f"kept the topics under the prefix {settings.topic_prefix!r} (--keep-topics)",
            markup=False,
            highlight=False,
        )
        return False
    try:
        statuses = await delete_topics(settings, await _run_topics(settings))
    except SendgateError as exc:
        console.print(f"[yellow]warning:[/] the demo's topics were not deleted: {exc}")
        return False
    state = settings.data_dir / "demo" / "faust" / settings.app_id
    shutil.rmtree(state, ignore_errors=True)
    deleted = sum(status == "deleted" for status in statuses.values())
    console.print(
        f"deleted the run's {deleted} topics (prefix {settings.topic_prefix!r}) and worker state",
        markup=False,
        highlight=False,
    )
    return True


# --- the run ------------------------------------------------------------------------------------


def _describe(scenario: Scenario) -> str:
    scopes = {"list": 0, "account": 0, "platform": 0}
    for click in scenario.clicks:
        scopes[click.scope] += 1
    lists = sum(len(lists) for lists in ACCOUNTS.values())
    return (
        f"scenario (seed {scenario.seed}): {len(scenario.accounts)} accounts, {lists} lists, "
        f"{scenario.recipients:,} recipients; {len(scenario.consents):,} consent events; "
        f"{len(scenario.clicks):,} unsubscribes "
        f"(list {scopes['list']}, account {scopes['account']}, platform {scopes['platform']}, "
        f"replays and repeats included); {len(scenario.sends):,} send requests; "
        f"{len(scenario.race)} racing click+send pairs; {len(scenario.bad_records)} bad records; "
        f"then account {STRUCK_ACCOUNT} mails a bought list and gets feedback-loop complaints "
        "(policy: the default, acting at once on the complaint that crosses the line)"
    )


async def run_demo(
    settings: Settings, options: DemoOptions, console: Console | None = None
) -> DemoResult:
    """Run the whole demo against the broker in `settings`; print progress and the report."""
    console = console or Console()
    started = time.monotonic()
    now = SystemClock().now()
    settings = demo_settings(settings, options, now=now)
    ensure_recipient_key_secret(settings)
    keyer = RecipientKeyer(settings.recipient_secret())
    policy = load_policy(settings.policy_file)
    scenario = build_scenario(keyer, now=now, seed=options.seed, sends=options.sends)
    expected = expected_failed_rules(scenario, keyer, policy, now=now)
    database_url = settings.database_url.get_secret_value()
    try:
        shown_database = make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        raise SendgateError("the ledger database URL is not a database URL") from None

    console.print(
        f"[bold]sendgate demo[/] · broker {settings.kafka_bootstrap_servers} · topic prefix "
        f"[cyan]{settings.topic_prefix}[/] · {settings.topic_partitions} partitions · "
        f"ledger {shown_database}",
        highlight=False,
    )
    console.print(_describe(scenario), highlight=False, markup=False)

    await check_broker(settings, timeout_s=BROKER_CHECK_TIMEOUT_S)
    await _in_thread(upgrade, database_url)
    worker: WorkerProcess | None = None
    output: GateOutput | None = None
    topics_created = False
    topics_deleted = False
    existing = [info.name for info in await describe_topics(settings) if info.exists]
    if existing:
        raise SendgateError(
            f"topic {existing[0]} exists already: the demo needs a fresh topic prefix, "
            "so that no earlier run's records mix with this one's"
        )
    try:
        statuses = await create_topics(settings)
        topics_created = True
        problems = [f"{name}: {status}" for name, status in statuses.items() if is_problem(status)]
        if problems:
            raise SendgateError(f"the demo's topics are not usable: {problems[0]}")
        worker = start_worker(settings, settings.data_dir / "demo")
        console.print(
            f"gate worker started (pid {worker.process.pid}); its output goes to "
            f"{display_path(worker.log_path)}",
            markup=False,
            highlight=False,
        )
        output = GateOutput(settings)
        await output.start()
        async with SendgateProducer(settings, keyer=keyer) as producer:
            await _publish(producer, scenario, settings, worker, console, options.timeout_s)
            await _race(producer, scenario, output, worker, console, options.timeout_s)
        await _wait_for_output(output, scenario, worker, console, options.timeout_s)
        case = build_enforcement_case(keyer, load_providers(), now=now)
        expected.update(case.expected)
        await _strike(settings, case, output, worker, console, options.timeout_s)
        notified = await _notify(settings, output, worker, console, options.timeout_s)
        one_click = await _one_click(settings, scenario, output, worker, console, options.timeout_s)
        if one_click is not None:
            expected[one_click.after.request_id] = ("list-unsubscribed",)
        content = build_content_case(keyer, policy, now=now)
        expected.update(content.expected)
        await _templates(settings, content, output, worker, console, options.timeout_s)
        esp = await _esp_webhooks(
            settings, keyer, output, worker, console, options.timeout_s, now=now
        )
        expected.update(esp.case.expected)
        ledger_rows = (
            len(output.decisions)
            + len(output.applied_clicks)
            + len(scenario.consents)
            + len(case.probe_consents)
            + 1  # the template reader's consent
            + len(output.enforcement)
            + len(esp.case.consents)
        )
        await _fill_ledger(settings, ledger_rows, console)
        run_counts, total_counts = await _in_thread(_ledger_counts, settings)

        mismatched = sorted(
            decision.request_id
            for decision in output.decisions.values()
            if tuple(failure.rule for failure in decision.failures)
            != expected.get(decision.request_id)
        )
        demo_extras = (
            set(case.expected)
            | set(content.expected)
            | ({one_click.after.request_id} if one_click is not None else set())
            | set(esp.case.expected)
        )
        decisions = [
            decision
            for decision in output.decisions.values()
            if decision.request_id not in demo_extras
        ]
        notes = []
        if output.unreadable:
            notes.append(f"{output.unreadable} records on the gate's topics could not be read")
        report = DemoReport(
            topic_prefix=settings.topic_prefix,
            accounts=scenario.accounts,
            decisions=sorted(decisions, key=lambda decision: decision.request_id),
            dead_letters=list(output.dead_letters.values()),
            ledger_run_counts=run_counts,
            ledger_total_counts=total_counts,
            clicks_applied=len(output.applied_clicks),
            race_request_ids=frozenset(send.request_id for _, send in scenario.race),
            mismatched_request_ids=mismatched,
            elapsed_s=time.monotonic() - started,
            worker_log=worker.log_path,
            notes=notes,
            enforcement=sorted(output.enforcement.values(), key=lambda event: event.at),
            one_click=one_click,
            enforcement_decisions=[
                output.decisions[request_id]
                for request_id in case.expected
                if request_id in output.decisions
            ],
            content_decisions=[
                output.decisions[request_id]
                for request_id in content.expected
                if request_id in output.decisions
            ],
            esp=esp,
            notified=notified,
            esp_decisions={
                request_id: output.decisions[request_id]
                for request_id in esp.case.expected
                if request_id in output.decisions
            },
        )
        render_report(report, console)
        replayed = await replay_the_run(settings, settings.data_dir / "demo", console)
    finally:
        topics_deleted = await _clean_up(settings, options, worker, output, topics_created, console)
    console.print(f"demo finished in {time.monotonic() - started:.1f} s", highlight=False)
    return DemoResult(report, scenario, expected, settings, topics_deleted, replayed)
