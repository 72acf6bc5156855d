"""What the gate knew about one person at a moment, folded again from the records about them.

Pure: `streams.replay.person_reading` reads the records (one partition of each topic, the person's
key only) and the ledger rows; this module orders them and folds them with the keepers' own pure
functions, so a replay and the gate cannot disagree about what a record does:

- suppressions: `unsubscribe-clicks` through `streams.suppression.fold.apply_click` (hard bounces
  and complaints reach the table only as the clicks the gate derived from them, which are on
  that topic too; so are the operators' and the web's);
- consents: `consent-events` through `streams.consent.fold.apply_consent_event` (an event dated
  beyond the clock-skew tolerance is set aside, as the keeper dead-letters it), the same clicks
  through `apply_opt_out`, and the timer's nudges on `consent-deadlines` through
  `streams.consent.notices.due_notices` (they only remember which notices were sent);
- bounce state: `delivery-events` through `streams.bounces.history.apply_delivery`;
- send history: every allowed decision on `send-decisions` whose request had a frequency limit,
  through `streams.sending.frequency.record_send`, with the request read from `send-requests`
  (a decision does not carry the request's list or event time). Whether a limit applied is
  judged on the consents the decision itself recorded (`DecisionInputs`), else on the consents
  folded here up to the decision;
- account standing: the latest `status_after` of the account's `enforcement-events`
  (`streams.reputation.copies`), which is what every worker's copy holds: a copy, not a fold.

**Which moment a record belongs to.** A record counts when its Kafka timestamp is before `at`.
The timestamps are the producers' create times: when the record reached the broker, not the
event's own time (which a sender may backdate). "What the gate knew" is what had reached it; the
keeper's few milliseconds of lag behind the broker are not modelled. The fold's `now` (the
keepers take it from the worker's clock) is the record's timestamp likewise.

**Order.** Within a topic the keepers apply records in offset order, and so does this fold (a
producer clock that went backwards does not reorder a partition). Across topics the keepers run
side by side and Kafka promises no order; records are merged by timestamp, and at equal
milliseconds deliveries, consent events, consent nudges and decisions come before clicks, so an
unsubscribe landing in the same millisecond as a sign-up is applied after it: the person stays
out, which is the side the law asks us to err on.

**Where the topics no longer reach back.** A topic whose partition no longer starts at offset 0
has lost records to retention, and a fold of what is left would be a guess. Those sections are
rebuilt from the ledger instead (`suppressions_from_ledger`, `consents_from_ledger`,
`bounces_from_ledger`) and say so, with what the ledger cannot give back. The send history is
seeded with the history the first remaining decision recorded (the table's value when it was
made) and folded from there; a decision without a record of its inputs leaves it unknown: the
ledger keeps neither the request's list nor its time.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from streams.bounces.history import apply_delivery
from streams.consent.fold import apply_consent_event, apply_opt_out
from streams.consent.notices import due_notices
from streams.consent.timing import check_event_time
from streams.core.errors import InvalidRecordError
from streams.core.records import (
    BounceState,
    ConsentDeadline,
    ConsentEntry,
    ConsentEvent,
    ConsentState,
    DeliveryEvent,
    Record,
    SendDecision,
    SendRequest,
    SuppressionEntry,
    SuppressionState,
    UnsubscribeClick,
)
from streams.policy import Policy
from streams.privacy.erasure import ERASED_SOURCE_ID
from streams.reputation.copies import snapshot_of_event
from streams.reputation.standing import AccountSnapshot, EnforcementEvent
from streams.rules.inputs import DecisionInputs
from streams.sending.frequency import SendHistory, limits_for, record_send
from streams.suppression.fold import apply_click

__all__ = [
    "FOLD_ORDER",
    "PERSON_TOPICS",
    "DecidedSend",
    "PersonState",
    "Section",
    "SectionSource",
    "Seen",
    "accounts_of",
    "bounces_from_ledger",
    "consents_from_ledger",
    "fold_person",
    "merge_by_time",
    "standings_at",
    "suppressions_from_ledger",
]

FOLD_ORDER: tuple[str, ...] = (
    "delivery-events",
    "consent-events",
    "consent-deadlines",
    "send-decisions",
    "unsubscribe-clicks",
)
"""The person's topics (catalogue names), in the order records of one millisecond are folded."""
PERSON_TOPICS = (*FOLD_ORDER, "send-requests")
"""Every topic read on the person's partition; requests are looked up, not folded."""

