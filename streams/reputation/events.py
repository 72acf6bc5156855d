"""The enforcer's actions as the events it publishes, each with the sentence support can paste
and the account's status after it.

Pure: the enforcer calls `enforcement_events` with the actions a breach, a misuse report or a
reinstatement returned and the standing after them, and `fine_event` for a complaint the account
cannot show an opt-in for; it publishes what they return on `enforcement-events`
(`streams.reputation.standing` describes the records).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from streams.reputation.actions import (
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
)
from streams.reputation.denials import gate_view
from streams.reputation.policy import BreachKind, BreachLevel
from streams.reputation.standing import AccountSnapshot, EnforcementEvent
from streams.reputation.strikes import REMEMBERED_MISUSE, AccountStanding

__all__ = ["enforcement_events", "fine_event", "snapshot_of_standing"]

_NINE_PLACES = Decimal("1e-9")  # the scale of the Avro decimals


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


def _rate_name(kind: BreachKind) -> str:
    return "complaint rate" if kind == "complaint" else "bounce rate"


def _measured(count: int, volume: int) -> str:
    """E.g. `2 of 1000 (0.2%)`."""
    return f"{count} of {volume} ({_percent(count, volume)})"


def _explain(action: EnforcementAction) -> str:
    """The sentence a support agent can paste to the customer."""
    match action:
        case StrikeIssued():
            return (
                f"Strike {action.number}: your {_rate_name(action.kind)} "
                f"{_where(action.provider)} was {_measured(action.count, action.volume)} in "
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
            return (
                f"Mail {_where(action.provider)} is paused: the {_rate_name(action.kind)} was "
                f"{_measured(action.count, action.volume)}, above the pause level of "
                f"{_percent_line(action.line)}."
            )
        case ReviewFlagged():
            return (
                f"The account is under review: the {_rate_name(action.kind)} "
                f"{_where(action.provider)} passed the review level of "
                f"{_percent_line(action.line)}."
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
            extra = action.model_dump(include={"report_id", "count", "window_start", "window_end"})
            event_id = _event_id(action.action, action.account_id, action.report_id)
        elif isinstance(action, Reinstated):
            extra = action.model_dump(include={"by", "reason", "restored", "strikes_kept"})
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
