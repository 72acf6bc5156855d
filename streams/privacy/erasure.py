"""What an erasure request does to the gate's state: the suppression it leaves, what it deletes,
and what it keeps out afterwards.

The suppression comes first and stays for good. It is the one thing kept about an erased person,
by recipient key only: without it, the next import of an old list would mail them again, which is
exactly what they asked to end (GDPR Art. 17(1) erases the data; Art. 21(3) and the ePrivacy rules
forbid the mail, and a platform can only honour both by remembering the key). It is lifted for one
account only by a fresh express consent the person gives that account after the erasure
(`lifted_by_fresh_consent`): a new sign-up is new data and a new relationship, an import or an
implied basis is neither.

Everything else the gate holds about the person (consents, bounce history, send history, rate
hand-offs, consent deadlines) is deleted in the same step as the suppression is written
(`ERASED_TABLES`), and later events about what happened before the erasure are ignored
(`predates_erasure`): a consent event that was late, or a topic replayed, must not bring back
what was erased.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from streams.core.records import (
    ConsentEntry,
    ErasedPlace,
    ErasureEvent,
    ErasureEventKind,
    ErasureRequest,
    SuppressionEntry,
    SuppressionState,
    UnsubscribeClick,
    UnsubscribeMethod,
)

__all__ = [
    "ERASED_SOURCE_ID",
    "ERASED_TABLES",
    "ERASURE_CLICK_PREFIX",
    "STEPS_BEFORE_COMPLETION",
    "completion",
    "erasure_click",
    "erasure_entry",
    "erasure_event",
    "lifted_by_fresh_consent",
    "predates_erasure",
    "request_id_of",
    "state_places",
    "suppression_place",
]

ERASURE_CLICK_PREFIX = "erasure:"
"""The click id of an erasure request's suppression is this and the request id, so the
suppression keeper knows which request it is honouring."""

ERASED_SOURCE_ID = "erased"
"""Stands in for an erased source id where a stored event's kind needs one to be a valid record
(an import, a review), so that the erased event is still folded (the proof, a replayed person's
state); never shown as the source."""

ERASED_TABLES: tuple[str, ...] = (
    "consents",
    "bounces",
    "send_history",
    "rate_inputs",
    "consent_deadlines",
)
"""The gate's tables keyed by recipient key whose entry an erasure deletes: every one of them but
the suppressions."""

STEPS_BEFORE_COMPLETION: frozenset[ErasureEventKind] = frozenset({"state_erased", "ledger_erased"})
"""The steps an erasure needs before it can be complete: the worker's and the ledger's."""

_FRESH_CONSENT_STATUSES = frozenset({"single_opt_in", "double_opt_in"})
_NOT_THE_PERSON = frozenset({"import"})
"""Sources that record what an account says about a person, not what the person did."""


def erasure_click(
    request: ErasureRequest, *, method: UnsubscribeMethod = "api"
) -> UnsubscribeClick:
    """The platform suppression that honours `request`: on the topic every suppression takes, so
    the state fence covers it like an unsubscribe; the same request always makes the same click,
    so publishing it twice suppresses once."""
    return UnsubscribeClick(
        click_id=f"{ERASURE_CLICK_PREFIX}{request.request_id}",
        recipient_key=request.recipient_key,
        scope="platform",
        method=method,
        reason="erasure",
        clicked_at=request.requested_at,
    )


def request_id_of(click: UnsubscribeClick) -> str | None:
    """The erasure request a click honours; None for a click that erases nothing. A platform
    suppression with reason `erasure` that no request made (an operator's) erases under its own
    click id."""
    if click.reason != "erasure" or click.scope != "platform":
        return None
    return click.click_id.removeprefix(ERASURE_CLICK_PREFIX)


def erasure_entry(state: SuppressionState | None) -> SuppressionEntry | None:
    """The recipient's latest erasure suppression, if they were ever erased."""
    if state is None:
        return None
    erasures = [e for e in state.entries if e.scope == "platform" and e.reason == "erasure"]
    return max(erasures, key=lambda entry: entry.since, default=None)


def predates_erasure(state: SuppressionState | None, occurred_at: datetime) -> bool:
    """Whether an event that happened at `occurred_at` is about the person before they were
    erased, and so must not be kept: the erasure deleted what it would add to."""
    entry = erasure_entry(state)
    return entry is not None and occurred_at <= entry.since


def lifted_by_fresh_consent(
    entry: SuppressionEntry, consents: Iterable[ConsentEntry], account_id: str
) -> bool:
    """Whether the person gave `account_id` a new express consent after the erasure `entry`:
    their own sign-up (not an import, not an implied basis), still live. Only an erasure is
    lifted this way; a complaint, a hard bounce or an operator's suppression never is."""
    if entry.reason != "erasure":
        return False
    return any(
        consent.account_id == account_id
        and consent.basis == "express"
        and consent.status in _FRESH_CONSENT_STATUSES
        and consent.source_kind not in _NOT_THE_PERSON
        and consent.granted_at is not None
        and consent.granted_at > entry.since
        for consent in consents
    )


def state_places(deleted: Mapping[str, int], at: datetime) -> tuple[ErasedPlace, ...]:
    """The worker's part of an erasure: each table's entries deleted (`deleted` by table name)."""
    return tuple(
        ErasedPlace(
            place=f"gate table {table}",
            action="deleted",
            count=deleted.get(table, 0),
            done_by=at,
            note="a tombstone on the table's changelog, whose compaction drops the old values",
        )
        for table in ERASED_TABLES
    )


def suppression_place(at: datetime) -> ErasedPlace:
    """What stays on purpose: the suppression, by recipient key only."""
    return ErasedPlace(
        place="gate table suppressions",
        action="kept",
        count=1,
        done_by=at,
        note="the erasure suppression, by recipient key only, so that no account mails the "
        "person again",
    )


def erasure_event(
    request_id: str,
    recipient_key: str,
    kind: ErasureEventKind,
    places: tuple[ErasedPlace, ...],
    at: datetime,
) -> ErasureEvent:
    """One step of an erasure; its id names the request and the step, so a step reported twice
    (at least once) is one step to its readers."""
    return ErasureEvent(
        event_id=f"{request_id}/{kind}",
        request_id=request_id,
        recipient_key=recipient_key,
        kind=kind,
        places=places,
        at=at,
    )


def completion(
    request: ErasureRequest,
    steps: Sequence[ErasureEvent],
    horizons: Mapping[str, float],
    now: datetime,
) -> ErasureEvent | None:
    """The `completed` step of an erasure, once it is true: the worker and the ledger have done
    their part, and every topic that held the person's records (`horizons`: place name -> seconds
    after the request within which its records are gone) is past its horizon. It lists every
    place of every step and the topics as `expires`, each with the moment it was done by, so the
    platform can tell the person, and third parties, what was removed where and when. None while
    something is still to happen, or once the erasure is complete already."""
    first: dict[str, ErasureEvent] = {}
    for step in steps:  # a step reported twice (at least once) counts once, as first reported
        first.setdefault(step.event_id, step)
    kinds = {step.kind for step in first.values()}
    if "completed" in kinds or not STEPS_BEFORE_COMPLETION.issubset(kinds):
        return None
    expiring = tuple(
        ErasedPlace(
            place=place,
            action="expires",
            count=0,
            done_by=request.requested_at + timedelta(seconds=within),
            note="Kafka deletes the topic's records by age: what it held about the person is "
            "gone by then (it does not count them)",
        )
        for place, within in sorted(horizons.items())
    )
    if any(place.done_by > now for place in expiring):
        return None
    done = tuple(
        place
        for step in sorted(first.values(), key=lambda step: step.at)
        if step.kind in {"suppressed", *STEPS_BEFORE_COMPLETION}
        for place in step.places
    )
    return erasure_event(
        request.request_id, request.recipient_key, "completed", done + expiring, now
    )
