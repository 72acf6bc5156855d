"""The consent fold: what each event does to a recipient's consents, and what it may not do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from pydantic import ValidationError

from streams.consent.fold import apply_consent_event, apply_opt_out, remembered_as
from streams.consent.lookup import consent_for
from streams.consent.notices import due_notices, next_deadline
from streams.consent.timing import check_event_time, implied_expiry
from streams.core.errors import InvalidRecordError
from streams.core.records import ConsentEvent, ConsentState
from streams.policy import load_policy
from tests.support.factory import consent_event, unsubscribe_click

POLICY = load_policy().consent
KEY = "cd" * 32
T0 = datetime(2025, 4, 1, 10, 0, tzinfo=UTC)


ev = partial(consent_event, recipient_key=KEY, account_id="maple", occurred_at=T0)
"""A consent event of one recipient about account `maple`: by default a sign-up."""
click = partial(
    unsubscribe_click,
    recipient_key=KEY,
    scope="account",
    account_id="maple",
    clicked_at=T0 + timedelta(days=1),
)
"""The recipient leaves account `maple` a day after `T0`."""


def fold(
    *events: ConsentEvent, state: ConsentState | None = None
) -> tuple[ConsentState, list[str]]:
    outcomes = []
    for event in events:
        result = apply_consent_event(state, event, POLICY)
        state = result.state
        outcomes.append(result.outcome)
    assert state is not None
    return state, outcomes


def status(state: ConsentState, list_id: str | None = "deals") -> str | None:
    entry = consent_for(state.entries, "maple", list_id)
    return entry.status if entry else None


def test_double_opt_in_keeps_the_person_unconfirmed_until_they_confirm() -> None:
    state, _ = fold(ev(event_id="g", requires_confirmation=True))
    assert status(state) == "unconfirmed"
    state, outcomes = fold(
        ev(event_id="c", kind="confirm", occurred_at=T0 + timedelta(hours=1)), state=state
    )
    assert (status(state), outcomes) == ("double_opt_in", ["confirmed"])
    assert consent_for(state.entries, "maple", None).confirmed_at == T0 + timedelta(hours=1)


def test_imported_people_wait_for_the_review() -> None:
    state, outcomes = fold(ev(event_id="i", kind="import"))
    assert (status(state), outcomes) == ("pending_review", ["imported"])
    state, outcomes = fold(
        ev(event_id="r-other", kind="review_approved", source_id="imp-2"), state=state
    )
    assert (status(state), outcomes) == ("pending_review", ["nothing_to_change"])
    state, outcomes = fold(ev(event_id="r", kind="review_approved"), state=state)
    assert (status(state), outcomes) == ("single_opt_in", ["approved"])


def test_an_approved_import_to_a_double_opt_in_list_still_needs_confirmation() -> None:
    state, _ = fold(
        ev(event_id="i", kind="import", requires_confirmation=True),
        ev(event_id="r", kind="review_approved"),
    )
    assert status(state) == "unconfirmed"


@pytest.mark.parametrize("reason", ["unsubscribe", "complaint", "hard_bounce", "erasure"])
def test_a_re_import_never_overrides_a_withdrawal(reason: str) -> None:
    state, _ = fold(ev(event_id="g"))
    state = apply_opt_out(state, click(reason=reason))
    state, outcomes = fold(
        ev(event_id="i", kind="import"), ev(event_id="r", kind="review_approved"), state=state
    )
    assert outcomes == ["kept_withdrawal", "nothing_to_change"]
    assert status(state) == ("hard_bounce" if reason == "hard_bounce" else "transactional_only")


def test_a_re_import_does_not_downgrade_an_opt_in() -> None:
    state, outcomes = fold(
        ev(event_id="g", requires_confirmation=True),
        ev(event_id="c", kind="confirm"),
        ev(event_id="i", kind="import"),
    )
    assert outcomes[-1] == "already_consented"
    assert status(state) == "double_opt_in"


def test_a_list_import_does_not_reopen_a_list_the_person_left() -> None:
    state, _ = fold(ev(event_id="g"))
    state = apply_opt_out(state, click(scope="list", list_id="deals"))
    state, outcomes = fold(ev(event_id="i", kind="import", lists=("deals",)), state=state)
    assert outcomes == ["kept_withdrawal"]
    assert status(state, "deals") == "transactional_only"
    assert status(state, "news") == "single_opt_in"


def test_a_new_grant_lifts_an_unsubscribe_but_never_a_complaint() -> None:
    """The person signing up again is a fresh consent; a complaint is lifted by an operator."""
    state, _ = fold(ev(event_id="g"))
    state, outcomes = fold(ev(event_id="g2"), state=apply_opt_out(state, click()))
    assert (status(state), outcomes) == ("single_opt_in", ["granted"])
    state, _ = fold(ev(event_id="g3"))
    state, outcomes = fold(ev(event_id="g4"), state=apply_opt_out(state, click(reason="complaint")))
    assert (status(state), outcomes) == ("transactional_only", ["kept_withdrawal"])


def test_a_purchase_does_not_replace_express_consent() -> None:
    state, outcomes = fold(
        ev(event_id="g"), ev(event_id="p", basis="implied_purchase", source_kind="checkout")
    )
    assert outcomes == ["granted", "already_consented"]
    assert consent_for(state.entries, "maple", None).basis == "express"


def test_a_new_purchase_restarts_casl_implied_consent() -> None:
    """CASL s.10(10)(a): two years from the purchase, so from the latest purchase."""
    later = T0 + timedelta(days=300)
    state, _ = fold(
        ev(event_id="p1", basis="implied_purchase", jurisdiction="CA"),
        ev(event_id="p2", basis="implied_purchase", jurisdiction="CA", occurred_at=later),
    )
    entry = consent_for(state.entries, "maple", None)
    assert entry.expires_at == datetime(2028, 1, 26, 10, 0, tzinfo=UTC)  # 2026-01-26 + 2 years


def test_implied_consent_outside_canada_has_no_expiry() -> None:
    state, _ = fold(ev(event_id="p", basis="implied_purchase", jurisdiction="AU"))
    assert consent_for(state.entries, "maple", None).expires_at is None
    assert next_deadline(state, POLICY) is None


def test_a_replayed_event_changes_nothing() -> None:
    state, _ = fold(ev(event_id="g"), ev(event_id="w", kind="withdraw"))
    again, outcomes = fold(ev(event_id="g"), state=state)
    assert (again, outcomes) == (state, ["replayed"])


def test_two_accounts_events_with_one_id_are_both_applied() -> None:
    """Accounts choose their event ids: birch's withdrawal `w` is not a replay of maple's `w`."""
    state, outcomes = fold(
        ev(event_id="g"),
        ev(event_id="g", account_id="birch"),
        ev(event_id="w", kind="withdraw"),
        ev(event_id="w", account_id="birch", kind="withdraw"),
    )

    assert outcomes == ["granted", "granted", "withdrawn", "withdrawn"]
    assert {(entry.account_id, entry.status) for entry in state.entries} == {
        ("maple", "transactional_only"),
        ("birch", "transactional_only"),
    }
    again, replayed = fold(ev(event_id="w", account_id="birch", kind="withdraw"), state=state)
    assert (again, replayed) == (state, ["replayed"])


def test_an_id_remembered_alone_still_counts_as_applied() -> None:
    """State written before ids were remembered per account: its bare ids are never re-applied."""
    earlier = ConsentState(applied_event_ids=("g",))

    assert fold(ev(event_id="g"), state=earlier)[1] == ["replayed"]
    assert remembered_as(ev(event_id="b:c", account_id="a")) != remembered_as(
        ev(event_id="c", account_id="a:b")
    )


def test_a_platform_hard_bounce_reaches_every_account() -> None:
    state, _ = fold(ev(event_id="g"), ev(event_id="g2", account_id="birch"))
    state = apply_opt_out(state, click(reason="hard_bounce", scope="platform", account_id=None))
    assert {entry.status for entry in state.entries} == {"hard_bounce"}
    # and a later unsubscribe does not soften it
    state = apply_opt_out(state, click(click_id="late"))
    assert {entry.status for entry in state.entries} == {"hard_bounce"}


def test_implied_expiry_follows_the_calendar() -> None:
    assert implied_expiry("implied_inquiry", datetime(2025, 8, 31, tzinfo=UTC), POLICY) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert implied_expiry("express", T0, POLICY) is None


def test_due_notices_come_once_each_and_skip_withdrawn_consent() -> None:
    state, _ = fold(
        ev(event_id="p", basis="implied_inquiry", jurisdiction="CA")
    )  # lapses 2025-10-01
    assert due_notices(state, KEY, POLICY, now=datetime(2025, 8, 31, tzinfo=UTC))[1] == ()
    state, notices = due_notices(state, KEY, POLICY, now=datetime(2025, 9, 1, 10, 0, tzinfo=UTC))
    assert [n.kind for n in notices] == ["expiring"]
    assert due_notices(state, KEY, POLICY, now=datetime(2025, 9, 2, tzinfo=UTC))[1] == ()
    withdrawn = apply_opt_out(state, click())
    assert due_notices(withdrawn, KEY, POLICY, now=datetime(2025, 11, 1, tzinfo=UTC))[1] == ()
    state, notices = due_notices(state, KEY, POLICY, now=datetime(2025, 11, 1, tzinfo=UTC))
    assert [n.kind for n in notices] == ["expired"]
    assert next_deadline(state, POLICY) is None


def test_events_from_the_future_are_refused() -> None:
    now = T0 - timedelta(minutes=10)
    with pytest.raises(InvalidRecordError, match="in the future"):
        check_event_time(ev(event_id="g"), now, POLICY)
    check_event_time(
        ev(event_id="g"), T0 - timedelta(minutes=4), POLICY
    )  # inside the 5-minute tolerance


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"basis": None}, "needs a basis"),
        ({"jurisdiction": "UK"}, "unknown jurisdiction"),
        ({"kind": "review_approved", "source_id": None}, "names the approved import"),
        ({"lists": ("a", "a")}, "must not repeat"),
    ],
)
def test_invalid_consent_events_say_what_is_wrong(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ev(event_id="bad", **fields)


def test_a_second_unsubscribe_keeps_the_first_withdrawal() -> None:
    """Like the suppression (which keeps its first entry), the consent keeps the first
    withdrawal's time and event: the suppression rules then still recognise it as theirs."""
    state, _ = fold(ev(event_id="g"))
    first = apply_opt_out(state, click())
    second = apply_opt_out(first, click(click_id="click-again", clicked_at=T0 + timedelta(days=9)))
    assert second.entries == first.entries
