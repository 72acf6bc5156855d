"""The keepers' handlers: one record in, a table folded and what it implies emitted.

Each handler decodes its record (bad input goes to dead-letters with its origin and the reason),
reads the recipient's state through the typed tables, calls the pure fold of its domain, writes
the result and emits what follows: suppression changes, bounce changes, consent notices, and the
suppressions a hard bounce, a complaint or an unsubscribe reply asks for, which go through
`unsubscribe-clicks` like every suppression so the state fence orders them all.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from datetime import datetime, timedelta
from typing import Any, Protocol

from streams.bounces.history import apply_delivery, suppression_for_bounce
from streams.bounces.inbound import read_inbound
from streams.consent.fold import apply_consent_event, apply_opt_out
from streams.consent.notices import due_notices, next_deadline
from streams.consent.timing import check_event_time
from streams.core.clock import from_epoch_ms, to_epoch_ms
from streams.core.errors import InvalidRecordError
from streams.core.logs import where
from streams.core.records import (
    ConsentDeadline,
    DeliveryEvent,
    FeedbackReport,
    InboundMail,
    UnsubscribeClick,
)
from streams.gate.app import Gate
from streams.gate.enforcer import (
    count_complaint,
    count_delivery,
)
from streams.gate.handling import (
    coordinates,
    dead_letter,
    decode_keyed,
    decode_record,
    recipient_key_of,
)
from streams.gate.tables import stored
from streams.privacy.erasure import (
    erasure_click,
    erasure_entry,
    erasure_event,
    predates_erasure,
    request_id_of,
    state_places,
    suppression_place,
)
from streams.privacy.rectification import check_correction_time, moved_consent_events
from streams.sending.verp import VERP_PREFIX, ForgedVerpError
from streams.suppression.feedback import suppression_for_report
from streams.suppression.fold import apply_click
from streams.suppression.mailto import is_mailto_unsubscribe, mailto_unsubscribe
from streams.topics import (
    ADDRESS_CORRECTIONS,
    BOUNCE_CHANGES,
    CONSENT_DEADLINES,
    CONSENT_EVENTS,
    CONSENT_NOTICES,
    DELIVERY_EVENTS,
    ERASURE_EVENTS,
    ERASURE_REQUESTS,
    FEEDBACK_REPORTS,
    INBOUND_MAIL,
    SUPPRESSION_CHANGES,
    UNSUBSCRIBE_CLICKS,
    erasure_sweep_after_s,
)

__all__ = [
    "act_on_address_correction",
    "act_on_erasure_request",
    "act_on_feedback",
    "check_consent_deadline",
    "erase_person",
    "erased_earlier",
    "keep_bounce",
    "keep_consent",
    "keep_deadline",
    "keep_suppression",
    "nudge_due_consents",
    "parse_inbound",
    "request_suppression",
]

log = logging.getLogger("streams.gate.agents")

_DEADLINE = struct.Struct(">q")
"""A consent deadline in its table: epoch milliseconds, big-endian."""

SCAN_YIELD_EVERY = 1000
"""The consent timer's table scan (after a recovery) gives the event loop back this often."""


async def keep_suppression(gate: Gate, message: Any) -> None:
    """Fold one unsubscribe click into the suppressions table, and into the consents (one click
    changes both in one step, so the state fence covers both). An erasure's suppression deletes
    the person's other state in that same step."""
    click = await decode_keyed(gate, message, UNSUBSCRIBE_CLICKS, "keep_suppressions")
    if click is None:
        return
    state = gate.suppressions.get(message.key)
    new_state, change = apply_click(state, click, source=coordinates(message), now=gate.clock.now())
    gate.suppressions.update(message.key, state, new_state)
    request_id = request_id_of(click)
    if request_id is not None:
        await gate.emit(SUPPRESSION_CHANGES, change, partition=message.partition)
        await erase_person(gate, message, click.recipient_key, request_id)
        return
    consents = gate.consents.get(message.key)
    new_consents = apply_opt_out(consents, click)
    if new_consents != consents:
        gate.consents.update(message.key, consents, new_consents)
        keep_deadline(gate, message.key, next_deadline(new_consents, gate.policy.consent))
    # co-partitioned: the change goes to the click's own partition
    await gate.emit(SUPPRESSION_CHANGES, change, partition=message.partition)


