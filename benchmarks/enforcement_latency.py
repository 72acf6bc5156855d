"""Complaint-to-enforcement latency with the gate at load, beside a raw one-hop baseline.

Run from the repository root against the broker of `scripts/services`:

    .venv/bin/python benchmarks/enforcement_latency.py                # 30 probes, 3 to 4 minutes
    .venv/bin/python benchmarks/enforcement_latency.py --probes 10 --background-rate 500

Issue 6 ("Speed"): with the gate at load, time a spam complaint from the ARF report's produce to
the enforcement event, and to the first denied broadcast; target p99 under 1 second after the
threshold-crossing complaint when the policy acts at once.

Message content (issue 8): every send request carries a compliant commercial template's content
facts (`_common.compliant_content`: From, DKIM and SPF on the account's verified domain
`<account>.example`, a footer with a postal address and an unsubscribe link), and every account's
verified domain is on `sender-domains` before its first send, so the only denial the probes
expect is `account-broadcasts-disabled`; the run fails before sending if the pure content rules
would deny the requests it sends. Records are bigger than before this change (content facts),
so figures are not comparable with runs before it.

Phases (each bounded in time; every topic lives under a fresh prefix and is deleted at the end):

1. Setup: the default policy with `act_at_once = true` (a copy in the run's folder, handed to the
   worker as SENDGATE_POLICY_FILE), one real gate worker (`sendgate worker`); the verified
   sending domains of the background account and of every probe account, waited for until the
   gate's group has committed them, before the worker's first (warm-up) request.
2. State, for every probe k at once (the probes do not share any state, so preparing them
   together is the same as one by one, and quicker): account `probe-k` gets 1,000 `delivered`
   events at Gmail (provider google, distinct recipients, event time ten minutes ago by the wall
   clock, which is the worker's clock) and one complaint from one of those recipients: 1 in
   1,000 is on the 0.1 % line, not over it. Nobody complaining opted in, so each complaint is
   fined. One recipient per probe opts in to `probe-k`, so its broadcasts pass the consent rules;
   the background account's recipients opt in to it. The run waits until the consent keeper has
   committed the consents, the rate keeper has counted every rate event (the rates table's
   changelog grows by one record per counted event) and every first complaint's fine is out.
3. Measurement, with a steady background load of `--background-rate` send requests per second
   (pipelined) to the opted-in recipients of an account that is never struck. For each probe:
   (a) baseline: produce one record (acks=all) to a topic of its own; a plain consumer reads it;
   (b) send bulk commercial requests for `probe-k` to its opted-in recipient every ~5 ms; after
       0.25 s produce the threshold-crossing complaint (2 in 1,000 = 0.2 %). t0 = its produce's
       acknowledgement (the producer-side send time is recorded too). Wait for the
       `strike_issued` record for `probe-k` on enforcement-events and the first decision for
       `probe-k` denied with `account-broadcasts-disabled`; keep sending 0.3 s more, then wait
       until every request of the probe is decided.
   Latencies use the output records' CreateTime (stamped by the worker's producer on the same
   machine and clock) minus t0, and also this process's receive time minus t0. The intermediate
   records (rate-events, rate-breaches) give a per-stage breakdown.
4. Checks: no probe decision is denied before the strike record, and none is allowed after the
   first denial; a request sent before the complaint is allowed unless the gate decided it after
   the strike (it was still queued; the count is shown); broadcasts allowed after the strike
   record (by decision time, and by request time) are counted and shown; the gate's own latency
   for the probe requests (request sent -> decision) is shown, since the first denial waits for
   it; the background decisions are all allows; dead letters; the worker's log, grouped.

The chain (`streams/gate/enforcer.py`) is four consume-process-produce stages in one worker process,
sharing its event loop with the gate: feedback-reports -> (act_on_feedback) rate-events ->
(keep_rates) rate-breaches -> (enforce_accounts) enforcement-events -> every worker's own copy of
that topic (`streams.gate.broadcast`, fenced: a broadcast requested after the event was acknowledged
waits for the copy) -> the gate's next decision. Three Kafka hops to the enforcement event, four
to the gate's copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from _common import (
    Background,
    BenchError,
    CpuMeter,
    OffsetWatcher,
    WorkerProcess,
    background_load,
    broker_pid,
    check_content_compliant,
    compliant_content,
    console,
    create_run_topics,
    delete_run_topics,
    json_safe,
    latency_summary,
    machine_busy_cpu_seconds,
    machine_info,
    new_settings,
    percentile,
    phase,
    produce_pipelined,
    progress_bar,
    publish_sender_domains,
    read_topic,
    topic_partitions,
    wait_for_group_coordinator,
    wait_for_members,
    wait_until_consumed,
    worker_env,
    worker_log_findings,
)
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from rich.markup import escape
from rich.table import Table

from streams.core.errors import SendgateError
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    ConsentEvent,
    DeliveryEvent,
    FeedbackReport,
    SendDecision,
    SendRequest,
)
from streams.core.settings import Settings, get_settings
from streams.edges.admin import check_broker
from streams.policy import DEFAULT_POLICY_FILE, load_policy
from streams.reputation.rate_inputs import RateEvent
from streams.reputation.standing import BreachReport, EnforcementEvent
from streams.topics import (
    CONSENT_EVENTS,
    DEAD_LETTERS,
    DELIVERY_EVENTS,
    ENFORCEMENT_EVENTS,
    FEEDBACK_REPORTS,
    RATE_BREACHES,
    RATE_EVENTS,
    RATES_CHANGELOG,
    SEND_DECISIONS,
    SEND_REQUESTS,
    TopicSpec,
    default_codec,
)

__all__ = ["main"]

DELIVERIES = 1000
"""Delivered per probe account: the policy's minimum volume for a complaint rate, so the first
complaint is on the 0.1 % line (1 in 1,000) and the second carries the rate over it."""
PROVIDER = "google"
PROVIDER_DOMAIN = "gmail.com"
BACKGROUND_ACCOUNT = "steady"
BACKGROUND_RECIPIENTS = 1000
BACKGROUND_POOL = 10_000
DENY_RULE = "account-broadcasts-disabled"
PRE_T0_S = 0.25
"""Requests for the probe account sent before its threshold-crossing complaint."""
TAIL_S = 0.3
"""Requests still sent after the first denial is read (any allow among them is a violation)."""
HOP_TOPIC = TopicSpec("bench-hop", "benchmark baseline: one produce -> consume hop")
WORKER_CODE = (
    "from streams.cli import main\n"
    "main(['worker', '--name', {name!r}, '--loglevel', 'warning', '--no-create-topics'])\n"
)
HOPS_TO_ENFORCEMENT = 3
HOPS_TO_TABLE = 4
CHAIN = (
    "feedback-reports -> [act_on_feedback] rate-events -> [keep_rates] rate-breaches -> "
    "[enforce_accounts] enforcement-events -> every worker's copy (broadcast fence) "
    "-> [decide_sends] the next send-decision"
)


# --- the probes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One decision for a probe's recipient, as the chain reader saw it."""

    request_id: str
    verdict: str
    rules: tuple[str, ...]
    created_ms: int
    received_at: float


