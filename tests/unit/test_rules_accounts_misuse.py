"""The `account-transactional-suspended` rule: an account suspended for sending
marketing as transactional sends no transactional mail until reinstated; its commercial mail is
left to the other rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

import streams.rules.accounts
from streams.policy import Policy, load_policy
from streams.reputation.standing import AccountSnapshot
from streams.rules.accounts import TRANSACTIONAL_SUSPENDED
from streams.rules.base import RecipientView
from tests.support.factory import recipient_view, send_request

NOW = datetime(2026, 3, 12, 10, 0, tzinfo=UTC)
ACCOUNT = "acct-maple"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


request = partial(
    send_request,
    account_id=ACCOUNT,
    list_id=None,
    recipient="jo@example.com",
    classification="transactional",
    send_kind="one_off",
    subject="Your receipt",
    requested_at=NOW,
)
"""A receipt of the account to Jo."""


def account(*, suspended: bool) -> RecipientView:
    snapshot = AccountSnapshot(
        account_id=ACCOUNT, status="active", transactional_suspended=suspended, as_of=NOW
    )
    return recipient_view(account=snapshot, provider="google")


def test_the_rule_is_named_explained_and_exported() -> None:
    assert TRANSACTIONAL_SUSPENDED.name == "account-transactional-suspended"
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", TRANSACTIONAL_SUSPENDED.name)
    assert "transactional streams bypass unsubscribes" in TRANSACTIONAL_SUSPENDED.law
    assert TRANSACTIONAL_SUSPENDED.description.strip()
    assert "TRANSACTIONAL_SUSPENDED" in streams.rules.accounts.__all__


@pytest.mark.parametrize("kind", ["one_off", "bulk"])
def test_a_suspended_account_sends_no_transactional_mail(kind: str, policy: Policy) -> None:
    failure = TRANSACTIONAL_SUSPENDED.evaluate(
        request(send_kind=kind), account(suspended=True), policy
    )
    assert failure is not None
    assert failure.rule == "account-transactional-suspended"
    assert failure.law == TRANSACTIONAL_SUSPENDED.law
    assert ACCOUNT in failure.explanation
    assert "until the account is reinstated" in failure.explanation
    assert "jo@example.com" not in failure.explanation


@pytest.mark.parametrize(
    "fields",
    [
        {"classification": "commercial", "send_kind": "bulk"},
        {"classification": "commercial", "send_kind": "one_off"},
        # Transactional with promotional content is commercial: the commercial rules judge it.
        {"classification": "transactional", "promotional_content": True},
    ],
    ids=["broadcast", "one-off", "transactional-with-promotion"],
)
def test_commercial_mail_of_a_suspended_account_is_left_to_the_other_rules(
    fields: dict[str, Any], policy: Policy
) -> None:
    assert (
        TRANSACTIONAL_SUSPENDED.evaluate(request(**fields), account(suspended=True), policy) is None
    )


def test_an_account_not_suspended_or_not_on_record_passes(policy: Policy) -> None:
    assert TRANSACTIONAL_SUSPENDED.evaluate(request(), account(suspended=False), policy) is None
    assert TRANSACTIONAL_SUSPENDED.evaluate(request(), RecipientView(), policy) is None
