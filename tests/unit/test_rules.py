"""The gate's rule table and `decide`: which requests are denied, by which rules, in what order."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from streams.core.records import SuppressionEntry
from streams.policy import Policy
from streams.rules import RULES, decide, rule_named
from tests.support.factory import ACCOUNT, recipient_view, send_request, suppression_entry

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
KEY = "c0ffee" + "0" * 58
OTHER_ACCOUNT = "acct-7"
OTHER_LIST = "product-updates"

# Names are spelled out here, not read from the code, so a renamed rule fails loudly.
INVALID = "invalid-recipient-address"
PLATFORM = "platform-suppressed"
ACCOUNT_UNSUB = "account-unsubscribed"
LIST_UNSUB = "list-unsubscribed"
ROLE = "role-address"
NOT_CURRENT = "suppressions-not-current"

COMPLAINED = suppression_entry(scope="platform", reason="complaint")
LEFT_ACCOUNT = suppression_entry(scope="account")
LEFT_LIST = suppression_entry()
"""The recipient's suppressions: a complaint (platform-wide), an unsubscribe from the account, one
from its list. Every request here goes to someone opted in to the account (`recipient_view`), so
the consent rules (tests/unit/test_consent_rules.py) and the content rules
(tests/unit/test_content_rules.py) stay silent."""

COMMERCIAL: dict[str, Any] = {"classification": "commercial"}
TRANSACTIONAL: dict[str, Any] = {"classification": "transactional", "send_kind": "one_off"}
TRANSACTIONAL_HONOURING: dict[str, Any] = {**TRANSACTIONAL, "honor_list_opt_outs": True}

# CAN-SPAM: 15 U.S.C. §7702(2) defines a "commercial electronic mail message" by its primary
# purpose and §7702(2)(B) excludes "transactional or relationship messages" (§7702(17)); the
# opt-out duty of §7704(a)(4) is for commercial messages only. CASL s.6(6) and PECR reg. 22 draw
# the same line. So list and account unsubscribes stop commercial mail and not transactional
# mail, unless the request (honor_list_opt_outs) or the policy asks for it (module docstring of
# streams/rules/suppression.py). Platform suppressions are the platform's own policy (complaints,
# hard bounces, GDPR Art. 17 erasure) and stop everything.
#
# Row: (id, request fields, suppressions, view fields, policy changes, failed rules in order).
ROWS: list[Any] = [
    pytest.param(COMMERCIAL, [], {}, {}, [], id="allow: nothing against it"),
    pytest.param(TRANSACTIONAL, [], {}, {}, [], id="allow: transactional, nothing against it"),
    # Platform scope: the platform's own policy, every classification.
    pytest.param(COMMERCIAL, [COMPLAINED], {}, {}, [PLATFORM], id="platform: commercial"),
    pytest.param(
        TRANSACTIONAL,
        [suppression_entry(scope="platform", reason="hard_bounce")],
        {},
        {},
        [PLATFORM],
        id="platform: transactional stopped too",
    ),
    pytest.param(
        TRANSACTIONAL,
        [suppression_entry(scope="platform", reason="erasure")],
        {},
        {},
        [PLATFORM],
        id="platform: erasure (GDPR Art. 17) stops transactional",
    ),
    # Account scope: §7704(a)(4)(A) forbids commercial mail after an opt-out from that sender.
    pytest.param(COMMERCIAL, [LEFT_ACCOUNT], {}, {}, [ACCOUNT_UNSUB], id="account: commercial"),
    pytest.param(
        TRANSACTIONAL, [LEFT_ACCOUNT], {}, {}, [], id="account: transactional not covered"
    ),
    pytest.param(
        TRANSACTIONAL_HONOURING,
        [LEFT_ACCOUNT],
        {},
        {},
        [ACCOUNT_UNSUB],
        id="account: transactional honouring opt-outs",
    ),
    pytest.param(
        TRANSACTIONAL,
        [LEFT_ACCOUNT],
        {},
        {"transactional_honors_opt_outs_by_default": True},
        [ACCOUNT_UNSUB],
        id="account: transactional under a policy that honours opt-outs",
    ),
    pytest.param(
        COMMERCIAL,
        [suppression_entry(scope="account", account_id=OTHER_ACCOUNT)],
        {},
        {},
        [],
        # The opt-out is a request to *that* sender (§7704(a)(4)(A)): other accounts may mail.
        id="account: another account's unsubscribe",
    ),
    # List scope: the same account's same list only.
    pytest.param(COMMERCIAL, [LEFT_LIST], {}, {}, [LIST_UNSUB], id="list: commercial"),
    pytest.param(
        COMMERCIAL,
        [suppression_entry(list_id=OTHER_LIST)],
        {},
        {},
        [],
        # The recipient left one list; the account's other lists are what they did not leave.
        id="list: other list of the same account",
    ),
    pytest.param(
        COMMERCIAL,
        [suppression_entry(account_id=OTHER_ACCOUNT)],
        {},
        {},
        [],
        # A list id is the account's own name; another account's list of that name is unrelated.
        id="list: same list id of another account",
    ),
    pytest.param(
        {**COMMERCIAL, "list_id": None},
        [LEFT_LIST],
        {},
        {},
        [],
        id="list: a message to no list",
    ),
    pytest.param(TRANSACTIONAL, [LEFT_LIST], {}, {}, [], id="list: transactional not covered"),
    pytest.param(
        TRANSACTIONAL_HONOURING,
        [LEFT_LIST],
        {},
        {},
        [LIST_UNSUB],
        id="list: transactional honouring opt-outs",
    ),
    # Address syntax (RFC 5321 §4.1.2 / RFC 5322 §3.4.1): undeliverable whatever the message.
    pytest.param(
        {**COMMERCIAL, "recipient": "jo.example.com"},
        [],
        {},
        {},
        [INVALID],
        id="invalid address: commercial",
    ),
    pytest.param(
        {**TRANSACTIONAL, "recipient": "jo@@example.com"},
        [],
        {},
        {},
        [INVALID],
        id="invalid address: transactional",
    ),
    # Role addresses: nobody there can consent to marketing (platform policy); transactional
    # mail needs no marketing consent.
    pytest.param(
        {**COMMERCIAL, "recipient": "info@example.com"}, [], {}, {}, [ROLE], id="role: commercial"
    ),
    pytest.param(
        {**TRANSACTIONAL, "recipient": "info@example.com"},
        [],
        {},
        {},
        [],
        id="role: transactional allowed",
    ),
    pytest.param(
        {**COMMERCIAL, "recipient": " INFO@Example.COM "},
        [],
        {},
        {},
        [ROLE],
        id="role: case and white space",
    ),
    pytest.param(
        {**COMMERCIAL, "recipient": '"info"@example.com'},
        [],
        {},
        {},
        [ROLE],
        # RFC 5322 §3.2.4: "info" quoted is the same local part as info.
        id="role: needless quotes",
    ),
    pytest.param(
        {**COMMERCIAL, "recipient": "information@example.com"},
        [],
        {},
        {},
        [],
        id="role: a person's address that merely starts like one",
    ),
    # Several failures: every one is listed, in table order.
    pytest.param(
        {**COMMERCIAL, "recipient": "info@example.com"},
        [LEFT_LIST, LEFT_ACCOUNT, COMPLAINED],
        {},
        {},
        [PLATFORM, ACCOUNT_UNSUB, LIST_UNSUB, ROLE],
        id="several: all four, in table order whatever the entries' order",
    ),
    pytest.param(
        {**TRANSACTIONAL, "recipient": "info@example.com"},
        [LEFT_LIST, LEFT_ACCOUNT, COMPLAINED],
        {},
        {},
        [PLATFORM],
        id="several: transactional to a role address, only the platform rule",
    ),
    pytest.param(
        {**COMMERCIAL, "recipient": "not an address"},
        [COMPLAINED],
        {},
        {},
        [INVALID, PLATFORM],
        id="several: invalid and platform-suppressed",
    ),
    # Fail closed when the gate cannot confirm its suppressions are current (platform policy).
    pytest.param(
        COMMERCIAL,
        [LEFT_LIST],
        {"state_current": False},
        {},
        [NOT_CURRENT, LIST_UNSUB],
        id="not current: listed first, with the rest",
    ),
]


@pytest.mark.parametrize(
    ("fields", "suppressions", "view_fields", "policy_changes", "failed"), ROWS
)
def test_decision_table(
    policy: Policy,
    fields: dict[str, Any],
    suppressions: list[SuppressionEntry],
    view_fields: dict[str, Any],
    policy_changes: dict[str, Any],
    failed: list[str],
) -> None:
    """Each request is denied by exactly the expected rules, in table order."""
    if policy_changes:
        policy = Policy.model_validate({**policy.model_dump(), **policy_changes})
    view = recipient_view(suppressions=tuple(suppressions), **view_fields)
    decision = decide(
        send_request(**fields),
        view,
        policy,
        recipient_key=KEY,
        decided_at=NOW,
        request_offset="send-requests/0/9",
        state_offsets={},
    )
    assert [failure.rule for failure in decision.failures] == failed
    assert decision.verdict == ("deny" if failed else "allow")


def test_decision_carries_what_it_was_decided_on(policy: Policy) -> None:
    """The decision names the request, the policy version and the state it saw."""
    entries = (suppression_entry(account_id=OTHER_ACCOUNT), LEFT_ACCOUNT)
    offsets = {"unsubscribe-clicks": 18, "suppressions-changelog": 7}
    request = send_request(request_id="req-77")
    decision = decide(
        request,
        recipient_view(suppressions=entries),
        policy,
        recipient_key=KEY,
        decided_at=NOW,
        request_offset="send-requests/3/1041",
        state_offsets=offsets,
    )
    assert decision.request_id == "req-77"
    assert decision.account_id == ACCOUNT
    assert decision.recipient_key == KEY
    assert decision.policy_version == policy.policy_version
    assert decision.decided_at == NOW
    assert decision.request_offset == "send-requests/3/1041"
    assert decision.state_offsets == offsets
    assert decision.suppressions_seen == entries
    offsets["unsubscribe-clicks"] = 99  # the decision keeps its own copy
    assert decision.state_offsets["unsubscribe-clicks"] == 18


def test_allow_has_no_failures(policy: Policy) -> None:
    """An allowed request carries no failure at all."""
    decision = decide(
        send_request(),
        recipient_view(),
        policy,
        recipient_key=KEY,
        decided_at=NOW,
        request_offset="send-requests/0/1",
        state_offsets={},
    )
    assert decision.verdict == "allow"
    assert decision.failures == ()


def test_failures_carry_law_and_explanation_without_the_address(policy: Policy) -> None:
    """Each failure repeats its rule's law and explains itself without the recipient address."""
    address = "info@example.com"
    decision = decide(
        send_request(recipient=address),
        recipient_view(suppressions=(COMPLAINED, LEFT_ACCOUNT, LEFT_LIST)),
        policy,
        recipient_key=KEY,
        decided_at=NOW,
        request_offset="send-requests/0/1",
        state_offsets={},
    )
    assert len(decision.failures) == 4
    for failure in decision.failures:
        assert failure.law == rule_named(failure.rule).law
        assert failure.explanation.strip()
        assert address not in failure.explanation
        assert "example.com" not in failure.explanation


