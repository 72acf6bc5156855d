"""The gate's agents: decode, call the pure rules and folds, emit. Nothing else decides here.

- `keep_suppressions`: unsubscribe-clicks -> suppressions table (+ suppression-changes audit).
- `decide_batch`: send-requests -> send-decisions, behind the state fence (`streams.gate.fence`), a
  batch at a time: the decider (`streams.gate.decider`) reads the requests beside faust and hands
  them here.
- `keep_bounce_history`: delivery-events -> bounces table (+ bounce-changes audit); a hard
  bounce asks for a platform suppression on unsubscribe-clicks.
- `act_on_feedback`: feedback-reports -> the suppression a complaint or opt-out implies, again
  on unsubscribe-clicks, so the fence orders every suppression the same way.
- `parse_inbound_mail`: inbound-mail (raw DSNs, feedback reports, replies) -> delivery-events,
  feedback-reports and unsubscribe-clicks, keyed by recipient key (`streams.bounces.inbound`).
- `keep_consents`: consent-events -> consents table. Unsubscribe clicks reach the consents too,
  through `keep_suppressions`, so one click changes both tables in one step and the state fence
  covers both.
- `check_consent_deadlines`: consent-deadlines (nudges from the `nudge_consent_deadlines` timer,
  see `streams.consent.deadlines`) -> consent-notices (implied consent expiring, expired).

Both run with concurrency 1: their effects on one partition must happen in log order. Bad input
(undecodable bytes, an unknown schema, a record that fails validation, a key that is not the
record's recipient key) goes to dead-letters with its origin and the reason, and the agent goes on.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from time import monotonic
from typing import Any

from aiokafka.errors import KafkaError
from faust.streams import _current_event as faust_current_event
from faust.types import TP

from streams.bounces.history import apply_delivery, suppression_for_bounce
from streams.bounces.inbound import read_inbound
from streams.consent.fold import apply_consent_event, apply_opt_out
from streams.consent.notices import due_notices, next_deadline
from streams.consent.timing import check_event_time
from streams.core.clock import from_epoch_ms, to_epoch_ms
from streams.core.errors import CodecError, InvalidRecordError
from streams.core.records import (
    ConsentDeadline,
    ConsentEvent,
    DeliveryEvent,
    FeedbackReport,
    InboundMail,
    SendDecision,
    SendRequest,
    UnsubscribeClick,
)
from streams.gate.app import Gate, raw_topic
from streams.gate.decider import Hold, SendDecider
from streams.gate.emit import CollectingEmitter, Emitter
from streams.gate.enforcer import (
    check_enforcement_event,
    count_allowed_send,
    count_complaint,
    count_delivery,
    enforce,
    keep_rate,
    read_account,
    tick_rates,
)
from streams.gate.fence import FenceTimeoutError
from streams.gate.handling import (
    coordinates,
    dead_letter,
    decode_keyed,
    decode_record,
    decode_send_request,
)
from streams.gate.sender_domains import keep_sender_domains, read_sender_domains
from streams.gate.tables import stored
from streams.rules import RecipientView
from streams.rules.step import gate_step
from streams.sending.verp import VERP_PREFIX, ForgedVerpError
from streams.suppression.feedback import suppression_for_report
from streams.suppression.fold import apply_click
from streams.suppression.mailto import is_mailto_unsubscribe, mailto_unsubscribe
from streams.topics import (
    BOUNCE_CHANGES,
    CONSENT_NOTICES,
    CONTENT_MISUSE,
    DELIVERY_EVENTS,
    FEEDBACK_REPORTS,
    SEND_DECISIONS,
    SUPPRESSION_CHANGES,
    UNSUBSCRIBE_CLICKS,
)

__all__ = ["register_agents"]

log = logging.getLogger(__name__)

STALL_CHECK_INTERVAL_S = 3.0
STALL_AFTER_S = 12.0
"""A partition with records beyond its contiguous progress that has not moved for this long is
read again from its progress; shorter than the fence's timeout, longer than a normal pause."""

_DEADLINE = struct.Struct(">q")
"""A consent deadline in its table: epoch milliseconds, big-endian."""

SCAN_YIELD_EVERY = 1000
"""The consent timer's table scan (after a recovery) gives the event loop back this often."""


