"""The fold behind `sendgate replay state`: one person's records, ordered as the keepers apply
them, folded with the keepers' own functions, read at a moment.

The expectations come from the law and the platform's policy, not from running the fold: an
unsubscribe is honoured from the moment it reaches the gate (CAN-SPAM §7704(a)(4)) and withdraws
the consent at its scope; a hard bounce marks the address dead, and the platform suppression it
leads to exists only once the gate has asked for it; a weekly reader's allowed sends are what the
cadence rule counts.
"""

from __future__ import annotations

from datetime import timedelta

from streams.core.records import SendDecision
from streams.policy import load_policy
from streams.replay.person import (
    DecidedSend,
    Seen,
    accounts_of,
    bounces_from_ledger,
    consents_from_ledger,
    fold_person,
    merge_by_time,
    standings_at,
    suppressions_from_ledger,
)
from streams.reputation.standing import AccountSnapshot, EnforcementEvent
from streams.rules.inputs import DecisionInputs
from streams.sending.frequency import SendHistory, SentMark
from tests.support.factory import (
    ACCOUNT,
    AT,
    KEY,
    consent_event,
    delivery_event,
    send_request,
    unsubscribe_click,
)

POLICY = load_policy()
T1, T2, T3, T4 = (AT + timedelta(hours=n) for n in (1, 2, 3, 4))
MS = timedelta(milliseconds=1)


def seen(topic: str, offset: int, at, record) -> Seen:  # type: ignore[no-untyped-def]
    return Seen(topic, f"p-{topic}/0/{offset}", at, record)


GRANT = seen("consent-events", 0, T1, consent_event(event_id="signup", occurred_at=T1))
CLICK = seen(
    "unsubscribe-clicks", 0, T2, unsubscribe_click(click_id="c-1", scope="account", clicked_at=T2)
)
HARD = seen(
    "delivery-events",
    0,
    T3,
    delivery_event(
        event_id="dsn-1", kind="bounced", bounce_class="hard", reason="userunknown", occurred_at=T3
    ),
)
# What the gate asked for after the hard bounce: the platform suppression, a moment later.
DERIVED = seen(
    "unsubscribe-clicks",
    1,
    T3 + timedelta(seconds=1),
    unsubscribe_click(
        click_id="bounce:dsn-1",
        scope="platform",
        method="bounce_policy",
        reason="hard_bounce",
        clicked_at=T3,
    ),
)
STORY = {
    "consent-events": [GRANT],
    "unsubscribe-clicks": [CLICK, DERIVED],
    "delivery-events": [HARD],
}


def state_at(at, streams=STORY, **options):  # type: ignore[no-untyped-def]
    return fold_person(merge_by_time(streams), recipient_key=KEY, at=at, policy=POLICY, **options)


def test_before_anything_the_gate_knew_nothing() -> None:
    state = state_at(AT)
    assert state.suppressions == () and state.consents == () and state.bounces is None
    assert state.folded == 0


def test_between_signup_and_unsubscribe_the_person_is_opted_in_and_not_suppressed() -> None:
    state = state_at(T1 + timedelta(minutes=30))
    [entry] = state.consents
    assert (entry.account_id, entry.status, entry.basis) == (ACCOUNT, "single_opt_in", "express")
    assert entry.withdrawn_at is None
    assert state.suppressions == ()


def test_after_the_unsubscribe_the_account_is_suppressed_and_consent_withdrawn() -> None:
    state = state_at(T2 + MS)  # honoured from the millisecond after it arrived
    [suppression] = state.suppressions
    assert (suppression.scope, suppression.account_id, suppression.reason) == (
        "account",
        ACCOUNT,
        "unsubscribe",
    )
    assert suppression.since == T2
    assert suppression.source == "p-unsubscribe-clicks/0/0"  # the click's coordinates
    [entry] = state.consents
    assert entry.status == "transactional_only"
    assert (entry.withdrawn_at, entry.withdrawn_reason) == (T2, "unsubscribe")


