"""Read a recipient's consents: which entry speaks for a message, and whether an opt-in was in
force when a complaint came.

Pure: the consent rules ask `consent_for` on every commercial send; the enforcer asks
`opt_in_proven` before it fines a complaint.
"""

from __future__ import annotations

from datetime import UTC, datetime

from streams.consent.policy import ConsentPolicy
from streams.core.clock import utc
from streams.core.records import ConsentEntry, ConsentState

__all__ = ["consent_for", "opt_in_proven"]


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
