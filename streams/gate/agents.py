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

from streams.bounces.history import apply_delivery
from streams.bounces.inbound import events_for
from streams.consent.fold import apply_consent_event, apply_opt_out
from streams.consent.notices import due_notices, next_deadline
from streams.consent.timing import check_event_time
from streams.content.misuse import assess_misuse
from streams.core.clock import from_epoch_ms, to_epoch_ms
from streams.core.errors import CodecError, InvalidRecordError
from streams.core.records import (
    MAX_SEND_REQUEST_BYTES,
    BounceState,
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
    read_consents,
    read_suppressions,
    recipient_key_of,
    stored,
)
from streams.gate.sender_domains import keep_sender_domains, read_sender_domains
from streams.parsing import parse_message
from streams.parsing.replies import DEFAULT_UNSUBSCRIBE_KEYWORDS
from streams.reputation.standing import MisuseReport, misuse_report_id
from streams.rules import RecipientView, decision_fields, judge
from streams.rules.misuse import TRANSACTIONAL_MISUSE
from streams.sending.frequency import SendHistory, cadence_of, limits_for, record_send
from streams.sending.list_headers import list_headers
from streams.sending.verp import VERP_PREFIX, ForgedVerpError
from streams.suppression.feedback import suppression_for_report
from streams.suppression.fold import apply_click
from streams.suppression.mailto import is_mailto_unsubscribe, mailto_unsubscribe
from streams.topics import ACCOUNT_COMMANDS, SEND_DECISIONS

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
    """Fold one unsubscribe click into the suppressions table."""
    click = await decode_keyed(gate, message, UnsubscribeClick, "keep_suppressions")
    if click is None:
        return
    state = read_suppressions(gate, message.key)
    new_state, change = apply_click(state, click, source=coordinates(message), now=gate.clock.now())
    if new_state != state:
        gate.suppressions[message.key] = gate.codec.encode(new_state)
    consents = read_consents(gate, message.key)
    new_consents = apply_opt_out(consents, click)
    if new_consents != consents:
        gate.consents[message.key] = gate.codec.encode(new_consents)
        keep_deadline(gate, message.key, next_deadline(new_consents, gate.policy.consent))
    await gate.emitter.emit(
        gate.suppression_changes_topic,
        message.key,
        gate.codec.encode(change),
        partition=message.partition,  # co-partitioned: the click's own
    )


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
    state = read_consents(gate, message.key)
    fold = apply_consent_event(state, event, gate.policy.consent)
    if fold.state != state:
        gate.consents[message.key] = gate.codec.encode(fold.state)
    keep_deadline(gate, message.key, next_deadline(fold.state, gate.policy.consent))
    log.debug("keep_consents: %s %s", coordinates(message), fold.outcome)


async def check_consent_deadline(gate: Gate, message: Any) -> None:
    """Emit the consent notices due for one recipient, each once (the table remembers)."""
    nudge = await decode_keyed(gate, message, ConsentDeadline, "check_consent_deadlines")
    if nudge is None:
        return
    state = read_consents(gate, message.key)
    if state is None:
        return
    new_state, notices = due_notices(
        state, nudge.recipient_key, gate.policy.consent, now=gate.clock.now()
    )
    for notice in notices:
        await gate.emitter.emit(gate.consent_notices_topic, message.key, gate.codec.encode(notice))
    if new_state != state:
        gate.consents[message.key] = gate.codec.encode(new_state)
    keep_deadline(gate, message.key, next_deadline(new_state, gate.policy.consent))


async def request_suppression(
    gate: Gate, click: UnsubscribeClick, partition: int | None = None
) -> None:
    """Ask the suppression keeper for a suppression, through the topic every suppression takes.

    Same key, same partition count: the click lands on the partition of the recipient's state,
    and the gate's fence then covers it like any unsubscribe. `partition` is that partition when
    the caller holds a record keyed by the same recipient key (it saves hashing the key again).
    """
    key = click.recipient_key.encode("ascii")
    await gate.emitter.emit(gate.clicks_topic, key, gate.codec.encode(click), partition=partition)