async def erase_person(gate: Gate, message: Any, recipient_key: str, request_id: str) -> None:
    """Delete every entry the worker holds about the person but the suppression just written,
    and say so on erasure-events (the suppression, then the state). Run again for a replayed
    click, it deletes nothing more and reports the same steps under the same ids."""
    key = message.key
    had_deadline = stored(gate.deadline_table, key) is not None
    sweep_at = gate.clock.now() + timedelta(seconds=erasure_sweep_after_s(gate.settings))
    keep_deadline(gate, key, sweep_at)  # the consent agent sweeps the changelogs then
    consents = gate.consents.delete(key)
    deleted = {
        "consents": consents,
        "bounces": gate.bounces.delete(key),
        "send_history": gate.send_history.delete(key),
        "rate_inputs": gate.enforcement.rate_inputs.delete(key),
        # a deadline comes with a consent; without one it is a sweep time of an earlier erasure
        "consent_deadlines": int(had_deadline and consents > 0),
    }
    now = gate.clock.now()
    steps = (
        erasure_event(request_id, recipient_key, "suppressed", (suppression_place(now),), now),
        erasure_event(request_id, recipient_key, "state_erased", state_places(deleted, now), now),
    )
    for step in steps:
        await gate.emit(ERASURE_EVENTS, step, partition=message.partition)
    log.info(
        "keep_suppressions: %s: erasure %s: %d table entries deleted",
        coordinates(message),
        request_id,
        sum(deleted.values()),
        extra=where(message),
    )


def sweep_erased_state(gate: Gate, key: bytes) -> None:
    """An erased person's tables, a segment after the erasure: one more tombstone on each
    changelog where the person still has no entry, so that Kafka rolls the segment holding the
    first ones and compacts the old values away even on a partition nothing else writes to."""
    for table in (
        gate.consents,
        gate.bounces,
        gate.send_history,
        gate.enforcement.rate_inputs,
    ):
        table.tombstone_again(key)


async def act_on_erasure_request(gate: Gate, message: Any) -> None:
    """An erasure request becomes its platform suppression, on the topic every suppression takes
    (`sendgate erase` publishes that suppression itself first, so the fence covers it from the
    moment the request is acknowledged; a platform's own tools may publish the request alone)."""
    request = await decode_keyed(gate, message, ERASURE_REQUESTS, "act_on_erasure_requests")
    if request is None:
        return
    click = erasure_click(request)
    state = gate.suppressions.get(message.key)
    if state is not None and click.click_id in state.applied_event_ids:
        return  # `sendgate erase` published it already, and it is in place
    await request_suppression(gate, click, partition=message.partition)
    # On the broker before this request counts as handled: the erasure fence then leaves it to
    # the clicks' fence, which must find the suppression below its end offset.
    await gate.emitter.flush()


async def act_on_address_correction(gate: Gate, message: Any) -> None:
    """A corrected address: the old key's live consents move to the new key as consent events,
    which the consent keepers of both keys fold like any other.

    The old key's events go to this message's partition (co-partitioned, where its consents are
    kept); the new key's go where the producer hashes the new key. The new key's are flushed to
    the broker before the old key's are emitted: a correction cut short and read again must still
    find the old key's consents live, or the ones it moves would be lost on the way."""
    agent = "act_on_address_corrections"
    correction = await decode_record(gate, message, ADDRESS_CORRECTIONS, agent)
    if correction is None:
        return
    try:
        if recipient_key_of(message) != correction.old_recipient_key:
            raise InvalidRecordError("record key differs from its old_recipient_key field")
        check_correction_time(
            correction, gate.clock.now(), gate.policy.consent.event_time_tolerance_s
        )
    except InvalidRecordError as exc:
        await dead_letter(gate, message, agent, exc)
        return
    events = moved_consent_events(correction, gate.consents.get(message.key))
    old_key = correction.old_recipient_key
    for event in events:
        if event.recipient_key != old_key:
            await gate.emit(CONSENT_EVENTS, event)
    withdrawals = [event for event in events if event.recipient_key == old_key]
    if withdrawals:
        await gate.emitter.flush()
    for event in withdrawals:
        await gate.emit(CONSENT_EVENTS, event, partition=message.partition)
    log.info(
        "%s: %s: correction %s: %d consents moved",
        agent,
        coordinates(message),
        correction.correction_id,
        len(withdrawals),
        extra=where(message),
    )