def test_every_rule_is_named_and_explained() -> None:
    """Rule names are unique and kebab-case; each rule states its law and a description."""
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    for rule in RULES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name), rule.name
        assert rule.law.strip(), rule.name
        assert rule.description.strip(), rule.name
        assert rule_named(rule.name) is rule


def test_table_order_puts_state_and_address_before_consent() -> None:
    """The table reads like the policy: can we decide, may anyone mail, did they opt out, role."""
    names = [rule.name for rule in RULES]
    expected = [NOT_CURRENT, INVALID, PLATFORM, ACCOUNT_UNSUB, LIST_UNSUB, ROLE]
    assert [name for name in names if name in expected] == expected


def test_a_rule_the_policy_only_flags_is_reported_without_denying() -> None:
    """[content] flag_only_rules: the decision is allowed and names the rule under `flags`;
    every other failure still denies."""
    base = Policy.model_validate(
        {
            "name": "flags",
            "version": "1",
            "content": {"flag_only_rules": ["postal-address-missing"]},
        }
    )
    no_address = send_request(
        body={
            "text": "New season, new soles.\nUnsubscribe",
            "links": [{"url": "https://example.org/unsubscribe", "text": "Unsubscribe"}],
        }
    )
    decision = decide(
        no_address,
        recipient_view(),
        base,
        recipient_key=KEY,
        decided_at=NOW,
        request_offset="send-requests/0/1",
        state_offsets={},
    )
    assert decision.verdict == "allow"
    assert [flag.rule for flag in decision.flags] == ["postal-address-missing"]
    assert decision.failures == ()
    both = decide(
        no_address,
        recipient_view(suppressions=(LEFT_LIST,)),
        base,
        recipient_key=KEY,
        decided_at=NOW,
        request_offset="send-requests/0/1",
        state_offsets={},
    )
    assert both.verdict == "deny"
    assert [f.rule for f in both.failures] == [LIST_UNSUB]
    assert [flag.rule for flag in both.flags] == ["postal-address-missing"]