SectionSource = Literal["topics", "ledger", "unknown"]
_BOUNCED: frozenset[str] = frozenset({"hard_bounce", "became_hard"})
_STORED_METHOD = "manual"
"""The ledger keeps no click's method; the folds never read it."""


@dataclass(frozen=True, slots=True)
class DecidedSend:
    """A decision with what its send-history step needs: the request it decided (None when that
    is no longer on the topic) and the inputs it recorded (None before SendDecision v6)."""

    decision: SendDecision
    request: SendRequest | None
    inputs: DecisionInputs | None


@dataclass(frozen=True, slots=True)
class Seen:
    """One record about the person as read: its topic (catalogue name), coordinates (full
    topic/partition/offset, the keepers' `source`), Kafka timestamp and decoded value."""

    topic: str
    coordinates: str
    at: datetime
    record: Record | DecidedSend


@dataclass(frozen=True, slots=True)
class Section:
    """Where one part of the state came from, and anything a reader must know about it."""

    source: SectionSource
    notes: tuple[str, ...] = ()

    def noted(self, *notes: str) -> Section:
        return replace(self, notes=(*self.notes, *notes))


@dataclass(frozen=True, slots=True)
class PersonState:
    """What the gate knew about one recipient key at `at`."""

    recipient_key: str
    at: datetime
    policy_version: str
    suppressions: tuple[SuppressionEntry, ...] = ()
    consents: tuple[ConsentEntry, ...] = ()
    bounces: BounceState | None = None
    send_history: SendHistory | None = None
    accounts: Mapping[str, AccountSnapshot | None] = field(default_factory=dict)
    """The accounts asked about (or found in the person's records), each with the standing the
    gate's copies held at `at`; None: no enforcement event yet (in good standing)."""
    sections: Mapping[str, Section] = field(default_factory=dict)
    """Per section (`suppressions`, `consents`, `bounces`, `send_history`, `accounts`)."""
    folded: int = 0
    """Records folded from the topics."""
    set_aside: tuple[str, ...] = ()
    """Records the keepers would have dead-lettered: coordinates and why (never content)."""


@dataclass
class _Fold:
    suppressions: SuppressionState | None = None
    consents: ConsentState | None = None
    bounces: BounceState | None = None
    history: SendHistory | None = None
    history_known: bool = True
    history_notes: list[str] = field(default_factory=list)
    folded: int = 0
    set_aside: list[str] = field(default_factory=list)


def merge_by_time(streams: Mapping[str, Sequence[Seen]]) -> list[Seen]:
    """One sequence from each topic's records (each in offset order), by timestamp, ties by
    `FOLD_ORDER`. A merge never reorders one input, whatever its timestamps do."""
    rank = {topic: n for n, topic in enumerate(FOLD_ORDER)}
    ordered = [streams[topic] for topic in FOLD_ORDER if topic in streams]
    return list(heapq.merge(*ordered, key=lambda seen: (seen.at, rank[seen.topic])))


def fold_person(
    records: Iterable[Seen],
    *,
    recipient_key: str,
    at: datetime,
    policy: Policy,
    history_seed: bool = False,
) -> PersonState:
    """The person's state from their records (merged, `merge_by_time`), those before `at` only.

    `history_seed`: the decisions' topic lost records to retention, so the send history starts
    from what the first remaining decision recorded instead of from nothing."""
    fold = _Fold(history_known=not history_seed)
    for seen in records:
        if seen.at >= at:
            continue
        _step(fold, seen, recipient_key, policy)
    sections = {
        "suppressions": Section("topics"),
        "consents": Section("topics"),
        "bounces": Section("topics"),
        "send_history": Section(
            "topics" if fold.history_known else "unknown", tuple(fold.history_notes)
        ),
    }
    if not fold.history_known:
        sections["send_history"] = sections["send_history"].noted(
            "no remaining decision recorded the history it was made on, and the ledger keeps "
            "neither a request's list nor its time, so the sends the frequency rules counted "
            "cannot be rebuilt"
        )
    return PersonState(
        recipient_key=recipient_key,
        at=at,
        policy_version=policy.policy_version,
        suppressions=fold.suppressions.entries if fold.suppressions else (),
        consents=fold.consents.entries if fold.consents else (),
        bounces=fold.bounces,
        send_history=fold.history if fold.history_known else None,
        sections=sections,
        folded=fold.folded,
        set_aside=tuple(fold.set_aside),
    )