def erased_earlier(gate: Gate, key: bytes, occurred_at: datetime) -> bool:
    """Whether an event of `occurred_at` is about the person before their erasure: such an event
    (late, or a topic replayed) must not bring back state the erasure deleted."""
    return predates_erasure(gate.suppressions.get(key), occurred_at)


def keep_deadline(gate: Gate, key: bytes, due: datetime | None) -> None:
    """Remember the recipient's next consent deadline in the index and in its small table.

    The table (recipient key -> epoch ms) holds only recipients with a deadline (implied consents),
    so the scan that rebuilds the index after a recovery reads a few bytes per such person instead
    of decoding every consent state.
    """
    gate.deadlines.watch(key, due)
    held = stored(gate.deadline_table, key)
    if due is None:
        if held is not None:
            del gate.deadline_table[key]
        return
    encoded = _DEADLINE.pack(to_epoch_ms(due))
    if held != encoded:
        gate.deadline_table[key] = encoded


async def keep_consent(gate: Gate, message: Any) -> None:
    """Fold one consent event into the consents table."""
    event = await decode_keyed(gate, message, CONSENT_EVENTS, "keep_consents")
    if event is None:
        return
    try:
        check_event_time(event, gate.clock.now(), gate.policy.consent)
    except InvalidRecordError as exc:
        await dead_letter(gate, message, "keep_consents", exc)
        return
    if erased_earlier(gate, message.key, event.occurred_at):
        log.debug(
            "keep_consents: %s: before the recipient's erasure, not kept", coordinates(message)
        )
        return
    state = gate.consents.get(message.key)
    fold = apply_consent_event(state, event, gate.policy.consent)
    gate.consents.update(message.key, state, fold.state)
    keep_deadline(gate, message.key, next_deadline(fold.state, gate.policy.consent))
    log.debug("keep_consents: %s %s", coordinates(message), fold.outcome)


async def check_consent_deadline(gate: Gate, message: Any) -> None:
    """Emit the consent notices due for one recipient, each once (the table remembers)."""
    nudge = await decode_keyed(gate, message, CONSENT_DEADLINES, "check_consent_deadlines")
    if nudge is None:
        return
    if erasure_entry(gate.suppressions.get(message.key)) is not None:
        sweep_erased_state(gate, message.key)
    state = gate.consents.get(message.key)
    if state is None:
        keep_deadline(gate, message.key, None)
        return
    new_state, notices = due_notices(
        state, nudge.recipient_key, gate.policy.consent, now=gate.clock.now()
    )
    for notice in notices:
        await gate.emit(CONSENT_NOTICES, notice)
    gate.consents.update(message.key, state, new_state)
    keep_deadline(gate, message.key, next_deadline(new_state, gate.policy.consent))


async def request_suppression(
    gate: Gate, click: UnsubscribeClick, partition: int | None = None
) -> None:
    """Ask the suppression keeper for a suppression, through the topic every suppression takes.

    Same key, same partition count: the click lands on the partition of the recipient's state,
    and the gate's fence then covers it like any unsubscribe. `partition` is that partition when
    the caller holds a record keyed by the same recipient key (it saves hashing the key again).
    """
    await gate.emit(UNSUBSCRIBE_CLICKS, click, partition=partition)


async def keep_bounce(gate: Gate, message: Any) -> None:
    """Fold one delivery event into the bounce history; suppress a hard-bounced address."""
    event = await decode_keyed(gate, message, DELIVERY_EVENTS, "keep_bounce_history")
    if event is None:
        return
    if erased_earlier(gate, message.key, event.occurred_at):
        log.debug(
            "keep_bounce_history: %s: before the recipient's erasure, not kept",
            coordinates(message),
        )
        return
    state = gate.bounces.get(message.key)
    fold = apply_delivery(
        state, event, gate.policy.soft_bounce, source=coordinates(message), now=gate.clock.now()
    )
    gate.bounces.update(message.key, state, fold.state)
    await gate.emit(BOUNCE_CHANGES, fold.change, partition=message.partition)
    await count_delivery(gate, message, event)
    if fold.suppress:
        await request_suppression(gate, suppression_for_bounce(event), message.partition)


