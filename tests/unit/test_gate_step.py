"""One send through the gate as a pure step: the decision and everything it leads to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import streams.rules.misuse
from streams.content.misuse import assess_misuse
from streams.core.records import (
    BodyLink,
    ConsentEntry,
    MessageBody,
    SendRequest,
    SuppressionEntry,
)
from streams.policy import Policy, load_policy
from streams.reputation.standing import misuse_report_id
from streams.rules import RecipientView
from streams.rules.step import Signing, gate_step
from streams.sending.unsubscribe_tokens import UnsubscribeTokens
from streams.sending.verp import VerpSigner
from tests.support.content import compliant_content

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
RECIPIENT_KEY = "0123456789abcdef" * 4
SIGNING = Signing(
    verp=VerpSigner({1: b"v" * 32}, 1, "bounces.example.net"),
    tokens=UnsubscribeTokens({1: b"u" * 32}, 1, valid_for=timedelta(days=365)),
    unsubscribe_base_url="https://unsubscribe.example.net",
    bounce_domain="bounces.example.net",
)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def send(**fields: Any) -> SendRequest:
    values: dict[str, Any] = {
        **compliant_content("acct-42", "lanternbooks.example"),
        "request_id": "req-1",
        "account_id": "acct-42",
        "recipient": "reader@example.com",
        "classification": "commercial",
        "subject": "New this week",
        "requested_at": NOW - timedelta(seconds=1),
    }
    return SendRequest(**{**values, **fields})


def step(request: SendRequest, view: RecipientView, policy: Policy) -> Any:
    return gate_step(
        request,
        view,
        policy,
        NOW,
        recipient_key=RECIPIENT_KEY,
        signing=SIGNING,
        request_offset="send-requests/0/7",
        state_offsets={"unsubscribe-clicks": 3},
    )


MARKETING_RECEIPT = send(
    classification="transactional",
    subject="Your receipt, order LB-3392",
    body=MessageBody(
        text="Receipt. Total: $22.49.\nUse code READMORE15 on your next order.\nShop now",
        links=(BodyLink(url="https://lanternbooks.example/shop", text="Shop now"),),
    ),
)


def test_marketing_sent_as_transactional_is_denied_with_a_report_for_the_enforcer(
    policy: Policy,
) -> None:
    outcome = step(MARKETING_RECEIPT, RecipientView(), policy)

    assert outcome.decision["verdict"] == "deny"
    assert "transactional-misuse" in [failure["rule"] for failure in outcome.decision["failures"]]
    report = outcome.misuse_report
    assert report is not None
    assert report.report_id == misuse_report_id("acct-42", "req-1")
    assert report.recipient_key == RECIPIENT_KEY
    expected = assess_misuse(MARKETING_RECEIPT.subject, MARKETING_RECEIPT.body, policy.misuse)
    assert report.signals == tuple(signal.name for signal in expected.signals)
    assert report.score == expected.score
    assert report.policy_version == policy.policy_version


def test_the_message_is_assessed_for_misuse_once(
    policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = streams.rules.misuse.assess_misuse

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("assessed")
        return real(*args, **kwargs)

    monkeypatch.setattr(streams.rules.misuse, "assess_misuse", counted)
    outcome = step(
        MARKETING_RECEIPT.model_copy(update={"request_id": "req-once"}), RecipientView(), policy
    )

    assert outcome.misuse_report is not None
    assert calls == ["assessed"]


def _opted_in() -> RecipientView:
    return RecipientView(
        consents=(
            ConsentEntry(
                account_id="acct-42",
                basis="express",
                status="double_opt_in",
                source_kind="form",
                granted_at=NOW - timedelta(days=30),
                confirmed_at=NOW - timedelta(days=30),
                last_event_id="grant-1",
            ),
        ),
        sender_domains=frozenset({"lanternbooks.example"}),
    )


def test_an_allowed_commercial_send_carries_its_return_path_and_one_click_headers(
    policy: Policy,
) -> None:
    outcome = step(send(), _opted_in(), policy)

    if outcome.decision["verdict"] != "allow":
        pytest.fail(f"expected an allowed send: {outcome.decision['failures']}")
    assert outcome.misuse_report is None
    assert outcome.decision["return_path"] == SIGNING.verp.return_path(RECIPIENT_KEY)
    headers = outcome.decision["headers"]
    # RFC 8058 §3.1: both headers, the POST one with exactly this value.
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<https://unsubscribe.example.net/u/" in headers["List-Unsubscribe"]


def test_a_denied_send_carries_nothing_and_changes_no_history(policy: Policy) -> None:
    suppressed = RecipientView(
        suppressions=(
            SuppressionEntry(
                scope="platform",
                reason="complaint",
                since=NOW - timedelta(days=1),
                source="unsubscribe-clicks/0/1",
                source_event_id="click-1",
            ),
        ),
        consents=_opted_in().consents,
        sender_domains=frozenset({"lanternbooks.example"}),
    )
    outcome = step(send(), suppressed, policy)

    assert outcome.decision["verdict"] == "deny"
    assert outcome.decision["return_path"] is None
    assert outcome.decision["headers"] == {}
    assert outcome.send_history is suppressed.send_history
    assert outcome.misuse_report is None
