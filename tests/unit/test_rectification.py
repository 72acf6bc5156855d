"""Correcting an address (GDPR Art. 16), decided on plain records (`streams.privacy.rectification`):
the old key's live consents move to the new key as new events, through the consent fold as any
consent event goes, and the old key keeps what was withdrawn there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from streams.consent.fold import apply_consent_event
from streams.consent.lookup import consent_for
from streams.consent.policy import ConsentPolicy
from streams.consent.timing import check_event_time
from streams.core.errors import InvalidRecordError
from streams.core.records import (
    AddressCorrection,
    ConsentEntry,
    ConsentEvent,
    ConsentState,
)
from streams.privacy.rectification import (
    check_correction_time,
    moved_consent_events,
    moved_event_id,
)
from tests.support.factory import KEYER, consent_event

OLD = KEYER.key("ana@exmaple.com")
NEW = KEYER.key("ana@example.com")
SIGNED_UP = datetime(2025, 1, 10, 15, 0, tzinfo=UTC)
CONFIRMED = SIGNED_UP + timedelta(minutes=7)
CORRECTED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
POLICY = ConsentPolicy()

CORRECTION = AddressCorrection(
    correction_id="dpo-2026-0121",
    old_recipient_key=OLD,
    new_recipient_key=NEW,
    requested_by="privacy-desk",
    requested_at=CORRECTED,
)


def fold(state: ConsentState | None, events: list[ConsentEvent], key: str) -> ConsentState:
    """The consents of `key` after the events about it, folded as the consent keeper folds them."""
    for event in events:
        if event.recipient_key == key:
            state = apply_consent_event(state, event, POLICY).state
    return state or ConsentState()


def at_old_key(*events: ConsentEvent) -> ConsentState:
    return fold(None, [e.model_copy(update={"recipient_key": OLD}) for e in events], OLD)


def only(state: ConsentState, account: str = "acme", list_id: str | None = None) -> ConsentEntry:
    entry = consent_for(state.entries, account, list_id)
    assert entry is not None
    return entry


def move(
    state: ConsentState, into: ConsentState | None = None
) -> tuple[ConsentState, ConsentState]:
    """The new key's and the old key's consents after the correction's events."""
    events = list(moved_consent_events(CORRECTION, state))
    return fold(into, events, NEW), fold(state, events, OLD)


def test_a_single_opt_in_moves_with_its_evidence_and_the_old_address_is_withdrawn() -> None:
    old = at_old_key(
        consent_event(
            event_id="signup-1", occurred_at=SIGNED_UP, wording_version="v3", cadence="weekly"
        )
    )
    new, old_after = move(old)
    moved = only(new)
    assert moved.status == "single_opt_in"
    assert moved.basis == "express"
    assert moved.granted_at == SIGNED_UP
    assert (moved.wording_version, moved.cadence) == ("v3", "weekly")
    assert moved.source_kind == "support"
    assert moved.source_id == "rectification:dpo-2026-0121"
    withdrawn = only(old_after)
    assert withdrawn.status == "transactional_only"
    assert withdrawn.withdrawn_at == CORRECTED


def test_a_double_opt_in_stays_double_with_its_confirmation_time() -> None:
    old = at_old_key(
        consent_event(event_id="signup-1", occurred_at=SIGNED_UP, requires_confirmation=True),
        consent_event(
            event_id="click-1",
            kind="confirm",
            occurred_at=CONFIRMED,
            source_kind="confirmation_link",
        ),
    )
    assert only(old).status == "double_opt_in"
    new, _ = move(old)
    assert only(new).status == "double_opt_in"
    assert only(new).granted_at == SIGNED_UP
    assert only(new).confirmed_at == CONFIRMED


def test_an_unconfirmed_sign_up_moves_unconfirmed() -> None:
    old = at_old_key(
        consent_event(event_id="signup-1", occurred_at=SIGNED_UP, requires_confirmation=True)
    )
    new, old_after = move(old)
    assert only(new).status == "unconfirmed"
    assert only(new).confirmed_at is None
    assert only(old_after).status == "transactional_only"


def test_an_import_pending_review_stays_pending_and_its_approval_approves_it_at_the_new_key() -> (
    None
):
    old = at_old_key(consent_event(event_id="imp-1", kind="import", occurred_at=SIGNED_UP))
    assert only(old).status == "pending_review"
    new, old_after = move(old)
    moved = only(new)
    assert moved.status == "pending_review"
    assert (moved.source_kind, moved.source_id) == ("import", "import-1")
    assert only(old_after).status == "transactional_only"
    approval = consent_event(
        event_id="review-1", kind="review_approved", recipient_key=NEW, occurred_at=CORRECTED
    )
    assert only(fold(new, [approval], NEW)).status == "single_opt_in"


