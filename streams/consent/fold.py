"""Fold consent events, unsubscribes and the passing of time into a recipient's consents.

Pure: the consent keeper calls `apply_consent_event`, the suppression keeper `apply_opt_out`, and
the consent timer `due_notices`, each with the table's current value, and writes back what they
return. Applying an event twice changes nothing (its id is remembered).

One entry per (account, lists) scope; an entry without lists covers all of the account's mail.
The entry that speaks for a message is the most specific one covering its list (`consent_for`),
so a withdrawal from one list outranks an account-wide opt-in, and an account-wide withdrawal
reaches every entry of the account.

Protective choices (each is a platform's reason to exist, not a legal nicety):
- An import never overrides anything already known about the person: an opt-in stays as it is, and
  a withdrawal, complaint or hard bounce stays a withdrawal. Imported people start pending review.
- A person's own new grant (a form, a checkout) re-opts them in after an unsubscribe, but never
  after a complaint, an erasure or a hard bounce: those are lifted by an operator, not a form.
- An implied basis never replaces a live express consent: a purchase by a subscriber changes
  nothing. A new implied grant restarts the implied consent's clock (CASL s.10(10)).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from dateutil.relativedelta import relativedelta

from streams.consent.policy import ConsentPolicy
from streams.core.clock import utc
from streams.core.errors import InvalidRecordError
from streams.core.records import (
    ConsentBasis,
    ConsentEntry,
    ConsentEvent,
    ConsentNotice,
    ConsentState,
    ConsentStatus,
    SuppressionReason,
    UnsubscribeClick,
)

__all__ = [
    "LIVE_STATUSES",
    "REMEMBERED_EVENT_IDS",
    "ConsentFold",
    "ConsentOutcome",
    "apply_consent_event",
    "apply_opt_out",
    "check_event_time",
    "consent_for",
    "due_notices",
    "implied_expiry",
    "next_deadline",
    "opt_in_proven",
]

REMEMBERED_EVENT_IDS = 32
LIVE_STATUSES: frozenset[ConsentStatus] = frozenset(
    {"single_opt_in", "double_opt_in", "pending_review", "unconfirmed"}
)
"""Statuses of a consent that has not been withdrawn (whether or not it allows bulk mail yet)."""
_WITHDRAWN: frozenset[ConsentStatus] = frozenset({"transactional_only", "hard_bounce"})
_FOR_GOOD: frozenset[SuppressionReason] = frozenset({"complaint", "erasure", "hard_bounce"})
_IMPLIED: frozenset[ConsentBasis] = frozenset({"implied_purchase", "implied_inquiry"})

ConsentOutcome = Literal[
    "granted",
    "confirmed",
    "withdrawn",
    "imported",
    "approved",
    "replayed",
    "already_consented",
    "kept_withdrawal",
    "cadence_changed",
    "nothing_to_change",
]


@dataclass(frozen=True, slots=True)
class ConsentFold:
    state: ConsentState
    outcome: ConsentOutcome


def implied_expiry(
    basis: str | None, granted_at: datetime | None, policy: ConsentPolicy
) -> datetime | None:
    """When implied consent lapses under CASL s.10(10), counted in calendar months from the
    event (a purchase on 29 February lapses on 28 February two years on); None if it does not."""
    if granted_at is None or basis not in _IMPLIED:
        return None
    months = (
        policy.casl_implied_purchase_months
        if basis == "implied_purchase"
        else policy.casl_implied_inquiry_months
    )
    return granted_at + relativedelta(months=months)


def _lapses(entry: ConsentEntry, policy: ConsentPolicy) -> bool:
    """Whether the entry's implied consent lapses under the regimes of its own jurisdiction."""
    return "casl" in policy.regimes_for(entry.jurisdiction)


def check_event_time(event: ConsentEvent, now: datetime, policy: ConsentPolicy) -> None:
    """Refuse an event dated beyond the clock-skew tolerance: consent cannot come from the future,
    and a far-future grant would keep implied consent alive for years too long."""
    limit = now + timedelta(seconds=policy.event_time_tolerance_s)
    if event.occurred_at > limit:
        raise InvalidRecordError(
            f"occurred_at {event.occurred_at.isoformat()} is in the future (more than "
            f"{policy.event_time_tolerance_s} s ahead of the gate's clock)"
        )


