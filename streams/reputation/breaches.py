"""A window's totals at a provider (or across the account), and the lines their rates pass.

Pure: the rate keeper takes a window's `snapshot_of` the counts `streams.reputation.rates` keeps
(`rates_at` for the rolling window at a moment), sums providers with `combine` for the account,
and hands every `Breach` that `breaches` finds to the enforcer (`streams.reputation.strikes`).

Rates and lines: complaint rate = complaints / delivered; bounce rate = hard bounces / (delivered +
hard bounces). A rate passes a line when it is strictly above it, compared exactly as fractions:
1 complaint in 1,000 delivered is 0.1%, on the 0.1% line and not past it; 2 in 1,000 are. Below
its minimum volume a rate triggers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import ClassVar

from pydantic import Field

from streams.core.records import Record
from streams.reputation.policy import BreachKind, BreachLevel, RatesPolicy, Scope
from streams.reputation.rates import RateState, Window, bucket_start, current_window

__all__ = [
    "RECORDS",
    "Breach",
    "RateSnapshot",
    "breaches",
    "combine",
    "rates_at",
    "snapshot_of",
]


@dataclass(frozen=True, slots=True)
class RateSnapshot:
    """Totals of one window at one provider (None: every provider of the account)."""

    provider: str | None
    window: Window
    delivered: int
    hard_bounced: int
    complained: int
    complaint_volume_enough: bool
    bounce_volume_enough: bool
    blocked: int = 0
    block_volume_enough: bool = False

    @property
    def attempted(self) -> int:
        """Messages the receivers answered for: delivered, bounced as dead, or refused."""
        return self.delivered + self.hard_bounced + self.blocked

    @property
    def complaint_rate(self) -> Fraction | None:
        return Fraction(self.complained, self.delivered) if self.delivered else None

    @property
    def bounce_rate(self) -> Fraction | None:
        return Fraction(self.hard_bounced, self.attempted) if self.attempted else None

    @property
    def block_rate(self) -> Fraction | None:
        return Fraction(self.blocked, self.attempted) if self.attempted else None


class Breach(Record):
    """A rate strictly above one of its lines in one window: `count` complaints (hard bounces,
    refusals of the sender) of `volume` delivered (attempted) messages."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.RateBreach"

    kind: BreachKind
    level: BreachLevel
    provider: str | None
    window: Window
    count: int = Field(ge=0)
    volume: int = Field(ge=1)
    line: Decimal

    @property
    def rate(self) -> Fraction:
        return Fraction(self.count, self.volume)

    def describe(self) -> str:
        """E.g. `2 complaints of 1000 delivered (0.2%) > complaint strike line 0.1%`."""
        what = {"complaint": "complaints", "bounce": "hard bounces", "block": "blocks"}[self.kind]
        of = "delivered" if self.kind == "complaint" else "attempted"
        line = (self.line * 100).normalize()
        return (
            f"{self.count} {what} of {self.volume} {of} ({_percent(self.rate)}) > "
            f"{self.kind} {self.level} line {line:f}%"
        )


def snapshot_of(
    state: RateState | None, window: Window, policy: RatesPolicy, *, provider: str | None
) -> RateSnapshot:
    """Totals of `window` (whole buckets) in `state`."""
    if bucket_start(window.start, policy) != window.start or (
        bucket_start(window.end, policy) != window.end
    ):
        raise ValueError(f"window {window.id} does not fall on bucket boundaries")
    inside = [
        bucket
        for bucket in (state.buckets if state else ())
        if window.start <= bucket.start < window.end
    ]
    return _snapshot(
        provider,
        window,
        delivered=sum(bucket.delivered for bucket in inside),
        hard_bounced=sum(bucket.hard_bounced for bucket in inside),
        complained=sum(bucket.complained for bucket in inside),
        blocked=sum(bucket.blocked for bucket in inside),
        policy=policy,
    )