@dataclass
class Probe:
    number: int
    account: str
    address: str
    recipient_key: bytes
    complainers: tuple[str, str]  # recipient keys: the first complaint's, the crossing one's
    run_tag: str
    sent: dict[str, float] = field(default_factory=dict)  # request id -> wall time before send
    decisions: list[Seen] = field(default_factory=list)
    enforcement_actions: list[str] = field(default_factory=list)
    complaint_send: float = math.nan
    complaint_ack: float = math.nan
    complaint_created_ms: int | None = None
    rate_event_ms: int | None = None
    breach_ms: int | None = None
    breach: str | None = None
    strike_ms: int | None = None
    strike_received: float | None = None
    strike_number: int | None = None
    first_deny_ms: int | None = None
    first_deny_received: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def report_id(self) -> str:
        return f"arf-{self.run_tag}-{self.account}-crossing"

    def check_done(self) -> None:
        if self.strike_ms is not None and self.first_deny_ms is not None:
            self.done.set()


@dataclass
class HopSample:
    send: float
    ack: float
    received: float


def _probe_address(tag: str, number: int) -> str:
    return f"subscriber.{number}.{tag}@example.com"


def _reader_address(tag: str, number: int, index: int) -> str:
    return f"reader{index}.p{number}.{tag}@{PROVIDER_DOMAIN}"


def _background_address(tag: str, index: int) -> str:
    return f"member{index}.{tag}@example.org"


def _grant(keyer: RecipientKeyer, address: str, account: str, event_id: str, at: datetime) -> Any:
    return ConsentEvent(
        event_id=event_id,
        recipient_key=keyer.key(address),
        kind="grant",
        account_id=account,
        basis="express",
        source_kind="form",
        source_id=f"{account}-signup-form",
        occurred_at=at,
    )


def _request(request_id: str, account: str, address: str) -> SendRequest:
    return SendRequest(
        request_id=request_id,
        account_id=account,
        list_id="news",
        recipient=address,
        classification="commercial",
        send_kind="bulk",
        subject="This week's offers",
        requested_at=datetime.now(UTC),
        **compliant_content(account, commercial=True),
    )


def _complaint(report_id: str, recipient_key: str, account: str) -> FeedbackReport:
    return FeedbackReport(
        report_id=report_id,
        recipient_key=recipient_key,
        feedback_type="abuse",
        reporter="Google",
        account_id=account,
        received_at=datetime.now(UTC),
        source="fbl",
    )


# --- reading the chain's output -------------------------------------------------------------------


class ChainReader:
    """One consumer, no group, on rate-events, rate-breaches, enforcement-events and
    send-decisions from their end offsets: stamps every step of every probe's chain."""

    def __init__(self, settings: Settings, probes: list[Probe]) -> None:
        self.settings = settings
        self.codec = default_codec()
        self.by_account = {probe.account: probe for probe in probes}
        self.by_key = {probe.recipient_key: probe for probe in probes}
        self.topics = {
            spec.name: spec.full_name(settings)
            for spec in (RATE_EVENTS, RATE_BREACHES, ENFORCEMENT_EVENTS, SEND_DECISIONS)
        }
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
        )
        self.other_decisions = 0
        self.other_enforcement: Counter[str] = Counter()
        self.timestamp_types: set[int] = set()
        self.errors: list[BaseException] = []

    async def start(self) -> None:
        await asyncio.wait_for(self.consumer.start(), 15)
        tps: list[TopicPartition] = []
        for topic in self.topics.values():
            tps += await topic_partitions(self.consumer, topic)
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)  # resolve now, so nothing later slips past

    async def stop(self) -> None:
        await self.consumer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                batches = await self.consumer.getmany(timeout_ms=100)
                received = time.time()
                for tp, messages in batches.items():
                    for message in messages:
                        self.timestamp_types.add(message.timestamp_type)
                        self._dispatch(tp.topic, message, received)
        except Exception as exc:  # surfaced by the probe loop
            self.errors.append(exc)
            raise

    def _dispatch(self, topic: str, message: Any, received: float) -> None:
        if topic == self.topics[SEND_DECISIONS.name]:
            probe = self.by_key.get(message.key)
            if probe is None:
                self.other_decisions += 1
                return
            decision = self.codec.decode(message.value, SendDecision)
            rules = tuple(failure.rule for failure in decision.failures)
            probe.decisions.append(
                Seen(decision.request_id, decision.verdict, rules, message.timestamp, received)
            )
            if probe.first_deny_ms is None and DENY_RULE in rules:
                probe.first_deny_ms, probe.first_deny_received = message.timestamp, received
                probe.check_done()
        elif topic == self.topics[ENFORCEMENT_EVENTS.name]:
            event = self.codec.decode(message.value, EnforcementEvent)
            probe = self.by_account.get(event.account_id)
            if probe is None:
                self.other_enforcement[f"{event.account_id}:{event.action}"] += 1
                return
            probe.enforcement_actions.append(event.action)
            if event.action == "strike_issued" and probe.strike_ms is None:
                probe.strike_ms, probe.strike_received = message.timestamp, received
                probe.strike_number = event.strike_number
                probe.check_done()
        elif topic == self.topics[RATE_EVENTS.name]:
            event = self.codec.decode(message.value, RateEvent)
            probe = self.by_account.get(event.account_id)
            if (
                probe is not None
                and probe.rate_event_ms is None
                and event.provider == PROVIDER
                and event.event_id == f"report:{probe.report_id}"
            ):
                probe.rate_event_ms = message.timestamp
        elif topic == self.topics[RATE_BREACHES.name]:
            report = self.codec.decode(message.value, BreachReport)
            probe = self.by_account.get(report.account_id)
            if probe is not None and probe.breach_ms is None:
                probe.breach_ms = message.timestamp
                breach = report.breach
                probe.breach = f"{breach.kind}/{breach.level} at {breach.provider}"


