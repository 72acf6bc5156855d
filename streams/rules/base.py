"""What a gate rule is, and what it sees about a recipient."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from streams.core.records import ConsentEntry, RuleFailure, SendRequest, SuppressionEntry
from streams.policy import Policy
from streams.sending.frequency import SendHistory

if TYPE_CHECKING:
    from streams.reputation.standing import AccountSnapshot

__all__ = ["Finding", "RecipientView", "Rule", "RuleCheck"]


@dataclass(frozen=True, slots=True)
class RecipientView:
    """The gate's state at decision time about one recipient, and about the sending account."""

    suppressions: tuple[SuppressionEntry, ...] = ()
    consents: tuple[ConsentEntry, ...] = ()
    at: datetime | None = None
    """The decision's time, for rules about time (implied consent lapses); `decide` sets it."""
    state_current: bool = True
    """False when the gate could not confirm it had applied every unsubscribe acknowledged
    before the request (see `streams.gate.fence`); the gate then fails closed."""
    provider: str | None = None
    """The recipient's mailbox provider (`streams.core.providers`)."""
    account: AccountSnapshot | None = None
    """What enforcement stopped for the sending account (None: nothing on record)."""
    send_history: SendHistory | None = None
    """The recipient's recent allowed commercial sends (`streams.sending.frequency`)."""
    sender_domains: frozenset[str] | None = None
    """The sending account's verified sending domains, lower-case (`sender-domains` topic);
    None when the gate has none on record for the account."""


@dataclass(frozen=True, slots=True)
class Finding:
    """A failed check's explanation together with what the check found: the gate acts on the
    finding itself (a misuse report carries the detector's signals), so nothing is assessed
    twice."""

    explanation: str
    detail: object


RuleCheck = Callable[[SendRequest, RecipientView, Policy], str | Finding | None]
"""Returns the explanation (or a `Finding`) when the request fails the rule, None when it
passes."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A named rule: a stable kebab-case name, the law it enforces, and its check."""

    name: str
    law: str
    description: str
    check: RuleCheck

    def evaluate(
        self, request: SendRequest, view: RecipientView, policy: Policy
    ) -> RuleFailure | None:
        assessed = self.assess(request, view, policy)
        return None if assessed is None else assessed[0]

    def assess(
        self, request: SendRequest, view: RecipientView, policy: Policy
    ) -> tuple[RuleFailure, object] | None:
        """The failure and what the check found (None when it found nothing more to say)."""
        found = self.check(request, view, policy)
        if found is None:
            return None
        if isinstance(found, Finding):
            failure = RuleFailure(rule=self.name, law=self.law, explanation=found.explanation)
            return failure, found.detail
        return RuleFailure(rule=self.name, law=self.law, explanation=found), None
