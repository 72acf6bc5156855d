"""The unsubscribe probes, their consents and List-Unsubscribe links, and the reader that sees
what the gate and its keeper make of every probe's click.

A probe is a fresh recipient who opted in to the probed account: one allowed send gives it the
List-Unsubscribe link of its decision, and its one-click POST to that link is the click timed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from harness.consuming import OffsetWatcher, follow_from_end, wait_until_consumed
from harness.content import background_grants, commercial_request, consent_grant
from harness.errors import BenchError
from harness.producing import produce_pipelined
from harness.report import progress_bar
from harness.stats import latency_summary
from harness.workers import WorkerProcess

from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision, SendRequest, SuppressionChange, UnsubscribeClick
from streams.core.settings import Settings
from streams.topics import (
    CONSENT_EVENTS,
    SEND_DECISIONS,
    SEND_REQUESTS,
    SUPPRESSION_CHANGES,
    UNSUBSCRIBE_CLICKS,
    default_codec,
)

__all__ = [
    "DENY_RULE",
    "PROBE_ACCOUNT",
    "PROBE_LIST",
    "TAIL_S",
    "Probe",
    "Reader",
    "Seen",
    "prepare_links",
    "probe_request",
    "publish_consents",
]

PROBE_ACCOUNT = "acme"
PROBE_LIST = "news"
DENY_RULE = "list-unsubscribed"
TAIL_S = 0.1
"""Requests still sent after the first denial is read (any allow among them is a violation)."""


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


def probe_request(request_id: str, account: str, address: str) -> SendRequest:
    """Commercial mail to the probed list, from the probed or the background account."""
    return commercial_request(request_id, account, address, list_id=PROBE_LIST)


def link_of(decision: SendDecision) -> str | None:
    header = decision.headers.get("List-Unsubscribe")
    if not header:
        return None
    return header.split(",")[0].strip().strip("<>")


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
        await follow_from_end(
            self.consumer, (self.decisions_topic, self.clicks_topic, self.changes_topic)
        )

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
                link_of(decision),
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


async def publish_consents(
    settings: Settings, probes: list[Probe], tag: str, watcher: OffsetWatcher, worker: WorkerProcess
) -> int:
    """Every probe's recipient opts in to the probed account, the background recipients to
    theirs; all at once, then wait until the gate's group has committed every grant."""
    keyer = RecipientKeyer(settings.recipient_secret())
    codec = default_codec()
    topic = CONSENT_EVENTS.full_name(settings)
    signed_up = datetime.now(UTC) - timedelta(days=30)
    records = []
    for event in background_grants(keyer, tag, signed_up):
        records.append((topic, event.recipient_key.encode(), codec.encode(event)))
    for probe in probes:
        event = consent_grant(
            keyer, probe.address, PROBE_ACCOUNT, f"grant-{tag}-probe-{probe.number}", signed_up
        )
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
        request = probe_request(probe.link_request_id, PROBE_ACCOUNT, probe.address)
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