def consent_for(
    entries: tuple[ConsentEntry, ...], account_id: str, list_id: str | None
) -> ConsentEntry | None:
    """The entry that speaks for a message of `account_id` to `list_id`: the one naming the list
    if any does (the latest of those), else the account-wide one."""
    specific = [e for e in entries if e.lists and e.covers(account_id, list_id)]
    if specific:
        return max(specific, key=_changed_at)
    return next((e for e in entries if e.account_id == account_id and not e.lists), None)


def opt_in_proven(
    state: ConsentState | None,
    account_id: str,
    list_id: str | None,
    at: datetime,
    policy: ConsentPolicy,
) -> bool:
    """Could the account show, from the recipient's consent history, an opt-in in force at `at`?

    An entry for the account (for the list, when the complaint names one) whose status allows
    bulk mail, granted by `at`, not expired before it and not withdrawn before it. A withdrawal
    at `at` or later does not count against it: the complaint itself withdraws consent, and a
    replay of the complaint must reach the same answer as the first reading.
    """
    if state is None:
        return False
    at = utc(at)
    for entry in state.entries:
        if entry.account_id != account_id:
            continue
        if list_id is not None and entry.lists and list_id not in entry.lists:
            continue
        if entry.status not in policy.bulk_allowed_statuses:
            continue
        if entry.granted_at is None or entry.granted_at > at:
            continue
        if entry.expires_at is not None and entry.expires_at <= at:
            continue
        if entry.withdrawn_at is not None and entry.withdrawn_at < at:
            continue
        return True
    return False


def _changed_at(entry: ConsentEntry) -> datetime:
    moments = [m for m in (entry.granted_at, entry.confirmed_at, entry.withdrawn_at) if m]
    return max(moments) if moments else datetime.min.replace(tzinfo=UTC)


def apply_consent_event(
    state: ConsentState | None, event: ConsentEvent, policy: ConsentPolicy
) -> ConsentFold:
    """The recipient's consents after `event`, and what the event did."""
    state = state or ConsentState()
    if event.event_id in state.applied_event_ids:
        return ConsentFold(state, "replayed")
    entries, outcome = _FOLDS[event.kind](state.entries, event, policy)
    return ConsentFold(_remember(entries, state, event.event_id), outcome)


def apply_opt_out(state: ConsentState | None, click: UnsubscribeClick) -> ConsentState:
    """What an unsubscribe, complaint, hard bounce or erasure does to the consents: the consent
    at its scope becomes transactional only (hard bounce: hard_bounce). Platform scope reaches
    every account the person gave consent to."""
    state = state or ConsentState()
    if click.click_id in state.applied_event_ids:
        return state
    status: ConsentStatus = "hard_bounce" if click.reason == "hard_bounce" else "transactional_only"
    if click.scope == "platform":
        entries = tuple(
            _withdraw(entry, status, click.reason, click.clicked_at, click.click_id)
            for entry in state.entries
        )
    else:
        assert click.account_id is not None  # the click's validator guarantees it
        lists = (click.list_id,) if click.scope == "list" and click.list_id else ()
        entries = _withdraw_scope(
            state.entries,
            click.account_id,
            lists,
            status=status,
            reason=click.reason,
            at=click.clicked_at,
            event_id=click.click_id,
        )
    return _remember(entries, state, click.click_id)


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
        expires = entry.expires_at
        if expires is None or entry.status in _WITHDRAWN or entry.basis not in _IMPLIED:
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


# --- the folds, one per event kind ----------------------------------------------------------------


Entries = tuple[ConsentEntry, ...]


def _grant(
    entries: Entries, event: ConsentEvent, policy: ConsentPolicy
) -> tuple[Entries, ConsentOutcome]:
    scope = _scope(event)
    current = _find(entries, scope)
    if _blocked_for_good(entries, event):
        return entries, "kept_withdrawal"
    if (
        current is not None
        and current.status in LIVE_STATUSES
        and current.basis == "express"
        and event.basis in _IMPLIED
    ):
        return entries, "already_consented"
    if current is not None and current.status == "double_opt_in" and event.basis == current.basis:
        return entries, "already_consented"
    status: ConsentStatus = "unconfirmed" if event.requires_confirmation else "single_opt_in"
    return _put(entries, _entry(event, status, policy)), "granted"


