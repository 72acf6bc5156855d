"""What every decision of the soak is checked against, and the reader that checks them.

The gate's promise (README, "Ordering across topics: the state fence"): once Kafka has
acknowledged an unsubscribe click, every send request for that person produced afterwards is
denied. The soak keeps its own record of every suppression it caused (`Registry`), from the
moment this process knew it was on the broker:

- its own clicks (the random ones and the probes'), from their acknowledgement;
- a complaint's suppression, which the gate's `act_on_feedback` writes to `unsubscribe-clicks` as
  a click of its own (`feedback:<report id>`), from when this process read that click.

A send request is "after" a suppression when the soak handed it to the producer after that
moment (`SendLog` keeps the time), so it was produced after it too. Every decision the gate writes
is read (`DecisionReader`), and an allow for a send after a suppression that covers it (its
recipient, and the list, the account or everything) is an allowed suppressed send: the soak fails
on one. In the same way, a broadcast of an account allowed after this process read the account's
`broadcasts_disabled` (or `account_terminated`) record breaks the broadcast fence's promise.

Consent withdrawals are counted, not failed: consent events are not fenced (README, "Notes and
known limits"), so a send decided before the consent keeper applies a withdrawal may be allowed.
The figure says how many were, and how long after the withdrawal's acknowledgement the last was.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer
from harness.consuming import follow_from_end
from harness.stats import latency_summary

from soaking.workload import SendLog
from streams.core.records import SendDecision, SuppressionScope, UnsubscribeClick
from streams.core.settings import Settings
from streams.reputation.standing import EnforcementEvent
from streams.topics import ENFORCEMENT_EVENTS, SEND_DECISIONS, UNSUBSCRIBE_CLICKS, default_codec

__all__ = [
    "BLOCKING_ACTIONS",
    "Checker",
    "DecisionReader",
    "ProbeRecord",
    "Registry",
    "Suppression",
]

BLOCKING_ACTIONS = frozenset({"broadcasts_disabled", "account_terminated"})
"""Enforcement actions after which the account's broadcasts are denied until reinstated."""
_SAMPLES = 20
"""Violations kept in full for the report; the rest are counted."""


@dataclass(frozen=True, slots=True)
class Suppression:
    """One suppression the soak caused, and when it knew the suppression was on the broker."""

    scope: SuppressionScope
    account: str | None
    list_id: str | None
    since: float
    """Wall clock: the click's acknowledgement, or when the complaint's click was read."""
    source: str
    """"click", "probe" or "complaint"."""

    def covers(self, account: str, list_id: str | None) -> bool:
        """Whether a send of `account` to `list_id` is one this suppression must deny."""
        if self.scope == "platform":
            return True
        if self.scope == "account":
            return account == self.account
        return account == self.account and list_id == self.list_id


@dataclass(slots=True)
class ProbeRecord:
    """A probe: a list click for a person with no suppression yet, then sends to them and that
    list at once. Its figures count the sends to that list requested after the acknowledgement
    (the load's among them): the person's mail to the account's other list stays allowed."""

    account: str
    list_id: str
    acked: float = float("inf")
    """Wall clock; infinite until the click is acknowledged."""
    decided: int = 0
    allowed: int = 0
    first_deny_ms: int | None = None
    """CreateTime of the first later send's deny."""


@dataclass
class Registry:
    """The suppressions, withdrawals and account blocks the soak knows of, by recipient key."""

    suppressions: dict[bytes, list[Suppression]] = field(default_factory=dict)
    withdrawn: dict[tuple[bytes, str], float] = field(default_factory=dict)
    blocked: dict[str, float] = field(default_factory=dict)
    probes: dict[bytes, ProbeRecord] = field(default_factory=dict)

    def suppress(self, key: bytes, suppression: Suppression) -> None:
        self.suppressions.setdefault(key, []).append(suppression)

    def is_clear(self, key: bytes, account: str) -> bool:
        """No suppression, withdrawal or probe on the person yet: a send to them is allowed
        unless something new stops it."""
        return (
            key not in self.suppressions
            and (key, account) not in self.withdrawn
            and key not in self.probes
            and account not in self.blocked
        )

    def suppression_before(
        self, key: bytes, account: str, list_id: str | None, requested_at: float
    ) -> Suppression | None:
        """The first suppression known before the send was requested that covers it."""
        for suppression in self.suppressions.get(key, ()):
            if suppression.since <= requested_at and suppression.covers(account, list_id):
                return suppression
        return None

    def withdrawn_before(self, key: bytes, account: str, requested_at: float) -> float | None:
        since = self.withdrawn.get((key, account))
        return since if since is not None and since <= requested_at else None

    def blocked_before(self, account: str, requested_at: float) -> float | None:
        since = self.blocked.get(account)
        return since if since is not None and since <= requested_at else None