def rates_at(
    state: RateState | None, now: datetime, policy: RatesPolicy, *, provider: str | None
) -> RateSnapshot:
    """Totals of the rolling window at `now` (what `act_at_once` judges and status pages show)."""
    return snapshot_of(state, current_window(now, policy), policy, provider=provider)


def combine(snapshots: tuple[RateSnapshot, ...], policy: RatesPolicy) -> RateSnapshot:
    """The account-wide snapshot: the sum of one window's snapshots at each provider."""
    if not snapshots:
        raise ValueError("combine needs at least one snapshot")
    window = snapshots[0].window
    if any(snapshot.window != window for snapshot in snapshots):
        raise ValueError("combine sums snapshots of one window only")
    return _snapshot(
        None,
        window,
        delivered=sum(snapshot.delivered for snapshot in snapshots),
        hard_bounced=sum(snapshot.hard_bounced for snapshot in snapshots),
        complained=sum(snapshot.complained for snapshot in snapshots),
        blocked=sum(snapshot.blocked for snapshot in snapshots),
        policy=policy,
    )


def _snapshot(
    provider: str | None,
    window: Window,
    *,
    delivered: int,
    hard_bounced: int,
    complained: int,
    blocked: int,
    policy: RatesPolicy,
) -> RateSnapshot:
    attempted = delivered + hard_bounced + blocked
    return RateSnapshot(
        provider=provider,
        window=window,
        delivered=delivered,
        hard_bounced=hard_bounced,
        complained=complained,
        blocked=blocked,
        complaint_volume_enough=delivered >= policy.min_delivered_for_complaint_rate,
        bounce_volume_enough=attempted >= policy.min_attempted_for_bounce_rate,
        block_volume_enough=attempted >= policy.min_attempted_for_block_rate,
    )


def breaches(snapshot: RateSnapshot, policy: RatesPolicy) -> tuple[Breach, ...]:
    """Every line the snapshot's rates are strictly above, least severe first.

    A rate is judged only at its scope (complaints and blocks per provider, bounces per account, by
    default: a provider snapshot is never judged for bounces then) and only with enough volume.
    """
    scope: Scope = "account" if snapshot.provider is None else "provider"
    judged: tuple[tuple[BreachKind, int, int, bool], ...] = (
        (
            "complaint",
            snapshot.complained,
            snapshot.delivered,
            policy.complaint_scope == scope and snapshot.complaint_volume_enough,
        ),
        (
            "bounce",
            snapshot.hard_bounced,
            snapshot.attempted,
            policy.bounce_scope == scope and snapshot.bounce_volume_enough,
        ),
        (
            "block",
            snapshot.blocked,
            snapshot.attempted,
            policy.block_scope == scope and snapshot.block_volume_enough,
        ),
    )
    found: list[Breach] = []
    for kind, count, volume, judge in judged:
        if not judge or volume == 0:
            continue
        for level, line in _lines(kind, snapshot.provider, policy):
            if line is not None and Fraction(count, volume) > Fraction(line):
                found.append(
                    Breach(
                        kind=kind,
                        level=level,
                        provider=snapshot.provider,
                        window=snapshot.window,
                        count=count,
                        volume=volume,
                        line=line,
                    )
                )
    return tuple(found)


def _lines(
    kind: BreachKind, provider: str | None, policy: RatesPolicy
) -> tuple[tuple[BreachLevel, Decimal | None], ...]:
    if kind == "complaint":
        review, strike = policy.complaint_review_line, policy.complaint_line
    elif kind == "bounce":
        review, strike = policy.bounce_review_line, policy.bounce_line
    else:
        review, strike = policy.block_review_line, policy.block_line
    return (("review", review), ("strike", strike), ("pause", policy.pause_line(kind, provider)))


def _percent(rate: Fraction) -> str:
    """Display only (never compared): three significant digits."""
    return f"{float(rate * 100):.3g}%"


RECORDS: tuple[type[Record], ...] = (Breach,)
