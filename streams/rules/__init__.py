"""The gate's rules, as one ordered table that reads like the policy, and `decide`.

A decision lists every rule that failed, in table order, not only the first: a sender fixing a
template or a list wants all of its problems at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from streams.policy import Policy
from streams.records import SendDecision, SendRequest
from streams.rules.accounts import (
    ACCOUNT_BROADCASTS_DISABLED,
    ACCOUNT_TERMINATED,
    PROVIDER_PAUSED,
    TRANSACTIONAL_SUSPENDED,
)
from streams.rules.address import INVALID_RECIPIENT_ADDRESS, ROLE_ADDRESS
from streams.rules.base import RecipientView, Rule
from streams.rules.consent import (
    CASL_IMPLIED_CONSENT_EXPIRED,
    CASL_NO_VALID_CONSENT,
    CONSENT_HARD_BOUNCE,
    CONSENT_STATUS_NOT_MAILABLE,
    GDPR_PECR_NO_VALID_CONSENT,
    SPAM_ACT_NO_VALID_CONSENT,
)
from streams.rules.content import CONTENT_RULES
from streams.rules.frequency import CADENCE_EXCEEDED, FREQUENCY_CAP_EXCEEDED
from streams.rules.misuse import TRANSACTIONAL_MISUSE
from streams.rules.suppression import (
    ACCOUNT_UNSUBSCRIBED,
    LIST_UNSUBSCRIBED,
    PLATFORM_SUPPRESSED,
    SUPPRESSIONS_NOT_CURRENT,
)

__all__ = ["FLAGGABLE_RULES", "RULES", "RecipientView", "Rule", "decide", "rule_named"]

RULES: tuple[Rule, ...] = (
    # Whether the gate knows enough to decide.
    SUPPRESSIONS_NOT_CURRENT,
    # Who may not be mailed at all.
    INVALID_RECIPIENT_ADDRESS,
    PLATFORM_SUPPRESSED,
    # Who asked this sender to stop.
    ACCOUNT_UNSUBSCRIBED,
    LIST_UNSUBSCRIBED,
    # Who gave this sender permission, and whether their law accepts it.
    CONSENT_HARD_BOUNCE,
    CONSENT_STATUS_NOT_MAILABLE,
    CASL_NO_VALID_CONSENT,
    CASL_IMPLIED_CONSENT_EXPIRED,
    GDPR_PECR_NO_VALID_CONSENT,
    SPAM_ACT_NO_VALID_CONSENT,
    # Who cannot consent to marketing.
    ROLE_ADDRESS,
    # How often this person agreed to hear from the sender.
    CADENCE_EXCEEDED,
    FREQUENCY_CAP_EXCEEDED,
    # Who the message says it is from, and what it must and must not say (streams.rules.content).
    *CONTENT_RULES,
    # Marketing sent as transactional mail, which skips consent and unsubscribes.
    TRANSACTIONAL_MISUSE,
    # What enforcement stopped for the sender (complaint and bounce rates, streams.strikes).
    ACCOUNT_TERMINATED,
    ACCOUNT_BROADCASTS_DISABLED,
    PROVIDER_PAUSED,
    TRANSACTIONAL_SUSPENDED,
)

FLAGGABLE_RULES: frozenset[str] = frozenset(
    rule.name
    for rule in (*CONTENT_RULES, TRANSACTIONAL_MISUSE, CADENCE_EXCEEDED, FREQUENCY_CAP_EXCEEDED)
)
"""The rules a policy may turn into flags (`ContentPolicy.flag_only_rules`)."""

_BY_NAME = {rule.name: rule for rule in RULES}
if len(_BY_NAME) != len(RULES):
    raise RuntimeError("gate rule names must be unique")


def rule_named(name: str) -> Rule:
    return _BY_NAME[name]


def decide(
    request: SendRequest,
    view: RecipientView,
    policy: Policy,
    *,
    recipient_key: str,
    decided_at: datetime,
    request_offset: str,
    state_offsets: Mapping[str, int],
    return_path: str | None = None,
) -> SendDecision:
    """Run every rule on the request; deny when any fails, naming each one. A failed rule the
    policy only flags goes under `flags` and denies nothing.

    `return_path` (the VERP address for this recipient) goes on allowed decisions only.
    """
    if view.at is None:
        view = replace(view, at=decided_at)
    failed = tuple(
        failure for rule in RULES if (failure := rule.evaluate(request, view, policy)) is not None
    )
    flagged = policy.content.flag_only_rules
    failures = tuple(failure for failure in failed if failure.rule not in flagged)
    return SendDecision(
        request_id=request.request_id,
        account_id=request.account_id,
        recipient_key=recipient_key,
        verdict="deny" if failures else "allow",
        failures=failures,
        flags=tuple(failure for failure in failed if failure.rule in flagged),
        policy_version=policy.policy_version,
        decided_at=decided_at,
        request_offset=request_offset,
        suppressions_seen=view.suppressions,
        state_offsets=dict(state_offsets),
        return_path=None if failures else return_path,
        provider=view.provider,
    )
