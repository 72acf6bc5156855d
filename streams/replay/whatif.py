"""What another policy would have decided on recorded traffic: one row per request, and the
tallies an analyst reads first (totals before and after, flips by rule and by account).

A what-if decides each request again on the state its decision recorded. That state is what
the gate saw under the policy it ran, so effects that would have compounded under the new one
(a send it denies is not counted by the frequency rules for the next send; fewer complaints
after fewer sends) are not followed: the question answered is "which of these decisions would
the new policy have made differently", one decision at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from streams.core.records import RuleFailure, SendDecision, SendRequest, Verdict
from streams.policy import Policy
from streams.rules import Judgement

__all__ = [
    "STATEFUL_SECTIONS",
    "FlipCounts",
    "WhatIfRow",
    "WhatIfTally",
    "stateful_changes",
    "what_if_row",
]

STATEFUL_SECTIONS = {
    "rates": "complaint and bounce lines act through strikes and pauses, the account's standing",
    "strikes": "the strike ladder acts through the account's standing",
    "enforcement": "what counts as volume, fines and misuse suspensions act through the "
    "account's standing",
    "soft_bounce": "the soft-bounce rule acts through the recipient's bounce state",
}
"""Policy sections that change what the gate decides only through state the keepers and the
enforcer build (a what-if decides on the state as recorded, so it cannot show them)."""


@dataclass(frozen=True, slots=True)
class WhatIfRow:
    """One request, decided under the recorded policy and under the new one."""

    request_id: str
    account_id: str
    recipient_key: str
    classification: str
    send_kind: str
    jurisdiction: str | None
    provider: str | None
    list_id: str | None
    decided_at: datetime
    request_offset: str
    verdict_before: Verdict
    verdict_after: Verdict
    rules_before: tuple[str, ...]
    rules_after: tuple[str, ...]
    explanations_before: tuple[str, ...]
    explanations_after: tuple[str, ...]
    policy_before: str
    policy_after: str

    @property
    def flipped(self) -> bool:
        return self.verdict_before != self.verdict_after

    @property
    def rules_added(self) -> tuple[str, ...]:
        return tuple(rule for rule in self.rules_after if rule not in self.rules_before)

    @property
    def rules_removed(self) -> tuple[str, ...]:
        return tuple(rule for rule in self.rules_before if rule not in self.rules_after)


def _rules(failures: tuple[RuleFailure, ...]) -> tuple[str, ...]:
    return tuple(failure.rule for failure in failures)


def _explanations(failures: tuple[RuleFailure, ...]) -> tuple[str, ...]:
    return tuple(f"{failure.rule}: {failure.explanation}" for failure in failures)


def what_if_row(
    request: SendRequest, recorded: SendDecision, after: Judgement, policy_after: str
) -> WhatIfRow:
    """The row for one request: its recorded decision beside the new policy's judgement."""
    return WhatIfRow(
        request_id=recorded.request_id,
        account_id=recorded.account_id,
        recipient_key=recorded.recipient_key,
        classification=request.classification,
        send_kind=request.send_kind,
        jurisdiction=request.jurisdiction,
        provider=recorded.provider,
        list_id=request.list_id,
        decided_at=recorded.decided_at,
        request_offset=recorded.request_offset,
        verdict_before=recorded.verdict,
        verdict_after=after.verdict,
        rules_before=_rules(recorded.failures),
        rules_after=_rules(after.failures),
        explanations_before=_explanations(recorded.failures),
        explanations_after=_explanations(after.failures),
        policy_before=recorded.policy_version,
        policy_after=policy_after,
    )


def stateful_changes(new: Policy, recorded: Iterable[Policy]) -> list[str]:
    """For each section of `STATEFUL_SECTIONS` in which `new` differs from a recorded policy, a
    sentence saying why the what-if does not show its effect."""
    found = []
    recorded = list(recorded)
    for section, why in STATEFUL_SECTIONS.items():
        if any(getattr(new, section) != getattr(old, section) for old in recorded):
            found.append(
                f"[{section}] differs from the recorded policy's, but {why}: this what-if "
                "decides on the state each decision recorded, so it does not show that change"
            )
    return found


@dataclass
class FlipCounts:
    """Requests that went from allow to deny, and from deny to allow."""

    newly_denied: int = 0
    newly_allowed: int = 0

    @property
    def total(self) -> int:
        return self.newly_denied + self.newly_allowed


@dataclass
class WhatIfTally:
    """The figures of a what-if, added to one row at a time (a replay streams its rows)."""

    sample_size: int = 10
    requests: int = 0
    allowed_before: int = 0
    allowed_after: int = 0
    rules_changed: int = 0
    """Requests whose verdict stayed but whose failed rules changed."""
    by_rule: dict[str, FlipCounts] = field(default_factory=dict)
    """Per rule: requests it newly denies (failing now, not before, and the verdict flipped to
    deny) and requests it no longer denies (failed before, not now, and the verdict flipped to
    allow)."""
    by_account: dict[str, FlipCounts] = field(default_factory=dict)
    sample: list[WhatIfRow] = field(default_factory=list)
    policies_before: dict[str, int] = field(default_factory=dict)
    """The recorded policy versions, with how many decisions each made."""

    def add(self, row: WhatIfRow) -> None:
        self.requests += 1
        self.policies_before[row.policy_before] = self.policies_before.get(row.policy_before, 0) + 1
        self.allowed_before += row.verdict_before == "allow"
        self.allowed_after += row.verdict_after == "allow"
        if not row.flipped:
            self.rules_changed += row.rules_before != row.rules_after
            return
        newly_denied = row.verdict_after == "deny"
        account = self.by_account.setdefault(row.account_id, FlipCounts())
        for rule in row.rules_added if newly_denied else row.rules_removed:
            counts = self.by_rule.setdefault(rule, FlipCounts())
            if newly_denied:
                counts.newly_denied += 1
            else:
                counts.newly_allowed += 1
        if newly_denied:
            account.newly_denied += 1
        else:
            account.newly_allowed += 1
        if len(self.sample) < self.sample_size:
            self.sample.append(row)

    @property
    def denied_before(self) -> int:
        return self.requests - self.allowed_before

    @property
    def denied_after(self) -> int:
        return self.requests - self.allowed_after

    @property
    def flips(self) -> FlipCounts:
        return FlipCounts(
            newly_denied=sum(counts.newly_denied for counts in self.by_account.values()),
            newly_allowed=sum(counts.newly_allowed for counts in self.by_account.values()),
        )

    def rules_by_flips(self) -> list[tuple[str, FlipCounts]]:
        """Rules, most flips first (then by name, so equal counts list the same way)."""
        return sorted(self.by_rule.items(), key=lambda item: (-item[1].total, item[0]))

    def accounts_by_flips(self) -> list[tuple[str, FlipCounts]]:
        return sorted(self.by_account.items(), key=lambda item: (-item[1].total, item[0]))