async def keep_suppression(gate: Gate, message: Any) -> None:
    """Fold one unsubscribe click into the suppressions table, and into the consents (one click
    changes both in one step, so the state fence covers both)."""
    click = await decode_keyed(gate, message, UnsubscribeClick, "keep_suppressions")
    if click is None:
        return
    state = gate.suppressions.get(message.key)
    new_state, change = apply_click(state, click, source=coordinates(message), now=gate.clock.now())
    gate.suppressions.update(message.key, state, new_state)
    consents = gate.consents.get(message.key)
    new_consents = apply_opt_out(consents, click)
    if new_consents != consents:
        gate.consents.update(message.key, consents, new_consents)
        keep_deadline(gate, message.key, next_deadline(new_consents, gate.policy.consent))
    # co-partitioned: the change goes to the click's own partition
    await gate.emit(SUPPRESSION_CHANGES, change, partition=message.partition)


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
    event = await decode_keyed(gate, message, ConsentEvent, "keep_consents")
    if event is None:
        return
    try:
        check_event_time(event, gate.clock.now(), gate.policy.consent)
    except InvalidRecordError as exc:
        await dead_letter(gate, message, "keep_consents", exc)
        return
    state = gate.consents.get(message.key)
    fold = apply_consent_event(state, event, gate.policy.consent)
    gate.consents.update(message.key, state, fold.state)
    keep_deadline(gate, message.key, next_deadline(fold.state, gate.policy.consent))
    log.debug("keep_consents: %s %s", coordinates(message), fold.outcome)


async def check_consent_deadline(gate: Gate, message: Any) -> None:
    """Emit the consent notices due for one recipient, each once (the table remembers)."""
    nudge = await decode_keyed(gate, message, ConsentDeadline, "check_consent_deadlines")
    if nudge is None:
        return
    state = gate.consents.get(message.key)
    if state is None:
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
    event = await decode_keyed(gate, message, DeliveryEvent, "keep_bounce_history")
    if event is None:
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
    report = await decode_keyed(gate, message, FeedbackReport, "act_on_feedback")
    if report is None:
        return
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
    mail = await decode_record(gate, message, InboundMail, "parse_inbound_mail")
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
        log.warning("parse_inbound_mail: %s: a VERP token does not verify", coordinates(message))
    if outcome.rejection is not None:
        await dead_letter(
            gate, message, "parse_inbound_mail", InvalidRecordError(outcome.rejection)
        )
        return
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


async def decide_send(
    gate: Gate,
    message: Any,
    state_offsets: Mapping[str, int],
    *,
    state_current: bool,
    out: Emitter | None = None,
) -> None:
    """Decide one send request (`streams.rules.step.gate_step`) and write what it leads to: the
    decision, the recipient's send history, a misuse report (to `out`: the batch's collector)."""
    try:
        request, recipient_key = decode_send_request(gate, message)
    except (CodecError, InvalidRecordError) as exc:
        await dead_letter(gate, message, "decide_sends", exc, emitter=out)
        return
    view = recipient_view(gate, message, request, recipient_key, state_current=state_current)
    outcome = gate_step(
        request,
        view,
        gate.policy,
        gate.clock.now(),
        recipient_key=recipient_key,
        signing=gate.signing,
        request_offset=coordinates(message),
        state_offsets=state_offsets,
    )
    gate.send_history.update(message.key, view.send_history, outcome.send_history)
    decision = gate.codec.encode_fields(SendDecision, outcome.decision)
    # send-decisions is co-partitioned with send-requests: the request's own partition
    await (out or gate.emitter).emit(
        gate.decisions_topic, message.key, decision, partition=message.partition
    )
    if outcome.misuse_report is not None:
        await gate.emit(CONTENT_MISUSE, outcome.misuse_report, out=out)


def recipient_view(
    gate: Gate, message: Any, request: SendRequest, recipient_key: str, *, state_current: bool
) -> RecipientView:
    """What this worker knows about the recipient and the account at this request: its tables,
    with the clicks the fence read ahead of the keeper folded in (in memory, the keeper's fold),
    and its copies of the account's standing and verified domains."""
    state = gate.suppressions.get(message.key)
    consents = gate.consents.get(message.key)
    for offset, click in pending_clicks(gate, message.partition, message.key, recipient_key):
        source = f"{gate.fence.state_topic}/{message.partition}/{offset}"
        state, _ = apply_click(state, click, source=source, now=gate.clock.now())
        consents = apply_opt_out(consents, click)
    return RecipientView(
        suppressions=state.entries if state else (),
        consents=consents.entries if consents else (),
        state_current=state_current,
        provider=gate.enforcement.providers.provider_of_address(request.recipient),
        account=read_account(gate, request.account_id),
        sender_domains=read_sender_domains(gate, request.account_id),
        send_history=gate.send_history.get(message.key),
    )


