"""What enforcement publishes about sending accounts, and the status every gate worker keeps.

The enforcer (`streams.reputation.strikes` on the standings table) turns its actions into
`EnforcementEvent`s (`streams.reputation.events`) on `enforcement-events`, keyed by account: one
flat record per action, so billing, support and the sending platform read one schema and act on
the `action` they care about.

Every event that changes what the gate must deny carries `status_after`, the account's whole
`AccountStatus` after it. Every gate worker's copy of the topic (`streams.gate.broadcast`) is then
not a fold that reads its own previous value (a worker that just started might read a copy that
lags) but a copy of the latest snapshot: `accounts[account] = event.status_after`, in the
partition's order. A replay writes the same snapshots again, in the same order.

Fines (`fine_assessed`) carry no status: they change nothing the gate denies.

The gate hands the enforcer one `MisuseReport` (`content-misuse`, keyed by account) for each
transactional send it denied as carrying marketing (rule `transactional-misuse`); the enforcer
counts them (`streams.reputation.misuse`) into `transactional_misuse` events, and suspends the
account's transactional sending (`transactional_suspended`) at the policy's count.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from streams.core.records import Record, UtcMillis
from streams.reputation.breaches import Breach
from streams.reputation.policy import BreachKind, BreachLevel
from streams.reputation.strikes import AccountStatus

__all__ = [
    "RECORDS",
    "AccountSnapshot",
    "BreachReport",
    "EnforcementEvent",
    "EnforcementKind",
    "MisuseReport",
    "ReinstatementRequest",
    "misuse_report_id",
]

EnforcementKind = Literal[
    "strike_issued",
    "broadcasts_disabled",
    "warning_issued",
    "account_terminated",
    "provider_paused",
    "review_flagged",
    "reinstated",
    "fine_assessed",
    "transactional_misuse",
    "transactional_suspended",
]

_Account = Field(min_length=1, max_length=200)


class BreachReport(Record):
    """A rate over one of its lines (`rate-breaches`, keyed by account): the rate keeper, which
    counts per (account, provider), hands it to the enforcer, which keeps strikes per account."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.BreachReport"

    account_id: str = _Account
    breach: Breach
    policy_version: str
    detected_at: UtcMillis


class ReinstatementRequest(Record):
    """An operator's reinstatement (`account-commands`, keyed by account), e.g. after the
    customer passed the best-practice test: who and why go on the record."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.ReinstatementRequest"

    reinstatement_id: str = Field(min_length=1, max_length=200)
    account_id: str = _Account
    by: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    requested_at: UtcMillis


class MisuseReport(Record):
    """A transactional send the gate denied as carrying marketing (rule `transactional-misuse`),
    handed to the enforcer (`content-misuse`, keyed by account) to count against the account.

    `report_id` is `misuse_report_id(account_id, request_id)`: the gate deciding the same request
    again (a replay) reports it under the same id, which the enforcer counts once.
    """

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.MisuseReport"

    report_id: str = Field(min_length=1, max_length=200)
    account_id: str = _Account
    request_id: str = Field(min_length=1, max_length=200)
    recipient_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    score: float = Field(allow_inf_nan=False)
    """The detector's score for the message's marketing content."""
    signals: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = Field(
        default=(), max_length=100
    )
    """Names of the detector's signals that fired."""
    policy_version: str
    detected_at: UtcMillis
    """Event time: when the gate denied the send."""


def misuse_report_id(account_id: str, request_id: str) -> str:
    """The stable id of the misuse report for one send request: `misuse-` and the SHA-256 (hex)
    of the account and request ids, joined by a unit separator (neither id can then pass for
    part of the other, whatever characters they hold)."""
    digest = hashlib.sha256(f"{account_id}\x1f{request_id}".encode()).hexdigest()
    return f"misuse-{digest}"


class AccountSnapshot(Record):
    """What the gate must deny an account (each worker's copy holds the latest per account)."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.AccountSnapshot"

    account_id: str = _Account
    status: AccountStatus
    broadcasts_denied: bool = False
    commercial_denied: bool = False
    paused_providers: tuple[str, ...] = ()
    all_providers_paused: bool = False
    transactional_suspended: bool = False
    """Transactional (non-commercial) mail denied: the account sent marketing as transactional."""
    strikes: int = Field(default=0, ge=0)
    as_of: UtcMillis


class EnforcementEvent(Record):
    """One enforcement action on one account (`enforcement-events`, keyed by account)."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.EnforcementEvent"

    event_id: str = Field(min_length=1, max_length=200)
    account_id: str = _Account
    action: EnforcementKind
    at: UtcMillis
    policy_version: str
    explanation: str
    strike_number: int | None = Field(default=None, ge=1)
    step: str | None = None
    breach_id: str | None = None
    provider: str | None = None
    breach_kind: BreachKind | None = None
    breach_level: BreachLevel | None = None
    window_start: UtcMillis | None = None
    window_end: UtcMillis | None = None
    count: int | None = Field(default=None, ge=0)
    volume: int | None = Field(default=None, ge=0)
    rate: Decimal | None = None
    """count / volume to 9 decimal places (exact comparisons use the counts)."""
    line: Decimal | None = None
    by: str | None = None
    reason: str | None = None
    restored: tuple[str, ...] = ()
    strikes_kept: int | None = Field(default=None, ge=0)
    report_id: str | None = None
    fine_amount: Decimal | None = None
    fine_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    status_after: AccountSnapshot | None = None


RECORDS: tuple[type[Record], ...] = (
    BreachReport,
    ReinstatementRequest,
    MisuseReport,
    AccountSnapshot,
    EnforcementEvent,
)
