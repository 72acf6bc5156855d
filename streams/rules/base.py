"""What a gate rule is, and what it sees about a recipient."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from streams.policy import Policy
from streams.records import ConsentEntry, RuleFailure, SendRequest, SuppressionEntry

__all__ = ["RecipientView", "Rule", "RuleCheck"]


@dataclass(frozen=True, slots=True)
class RecipientView:
    """The gate's state about one recipient at decision time."""

    suppressions: tuple[SuppressionEntry, ...] = ()
    consents: tuple[ConsentEntry, ...] = ()
    at: datetime | None = None
    """The decision's time, for rules about time (implied consent lapses); `decide` sets it."""
    state_current: bool = True
    """False when the gate could not confirm it had applied every unsubscribe acknowledged
    before the request (see `streams.fence`); the gate then fails closed."""


RuleCheck = Callable[[SendRequest, RecipientView, Policy], str | None]
"""Returns the explanation when the request fails the rule, None when it passes."""


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
        explanation = self.check(request, view, policy)
        if explanation is None:
            return None
        return RuleFailure(rule=self.name, law=self.law, explanation=explanation)