def test_the_moment_itself_is_excluded() -> None:
    # --at T shows what was known before T: the click stamped exactly T2 is not yet in.
    assert state_at(T2).suppressions == ()


def test_a_hard_bounce_marks_the_address_before_its_suppression_arrives() -> None:
    state = state_at(T3 + MS)
    assert state.bounces is not None and state.bounces.hard_bounced
    assert [entry.scope for entry in state.suppressions] == ["account"]
    later = state_at(T4)
    assert {entry.scope for entry in later.suppressions} == {"account", "platform"}
    assert {entry.status for entry in later.consents} == {"hard_bounce"}


def test_a_click_in_the_same_millisecond_as_a_signup_is_applied_after_it() -> None:
    click = seen(
        "unsubscribe-clicks",
        0,
        T1,
        unsubscribe_click(click_id="c-0", scope="account", clicked_at=T1),
    )
    state = state_at(T2, {"consent-events": [GRANT], "unsubscribe-clicks": [click]})
    [entry] = state.consents
    assert entry.status == "transactional_only"


def test_a_topic_is_folded_in_offset_order_even_when_its_clock_went_back() -> None:
    first = seen("consent-events", 0, T2, consent_event(event_id="e-1", occurred_at=T1))
    second = seen(
        "consent-events",
        1,
        T1,
        consent_event(event_id="e-2", kind="withdraw", basis=None, occurred_at=T1),
    )
    merged = merge_by_time({"consent-events": [first, second]})
    assert [item.coordinates for item in merged] == [first.coordinates, second.coordinates]


def test_records_the_keepers_would_dead_letter_are_set_aside_not_folded() -> None:
    future = seen(
        "consent-events",
        1,
        T1,
        consent_event(event_id="from-the-future", occurred_at=T1 + timedelta(days=2)),
    )
    stranger = seen(
        "unsubscribe-clicks", 2, T1, unsubscribe_click(click_id="x", recipient_key="f" * 64)
    )
    state = state_at(T2, {"consent-events": [future], "unsubscribe-clicks": [stranger]})
    assert state.consents == () and state.suppressions == ()
    assert len(state.set_aside) == 2
    assert "in the future" in state.set_aside[0] or "in the future" in state.set_aside[1]


WEEKLY = seen(
    "consent-events", 0, AT, consent_event(event_id="weekly", cadence="weekly", occurred_at=AT)
)


def decided(offset: int, at, verdict: str = "allow", inputs=None) -> Seen:  # type: ignore[no-untyped-def]
    request = send_request(request_id=f"r-{offset}", requested_at=at)
    failures = (
        ()
        if verdict == "allow"
        else ({"rule": "cadence-exceeded", "law": "x", "explanation": "x"},)
    )
    decision = SendDecision.model_validate(
        {
            "request_id": request.request_id,
            "account_id": ACCOUNT,
            "recipient_key": KEY,
            "verdict": verdict,
            "failures": failures,
            "policy_version": POLICY.policy_version,
            "decided_at": at,
            "request_offset": f"send-requests/0/{offset}",
        }
    )
    return seen("send-decisions", offset, at, DecidedSend(decision, request, inputs))


def test_allowed_sends_under_a_cadence_make_the_history_denied_ones_do_not() -> None:
    streams = {
        "consent-events": [WEEKLY],
        "send-decisions": [decided(0, T1), decided(1, T2, "deny"), decided(2, T4)],
    }
    state = state_at(T3, streams)
    assert state.send_history is not None
    assert [mark.request_id for mark in state.send_history.sends] == ["r-0"]
    assert [m.request_id for m in state_at(T4 + MS, streams).send_history.sends] == ["r-0", "r-2"]


def test_without_a_cadence_or_cap_the_gate_keeps_no_history() -> None:
    state = state_at(T4, {"consent-events": [GRANT], "send-decisions": [decided(0, T2)]})
    assert state.send_history is None
    assert state.sections["send_history"].source == "topics"