def test_an_approved_import_moves_as_the_accounts_word_not_the_persons() -> None:
    """An erasure is lifted only by the person's own consent: a moved import stays an import."""
    old = at_old_key(
        consent_event(event_id="imp-1", kind="import", occurred_at=SIGNED_UP),
        consent_event(event_id="review-1", kind="review_approved", occurred_at=CONFIRMED),
    )
    new, _ = move(old)
    assert only(new).status == "single_opt_in"
    assert only(new).source_kind == "import"


@pytest.mark.parametrize(
    "withdrawal",
    [
        consent_event(event_id="unsub-1", kind="withdraw", occurred_at=CONFIRMED),
        consent_event(event_id="unsub-1", kind="withdraw", occurred_at=CONFIRMED, lists=("news",)),
    ],
    ids=["account", "its only list"],
)
def test_a_withdrawn_consent_stays_behind(withdrawal: ConsentEvent) -> None:
    """An unsubscribe at the old address is not undone by the move."""
    lists = withdrawal.lists
    old = at_old_key(
        consent_event(event_id="signup-1", occurred_at=SIGNED_UP, lists=lists), withdrawal
    )
    assert moved_consent_events(CORRECTION, old) == ()


def test_a_hard_bounced_or_complained_address_moves_nothing() -> None:
    for status, reason in (("hard_bounce", "hard_bounce"), ("transactional_only", "complaint")):
        entry = ConsentEntry(
            account_id="acme",
            status=status,
            basis="express",
            source_kind="form",
            granted_at=SIGNED_UP,
            withdrawn_at=CONFIRMED,
            withdrawn_reason=reason,
            last_event_id="bounce-1",
        )
        assert moved_consent_events(CORRECTION, ConsentState(entries=(entry,))) == ()
    assert moved_consent_events(CORRECTION, None) == ()


@pytest.mark.parametrize(
    ("basis", "lapses_on"),
    [
        # CASL s.10(10)(a): two years from the purchase; (b): six months from the inquiry.
        ("implied_purchase", datetime(2027, 1, 10, 15, 0, tzinfo=UTC)),
        ("implied_inquiry", datetime(2025, 7, 10, 15, 0, tzinfo=UTC)),
    ],
)
def test_an_implied_consent_keeps_its_clock(basis: str, lapses_on: datetime) -> None:
    """A correction is no purchase and no inquiry: the consent lapses when it would have."""
    old = at_old_key(
        consent_event(event_id="order-1", basis=basis, jurisdiction="CA", occurred_at=SIGNED_UP)
    )
    new, _ = move(old)
    assert only(new).granted_at == SIGNED_UP
    assert only(new).expires_at == lapses_on


def test_every_moved_event_is_believed_by_the_consent_keeper_at_the_correction_time() -> None:
    """Events dated in the past are kept; only the future is refused."""
    old = at_old_key(
        consent_event(event_id="signup-1", occurred_at=SIGNED_UP, requires_confirmation=True),
        consent_event(event_id="click-1", kind="confirm", occurred_at=CONFIRMED),
    )
    for event in moved_consent_events(CORRECTION, old):
        check_event_time(event, CORRECTED, POLICY)


def test_lists_move_as_they_were_with_the_lists_the_person_left() -> None:
    old = at_old_key(
        consent_event(event_id="signup-1", occurred_at=SIGNED_UP),
        consent_event(event_id="signup-2", occurred_at=SIGNED_UP, lists=("deals", "tips")),
        consent_event(event_id="unsub-1", kind="withdraw", occurred_at=CONFIRMED, lists=("news",)),
    )
    new, old_after = move(old)
    assert only(new, list_id="news").status == "transactional_only"
    assert only(new, list_id="news").withdrawn_at == CONFIRMED
    assert only(new, list_id="offers").status == "single_opt_in"
    assert only(new, list_id="deals").lists == ("deals", "tips")
    assert only(new, list_id="deals").status == "single_opt_in"
    for list_id in ("news", "offers", "deals", "tips"):
        assert only(old_after, list_id=list_id).status == "transactional_only"


