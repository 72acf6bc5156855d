"""The gate's agents and their wiring: which handler reads which topic, the timers, the decider.

The handlers are in `streams.gate.keepers` (state) and `streams.gate.deciding` (send requests),
`streams.gate.enforcer` (rates, strikes); they decode, call the pure rules and folds, and emit.
Nothing here decides.

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
- `read_esp_webhooks`: esp-webhooks (authenticated SES, SendGrid, Mailgun and Postmark webhook
  bodies) -> the same delivery events and feedback reports as raw mail gives
  (`streams.esp.read`).
- `keep_consents`: consent-events -> consents table. Unsubscribe clicks reach the consents too,
  through `keep_suppressions`, so one click changes both tables in one step and the state fence
  covers both.
- `act_on_erasure_requests`: erasure-requests -> the platform suppression each asks for, on
  unsubscribe-clicks; folding it, `keep_suppressions` deletes the person's other state and reports
  the steps on erasure-events (`streams.privacy.erasure`).
- `act_on_address_corrections`: address-corrections -> the consent events that move the old
  key's live consents to the corrected address's key and withdraw them at the old one
  (`streams.privacy.rectification`), on consent-events, which `keep_consents` folds.
- `check_consent_deadlines`: consent-deadlines (nudges from the `nudge_consent_deadlines` timer,
  see `streams.consent.deadlines`) -> consent-notices (implied consent expiring, expired).

Both run with concurrency 1: their effects on one partition must happen in log order. Bad input
(undecodable bytes, an unknown schema, a record that fails validation, a key that is not the
record's recipient key) goes to dead-letters with its origin and the reason, and the agent goes on.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import Any

from aiokafka.errors import KafkaError
from faust.types import TP

from streams.gate.app import Gate, raw_topic
from streams.gate.decider import SendDecider
from streams.gate.deciding import decide_batch
from streams.gate.enforcer import (
    check_enforcement_event,
    count_allowed_send,
    enforce,
    keep_rate,
    tick_rates,
)
from streams.gate.esp_reading import read_esp_webhook
from streams.gate.keepers import (
    act_on_address_correction,
    act_on_erasure_request,
    act_on_feedback,
    check_consent_deadline,
    keep_bounce,
    keep_consent,
    keep_suppression,
    nudge_due_consents,
    parse_inbound,
)
from streams.gate.sender_domains import keep_sender_domains
from streams.topics import (
    SEND_DECISIONS,
)

__all__ = ["register_agents"]

log = logging.getLogger(__name__)
watch_log = logging.getLogger("streams.gate.watchdog")
"""The watchdog's own trouble (the broker away), repeated every check: throttled."""

STALL_CHECK_INTERVAL_S = 3.0
STALL_AFTER_S = 12.0
"""A partition with records beyond its contiguous progress that has not moved for this long is
read again from its progress; shorter than the fence's timeout, longer than a normal pause."""


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
            ("read_esp_webhooks", gate.esp_webhooks, read_esp_webhook),
            ("keep_consents", gate.consent_events, keep_consent),
            ("check_consent_deadlines", gate.consent_deadlines, check_consent_deadline),
            ("act_on_erasure_requests", gate.erasure_requests, act_on_erasure_request),
            ("act_on_address_corrections", gate.address_corrections, act_on_address_correction),
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
        await gate.erasure_fence.close()

    return decider


FLOOR_RETRY_FOR_S = 300.0
"""How long an assignment waits for the broker to say where the group committed."""


async def _committed_while_the_broker_returns(
    gate: Gate, app: Any, partitions: list[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """The group's committed offsets of `partitions`, asked again (1 s, doubling, at most 10 s
    apart) while the broker does not answer: an assignment can land in the middle of a broker
    outage, and without these floors a record faust skipped could go unnoticed, so the worker
    waits for them (nothing can be fetched meanwhile anyway) instead of crashing or guessing.
    Gives up after `FLOOR_RETRY_FOR_S`, or when the worker is stopping."""
    delay, waited = 1.0, 0.0
    while True:
        try:
            return await gate.offsets.committed_offsets_of(partitions)
        except KafkaError as exc:
            if app.should_stop or waited >= FLOOR_RETRY_FOR_S:
                raise
            if not waited:
                log.warning(
                    "committed offsets not readable at assignment (%s); asking again until the "
                    "broker answers",
                    type(exc).__name__,
                )
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, 10.0)


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
        committed = await _committed_while_the_broker_returns(gate, app, mine)
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
        asked_at = monotonic()
        try:
            ends = await gate.offsets.end_offsets_of(mine)
        except KafkaError as exc:
            # Nothing can be fetched either: the time the broker is away is no stall.
            gate.progress.lost_sight()
            watch_log.warning(
                "skipped-records check: end offsets not readable (%s: %s)", type(exc).__name__, exc
            )
            return
        now = monotonic()
        stalled = gate.progress.stalled(ends, now, STALL_AFTER_S, asked_at=asked_at)
        for (topic, partition), offset in stalled.items():
            log.warning(
                "re-reading %s/%s from offset %s: records were skipped",
                topic,
                partition,
                offset,
                extra={"topic": topic, "partition": partition, "offset": offset},
            )
            await app.consumer.seek(TP(topic, partition), offset)
            gate.progress.touch((topic, partition), now)