async def keep_bounce(gate: Gate, message: Any) -> None:
    """Fold one delivery event into the bounce history; suppress a hard-bounced address."""
    event = await decode_keyed(gate, message, DeliveryEvent, "keep_bounce_history")
    if event is None:
        return
    raw = stored(gate.bounces, message.key)
    state = None if raw is None else gate.codec.decode_trusted(raw, BounceState)
    fold = apply_delivery(
        state, event, gate.policy.soft_bounce, source=coordinates(message), now=gate.clock.now()
    )
    if fold.state != state:
        gate.bounces[message.key] = gate.codec.encode(fold.state)
    await gate.emitter.emit(
        gate.bounce_changes_topic,
        message.key,
        gate.codec.encode(fold.change),
        partition=message.partition,
    )
    await count_delivery(gate, message, event)
    if fold.suppress:
        await request_suppression(
            gate,
            UnsubscribeClick(
                click_id=f"bounce:{event.event_id}",
                recipient_key=event.recipient_key,
                scope="platform",
                method="bounce_policy",
                reason="hard_bounce",
                clicked_at=event.occurred_at,
            ),
            partition=message.partition,
        )


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
        return gate.verp.verify(f"{VERP_PREFIX}{token}")
    except ForgedVerpError:
        return None


async def parse_inbound(gate: Gate, message: Any) -> None:
    """Read one inbound message and emit the delivery events, reports or unsubscribes in it."""
    try:
        mail = gate.codec.decode(message.value or b"", InboundMail)
    except (CodecError, InvalidRecordError) as exc:
        await dead_letter(gate, message, "parse_inbound_mail", exc)
        return
    if is_mailto_unsubscribe(mail, gate.settings.bounce_domain):
        click = mailto_unsubscribe(mail, gate.unsubscribe_tokens, now=gate.clock.now())
        if isinstance(click, str):
            await dead_letter(gate, message, "parse_inbound_mail", InvalidRecordError(click))
        else:
            await request_suppression(gate, click)
        return
    envelope = next(
        (rcpt for rcpt in mail.rcpt_to if rcpt.lower().startswith(VERP_PREFIX)), mail.rcpt_to[0]
    )
    keywords = gate.policy.unsubscribe_reply_keywords or DEFAULT_UNSUBSCRIBE_KEYWORDS
    parsed = parse_message(mail.raw, envelope_rcpt=envelope, keywords=keywords)
    outcome = events_for(
        parsed,
        mail,
        source=coordinates(message),
        recipient_key=gate.keyer.key,
        verp_recipient_key=lambda token: _verp_recipient_key(gate, token),
        provider_of=gate.enforcement.providers.provider_of_address,
    )
    if outcome.forged_verp:
        log.warning(
            "parse_inbound_mail: %s carries a VERP token that does not verify", coordinates(message)
        )
    if outcome.rejection is not None:
        await dead_letter(
            gate, message, "parse_inbound_mail", InvalidRecordError(outcome.rejection)
        )
        return
    for event in outcome.delivery_events:
        await gate.emitter.emit(
            gate.delivery_events_topic, event.recipient_key.encode(), gate.codec.encode(event)
        )
    for report in outcome.feedback_reports:
        await gate.emitter.emit(
            gate.feedback_reports_topic, report.recipient_key.encode(), gate.codec.encode(report)
        )
    for click in outcome.unsubscribes:
        await request_suppression(gate, click)


