"""The rate keeper and the enforcer: thin handlers over the pure steps of `streams.reputation`
(`rate_inputs` per recipient, `steps` for the rates, fines and standings).

Each stage runs where its state is partitioned (see `streams.gate.app.Enforcement`):

1. Per recipient, inside the bounce and feedback agents (`count_delivery`, `count_complaint`):
   each delivery, hard bounce and complaint is handed on once to `rate-events`, keyed
   `account|provider` and `account|*`, with the provider the recipient's events named. A
   complaint the recipient's consent history cannot back gets a fine assessment.
2. Per (account, provider), `keep_rate`: count into the `rates` table, judge the window (at once
   when the policy says so, and every closed window once its lateness has passed), and hand each
   new breach on to `rate-breaches`, keyed by account. A daily tick per key (`tick_rates`, a
   timer, through `rate-ticks`) judges the windows of keys that had no event since they closed.
3. Per account, `enforce`: the strike ladder on the `standings` table, the gate's misuse
   reports from `content-misuse` (`streams.reputation.misuse`), and operators' reinstatements
   from `account-commands`; the actions go to `enforcement-events`.
4. Every worker: its own copy of `enforcement-events` (`streams.gate.broadcast`) keeps each
   account's latest `status_after` (`account_of_record`), fenced like the unsubscribe clicks; the
   `check_enforcement_events` agent dead-letters what no copy can use.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, NamedTuple

from streams.core.bounce_reasons import is_sender_refusal
from streams.core.errors import CodecError, InvalidRecordError
from streams.core.records import DeliveryEvent, FeedbackReport
from streams.gate import metrics
from streams.gate.app import Gate
from streams.gate.copies import account_of_record
from streams.gate.handling import coordinates, dead_letter, dead_letter_unusable
from streams.privacy.erasure import predates_erasure
from streams.reputation.events import enforcement_events
from streams.reputation.rate_inputs import (
    RateTick,
    RecipientRates,
    admit,
    learn_provider,
    parse_rates_key,
)
from streams.reputation.rates import EventKind, bucket_start
from streams.reputation.standing import (
    AccountSnapshot,
    BreachReport,
    EnforcementEvent,
)
from streams.reputation.steps import COMPLAINT_TYPES, apply_to_standing, complaint_fine, count_rate
from streams.reputation.strikes import AccountStanding
from streams.topics import (
    ACCOUNT_COMMANDS,
    CONTENT_MISUSE,
    ENFORCEMENT_EVENTS,
    RATE_BREACHES,
    RATE_EVENTS,
    RATE_TICKS,
    SEND_DECISIONS,
    TopicSpec,
)

__all__ = [
    "check_enforcement_event",
    "count_allowed_send",
    "count_complaint",
    "count_delivery",
    "enforce",
    "keep_rate",
    "read_account",
    "tick_rates",
]

log = logging.getLogger(__name__)


async def _decoded(
    gate: Gate, message: Any, agent: str, *specs: TopicSpec, check_key: bool = True
) -> Any:
    """The record in `message`, of one of the types the topics of `specs` carry (an agent may
    read several), its Kafka key checked against the key the catalogue gives it on its topic;
    None after dead-lettering a bad one."""
    carried = {spec.record: spec for spec in specs if spec.record is not None}
    try:
        record = gate.codec.decode_one_of(message.value or b"", tuple(carried))
        spec = carried[type(record)]
        if check_key and message.key != spec.key_of(record, gate.keyer):
            raise InvalidRecordError(f"record key is not the key {spec.name} records carry")
    except (CodecError, InvalidRecordError) as exc:
        await dead_letter(gate, message, agent, exc)
        return None
    return record


# --- stage 1: per recipient ------------------------------------------------------------------


class Handed(NamedTuple):
    outcome: str
    provider: str | None


async def _hand_on(
    gate: Gate,
    key: bytes,
    *,
    event_id: str,
    kind: EventKind | None,
    account_id: str | None,
    provider: str | None,
    occurred_at: Any,
) -> Handed:
    """Learn the recipient's provider, and hand the event on to the rates (kind None: learn
    only). Returns the admission outcome (or `learnt`) and the provider now known."""
    state = gate.enforcement.rate_inputs.get(key)
    if kind is None:
        learnt = learn_provider(state, provider)
        gate.enforcement.rate_inputs.update(key, state, learnt)
        known = learnt or state
        return Handed("learnt", known.provider if known else None)
    fold = admit(
        state,
        event_id=event_id,
        kind=kind,
        account_id=account_id,
        provider=provider,
        occurred_at=occurred_at,
        now=gate.clock.now(),
        policy=gate.policy.rates,
    )
    for event in fold.events:
        await gate.emit(RATE_EVENTS, event)
    if fold.state != (state or RecipientRates()):
        gate.enforcement.rate_inputs.put(key, fold.state)
    return Handed(fold.outcome, fold.state.provider)


async def count_delivery(gate: Gate, message: Any, event: DeliveryEvent) -> None:
    """A delivery counts as volume (when the policy counts deliveries), a hard bounce as a
    bounce, a bounce that refused the sender as a block; every event teaches the recipient's
    provider."""
    kind: EventKind | None = None
    if event.kind == "delivered" and gate.policy.enforcement.volume == "delivered":
        kind = "delivered"
    elif event.kind == "bounced" and event.bounce_class == "hard":
        kind = "hard_bounce"
    elif event.kind == "bounced" and is_sender_refusal(event.reason):
        kind = "block"
    await _hand_on(
        gate,
        message.key,
        event_id=f"delivery:{event.event_id}",
        kind=kind,
        account_id=event.account_id,
        provider=event.provider,
        occurred_at=event.occurred_at,
    )


async def count_allowed_send(gate: Gate, message: Any) -> None:
    """With the policy's `volume = "allowed_sends"`: an allowed decision counts as volume."""
    decision = await _decoded(gate, message, "count_allowed_sends", SEND_DECISIONS, check_key=False)
    if decision is None or decision.verdict != "allow":
        return
    if predates_erasure(gate.suppressions.get(message.key), decision.decided_at):
        return  # the person was erased since: their rate hand-off is gone and stays gone
    await _hand_on(
        gate,
        message.key,
        event_id=f"send:{decision.account_id}:{decision.request_id}",
        kind="delivered",
        account_id=decision.account_id,
        provider=decision.provider,
        occurred_at=decision.decided_at,
    )


