"""Frequency: a consent's cadence and the platform's cap, counted per recipient and account in
event time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.records import ConsentEntry, SendRequest
from streams.policy import Policy, load_policy
from streams.rules.frequency import CADENCE_EXCEEDED, FREQUENCY_CAP_EXCEEDED
from streams.sending.frequency import FrequencyPolicy, SendHistory, limits_for, record_send
from tests.support.factory import consent_entry, recipient_view, send_request

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


consent = partial(consent_entry, lists=("news",), status="double_opt_in")
"""A double opt-in to acme's `news` (another list if the test says), with the test's cadence."""


def policy_with(**frequency: object) -> Policy:
    base = load_policy()
    return base.model_copy(
        update={"frequency": FrequencyPolicy(**frequency).model_dump()}  # type: ignore[arg-type]
    )


def run(
    requests: list[SendRequest], consents: tuple[ConsentEntry, ...], policy: Policy
) -> list[str | None]:
    """Decide each request in turn as the gate does: the rule on the current history, and an
    allowed send recorded when a limit applies. Returns the failing rule's name or None."""
    history: SendHistory | None = None
    outcomes: list[str | None] = []
    for request in requests:
        view = recipient_view(consents=consents, send_history=history, at=request.requested_at)
        failed = next(
            (
                rule.name
                for rule in (CADENCE_EXCEEDED, FREQUENCY_CAP_EXCEEDED)
                if rule.evaluate(request, view, policy) is not None
            ),
            None,
        )
        outcomes.append(failed)
        if failed is None and limits_for(request, consents, policy.frequency):
            history = record_send(history, request, policy.frequency)
    return outcomes


def test_weekly_cadence_allows_one_send_in_seven_days() -> None:
    """A weekly consent: Monday goes, Thursday waits, the next Monday at the same hour goes."""
    policy = load_policy()
    outcomes = run(
        [
            send_request(request_id="mon", requested_at=T0),
            send_request(request_id="thu", requested_at=T0 + timedelta(days=3)),
            send_request(
                request_id="sun", requested_at=T0 + timedelta(days=6, hours=23, minutes=59)
            ),
            send_request(request_id="next-mon", requested_at=T0 + timedelta(days=7)),
        ],
        (consent(cadence="weekly"),),
        policy,
    )
    assert outcomes == [None, "cadence-exceeded", "cadence-exceeded", None]


def test_the_explanation_says_when_the_next_send_may_go() -> None:
    policy = load_policy()
    history = record_send(None, send_request(request_id="mon", requested_at=T0), policy.frequency)
    view = recipient_view(consents=(consent(cadence="weekly"),), send_history=history)
    failure = CADENCE_EXCEEDED.evaluate(
        send_request(request_id="tue", requested_at=T0 + timedelta(days=1)), view, policy
    )
    assert failure is not None
    assert "2026-11-09 09:00 UTC" in failure.explanation
    assert "weekly" in failure.explanation
    assert "ana@example.com" not in failure.explanation


def test_daily_and_monthly_cadences() -> None:
    policy = load_policy()
    daily = run(
        [
            send_request(request_id="a", requested_at=T0),
            send_request(request_id="b", requested_at=T0 + timedelta(hours=23)),
            send_request(request_id="c", requested_at=T0 + timedelta(days=1)),
        ],
        (consent(cadence="daily"),),
        policy,
    )
    assert daily == [None, "cadence-exceeded", None]
    monthly = run(
        [
            send_request(request_id="a", requested_at=T0),
            send_request(request_id="b", requested_at=T0 + timedelta(days=29)),
            send_request(request_id="c", requested_at=T0 + timedelta(days=30)),
        ],
        (consent(cadence="monthly"),),
        policy,
    )
    assert monthly == [None, "cadence-exceeded", None]


def test_a_cadence_binds_only_the_lists_its_consent_covers() -> None:
    """Weekly news, no cadence for offers: offers are not held back by the news cadence, and
    sends to offers do not use up the news week."""
    policy = load_policy()
    consents = (consent(cadence="weekly"), consent(cadence=None, lists=("offers",)))
    outcomes = run(
        [
            send_request(request_id="news-1", requested_at=T0),
            send_request(
                request_id="offers-1", requested_at=T0 + timedelta(hours=1), list_id="offers"
            ),
            send_request(
                request_id="offers-2", requested_at=T0 + timedelta(hours=2), list_id="offers"
            ),
            send_request(request_id="news-2", requested_at=T0 + timedelta(days=2)),
        ],
        consents,
        policy,
    )
    assert outcomes == [None, None, None, "cadence-exceeded"]


def test_another_accounts_sends_do_not_count() -> None:
    policy = load_policy()
    history = record_send(
        None,
        send_request(request_id="other", requested_at=T0, account_id="globex"),
        policy.frequency,
    )
    view = recipient_view(consents=(consent(cadence="weekly"),), send_history=history)
    assert (
        CADENCE_EXCEEDED.evaluate(
            send_request(request_id="ours", requested_at=T0 + timedelta(hours=1)), view, policy
        )
        is None
    )