def test_an_account_the_person_left_does_not_move_beside_one_that_does() -> None:
    old = at_old_key(
        consent_event(event_id="signup-1", occurred_at=SIGNED_UP),
        consent_event(event_id="signup-2", occurred_at=SIGNED_UP, account_id="maple"),
        consent_event(
            event_id="unsub-1", kind="withdraw", occurred_at=CONFIRMED, account_id="maple"
        ),
    )
    new, old_after = move(old)
    assert only(new).status == "single_opt_in"
    assert consent_for(new.entries, "maple", None) is None
    assert only(old_after, "maple").withdrawn_at == CONFIRMED


def test_a_correction_read_twice_emits_the_same_events_and_changes_nothing_twice() -> None:
    old = at_old_key(
        consent_event(event_id="signup-1", occurred_at=SIGNED_UP, requires_confirmation=True),
        consent_event(event_id="click-1", kind="confirm", occurred_at=CONFIRMED),
        consent_event(event_id="signup-2", occurred_at=SIGNED_UP, account_id="maple"),
    )
    events = moved_consent_events(CORRECTION, old)
    assert moved_consent_events(CORRECTION, old) == events
    assert len({(e.recipient_key, e.account_id, e.event_id) for e in events}) == len(events)
    new_once = fold(None, list(events), NEW)
    new_twice = fold(new_once, list(events), NEW)
    assert new_twice.entries == new_once.entries
    outcomes = {
        apply_consent_event(new_once, e, POLICY).outcome for e in events if e.recipient_key == NEW
    }
    assert outcomes == {"replayed"}


def test_the_new_keys_events_come_before_the_old_keys_withdrawals() -> None:
    """Cut short after the new key's events, a correction read again still finds the consents
    live at the old key and moves them."""
    old = at_old_key(
        consent_event(event_id="signup-1", occurred_at=SIGNED_UP),
        consent_event(event_id="signup-2", occurred_at=SIGNED_UP, account_id="maple"),
    )
    keys = [event.recipient_key for event in moved_consent_events(CORRECTION, old)]
    assert keys == [NEW, NEW, OLD, OLD]


def test_event_ids_stay_ids_for_the_longest_correction_account_and_lists() -> None:
    correction_id = "c" * 100
    account, lists = "a" * 200, tuple(f"{n:0>200}" for n in range(50))
    event_id = moved_event_id(correction_id, "keep-withdrawal", account, lists)
    assert len(event_id) <= 200
    assert event_id.startswith(f"rectification:{correction_id}/keep-withdrawal/")
    assert moved_event_id(correction_id, "grant", account, lists) != moved_event_id(
        correction_id, "grant", account, lists[:-1]
    )
    assert moved_event_id("c-1", "grant", "a", ("b",)) != moved_event_id(
        "c-2", "grant", "a", ("b",)
    )


def test_the_fold_decides_when_the_new_address_has_a_consent_already() -> None:
    """The person signed up at the corrected address too: a double opt-in there stays as it is
    (same basis), and an implied basis from the old address never replaces an express consent."""
    double = fold(
        None,
        [
            consent_event(
                event_id="n-1", recipient_key=NEW, occurred_at=CORRECTED, requires_confirmation=True
            ),
            consent_event(event_id="n-2", recipient_key=NEW, kind="confirm", occurred_at=CORRECTED),
        ],
        NEW,
    )
    express_at_old = at_old_key(consent_event(event_id="signup-1", occurred_at=SIGNED_UP))
    new, _ = move(express_at_old, into=double)
    assert only(new).status == "double_opt_in"
    assert only(new).granted_at == CORRECTED

    implied_at_old = at_old_key(
        consent_event(event_id="order-1", basis="implied_purchase", occurred_at=SIGNED_UP)
    )
    new, old_after = move(implied_at_old, into=double)
    assert only(new).basis == "express"
    assert only(old_after).status == "transactional_only"


def test_a_correction_from_the_future_is_refused_within_the_tolerance_it_is_believed() -> None:
    check_correction_time(CORRECTION, CORRECTED - timedelta(seconds=300), 300)
    with pytest.raises(InvalidRecordError, match="in the future"):
        check_correction_time(CORRECTION, CORRECTED - timedelta(seconds=301), 300)


def test_a_correction_to_the_same_key_is_no_correction() -> None:
    with pytest.raises(ValidationError, match="same address"):
        AddressCorrection(
            correction_id="c-1",
            old_recipient_key=OLD,
            new_recipient_key=OLD,
            requested_by="desk",
            requested_at=CORRECTED,
        )
