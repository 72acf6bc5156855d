"""What an erasure does to the gate's state, decided on plain records (`streams.privacy.erasure`),
and the platform-suppressed rule that keeps an erased person from being mailed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.core.records import ErasureEvent, ErasureRequest
from streams.core.settings import Settings
from streams.policy import load_policy
from streams.privacy.erasure import (
    ERASED_TABLES,
    completion,
    erasure_click,
    erasure_event,
    lifted_by_fresh_consent,
    predates_erasure,
    request_id_of,
    state_places,
    suppression_place,
)
from streams.rules import PLATFORM_SUPPRESSED
from streams.topics import (
    PERSON_TABLE_CHANGELOGS,
    PERSONAL_TOPICS,
    SUPPRESSIONS_CHANGELOG,
    erasure_horizons,
)
from tests.support.factory import (
    KEY,
    consent_entry,
    recipient_view,
    send_request,
    suppression_entry,
    suppression_state,
    unsubscribe_click,
)

ERASED_AT = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
ERASURE = suppression_entry(scope="platform", reason="erasure", since=ERASED_AT)
REQUEST = ErasureRequest(
    request_id="dpo-17", recipient_key=KEY, requested_by="dpo", requested_at=ERASED_AT
)


def test_every_table_about_a_person_but_the_suppressions_is_erased() -> None:
    """A table keyed by recipient key added to the catalogue without an erasure fails here."""
    person_tables = {spec.table for spec in PERSON_TABLE_CHANGELOGS}
    assert person_tables == {*ERASED_TABLES, "suppressions"}


def test_a_request_makes_one_platform_suppression_and_names_itself_in_it() -> None:
    click = erasure_click(REQUEST)
    assert (click.scope, click.reason, click.account_id, click.list_id) == (
        "platform",
        "erasure",
        None,
        None,
    )
    assert click.clicked_at == ERASED_AT
    assert erasure_click(REQUEST) == click
    assert request_id_of(click) == "dpo-17"


def test_an_operators_erasure_suppression_erases_under_its_own_id_and_others_erase_nothing() -> (
    None
):
    operators = unsubscribe_click(
        click_id="op-5", scope="platform", reason="erasure", method="manual"
    )
    assert request_id_of(operators) == "op-5"
    assert request_id_of(unsubscribe_click(scope="platform", reason="complaint")) is None
    assert request_id_of(unsubscribe_click(scope="account")) is None


def test_the_request_id_is_short_enough_for_the_ids_made_from_it() -> None:
    with pytest.raises(ValueError, match="at most 100"):
        ErasureRequest(
            request_id="x" * 101, recipient_key=KEY, requested_by="dpo", requested_at=ERASED_AT
        )
    longest = REQUEST.model_copy(update={"request_id": "x" * 100})
    step = erasure_event("x" * 100, KEY, "ledger_erased", (), ERASED_AT)
    assert step.event_id == "x" * 100 + "/ledger_erased"
    assert erasure_click(longest).click_id == "erasure:" + "x" * 100


@pytest.mark.parametrize(
    ("occurred_at", "predates"),
    [
        (ERASED_AT - timedelta(days=30), True),
        (ERASED_AT, True),
        (ERASED_AT + timedelta(milliseconds=1), False),
    ],
)
def test_only_what_happened_up_to_the_erasure_is_kept_out(
    occurred_at: datetime, predates: bool
) -> None:
    state = suppression_state(suppression_entry(), ERASURE)
    assert predates_erasure(state, occurred_at) is predates


def test_without_an_erasure_nothing_is_kept_out() -> None:
    complaint = suppression_entry(scope="platform", reason="complaint", since=ERASED_AT)
    assert not predates_erasure(suppression_state(complaint), ERASED_AT - timedelta(days=1))
    assert not predates_erasure(None, ERASED_AT)


AFTER = ERASED_AT + timedelta(days=3)


@pytest.mark.parametrize(
    ("fields", "lifts"),
    [
        ({}, True),
        ({"status": "double_opt_in", "confirmed_at": AFTER}, True),
        ({"granted_at": ERASED_AT}, False),
        ({"granted_at": ERASED_AT - timedelta(days=400)}, False),
        ({"account_id": "maple"}, False),
        ({"basis": "implied_purchase"}, False),
        ({"source_kind": "import", "source_id": "i-1"}, False),
        ({"status": "pending_review"}, False),
        ({"status": "unconfirmed"}, False),
        ({"status": "transactional_only", "withdrawn_at": AFTER}, False),
    ],
)
def test_only_a_fresh_live_express_consent_the_person_gave_lifts_an_erasure(
    fields: dict[str, object], lifts: bool
) -> None:
    consent = consent_entry(**{"granted_at": AFTER, **fields})
    assert lifted_by_fresh_consent(ERASURE, [consent], "acme") is lifts


@pytest.mark.parametrize("reason", ["complaint", "hard_bounce", "manual", "unsubscribe"])
def test_no_consent_lifts_any_other_platform_suppression(reason: str) -> None:
    entry = suppression_entry(scope="platform", reason=reason, since=ERASED_AT)
    assert not lifted_by_fresh_consent(entry, [consent_entry(granted_at=AFTER)], "acme")


def test_the_rule_denies_an_erased_person_to_every_account_but_the_one_they_signed_up_to() -> None:
    policy = load_policy()
    fresh = consent_entry(granted_at=AFTER)
    view = recipient_view(suppressions=(ERASURE,), consents=(fresh,))
    assert PLATFORM_SUPPRESSED.check(send_request(), view, policy) is None
    denied = PLATFORM_SUPPRESSED.check(send_request(account_id="maple"), view, policy)
    assert denied is not None
    assert "asked for their personal data to be erased on 2026-05-04" in str(denied)
    stale = recipient_view(suppressions=(ERASURE,), consents=(consent_entry(),))
    assert PLATFORM_SUPPRESSED.check(send_request(), stale, policy) is not None


def test_a_complaint_beside_the_erasure_still_denies_after_a_fresh_consent() -> None:
    complaint = suppression_entry(scope="platform", reason="complaint", since=AFTER)
    view = recipient_view(
        suppressions=(ERASURE, complaint),
        consents=(consent_entry(granted_at=AFTER + timedelta(days=1)),),
    )
    denied = PLATFORM_SUPPRESSED.check(send_request(), view, load_policy())
    assert denied is not None
    assert "reported a message as spam" in str(denied)


# --- completion -------------------------------------------------------------------------------

HORIZONS = {"topic send-requests": 7 * 86_400.0, "topic inbound-mail": 3_600.0}


def _step(kind: str, at: datetime, *places: object) -> ErasureEvent:
    return erasure_event("dpo-17", KEY, kind, tuple(places), at)  # type: ignore[arg-type]


def _steps() -> list[ErasureEvent]:
    worker = ERASED_AT + timedelta(seconds=2)
    return [
        _step("suppressed", worker, suppression_place(worker)),
        _step("state_erased", worker, *state_places({"consents": 1}, worker)),
        _step("ledger_erased", ERASED_AT + timedelta(seconds=5)),
    ]


def test_an_erasure_is_complete_only_once_every_topic_is_past_its_horizon() -> None:
    steps = _steps()
    week = ERASED_AT + timedelta(days=7)
    assert completion(REQUEST, steps, HORIZONS, week - timedelta(milliseconds=1)) is None
    done = completion(REQUEST, steps, HORIZONS, week)
    assert done is not None
    assert (done.event_id, done.kind, done.at) == ("dpo-17/completed", "completed", week)
    expiring = {p.place: p.done_by for p in done.places if p.action == "expires"}
    assert expiring == {
        "topic send-requests": week,
        "topic inbound-mail": ERASED_AT + timedelta(hours=1),
    }
    assert [p.place for p in done.places if p.action != "expires"][:2] == [
        "gate table suppressions",
        "gate table consents",
    ]


@pytest.mark.parametrize("missing", ["state_erased", "ledger_erased"])
def test_an_erasure_waits_for_the_worker_and_the_ledger(missing: str) -> None:
    steps = [step for step in _steps() if step.kind != missing]
    assert completion(REQUEST, steps, HORIZONS, ERASED_AT + timedelta(days=60)) is None


def test_an_erasure_completes_once_and_a_step_reported_twice_counts_once() -> None:
    later = ERASED_AT + timedelta(days=8)
    steps = _steps()
    again = _step("state_erased", later, *state_places({}, later))
    done = completion(REQUEST, [*steps, again], HORIZONS, later)
    assert done is not None
    consents = [p for p in done.places if p.place == "gate table consents"]
    assert [p.count for p in consents] == [1]
    assert completion(REQUEST, [*steps, done], HORIZONS, later) is None


def test_the_horizons_are_every_topic_that_may_hold_the_person_but_the_suppressions() -> None:
    """Personal topics until retention deletes them (retention, one segment of a tenth, the
    broker's look); person tables' changelogs until compaction drops what a tombstone replaced:
    the sweep's second tombstone a segment and a second later rolls the segment, compaction is
    due one more segment later (max.compaction.lag.ms), when the log cleaner next looks (its
    15 s backoff) and the broker's look."""
    settings = Settings(topic_prefix="p-", personal_topic_retention_s=1000)
    horizons = erasure_horizons(settings)
    for spec in PERSONAL_TOPICS:
        assert horizons[f"topic p-{spec.name}"] == 1000 + 100 + 300
    changelogs = {f"topic {spec.full_name(settings)}" for spec in PERSON_TABLE_CHANGELOGS}
    suppressions = f"topic {SUPPRESSIONS_CHANGELOG.full_name(settings)}"
    assert suppressions in changelogs
    assert suppressions not in horizons
    for place in changelogs - {suppressions}:
        assert horizons[place] == (100 + 1) + 100 + 15 + 300
    assert set(horizons) == {f"topic p-{spec.name}" for spec in PERSONAL_TOPICS} | (
        changelogs - {suppressions}
    )