async def decide_send(
    gate: Gate,
    message: Any,
    state_offsets: Mapping[str, int],
    *,
    state_current: bool,
    out: Emitter | None = None,
) -> None:
    """Decide one send request and emit the decision to `out` (default: the gate's emitter)."""
    emitter = out or gate.emitter
    try:
        size = len(message.value or b"")
        if size > MAX_SEND_REQUEST_BYTES:
            raise InvalidRecordError(
                f"the send request is {size:,} bytes, over the gate's limit of "
                f"{MAX_SEND_REQUEST_BYTES:,}: send the message's facts (its text and links), "
                "not the message with its attachments"
            )
        request = gate.codec.decode(message.value or b"", SendRequest)
        recipient_key = recipient_key_of(message)
        if recipient_key != gate.keyer.key(request.recipient):
            raise InvalidRecordError(
                "record key is not the recipient key of its recipient address; "
                "publish with the sendgate producer (sendgate publish) to key it correctly"
            )
    except (CodecError, InvalidRecordError) as exc:
        await dead_letter(gate, message, "decide_sends", exc, emitter=emitter)
        return
    state = read_suppressions(gate, message.key)
    consents = read_consents(gate, message.key)
    for offset, raw in gate.fence.pending_for(message.partition, message.key):
        # Clicks the keeper has not applied yet, read ahead by the fence: same fold, in memory.
        try:
            click = gate.codec.decode(raw, UnsubscribeClick)
        except (CodecError, InvalidRecordError):
            continue  # the keeper dead-letters it when it gets there
        if click.recipient_key != recipient_key:
            continue
        source = f"{gate.fence.state_topic}/{message.partition}/{offset}"
        state, _ = apply_click(state, click, source=source, now=gate.clock.now())
        consents = apply_opt_out(consents, click)
    raw_history = stored(gate.send_history, message.key)
    history = None if raw_history is None else gate.codec.decode_trusted(raw_history, SendHistory)
    view = RecipientView(
        suppressions=state.entries if state else (),
        consents=consents.entries if consents else (),
        state_current=state_current,
        provider=gate.enforcement.providers.provider_of_address(request.recipient),
        account=read_account(gate, request.account_id),
        sender_domains=read_sender_domains(gate, request.account_id),
        send_history=history,
    )
    decided_at = gate.clock.now()
    judgement = judge(request, view, gate.policy, at=decided_at)
    headers: Mapping[str, str] | None = None
    return_path = None
    if judgement.verdict == "allow":
        return_path = gate.verp.return_path(recipient_key)
        headers = list_headers(
            request,
            recipient_key=recipient_key,
            tokens=gate.unsubscribe_tokens,
            base_url=gate.settings.unsubscribe_base_url,
            mailto_domain=gate.settings.bounce_domain,
            issued_at=decided_at,
            policy=gate.policy.unsubscribe,
            cadence=cadence_of(view.consents, request),
        )
        if limits_for(request, view.consents, gate.policy.frequency):
            after = record_send(history, request, gate.policy.frequency)
            if after != history:
                gate.send_history[message.key] = gate.codec.encode(after)
    # Written from its fields (`decision_fields`), not built as a SendDecision: every part is
    # validated already, and the decision is the one record written per send. It goes to the
    # request's own partition: send-decisions is co-partitioned with send-requests.
    decision = decision_fields(
        request,
        view,
        gate.policy,
        judgement,
        recipient_key=recipient_key,
        decided_at=decided_at,
        request_offset=coordinates(message),
        state_offsets=state_offsets,
        return_path=return_path,
        headers=headers,
    )
    await emitter.emit(
        gate.decisions_topic,
        message.key,
        gate.codec.encode_fields(SendDecision, decision),
        partition=message.partition,
    )
    if judgement.failed(TRANSACTIONAL_MISUSE):
        await report_misuse(gate, request, recipient_key, emitter)


