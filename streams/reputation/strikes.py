"""The strike ladder: what a rate breach does to a sending account, and what the gate then denies.

Pure: the enforcer calls `apply_breach` for each breach `streams.reputation.breaches` finds, and
`streams.reputation.reinstatement.reinstate` for an operator's reinstatement, with the account's
standing; it emits the actions they return (`streams.reputation.actions`) and writes the standing
back. What the gate then denies is `streams.reputation.denials.gate_view(standing)`.

- Strike n takes step n of the ladder (default: 1 disables broadcasts and sequences until the
  account is reinstated, e.g. after a best-practice test; 2 warns; 3 terminates); a strike past
  the ladder's end takes its last step. Strikes count over `strike_period_days` (365): a strike
  issued exactly that long ago no longer counts.
- The same breach is never struck twice: its id (`breach_id`) names the account, provider, kind,
  level and window, and a breach whose window overlaps one already struck for the same kind is the
  same episode (consecutive rolling windows overlap; so does the same week at two providers,
  unless `episode_scope` is `provider`). A persistent problem is struck again only from a window
  that starts after the struck one ended: at most one strike a week by default.
- Bounce breaches strike like complaints, or only pause (`bounce_breaches_strike`).
- A pause-level breach pauses the account's mail to its provider (all providers when the breach is
  account-wide) until reinstatement; a review-level breach only flags the account.
- Reinstatement re-enables broadcasts, lifts termination and pauses, and keeps the strikes: the
  next strike is numbered after them. A terminated account takes no more strikes until it is
  reinstated (pauses and reviews still apply).
- Breaches whose window ended more than a strike period ago are stale and ignored; history older
  than that (plus the longest window) is forgotten, since no live breach can overlap it. The
  ledger keeps the full history.
- Transactional misuse (`streams.reputation.misuse`) is counted on the same standing: the
  misuse reports of the last `misuse_window_days` (`CountedMisuse`) and whether the account's
  transactional sending is suspended. Reinstatement lifts that suspension too, and then forgives
  the reports that led to it (they stay remembered, so a replay of one still changes nothing).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import ClassVar, Literal, NamedTuple

from pydantic import Field

from streams.core.clock import utc
from streams.core.records import Record, UtcMillis
from streams.reputation.actions import (
    AccountTerminated,
    BroadcastsDisabled,
    EnforcementAction,
    ProviderPaused,
    ReviewFlagged,
    StrikeIssued,
    WarningIssued,
)
from streams.reputation.breaches import Breach
from streams.reputation.policy import MAX_WINDOW_DAYS, BreachKind, StrikePolicy
from streams.reputation.rates import Window

__all__ = [
    "RECORDS",
    "REMEMBERED_MISUSE",
    "REMEMBERED_REINSTATEMENTS",
    "AccountStanding",
    "AccountStatus",
    "BreachOutcome",
    "CountedMisuse",
    "EnforcementFold",
    "Pause",
    "Reinstatement",
    "Review",
    "Strike",
    "apply_breach",
    "breach_id",
]

AccountStatus = Literal["active", "broadcasts_disabled", "warned", "terminated"]
BreachOutcome = Literal[
    "struck",
    "paused",
    "review_flagged",
    "replayed",
    "same_episode",
    "already_paused",
    "stale",
    "account_terminated",
]
REMEMBERED_REINSTATEMENTS = 32
"""Reinstatements kept in the standing (for replays; the ledger keeps them all)."""
REMEMBERED_MISUSE = 1000
"""Misuse reports kept in the standing, newest first (`streams.reputation.misuse`): at least
the policy's largest `misuse_suspend_after`, and few enough (about 80 kB) that the standings
changelog record stays far below Kafka's 1 MB message limit however many a bad account sends."""


class _Episode(Record):
    breach_id: str
    provider: str | None
    kind: BreachKind
    window: Window
    count: int = Field(ge=0)
    volume: int = Field(ge=1)
    line: Decimal
    at: UtcMillis


class Strike(_Episode):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.Strike"

    number: int = Field(ge=1)


class Pause(_Episode):
    """A pause of the account's mail to `provider` (None: every provider)."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.Pause"

    lifted_at: UtcMillis | None = None


class Review(_Episode):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.Review"


class Reinstatement(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.Reinstatement"

    reinstatement_id: str = Field(min_length=1)
    by: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    at: UtcMillis
    restored: tuple[str, ...]


class CountedMisuse(Record):
    """A misuse report counted against the account (`streams.reputation.misuse`), remembered by
    id while it is inside the misuse window, so a replay of it changes nothing."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.CountedMisuse"

    report_id: str = Field(min_length=1)
    detected_at: UtcMillis
    """Event time: when the gate denied the send."""
    forgiven: bool = False
    """A reinstatement lifted the suspension this report counted towards: it counts no more."""