def test_transactional_mail_has_no_cadence() -> None:
    """A receipt is owed whenever the purchase happens."""
    policy = load_policy()
    outcomes = run(
        [
            send_request(request_id="a", requested_at=T0),
            send_request(
                request_id="receipt",
                requested_at=T0 + timedelta(hours=1),
                classification="transactional",
            ),
        ],
        (consent(cadence="weekly"),),
        policy,
    )
    assert outcomes == [None, None]


def test_a_replayed_request_decides_as_it_did_the_first_time() -> None:
    """The gate re-reading send-requests finds each request's own mark and ignores it."""
    policy = load_policy()
    first = send_request(request_id="mon", requested_at=T0)
    history = record_send(None, first, policy.frequency)
    view = recipient_view(consents=(consent(cadence="weekly"),), send_history=history)
    assert CADENCE_EXCEEDED.evaluate(first, view, policy) is None
    assert record_send(history, first, policy.frequency) == history


def test_a_late_request_cannot_squeeze_between_sends() -> None:
    """Event time: a request dated before an allowed send, but within the week of it, waits."""
    policy = load_policy()
    outcomes = run(
        [
            send_request(request_id="wed", requested_at=T0 + timedelta(days=2)),
            send_request(request_id="late-mon", requested_at=T0),
        ],
        (consent(cadence="weekly"),),
        policy,
    )
    assert outcomes == [None, "cadence-exceeded"]


def test_an_undefined_cadence_fails_closed_and_says_why() -> None:
    policy = load_policy()
    view = recipient_view(consents=(consent(cadence="fortnightly"),))
    failure = CADENCE_EXCEEDED.evaluate(send_request(request_id="a", requested_at=T0), view, policy)
    assert failure is not None
    assert "fortnightly" in failure.explanation
    assert "does not define" in failure.explanation


def test_the_platform_cap_holds_whatever_the_consent_says() -> None:
    policy = policy_with(cap_per_recipient=2, cap_period_days=7)
    outcomes = run(
        [
            send_request(request_id="a", requested_at=T0),
            send_request(request_id="b", requested_at=T0 + timedelta(days=1), list_id="offers"),
            send_request(request_id="c", requested_at=T0 + timedelta(days=2)),
            send_request(request_id="d", requested_at=T0 + timedelta(days=8)),
        ],
        (consent(cadence=None, lists=()),),
        policy,
    )
    assert outcomes == [None, None, "frequency-cap-exceeded", None]


def test_no_limit_writes_no_history() -> None:
    """An account without cadences or a cap costs the gate no table write."""
    policy = load_policy()
    assert (
        limits_for(
            send_request(request_id="a", requested_at=T0),
            (consent(cadence=None),),
            policy.frequency,
        )
        == ()
    )


def test_history_keeps_only_what_a_limit_can_still_count() -> None:
    policy = load_policy()  # the longest limit: monthly, 30 days
    history = record_send(None, send_request(request_id="old", requested_at=T0), policy.frequency)
    history = record_send(
        history,
        send_request(request_id="new", requested_at=T0 + timedelta(days=31)),
        policy.frequency,
    )
    assert [mark.request_id for mark in history.sends] == ["new"]


def test_a_request_older_than_the_history_reaches_fails_closed() -> None:
    """Marks more than the longest limit older than the newest are dropped; a request dated
    before that reach cannot be judged, so it waits (found by the property test below)."""
    policy = load_policy()
    outcomes = run(
        [
            send_request(request_id="a", requested_at=T0),
            send_request(request_id="b", requested_at=T0 + timedelta(days=30)),
            send_request(request_id="late", requested_at=T0),
        ],
        (consent(cadence="weekly"),),
        policy,
    )
    assert outcomes == [None, None, "cadence-exceeded"]


@pytest.mark.parametrize("bad", ["Weekly", "", " weekly"])
def test_cadence_names_in_the_policy_are_lower_case_words(bad: str) -> None:
    with pytest.raises(ValueError, match="lower-case"):
        FrequencyPolicy(cadences={bad: {"sends": 1, "days": 7}})  # type: ignore[dict-item]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60 * 24), min_size=1, max_size=30))
def test_allowed_weekly_sends_are_never_closer_than_a_week(offsets_hours: list[int]) -> None:
    """Whatever order and times requests arrive in, no two allowed sends are within 7 days."""
    policy = load_policy()
    requests = [
        send_request(request_id=f"r{i}", requested_at=T0 + timedelta(hours=h))
        for i, h in enumerate(offsets_hours)
    ]
    outcomes = run(requests, (consent(cadence="weekly"),), policy)
    allowed = sorted(r.requested_at for r, o in zip(requests, outcomes, strict=True) if o is None)
    assert allowed, "the first request always goes"
    assert all(b - a >= timedelta(days=7) for a, b in pairwise(allowed))
