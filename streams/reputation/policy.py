"""What the rate keeper counts and fines, and when misuse suspends an account: the policy file's
`enforcement`."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from streams.reputation.rates import RatesPolicy
from streams.reputation.strikes import StrikePolicy

__all__ = ["EnforcementPolicy", "ReputationPolicy"]


class EnforcementPolicy(BaseModel):
    """What the rate keeper counts as volume, and the fine for complaints without consent.

    - `volume` "delivered": the rate's denominator is messages delivered (delivery events), the
      industry's reading ("complaints per 1,000 delivered"); "allowed_sends": allowed decisions
      count instead, for platforms whose mailers do not report deliveries.
    - `fine_per_complaint` 250 USD: one well-known platform charges up to $250 per complaint
      the customer cannot prove an opt-in for; 0 turns fines off. A complaint is fined
      when the recipient's consents show no grant, import or purchase for the account that was
      in force when the complaint arrived.
    - `misuse_suspend_after` 3 within `misuse_window_days` 30: transactional sends the gate
      denied as carrying marketing (the transactional-misuse rule) count against the account;
      at this many in the window its transactional sending is suspended until an operator
      reinstates it (0: never suspend, the misuse is still reported). Transactional streams
      bypass unsubscribes, so a platform cannot let marketing ride on them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    volume: Literal["delivered", "allowed_sends"] = "delivered"
    fine_per_complaint: Decimal = Field(default=Decimal("250"), ge=0, max_digits=12)
    fine_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    misuse_suspend_after: int = Field(default=3, ge=0, le=1000, strict=True)
    misuse_window_days: int = Field(default=30, ge=1, le=365, strict=True)


class ReputationPolicy(Protocol):
    """The parts of the whole policy (`streams.policy.Policy`) that judge an account's
    reputation: what an account report needs, without depending on the whole policy file."""

    @property
    def rates(self) -> RatesPolicy: ...

    @property
    def strikes(self) -> StrikePolicy: ...

    @property
    def enforcement(self) -> EnforcementPolicy: ...

    @property
    def policy_version(self) -> str: ...