class AccountStanding(Record):
    """What enforcement has done to one account (the standings table value)."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.AccountStanding"

    account_id: str = Field(min_length=1)
    strikes: tuple[Strike, ...] = ()
    broadcasts_disabled: bool = False
    warned: bool = False
    terminated: bool = False
    pauses: tuple[Pause, ...] = ()
    reviews: tuple[Review, ...] = ()
    reinstatements: tuple[Reinstatement, ...] = ()
    misuse: tuple[CountedMisuse, ...] = ()
    """Misuse reports inside the misuse window (counted and forgiven), oldest first."""
    transactional_suspended: bool = False
    """Transactional sending denied (after too many misuse reports) until reinstatement."""

    @property
    def status(self) -> AccountStatus:
        """The most severe standing (a warning stays on the record after reinstatement)."""
        if self.terminated:
            return "terminated"
        if self.broadcasts_disabled:
            return "broadcasts_disabled"
        return "warned" if self.warned else "active"

    @property
    def active_pauses(self) -> tuple[Pause, ...]:
        return tuple(pause for pause in self.pauses if pause.lifted_at is None)

    def strikes_in_period(self, now: datetime, policy: StrikePolicy) -> tuple[Strike, ...]:
        """Strikes issued less than a strike period before `now`."""
        return tuple(strike for strike in self.strikes if strike.at > utc(now) - policy.period)


class EnforcementFold(NamedTuple):
    standing: AccountStanding
    actions: tuple[EnforcementAction, ...]
    outcome: BreachOutcome


def breach_id(account_id: str, breach: Breach) -> str:
    """A stable id for `breach`: the same account, provider, kind, level and window give the same
    id on every worker and every replay. The level is in it because one window can pass several
    lines (strike and pause), each handled once."""
    parts = (
        "v1",
        account_id,
        breach.provider or "*",
        breach.kind,
        breach.level,
        breach.window.id,
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def apply_breach(
    standing: AccountStanding,
    breach: Breach,
    *,
    breach_id: str,
    now: datetime,
    policy: StrikePolicy,
) -> EnforcementFold:
    """The standing after `breach`, and the enforcement events to emit (none if nothing changed).

    Only a breach that does something changes the standing; otherwise the standing given is
    returned with the reason (`replayed`, `same_episode`, `already_paused`, `stale`,
    `account_terminated`).
    """
    now = utc(now)
    known = {e.breach_id for e in (*standing.strikes, *standing.pauses, *standing.reviews)}
    if breach_id in known:
        return EnforcementFold(standing, (), "replayed")
    if breach.window.end < now - policy.period:
        return EnforcementFold(standing, (), "stale")
    level = breach.level
    if level == "strike" and breach.kind == "bounce" and not policy.bounce_breaches_strike:
        level = "pause"
    fields = {
        "breach_id": breach_id,
        "provider": breach.provider,
        "kind": breach.kind,
        "window": breach.window,
        "count": breach.count,
        "volume": breach.volume,
        "line": breach.line,
        "at": now,
    }
    if level == "review":
        if _same_episode(standing.reviews, breach, across_providers=False):
            return EnforcementFold(standing, (), "same_episode")
        standing = _forget_old(standing, now, policy)
        review = Review.model_validate(fields)
        action = ReviewFlagged(account_id=standing.account_id, **fields)
        return EnforcementFold(
            standing.model_copy(update={"reviews": (*standing.reviews, review)}),
            (action,),
            "review_flagged",
        )
    if level == "pause":
        if any(pause.provider == breach.provider for pause in standing.active_pauses):
            return EnforcementFold(standing, (), "already_paused")
        if _same_episode(standing.pauses, breach, across_providers=False):
            return EnforcementFold(standing, (), "same_episode")
        standing = _forget_old(standing, now, policy)
        pause = Pause.model_validate(fields)
        return EnforcementFold(
            standing.model_copy(update={"pauses": (*standing.pauses, pause)}),
            (ProviderPaused(account_id=standing.account_id, **fields),),
            "paused",
        )
    if standing.terminated:
        return EnforcementFold(standing, (), "account_terminated")
    across = policy.episode_scope == "account"
    if _same_episode(standing.strikes, breach, across_providers=across):
        return EnforcementFold(standing, (), "same_episode")
    standing = _forget_old(standing, now, policy)
    number = len(standing.strikes_in_period(now, policy)) + 1
    step = policy.ladder[min(number, len(policy.ladder)) - 1]
    strike = Strike.model_validate({**fields, "number": number})
    account = standing.account_id
    actions: list[EnforcementAction] = [
        StrikeIssued(account_id=account, number=number, step=step, **fields)
    ]
    update: dict[str, object] = {"strikes": (*standing.strikes, strike)}
    if step == "disable_broadcasts" and not standing.broadcasts_disabled:
        update["broadcasts_disabled"] = True
        actions.append(BroadcastsDisabled(account_id=account, at=now, strike_number=number))
    elif step == "warn":
        update["warned"] = True
        actions.append(WarningIssued(account_id=account, at=now, strike_number=number))
    elif step == "terminate":
        update["terminated"] = True
        actions.append(AccountTerminated(account_id=account, at=now, strike_number=number))
    return EnforcementFold(standing.model_copy(update=update), tuple(actions), "struck")


def _same_episode(history: tuple[_Episode, ...], breach: Breach, *, across_providers: bool) -> bool:
    return any(
        episode.kind == breach.kind
        and (across_providers or episode.provider == breach.provider)
        and episode.window.overlaps(breach.window)
        for episode in history
    )


def _forget_old(standing: AccountStanding, now: datetime, policy: StrikePolicy) -> AccountStanding:
    """Drop history no live breach can overlap and no strike count includes (active pauses stay).

    A live breach's window ends after now - period, so starts after now - period - the longest
    window: an episode whose window ended before that cannot overlap it.
    """
    cutoff = now - policy.period
    forget_before = cutoff - timedelta(days=MAX_WINDOW_DAYS)

    def keep(episode: _Episode) -> bool:
        if isinstance(episode, Pause) and episode.lifted_at is None:
            return True
        return episode.window.end >= forget_before or episode.at > cutoff

    return standing.model_copy(
        update={
            "strikes": tuple(s for s in standing.strikes if keep(s)),
            "pauses": tuple(p for p in standing.pauses if keep(p)),
            "reviews": tuple(r for r in standing.reviews if keep(r)),
        }
    )


RECORDS: tuple[type[Record], ...] = (
    Strike,
    Pause,
    Review,
    Reinstatement,
    CountedMisuse,
    AccountStanding,
)