def _import(
    entries: Entries, event: ConsentEvent, policy: ConsentPolicy
) -> tuple[Entries, ConsentOutcome]:
    scope = _scope(event)
    account_entries = [e for e in entries if e.account_id == event.account_id]
    covering_withdrawals = [
        e
        for e in account_entries
        if e.status in _WITHDRAWN and (not e.lists or set(scope[1]) & set(e.lists) or not scope[1])
    ]
    if covering_withdrawals:
        return entries, "kept_withdrawal"
    covering_consents = [
        e
        for e in account_entries
        if e.status in LIVE_STATUSES and (not e.lists or set(scope[1]) <= set(e.lists))
    ]
    if covering_consents:
        return entries, "already_consented"
    return _put(entries, _entry(event, "pending_review", policy)), "imported"


def _review_approved(
    entries: Entries, event: ConsentEvent, policy: ConsentPolicy
) -> tuple[Entries, ConsentOutcome]:
    changed = False
    out: list[ConsentEntry] = []
    for entry in entries:
        if (
            entry.account_id == event.account_id
            and entry.status == "pending_review"
            and entry.source_id == event.source_id
        ):
            status: ConsentStatus = (
                "unconfirmed" if entry.requires_confirmation else "single_opt_in"
            )
            entry = entry.model_copy(update={"status": status, "last_event_id": event.event_id})
            changed = True
        out.append(entry)
    return (tuple(out), "approved") if changed else (entries, "nothing_to_change")


def _confirm(
    entries: Entries, event: ConsentEvent, policy: ConsentPolicy
) -> tuple[Entries, ConsentOutcome]:
    changed = False
    out: list[ConsentEntry] = []
    for entry in entries:
        if (
            entry.account_id == event.account_id
            and entry.status == "unconfirmed"
            and (not event.lists or set(entry.lists) <= set(event.lists))
        ):
            entry = entry.model_copy(
                update={
                    "status": "double_opt_in",
                    "confirmed_at": event.occurred_at,
                    "last_event_id": event.event_id,
                }
            )
            changed = True
        out.append(entry)
    return (tuple(out), "confirmed") if changed else (entries, "nothing_to_change")


def _withdraw_event(
    entries: Entries, event: ConsentEvent, policy: ConsentPolicy
) -> tuple[Entries, ConsentOutcome]:
    new = _withdraw_scope(
        entries,
        event.account_id,
        tuple(sorted(event.lists)),
        status="transactional_only",
        reason="unsubscribe",
        at=event.occurred_at,
        event_id=event.event_id,
    )
    return new, "withdrawn"


def _cadence_changed(
    entries: Entries, event: ConsentEvent, policy: ConsentPolicy
) -> tuple[Entries, ConsentOutcome]:
    """The person chose how often to hear from the account (the preference centre): every live
    consent of the account that covers the event's lists (none named: all of them) takes the
    new cadence. It grants nothing: without a live consent there is nothing to change."""
    changed = False
    out: list[ConsentEntry] = []
    for entry in entries:
        if (
            entry.account_id == event.account_id
            and entry.status in LIVE_STATUSES
            and (not event.lists or not entry.lists or set(event.lists) & set(entry.lists))
            and entry.cadence != event.cadence
        ):
            entry = entry.model_copy(
                update={"cadence": event.cadence, "last_event_id": event.event_id}
            )
            changed = True
        out.append(entry)
    return (tuple(out), "cadence_changed") if changed else (entries, "nothing_to_change")


_FOLDS = {
    "grant": _grant,
    "import": _import,
    "review_approved": _review_approved,
    "confirm": _confirm,
    "withdraw": _withdraw_event,
    "cadence_changed": _cadence_changed,
}


# --- helpers --------------------------------------------------------------------------------------


def _scope(event: ConsentEvent) -> tuple[str, tuple[str, ...]]:
    return (event.account_id, tuple(sorted(event.lists)))


