"""One-click unsubscribe: click-to-effective latency with the gate at load, and the endpoint's
requests per second on loopback, each beside a baseline measured in the same run.

Run from the repository root against the broker of `scripts/services`:

    .venv/bin/python benchmarks/unsubscribe_latency.py                 # 200 probes, 5,000 POSTs
    .venv/bin/python benchmarks/unsubscribe_latency.py --probes 30 --rps-requests 1000

Issue 7 ("Speed"): with the gate deciding sends at the same time, the latency from the one-click
POST's 200 answer to the first later send for that recipient being denied (p50, p99; target p99
under 250 ms), and the one-click endpoint's requests per second on loopback.

Message content (issue 8): every send request carries a compliant commercial template's content
facts (`_common.compliant_content`: From, DKIM and SPF on the account's verified domain
`<account>.example`, a footer with a postal address and an unsubscribe link), and both accounts'
verified domains are on `sender-domains` before the first send, so a probe's sends are denied by
`list-unsubscribed` only and the background's are allowed; the run fails before sending if the
pure content rules would deny the requests it sends. Records are bigger than before this change
(content facts), so figures are not comparable with runs before it.

Phases (each bounded in time; every topic lives under a fresh prefix and is deleted at the end;
the worker is stopped even when a phase fails):

1. Setup: fresh topics, the unsubscribe signing key file made in the run's data folder (the
   worker and the service read the same file), one real gate worker (`sendgate worker`, told
   SENDGATE_UNSUBSCRIBE_BASE_URL of the service) and the real unsubscribe service
   (`streams.edges.web.serve.serve_unsubscribes`, the code behind `sendgate web`) in this
   process on a free loopback port. The probed and the background account's verified sending
   domains are published, and the run waits until the gate's group has committed them, then
   until the worker decides a first request.
2. State, for all probes at once: each probe's fresh recipient opts in to the probed account,
   1,000 background recipients to theirs (consent grants); the run waits until the gate's group
   has committed all of them. Then one commercial send to list "news" per probe, all at once;
   each allowed decision carries the probe's List-Unsubscribe link.
3. Baseline: `--idle-probes` probes as below, without the background load, so the click's own
   path can be told from the gate's queueing at load.
4. Measurement, with `--background-rate` send requests per second (pipelined, allowed
   commercial mail of another account) from here to the end. Per probe, one after the other: the
   RFC 8058 POST (`List-Unsubscribe=One-Click`) to its link; t0 = when the 200 answer arrives.
   From then a send request for that recipient and list every `--request-interval-ms` until one
   is decided `deny` with `list-unsubscribed`, and 0.1 s more. Latency = that first denied
   decision's CreateTime (stamped by the worker's producer, same machine and clock) minus t0,
   and this process's receive time minus t0. Once all probes are done, the run waits until every
   probe request is decided: every send requested after t0 must be denied (the promise: once the
   click is acknowledged, every later send is denied); any allow is a violation and is reported.
   Beside it: the POST's round trip, the click record's CreateTime, the suppression keeper's
   change record (the fence may deny before the keeper has applied the click), the gate's own
   request -> decision latency for the same requests, and the rate the probes' own sends add.
5. Endpoint throughput: `--rps-requests` POSTs with valid one-click tokens for distinct
   recipients (issued here with the same key file), from an aiohttp client in a separate process
   at `--concurrency`, against (a) the real service and (b) a trivial aiohttp handler that reads
   the body and answers 200 without Kafka; then (c) raw aiokafka produce -> ack at the same
   concurrency, with the service producer's settings (acks=all, idempotent, linger 5 ms) and with
   linger 0. By default the background load keeps running during this phase (`--no-endpoint-load`
   turns it off for the three contenders alike).
   The service limits each client address to 60 requests a minute (a token bucket per peer
   address). A mailbox provider's one-click POSTs come from its servers; here every client
   connection takes its own loopback source address (127.x.y.z) and makes at most 50 requests, so
   the limiter never answers 429 and the figure is the endpoint's own. A separate small check
   sends 120 POSTs from one address and reports what the limiter does with them.
6. Results: tables, the machine, the CPU each process used, the target check; `--json-out`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import aiohttp
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
    topic_partitions,
    wait_for_group_coordinator,
    wait_until_consumed,
    worker_env,
    worker_log_findings,
)
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from rich.markup import escape
from rich.table import Table

from streams.core.errors import SendgateError
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    ConsentEvent,
    SendDecision,
    SendRequest,
    SuppressionChange,
    UnsubscribeClick,
)
from streams.core.settings import PROJECT_ROOT, Settings, get_settings
from streams.edges.admin import check_broker
from streams.edges.web.serve import free_loopback_port, serve_unsubscribes
from streams.policy import load_policy
from streams.sending.signing_keys import unsubscribe_tokens
from streams.sending.unsubscribe_tokens import UnsubscribeTokens
from streams.topics import (
    CONSENT_EVENTS,
    DEAD_LETTERS,
    SEND_DECISIONS,
    SEND_REQUESTS,
    SUPPRESSION_CHANGES,
    UNSUBSCRIBE_CLICKS,
    TopicSpec,
    default_codec,
)

__all__ = ["client_main", "main"]

PROBE_ACCOUNT = "acme"
PROBE_LIST = "news"
DENY_RULE = "list-unsubscribed"
BACKGROUND_ACCOUNT = "steady"
BACKGROUND_RECIPIENTS = 1000
BACKGROUND_POOL = 10_000
TAIL_S = 0.1
"""Requests still sent after the first denial is read (any allow among them is a violation)."""
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PER_SOURCE_ADDRESS = 50
"""Requests per client source address: below the service's 60-a-minute bucket per client."""
SINGLE_SOURCE_REQUESTS = 120
TARGET_P99_MS = 250.0
PRODUCE_TOPIC = TopicSpec("bench-produce", "benchmark baseline: raw aiokafka produce -> ack")
WORKER_CODE = (
    "from streams.cli import main\n"
    "main(['worker', '--name', {name!r}, '--loglevel', 'warning', '--no-create-topics'])\n"
)
CLIENT_CODE = (
    "import sys\n"
    "sys.path.insert(0, {folder!r})\n"
    "from unsubscribe_latency import client_main\n"
    "client_main({job!r})\n"
)


# --- the probes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One decision for a probe's recipient, as the reader saw it."""

    request_id: str
    verdict: str
    rules: tuple[str, ...]
    created_ms: int
    received_at: float
    link: str | None


@dataclass
class Probe:
    number: int
    address: str
    recipient_key: str
    run_tag: str
    link_decision: asyncio.Future[Seen]
    link: str = ""
    post_sent: float = math.nan
    t0: float = math.nan  # wall time the POST's 200 arrived
    sent: dict[str, float] = field(default_factory=dict)  # request id -> wall time before send
    decisions: dict[str, Seen] = field(default_factory=dict)
    first_deny: Seen | None = None
    denied: asyncio.Event = field(default_factory=asyncio.Event)
    click_created_ms: int | None = None
    suppression_ms: int | None = None
    suppression_outcome: str | None = None

    @property
    def key(self) -> bytes:
        return self.recipient_key.encode()

    @property
    def link_request_id(self) -> str:
        return f"link-{self.run_tag}-{self.number}"