async def act_on_feedback(gate: Gate, message: Any) -> None:
    """Turn a complaint or opt-out report into the suppression it implies."""
    report = await decode_keyed(gate, message, FEEDBACK_REPORTS, "act_on_feedback")
    if report is None:
        return
    # A complaint about mail before the person's erasure is not counted: counting keeps per-person
    # state, and with the consents erased it would read as a complaint without an opt-in.
    if not erased_earlier(gate, message.key, report.arrival_date or report.received_at):
        await count_complaint(gate, message, report)
    click = suppression_for_report(report)
    if click is not None:
        await request_suppression(gate, click, partition=message.partition)


def _verp_recipient_key(gate: Gate, token: str) -> str | None:
    try:
        return gate.signing.verp.verify(f"{VERP_PREFIX}{token}")
    except ForgedVerpError:
        return None


async def parse_inbound(gate: Gate, message: Any) -> None:
    """Read one inbound message and emit the delivery events, reports or unsubscribes in it."""
    mail = await decode_record(gate, message, INBOUND_MAIL, "parse_inbound_mail")
    if mail is None:
        return
    if is_mailto_unsubscribe(mail, gate.settings.bounce_domain):
        await unsubscribe_by_mail(gate, message, mail)
        return
    outcome = read_inbound(
        mail,
        keywords=gate.policy.unsubscribe_reply_keywords,
        source=coordinates(message),
        recipient_key=gate.keyer.key,
        verp_recipient_key=lambda token: _verp_recipient_key(gate, token),
        provider_of=gate.enforcement.providers.provider_of_address,
    )
    if outcome.forged_verp:
        log.warning(
            "parse_inbound_mail: %s: a VERP token does not verify",
            coordinates(message),
            extra=where(message),
        )
    if outcome.rejection is not None:
        await dead_letter(
            gate, message, "parse_inbound_mail", InvalidRecordError(outcome.rejection)
        )
    else:
        await emit_inbound(gate, outcome)


class _Said(Protocol):
    """What an inbound message or an ESP webhook said (`InboundOutcome`, `EspOutcome`)."""

    @property
    def delivery_events(self) -> tuple[DeliveryEvent, ...]: ...
    @property
    def feedback_reports(self) -> tuple[FeedbackReport, ...]: ...
    @property
    def unsubscribes(self) -> tuple[UnsubscribeClick, ...]: ...


async def emit_inbound(gate: Gate, outcome: _Said) -> None:
    """What one inbound message or ESP webhook said, each to the topic the state keepers read
    it from."""
    for event in outcome.delivery_events:
        await gate.emit(DELIVERY_EVENTS, event)
    for report in outcome.feedback_reports:
        await gate.emit(FEEDBACK_REPORTS, report)
    for click in outcome.unsubscribes:
        await request_suppression(gate, click)


async def unsubscribe_by_mail(gate: Gate, message: Any, mail: InboundMail) -> None:
    """A reply to the list headers' mailto address: the same unsubscribe as a one-click POST
    with the token the subject carries."""
    click = mailto_unsubscribe(mail, gate.signing.tokens, now=gate.clock.now())
    if isinstance(click, str):
        await dead_letter(gate, message, "parse_inbound_mail", InvalidRecordError(click))
    else:
        await request_suppression(gate, click)


async def nudge_due_consents(gate: Gate) -> int:
    """The consent timer's tick: ask the consent agent to look at every recipient with a notice
    due (after a recovery, first read the table into the index). Returns the nudges sent."""
    index = gate.deadlines
    if index.needs_scan:
        index.needs_scan = False
        try:
            for scanned, (key, raw) in enumerate(gate.deadline_table.items(), start=1):
                (due_ms,) = _DEADLINE.unpack(raw)
                index.watch(key, from_epoch_ms(due_ms))
                if scanned % SCAN_YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a large table must not stall the agents
        except RuntimeError:  # the in-memory store changed under the scan: scan again next tick
            index.needs_scan = True
    now = gate.clock.now()
    due = index.pop_due(now)
    for key in due:
        nudge = ConsentDeadline(recipient_key=key.decode("ascii"), due_at=now, requested_at=now)
        await gate.emit(CONSENT_DEADLINES, nudge)
    return len(due)
