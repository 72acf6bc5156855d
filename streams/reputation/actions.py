"""The enforcer's actions on an account: what a breach, a misuse report or a reinstatement did.

The strike ladder (`streams.reputation.strikes`), the misuse count (`streams.reputation.misuse`)
and reinstatement (`streams.reputation.reinstatement`) return them; the enforcer publishes each as
an `EnforcementEvent` (`streams.reputation.events`). Not records: they never travel as they are.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from streams.core.records import UtcMillis
from streams.reputation.policy import BreachKind, LadderStep
from streams.reputation.rates import Window

__all__ = [
    "AccountTerminated",
    "BroadcastsDisabled",
    "EnforcementAction",
    "ProviderPaused",
    "Reinstated",
    "ReviewFlagged",
    "StrikeIssued",
    "TransactionalMisuse",
    "TransactionalSuspended",
    "WarningIssued",
]


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: str
    at: UtcMillis


class _BreachAction(_Action):
    breach_id: str
    provider: str | None
    kind: BreachKind
    window: Window
    count: int
    volume: int
    line: Decimal


class StrikeIssued(_BreachAction):
    action: Literal["strike_issued"] = "strike_issued"
    number: int
    step: LadderStep


class _LadderAction(_Action):
    """A step of the ladder, taken by the strike numbered `strike_number`."""

    strike_number: int


class BroadcastsDisabled(_LadderAction):
    """Broadcasts and sequences (bulk commercial mail) are denied until reinstatement."""

    action: Literal["broadcasts_disabled"] = "broadcasts_disabled"


class WarningIssued(_LadderAction):
    action: Literal["warning_issued"] = "warning_issued"


class AccountTerminated(_LadderAction):
    """All commercial mail is denied until reinstatement."""

    action: Literal["account_terminated"] = "account_terminated"


class ProviderPaused(_BreachAction):
    """The account's mail to `provider` (None: every provider) is denied until reinstatement."""

    action: Literal["provider_paused"] = "provider_paused"


class ReviewFlagged(_BreachAction):
    action: Literal["review_flagged"] = "review_flagged"


class Reinstated(_Action):
    """`restored` names what reinstatement gave back: `broadcasts`, `commercial_mail`,
    `provider:<name>` or `all_providers`; `strikes_kept` the strikes still on the record."""

    action: Literal["reinstated"] = "reinstated"
    reinstatement_id: str
    by: str
    reason: str
    restored: tuple[str, ...]
    strikes_kept: int


class _MisuseAction(_Action):
    """`count`: the account's misuse reports in the window (`window_start`, `window_end`], event
    time, after this one; `suspend_after` and `window_days` the policy that counted them."""

    report_id: str
    count: int
    window_start: UtcMillis
    window_end: UtcMillis
    window_days: int
    suspend_after: int


class TransactionalMisuse(_MisuseAction):
    """A transactional send was denied for carrying marketing; `suspended`: the account's
    transactional sending is suspended after it (now or before)."""

    action: Literal["transactional_misuse"] = "transactional_misuse"
    request_id: str
    signals: tuple[str, ...]
    suspended: bool


class TransactionalSuspended(_MisuseAction):
    """Every transactional (non-commercial) send of the account is denied until reinstatement."""

    action: Literal["transactional_suspended"] = "transactional_suspended"


EnforcementAction = (
    StrikeIssued
    | BroadcastsDisabled
    | WarningIssued
    | AccountTerminated
    | ProviderPaused
    | ReviewFlagged
    | Reinstated
    | TransactionalMisuse
    | TransactionalSuspended
)
