"""Folding unsubscribe clicks into a recipient's suppressions: added, already there, replayed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from hypothesis import given
from hypothesis import strategies as st

from streams.core.records import SuppressionEntry, SuppressionState, UnsubscribeClick
from streams.suppression.fold import REMEMBERED_EVENT_IDS, apply_click
from tests.support.factory import unsubscribe_click

KEY = "5f" * 32
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
LIST = "weekly-news"


click = partial(unsubscribe_click, recipient_key=KEY, account_id="acct-42", clicked_at=T0)
"""A click of one recipient for account `acct-42` (its list `LIST` when the test says)."""


def fold(state: SuppressionState | None, *clicks: UnsubscribeClick) -> SuppressionState:
    for each in clicks:
        state, _ = apply_click(state, each, source=f"unsubscribe-clicks/0/{each.click_id}", now=NOW)
    return state or SuppressionState()


def test_first_click_adds_its_entry() -> None:
    """A first click adds one entry made from it and remembers its id."""
    state, change = apply_click(
        None, click(click_id="c1", list_id=LIST), source="unsubscribe-clicks/3/17", now=NOW
    )
    expected = SuppressionEntry(
        scope="list",
        account_id="acct-42",
        list_id="weekly-news",
        reason="unsubscribe",
        since=T0,
        source="unsubscribe-clicks/3/17",
        source_event_id="c1",
    )
    assert state.entries == (expected,)
    assert state.applied_event_ids == ("c1",)
    assert change.outcome == "added"
    assert change.entry == expected
    assert change.recipient_key == KEY
    assert change.changed_at == NOW


def test_same_click_again_is_replayed_and_changes_nothing() -> None:
    """Applying the very same click again leaves the state as it was."""
    once = fold(None, click(click_id="c1", list_id=LIST))
    again, change = apply_click(
        once, click(click_id="c1", list_id=LIST), source="unsubscribe-clicks/3/17", now=NOW
    )
    assert change.outcome == "replayed"
    assert again == once


def test_new_click_for_an_existing_target_is_already_suppressed() -> None:
    """Another click for the same scope, account and list adds no entry; the first one stays."""
    once = fold(None, click(click_id="c1", list_id=LIST))
    later = click(click_id="c2", clicked_at=T0 + timedelta(days=3), reason="manual", list_id=LIST)
    state, change = apply_click(once, later, source="unsubscribe-clicks/3/40", now=NOW)
    assert change.outcome == "already_suppressed"
    assert state.entries == once.entries
    assert state.entries[0].source_event_id == "c1"
    assert state.applied_event_ids == ("c1", "c2")


def test_other_targets_are_added_beside_each_other() -> None:
    """Each different target (other list, account scope, platform) is its own entry."""
    state = fold(
        None,
        click(click_id="c1", list_id=LIST),
        click(click_id="c2", list_id="product-updates"),
        click(click_id="c3", scope="account"),
        click(click_id="c4", scope="account", account_id="acct-7"),
        click(click_id="c5", scope="platform", account_id=None),
    )
    assert [entry.target() for entry in state.entries] == [
        ("list", "acct-42", "weekly-news"),
        ("list", "acct-42", "product-updates"),
        ("account", "acct-42", None),
        ("account", "acct-7", None),
        ("platform", None, None),
    ]


def test_platform_click_drops_the_account_from_its_entry() -> None:
    """A platform click may say which account's mail it came from; the entry names no account."""
    state, change = apply_click(
        None, click(click_id="c1", scope="platform"), source="unsubscribe-clicks/0/1", now=NOW
    )
    assert change.entry.account_id is None
    assert change.entry.list_id is None
    assert state.entries[0].target() == ("platform", None, None)
    # So a platform click from another account's mail is the same suppression.
    _, second = apply_click(
        state,
        click(click_id="c2", scope="platform", account_id="acct-7"),
        source="unsubscribe-clicks/0/2",
        now=NOW,
    )
    assert second.outcome == "already_suppressed"


def test_list_click_entry_keeps_account_and_list() -> None:
    """A list entry names the account and the list it was clicked for."""
    _, change = apply_click(
        None,
        click(click_id="c1", account_id="acct-7", list_id="offers"),
        source="unsubscribe-clicks/0/1",
        now=NOW,
    )
    assert change.entry.target() == ("list", "acct-7", "offers")


def test_old_replay_beyond_memory_still_changes_nothing() -> None:
    """A replay older than the remembered ids finds its entry and adds nothing."""
    first = click(click_id="c0", list_id=LIST)
    others = [
        click(click_id=f"c{i}", scope="account", account_id=f"acct-{i}")
        for i in range(1, REMEMBERED_EVENT_IDS + 2)
    ]
    state = fold(None, first, *others)
    assert "c0" not in state.applied_event_ids
    assert len(state.applied_event_ids) == REMEMBERED_EVENT_IDS
    replayed, change = apply_click(state, first, source="unsubscribe-clicks/0/c0", now=NOW)
    assert change.outcome == "already_suppressed"
    assert replayed.entries == state.entries


def test_suppression_is_never_lifted_by_a_click() -> None:
    """No click removes or replaces an entry: complaints and erasures stay."""
    state = fold(
        None,
        click(click_id="c1", scope="platform", account_id=None, reason="complaint"),
        click(click_id="c2", scope="platform", account_id=None, reason="unsubscribe"),
    )
    assert [entry.reason for entry in state.entries] == ["complaint"]


# A few accounts and lists so that sequences hit the same targets often.
_POOL = [
    click(click_id=f"p{i}", scope=scope, account_id=account, list_id=list_id)
    for i, (scope, account, list_id) in enumerate(
        [
            ("list", "acct-1", "news"),
            ("list", "acct-1", "offers"),
            ("list", "acct-2", "news"),
            ("account", "acct-1", None),
            ("account", "acct-2", None),
            ("platform", None, None),
            ("platform", "acct-2", None),
            ("list", "acct-1", "news"),  # same target as p0, another click
        ]
    )
]
_sequences = st.lists(st.sampled_from(_POOL), max_size=40)


@given(_sequences)
def test_replaying_a_sequence_changes_no_entry(sequence: list[UnsubscribeClick]) -> None:
    """Applying a sequence of clicks, then all of it again, leaves the entries of once."""
    once = fold(None, *sequence)
    twice = fold(once, *sequence)
    assert twice.entries == once.entries


@given(_sequences)
def test_one_entry_per_target_from_its_first_click(sequence: list[UnsubscribeClick]) -> None:
    """Entries are one per distinct target, in first-seen order, each from its first click."""
    state = fold(None, *sequence)
    first_click: dict[tuple[str, str | None, str | None], str] = {}
    for each in sequence:
        target = (each.scope, each.account_id if each.scope != "platform" else None, each.list_id)
        first_click.setdefault(target, each.click_id)
    assert [entry.target() for entry in state.entries] == list(first_click)
    assert [entry.source_event_id for entry in state.entries] == list(first_click.values())