def _step(fold: _Fold, seen: Seen, recipient_key: str, policy: Policy) -> None:
    record = seen.record
    if isinstance(record, DecidedSend):
        _decided(fold, seen, record, policy)
        fold.folded += 1
        return
    if getattr(record, "recipient_key", None) != recipient_key:
        # The keepers dead-letter a record keyed by another recipient than its own field names.
        fold.set_aside.append(f"{seen.coordinates}: record key differs from its recipient_key")
        return
    if isinstance(record, UnsubscribeClick):
        fold.suppressions, _ = apply_click(
            fold.suppressions, record, source=seen.coordinates, now=seen.at
        )
        fold.consents = apply_opt_out(fold.consents, record)
    elif isinstance(record, ConsentEvent):
        try:
            check_event_time(record, seen.at, policy.consent)
        except InvalidRecordError as exc:
            fold.set_aside.append(f"{seen.coordinates}: {exc}")
            return
        fold.consents = apply_consent_event(fold.consents, record, policy.consent).state
    elif isinstance(record, ConsentDeadline):
        if fold.consents is not None:
            fold.consents, _ = due_notices(
                fold.consents, recipient_key, policy.consent, now=seen.at
            )
    elif isinstance(record, DeliveryEvent):
        fold.bounces = apply_delivery(
            fold.bounces, record, policy.soft_bounce, source=seen.coordinates, now=seen.at
        ).state
    else:
        raise TypeError(f"no fold for {type(record).__name__} records")
    fold.folded += 1


def _decided(fold: _Fold, seen: Seen, sent: DecidedSend, policy: Policy) -> None:
    """One decision's step of the send history, as `streams.rules.step.gate_step` takes it."""
    if not fold.history_known:
        if sent.inputs is None:
            return  # still nothing to start from
        fold.history = sent.inputs.send_history
        fold.history_known = True
        fold.history_notes.append(
            f"send-decisions no longer reaches back: started from the history the decision at "
            f"{seen.coordinates} recorded"
        )
    if sent.decision.verdict != "allow":
        return
    if sent.request is None:
        fold.history_notes.append(
            f"the request of the allowed decision at {seen.coordinates} is gone from "
            "send-requests (retention); its mark, if it had one, is missing"
        )
        return
    consents = sent.inputs.consents if sent.inputs is not None else _entries(fold.consents)
    if limits_for(sent.request, consents, policy.frequency):
        fold.history = record_send(fold.history, sent.request, policy.frequency)


def _entries(state: ConsentState | None) -> tuple[ConsentEntry, ...]:
    return state.entries if state else ()


def accounts_of(state: PersonState) -> list[str]:
    """The accounts the person has anything with: consents, account or list suppressions,
    marks in the send history."""
    found = {entry.account_id for entry in state.consents}
    found |= {entry.account_id for entry in state.suppressions if entry.account_id}
    if state.send_history is not None:
        found |= {mark.account_id for mark in state.send_history.sends}
    return sorted(found)


def standings_at(
    records: Iterable[Seen], accounts: Iterable[str], at: datetime
) -> tuple[dict[str, AccountSnapshot | None], list[str]]:
    """Each account's latest status before `at` from its `enforcement-events` records (in
    offset order), and the records no copy could use (coordinates and why)."""
    wanted = set(accounts)
    standings: dict[str, AccountSnapshot | None] = dict.fromkeys(sorted(wanted))
    set_aside: list[str] = []
    for seen in records:
        event = seen.record
        if seen.at >= at or not isinstance(event, EnforcementEvent):
            continue
        if event.account_id not in wanted:
            continue
        try:
            snapshot = snapshot_of_event(event.account_id.encode(), event)
        except InvalidRecordError as exc:
            set_aside.append(f"{seen.coordinates}: {exc}")
            continue
        if snapshot is not None:
            standings[event.account_id] = snapshot
    return standings, set_aside


