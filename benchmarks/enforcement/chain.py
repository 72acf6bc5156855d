"""The enforcement chain's probes and its readers.

A probe is a fresh account with 1,000 deliveries at Gmail and one complaint on the 0.1 % line;
its threshold-crossing complaint starts the chain (`CHAIN`): feedback-reports ->
(act_on_feedback) rate-events -> (keep_rates) rate-breaches -> (enforce_accounts)
enforcement-events -> every worker's own copy of that topic (`streams.gate.broadcast`, fenced: a
broadcast requested after the event was acknowledged waits for the copy) -> the gate's next
decision. `ChainReader` stamps every step of every probe from the output records' CreateTime;
`HopReader` times the raw one-hop baseline beside it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer
from harness.consuming import follow_from_end

from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.reputation.rate_inputs import RateEvent
from streams.reputation.standing import BreachReport, EnforcementEvent
from streams.topics import (
    ENFORCEMENT_EVENTS,
    RATE_BREACHES,
    RATE_EVENTS,
    SEND_DECISIONS,
    TopicSpec,
    default_codec,
)

__all__ = [
    "CHAIN",
    "DELIVERIES",
    "DENY_RULE",
    "HOPS_TO_ENFORCEMENT",
    "HOPS_TO_TABLE",
    "HOP_TOPIC",
    "PRE_T0_S",
    "PROVIDER",
    "TAIL_S",
    "ChainReader",
    "HopReader",
    "HopSample",
    "Probe",
    "Seen",
    "reader_address",
]

DELIVERIES = 1000
"""Delivered per probe account: the policy's minimum volume for a complaint rate, so the first
complaint is on the 0.1 % line (1 in 1,000) and the second carries the rate over it."""
PROVIDER = "google"
PROVIDER_DOMAIN = "gmail.com"
DENY_RULE = "account-broadcasts-disabled"
PRE_T0_S = 0.25
"""Requests for the probe account sent before its threshold-crossing complaint."""
TAIL_S = 0.3
"""Requests still sent after the first denial is read (any allow among them is a violation)."""
HOP_TOPIC = TopicSpec("bench-hop", "benchmark baseline: one produce -> consume hop")
HOPS_TO_ENFORCEMENT = 3
HOPS_TO_TABLE = 4
CHAIN = (
    "feedback-reports -> [act_on_feedback] rate-events -> [keep_rates] rate-breaches -> "
    "[enforce_accounts] enforcement-events -> every worker's copy (broadcast fence) "
    "-> [decide_sends] the next send-decision"
)


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


def reader_address(tag: str, number: int, index: int) -> str:
    return f"reader{index}.p{number}.{tag}@{PROVIDER_DOMAIN}"


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
        await follow_from_end(self.consumer, self.topics.values())

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
        await follow_from_end(self.consumer, [self.topic])

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
