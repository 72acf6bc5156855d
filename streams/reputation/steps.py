"""One input through each enforcement stage, as pure steps.

The rate keeper and the enforcer (`streams.gate.enforcer`) read a state, call one of these, and
write what it returns: a complaint's fine, a rate event or tick counted and judged, a breach,
misuse report or reinstatement applied to the account's standing. Keeping the decisions here
keeps them testable on plain records and replayable on recorded ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from streams.consent.lookup import opt_in_proven
from streams.consent.policy import ConsentPolicy
from streams.core.records import ConsentState, FeedbackReport
from streams.reputation.breaches import Breach, breaches, rates_at, snapshot_of
from streams.reputation.events import fine_event
from streams.reputation.misuse import apply_misuse
from streams.reputation.policy import EnforcementPolicy, RatesPolicy, StrikePolicy
from streams.reputation.rate_inputs import RateEvent, RateTick
from streams.reputation.rates import RateState, count_event, due_windows
from streams.reputation.reinstatement import reinstate
from streams.reputation.standing import (
    BreachReport,
    EnforcementEvent,
    MisuseReport,
    ReinstatementRequest,
)
from streams.reputation.strikes import AccountStanding, apply_breach, breach_id

__all__ = [
    "COMPLAINT_TYPES",
    "RateStep",
    "StandingStep",
    "apply_to_standing",
    "complaint_fine",
    "count_rate",
    "judge_closed_windows",
]

COMPLAINT_TYPES = frozenset({"abuse"})
"""ARF feedback types that count as complaints (RFC 5965 §7.3: `abuse` is unsolicited mail;
`fraud`, `virus` and the rest report other things)."""


def complaint_fine(
    report: FeedbackReport,
    consents: ConsentState | None,
    *,
    provider: str | None,
    replayed: bool,
    enforcement: EnforcementPolicy,
    consent: ConsentPolicy,
    policy_version: str,
) -> EnforcementEvent | None:
    """The fine a complaint earns its account when the recipient's consent history shows no
    opt-in for it at the time; None when fines are off, the complaint names no account, was
    counted already (`replayed`), or the opt-in is proven."""
    if report.feedback_type not in COMPLAINT_TYPES or report.account_id is None:
        return None
    if enforcement.fine_per_complaint <= 0 or replayed:
        return None
    at = report.arrival_date or report.received_at
    if opt_in_proven(consents, report.account_id, report.list_id, at, consent):
        return None
    return fine_event(
        account_id=report.account_id,
        report_id=report.report_id,
        provider=provider,
        amount=enforcement.fine_per_complaint,
        currency=enforcement.fine_currency,
        at=at,
        policy_version=policy_version,
    )


class RateStep(NamedTuple):
    state: RateState | None
    """The rates after the step (None: nothing kept, nothing to write)."""
    breaches: list[Breach]
    """The breaches the step revealed, each once."""


def _breach_key(breach: Breach) -> tuple[str, str, str | None, str]:
    return (breach.kind, breach.level, breach.provider, breach.window.id)


def count_rate(
    state: RateState | None,
    record: RateEvent | RateTick,
    *,
    offset: int,
    now: datetime,
    policy: RatesPolicy,
) -> RateStep:
    """Count one rate event (at its Kafka `offset`: replays are told by it) or take the timer's
    tick, and judge: at once when the policy acts at once, and every window that closed."""
    if isinstance(record, RateTick):
        if state is None:
            return RateStep(None, [])
        return RateStep(*judge_closed_windows(state, now, policy, record.provider))
    fold = count_event(
        state,
        offset=offset,
        kind=record.kind,
        occurred_at=record.occurred_at,
        now=now,
        policy=policy,
    )
    if fold.outcome != "counted":
        return RateStep(fold.state, [])
    found: list[Breach] = []
    if policy.act_at_once:
        before = breaches(rates_at(state, now, policy, provider=record.provider), policy)
        seen = {_breach_key(breach) for breach in before}
        after = breaches(rates_at(fold.state, now, policy, provider=record.provider), policy)
        found += [breach for breach in after if _breach_key(breach) not in seen]
    judged_state, judged = judge_closed_windows(fold.state, now, policy, record.provider)
    return RateStep(judged_state, found + judged)


def judge_closed_windows(
    state: RateState, now: datetime, policy: RatesPolicy, provider: str | None
) -> tuple[RateState, list[Breach]]:
    """The breaches of every window that closed (lateness included) since the last judged one."""
    due = due_windows(state, last_evaluated_end=state.last_evaluated_end, now=now, policy=policy)
    found = [
        breach
        for window in due.due
        for breach in breaches(snapshot_of(state, window, policy, provider=provider), policy)
    ]
    return state.model_copy(update={"last_evaluated_end": due.through}), found


class StandingStep(NamedTuple):
    standing: AccountStanding
    actions: Sequence[object]
    """What the ladder did, for `streams.reputation.standing.enforcement_events`."""
    outcome: str | None
    """What happened, for the log (None: nothing worth a line)."""


def apply_to_standing(
    standing: AccountStanding,
    record: BreachReport | MisuseReport | ReinstatementRequest,
    *,
    now: datetime,
    strikes: StrikePolicy,
    enforcement: EnforcementPolicy,
) -> StandingStep:
    """A breach climbs the strike ladder, a misuse report counts towards suspending the
    account's transactional mail, an operator's reinstatement restores it."""
    if isinstance(record, BreachReport):
        fold = apply_breach(
            standing,
            record.breach,
            breach_id=breach_id(record.account_id, record.breach),
            now=now,
            policy=strikes,
        )
        return StandingStep(fold.standing, fold.actions, fold.outcome)
    if isinstance(record, MisuseReport):
        misuse = apply_misuse(standing, record, now=now, policy=enforcement)
        return StandingStep(misuse.standing, misuse.actions, f"misuse {misuse.outcome}")
    reinstated = reinstate(
        standing,
        reinstatement_id=record.reinstatement_id,
        by=record.by,
        reason=record.reason,
        now=now,
    )
    actions = () if reinstated.action is None else (reinstated.action,)
    return StandingStep(reinstated.standing, actions, None)