def _probe_address(tag: str, number: int) -> str:
    return f"subscriber.{number}.{tag}@example.com"


def _background_address(tag: str, index: int) -> str:
    return f"member{index}.{tag}@example.org"


def _endpoint_address(tag: str, kind: str, index: int) -> str:
    return f"clicker.{kind}{index}.{tag}@example.net"


def _request(request_id: str, account: str, address: str) -> SendRequest:
    return SendRequest(
        request_id=request_id,
        account_id=account,
        list_id=PROBE_LIST,
        recipient=address,
        classification="commercial",
        send_kind="bulk",
        subject="This week's offers",
        requested_at=datetime.now(UTC),
        **compliant_content(account, commercial=True),
    )


def _grant(keyer: RecipientKeyer, address: str, account: str, event_id: str) -> ConsentEvent:
    return ConsentEvent(
        event_id=event_id,
        recipient_key=keyer.key(address),
        kind="grant",
        account_id=account,
        basis="express",
        source_kind="form",
        source_id=f"{account}-signup-form",
        occurred_at=datetime.now(UTC) - timedelta(days=30),
    )


def _link_of(decision: SendDecision) -> str | None:
    header = decision.headers.get("List-Unsubscribe")
    if not header:
        return None
    return header.split(",")[0].strip().strip("<>")


def _source_addresses(second_octet: int) -> Iterator[str]:
    """Distinct loopback addresses 127.<second_octet>.y.z (all of 127/8 is loopback on Linux)."""
    for third in range(256):
        for fourth in range(1, 255):
            yield f"127.{second_octet}.{third}.{fourth}"
    raise BenchError(f"ran out of loopback source addresses in 127.{second_octet}/16")


# --- reading the gate's output --------------------------------------------------------------------


class Reader:
    """One consumer, no group, on send-decisions, unsubscribe-clicks and suppression-changes from
    their end offsets: every probe's decisions, its click record and the keeper's change record.
    Other decisions (the background's) are counted, and every 50th is decoded for its verdict."""

    SAMPLE_EVERY = 50

    def __init__(self, settings: Settings, probes: list[Probe]) -> None:
        self.codec = default_codec()
        self.by_key = {probe.key: probe for probe in probes}
        self.by_recipient = {probe.recipient_key: probe for probe in probes}
        self.decisions_topic = SEND_DECISIONS.full_name(settings)
        self.clicks_topic = UNSUBSCRIBE_CLICKS.full_name(settings)
        self.changes_topic = SUPPRESSION_CHANGES.full_name(settings)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
        )
        self.other_decisions = 0
        self.sampled_verdicts: Counter[str] = Counter()
        self.sampled_rules: Counter[str] = Counter()
        self.timestamp_types: set[int] = set()

    async def start(self) -> None:
        await asyncio.wait_for(self.consumer.start(), 15)
        tps: list[TopicPartition] = []
        for topic in (self.decisions_topic, self.clicks_topic, self.changes_topic):
            tps += await topic_partitions(self.consumer, topic)
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)  # resolve now, so nothing later slips past

    async def stop(self) -> None:
        await self.consumer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batches = await self.consumer.getmany(timeout_ms=100)
            received = time.time()
            for tp, messages in batches.items():
                for message in messages:
                    self.timestamp_types.add(message.timestamp_type)
                    self._dispatch(tp.topic, message, received)

    def _dispatch(self, topic: str, message: Any, received: float) -> None:
        if topic == self.decisions_topic:
            probe = self.by_key.get(message.key)
            if probe is None:
                self.other_decisions += 1
                if self.other_decisions % self.SAMPLE_EVERY == 0:
                    decision = self.codec.decode(message.value, SendDecision)
                    self.sampled_verdicts[decision.verdict] += 1
                    self.sampled_rules.update(failure.rule for failure in decision.failures)
                return
            decision = self.codec.decode(message.value, SendDecision)
            seen = Seen(
                decision.request_id,
                decision.verdict,
                tuple(failure.rule for failure in decision.failures),
                message.timestamp,
                received,
                _link_of(decision),
            )
            if decision.request_id == probe.link_request_id:
                if not probe.link_decision.done():
                    probe.link_decision.set_result(seen)
                return
            probe.decisions.setdefault(seen.request_id, seen)
            if probe.first_deny is None and DENY_RULE in seen.rules:
                probe.first_deny = seen
                probe.denied.set()
        elif topic == self.clicks_topic:
            click = self.codec.decode(message.value, UnsubscribeClick)
            probe = self.by_recipient.get(click.recipient_key)
            if probe is not None and probe.click_created_ms is None:
                probe.click_created_ms = message.timestamp
        elif topic == self.changes_topic:
            change = self.codec.decode(message.value, SuppressionChange)
            probe = self.by_recipient.get(change.recipient_key)
            if probe is not None and probe.suppression_ms is None:
                probe.suppression_ms = message.timestamp
                probe.suppression_outcome = change.outcome


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Options:
    probes: int
    idle_probes: int
    background_rate: float
    rps_requests: int
    concurrency: int
    request_interval_ms: float
    partitions: int
    probe_timeout_s: float
    endpoint_load: bool
    bootstrap: str


async def wait_until_deciding(
    settings: Settings, tag: str, watcher: OffsetWatcher, worker: WorkerProcess
) -> None:
    """One send request, decided: the worker joined its group and runs its agents. The state is
    published only then, so the worker does not start on a backlog."""
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


async def publish_consents(
    settings: Settings, probes: list[Probe], tag: str, watcher: OffsetWatcher, worker: WorkerProcess
) -> int:
    """Every probe's recipient opts in to the probed account, the background recipients to
    theirs; all at once, then wait until the gate's group has committed every grant."""
    keyer = RecipientKeyer(settings.recipient_secret())
    codec = default_codec()
    topic = CONSENT_EVENTS.full_name(settings)
    records = []
    for index in range(BACKGROUND_RECIPIENTS):
        event = _grant(
            keyer, _background_address(tag, index), BACKGROUND_ACCOUNT, f"grant-{tag}-bg-{index}"
        )
        records.append((topic, event.recipient_key.encode(), codec.encode(event)))
    for probe in probes:
        event = _grant(keyer, probe.address, PROBE_ACCOUNT, f"grant-{tag}-probe-{probe.number}")
        records.append((topic, probe.key, codec.encode(event)))
    await produce_pipelined(
        settings.kafka_bootstrap_servers, records, len(records), "publish consent grants"
    )
    await wait_until_consumed(
        watcher,
        settings.app_id,
        topic,
        timeout_s=120 + len(records) / 100,
        what="the gate's group commits the grants",
        worker=worker,
    )
    return len(records)


