"""What correcting an address (GDPR Art. 16) does to the consents: they move to the new key as new
events, the old key's stay withdrawn behind them, and the old key's suppressions stay where they
are.

A consent is the person's, given at an address that was mistyped: once the address is corrected,
the consent belongs to the corrected one, with the evidence it had (the account, the lists, the
basis, the wording, when it was given and confirmed). It moves as new consent events on the topic
every consent event takes, so the consent keeper folds it by its own rules and the ledger stores
it as the new key's evidence, each event naming the correction in its `source_id`.

What moves, for each live consent of the old key (`LIVE_STATUSES`):
- a `grant` for the new key, dated when the consent was first given, and a `confirm` dated when
  it was confirmed, if it was. The original date matters: an implied consent (CASL s.10(10))
  lasts two years from the purchase, six months from the inquiry, and a correction is neither,
  so moving it must not restart the clock; an express consent keeps its date as the evidence of
  when it was given.
- an import still waiting for its review moves as an `import` of the same import
  (`source_id`): it stays pending at the new key, and the account's approval of that import
  approves it there. An import, approved or not, keeps `source_kind` `import` at the new key: it
  is what an account said about the person, not what the person did, and an erasure is lifted only
  by the person's own consent (`streams.privacy.erasure.lifted_by_fresh_consent`).
- the lists the person had left within a moved consent (a withdrawal from one list under an
  account-wide opt-in) move with it, as withdrawals at their own time: a consent moves as it was,
  and the person must not get at the new address a list they left at the old one.
- for the old key, a `withdraw` of each moved consent at the correction's time: the mistyped
  address is nobody's to mail any more.

The new key's own consents are on another partition, out of sight here: where the person has a
consent at the corrected address already, the consent fold's rules decide (an implied basis never
replaces an express consent, a double opt-in stays), and a list left at the old address is left at
the new one too, even if the person joined it there since (the side that mails less). A consent
given before the corrected address's person was erased stays out: the consent keeper ignores
events from before an erasure, a moved one like any late one.

What stays: withdrawn consents (an unsubscribe at the old address is not undone by moving what
it withdrew), and every suppression of the old key. The new key gets none of those suppressions:
a complaint, a hard bounce, an erasure belong to the old address (its mailbox bounced, its
owner complained or was erased), and the gate must not refuse the corrected address for what
happened to another one.

Every event id is the correction's id, the step and a digest of the consent's scope, so a
correction read twice emits the same events, and the consent fold, which remembers the ids it
applied, changes nothing the second time. Pure: no Kafka, no tables.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from streams.core.errors import InvalidRecordError
from streams.core.records import (
    LIVE_STATUSES,
    AddressCorrection,
    ConsentEntry,
    ConsentEvent,
    ConsentEventKind,
    ConsentSourceKind,
    ConsentState,
)

__all__ = [
    "RECTIFICATION_SOURCE_PREFIX",
    "check_correction_time",
    "moved_consent_events",
    "moved_event_id",
    "rectification_source",
]

RECTIFICATION_SOURCE_PREFIX = "rectification:"
"""The `source_id` of every event a correction emits (an import's aside) is this and the
correction id: the consent's evidence names the correction that moved it."""


def rectification_source(correction: AddressCorrection) -> str:
    return f"{RECTIFICATION_SOURCE_PREFIX}{correction.correction_id}"


def moved_event_id(correction_id: str, step: str, account_id: str, lists: tuple[str, ...]) -> str:
    """The id of one event a correction emits: readable up to the digest, which names the
    consent's scope (account and lists, each as long as 200 characters) in 32 hex digits, so the
    id stays within an event id's 200 characters for any correction id (100 at most)."""
    scope = json.dumps([account_id, sorted(lists)], separators=(",", ":"))
    digest = hashlib.sha256(scope.encode("utf-8")).hexdigest()[:32]
    return f"{RECTIFICATION_SOURCE_PREFIX}{correction_id}/{step}/{digest}"


def check_correction_time(correction: AddressCorrection, now: datetime, tolerance_s: int) -> None:
    """Refuse a correction dated beyond the clock-skew tolerance: the old key's withdrawals carry
    its time, and the consent keeper refuses events from the future; the new key's consents would
    move while the old key's stayed mailable."""
    if correction.requested_at > now + timedelta(seconds=tolerance_s):
        raise InvalidRecordError(
            f"requested_at {correction.requested_at.isoformat()} is in the future (more than "
            f"{tolerance_s} s ahead of the gate's clock)"
        )


def moved_consent_events(
    correction: AddressCorrection, state: ConsentState | None
) -> tuple[ConsentEvent, ...]:
    """The consent events that move the old key's live consents (`state`) to the new key, then
    withdraw them at the old key; empty when nothing is live there.

    Order matters to the fold: for the new key, the withdrawals that narrow a moved consent come
    first (a later grant of a wider scope leaves them standing), then the confirmed consents (a
    `confirm` confirms every unconfirmed entry of the account its lists cover, so it comes before
    the unconfirmed ones are granted), then the rest; the old key's withdrawals come last, so
    that a correction cut short and read again still finds at the old key what it has to move.
    """
    if state is None:
        return ()
    moving = sorted(
        (entry for entry in state.entries if _movable(entry)),
        key=lambda entry: (entry.confirmed_at is None, entry.account_id, entry.lists),
    )
    if not moving:
        return ()
    narrowing = [entry for entry in state.entries if _narrows(entry, moving)]
    events: list[ConsentEvent] = []
    for entry in sorted(narrowing, key=lambda entry: (entry.withdrawn_at, entry.lists)):
        events.append(_withdrawal(correction, entry, for_new_key=True))
    for entry in moving:
        events.extend(_moved(correction, entry))
    for entry in moving:
        events.append(_withdrawal(correction, entry, for_new_key=False))
    return tuple(events)


def _movable(entry: ConsentEntry) -> bool:
    """A live consent with what a grant needs: its basis and when it was given (every live entry
    the fold writes has both; one without would be moved with a date or a ground made up)."""
    return (
        entry.status in LIVE_STATUSES and entry.basis is not None and entry.granted_at is not None
    )


def _narrows(entry: ConsentEntry, moving: list[ConsentEntry]) -> bool:
    """A withdrawal from lists that a moved consent of the same account covers."""
    return (
        entry.status not in LIVE_STATUSES
        and bool(entry.lists)
        and entry.withdrawn_at is not None
        and any(
            moved.account_id == entry.account_id
            and (not moved.lists or set(moved.lists) & set(entry.lists))
            for moved in moving
        )
    )


def _source_kind(entry: ConsentEntry) -> ConsentSourceKind:
    return "import" if entry.source_kind == "import" else "support"


def _moved(correction: AddressCorrection, entry: ConsentEntry) -> list[ConsentEvent]:
    """The new key's events for one live consent: its grant (or import), and its confirmation."""
    assert entry.granted_at is not None and entry.basis is not None  # `_movable`
    pending = entry.status == "pending_review"
    kind: ConsentEventKind = "import" if pending else "grant"
    first = ConsentEvent(
        event_id=moved_event_id(correction.correction_id, kind, entry.account_id, entry.lists),
        recipient_key=correction.new_recipient_key,
        kind=kind,
        account_id=entry.account_id,
        lists=entry.lists,
        cadence=entry.cadence,
        basis=entry.basis,
        # A confirmed consent is granted unconfirmed, then confirmed: the entry is double opt-in
        # again, with its confirmation time.
        requires_confirmation=entry.requires_confirmation or entry.confirmed_at is not None,
        jurisdiction=entry.jurisdiction,
        source_kind=_source_kind(entry),
        # An import is found by its import id when the account approves it.
        source_id=(entry.source_id or rectification_source(correction))
        if pending
        else rectification_source(correction),
        wording_version=entry.wording_version,
        occurred_at=entry.granted_at,
    )
    if entry.confirmed_at is None or pending:
        return [first]
    confirm = ConsentEvent.model_validate(
        {
            **first.model_dump(),
            "event_id": moved_event_id(
                correction.correction_id, "confirm", entry.account_id, entry.lists
            ),
            "kind": "confirm",
            "occurred_at": entry.confirmed_at,
        }
    )
    return [first, confirm]


def _withdrawal(
    correction: AddressCorrection, entry: ConsentEntry, *, for_new_key: bool
) -> ConsentEvent:
    """A withdrawal of `entry`'s scope: at the new key, a list the person had left, at its own
    time; at the old key, a moved consent, at the correction's time."""
    step = "keep-withdrawal" if for_new_key else "withdraw"
    at = entry.withdrawn_at if for_new_key else correction.requested_at
    assert at is not None  # `_narrows`
    return ConsentEvent(
        event_id=moved_event_id(correction.correction_id, step, entry.account_id, entry.lists),
        recipient_key=(
            correction.new_recipient_key if for_new_key else correction.old_recipient_key
        ),
        kind="withdraw",
        account_id=entry.account_id,
        lists=entry.lists,
        jurisdiction=entry.jurisdiction,
        source_kind="support",
        source_id=rectification_source(correction),
        occurred_at=at,
    )