async def count_complaint(gate: Gate, message: Any, report: FeedbackReport) -> None:
    """A spam complaint counts against its account at the recipient's provider, and is fined
    when the recipient's consent history shows no opt-in for that account."""
    if report.feedback_type not in COMPLAINT_TYPES:
        return
    handed = await _hand_on(
        gate,
        message.key,
        event_id=f"report:{report.report_id}",
        kind="complaint",
        account_id=report.account_id,
        provider=report.provider,
        occurred_at=report.arrival_date or report.received_at,
    )
    log.debug("count_complaint: %s %s", coordinates(message), handed.outcome)
    fine = complaint_fine(
        report,
        gate.consents.get(message.key),
        provider=handed.provider,
        replayed=handed.outcome == "replayed",
        enforcement=gate.policy.enforcement,
        consent=gate.policy.consent,
        policy_version=gate.policy.policy_version,
    )
    if fine is not None:
        await _emit_enforcement(gate, fine)


# --- stage 2: per (account, provider) --------------------------------------------------------


async def keep_rate(gate: Gate, message: Any) -> None:
    """Count one rate event (or take the timer's tick) and hand on every breach it, or the
    passing of time, reveals."""
    record = await _decoded(gate, message, "keep_rates", RATE_EVENTS, RATE_TICKS)
    if record is None:
        return
    now = gate.clock.now()
    state = gate.enforcement.rates.get(message.key)
    step = count_rate(state, record, offset=message.offset, now=now, policy=gate.policy.rates)
    gate.enforcement.rates.update(message.key, state, step.state)
    version = gate.policy.policy_version
    for breach in step.breaches:
        report = BreachReport(
            account_id=record.account_id, breach=breach, policy_version=version, detected_at=now
        )
        await gate.emit(RATE_BREACHES, report)


async def tick_rates(gate: Gate) -> int:
    """The rate keeper's timer: once a day (a new bucket), nudge every (account, provider) key
    this worker holds, so windows that closed while nothing happened for a key are judged too.
    Returns the ticks sent."""
    policy = gate.policy.rates
    now = gate.clock.now()
    today = bucket_start(now, policy)
    enforcement = gate.enforcement
    if enforcement.last_tick_bucket == today:
        return 0
    sent = 0
    try:
        keys = enforcement.rates.keys()
    except RuntimeError:  # the store changed under the scan: try again on the next tick
        return 0
    for key in keys:
        parsed = parse_rates_key(key)
        if parsed is None:
            continue
        account, provider = parsed
        tick = RateTick(account_id=account, provider=provider, at=now)
        await gate.emit(RATE_TICKS, tick)
        sent += 1
        if sent % TICK_YIELD_EVERY == 0:
            await asyncio.sleep(0)
    enforcement.last_tick_bucket = today
    return sent


TICK_YIELD_EVERY = 1000


# --- stage 3: per account --------------------------------------------------------------------


async def enforce(gate: Gate, message: Any) -> None:
    """Apply one breach (the strike ladder), one misuse report (the misuse count) or one
    operator's reinstatement to the account."""
    record = await _decoded(
        gate, message, "enforce_accounts", RATE_BREACHES, ACCOUNT_COMMANDS, CONTENT_MISUSE
    )
    if record is None:
        return
    standings = gate.enforcement.standings
    standing = standings.get(message.key) or AccountStanding(account_id=record.account_id)
    step = apply_to_standing(
        standing,
        record,
        now=gate.clock.now(),
        strikes=gate.policy.strikes,
        enforcement=gate.policy.enforcement,
    )
    if step.outcome is not None:
        log.info("enforce_accounts: %s %s", coordinates(message), step.outcome)
    if step.standing != standing:
        standings.put(message.key, step.standing)
    version = gate.policy.policy_version
    for event in enforcement_events(
        step.actions, standing_after=step.standing, policy_version=version
    ):
        await _emit_enforcement(gate, event)


async def _emit_enforcement(gate: Gate, event: EnforcementEvent) -> None:
    await gate.emit(ENFORCEMENT_EVENTS, event)
    metrics.ENFORCEMENT_EVENTS.labels(event.action).inc()


# --- every worker: its copy of the enforcement events ----------------------------------------


async def check_enforcement_event(gate: Gate, message: Any) -> None:
    """Dead-letter an enforcement event no worker's copy can use; good ones need nothing here."""
    await dead_letter_unusable(gate, message, "check_enforcement_events", account_of_record)


def read_account(gate: Gate, account_id: str) -> AccountSnapshot | None:
    return gate.accounts.get(account_id.encode())