class Poster:
    """The one-click POSTs of the probes, each source address used for at most 50 of them."""

    def __init__(self, second_octet: int) -> None:
        self._sources = _source_addresses(second_octet)
        self._session: aiohttp.ClientSession | None = None
        self._used = 0

    async def post(self, url: str) -> int:
        if self._session is None or self._used >= PER_SOURCE_ADDRESS:
            await self.close()
            connector = aiohttp.TCPConnector(local_addr=(next(self._sources), 0), limit=1)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=30)
            )
            self._used = 0
        self._used += 1
        async with self._session.post(
            url, data=ONE_CLICK_BODY, headers=FORM, allow_redirects=False
        ) as response:
            status = response.status
            await response.read()
            return status

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def send_probe_requests(
    producer: AIOKafkaProducer,
    topic: str,
    probe: Probe,
    interval_s: float,
    stop: asyncio.Event,
    errors: list[BaseException],
) -> None:
    """A send for the probe's recipient and list every `interval_s`, from at once (no catching
    up: a late tick is skipped, never sent in a burst)."""
    codec = default_codec()

    def on_ack(future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            errors.append(future.exception())  # type: ignore[arg-type]

    loop = asyncio.get_running_loop()
    started = loop.time()
    number = 0
    while not stop.is_set():
        request_id = f"probe-{probe.run_tag}-{probe.number}-{number:05d}"
        value = codec.encode(_request(request_id, PROBE_ACCOUNT, probe.address))
        probe.sent[request_id] = time.time()
        (await producer.send(topic, value=value, key=probe.key)).add_done_callback(on_ack)
        number += 1
        next_tick = started + number * interval_s
        now = loop.time()
        if next_tick < now:  # behind: skip the missed ticks
            next_tick = started + (int((now - started) / interval_s) + 1) * interval_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(next_tick - loop.time(), 0))


async def prepare_links(
    settings: Settings,
    probes: list[Probe],
    producer: AIOKafkaProducer,
    timeout_s: float,
    worker: WorkerProcess,
) -> dict[str, float]:
    """One allowed commercial send to list "news" per probe, all at once; each decision gives the
    probe its List-Unsubscribe link. Returns the gate's request -> decision latency for them."""
    codec = default_codec()
    topic = SEND_REQUESTS.full_name(settings)
    sent: dict[int, float] = {}
    acks = []
    for probe in probes:
        request = _request(probe.link_request_id, PROBE_ACCOUNT, probe.address)
        sent[probe.number] = time.time()
        acks.append(await producer.send(topic, value=codec.encode(request), key=probe.key))
    await asyncio.gather(*acks)
    deadline = time.monotonic() + timeout_s
    with progress_bar() as progress:
        task = progress.add_task("link decisions", total=len(probes), rate="")
        while True:
            done = sum(probe.link_decision.done() for probe in probes)
            progress.update(task, completed=done)
            if done == len(probes):
                break
            worker.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"only {done} of {len(probes)} link requests decided after {timeout_s:.0f}s"
                )
            await asyncio.sleep(0.1)
    lags = []
    for probe in probes:
        allowed = probe.link_decision.result()
        if allowed.verdict != "allow" or not allowed.link:
            raise BenchError(
                f"probe {probe.number}: the first send should be allowed with a List-Unsubscribe "
                f"link, got {allowed.verdict} {allowed.rules}, link {allowed.link!r}"
            )
        probe.link = allowed.link
        lags.append(allowed.created_ms - sent[probe.number] * 1000)
    return latency_summary(lags)


async def run_probe(
    probe: Probe,
    options: Options,
    *,
    producer: AIOKafkaProducer,
    sends_topic: str,
    poster: Poster,
    request_errors: list[BaseException],
    check_tasks: Callable[[], None],
) -> None:
    """The one-click POST; t0 = its 200; then sends every few ms until one is denied (and a
    little longer). Their decisions are checked once every probe is done."""
    probe.post_sent = time.time()
    status = await poster.post(probe.link)
    probe.t0 = time.time()
    if status != 200:
        raise BenchError(f"probe {probe.number}: the one-click POST answered {status}, not 200")
    stop = asyncio.Event()
    sender = asyncio.create_task(
        send_probe_requests(
            producer, sends_topic, probe, options.request_interval_ms / 1000, stop, request_errors
        )
    )
    try:
        deadline = time.monotonic() + options.probe_timeout_s
        while not probe.denied.is_set():
            check_tasks()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"probe {probe.number}: no send denied with {DENY_RULE} "
                    f"{options.probe_timeout_s:.0f}s after the click's 200; decided: "
                    f"{Counter(seen.verdict for seen in probe.decisions.values())}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(probe.denied.wait(), 0.5)
        await asyncio.sleep(TAIL_S)
    finally:
        stop.set()
        await sender


async def wait_all_decided(
    probes: list[Probe], timeout_s: float, check_tasks: Callable[[], None]
) -> None:
    """Until every request a probe sent after its click has its decision read."""
    total = sum(len(probe.sent) for probe in probes)
    deadline = time.monotonic() + timeout_s
    with progress_bar() as progress:
        task = progress.add_task("probe requests decided", total=total, rate="")
        while True:
            missing = sum(len(set(probe.sent) - set(probe.decisions)) for probe in probes)
            progress.update(task, completed=total - missing)
            if not missing:
                return
            check_tasks()
            if time.monotonic() > deadline:
                raise BenchError(f"{missing} probe requests were not decided in {timeout_s:.0f}s")
            await asyncio.sleep(0.1)


def _cpu_shares(
    meter: CpuMeter, machine: list[float | None], wall: list[float]
) -> dict[str, float]:
    """Cores busy between the first and last sample: each process's, the whole machine's and the
    rest (everybody else's processes)."""
    if len(meter.samples) < 2:
        return {}
    shares = meter.share()
    if machine[0] is not None and machine[-1] is not None and wall[-1] > wall[0]:
        shares["whole machine"] = (machine[-1] - machine[0]) / (wall[-1] - wall[0])
        shares["everything else"] = shares["whole machine"] - sum(
            value for name, value in shares.items() if name != "whole machine"
        )
    return shares


class LoadSampler:
    """A CpuMeter plus the machine's busy CPU, sampled together."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.meter = CpuMeter(pids)
        self.machine: list[float | None] = []
        self.wall: list[float] = []

    def sample(self) -> None:
        self.meter.sample()
        self.machine.append(machine_busy_cpu_seconds())
        self.wall.append(time.monotonic())

    def shares(self) -> dict[str, float]:
        return _cpu_shares(self.meter, self.machine, self.wall)


# --- the endpoint's throughput --------------------------------------------------------------------


def client_main(job_path: str) -> None:
    """The load client, run in its own process: POSTs the job's URLs, writes what it measured."""
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    result = asyncio.run(_client(job))
    Path(job["out"]).write_text(json.dumps(result), encoding="utf-8")


