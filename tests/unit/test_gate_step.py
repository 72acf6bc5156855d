"""One send through the gate as a pure step: the decision and everything it leads to."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import streams.rules.misuse
from streams.content.misuse import assess_misuse
from streams.core.records import BodyLink, MessageBody, SendRequest
from streams.policy import Policy, load_policy
from streams.reputation.standing import misuse_report_id
from streams.rules import RecipientView
from streams.rules.step import SendOutcome, Signing, gate_step
from streams.sending.unsubscribe_tokens import UnsubscribeTokens
from streams.sending.verp import VerpSigner
from tests.support.factory import (
    ACCOUNT,
    AT,
    KEY,
    recipient_view,
    send_request,
    suppression_entry,
)

SIGNING = Signing(
    verp=VerpSigner({1: b"v" * 32}, 1, "bounces.example.net"),
    tokens=UnsubscribeTokens({1: b"u" * 32}, 1, valid_for=timedelta(days=365)),
    unsubscribe_base_url="https://unsubscribe.example.net",
    bounce_domain="bounces.example.net",
)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def step(request: SendRequest, view: RecipientView, policy: Policy) -> SendOutcome:
    return gate_step(
        request,
        view,
        policy,
        AT + timedelta(seconds=1),
        recipient_key=KEY,
        signing=SIGNING,
        request_offset="send-requests/0/7",
        state_offsets={"unsubscribe-clicks": 3},
    )


def marketing_receipt(**fields: Any) -> SendRequest:
    """A receipt that also sells: the transactional-misuse rule's case."""
    return send_request(
        classification="transactional",
        subject="Your receipt, order LB-3392",
        body=MessageBody(
            text="Receipt. Total: $22.49.\nUse code READMORE15 on your next order.\nShop now",
            links=(BodyLink(url="https://acme.example/shop", text="Shop now"),),
        ),
        **fields,
    )


def test_marketing_sent_as_transactional_is_denied_with_a_report_for_the_enforcer(
    policy: Policy,
) -> None:
    request = marketing_receipt()
    outcome = step(request, recipient_view(), policy)

    assert outcome.decision["verdict"] == "deny"
    assert "transactional-misuse" in [failure["rule"] for failure in outcome.decision["failures"]]
    report = outcome.misuse_report
    assert report is not None
    assert report.report_id == misuse_report_id(ACCOUNT, request.request_id)
    assert report.recipient_key == KEY
    expected = assess_misuse(request.subject, request.body, policy.misuse)
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
    outcome = step(marketing_receipt(request_id="req-once"), recipient_view(), policy)

    assert outcome.misuse_report is not None
    assert calls == ["assessed"]


def test_an_allowed_commercial_send_carries_its_return_path_and_one_click_headers(
    policy: Policy,
) -> None:
    outcome = step(send_request(), recipient_view(), policy)

    assert outcome.decision["verdict"] == "allow", outcome.decision["failures"]
    assert outcome.misuse_report is None
    assert outcome.decision["return_path"] == SIGNING.verp.return_path(KEY)
    headers = outcome.decision["headers"]
    # RFC 8058 §3.1: both headers, the POST one with exactly this value.
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<https://unsubscribe.example.net/u/" in headers["List-Unsubscribe"]


def test_a_denied_send_carries_nothing_and_changes_no_history(policy: Policy) -> None:
    suppressed = recipient_view(suppressions=(suppression_entry(scope="platform"),))
    outcome = step(send_request(), suppressed, policy)

    assert outcome.decision["verdict"] == "deny"
    assert outcome.decision["return_path"] is None
    assert outcome.decision["headers"] == {}
    assert outcome.send_history is suppressed.send_history
    assert outcome.misuse_report is None