async def report_misuse(
    gate: Gate, request: SendRequest, recipient_key: str, emitter: Emitter
) -> None:
    """Hand a transactional send denied as marketing to the enforcer, which counts it against
    the account (`streams.reputation.misuse`); the same request always makes the same report.
    The assessment is the one the rule just made (`assess_misuse` remembers it), not a second
    reading of the message."""
    assessment = assess_misuse(request.subject, request.body, gate.policy.misuse)
    report = MisuseReport(
        report_id=misuse_report_id(request.account_id, request.request_id),
        account_id=request.account_id,
        request_id=request.request_id,
        recipient_key=recipient_key,
        score=assessment.score,
        signals=tuple(signal.name for signal in assessment.signals),
        policy_version=gate.policy.policy_version,
        detected_at=request.requested_at,
    )
    await emitter.emit(
        gate.content_misuse_topic, request.account_id.encode(), gate.codec.encode(report)
    )


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
    """Attach the agents to the gate's faust app."""
    app = gate.app

    def done(message: Any) -> None:
        gate.progress.record((message.topic, message.partition), message.offset, monotonic())

    def each_record(channel: Any, name: str, handle: Any) -> Any:
        """An agent that hands every record of `channel` to `handle`, in log order."""

        async def agent(stream: Any) -> None:
            async for event in stream.events():
                await handle(gate, event.message)
                done(event.message)

        return app.agent(channel, name=name, concurrency=1)(agent)

    keep_suppressions = each_record(gate.unsubscribe_clicks, "keep_suppressions", keep_suppression)
    keep_bounce_history = each_record(gate.delivery_events, "keep_bounce_history", keep_bounce)
    act_on_feedback_reports = each_record(gate.feedback_reports, "act_on_feedback", act_on_feedback)
    parse_inbound_mail = each_record(gate.inbound_mail, "parse_inbound_mail", parse_inbound)
    keep_consents = each_record(gate.consent_events, "keep_consents", keep_consent)
    check_consent_deadlines = each_record(
        gate.consent_deadlines, "check_consent_deadlines", check_consent_deadline
    )
    enforcement = gate.enforcement
    keep_rates = each_record(enforcement.rate_keeper_inputs, "keep_rates", keep_rate)

    @app.timer(interval=gate.settings.rates_timer_interval_s)
    async def tick_idle_rates() -> None:
        await tick_rates(gate)

    enforce_accounts = each_record(enforcement.enforcer_inputs, "enforce_accounts", enforce)
    check_enforcement_events = each_record(
        enforcement.enforcement_events, "check_enforcement_events", check_enforcement_event
    )
    keep_domains = each_record(
        gate.sender_domains_topic, "keep_sender_domains", keep_sender_domains
    )
    counting_agents: dict[str, Any] = {}
    if gate.policy.enforcement.volume == "allowed_sends":
        decisions = raw_topic(app, gate.settings, SEND_DECISIONS)
        counting_agents["count_allowed_sends"] = each_record(
            decisions, "count_allowed_sends", count_allowed_send
        )

    @gate.deadline_table.on_recover
    async def rescan_consent_deadlines() -> None:
        gate.deadlines.reset()

    @app.timer(interval=gate.settings.consent_timer_interval_s)
    async def nudge_consent_deadlines() -> None:
        await nudge_due_consents(gate)

    @app.task
    async def copy_broadcast_state() -> None:
        await gate.broadcast.run()

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

    input_topics = {
        gate.unsubscribe_clicks.get_topic_name(),
        gate.delivery_events.get_topic_name(),
        gate.feedback_reports.get_topic_name(),
        gate.inbound_mail.get_topic_name(),
        gate.consent_events.get_topic_name(),
        gate.consent_deadlines.get_topic_name(),
        gate.rate_events_topic,
        gate.rate_ticks_topic,
        gate.rate_breaches_topic,
        ACCOUNT_COMMANDS.full_name(gate.settings),
        gate.enforcement_events_topic,
        gate.content_misuse_topic,
        gate.sender_domains_topic.get_topic_name(),
    }
    if counting_agents:
        input_topics.add(gate.decisions_topic)

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

    @app.on_partitions_revoked.connect
    async def stop_deciding(app: Any, revoked: Any, **kwargs: Any) -> None:
        """The batch in hand is written and committed before the partitions move."""
        await decider.on_revoked(
            tp.partition for tp in revoked if tp.topic == gate.fence.state_topic
        )

    @app.on_before_shutdown.connect
    async def close_fence(app: Any, **kwargs: Any) -> None:
        await gate.fence.close()

    gate.agents = {
        "keep_suppressions": keep_suppressions,
        "keep_bounce_history": keep_bounce_history,
        "act_on_feedback": act_on_feedback_reports,
        "parse_inbound_mail": parse_inbound_mail,
        "keep_consents": keep_consents,
        "check_consent_deadlines": check_consent_deadlines,
        "keep_rates": keep_rates,
        "enforce_accounts": enforce_accounts,
        "check_enforcement_events": check_enforcement_events,
        "keep_sender_domains": keep_domains,
        **counting_agents,
    }
