"""The gate's rules, as one ordered table that reads like the policy, and `decide`.

A decision lists every rule that failed, in table order, not only the first: a sender fixing a
template or a list wants all of its problems at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from streams.core.records import RuleFailure, SendDecision, SendRequest, Verdict
from streams.policy import FLAGGABLE_RULES, Policy
from streams.rules.accounts import (
    ACCOUNT_BROADCASTS_DISABLED,
    ACCOUNT_TERMINATED,
    PROVIDER_PAUSED,
    TRANSACTIONAL_SUSPENDED,
)
from streams.rules.address import INVALID_RECIPIENT_ADDRESS, ROLE_ADDRESS
from streams.rules.base import RecipientView, Rule
from streams.rules.consent import CONSENT_RULES
from streams.rules.content import CONTENT_RULES
from streams.rules.frequency import CADENCE_EXCEEDED, FREQUENCY_CAP_EXCEEDED
from streams.rules.memo import MEMO_RULES, ContentFindings
from streams.rules.misuse import TRANSACTIONAL_MISUSE
from streams.rules.suppression import (
    ACCOUNT_UNSUBSCRIBED,
    LIST_UNSUBSCRIBED,
    PLATFORM_SUPPRESSED,
    SUPPRESSIONS_NOT_CURRENT,
)

__all__ = [
    "FLAGGABLE_RULES",
    "RULES",
    "Judgement",
    "RecipientView",
    "Rule",
    "decide",
    "decision_fields",
    "judge",
    "rule_named",
    "wire_time",
]

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
    # (hard bounce, mailable status, then CASL, GDPR/PECR, the Spam Act: streams.rules.consent)
    *CONSENT_RULES,
    # Who cannot consent to marketing.
    ROLE_ADDRESS,
    # How often this person agreed to hear from the sender.
    CADENCE_EXCEEDED,
    FREQUENCY_CAP_EXCEEDED,
    # Who the message says it is from, and what it must and must not say (streams.rules.content).
    *CONTENT_RULES,
    # Marketing sent as transactional mail, which skips consent and unsubscribes.
    TRANSACTIONAL_MISUSE,
    # What enforcement stopped for the sender (complaint and bounce rates,
    # streams.reputation.strikes).
    ACCOUNT_TERMINATED,
    ACCOUNT_BROADCASTS_DISABLED,
    PROVIDER_PAUSED,
    TRANSACTIONAL_SUSPENDED,
)

_FLAGGABLE = frozenset(
    rule.name
    for rule in (*CONTENT_RULES, TRANSACTIONAL_MISUSE, CADENCE_EXCEEDED, FREQUENCY_CAP_EXCEEDED)
)
if _FLAGGABLE != FLAGGABLE_RULES:
    raise RuntimeError(
        "the policy's flaggable rules (streams.policy.FLAGGABLE_RULES) and the rule table differ: "
        + ", ".join(sorted(_FLAGGABLE ^ FLAGGABLE_RULES))
    )

_BY_NAME = {rule.name: rule for rule in RULES}
if len(_BY_NAME) != len(RULES):
    raise RuntimeError("gate rule names must be unique")


def rule_named(name: str) -> Rule:
    return _BY_NAME[name]


@dataclass(frozen=True, slots=True)
class Judgement:
    """What the rules found about one request: the failures that deny it, in table order, and
    the failures the policy only flags, with what each failed check found."""

    failures: tuple[RuleFailure, ...]
    flags: tuple[RuleFailure, ...]
    details: Mapping[str, object] = field(default_factory=dict)
    """rule name -> what its check found (`Finding.detail`), for the rules that say more than an
    explanation."""

    @property
    def verdict(self) -> Verdict:
        return "deny" if self.failures else "allow"

    def failed(self, rule: Rule) -> bool:
        """Whether `rule` is among the failures that deny the request (a flag is not)."""
        return any(failure.rule == rule.name for failure in self.failures)

    def detail(self, rule: Rule) -> object | None:
        """What `rule`'s check found, when it failed and said more than its explanation."""
        return self.details.get(rule.name)


def judge(
    request: SendRequest,
    view: RecipientView,
    policy: Policy,
    *,
    at: datetime,
    content: ContentFindings | None = None,
) -> Judgement:
    """Run every rule on the request at the decision's time `at`; a failed rule the policy only
    flags goes under `flags` and denies nothing. With `content`, the content rules' findings are
    taken from it (judged once per message content: `streams.rules.memo`)."""
    if view.at is None:
        view = replace(view, at=at)
    if content is None:
        assessed = [
            found for rule in RULES if (found := rule.assess(request, view, policy)) is not None
        ]
    else:
        remembered = content.findings(request, view, policy)
        assessed = [
            found
            for rule in RULES
            if (
                found := remembered[rule.name]
                if rule.name in MEMO_RULES
                else rule.assess(request, view, policy)
            )
            is not None
        ]
    flagged = policy.content.flag_only_rules
    return Judgement(
        failures=tuple(failure for failure, _ in assessed if failure.rule not in flagged),
        flags=tuple(failure for failure, _ in assessed if failure.rule in flagged),
        details={failure.rule: found for failure, found in assessed if found is not None},
    )


def wire_time(moment: datetime) -> datetime:
    """A moment as a `UtcMillis` field holds it (UTC, whole milliseconds), so fields built
    without the record still equal the record's own."""
    if moment.tzinfo is None:
        raise ValueError("a decision's time must be timezone-aware")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def decision_fields(
    request: SendRequest,
    view: RecipientView,
    policy: Policy,
    judgement: Judgement,
    *,
    recipient_key: str,
    decided_at: datetime,
    request_offset: str,
    state_offsets: Mapping[str, int],
    return_path: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The decision's fields, shaped as `SendDecision.model_dump` shapes them, for
    `Codec.encode_fields`: the gate writes one decision per send, and building the record,
    copying it to add the headers and dumping it again only repeat checks its validated parts
    have passed. `decide` validates these same fields into the record.

    `return_path` (the VERP address for this recipient) and `headers`
    (`streams.sending.list_headers`)
    go on allowed decisions only. Every part comes validated (the request, the recipient's
    state, the rule failures, the recipient key checked against the request) except
    `decided_at`, which is checked here.
    """
    allowed = not judgement.failures
    return {
        "request_id": request.request_id,
        "account_id": request.account_id,
        "recipient_key": recipient_key,
        "verdict": judgement.verdict,
        "failures": tuple(failure.model_dump() for failure in judgement.failures),
        "flags": tuple(failure.model_dump() for failure in judgement.flags),
        "policy_version": policy.policy_version,
        "decided_at": wire_time(decided_at),
        "request_offset": request_offset,
        "suppressions_seen": tuple(entry.model_dump() for entry in view.suppressions),
        "state_offsets": dict(state_offsets),
        "return_path": return_path if allowed else None,
        "provider": view.provider,
        "headers": dict(headers) if allowed and headers else {},
        "inputs": None,
    }


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
    judgement = judge(request, view, policy, at=decided_at)
    return SendDecision.model_validate(
        decision_fields(
            request,
            view,
            policy,
            judgement,
            recipient_key=recipient_key,
            decided_at=decided_at,
            request_offset=request_offset,
            state_offsets=state_offsets,
            return_path=return_path,
        )
    )