def test_a_truncated_decisions_topic_starts_from_the_history_a_decision_recorded() -> None:
    earlier = SendHistory(
        sends=(SentMark(account_id=ACCOUNT, list_id="news", request_id="old", sent_at=AT),)
    )
    recorded = DecisionInputs(consents=(), send_history=earlier)
    streams = {"consent-events": [WEEKLY], "send-decisions": [decided(5, T2, "deny", recorded)]}
    state = state_at(T3, streams, history_seed=True)
    assert state.send_history == earlier
    assert "no longer reaches back" in state.sections["send_history"].notes[0]
    unseeded = state_at(T3, {"send-decisions": [decided(5, T2, "deny")]}, history_seed=True)
    assert unseeded.send_history is None
    assert unseeded.sections["send_history"].source == "unknown"


def test_accounts_of_the_person_and_their_standing_at_the_moment() -> None:
    state = state_at(T2 + MS)
    assert accounts_of(state) == [ACCOUNT]
    snapshot = AccountSnapshot(
        account_id=ACCOUNT,
        status="broadcasts_disabled",
        broadcasts_denied=True,
        strikes=1,
        as_of=T2,
    )
    strike = EnforcementEvent(
        event_id="strike-1",
        account_id=ACCOUNT,
        action="strike_issued",
        at=T2,
        policy_version="p",
        explanation="x",
        status_after=snapshot,
    )
    fine = strike.model_copy(
        update={"event_id": "fine", "action": "fine_assessed", "status_after": None}
    )
    records = [seen("enforcement-events", 0, T2, strike), seen("enforcement-events", 1, T3, fine)]
    assert standings_at(records, [ACCOUNT], T1)[0] == {ACCOUNT: None}
    # A fine changes nothing the gate denies: the strike's status stands after it.
    assert standings_at(records, [ACCOUNT], T4)[0] == {ACCOUNT: snapshot}


def test_ledger_rows_give_the_suppressions_applied_before_the_moment() -> None:
    row = {
        "id": 1,
        "recipient_key": KEY,
        "scope": "account",
        "account_id": ACCOUNT,
        "list_id": None,
        "reason": "unsubscribe",
        "since": T1,
        "changed_at": T2,
        "source": "p-unsubscribe-clicks/0/7",
        "source_event_id": "c-7",
    }
    assert suppressions_from_ledger([row], T2)[0] == ()
    [entry], section = suppressions_from_ledger([row], T3)
    assert (entry.scope, entry.since, entry.source) == ("account", T1, row["source"])
    assert section.source == "ledger" and section.notes


def test_ledger_bounce_changes_say_hard_bounced_and_no_more() -> None:
    rows = [
        {"id": 1, "outcome": "counted", "consecutive_soft_after": 1, "changed_at": T1},
        {"id": 2, "outcome": "hard_bounce", "consecutive_soft_after": 1, "changed_at": T3},
    ]
    before, _ = bounces_from_ledger(rows, T2)
    assert before is not None and not before.hard_bounced and before.consecutive_soft == 1
    after, section = bounces_from_ledger(rows, T4)
    assert after is not None and after.hard_bounced
    assert "not the totals" in section.notes[0]


def test_an_erased_import_from_the_ledger_still_folds_as_an_import() -> None:
    """An erasure redacts an import's source id, which an import needs to be one: the person's
    state at a moment before the erasure still has the import, pending review as imports are."""
    imported = consent_event(
        event_id="imp-1", kind="import", source_kind="import", source_id="i-1", occurred_at=T1
    )
    row = {**imported.model_dump(), "source_id": None, "erased_at": T3, "kafka_offset": 4}
    [entry], _ = consents_from_ledger([row], [], T2, POLICY)
    assert (entry.status, entry.source_kind) == ("pending_review", "import")
