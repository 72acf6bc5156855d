"""What enforcement publishes about sending accounts, and the status every gate worker keeps.

The enforcer (`streams.reputation.strikes` on the standings table) turns its actions into
`EnforcementEvent`s on `enforcement-events`, keyed by account: one flat record per action, so
billing, support and the sending platform read one schema and act on the `action` they care about.

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
from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from streams.core.records import Record, UtcMillis
from streams.reputation.rates import Breach, BreachKind, BreachLevel
from streams.reputation.strikes import (
    REMEMBERED_MISUSE,
    AccountStanding,
    AccountStatus,
    AccountTerminated,
    BroadcastsDisabled,
    EnforcementAction,
    ProviderPaused,
    Reinstated,
    ReviewFlagged,
    StrikeIssued,
    TransactionalMisuse,
    TransactionalSuspended,
    WarningIssued,
    gate_view,
)

__all__ = [
    "RECORDS",
    "AccountSnapshot",
    "BreachReport",
    "EnforcementEvent",
    "EnforcementKind",
    "MisuseReport",
    "ReinstatementRequest",
    "enforcement_events",
    "fine_event",
    "misuse_report_id",
    "snapshot_of_standing",
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
_NINE_PLACES = Decimal("1e-9")  # the scale of the Avro decimals


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


def snapshot_of_standing(standing: AccountStanding, at: datetime) -> AccountSnapshot:
    view = gate_view(standing)
    return AccountSnapshot(
        account_id=standing.account_id,
        status=standing.status,
        broadcasts_denied=view.broadcasts_denied,
        commercial_denied=view.commercial_denied,
        paused_providers=tuple(sorted(view.paused_providers)),
        all_providers_paused=view.all_providers_paused,
        transactional_suspended=view.transactional_denied,
        strikes=len(standing.strikes),
        as_of=at,
    )


def _event_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(("v1", *parts)).encode()).hexdigest()[:32]


def _where(provider: str | None) -> str:
    return f"at {provider}" if provider else "across all providers"


def _explain(action: EnforcementAction) -> str:
    """The sentence a support agent can paste to the customer."""
    match action:
        case StrikeIssued():
            what = "complaint rate" if action.kind == "complaint" else "bounce rate"
            return (
                f"Strike {action.number}: your {what} {_where(action.provider)} was "
                f"{action.count} of {action.volume} ({_percent(action.count, action.volume)}) in "
                f"{action.window.id}, above our line of {_percent_line(action.line)}."
            )
        case BroadcastsDisabled():
            return (
                "Broadcasts and follow-up sequences are disabled until the account is reinstated "
                "(after passing the best-practice test); transactional and one-off mail still go."
            )
        case WarningIssued():
            return (
                f"Warning after strike {action.strike_number}: one more strike within the strike "
                "period terminates the account."
            )
        case AccountTerminated():
            return (
                f"The account is terminated after strike {action.strike_number}: no commercial "
                "mail is sent for it; transactional mail still goes."
            )
        case ProviderPaused():
            what = "complaint rate" if action.kind == "complaint" else "bounce rate"
            return (
                f"Mail {_where(action.provider)} is paused: the {what} was {action.count} of "
                f"{action.volume} ({_percent(action.count, action.volume)}), above the pause "
                f"level of {_percent_line(action.line)}."
            )
        case ReviewFlagged():
            what = "complaint rate" if action.kind == "complaint" else "bounce rate"
            return (
                f"The account is under review: the {what} {_where(action.provider)} passed the "
                f"review level of {_percent_line(action.line)}."
            )
        case Reinstated():
            return (
                f"Reinstated by {action.by}: {action.reason}. Restored: "
                f"{', '.join(action.restored) or 'nothing was restricted'}; "
                f"{action.strikes_kept} strike(s) stay on the record."
            )
        case TransactionalMisuse():
            signals = f" ({', '.join(action.signals)})" if action.signals else ""
            if action.suspended:
                then = "transactional sending is suspended until the account is reinstated."
            elif action.suspend_after > 0:
                then = (
                    f"at {action.suspend_after} the account's transactional sending is suspended "
                    "until it is reinstated."
                )
            else:  # the policy only reports misuse
                then = ""
            return (
                f"Message {action.request_id} was sent as transactional but carried "
                f"marketing{signals}, so it was not sent: transactional mail skips unsubscribe "
                f"choices, so marketing must go as commercial mail. That makes {_misuse(action)} "
                f"such message(s) in the last {action.window_days} days"
                + (f"; {then}" if then else ".")
            )
        case TransactionalSuspended():
            return (
                f"Transactional sending is suspended: {_misuse(action)} messages sent as "
                f"transactional carried marketing in the last {action.window_days} days (the "
                f"limit is {action.suspend_after}). Until the account is reinstated no message "
                "goes out as transactional; commercial mail still goes under the usual consent "
                "and unsubscribe rules."
            )
    raise TypeError(f"not an enforcement action: {action!r}")  # pragma: no cover


def enforcement_events(
    actions: Iterable[EnforcementAction],
    *,
    standing_after: AccountStanding,
    policy_version: str,
) -> tuple[EnforcementEvent, ...]:
    """The enforcer's actions as events, each carrying the account's status after all of them
    (they are emitted together, from one breach, one misuse report or one reinstatement)."""
    events: list[EnforcementEvent] = []
    cause = standing_after.account_id  # the breach or reinstatement behind a ladder step
    for action in actions:
        status = snapshot_of_standing(standing_after, action.at)
        common = {
            "account_id": action.account_id,
            "action": action.action,
            "at": action.at,
            "policy_version": policy_version,
            "explanation": _explain(action),
            "status_after": status,
        }
        if isinstance(action, StrikeIssued | ProviderPaused | ReviewFlagged):
            breach = {
                "breach_id": action.breach_id,
                "provider": action.provider,
                "breach_kind": action.kind,
                "window_start": action.window.start,
                "window_end": action.window.end,
                "count": action.count,
                "volume": action.volume,
                "rate": _rate(action.count, action.volume),
                "line": action.line,
            }
            level: BreachLevel = {
                "strike_issued": "strike",
                "provider_paused": "pause",
                "review_flagged": "review",
            }[action.action]  # type: ignore[assignment]
            extra = {"breach_level": level, **breach}
            if isinstance(action, StrikeIssued):
                extra |= {"strike_number": action.number, "step": action.step}
            event_id = _event_id(action.action, action.breach_id)
            cause = action.breach_id
        elif isinstance(action, TransactionalMisuse | TransactionalSuspended):
            extra = {
                "report_id": action.report_id,
                "count": action.count,
                "window_start": action.window_start,
                "window_end": action.window_end,
            }
            event_id = _event_id(action.action, action.account_id, action.report_id)
        elif isinstance(action, Reinstated):
            extra = {
                "by": action.by,
                "reason": action.reason,
                "restored": action.restored,
                "strikes_kept": action.strikes_kept,
            }
            event_id = _event_id(action.action, action.account_id, action.reinstatement_id)
        else:  # a ladder step, caused by the strike before it in `actions`
            extra = {"strike_number": action.strike_number}
            event_id = _event_id(action.action, cause)
        events.append(EnforcementEvent(event_id=event_id, **common, **extra))
    return tuple(events)


def fine_event(
    *,
    account_id: str,
    report_id: str,
    provider: str | None,
    amount: Decimal,
    currency: str,
    at: datetime,
    policy_version: str,
) -> EnforcementEvent:
    """A fine assessment for a complaint the account cannot show consent for."""
    return EnforcementEvent(
        event_id=_event_id("fine_assessed", account_id, report_id),
        account_id=account_id,
        action="fine_assessed",
        at=at,
        policy_version=policy_version,
        explanation=(
            f"A recipient {_where(provider)} reported your message as spam and the ledger holds "
            f"no proof that they opted in to your mail: a fine of {amount} {currency} applies "
            "under the platform's terms."
        ),
        provider=provider,
        report_id=report_id,
        fine_amount=amount,
        fine_currency=currency,
    )


def _misuse(action: TransactionalMisuse | TransactionalSuspended) -> str:
    """The misuse count; the standing remembers only so many reports, so at that it is a floor."""
    return f"at least {action.count}" if action.count >= REMEMBERED_MISUSE else str(action.count)


def _rate(count: int, volume: int) -> Decimal:
    return (Decimal(count) / Decimal(volume)).quantize(_NINE_PLACES, rounding=ROUND_HALF_EVEN)


def _percent(count: int, volume: int) -> str:
    return f"{count * 100 / volume:.3g}%" if volume else "n/a"


def _percent_line(line: Decimal) -> str:
    return f"{(line * 100).normalize():f}%"
