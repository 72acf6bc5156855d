"""Deciding send requests a batch at a time: the fences, then every request through the pure
`gate_step`, then everything written.

The decider (`streams.gate.decider`) reads the requests beside faust and hands each batch to
`decide_batch`. Inside the batch nothing yields to the event loop, so no rebalance can move a
table while the requests read it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event as faust_current_event

from streams.consent.fold import apply_opt_out
from streams.core.errors import CodecError, InvalidRecordError
from streams.core.records import (
    ErasureRequest,
    SendDecision,
    SendRequest,
    UnsubscribeClick,
)
from streams.gate.app import Gate
from streams.gate.decider import Hold
from streams.gate.emit import CollectingEmitter, Emitter
from streams.gate.enforcer import (
    read_account,
)
from streams.gate.fence import FenceTimeoutError
from streams.gate.handling import (
    coordinates,
    dead_letter,
    decode_send_request,
)
from streams.gate.metrics import count_decision
from streams.gate.sender_domains import read_sender_domains
from streams.privacy.erasure import erasure_click
from streams.rules import RecipientView
from streams.rules.inputs import DecisionInputs, inputs_fields
from streams.rules.step import gate_step
from streams.suppression.fold import apply_click
from streams.topics import CONTENT_MISUSE

__all__ = ["decide_batch", "decide_send", "fence_batch", "recipient_view"]

log = logging.getLogger("streams.gate.agents")


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
    outcome.decision["inputs"] = gate.codec.encode_fields(DecisionInputs, inputs_fields(view))
    gate.send_history.update(message.key, view.send_history, outcome.send_history)
    count_decision(
        outcome.decision,
        classification=request.classification,
        now=gate.clock.now(),
        requested_at=request.requested_at,
    )
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
    for offset, erasure in pending_erasures(gate, message.partition, message.key, recipient_key):
        source = f"{gate.erasure_fence.state_topic}/{message.partition}/{offset}"
        state, _ = apply_click(state, erasure_click(erasure), source=source, now=gate.clock.now())
        consents = None  # the erasure deletes them with its suppression
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


def pending_erasures(
    gate: Gate, partition: int, key: bytes, recipient_key: str
) -> Iterator[tuple[int, ErasureRequest]]:
    """The recipient's erasure requests the erasure fence read ahead: each counts as the
    suppression it asks for, until a later fence finds that suppression on the clicks topic."""
    for offset, raw in gate.erasure_fence.read_ahead_for(key, partition):
        try:
            request = gate.codec.decode(raw, ErasureRequest)
        except (CodecError, InvalidRecordError):
            continue
        if request.recipient_key == recipient_key:
            yield offset, request


async def fence_batch(gate: Gate, partitions: set[int]) -> tuple[Mapping[int, int], bool]:
    """Wait until this worker's state holds everything acknowledged before the batch's sends were
    produced: the tables of newly assigned partitions restored (`streams.gate.restored`), the clicks
    of their partitions (`streams.gate.fence`) and the whole broadcast state
    (`streams.gate.broadcast`), asked of the broker at once, after the erasure requests
    published straight to their topic (`Gate.erasure_fence`). Returns the clicks' fence offsets and
    whether the state is current; when it cannot be confirmed, the batch fails closed."""
    try:
        # Erasure requests first: one the erasure agent has handed on since is then on the
        # clicks topic below the clicks' fence, and one it has not is read ahead here.
        await gate.erasure_fence.wait(partitions)
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
