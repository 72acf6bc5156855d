"""Fold consent events and unsubscribes into a recipient's consents.

Pure: the consent keeper calls `apply_consent_event`, the suppression keeper `apply_opt_out`, each
with the table's current value, and writes back what they return. Applying an event twice changes
nothing (its id is remembered). The passing of time is folded in by `streams.consent.notices`.

Accounts choose their consent event ids, so one id can name two accounts' events for one person:
a consent event is remembered by account and id (`remembered_as`), never by the id alone, which
would take one account's sign-up or withdrawal for a replay of another's. Ids remembered alone by
earlier versions still count as applied (never apply twice what may have been applied); they leave
the memory as newer ones come in.

One entry per (account, lists) scope; an entry without lists covers all of the account's mail.
The entry that speaks for a message is the most specific one covering its list
(`streams.consent.lookup.consent_for`), so a withdrawal from one list outranks an account-wide
opt-in, and an account-wide withdrawal reaches every entry of the account.

Protective choices (each is a platform's reason to exist, not a legal nicety):
- An import never overrides anything already known about the person: an opt-in stays as it is, and
  a withdrawal, complaint or hard bounce stays a withdrawal. Imported people start pending review.
- A person's own new grant (a form, a checkout) re-opts them in after an unsubscribe, but never
  after a complaint, an erasure or a hard bounce: those are lifted by an operator, not a form.
- An implied basis never replaces a live express consent: a purchase by a subscriber changes
  nothing. A new implied grant restarts the implied consent's clock (CASL s.10(10)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from streams.consent.policy import ConsentPolicy
from streams.consent.timing import IMPLIED_BASES, implied_expiry, lapses
from streams.core.records import (
    LIVE_STATUSES,
    WITHDRAWN_STATUSES,
    ConsentEntry,
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    SuppressionReason,
    UnsubscribeClick,
)

__all__ = [
    "LIVE_STATUSES",
    "REMEMBERED_EVENT_IDS",
    "WITHDRAWN_STATUSES",
    "ConsentFold",
    "ConsentOutcome",
    "apply_consent_event",
    "apply_opt_out",
    "remembered_as",
]

REMEMBERED_EVENT_IDS = 32
_FOR_GOOD: frozenset[SuppressionReason] = frozenset({"complaint", "erasure", "hard_bounce"})

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


def apply_consent_event(
    state: ConsentState | None, event: ConsentEvent, policy: ConsentPolicy
) -> ConsentFold:
    """The recipient's consents after `event`, and what the event did."""
    state = state or ConsentState()
    remembered = remembered_as(event)
    if remembered in state.applied_event_ids or event.event_id in state.applied_event_ids:
        return ConsentFold(state, "replayed")
    entries, outcome = _FOLDS[event.kind](state.entries, event, policy)
    return ConsentFold(_remember(entries, state, remembered), outcome)


def remembered_as(event: ConsentEvent) -> str:
    """How a consent event is kept among a state's applied ids: its account and id. The length
    prefix keeps account `a:b` with event `c` apart from account `a` with event `b:c`."""
    return f"{len(event.account_id)}:{event.account_id}:{event.event_id}"


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
        and event.basis in IMPLIED_BASES
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
        if e.status in WITHDRAWN_STATUSES
        and (not e.lists or set(scope[1]) & set(e.lists) or not scope[1])
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
    def approved(entry: ConsentEntry) -> bool:
        return (
            entry.account_id == event.account_id
            and entry.status == "pending_review"
            and entry.source_id == event.source_id
        )

    def approve(entry: ConsentEntry) -> dict[str, object]:
        status: ConsentStatus = "unconfirmed" if entry.requires_confirmation else "single_opt_in"
        return {"status": status, "last_event_id": event.event_id}

    return _update_where(entries, approved, approve, "approved")


def _confirm(
    entries: Entries, event: ConsentEvent, policy: ConsentPolicy
) -> tuple[Entries, ConsentOutcome]:
    def confirmed(entry: ConsentEntry) -> bool:
        return (
            entry.account_id == event.account_id
            and entry.status == "unconfirmed"
            and (not event.lists or set(entry.lists) <= set(event.lists))
        )

    update = {
        "status": "double_opt_in",
        "confirmed_at": event.occurred_at,
        "last_event_id": event.event_id,
    }
    return _update_where(entries, confirmed, lambda _: update, "confirmed")


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

    def changes_cadence(entry: ConsentEntry) -> bool:
        return (
            entry.account_id == event.account_id
            and entry.status in LIVE_STATUSES
            and (not event.lists or not entry.lists or set(event.lists) & set(entry.lists))
            and entry.cadence != event.cadence
        )

    update = {"cadence": event.cadence, "last_event_id": event.event_id}
    return _update_where(entries, changes_cadence, lambda _: update, "cadence_changed")


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


def _update_where(
    entries: Entries,
    matches: Callable[[ConsentEntry], bool],
    update: Callable[[ConsentEntry], dict[str, object]],
    outcome: ConsentOutcome,
) -> tuple[Entries, ConsentOutcome]:
    """The entries with `update` applied to those that `matches`, and `outcome`; when none
    matches, the entries as they were and `nothing_to_change`."""
    changed = False
    out: list[ConsentEntry] = []
    for entry in entries:
        if matches(entry):
            entry = entry.model_copy(update=update(entry))
            changed = True
        out.append(entry)
    return (tuple(out), outcome) if changed else (entries, "nothing_to_change")


def _blocked_for_good(entries: Entries, event: ConsentEvent) -> bool:
    """A complaint, erasure or hard bounce at this account (or list) outlives any new grant."""
    wanted = set(event.lists)
    return any(
        entry.account_id == event.account_id
        and entry.status in WITHDRAWN_STATUSES
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
    if lapses(entry, policy):
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