class HopReader:
    """The baseline: a plain consumer on one topic, from its end; resolves the waiting futures."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
        )
        self.waiting: dict[bytes, asyncio.Future[float]] = {}

    async def start(self) -> None:
        await asyncio.wait_for(self.consumer.start(), 15)
        tps = await topic_partitions(self.consumer, self.topic)
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)

    async def stop(self) -> None:
        await self.consumer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batches = await self.consumer.getmany(timeout_ms=100)
            received = time.time()
            for messages in batches.values():
                for message in messages:
                    future = self.waiting.pop(message.key, None)
                    if future is not None and not future.done():
                        future.set_result(received)


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Options:
    probes: int
    background_rate: float
    request_interval_ms: float
    partitions: int
    probe_timeout_s: float
    bootstrap: str
    workers: int = 1


def act_at_once_policy(folder: Path) -> Path:
    """The default policy, acting on the event that carries a rate over its line."""
    source = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
    changed, count = re.subn(
        r"(?m)^act_at_once\s*=\s*false\b", "act_at_once = true", source, count=1
    )
    if count != 1:
        raise BenchError(f"no `act_at_once = false` line in {DEFAULT_POLICY_FILE} to switch on")
    path = folder / "policy-act-at-once.toml"
    path.write_text(changed, encoding="utf-8")
    return path


async def wait_until_deciding(
    settings: Settings, tag: str, watcher: OffsetWatcher, worker: WorkerProcess
) -> None:
    """Publish one send request and wait for its decision: the worker has joined the group,
    restored its (empty) tables and runs its agents. The state is published only then, so the
    worker does not start on a backlog."""
    address = _background_address(tag, 0)
    request = _request(f"warm-up-{tag}", BACKGROUND_ACCOUNT, address)
    key = RecipientKeyer(settings.recipient_secret()).key(address).encode()
    await produce_pipelined(
        settings.kafka_bootstrap_servers,
        [(SEND_REQUESTS.full_name(settings), key, default_codec().encode(request))],
        1,
        "publish a warm-up request",
    )
    await watcher.wait_for_count(
        SEND_DECISIONS.full_name(settings),
        1,
        timeout_s=180,
        what="worker starts and decides it",
        worker=worker,
    )
    await asyncio.sleep(1.0)


def _state_records(
    settings: Settings, probes: list[Probe], tag: str, now: datetime
) -> Iterator[tuple[str, bytes, bytes]]:
    """Consents (background recipients, each probe's subscriber) and each probe's deliveries."""
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    consents, deliveries = CONSENT_EVENTS.full_name(settings), DELIVERY_EVENTS.full_name(settings)
    signed_up = now - timedelta(days=30)
    for index in range(BACKGROUND_RECIPIENTS):
        event = _grant(
            keyer,
            _background_address(tag, index),
            BACKGROUND_ACCOUNT,
            f"grant-{tag}-bg-{index}",
            signed_up,
        )
        yield consents, event.recipient_key.encode(), codec.encode(event)
    for probe in probes:
        event = _grant(
            keyer, probe.address, probe.account, f"grant-{tag}-{probe.account}", signed_up
        )
        yield consents, probe.recipient_key, codec.encode(event)
    delivered_at = now - timedelta(minutes=10)
    for probe in probes:
        for index in range(DELIVERIES):
            key = keyer.key(_reader_address(tag, probe.number, index))
            event = DeliveryEvent(
                event_id=f"dlv-{tag}-{probe.account}-{index}",
                recipient_key=key,
                kind="delivered",
                account_id=probe.account,
                occurred_at=delivered_at,
                source="mta-bench",
                provider=PROVIDER,
            )
            yield deliveries, key.encode(), codec.encode(event)


async def prepare_state(
    settings: Settings,
    probes: list[Probe],
    tag: str,
    watcher: OffsetWatcher,
    worker: WorkerProcess,
) -> dict[str, Any]:
    """Consents, deliveries and each probe's first complaint, all taken in by the worker."""
    rates_changelog = RATES_CHANGELOG.full_name(settings)
    enforcement_topic = ENFORCEMENT_EVENTS.full_name(settings)
    count = len(probes)
    rates_before = await watcher.count(rates_changelog)
    consents_total = BACKGROUND_RECIPIENTS + count
    await produce_pipelined(
        settings.kafka_bootstrap_servers,
        _state_records(settings, probes, tag, datetime.now(UTC)),
        consents_total + count * DELIVERIES,
        "publish consents and deliveries",
    )
    await wait_until_consumed(
        watcher,
        settings.app_id,
        CONSENT_EVENTS.full_name(settings),
        timeout_s=120,
        what="consent keeper commits the consents",
        worker=worker,
    )
    await watcher.wait_for_count(
        rates_changelog,
        2 * count * DELIVERIES,
        baseline=rates_before,
        timeout_s=120 + count * DELIVERIES / 100,
        what="rate keeper counts the deliveries (x2: provider and account-wide)",
        worker=worker,
    )
    codec = default_codec()
    feedback = FEEDBACK_REPORTS.full_name(settings)
    enforcement_before = await watcher.count(enforcement_topic)
    complaints = []
    for probe in probes:
        report = _complaint(f"arf-{tag}-{probe.account}-first", probe.complainers[0], probe.account)
        complaints.append((feedback, probe.complainers[0].encode(), codec.encode(report)))
    await produce_pipelined(
        settings.kafka_bootstrap_servers, complaints, count, "publish the first complaints"
    )
    await watcher.wait_for_count(
        enforcement_topic,
        count,
        baseline=enforcement_before,
        timeout_s=120,
        what="first complaints fined",
        worker=worker,
    )
    await watcher.wait_for_count(
        rates_changelog,
        2 * count * (DELIVERIES + 1),
        baseline=rates_before,
        timeout_s=120,
        what="rate keeper counts the first complaints",
        worker=worker,
    )
    rows = await read_topic(settings.kafka_bootstrap_servers, enforcement_topic)
    actions = Counter(codec.decode(value or b"", EnforcementEvent).action for *_, value, _ in rows)
    if actions != Counter({"fine_assessed": count}):
        raise BenchError(
            f"after the first complaints enforcement-events should hold {count} fines, "
            f"not {dict(actions)}"
        )
    return {
        "consent_events": consents_total,
        "deliveries": count * DELIVERIES,
        "first_complaints": count,
        "rates_changelog_records": await watcher.count(rates_changelog) - rates_before,
        "enforcement_after_first_complaints": dict(actions),
    }


async def send_probe_requests(
    producer: AIOKafkaProducer,
    topic: str,
    probe: Probe,
    interval_s: float,
    stop: asyncio.Event,
    errors: list[BaseException],
) -> None:
    """A bulk commercial request for the probe's subscriber every `interval_s` (no catching up:
    a late tick is skipped, never sent in a burst)."""
    codec = default_codec()

    def on_ack(future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            errors.append(future.exception())  # type: ignore[arg-type]

    loop = asyncio.get_running_loop()
    started = loop.time()
    number = 0
    while not stop.is_set():
        request_id = f"{probe.account}-{probe.run_tag}-{number:05d}"
        value = codec.encode(_request(request_id, probe.account, probe.address))
        probe.sent[request_id] = time.time()
        (await producer.send(topic, value=value, key=probe.recipient_key)).add_done_callback(on_ack)
        number += 1
        next_tick = started + number * interval_s
        now = loop.time()
        if next_tick < now:  # behind: skip the missed ticks
            number_due = int((now - started) / interval_s) + 1
            next_tick = started + number_due * interval_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(next_tick - loop.time(), 0))


async def measure(
    settings: Settings,
    options: Options,
    probes: list[Probe],
    tag: str,
    worker: WorkerProcess,
    watcher: OffsetWatcher,
) -> dict[str, Any]:
    bootstrap = settings.kafka_bootstrap_servers
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    sends_topic = SEND_REQUESTS.full_name(settings)
    feedback_topic = FEEDBACK_REPORTS.full_name(settings)
    hop_topic = HOP_TOPIC.full_name(settings)
    decisions_topic = SEND_DECISIONS.full_name(settings)

    pool = []
    for number in range(BACKGROUND_POOL):
        address = _background_address(tag, number % BACKGROUND_RECIPIENTS)
        request = _request(f"bg-{tag}-{number}", BACKGROUND_ACCOUNT, address)
        pool.append((keyer.key(address).encode(), codec.encode(request)))

    chain = ChainReader(settings, probes)
    hops = HopReader(bootstrap, hop_topic)
    background_producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    requester = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    prober = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    for client in (background_producer, requester, prober):
        await asyncio.wait_for(client.start(), 15)
    await chain.start()
    await hops.start()
    decisions_start = await watcher.end_offsets(decisions_topic)
    decisions_before = sum(decisions_start.values())
    stop_readers, stop_background = asyncio.Event(), asyncio.Event()
    background = Background(target_per_s=options.background_rate)
    request_errors: list[BaseException] = []
    hop_samples: list[HopSample] = []
    meter = CpuMeter({"worker": worker.process.pid, "broker": broker_pid(), "bench": os.getpid()})
    machine_cpu: list[tuple[float, float | None]] = []
    loop = asyncio.get_running_loop()
    tasks = {
        "chain reader": asyncio.create_task(chain.run(stop_readers)),
        "hop reader": asyncio.create_task(hops.run(stop_readers)),
        "background load": asyncio.create_task(
            background_load(background_producer, sends_topic, pool, background, stop_background)
        ),
    }

    def check_tasks() -> None:
        worker.check_alive()
        for name, task in tasks.items():
            if task.done():
                exc = task.exception()
                raise BenchError(f"the {name} stopped: {exc!r}")
        if request_errors:
            raise BenchError(f"a probe request failed: {request_errors[0]!r}")

    async def probe_all() -> None:
        await asyncio.sleep(2.0)  # the background load reaches a steady state first
        check_tasks()
        if options.background_rate > 0 and chain.other_decisions == 0:
            raise BenchError(
                "the gate decided none of the background requests in 2 s; last lines of "
                f"{worker.log_path}:\n{worker.tail()}"
            )
        meter.sample()
        machine_cpu.append((time.monotonic(), machine_busy_cpu_seconds()))
        with progress_bar() as progress:
            task = progress.add_task("probes", total=len(probes), rate="")
            for probe in probes:
                check_tasks()
                # (a) the baseline: one produce -> consume hop, same broker, same load.
                key = f"hop-{probe.number}".encode()
                future: asyncio.Future[float] = loop.create_future()
                hops.waiting[key] = future
                sent = time.time()
                await (await prober.send(hop_topic, value=b"x" * 64, key=key))
                acked = time.time()
                try:
                    received = await asyncio.wait_for(future, options.probe_timeout_s)
                except TimeoutError:
                    raise BenchError(f"baseline hop {probe.number}: not read in time") from None
                hop_samples.append(HopSample(sent, acked, received))
                await asyncio.sleep(0.05)
                # (b) the complaint that carries probe-k's rate over the line.
                await run_probe(
                    probe,
                    options,
                    requester=requester,
                    prober=prober,
                    sends_topic=sends_topic,
                    feedback_topic=feedback_topic,
                    request_errors=request_errors,
                    check_tasks=check_tasks,
                )
                latest = (probe.strike_ms or 0) - probe.complaint_ack * 1000
                progress.update(task, advance=1, rate=f"last {latest:,.0f} ms")
        meter.sample()
        machine_cpu.append((time.monotonic(), machine_busy_cpu_seconds()))

    try:
        try:
            await probe_all()
        finally:
            stop_background.set()
            # an error of the load was reported by check_tasks, or the run failed anyway
            with contextlib.suppress(Exception):
                await asyncio.wait_for(tasks["background load"], 30)
            for producer in (background_producer, requester, prober):
                await producer.flush()
        probe_requests = sum(len(probe.sent) for probe in probes)
        await watcher.wait_for_count(
            decisions_topic,
            background.sent + probe_requests,
            baseline=decisions_before,
            timeout_s=60 + background.sent / 200,
            what="gate drains the background load",
            worker=worker,
            consumed_by=(settings.decided_group, sends_topic),
        )
    finally:
        stop_readers.set()
        for name in ("chain reader", "hop reader"):
            try:
                await asyncio.wait_for(tasks[name], 10)
            except Exception as exc:
                console.print(f"[yellow]{name} ended with {exc!r}[/]")
        await chain.stop()
        await hops.stop()
        for producer in (background_producer, requester, prober):
            await producer.stop()

    background_check = await check_background(settings, decisions_start, probes)
    return {
        "probes": [probe_row(probe) for probe in probes],
        "hops": [
            {
                "ack_to_receive_ms": (sample.received - sample.ack) * 1000,
                "send_to_receive_ms": (sample.received - sample.send) * 1000,
                "send_to_ack_ms": (sample.ack - sample.send) * 1000,
            }
            for sample in hop_samples
        ],
        "background": {
            "target_per_s": background.target_per_s,
            "achieved_per_s": background.achieved_per_s,
            "sent": background.sent,
            "seconds": background.stopped - background.started,
            **background_check,
        },
        "cpu_cores_during_probes": _cpu_shares(meter, machine_cpu),
        "warm_up_decisions": decisions_before,
        "timestamp_types": sorted(chain.timestamp_types),
        "other_enforcement_events": dict(chain.other_enforcement),
    }


def _cpu_shares(meter: CpuMeter, machine: list[tuple[float, float | None]]) -> dict[str, float]:
    """Cores busy while probing: ours, the whole machine's, and the rest (other processes)."""
    if len(meter.samples) < 2:
        return {}
    shares = meter.share()
    (start, before), (end, after) = machine[0], machine[-1]
    if before is not None and after is not None and end > start:
        shares["whole machine"] = (after - before) / (end - start)
        shares["everything else"] = shares["whole machine"] - sum(
            value for name, value in shares.items() if name != "whole machine"
        )
    return shares


async def run_probe(
    probe: Probe,
    options: Options,
    *,
    requester: AIOKafkaProducer,
    prober: AIOKafkaProducer,
    sends_topic: str,
    feedback_topic: str,
    request_errors: list[BaseException],
    check_tasks: Any,
) -> None:
    codec = default_codec()
    stop = asyncio.Event()
    sender = asyncio.create_task(
        send_probe_requests(
            requester,
            sends_topic,
            probe,
            options.request_interval_ms / 1000,
            stop,
            request_errors,
        )
    )
    try:
        await asyncio.sleep(PRE_T0_S)
        value = codec.encode(_complaint(probe.report_id, probe.complainers[1], probe.account))
        key = probe.complainers[1].encode()
        probe.complaint_send = time.time()
        metadata = await (await prober.send(feedback_topic, value=value, key=key))
        probe.complaint_ack = time.time()
        probe.complaint_created_ms = metadata.timestamp if metadata.timestamp != -1 else None
        deadline = time.monotonic() + options.probe_timeout_s
        while not probe.done.is_set():
            check_tasks()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"probe {probe.number} ({probe.account}): after "
                    f"{options.probe_timeout_s:.0f}s, rate event "
                    f"{'seen' if probe.rate_event_ms else 'not seen'}, breach "
                    f"{probe.breach or 'not seen'}, strike "
                    f"{'seen' if probe.strike_ms else 'not seen'}, denied broadcast "
                    f"{'seen' if probe.first_deny_ms else 'not seen'}; enforcement actions "
                    f"{probe.enforcement_actions}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(probe.done.wait(), 0.5)
        await asyncio.sleep(TAIL_S)
    finally:
        stop.set()
        await sender
    deadline = time.monotonic() + options.probe_timeout_s
    while {seen.request_id for seen in probe.decisions} < set(probe.sent):
        check_tasks()
        if time.monotonic() > deadline:
            missing = len(set(probe.sent) - {seen.request_id for seen in probe.decisions})
            raise BenchError(f"probe {probe.number}: {missing} of its requests were not decided")
        await asyncio.sleep(0.05)


async def check_background(
    settings: Settings, start: dict[int, int], probes: list[Probe]
) -> dict[str, Any]:
    """Verdicts of every decision of the measurement that is not a probe's."""
    codec = default_codec()
    probe_keys = {probe.recipient_key for probe in probes}
    rows = await read_topic(
        settings.kafka_bootstrap_servers, SEND_DECISIONS.full_name(settings), start=start
    )
    verdicts: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    for _, key, value, _ in rows:
        if key in probe_keys:
            continue
        decision = codec.decode(value or b"", SendDecision)
        verdicts[decision.verdict] += 1
        rules.update(failure.rule for failure in decision.failures)
    return {
        "decisions": sum(verdicts.values()),
        "allowed": verdicts["allow"],
        "denied": verdicts["deny"],
        "denied_rules": dict(rules),
    }


def probe_row(probe: Probe) -> dict[str, Any]:
    """One probe's latencies (ms from the complaint's acknowledgement) and checks."""
    t0_ms = probe.complaint_ack * 1000
    strike_ms = probe.strike_ms or math.nan
    first_deny_ms = probe.first_deny_ms or math.nan
    decided = {seen.request_id: seen for seen in probe.decisions}
    before_t0 = [rid for rid, at in probe.sent.items() if at < probe.complaint_send]
    # A request sent before the complaint may still be decided after the account was struck (it
    # waited in the gate's queue): denied then, rightly. Denied before the strike is a mistake.
    sent_before_t0_denied = [
        rid for rid in before_t0 if rid in decided and decided[rid].verdict != "allow"
    ]
    denied_before_strike = [
        f"{seen.request_id}: {seen.rules}"
        for seen in decided.values()
        if seen.verdict != "allow" and seen.created_ms < strike_ms
    ]
    allowed = [seen for seen in decided.values() if seen.verdict == "allow"]
    allowed_after_strike = [seen for seen in allowed if seen.created_ms > strike_ms]
    requested_after_strike = [
        seen for seen in allowed if probe.sent[seen.request_id] * 1000 > strike_ms
    ]
    allowed_after_deny = [seen for seen in allowed if seen.created_ms > first_deny_ms]
    # The gate's own latency at this load: a probe request's send -> its decision's CreateTime.
    gate_lags = [seen.created_ms - probe.sent[seen.request_id] * 1000 for seen in decided.values()]
    first_denied = min(
        (seen for seen in decided.values() if seen.verdict != "allow"),
        key=lambda seen: seen.created_ms,
        default=None,
    )
    other_denials = Counter(
        rule
        for seen in decided.values()
        if seen.verdict != "allow" and DENY_RULE not in seen.rules
        for rule in seen.rules
    )
    return {
        "probe": probe.number,
        "account": probe.account,
        "requests": len(probe.sent),
        "requests_before_t0": len(before_t0),
        "complaint_send_to_ack_ms": (probe.complaint_ack - probe.complaint_send) * 1000,
        "complaint_create_to_ack_ms": (
            t0_ms - probe.complaint_created_ms if probe.complaint_created_ms else None
        ),
        "enforcement_ms": strike_ms - t0_ms,
        "enforcement_received_ms": (probe.strike_received or math.nan) * 1000 - t0_ms,
        "enforcement_from_send_ms": strike_ms - probe.complaint_send * 1000,
        "first_deny_ms": first_deny_ms - t0_ms,
        "first_deny_received_ms": (probe.first_deny_received or math.nan) * 1000 - t0_ms,
        "stage_feedback_to_rate_event_ms": (probe.rate_event_ms or math.nan) - t0_ms,
        "stage_rate_event_to_breach_ms": (probe.breach_ms or math.nan)
        - (probe.rate_event_ms or math.nan),
        "stage_breach_to_enforcement_ms": strike_ms - (probe.breach_ms or math.nan),
        "stage_enforcement_to_first_deny_ms": first_deny_ms - strike_ms,
        "gate_lags_ms": gate_lags,
        "gate_lag_p50_ms": percentile(gate_lags, 50),
        "gate_lag_max_ms": max(gate_lags, default=math.nan),
        "first_denied_request_sent_ms": (
            probe.sent[first_denied.request_id] * 1000 - t0_ms if first_denied else math.nan
        ),
        "breach": probe.breach,
        "strike_number": probe.strike_number,
        "enforcement_actions": probe.enforcement_actions,
        "sent_before_t0_denied_after_strike": len(sent_before_t0_denied),
        "denied_before_strike_record": denied_before_strike,
        "allowed_after_strike_record": len(allowed_after_strike),
        "allowed_requested_after_strike_record": len(requested_after_strike),
        "allowed_after_first_deny": len(allowed_after_deny),
        "denied_for_other_rules": dict(other_denials),
    }


def summarise(measured: dict[str, Any]) -> dict[str, Any]:
    rows, hops = measured["probes"], measured["hops"]

    def of(name: str) -> dict[str, float]:
        return latency_summary([row[name] for row in rows])

    summary = {
        "complaint_to_enforcement_event": of("enforcement_ms"),
        "complaint_to_enforcement_event_received": of("enforcement_received_ms"),
        "complaint_to_first_denied_broadcast": of("first_deny_ms"),
        "complaint_to_first_denied_broadcast_received": of("first_deny_received_ms"),
        "baseline_one_hop_ack_to_receive": latency_summary([h["ack_to_receive_ms"] for h in hops]),
        "baseline_one_hop_send_to_receive": latency_summary(
            [h["send_to_receive_ms"] for h in hops]
        ),
        "baseline_produce_send_to_ack": latency_summary([h["send_to_ack_ms"] for h in hops]),
        "gate_request_to_decision": latency_summary(
            [lag for row in rows for lag in row["gate_lags_ms"]]
        ),
        "first_denied_request_sent": of("first_denied_request_sent_ms"),
        "stages": {
            name: of(name)
            for name in (
                "stage_feedback_to_rate_event_ms",
                "stage_rate_event_to_breach_ms",
                "stage_breach_to_enforcement_ms",
                "stage_enforcement_to_first_deny_ms",
            )
        },
    }
    p99 = summary["complaint_to_enforcement_event"]["p99_ms"]
    summary["target"] = {
        "what": "p99 complaint -> enforcement event < 1000 ms",
        "p99_ms": p99,
        "met": bool(p99 < 1000),
    }
    summary["checks"] = {
        "sent_before_t0_denied_after_strike": sum(
            row["sent_before_t0_denied_after_strike"] for row in rows
        ),
        "denied_before_strike_record": sum(len(row["denied_before_strike_record"]) for row in rows),
        "allowed_after_strike_record": sum(row["allowed_after_strike_record"] for row in rows),
        "allowed_requested_after_strike_record": sum(
            row["allowed_requested_after_strike_record"] for row in rows
        ),
        "allowed_after_first_deny": sum(row["allowed_after_first_deny"] for row in rows),
        "probe_requests": sum(row["requests"] for row in rows),
        "probe_requests_before_t0": sum(row["requests_before_t0"] for row in rows),
        "denied_for_other_rules": dict(
            sum((Counter(row["denied_for_other_rules"]) for row in rows), Counter())
        ),
        "strikes_other_than_1": [row["probe"] for row in rows if row["strike_number"] != 1],
    }
    return summary


async def run_benchmark(settings: Settings, options: Options, data_dir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "options": options.__dict__,
        "topic_prefix": settings.topic_prefix,
        "chain": CHAIN,
        "hops_to_enforcement_event": HOPS_TO_ENFORCEMENT,
        "hops_to_accounts_table": HOPS_TO_TABLE,
    }
    tag = uuid.uuid4().hex[:8]
    keyer = RecipientKeyer(settings.recipient_secret())
    probes = []
    for number in range(options.probes):
        address = _probe_address(tag, number)
        probes.append(
            Probe(
                number=number,
                account=f"probe-{number}",
                address=address,
                recipient_key=keyer.key(address).encode(),
                complainers=(
                    keyer.key(_reader_address(tag, number, 0)),
                    keyer.key(_reader_address(tag, number, 1)),
                ),
                run_tag=tag,
            )
        )

    with phase(f"setup: topics, act-at-once policy, {options.workers} gate worker(s)"):
        await wait_for_group_coordinator(settings)
        names = await create_run_topics(settings, [HOP_TOPIC])
        console.print(f"created {len(names)} topics under prefix {settings.topic_prefix!r}")
        console.print(f"policy: {settings.policy_file} (the default with act_at_once = true)")
        worker = WorkerProcess(
            "gate",
            WORKER_CODE.format(name="bench-enforcement"),
            worker_env(settings),
            data_dir / "worker-gate.log",
        )
        # More workers share the partitions: the strike is then read by one worker's enforcer
        # and must reach the others' copies (the broadcast fence) for their probes' broadcasts.
        others = [
            WorkerProcess(
                f"gate-{number}",
                WORKER_CODE.format(name=f"bench-enforcement-{number}"),
                worker_env(settings),
                data_dir / f"worker-gate-{number}.log",
            )
            for number in range(2, options.workers + 1)
        ]

    accounts = [BACKGROUND_ACCOUNT, *(probe.account for probe in probes)]
    check_content_compliant(
        [_request(f"check-{account}", account, _probe_address(tag, 0)) for account in accounts],
        load_policy(settings.policy_file),
        what="probe and background requests",
    )
    async with OffsetWatcher(settings.kafka_bootstrap_servers) as watcher:
        with phase(
            f"setup: verified sending domains of {len(accounts)} accounts, then wait until the "
            "worker decides a first request"
        ):
            results["sender_domains"] = await publish_sender_domains(
                settings, accounts, watcher, worker, timeout_s=180
            )
            await wait_until_deciding(settings, tag, watcher, worker)
            await wait_for_members(settings, [worker, *others])
        with phase(
            f"state: {options.probes} probe accounts x {DELIVERIES:,} deliveries at Gmail and "
            "one complaint each (on the line), consents"
        ):
            results["state"] = await prepare_state(settings, probes, tag, watcher, worker)

        with phase(
            f"measure: {options.probes} probes at {options.background_rate:,.0f} background sends/s"
        ):
            measured = await measure(settings, options, probes, tag, worker, watcher)
        results.update(measured)
        results["summary"] = summarise(measured)
        for row in results["probes"]:
            del row["gate_lags_ms"]  # thousands of numbers: the summary has their percentiles
        results["dead_letters"] = await watcher.count(DEAD_LETTERS.full_name(settings))
        enforcement = await read_topic(
            settings.kafka_bootstrap_servers, ENFORCEMENT_EVENTS.full_name(settings)
        )
        codec = default_codec()
        results["enforcement_events"] = dict(
            Counter(
                codec.decode(value or b"", EnforcementEvent).action for *_, value, _ in enforcement
            )
        )
    code = worker.stop()
    for other in others:
        other.check_alive()
        other.stop()
    results["workers"] = options.workers
    results["worker_exit_code"] = code
    kept = Path(tempfile.gettempdir()) / f"{settings.topic_prefix}worker-gate.log"
    shutil.copy(worker.log_path, kept)
    results["worker_log"] = {"path": str(kept), **worker_log_findings(kept)}
    return results


# --- printing -------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.1f}"


def print_results(results: dict[str, Any]) -> None:
    summary = results["summary"]
    background = results["background"]
    table = Table(
        title=(
            "Complaint-to-enforcement latency, from the threshold-crossing complaint's "
            f"acknowledged produce (gate at {background['achieved_per_s']:,.0f} background "
            "sends/s, act_at_once = true)"
        )
    )
    for column in ("measure", "hops", "probes", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    rows = (
        (
            "complaint -> enforcement event (its CreateTime)",
            str(HOPS_TO_ENFORCEMENT),
            "complaint_to_enforcement_event",
        ),
        (
            "complaint -> enforcement event (read here)",
            str(HOPS_TO_ENFORCEMENT),
            "complaint_to_enforcement_event_received",
        ),
        (
            "complaint -> first denied broadcast (its CreateTime)",
            f"{HOPS_TO_TABLE} + gate",
            "complaint_to_first_denied_broadcast",
        ),
        (
            "complaint -> first denied broadcast (read here)",
            f"{HOPS_TO_TABLE} + gate",
            "complaint_to_first_denied_broadcast_received",
        ),
        (
            "baseline: raw aiokafka, produce ack -> consumer reads",
            "1",
            "baseline_one_hop_ack_to_receive",
        ),
        (
            "baseline: raw aiokafka, produce send -> consumer reads",
            "1",
            "baseline_one_hop_send_to_receive",
        ),
        (
            "the gate itself: probe request sent -> its decision (CreateTime)",
            "1 + gate",
            "gate_request_to_decision",
        ),
    )
    for label, hops, key in rows:
        figures = summary[key]
        table.add_row(
            label,
            hops,
            str(figures["n"]),
            _ms(figures["p50_ms"]),
            _ms(figures["p95_ms"]),
            _ms(figures["p99_ms"]),
            _ms(figures["max_ms"]),
            _ms(figures["mean_ms"]),
        )
    console.print(table)

    stages = Table(title="Where the time goes (CreateTime of each stage's output record)")
    for column in ("stage", "p50 ms", "p99 ms", "max ms"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    labels = {
        "stage_feedback_to_rate_event_ms": "complaint ack -> rate event (act_on_feedback)",
        "stage_rate_event_to_breach_ms": "rate event -> breach report (keep_rates)",
        "stage_breach_to_enforcement_ms": "breach report -> strike_issued (enforce_accounts)",
        "stage_enforcement_to_first_deny_ms": (
            "strike_issued -> first denied decision (the copy, next request, decide_sends)"
        ),
    }
    for key, label in labels.items():
        figures = summary["stages"][key]
        stages.add_row(
            label, _ms(figures["p50_ms"]), _ms(figures["p99_ms"]), _ms(figures["max_ms"])
        )
    console.print(stages)
    first_sent = summary["first_denied_request_sent"]
    console.print(
        "The first denied broadcast's request was sent "
        f"{_ms(first_sent['p50_ms'])} ms after the complaint's acknowledgement (p50; max "
        f"{_ms(first_sent['max_ms'])} ms; negative: sent before the complaint, and still waiting "
        "in the gate's queue when the account was struck). Each request counted in 'the gate "
        "itself' waited in the same queue as the background load."
    )
    console.print(f"The chain: {escape(CHAIN)}.")
    console.print(
        f"{HOPS_TO_ENFORCEMENT} Kafka hops (produce -> consume) to the enforcement event, "
        f"{HOPS_TO_TABLE} to every worker's copy of the enforcement events. "
        f"A denied broadcast also waits for the next request (one every "
        f"{results['options']['request_interval_ms']:g} ms) and the gate's own decision hop."
    )
    n = summary["complaint_to_enforcement_event"]["n"]
    if n < 100:
        console.print(
            f"[dim]With {n} probes the p99 by nearest rank is the slowest probe "
            f"(p95: rank {math.ceil(0.95 * n)}).[/]"
        )
    target = summary["target"]
    verdict = "[green]met[/]" if target["met"] else "[red]NOT met[/]"
    console.print(
        f"Target p99 complaint -> enforcement event < 1000 ms: {_ms(target['p99_ms'])} ms, "
        f"{verdict}"
    )

    checks = summary["checks"]
    console.print(
        f"Probe requests: {checks['probe_requests']:,} ({checks['probe_requests_before_t0']:,} "
        f"sent before the complaint, of them {checks['sent_before_t0_denied_after_strike']} "
        "denied because the gate decided them after the strike); denied before the strike "
        f"record: {checks['denied_before_strike_record']}; "
        f"allowed after the strike record (by decision time): "
        f"{checks['allowed_after_strike_record']}, of them requested after the strike record: "
        f"{checks['allowed_requested_after_strike_record']}; allowed after the first denial: "
        f"{checks['allowed_after_first_deny']}; denied for other rules: "
        f"{checks['denied_for_other_rules'] or 'none'}; strikes other than strike 1: "
        f"{checks['strikes_other_than_1'] or 'none'}."
    )
    if checks["allowed_after_strike_record"]:
        console.print(
            "[yellow]Allowed after the strike record (by decision time): requests made before "
            "the strike record was acknowledged are judged on the state before it; one requested "
            "after it and allowed breaks the broadcast fence (see the count above).[/]"
        )
    if checks["denied_before_strike_record"] or checks["allowed_after_first_deny"]:
        console.print("[red]problem: a probe's decisions contradict the enforcement order[/]")
    cpu = results.get("cpu_cores_during_probes") or {}
    console.print(
        f"Background: {background['sent']:,} requests in {background['seconds']:.1f}s "
        f"({background['achieved_per_s']:,.0f}/s, target {background['target_per_s']:,.0f}/s); "
        f"decided {background['decisions']:,}: {background['allowed']:,} allowed, "
        f"{background['denied']:,} denied {background['denied_rules'] or ''}. "
        "CPU while probing (cores): "
        + ", ".join(f"{name} {value:.2f}" for name, value in cpu.items())
    )
    log = results["worker_log"]
    console.print(
        f"Dead letters: {results['dead_letters']}. The warm-up request was decided "
        f"{results['warm_up_decisions']} time(s). Enforcement events: "
        f"{results['enforcement_events']}. Worker exit code {results['worker_exit_code']}; "
        f"its log ({log.get('lines', '?')} lines, kept at {log['path']}): "
        f"{log.get('tracebacks', '?')} tracebacks, {log.get('problem_lines', '?')} lines with "
        "warnings or errors"
    )
    for text, count in log.get("problem_kinds", {}).items():
        console.print(f"  [dim]{count:>5} x {escape(text)}[/]")

    machine = Table(title="Machine")
    machine.add_column("")
    machine.add_column("")
    for name, value in results["machine"].items():
        machine.add_row(name, value)
    console.print(machine)


# --- command line ---------------------------------------------------------------------------------


def main(
    probes: Annotated[
        int, typer.Option(min=1, max=500, help="Threshold-crossing complaints to time.")
    ] = 30,
    background_rate: Annotated[
        float,
        typer.Option(min=0, max=20_000, help="Background send requests per second during probes."),
    ] = 1000.0,
    request_interval_ms: Annotated[
        float,
        typer.Option(min=1, max=100, help="Interval between a probe account's send requests."),
    ] = 5.0,
    partitions: Annotated[int, typer.Option(min=1, max=64, help="Partitions per topic.")] = 6,
    workers: Annotated[
        int, typer.Option(min=1, max=4, help="Gate workers sharing the partitions.")
    ] = 2,
    probe_timeout_s: Annotated[
        float, typer.Option(min=5, max=600, help="Give up on a probe after this long.")
    ] = 30.0,
    json_out: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="Also write the figures to this JSON file."),
    ] = None,
    bootstrap: Annotated[
        str | None,
        typer.Option(help="Kafka bootstrap servers (default: SENDGATE_KAFKA_BOOTSTRAP_SERVERS)."),
    ] = None,
) -> None:
    """Complaint-to-enforcement latency (to the strike record and to the first denied broadcast)
    with the gate at load and the policy acting at once, beside a raw aiokafka one-hop baseline.
    Needs the broker of scripts/services."""
    if json_out is not None and not json_out.resolve().parent.is_dir():
        raise typer.BadParameter(
            f"folder {json_out.resolve().parent} does not exist", param_hint="--json-out"
        )
    options = Options(
        probes=probes,
        background_rate=background_rate,
        request_interval_ms=request_interval_ms,
        partitions=partitions,
        workers=workers,
        probe_timeout_s=probe_timeout_s,
        bootstrap=bootstrap or get_settings().kafka_bootstrap_servers,
    )
    data_dir = Path(tempfile.mkdtemp(prefix="sendgate-bench-enforcement-"))
    settings = new_settings(bootstrap=options.bootstrap, partitions=partitions, data_dir=data_dir)
    try:
        asyncio.run(check_broker(settings, timeout_s=10))
    except SendgateError as exc:
        shutil.rmtree(data_dir, ignore_errors=True)
        console.print(f"[red bold]cannot run:[/] {exc}")
        console.print("Is Kafka running? `scripts/services status`, or pass --bootstrap.")
        raise typer.Exit(2) from None
    failed = True
    try:
        settings = settings.model_copy(update={"policy_file": act_at_once_policy(data_dir)})
        results = asyncio.run(run_benchmark(settings, options, data_dir))
        failed = False
    except BenchError as exc:
        console.print(f"[red bold]benchmark failed:[/] {exc}")
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
    finally:
        WorkerProcess.stop_all()
        try:
            deleted = asyncio.run(delete_run_topics(settings))
            console.print(f"[dim]deleted {len(deleted)} topics under {settings.topic_prefix!r}[/]")
        except Exception as exc:
            console.print(f"[yellow]could not delete the run's topics: {exc!r}[/]")
        if failed:
            console.print(f"worker log and policy kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    if failed:
        raise typer.Exit(1)
    results["machine"] = machine_info(partitions)
    print_results(results)
    if json_out is not None:
        json_out.write_text(
            json.dumps(json_safe(results), indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        console.print(f"figures written to {json_out}")


if __name__ == "__main__":
    typer.run(main)