# --- the ledger, where the topics no longer reach back --------------------------------------------


def _opt_out(row: Mapping[str, Any]) -> UnsubscribeClick:
    """A stored suppression change as the click that asked for it (the method is not stored;
    no fold reads it)."""
    return UnsubscribeClick(
        click_id=row["source_event_id"],
        recipient_key=row["recipient_key"],
        scope=row["scope"],
        account_id=row["account_id"],
        list_id=row["list_id"],
        method=_STORED_METHOD,
        reason=row["reason"],
        clicked_at=row["since"],
    )


def suppressions_from_ledger(
    rows: Sequence[Mapping[str, Any]], at: datetime
) -> tuple[tuple[SuppressionEntry, ...], Section]:
    """The suppressions from the ledger's `suppression_changes` rows (one per click the keeper
    applied, with the time it applied it), those applied before `at`, folded by `apply_click`."""
    state: SuppressionState | None = None
    for row in sorted(rows, key=lambda row: (row["changed_at"], row["id"])):
        if row["changed_at"] < at:
            state, _ = apply_click(
                state, _opt_out(row), source=row["source"], now=row["changed_at"]
            )
    section = Section(
        "ledger",
        (
            "unsubscribe-clicks no longer reaches back (retention): rebuilt from the ledger's "
            "suppression changes, as far as the ledger has copied them",
        ),
    )
    return (state.entries if state else ()), section


def consents_from_ledger(
    consent_rows: Sequence[Mapping[str, Any]],
    suppression_rows: Sequence[Mapping[str, Any]],
    at: datetime,
    policy: Policy,
) -> tuple[tuple[ConsentEntry, ...], Section]:
    """The consents from the ledger: consent events in their topic's order (the ledger keeps
    offsets, not arrival times, so an event counts by its own time `occurred_at`), and the
    stored suppression changes as opt-outs at the time the keeper applied them."""
    steps: list[tuple[datetime, int, int, UnsubscribeClick | ConsentEvent]] = []
    for row in consent_rows:
        if row["occurred_at"] < at:
            fields = {name: row[name] for name in ConsentEvent.model_fields}
            if row.get("erased_at") is not None and fields["source_id"] is None:
                fields["source_id"] = ERASED_SOURCE_ID  # an erased import still folds as one
            event = ConsentEvent.model_validate(fields)
            steps.append((row["occurred_at"], 0, row["kafka_offset"], event))
    for row in suppression_rows:
        if row["changed_at"] < at:
            steps.append((row["changed_at"], 1, row["id"], _opt_out(row)))
    state: ConsentState | None = None
    for _, _, _, step in sorted(steps, key=lambda step: step[:3]):
        if isinstance(step, ConsentEvent):
            state = apply_consent_event(state, step, policy.consent).state
        else:
            state = apply_opt_out(state, step)
    section = Section(
        "ledger",
        (
            "a topic the consents are folded from no longer reaches back (retention): rebuilt "
            "from the ledger's consent events (counted by their own time) and suppression "
            "changes; which expiry notices were already sent is not in the ledger",
        ),
    )
    return (state.entries if state else ()), section


def bounces_from_ledger(
    rows: Sequence[Mapping[str, Any]], at: datetime
) -> tuple[BounceState | None, Section]:
    """What the ledger's `bounce_changes` say of the bounce state before `at`: whether the
    address is hard-bounced, and the consecutive soft bounces after the latest change. The rest
    of the state (soft bounces in total, their times, recent outcomes) is not stored."""
    kept = sorted(
        (row for row in rows if row["changed_at"] < at),
        key=lambda row: (row["changed_at"], row["id"]),
    )
    section = Section(
        "ledger",
        (
            "delivery-events no longer reaches back (retention): from the ledger's bounce "
            "changes, which keep whether the address hard-bounced and the consecutive soft "
            "bounces, not the totals or times",
        ),
    )
    if not kept:
        return None, section
    state = BounceState(
        consecutive_soft=kept[-1]["consecutive_soft_after"],
        hard_bounced=any(row["outcome"] in _BOUNCED for row in kept),
    )
    return state, section
