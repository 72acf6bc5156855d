"""Fold unsubscribe and suppression requests into a recipient's suppressions.

Pure: the suppression keeper agent calls `apply_click` with the table's current value and writes
back what it returns. Applying the same click twice changes nothing (its id is remembered, and
even a click too old to be remembered finds its suppression already there), so a replayed topic
leaves the table as it was. A suppression is never lifted here: lifting a complaint or an erasure
is a deliberate act with its own event (a later issue), never a side effect of another request.
"""

from __future__ import annotations

from datetime import datetime

from streams.core.records import (
    SuppressionChange,
    SuppressionEntry,
    SuppressionState,
    UnsubscribeClick,
)

__all__ = ["REMEMBERED_EVENT_IDS", "apply_click", "entry_for_click"]

REMEMBERED_EVENT_IDS = 32
"""How many recent event ids a recipient's state keeps to label replays; older replays are still
harmless, they find their suppression in place."""


def entry_for_click(click: UnsubscribeClick, source: str) -> SuppressionEntry:
    return SuppressionEntry(
        scope=click.scope,
        account_id=click.account_id if click.scope != "platform" else None,
        list_id=click.list_id if click.scope == "list" else None,
        reason=click.reason,
        since=click.clicked_at,
        source=source,
        source_event_id=click.click_id,
    )


def apply_click(
    state: SuppressionState | None,
    click: UnsubscribeClick,
    *,
    source: str,
    now: datetime,
) -> tuple[SuppressionState, SuppressionChange]:
    """The recipient's suppressions after `click`, and what the click changed."""
    state = state or SuppressionState()
    entry = entry_for_click(click, source)
    if click.click_id in state.applied_event_ids:
        outcome = "replayed"
        new_state = state
    elif any(existing.target() == entry.target() for existing in state.entries):
        outcome = "already_suppressed"
        new_state = _remember(state, click.click_id)
    else:
        outcome = "added"
        new_state = _remember(
            SuppressionState(
                entries=(*state.entries, entry), applied_event_ids=state.applied_event_ids
            ),
            click.click_id,
        )
    change = SuppressionChange(
        recipient_key=click.recipient_key, entry=entry, outcome=outcome, changed_at=now
    )
    return new_state, change


def _remember(state: SuppressionState, event_id: str) -> SuppressionState:
    ids = (*state.applied_event_ids, event_id)[-REMEMBERED_EVENT_IDS:]
    return SuppressionState(entries=state.entries, applied_event_ids=ids)
