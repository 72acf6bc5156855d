"""Notices of implied consent coming to its end: `expiring` some days before, `expired` when it
lapses (CASL s.10(10)), each said once.

Pure: after every change to a recipient's consents the keepers ask `next_deadline`, for the index
of when each recipient next needs a look (`streams.consent.deadlines`); the consent agent, nudged
at that moment, asks `due_notices` with the table's value and writes back the state that
remembers what it said.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Literal

from streams.consent.fold import WITHDRAWN_STATUSES
from streams.consent.policy import ConsentPolicy
from streams.consent.timing import IMPLIED_BASES
from streams.core.records import ConsentEntry, ConsentNotice, ConsentState

__all__ = ["due_notices", "next_deadline"]


def next_deadline(state: ConsentState, policy: ConsentPolicy) -> datetime | None:
    """The next moment a notice falls due for this recipient, if any."""
    moments = [moment for entry in state.entries for moment in _deadlines(entry, policy)]
    return min(moments) if moments else None


def due_notices(
    state: ConsentState, recipient_key: str, policy: ConsentPolicy, *, now: datetime
) -> tuple[ConsentState, tuple[ConsentNotice, ...]]:
    """Notices due at `now` that were not emitted yet, and the state that remembers them.

    consent-expiring falls due `expiry_notice_days` before the implied consent lapses,
    consent-expired when it lapses. An entry whose consent was withdrawn, renewed as express, or
    never lapses gets neither. Each notice's id names the kind, the scope and the expiry, so a
    notice emitted again (after a crash) is recognisably the same one.
    """
    notices: list[ConsentNotice] = []
    entries: list[ConsentEntry] = []
    for entry in state.entries:
        expires = _lapse_of(entry)
        if expires is None:
            entries.append(entry)
            continue
        notice_at = expires - timedelta(days=policy.expiry_notice_days)
        updates: dict[str, bool] = {}
        for kind, due, flag in (
            ("expiring", notice_at, "expiring_notified"),
            ("expired", expires, "expired_notified"),
        ):
            if now >= due and not getattr(entry, flag):
                if kind == "expiring" and now >= expires:
                    updates[flag] = True  # the worker was down past the lapse: say expired only
                    continue
                notices.append(_notice(kind, entry, recipient_key, now))
                updates[flag] = True
        entries.append(entry.model_copy(update=updates) if updates else entry)
    if not notices and entries == list(state.entries):
        return state, ()
    return ConsentState(entries=tuple(entries), applied_event_ids=state.applied_event_ids), tuple(
        notices
    )


def _lapse_of(entry: ConsentEntry) -> datetime | None:
    """When the entry's consent lapses, if notices count down to it: an implied consent that is
    dated to lapse and was neither withdrawn nor renewed as express."""
    if entry.status in WITHDRAWN_STATUSES or entry.basis not in IMPLIED_BASES:
        return None
    return entry.expires_at


def _deadlines(entry: ConsentEntry, policy: ConsentPolicy) -> list[datetime]:
    expires = _lapse_of(entry)
    if expires is None:
        return []
    moments = []
    if not entry.expiring_notified:
        moments.append(expires - timedelta(days=policy.expiry_notice_days))
    if not entry.expired_notified:
        moments.append(expires)
    return moments


def _notice(
    kind: Literal["expiring", "expired"], entry: ConsentEntry, recipient_key: str, now: datetime
) -> ConsentNotice:
    assert entry.basis is not None and entry.granted_at is not None and entry.expires_at
    identity = "\x1f".join(
        (recipient_key, entry.account_id, *entry.lists, entry.expires_at.isoformat())
    )
    return ConsentNotice(
        notice_id=f"consent-{kind}:{hashlib.sha256(identity.encode()).hexdigest()[:32]}",
        recipient_key=recipient_key,
        kind=kind,
        account_id=entry.account_id,
        lists=entry.lists,
        basis=entry.basis,
        jurisdiction=entry.jurisdiction,
        granted_at=entry.granted_at,
        expires_at=entry.expires_at,
        emitted_at=now,
    )