@dataclass
class Checker:
    """Every decision, click and enforcement event the reader sees, checked and counted."""

    registry: Registry
    sends: SendLog
    decided: bytearray = field(default_factory=bytearray)
    """Per send number: 1 once a decision for it was read."""
    distinct: int = 0
    duplicates: int = 0
    other_decisions: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    deny_rules: Counter[str] = field(default_factory=Counter)
    allowed_suppressed: Counter[str] = field(default_factory=Counter)
    """By the suppression's source."""
    allowed_after_block: int = 0
    allowed_after_withdrawal: int = 0
    withdrawal_lag_s: float = 0.0
    """The longest time from a withdrawal's acknowledgement to a send allowed after it."""
    samples: list[dict[str, Any]] = field(default_factory=list)
    complaint_clicks: int = 0
    enforcement: Counter[str] = field(default_factory=Counter)
    """"account: action" -> records."""

    def decision(self, key: bytes, decision: SendDecision, created_ms: int) -> None:
        number = self.sends.number_of(decision.request_id)
        if number is None:
            self.other_decisions += 1
            return
        if len(self.decided) <= number:
            self.decided.extend(bytes(number + 1 - len(self.decided) + 65_536))
        first = not self.decided[number]
        if first:
            self.decided[number] = 1
            self.distinct += 1
            self.verdicts[decision.verdict] += 1
            self.deny_rules.update(failure.rule for failure in decision.failures)
        else:
            self.duplicates += 1
        requested_at = self.sends.requested_at[number]
        account, list_id = decision.account_id, self.sends.list_of(number)
        probe = self.registry.probes.get(key)
        if (
            probe is not None
            and first
            and requested_at >= probe.acked
            and (account, list_id) == (probe.account, probe.list_id)
        ):
            probe.decided += 1
            if decision.verdict == "deny" and probe.first_deny_ms is None:
                probe.first_deny_ms = created_ms
            elif decision.verdict == "allow":
                probe.allowed += 1
        if decision.verdict != "allow":
            return
        suppression = self.registry.suppression_before(key, account, list_id, requested_at)
        if suppression is not None:
            self.allowed_suppressed[suppression.source] += 1
            self._sample("allowed suppressed", decision, list_id, requested_at - suppression.since)
        blocked = self.registry.blocked_before(account, requested_at)
        if blocked is not None:
            self.allowed_after_block += 1
            self._sample("allowed after the account was blocked", decision, list_id, 0.0)
        withdrawn = self.registry.withdrawn_before(key, account, requested_at)
        if withdrawn is not None:
            self.allowed_after_withdrawal += 1
            self.withdrawal_lag_s = max(self.withdrawal_lag_s, requested_at - withdrawn)

    def _sample(self, what: str, decision: SendDecision, list_id: str, after_s: float) -> None:
        if len(self.samples) < _SAMPLES:
            self.samples.append(
                {
                    "what": what,
                    "request_id": decision.request_id,
                    "account": decision.account_id,
                    "list": list_id,
                    "requested_after_s": round(after_s, 3),
                    "state_offsets": dict(decision.state_offsets),
                }
            )

    def click(self, key: bytes, click: UnsubscribeClick, received: float) -> None:
        """A complaint's suppression, written by the gate: known from now on."""
        if not click.click_id.startswith("feedback:"):
            return  # the soak's own: known from their acknowledgement
        self.complaint_clicks += 1
        self.registry.suppress(
            key, Suppression(click.scope, click.account_id, click.list_id, received, "complaint")
        )

    def enforcement_event(self, event: EnforcementEvent, received: float) -> None:
        self.enforcement[f"{event.account_id}: {event.action}"] += 1
        if event.action in BLOCKING_ACTIONS:
            self.registry.blocked.setdefault(event.account_id, received)
        elif event.action == "reinstated":
            self.registry.blocked.pop(event.account_id, None)

    def figures(self) -> dict[str, Any]:
        probes = list(self.registry.probes.values())
        latencies = [
            probe.first_deny_ms - probe.acked * 1000
            for probe in probes
            if probe.first_deny_ms is not None
        ]
        return {
            "decided": self.distinct,
            "duplicates": self.duplicates,
            "other_decisions": self.other_decisions,
            "verdicts": dict(self.verdicts),
            "deny_rules": dict(self.deny_rules.most_common()),
            "allowed_suppressed": sum(self.allowed_suppressed.values()),
            "allowed_suppressed_by_source": dict(self.allowed_suppressed),
            "allowed_after_block": self.allowed_after_block,
            "allowed_after_withdrawal": self.allowed_after_withdrawal,
            "withdrawal_lag_s": self.withdrawal_lag_s,
            "violation_samples": self.samples,
            "complaint_suppressions": self.complaint_clicks,
            "enforcement": dict(self.enforcement),
            "probes": len(probes),
            "probe_decisions": sum(probe.decided for probe in probes),
            "probe_allowed": sum(probe.allowed for probe in probes),
            "probe_latency": latency_summary(latencies),
            "probes_without_deny": sum(probe.first_deny_ms is None for probe in probes),
        }


class DecisionReader:
    """One consumer, no group, from the end of send-decisions, unsubscribe-clicks and
    enforcement-events: hands every record to the checker as it arrives."""

    def __init__(self, settings: Settings, checker: Checker) -> None:
        self.checker = checker
        self.codec = default_codec()
        self.decisions = SEND_DECISIONS.full_name(settings)
        self.clicks = UNSUBSCRIBE_CLICKS.full_name(settings)
        self.enforcement = ENFORCEMENT_EVENTS.full_name(settings)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )

    async def start(self) -> None:
        await asyncio.wait_for(self.consumer.start(), 15)
        await follow_from_end(self.consumer, [self.decisions, self.clicks, self.enforcement])

    async def stop(self) -> None:
        await self.consumer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        codec, checker = self.codec, self.checker
        while not stop.is_set():
            batches = await self.consumer.getmany(timeout_ms=200, max_records=5000)
            received = time.time()
            for tp, messages in batches.items():
                for message in messages:
                    key = message.key or b""
                    if tp.topic == self.decisions:
                        decision = codec.decode(message.value, SendDecision)
                        checker.decision(key, decision, message.timestamp)
                    elif tp.topic == self.clicks:
                        checker.click(key, codec.decode(message.value, UnsubscribeClick), received)
                    else:
                        event = codec.decode(message.value, EnforcementEvent)
                        checker.enforcement_event(event, received)