def _find(entries: Entries, scope: tuple[str, tuple[str, ...]]) -> ConsentEntry | None:
    return next((entry for entry in entries if entry.scope() == scope), None)


def _put(entries: Entries, new: ConsentEntry) -> Entries:
    kept = tuple(entry for entry in entries if entry.scope() != new.scope())
    return (*kept, new)


def _blocked_for_good(entries: Entries, event: ConsentEvent) -> bool:
    """A complaint, erasure or hard bounce at this account (or list) outlives any new grant."""
    wanted = set(event.lists)
    return any(
        entry.account_id == event.account_id
        and entry.status in _WITHDRAWN
        and entry.withdrawn_reason in _FOR_GOOD
        and (not entry.lists or not wanted or wanted & set(entry.lists))
        for entry in entries
    )


def _entry(event: ConsentEvent, status: ConsentStatus, policy: ConsentPolicy) -> ConsentEntry:
    entry = ConsentEntry(
        account_id=event.account_id,
        lists=tuple(sorted(event.lists)),
        status=status,
        basis=event.basis,
        jurisdiction=event.jurisdiction,
        cadence=event.cadence,
        source_kind=event.source_kind,
        source_id=event.source_id,
        wording_version=event.wording_version,
        requires_confirmation=event.requires_confirmation,
        granted_at=event.occurred_at,
        last_event_id=event.event_id,
    )
    if _lapses(entry, policy):
        entry = entry.model_copy(
            update={"expires_at": implied_expiry(event.basis, event.occurred_at, policy)}
        )
    return entry


def _withdraw(
    entry: ConsentEntry,
    status: ConsentStatus,
    reason: SuppressionReason,
    at: datetime,
    event_id: str,
) -> ConsentEntry:
    if entry.status == "hard_bounce" and status != "hard_bounce":
        return entry  # a hard bounce is the stronger fact; an unsubscribe does not soften it
    if entry.status == status:
        return entry  # withdrawn already: the first withdrawal stands, as its suppression does
    return entry.model_copy(
        update={
            "status": status,
            "withdrawn_at": at,
            "withdrawn_reason": reason,
            "last_event_id": event_id,
        }
    )


def _withdraw_scope(
    entries: Entries,
    account_id: str,
    lists: tuple[str, ...],
    *,
    status: ConsentStatus,
    reason: SuppressionReason,
    at: datetime,
    event_id: str,
) -> Entries:
    """Withdraw consent for an account (no lists: all of it) or some of its lists.

    Entries inside the scope are withdrawn; a withdrawal entry for exactly the scope is added
    when none exists, so a later import or a broader opt-in cannot cover the scope again.
    """
    wanted = set(lists)
    out = [
        _withdraw(entry, status, reason, at, event_id)
        if entry.account_id == account_id
        and (not wanted or (entry.lists and set(entry.lists) <= wanted))
        else entry
        for entry in entries
    ]
    scopes = [(account_id, (name,)) for name in sorted(wanted)] if wanted else [(account_id, ())]
    for scope in scopes:
        if not any(entry.scope() == scope for entry in out):
            out.append(
                ConsentEntry(
                    account_id=account_id,
                    lists=scope[1],
                    status=status,
                    source_kind="bounce" if reason == "hard_bounce" else "unsubscribe",
                    withdrawn_at=at,
                    withdrawn_reason=reason,
                    last_event_id=event_id,
                )
            )
    return tuple(out)


def _remember(entries: Entries, state: ConsentState, event_id: str) -> ConsentState:
    ids = (*state.applied_event_ids, event_id)[-REMEMBERED_EVENT_IDS:]
    return ConsentState(entries=entries, applied_event_ids=ids)


def _deadlines(entry: ConsentEntry, policy: ConsentPolicy) -> list[datetime]:
    if entry.expires_at is None or entry.status in _WITHDRAWN or entry.basis not in _IMPLIED:
        return []
    moments = []
    if not entry.expiring_notified:
        moments.append(entry.expires_at - timedelta(days=policy.expiry_notice_days))
    if not entry.expired_notified:
        moments.append(entry.expires_at)
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