def pending_clicks(
    gate: Gate, partition: int, key: bytes, recipient_key: str
) -> Iterator[tuple[int, UnsubscribeClick]]:
    """The recipient's clicks the fence read ahead of the keeper (a bad one is left for the
    keeper to dead-letter when it gets there)."""
    for offset, raw in gate.fence.pending_for(partition, key):
        try:
            click = gate.codec.decode(raw, UnsubscribeClick)
        except (CodecError, InvalidRecordError):
            continue
        if click.recipient_key == recipient_key:
            yield offset, click


async def fence_batch(gate: Gate, partitions: set[int]) -> tuple[Mapping[int, int], bool]:
    """Wait until this worker's state holds everything acknowledged before the batch's sends were
    produced: the tables of newly assigned partitions restored (`streams.gate.restored`), the clicks
    of their partitions (`streams.gate.fence`) and the whole broadcast state
    (`streams.gate.broadcast`),
    asked of the broker at once. Returns the clicks' fence offsets and whether the state is
    current; when it cannot be confirmed, the batch fails closed."""
    try:
        fence, _, _ = await asyncio.gather(
            gate.fence.wait(partitions),
            gate.broadcast.current(),
            gate.restored.wait(partitions),
        )
    except FenceTimeoutError as exc:
        log.error("decide_sends: failing closed: %s", exc)
        return {}, False
    return fence, True


async def decide_batch(gate: Gate, records: Sequence[Any], hold: Hold) -> bool:
    """Decide a batch of send requests and write the decisions (`streams.gate.decider` reads them).

    First the fences (`fence_batch`), the batch's only wait, outside `hold`: a rebalance must not
    wait for a fence. Then inside `hold`, if it says the batch is still this worker's, every
    request is decided without giving the event loop back (what they emit is collected), so no
    rebalance can move a table while they read it; then everything is written, in the order
    decided. Returns False when the batch was dropped undecided."""
    fence, state_current = await fence_batch(gate, {record.partition for record in records})
    async with hold() as ours:
        if not ours:
            return False
        decided = CollectingEmitter()
        state_topic = gate.fence.state_topic
        for record in records:
            origin = TableContext(record)
            with reading_tables_of(origin):
                await decide_send(
                    gate,
                    record,
                    {state_topic: fence.get(record.partition, 0)},
                    state_current=state_current,
                    out=decided,
                )
        for item in decided.emitted:
            await gate.emitter.emit(item.topic, item.key, item.value, partition=item.partition)
    return True


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
        await gate.emitter.emit(gate.consent_deadlines_topic, key, gate.codec.encode(nudge))
    return len(due)


class TableContext:
    """What faust's tables read of the current event: its record (topic and partition)."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, message: Any) -> None:
        self.message = message


@contextmanager
def reading_tables_of(event: Any) -> Iterator[None]:
    """Table reads and writes for this event go to its partition's store and changelog only.

    faust's RocksDB store reads one partition when it knows the current event, and otherwise
    probes every partition's store (`key_may_exist` on each); a table write outside an event is
    refused. The decider's records are no faust events, so the gate names the record
    (`TableContext`): the request's partition holds its recipient's state (co-partitioning).
    faust keeps the current event in this context variable for exactly this purpose.
    """
    token = faust_current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_current_event.reset(token)


def register_agents(gate: Gate) -> None:
    """Attach the agents, timers and the decider to the gate's faust app."""
    input_topics: set[str] = set()
    gate.agents = _register_keepers(gate, input_topics)
    _register_timers(gate)
    decider = _register_decider(gate)
    _watch_partitions(gate, decider, input_topics)


def _register_keepers(gate: Gate, input_topics: set[str]) -> dict[str, Any]:
    """One agent per input channel, each handing every record to its handler in log order.
    `input_topics` collects what they read: the partitions whose progress the gate watches."""
    app = gate.app

    def each_record(channel: Any, name: str, handle: Any) -> Any:
        input_topics.update(channel.topics)

        async def agent(stream: Any) -> None:
            async for event in stream.events():
                await handle(gate, event.message)
                gate.progress.record(
                    (event.message.topic, event.message.partition),
                    event.message.offset,
                    monotonic(),
                )

        return app.agent(channel, name=name, concurrency=1)(agent)

    enforcement = gate.enforcement
    registered = {
        name: each_record(channel, name, handle)
        for name, channel, handle in (
            ("keep_suppressions", gate.unsubscribe_clicks, keep_suppression),
            ("keep_bounce_history", gate.delivery_events, keep_bounce),
            ("act_on_feedback", gate.feedback_reports, act_on_feedback),
            ("parse_inbound_mail", gate.inbound_mail, parse_inbound),
            ("keep_consents", gate.consent_events, keep_consent),
            ("check_consent_deadlines", gate.consent_deadlines, check_consent_deadline),
            ("keep_rates", enforcement.rate_keeper_inputs, keep_rate),
            ("enforce_accounts", enforcement.enforcer_inputs, enforce),
            ("check_enforcement_events", enforcement.enforcement_events, check_enforcement_event),
            ("keep_sender_domains", gate.sender_domains_topic, keep_sender_domains),
        )
    }
    if gate.policy.enforcement.volume == "allowed_sends":
        decisions = raw_topic(app, gate.settings, SEND_DECISIONS)
        registered["count_allowed_sends"] = each_record(
            decisions, "count_allowed_sends", count_allowed_send
        )
    return registered