async def _client(job: dict[str, Any]) -> dict[str, Any]:
    urls: list[str] = job["urls"]
    warmup: int = job["warmup"]
    concurrency: int = job["concurrency"]
    per_source: int = job["per_source"]
    sources = (
        itertools.repeat(f"127.{job['second_octet']}.0.1")
        if job["one_address"]
        else _source_addresses(job["second_octet"])
    )
    latencies: dict[int, list[float]] = {}
    errors: Counter[str] = Counter()
    timeout = aiohttp.ClientTimeout(total=60)

    async def run(batch: list[str], record: bool) -> None:
        position = 0

        async def one_connection() -> None:
            nonlocal position
            session: aiohttp.ClientSession | None = None
            used = 0
            try:
                while position < len(batch):
                    url = batch[position]
                    position += 1
                    if session is None or used >= per_source:
                        if session is not None:
                            await session.close()
                        connector = aiohttp.TCPConnector(local_addr=(next(sources), 0), limit=1)
                        session = aiohttp.ClientSession(connector=connector, timeout=timeout)
                        used = 0
                    used += 1
                    started = time.perf_counter()
                    try:
                        async with session.post(
                            url, data=ONE_CLICK_BODY, headers=FORM, allow_redirects=False
                        ) as response:
                            await response.read()
                            status = response.status
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        errors[type(exc).__name__] += 1
                        continue
                    if record:
                        latencies.setdefault(status, []).append(
                            (time.perf_counter() - started) * 1000
                        )
            finally:
                if session is not None:
                    await session.close()

        await asyncio.gather(*(one_connection() for _ in range(min(concurrency, len(batch)))))

    await run(urls[:warmup], record=False)
    print("START", flush=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    await run(urls[warmup:], record=True)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    print("END", flush=True)
    return {
        "requests": len(urls) - warmup,
        "warmup": warmup,
        "seconds": seconds,
        "client_cpu_cores": cpu / max(seconds, 1e-9),
        "statuses": {str(status): len(values) for status, values in sorted(latencies.items())},
        "latencies_ms": latencies.get(200, []),
        "errors": dict(errors),
    }


async def run_client_job(
    name: str,
    urls: list[str],
    *,
    warmup: int,
    concurrency: int,
    per_source: int,
    second_octet: int,
    folder: Path,
    pids: dict[str, int | None],
    one_address: bool = False,
) -> dict[str, Any]:
    """Run the load client in a new process (so it does not share the service's event loop) and
    meter the CPU of every process over its measured part."""
    job = folder / f"client-{name}.json"
    out = folder / f"client-{name}.out.json"
    job.write_text(
        json.dumps(
            {
                "urls": urls,
                "warmup": warmup,
                "concurrency": concurrency,
                "per_source": per_source,
                "second_octet": second_octet,
                "one_address": one_address,
                "out": str(out),
            }
        ),
        encoding="utf-8",
    )
    code = CLIENT_CODE.format(folder=str(Path(__file__).resolve().parent), job=str(job))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    sampler = LoadSampler({**pids, "load client": process.pid})
    other: list[str] = []

    async def follow() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if line in ("START", "END"):
                sampler.sample()
            else:
                other.append(line)
        await process.wait()

    timeout_s = 120 + len(urls) / 20
    try:
        with console.status(f"{name}: {len(urls) - warmup:,} POSTs at concurrency {concurrency}"):
            await asyncio.wait_for(follow(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BenchError(f"load client {name}: not done after {timeout_s:.0f}s") from None
    if process.returncode != 0 or not out.exists():
        raise BenchError(
            f"load client {name} exited with {process.returncode}:\n" + "\n".join(other[-25:])
        )
    result = json.loads(out.read_text(encoding="utf-8"))
    result["cpu_cores"] = sampler.shares()
    result["client_output"] = other[-10:]
    return result


async def trivial_server(port: int) -> web.AppRunner:
    """The baseline: the same route, reads the body and answers 200; no token, no Kafka."""

    async def one_click(request: web.Request) -> web.Response:
        await request.text()
        return web.Response(text="unsubscribed\n", status=200)

    app = web.Application(client_max_size=4096)
    app.router.add_post("/u/{token}", one_click)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def raw_produce(
    settings: Settings,
    records: list[tuple[bytes, bytes]],
    *,
    warmup: int,
    concurrency: int,
    linger_ms: int,
) -> dict[str, Any]:
    """Raw aiokafka: `concurrency` tasks, each producing one record and awaiting its ack."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
    )
    await asyncio.wait_for(producer.start(), 15)
    topic = PRODUCE_TOPIC.full_name(settings)
    latencies: list[float] = []
    try:

        async def run(batch: list[tuple[bytes, bytes]], record: bool) -> None:
            position = 0

            async def one() -> None:
                nonlocal position
                while position < len(batch):
                    key, value = batch[position]
                    position += 1
                    started = time.perf_counter()
                    await producer.send_and_wait(topic, value=value, key=key)
                    if record:
                        latencies.append((time.perf_counter() - started) * 1000)

            await asyncio.gather(*(one() for _ in range(min(concurrency, len(batch)))))

        await run(records[:warmup], record=False)
        started, cpu_started = time.perf_counter(), time.process_time()
        await run(records[warmup:], record=True)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        await producer.stop()
    return {
        "requests": len(records) - warmup,
        "seconds": seconds,
        "statuses": {"acked": len(latencies)},
        "latencies_ms": latencies,
        "bench_cpu_cores": cpu / max(seconds, 1e-9),
    }


async def measure_endpoint(
    settings: Settings,
    options: Options,
    tokens: UnsubscribeTokens,
    service_port: int,
    tag: str,
    folder: Path,
    pids: dict[str, int | None],
) -> dict[str, Any]:
    keyer = RecipientKeyer(settings.recipient_secret())
    codec = default_codec()
    count = options.rps_requests
    warmup = min(200, max(count // 10, 10))
    now = datetime.now(UTC)

    def paths(kind: str, total: int) -> tuple[list[str], list[str]]:
        """One-click paths with valid tokens for `total` new recipients, and their keys."""
        found, keys = [], []
        for index in range(total):
            key = keyer.key(_endpoint_address(tag, kind, index))
            token = tokens.issue(
                recipient_key=key,
                account_id=PROBE_ACCOUNT,
                list_id=PROBE_LIST,
                request_id=f"{kind}-{tag}-{index}",
                issued_at=now,
            )
            found.append(f"/u/{token}")
            keys.append(key)
        return found, keys

    rps_paths, rps_keys = paths("rps", warmup + count)
    single_paths, _ = paths("one", SINGLE_SOURCE_REQUESTS)
    service = f"http://127.0.0.1:{service_port}"
    trivial_port = free_loopback_port()
    runner = await trivial_server(trivial_port)
    trivial = f"http://127.0.0.1:{trivial_port}"
    results: dict[str, Any] = {"warmup": warmup, "requests": count}
    try:
        results["service"] = await run_client_job(
            "service",
            [service + path for path in rps_paths],
            warmup=warmup,
            concurrency=options.concurrency,
            per_source=PER_SOURCE_ADDRESS,
            second_octet=77,
            folder=folder,
            pids=pids,
        )
        results["trivial"] = await run_client_job(
            "trivial",
            [trivial + path for path in rps_paths],
            warmup=warmup,
            concurrency=options.concurrency,
            per_source=PER_SOURCE_ADDRESS,
            second_octet=78,
            folder=folder,
            pids=pids,
        )
    finally:
        await runner.cleanup()
    # Records of the size the service publishes: a one-click UnsubscribeClick.
    clicks = [
        (
            key.encode(),
            codec.encode(
                UnsubscribeClick(
                    click_id=f"web-{uuid.uuid4().hex}",
                    recipient_key=key,
                    scope="list",
                    account_id=PROBE_ACCOUNT,
                    list_id=PROBE_LIST,
                    method="one_click",
                    clicked_at=now,
                )
            ),
        )
        for key in rps_keys
    ]
    results["click_record_bytes"] = len(clicks[0][1])
    for linger in (5, 0):
        with console.status(f"raw aiokafka produce -> ack, linger {linger} ms"):
            results[f"raw_produce_linger_{linger}"] = await raw_produce(
                settings, clicks, warmup=warmup, concurrency=options.concurrency, linger_ms=linger
            )
    # What the per-client limiter does with one busy source address (not part of the figures).
    results["single_source"] = await run_client_job(
        "single-source",
        [service + path for path in single_paths],
        warmup=0,
        concurrency=4,
        per_source=SINGLE_SOURCE_REQUESTS,
        second_octet=99,
        folder=folder,
        pids=pids,
        one_address=True,
    )
    return results


# --- the measurement ------------------------------------------------------------------------------


async def measure(
    settings: Settings,
    options: Options,
    probes: list[Probe],
    idle_probes: list[Probe],
    tag: str,
    worker: WorkerProcess,
    watcher: OffsetWatcher,
    tokens: UnsubscribeTokens,
    service_port: int,
    folder: Path,
) -> dict[str, Any]:
    bootstrap = settings.kafka_bootstrap_servers
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    sends_topic = SEND_REQUESTS.full_name(settings)
    decisions_topic = SEND_DECISIONS.full_name(settings)

    pool = []
    for number in range(BACKGROUND_POOL):
        address = _background_address(tag, number % BACKGROUND_RECIPIENTS)
        request = _request(f"bg-{tag}-{number}", BACKGROUND_ACCOUNT, address)
        pool.append((keyer.key(address).encode(), codec.encode(request)))

    reader = Reader(settings, idle_probes + probes)
    background_producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    requester = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    for client in (background_producer, requester):
        await asyncio.wait_for(client.start(), 15)
    await reader.start()
    stop_reader, stop_background = asyncio.Event(), asyncio.Event()
    background = Background(target_per_s=options.background_rate)
    request_errors: list[BaseException] = []
    pids = {"gate worker": worker.process.pid, "kafka broker": broker_pid()}
    probing = LoadSampler({**pids, "bench (service, load)": os.getpid()})
    poster = Poster(second_octet=66)
    results: dict[str, Any] = {}
    tasks = {"reader": asyncio.create_task(reader.run(stop_reader))}

    def check_tasks() -> None:
        worker.check_alive()
        for name, task in tasks.items():
            if task.done():
                if (name == "background load" and stop_background.is_set()) or (
                    name == "reader" and stop_reader.is_set()
                ):
                    continue
                raise BenchError(f"the {name} stopped: {task.exception()!r}")
        if request_errors:
            raise BenchError(f"a probe request failed: {request_errors[0]!r}")

    async def run_probes(group: list[Probe], what: str) -> None:
        with progress_bar() as progress:
            task = progress.add_task(what, total=len(group), rate="")
            for probe in group:
                check_tasks()
                await run_probe(
                    probe,
                    options,
                    producer=requester,
                    sends_topic=sends_topic,
                    poster=poster,
                    request_errors=request_errors,
                    check_tasks=check_tasks,
                )
                assert probe.first_deny is not None
                latest = probe.first_deny.created_ms - probe.t0 * 1000
                progress.update(task, advance=1, rate=f"last {latest:,.0f} ms")
        await wait_all_decided(group, 60 + options.probe_timeout_s, check_tasks)

    decisions_before = 0
    try:
        try:
            with phase(f"links: one allowed send per probe ({len(idle_probes) + len(probes)})"):
                results["link_request_to_decision"] = await prepare_links(
                    settings, idle_probes + probes, requester, 120, worker
                )
            if idle_probes:
                with phase(f"baseline: {len(idle_probes)} probes without background load"):
                    await run_probes(idle_probes, "probes, no load")
            decisions_before = await watcher.count(decisions_topic)
            tasks["background load"] = asyncio.create_task(
                background_load(background_producer, sends_topic, pool, background, stop_background)
            )
            with phase(
                f"measure: {len(probes)} probes at {options.background_rate:,.0f} background "
                "sends/s"
            ):
                seen_before = reader.other_decisions
                await asyncio.sleep(2.0)  # the background load reaches a steady state first
                check_tasks()
                if options.background_rate > 0 and reader.other_decisions == seen_before:
                    raise BenchError(
                        "the gate decided none of the background requests in 2 s; last lines of "
                        f"{worker.log_path}:\n{worker.tail()}"
                    )
                results["load_average_before_probes"] = list(os.getloadavg())
                probing.sample()
                await run_probes(probes, "probes at load")
                probing.sample()
                results["load_average_after_probes"] = list(os.getloadavg())
            stop_reader.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(tasks["reader"], 10)
            if not options.endpoint_load:
                stop_background.set()
                await asyncio.wait_for(tasks["background load"], 30)
            load = (
                f"at {options.background_rate:,.0f} background sends/s"
                if options.endpoint_load
                else "without background load"
            )
            with phase(
                f"endpoint: {options.rps_requests:,} one-click POSTs at concurrency "
                f"{options.concurrency}, {load}"
            ):
                results["endpoint"] = await measure_endpoint(
                    settings,
                    options,
                    tokens,
                    service_port,
                    tag,
                    folder,
                    {**pids, "bench (service)": os.getpid()},
                )
            check_tasks()
        finally:
            stop_background.set()
            stop_reader.set()
            await poster.close()
            for task in tasks.values():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 30)
            for producer in (background_producer, requester):
                await producer.flush()
        with phase("drain: the gate decides every request"):
            await watcher.wait_for_count(
                decisions_topic,
                background.sent + sum(len(probe.sent) for probe in probes),
                baseline=decisions_before,
                timeout_s=60 + background.sent / 200,
                what="gate drains the background load",
                worker=worker,
                consumed_by=(settings.decided_group, sends_topic),
            )
    finally:
        await reader.stop()
        for producer in (background_producer, requester):
            await producer.stop()

    results.update(
        {
            "probes": [probe_row(probe) for probe in probes],
            "idle_probes": [probe_row(probe) for probe in idle_probes],
            "background": {
                "target_per_s": background.target_per_s,
                "achieved_per_s": background.achieved_per_s,
                "sent": background.sent,
                "seconds": background.stopped - background.started,
                "decisions_read_during_probes": reader.other_decisions,
                "sampled_verdicts": dict(reader.sampled_verdicts),
                "sampled_denial_rules": dict(reader.sampled_rules),
            },
            "cpu_cores_during_probes": probing.shares(),
            "probe_requests_per_s_during_probes": (
                sum(len(probe.sent) for probe in probes)
                / max(probing.wall[-1] - probing.wall[0], 1e-9)
                if len(probing.wall) >= 2
                else math.nan
            ),
            "timestamp_types": sorted(reader.timestamp_types),
        }
    )
    return results


def probe_row(probe: Probe) -> dict[str, Any]:
    """One probe's latencies (ms from t0, the POST's 200) and checks."""
    t0_ms = probe.t0 * 1000
    first = probe.first_deny
    decided = probe.decisions
    allowed_after_t0 = sorted(rid for rid, seen in decided.items() if seen.verdict == "allow")
    other_denials = Counter(
        rule
        for seen in decided.values()
        if seen.verdict != "allow" and DENY_RULE not in seen.rules
        for rule in seen.rules
    )
    gate_lags = [seen.created_ms - probe.sent[rid] * 1000 for rid, seen in decided.items()]
    first_sent = min(probe.sent, key=probe.sent.__getitem__, default=None)
    return {
        "probe": probe.number,
        "requests_after_t0": len(probe.sent),
        "effective_ms": (first.created_ms - t0_ms) if first else math.nan,
        "effective_received_ms": (first.received_at * 1000 - t0_ms) if first else math.nan,
        "first_denied_request_sent_ms": (
            probe.sent[first.request_id] * 1000 - t0_ms if first else math.nan
        ),
        "first_request_denied": bool(first and first.request_id == first_sent),
        "first_denied_gate_lag_ms": (
            first.created_ms - probe.sent[first.request_id] * 1000 if first else math.nan
        ),
        "post_round_trip_ms": (probe.t0 - probe.post_sent) * 1000,
        "post_to_click_record_ms": (
            probe.click_created_ms - probe.post_sent * 1000 if probe.click_created_ms else math.nan
        ),
        "click_record_to_200_ms": (
            t0_ms - probe.click_created_ms if probe.click_created_ms else math.nan
        ),
        "keeper_applied_ms": (
            probe.suppression_ms - t0_ms if probe.suppression_ms is not None else math.nan
        ),
        "keeper_outcome": probe.suppression_outcome,
        "gate_lag_p50_ms": percentile(gate_lags, 50),
        "gate_lag_max_ms": max(gate_lags, default=math.nan),
        "gate_lags_ms": gate_lags,
        "allowed_after_t0": allowed_after_t0,
        "denied_for_other_rules": dict(other_denials),
    }


# --- summary --------------------------------------------------------------------------------------


def _endpoint_row(result: dict[str, Any]) -> dict[str, Any]:
    latencies = result["latencies_ms"]
    return {
        "requests": result["requests"],
        "ok": len(latencies),
        "statuses": result["statuses"],
        "errors": result.get("errors", {}),
        "seconds": result["seconds"],
        "per_second": result["requests"] / max(result["seconds"], 1e-9),
        **latency_summary(latencies),
    }


def summarise_probes(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Percentiles of one group of probes, and its checks."""

    def of(name: str) -> dict[str, float]:
        return latency_summary([row[name] for row in rows])

    summary: dict[str, Any] = {
        "click_to_effective": of("effective_ms"),
        "click_to_effective_received": of("effective_received_ms"),
        "gate_request_to_decision": latency_summary(
            [lag for row in rows for lag in row["gate_lags_ms"]]
        ),
        "first_denied_gate_lag": of("first_denied_gate_lag_ms"),
        "first_denied_request_sent": of("first_denied_request_sent_ms"),
        "post_round_trip": of("post_round_trip_ms"),
        "post_to_click_record": of("post_to_click_record_ms"),
        "click_record_to_200": of("click_record_to_200_ms"),
        "keeper_applied": of("keeper_applied_ms"),
    }
    summary["checks"] = {
        "probes": len(rows),
        "probe_requests_after_t0": sum(row["requests_after_t0"] for row in rows),
        "allowed_after_t0": sum(len(row["allowed_after_t0"]) for row in rows),
        "probes_with_an_allow_after_t0": [row["probe"] for row in rows if row["allowed_after_t0"]],
        "denied_for_other_rules": dict(
            sum((Counter(row["denied_for_other_rules"]) for row in rows), Counter())
        ),
        "first_request_after_t0_denied": sum(row["first_request_denied"] for row in rows),
        "keeper_applied_after_first_deny": sum(
            1 for row in rows if row["keeper_applied_ms"] > row["effective_ms"]
        ),
        "keeper_outcomes": dict(Counter(str(row["keeper_outcome"]) for row in rows)),
    }
    return summary


def summarise(measured: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {"at_load": summarise_probes(measured["probes"])}
    if measured["idle_probes"]:
        summary["no_load"] = summarise_probes(measured["idle_probes"])
    p99 = summary["at_load"]["click_to_effective"]["p99_ms"]
    summary["target"] = {
        "what": (
            f"p99 click (200) -> first denied send (CreateTime) < {TARGET_P99_MS:.0f} ms, "
            "with the gate at load"
        ),
        "p99_ms": p99,
        "met": bool(p99 < TARGET_P99_MS),
    }
    endpoint = measured.get("endpoint")
    if endpoint:
        summary["endpoint"] = {
            name: _endpoint_row(endpoint[name])
            for name in (
                "service",
                "trivial",
                "raw_produce_linger_5",
                "raw_produce_linger_0",
                "single_source",
            )
        }
    return summary


# --- the whole run --------------------------------------------------------------------------------


async def run_benchmark(settings: Settings, options: Options, data_dir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "options": options.__dict__,
        "topic_prefix": settings.topic_prefix,
        "load_average_at_start": list(os.getloadavg()),
    }
    tag = uuid.uuid4().hex[:8]
    keyer = RecipientKeyer(settings.recipient_secret())
    loop = asyncio.get_running_loop()
    probes = [
        Probe(
            number=number,
            address=_probe_address(tag, number),
            recipient_key=keyer.key(_probe_address(tag, number)),
            run_tag=tag,
            link_decision=loop.create_future(),
        )
        for number in range(options.probes + options.idle_probes)
    ]
    idle_probes, probes = probes[: options.idle_probes], probes[options.idle_probes :]
    stop_service = asyncio.Event()
    service: asyncio.Task | None = None
    port = int(settings.unsubscribe_base_url.rsplit(":", 1)[1])
    try:
        with phase("setup: topics, key file, one gate worker, the unsubscribe service"):
            await wait_for_group_coordinator(settings)
            names = await create_run_topics(settings, [PRODUCE_TOPIC])
            console.print(f"created {len(names)} topics under prefix {settings.topic_prefix!r}")
            # Made here, before the worker and the service start, so both read this very file.
            tokens = unsubscribe_tokens(settings, load_policy(settings.policy_file).unsubscribe)
            console.print(f"unsubscribe key file: {settings.unsubscribe_keys_path}")
            worker = WorkerProcess(
                "gate",
                WORKER_CODE.format(name="bench-unsubscribe"),
                worker_env(settings),
                data_dir / "worker-gate.log",
            )
            listening: asyncio.Future[int] = loop.create_future()
            service = asyncio.create_task(
                serve_unsubscribes(
                    settings,
                    host="127.0.0.1",
                    port=port,
                    stop=stop_service,
                    on_listening=listening.set_result,
                )
            )
            await asyncio.wait({listening, service}, timeout=30, return_when="FIRST_COMPLETED")
            if service.done():
                raise BenchError(f"the unsubscribe service stopped: {service.exception()!r}")
            if not listening.done():
                raise BenchError("the unsubscribe service did not listen within 30 s")
            console.print(f"unsubscribe service on {settings.unsubscribe_base_url} (in process)")

        accounts = [PROBE_ACCOUNT, BACKGROUND_ACCOUNT]
        check_content_compliant(
            [_request(f"check-{account}", account, _probe_address(tag, 0)) for account in accounts],
            load_policy(settings.policy_file),
            what="probe and background requests",
        )
        async with OffsetWatcher(settings.kafka_bootstrap_servers) as watcher:
            with phase(
                "setup: verified sending domains, then wait until the worker decides a first "
                "request"
            ):
                results["sender_domains"] = await publish_sender_domains(
                    settings, accounts, watcher, worker, timeout_s=180
                )
                await wait_until_deciding(settings, tag, watcher, worker)
            with phase(
                f"state: consent grants for {len(idle_probes) + len(probes)} probe recipients and "
                f"{BACKGROUND_RECIPIENTS:,} background recipients"
            ):
                results["consent_events"] = await publish_consents(
                    settings, idle_probes + probes, tag, watcher, worker
                )
            measured = await measure(
                settings,
                options,
                probes,
                idle_probes,
                tag,
                worker,
                watcher,
                tokens,
                port,
                data_dir,
            )
            if service.done():
                raise BenchError(f"the unsubscribe service stopped: {service.exception()!r}")
            results.update(measured)
            results["dead_letters"] = await watcher.count(DEAD_LETTERS.full_name(settings))
    finally:
        stop_service.set()
        if service is not None:
            try:
                await asyncio.wait_for(service, 30)
            except Exception as exc:
                console.print(f"[yellow]the unsubscribe service ended with {exc!r}[/]")
    results["summary"] = summarise(results)
    for row in results["probes"] + results["idle_probes"]:
        del row["gate_lags_ms"]  # thousands of numbers: the summary has their percentiles
    for figures in results.get("endpoint", {}).values():
        if isinstance(figures, dict):
            figures.pop("latencies_ms", None)
    results["worker_exit_code"] = worker.stop()
    kept = Path(tempfile.gettempdir()) / f"{settings.topic_prefix}worker-gate.log"
    shutil.copy(worker.log_path, kept)
    results["worker_log"] = {"path": str(kept), **worker_log_findings(kept)}
    results["load_average_at_end"] = list(os.getloadavg())
    return results


# --- printing -------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.1f}"


def _cores(shares: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in shares.items()) or "-"


def _print_checks(name: str, checks: dict[str, Any]) -> None:
    colour = "red" if checks["allowed_after_t0"] else "green"
    console.print(
        f"[bold]{name}:[/] [{colour}]sends requested after t0: "
        f"{checks['probe_requests_after_t0']:,}, allowed {checks['allowed_after_t0']} "
        "(violations of 'every later send is denied')[/]"
        + (
            f"[red] in probes {checks['probes_with_an_allow_after_t0'][:20]}[/]"
            if checks["allowed_after_t0"]
            else ""
        )
        + f"; denied for other rules: {checks['denied_for_other_rules'] or 'none'}. "
        "The first request after t0 was the first denied in "
        f"{checks['first_request_after_t0_denied']} of {checks['probes']} probes; the keeper's "
        "change record came after that first denial in "
        f"{checks['keeper_applied_after_first_deny']} (the gate's fence read the click itself); "
        f"keeper outcomes {checks['keeper_outcomes']}."
    )


def print_results(results: dict[str, Any]) -> None:
    summary = results["summary"]
    background = results["background"]
    table = Table(
        title=(
            "Click-to-effective latency, from the one-click POST's 200 (t0), gate at "
            f"{background['achieved_per_s']:,.0f} background sends/s"
        )
    )
    for column in ("measure", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms"):
        table.add_column(column, justify="left" if column == "measure" else "right")

    def add(label: str, figures: dict[str, float], style: str | None = None) -> None:
        table.add_row(
            label,
            str(figures["n"]),
            _ms(figures["p50_ms"]),
            _ms(figures["p95_ms"]),
            _ms(figures["p99_ms"]),
            _ms(figures["max_ms"]),
            _ms(figures["mean_ms"]),
            style=style,
        )

    at_load = summary["at_load"]
    rows = (
        ("t0 -> first denied send (its CreateTime)", "click_to_effective"),
        ("t0 -> first denied send (read here)", "click_to_effective_received"),
        ("  the first denied request was sent at t0 +", "first_denied_request_sent"),
        ("  its own request -> decision (CreateTime)", "first_denied_gate_lag"),
        ("the gate itself: every probe request -> decision", "gate_request_to_decision"),
        ("POST sent -> 200 (round trip)", "post_round_trip"),
        ("POST sent -> click record (its CreateTime)", "post_to_click_record"),
        ("click record -> 200 read here (ack + answer)", "click_record_to_200"),
        ("t0 -> keeper's suppression change (CreateTime)", "keeper_applied"),
    )
    for label, key in rows:
        add(label, at_load[key])
    no_load = summary.get("no_load")
    if no_load:
        for label, key in (
            ("baseline, no background: t0 -> first denied send", "click_to_effective"),
            ("baseline, no background: the gate itself", "gate_request_to_decision"),
            ("baseline, no background: POST round trip", "post_round_trip"),
        ):
            add(label, no_load[key], style="dim")
    add(
        "the link sends, all at once before the load: request -> decision",
        results["link_request_to_decision"],
        style="dim",
    )
    console.print(table)
    n = at_load["click_to_effective"]["n"]
    if n < 100:
        console.print(f"[dim]With {n} probes the p99 by nearest rank is the slowest probe.[/]")
    target = summary["target"]
    verdict = "[green]met[/]" if target["met"] else "[red]NOT met[/]"
    console.print(
        f"Target p99 t0 -> first denied send < {TARGET_P99_MS:.0f} ms at load: "
        f"{_ms(target['p99_ms'])} ms, {verdict}"
    )
    _print_checks("at load", at_load["checks"])
    if no_load:
        _print_checks("no background", no_load["checks"])
    console.print(
        f"Background: {background['sent']:,} requests in {background['seconds']:.1f}s "
        f"({background['achieved_per_s']:,.0f}/s, target {background['target_per_s']:,.0f}/s); "
        f"1 in {Reader.SAMPLE_EVERY} decisions read during the probes decoded: "
        f"{background['sampled_verdicts']} {background['sampled_denial_rules'] or ''}. "
        "The probes' own sends added "
        f"{results['probe_requests_per_s_during_probes']:,.0f}/s while probing. "
        f"CPU while probing (cores): {_cores(results.get('cpu_cores_during_probes') or {})}."
    )

    endpoint = summary.get("endpoint")
    if endpoint:
        raw = results["endpoint"]
        options = results["options"]
        load = (
            f"gate at {options['background_rate']:,.0f} background sends/s"
            if options["endpoint_load"]
            else "no background load"
        )
        table = Table(
            title=(
                f"One-click endpoint on loopback: {options['rps_requests']:,} POSTs at concurrency "
                f"{options['concurrency']} (after {raw['warmup']} warm-up), aiohttp client in its "
                f"own process, {load}"
            )
        )
        for column in ("contender", "requests", "answers", "s", "req/s", "p50 ms", "p99 ms"):
            table.add_column(column, justify="left" if column == "contender" else "right")
        table.add_column("max ms", justify="right")
        labels = {
            "service": "sendgate one-click (verify token, publish, Kafka ack)",
            "trivial": "baseline: trivial aiohttp handler (200, no Kafka)",
            "raw_produce_linger_5": (
                "baseline: raw aiokafka produce -> ack (linger 5 ms, as the service)"
            ),
            "raw_produce_linger_0": "baseline: raw aiokafka produce -> ack (linger 0)",
        }
        for name, label in labels.items():
            row = endpoint[name]
            answers = ", ".join(f"{status}: {count:,}" for status, count in row["statuses"].items())
            if row["errors"]:
                answers += f"; errors {row['errors']}"
            table.add_row(
                label,
                f"{row['requests']:,}",
                answers,
                f"{row['seconds']:.2f}",
                f"{row['per_second']:,.0f}",
                _ms(row["p50_ms"]),
                _ms(row["p99_ms"]),
                _ms(row["max_ms"]),
            )
        console.print(table)
        service, trivial = endpoint["service"], endpoint["trivial"]
        ratio = service["per_second"] / max(trivial["per_second"], 1e-9)
        console.print(
            f"The service answers at {ratio:.2f}x the trivial handler's rate; its p50 is "
            f"{_ms(service['p50_ms'] - trivial['p50_ms'])} ms "
            "above it (token check, click record, producer and the Kafka ack). Click record: "
            f"{raw['click_record_bytes']} bytes."
        )
        for name in ("service", "trivial"):
            console.print(f"CPU during '{name}' (cores): {_cores(raw[name]['cpu_cores'])}.")
        for name in ("raw_produce_linger_5", "raw_produce_linger_0"):
            console.print(
                f"CPU of this process during '{name}': {raw[name]['bench_cpu_cores']:.2f} cores."
            )
        single = endpoint["single_source"]
        console.print(
            f"Per-client limit: {single['requests']} POSTs from one source address (concurrency 4) "
            f"got {single['statuses']}"
            + (f", errors {single['errors']}" if single["errors"] else "")
            + " (the service allows 60 a minute per client address; a mailbox provider's one-click "
            "POSTs come from its own few servers)."
        )

    log = results["worker_log"]
    console.print(
        f"Dead letters: {results['dead_letters']}. Worker exit code {results['worker_exit_code']};"
        f" its log ({log.get('lines', '?')} lines, kept at {log['path']}): "
        f"{log.get('tracebacks', '?')} tracebacks, {log.get('problem_lines', '?')} lines with "
        "warnings or errors"
    )
    for text, count in log.get("problem_kinds", {}).items():
        console.print(f"  [dim]{count:>5} x {escape(text)}[/]")
    loads = {
        "at start": results.get("load_average_at_start"),
        "before probes": results.get("load_average_before_probes"),
        "after probes": results.get("load_average_after_probes"),
        "at end": results.get("load_average_at_end"),
    }
    console.print(
        "Load average (1/5/15 min): "
        + "; ".join(
            f"{when} {' '.join(f'{v:.2f}' for v in value)}"
            for when, value in loads.items()
            if value
        )
    )
    machine = Table(title="Machine")
    machine.add_column("")
    machine.add_column("")
    for name, value in results["machine"].items():
        machine.add_row(name, value)
    console.print(machine)


# --- command line ---------------------------------------------------------------------------------


def main(
    probes: Annotated[
        int, typer.Option(min=1, max=2000, help="One-click unsubscribes to time.")
    ] = 200,
    idle_probes: Annotated[
        int,
        typer.Option(min=0, max=500, help="Baseline probes first, without the background load."),
    ] = 10,
    background_rate: Annotated[
        float,
        typer.Option(min=0, max=20_000, help="Background send requests per second, throughout."),
    ] = 1000.0,
    rps_requests: Annotated[
        int,
        typer.Option(min=100, max=200_000, help="One-click POSTs for the endpoint throughput."),
    ] = 5000,
    concurrency: Annotated[
        int, typer.Option(min=1, max=1000, help="Requests in flight in the endpoint test.")
    ] = 32,
    request_interval_ms: Annotated[
        float,
        typer.Option(min=1, max=100, help="Interval between a probe's sends after the click."),
    ] = 5.0,
    endpoint_load: Annotated[
        bool,
        typer.Option(help="Keep the background load running during the endpoint test."),
    ] = True,
    partitions: Annotated[int, typer.Option(min=1, max=64, help="Partitions per topic.")] = 6,
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
    """One-click unsubscribe click-to-effective latency with the gate at load (the real worker,
    the real unsubscribe service on loopback), and the endpoint's requests per second beside a
    trivial aiohttp handler and raw aiokafka produce acks. Needs the broker of scripts/services."""
    if json_out is not None and not json_out.resolve().parent.is_dir():
        raise typer.BadParameter(
            f"folder {json_out.resolve().parent} does not exist", param_hint="--json-out"
        )
    options = Options(
        probes=probes,
        idle_probes=idle_probes,
        background_rate=background_rate,
        rps_requests=rps_requests,
        concurrency=concurrency,
        request_interval_ms=request_interval_ms,
        partitions=partitions,
        probe_timeout_s=probe_timeout_s,
        endpoint_load=endpoint_load,
        bootstrap=bootstrap or get_settings().kafka_bootstrap_servers,
    )
    data_dir = Path(tempfile.mkdtemp(prefix="sendgate-bench-unsubscribe-"))
    settings = new_settings(bootstrap=options.bootstrap, partitions=partitions, data_dir=data_dir)
    settings = settings.model_copy(
        update={
            "unsubscribe_base_url": f"http://127.0.0.1:{free_loopback_port()}",
            "unsubscribe_key_file": data_dir / "unsubscribe-keys",
        }
    )
    try:
        asyncio.run(check_broker(settings, timeout_s=10))
    except SendgateError as exc:
        shutil.rmtree(data_dir, ignore_errors=True)
        console.print(f"[red bold]cannot run:[/] {exc}")
        console.print("Is Kafka running? `scripts/services status`, or pass --bootstrap.")
        raise typer.Exit(2) from None
    failed = True
    try:
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
            console.print(f"worker log and client jobs kept in {data_dir}")
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