def _register_timers(gate: Gate) -> None:
    app = gate.app

    @app.timer(interval=gate.settings.rates_timer_interval_s)
    async def tick_idle_rates() -> None:
        await tick_rates(gate)

    @gate.deadline_table.on_recover
    async def rescan_consent_deadlines() -> None:
        gate.deadlines.reset()

    @app.timer(interval=gate.settings.consent_timer_interval_s)
    async def nudge_consent_deadlines() -> None:
        await nudge_due_consents(gate)

    @app.task
    async def copy_broadcast_state() -> None:
        await gate.broadcast.run()


def _register_decider(gate: Gate) -> SendDecider:
    """The send requests are decided beside faust (`streams.gate.decider`), a batch at a time."""
    app = gate.app
    decider = SendDecider(
        app,
        bootstrap_servers=gate.settings.kafka_bootstrap_servers,
        topic=gate.send_requests.get_topic_name(),
        group_id=gate.settings.decided_group,
        batch_size=gate.settings.gate_batch_size,
        decide=lambda records, hold: decide_batch(gate, records, hold),
        is_restored=gate.restored.is_restored,
        earlier_offsets=gate.offsets.committed_offsets_of,
        flush=lambda: app.producer.flush(),
    )
    gate.decider = decider

    @app.task
    async def decide_sends() -> None:
        await decider.run()

    @app.on_partitions_revoked.connect
    async def stop_deciding(app: Any, revoked: Any, **kwargs: Any) -> None:
        """The batch in hand is written and committed before the partitions move."""
        await decider.on_revoked(
            tp.partition for tp in revoked if tp.topic == gate.fence.state_topic
        )

    @app.on_before_shutdown.connect
    async def close_fence(app: Any, **kwargs: Any) -> None:
        await gate.fence.close()

    return decider


def _watch_partitions(gate: Gate, decider: SendDecider, input_topics: set[str]) -> None:
    """Progress per input partition, from the committed offsets on: a record faust skipped is
    read again (`streams.gate.progress`). The decider follows the assignment too."""
    app = gate.app

    @app.on_partitions_assigned.connect
    async def count_from_committed(app: Any, assigned: Any, **kwargs: Any) -> None:
        """Progress starts at the committed offsets: anything skipped after them is a hole."""
        mine = [(tp.topic, tp.partition) for tp in assigned if tp.topic in input_topics]
        # The decider takes the partitions whose suppressions this worker keeps (every gate
        # topic is co-partitioned with the clicks), once their changelog ends are noted.
        ours = [p for topic, p in mine if topic == gate.fence.state_topic]
        try:
            await gate.restored.on_assigned(ours)
        except KafkaError as exc:  # the restore cannot be checked this time; faust still did it
            log.error("restore fence: changelog ends not readable at assignment: %s", exc)
        decider.on_assigned(ours)
        if not mine:
            return
        committed = await gate.offsets.committed_offsets_of(mine)
        now = monotonic()
        for tp, offset in committed.items():
            gate.progress.set_floor(tp, offset, now)

    @app.timer(interval=STALL_CHECK_INTERVAL_S)
    async def reread_skipped_records() -> None:
        """Seek back partitions whose records were skipped (see streams.gate.progress)."""
        mine = [
            (tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in input_topics
        ]
        if not mine:
            return
        ends = await gate.offsets.end_offsets_of(mine)
        now = monotonic()
        for (topic, partition), offset in gate.progress.stalled(ends, now, STALL_AFTER_S).items():
            log.warning(
                "re-reading %s/%s from offset %s: records were skipped", topic, partition, offset
            )
            await app.consumer.seek(TP(topic, partition), offset)
            gate.progress.touch((topic, partition), now)
