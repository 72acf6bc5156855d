"""Complaint and bounce rates per sending account and mailbox provider, counted in event time.

Pure: the rate keeper calls `count_event` for each rate event it reads from `rate-events`, with
the table's value for the event's key, (account, provider) or (account, every provider), and
writes back the state it returns. With the policy's `act_at_once` it then asks `rates_at` and
`breaches`; otherwise a timer asks `due_windows` which closed windows to judge, and `snapshot_of`
and `breaches` for each. `streams.reputation.strikes` turns breaches into enforcement.

Time (all of it event time, except `now`, the gate's clock)
- Counts live in buckets of `bucket_hours` aligned to the Unix epoch, so daily buckets start at
  midnight UTC. A window is a whole number of buckets and its totals are their sum.
- The window at `now` (`current_window`) is the `window_days` of buckets ending with the bucket
  that holds `now`, so it reaches back between 6 and 7 days by default. `act_at_once` judges it
  after every counted event.
- Closed windows: each bucket boundary `e` closes the window [e - window, e). It is judged once
  its lateness has passed (now >= e + lateness), when every late event it can hold is in: rolling
  daily evaluation, not calendar weeks, so a bad week is caught whatever weekday it starts on.
  Consecutive windows overlap; `streams.reputation.strikes` strikes overlapping breaches once.
- Lateness: an event counts while a window that holds it can still be judged, i.e. while its
  bucket starts at or after the horizon, `end of the current bucket - window - lateness`. So
  "older than now - window - lateness is too late", measured in whole buckets. Events dated more
  than `event_time_tolerance_s` ahead of the clock are not counted either (`from_future`).

Replays: an (account, provider) can count millions of events a week, so its state cannot hold
their ids; it holds counts and one offset. Ids are checked upstream, per recipient, by
`streams.reputation.rate_inputs`, where the list is short (a person receives a few mails a day), and
each
event it admits is handed on once as a rate event. The key of a rate event is its state's key, so
every event of one state comes from one partition of `rate-events`, in offset order. What can
still arrive twice is that topic read again: redelivery after a crash (the table was written, the
offset not yet committed), or an analyst replaying it. The state keeps `last_offset`, the offset of
the last event it decided, in the same table value as the counts, so the two cannot disagree; an
event at or below it is `replayed`. A too late or future event moves `last_offset` too, though it
counts nothing: each offset is decided once, so a replay cannot count an event that the clock of
its first reading refused. This rests on offsets only growing per key: if `rate-events` is
recreated, or its partition count changes (keys move to other partitions), the rates table must be
reset with it, or new events would be taken for replays until their offsets pass the old ones.

The residual: `streams.reputation.rate_inputs` runs at least once, like every agent
(`streams.gate.app`). If it
crashes after sending a rate event but before its table records the id, it reads the source event
again, admits it again and sends it again at a new offset, and it is counted twice. That takes a
crash in the moment between the two writes, and costs one count per event in flight then; keeping
every id here to catch it would cost a state that grows with the volume.

The horizon is kept in the state and only moves forward, so a worker whose clock lags cannot
reopen a bucket that was pruned. Bucket counts stay `evaluation_grace_days` after the horizon has
passed them, so windows a stopped worker did not judge in time can still be judged whole.

Rates and lines: complaint rate = complaints / delivered; bounce rate = hard bounces / (delivered +
hard bounces). A rate passes a line when it is strictly above it, compared exactly as fractions:
1 complaint in 1,000 delivered is 0.1%, on the 0.1% line and not past it; 2 in 1,000 are. Below
its minimum volume a rate triggers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streams.core.clock import utc
from streams.core.records import Record, UtcMillis

__all__ = [
    "MAX_WINDOW_DAYS",
    "RATES_PRESETS",
    "RECORDS",
    "Breach",
    "BreachKind",
    "BreachLevel",
    "CountOutcome",
    "DueWindows",
    "EventKind",
    "RateBucket",
    "RateFold",
    "RateSnapshot",
    "RateState",
    "RatesPolicy",
    "Scope",
    "Window",
    "breaches",
    "bucket_start",
    "combine",
    "count_event",
    "current_window",
    "due_windows",
    "horizon",
    "prune",
    "rates_at",
    "snapshot_of",
]

EventKind = Literal["delivered", "hard_bounce", "complaint"]
CountOutcome = Literal["counted", "replayed", "too_late", "from_future"]
BreachKind = Literal["complaint", "bounce"]
BreachLevel = Literal["review", "strike", "pause"]
Scope = Literal["provider", "account"]

MAX_WINDOW_DAYS = 31
"""Longest window a policy may ask for; `streams.reputation.strikes` relies on it when it forgets
old
breaches."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COUNTERS: dict[EventKind, str] = {
    "delivered": "delivered",
    "hard_bounce": "hard_bounced",
    "complaint": "complained",
}
_Line = Field(default=None, gt=0, le=1)
Rate = Annotated[Decimal, Field(gt=0, le=1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RatesPolicy(_Frozen):
    """How rates are counted and which lines they must stay under. Defaults and their sources:

    - `window_days` 7: the platform's complaint line is "per provider per week"; `bucket_hours`
      24: a week is a sum of days, the unit mailbox providers' dashboards report in (Gmail
      Postmaster Tools shows a daily spam rate).
    - `allowed_lateness_hours` 48 (a choice, not a published number): feedback-loop reports and
      asynchronous bounces are usually sent soon after the message; two days leave room for a
      reporting pipeline stalled over a weekend, at the price of judging a week two days late.
    - `complaint_line` 0.1% per provider: the industry line (fewer than 1 complaint per 1,000
      messages); `bounce_line` 7% per account: the platform's own line. Crossing either
      is a strike (`streams.reputation.strikes`). None: no strike line for that rate.
    - `*_review_line`, `*_pause_line`: optional further levels (none by default); a review only
      flags the account, a pause stops its mail to the provider (or, at account scope, to every
      provider). `provider_*_pause_lines` set a provider's own pause level.
    - `min_delivered_for_complaint_rate` 1,000: below it one complaint is already above 0.1%, so
      the line would strike on a single person's click; at 1,000 it takes two (2 / 1,000 = 0.2%).
      Platforms guard against small samples in their own ways: Amazon SES computes rates over a
      "representative volume" rather than a fixed period (its post "Announcing the Reputation
      Dashboard" shows 1 bounce in 5 emails making a weekly rate meaningless), and Gmail's
      bulk-sender rules start at about 5,000 messages a day. The price of 1,000: a sender whose
      true rate is 0.02% still gets 2 complaints in about 2% of weeks of exactly 1,000 messages
      (binomial); larger volumes make that chance fall fast. A platform can raise the minimum.
    - `min_attempted_for_bounce_rate` 200: the bounce line is 70 times higher, so chance matters
      less: at 200 it takes 15 hard bounces to pass 7%, which a sender whose true rate is 2% gets
      in about 1 week of 67,000 (binomial), and a bad import of a few hundred addresses is still
      caught.
    - `act_at_once` False: act when a window closes (after its lateness), so a week is judged
      whole; True acts on the event that carries the rate over the line.
    - `complaint_scope` provider, `bounce_scope` account: where each rate is measured
      (providers judge complaints per sender at their own mailboxes; bounces say more about the
      account's list than about one provider).
    - `evaluation_grace_days` 7: how long a bucket's counts are kept after the horizon has passed
      it (events can no longer be counted into it), so that closed windows a stopped worker did
      not judge in time can still be judged whole (see the module doc and `due_windows`).
    - `event_time_tolerance_s` 300: clock skew accepted on event times, as for consent events.
    """

    window_days: int = Field(default=7, ge=1, le=MAX_WINDOW_DAYS, strict=True)
    bucket_hours: int = Field(default=24, ge=1, le=24, strict=True)
    allowed_lateness_hours: int = Field(default=48, ge=0, le=14 * 24, strict=True)
    evaluation_grace_days: int = Field(default=7, ge=0, le=MAX_WINDOW_DAYS, strict=True)
    event_time_tolerance_s: int = Field(default=300, ge=0, le=86_400, strict=True)
    act_at_once: bool = Field(default=False, strict=True)
    complaint_scope: Scope = "provider"
    bounce_scope: Scope = "account"
    complaint_line: Decimal | None = Field(default=Decimal("0.001"), gt=0, le=1)
    complaint_review_line: Decimal | None = _Line
    complaint_pause_line: Decimal | None = _Line
    provider_complaint_pause_lines: dict[str, Rate] = Field(default_factory=dict)
    bounce_line: Decimal | None = Field(default=Decimal("0.07"), gt=0, le=1)
    bounce_review_line: Decimal | None = _Line
    bounce_pause_line: Decimal | None = _Line
    provider_bounce_pause_lines: dict[str, Rate] = Field(default_factory=dict)
    min_delivered_for_complaint_rate: int = Field(default=1000, ge=1, strict=True)
    min_attempted_for_bounce_rate: int = Field(default=200, ge=1, strict=True)

    @field_validator("bucket_hours")
    @classmethod
    def _bucket_divides_a_day(cls, hours: int) -> int:
        if 24 % hours:
            raise ValueError("bucket_hours must divide 24, so buckets align with UTC days")
        return hours

    @field_validator("provider_complaint_pause_lines", "provider_bounce_pause_lines")
    @classmethod
    def _providers_named(cls, lines: dict[str, Decimal]) -> dict[str, Decimal]:
        if any(not name.strip() for name in lines):
            raise ValueError("provider pause lines are keyed by provider names, not blanks")
        return lines

    @model_validator(mode="after")
    def _lateness_in_whole_buckets(self) -> RatesPolicy:
        if self.allowed_lateness_hours % self.bucket_hours:
            raise ValueError("allowed_lateness_hours must be a whole number of buckets")
        return self

    @property
    def bucket(self) -> timedelta:
        return timedelta(hours=self.bucket_hours)

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    @property
    def lateness(self) -> timedelta:
        return timedelta(hours=self.allowed_lateness_hours)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> RatesPolicy:
        """A named preset (`RATES_PRESETS`), with `overrides` on top."""
        try:
            base = RATES_PRESETS[name]
        except KeyError:
            raise ValueError(f"unknown preset {name!r}; one of {sorted(RATES_PRESETS)}") from None
        return cls.model_validate({**base, **overrides})

    def pause_line(self, kind: BreachKind, provider: str | None) -> Decimal | None:
        """The pause level of `kind` at `provider` (its own if it has one)."""
        if kind == "complaint":
            own, default = self.provider_complaint_pause_lines, self.complaint_pause_line
        else:
            own, default = self.provider_bounce_pause_lines, self.bounce_pause_line
        return own.get(provider, default) if provider is not None else default


RATES_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "ses-pauses": {
        "complaint_review_line": "0.001",
        "complaint_pause_line": "0.005",
        "bounce_review_line": "0.05",
        "bounce_pause_line": "0.10",
    },
    "amazon-ses": {
        "complaint_scope": "account",
        "complaint_line": None,
        "complaint_review_line": "0.001",
        "complaint_pause_line": "0.005",
        "bounce_line": None,
        "bounce_review_line": "0.05",
        "bounce_pause_line": "0.10",
    },
}
"""Named rate policies.

- `default`: the platform's lines, strikes only.
- `ses-pauses`: the default strikes plus the review and pause levels Amazon SES publishes (Amazon
  SES Developer Guide, "Reputation metrics messages": complaints under review at 0.1% and sending
  paused at 0.5%; bounces under review at 5% and paused at 10%), complaints judged per provider.
- `amazon-ses`: SES's behaviour alone: both rates per account, review and pause, no strikes.

SES states its levels as "or greater"; here a level is passed only when strictly above it, so on
the exact level (50 of 1,000 bounced = 5%) SES reviews and this preset does not yet.
"""


class Window(Record):
    """A half-open event-time interval [start, end) of whole buckets."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.RateWindow"

    start: UtcMillis
    end: UtcMillis

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("a window ends after it starts")
        return self

    @property
    def id(self) -> str:
        """ISO 8601 interval, e.g. `2026-01-05T00:00Z/2026-01-12T00:00Z`."""
        return f"{self.start:%Y-%m-%dT%H:%MZ}/{self.end:%Y-%m-%dT%H:%MZ}"

    def overlaps(self, other: Window) -> bool:
        return self.start < other.end and other.start < self.end


class RateBucket(Record):
    """Counts of one bucket."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.RateBucket"

    start: UtcMillis
    delivered: int = Field(default=0, ge=0)
    hard_bounced: int = Field(default=0, ge=0)
    complained: int = Field(default=0, ge=0)


class RateState(Record):
    """One (account, provider)'s buckets, oldest first; the horizon events must not be older than
    (None until the first event); the offset of the last rate event counted (replays are at or
    below it); the end of the last closed window judged."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.RateState"

    buckets: tuple[RateBucket, ...] = ()
    horizon: UtcMillis | None = None
    last_offset: int | None = Field(default=None, ge=0)
    last_evaluated_end: UtcMillis | None = None

    @field_validator("buckets")
    @classmethod
    def _ordered_and_unique(cls, buckets: tuple[RateBucket, ...]) -> tuple[RateBucket, ...]:
        starts = [bucket.start for bucket in buckets]
        if starts != sorted(set(starts)):
            raise ValueError("buckets must be ordered by start, one per start")
        return buckets


class RateFold(NamedTuple):
    state: RateState
    outcome: CountOutcome


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

    @property
    def attempted(self) -> int:
        return self.delivered + self.hard_bounced

    @property
    def complaint_rate(self) -> Fraction | None:
        return Fraction(self.complained, self.delivered) if self.delivered else None

    @property
    def bounce_rate(self) -> Fraction | None:
        return Fraction(self.hard_bounced, self.attempted) if self.attempted else None


class Breach(Record):
    """A rate strictly above one of its lines in one window: `count` complaints (or hard bounces)
    of `volume` delivered (or attempted) messages."""

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
        what = "complaints" if self.kind == "complaint" else "hard bounces"
        of = "delivered" if self.kind == "complaint" else "attempted"
        line = (self.line * 100).normalize()
        return (
            f"{self.count} {what} of {self.volume} {of} ({_percent(self.rate)}) > "
            f"{self.kind} {self.level} line {line:f}%"
        )


@dataclass(frozen=True, slots=True)
class DueWindows:
    """Closed windows to judge now, oldest first; `through` is the end of the last one that is
    due (store it as the next call's `last_evaluated_end`); `skipped` counts windows that closed
    too long ago to be judged whole."""

    due: tuple[Window, ...]
    through: datetime
    skipped: int


def bucket_start(moment: datetime, policy: RatesPolicy) -> datetime:
    """Start of the bucket that holds `moment`."""
    since_epoch = utc(moment) - _EPOCH
    return _EPOCH + since_epoch // policy.bucket * policy.bucket


def current_window(now: datetime, policy: RatesPolicy) -> Window:
    """The rolling window at `now`: `window_days` of buckets ending with the bucket of `now`."""
    end = bucket_start(now, policy) + policy.bucket
    return Window(start=end - policy.window, end=end)


def horizon(state: RateState | None, now: datetime, policy: RatesPolicy) -> datetime:
    """Events older than this are no longer counted: the end of the current bucket minus window
    and lateness, or the state's own horizon if a clock ahead of `now` already moved it further."""
    at_now = bucket_start(now, policy) + policy.bucket - policy.window - policy.lateness
    if state is not None and state.horizon is not None and state.horizon > at_now:
        return state.horizon
    return at_now


def count_event(
    state: RateState | None,
    *,
    offset: int,
    kind: EventKind,
    occurred_at: datetime,
    now: datetime,
    policy: RatesPolicy,
) -> RateFold:
    """The state after the rate event at `offset` on `rate-events` (a delivery, hard bounce or
    complaint), and whether it was counted.

    An offset at or below the state's `last_offset` is `replayed`: the state comes back as given.
    Any other offset becomes `last_offset`. A counted event also adds to its bucket and prunes
    the state; a too late or future event changes nothing else (it is decided, not counted).
    `last_evaluated_end` is carried over untouched.
    """
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, not {offset}")
    state = state or RateState()
    occurred_at, now = utc(occurred_at), utc(now)
    if state.last_offset is not None and offset <= state.last_offset:
        return RateFold(state, "replayed")
    if occurred_at > now + timedelta(seconds=policy.event_time_tolerance_s):
        return RateFold(_decided(state, offset), "from_future")
    edge = horizon(state, now, policy)
    if occurred_at < edge:
        return RateFold(_decided(state, offset), "too_late")
    start = bucket_start(occurred_at, policy)
    counter = _COUNTERS[kind]
    buckets = {bucket.start: bucket for bucket in state.buckets}
    bucket = buckets.get(start) or RateBucket(start=start)
    buckets[start] = bucket.model_copy(update={counter: getattr(bucket, counter) + 1})
    ordered = tuple(buckets[key] for key in sorted(buckets))
    return RateFold(_pruned(state, ordered, edge, policy, last_offset=offset), "counted")


def prune(state: RateState, now: datetime, policy: RatesPolicy) -> RateState:
    """Move the horizon to `now` and forget buckets too old for any window still to be judged.
    For a timer (`count_event` prunes as it counts); the state itself when nothing changes."""
    edge = horizon(state, utc(now), policy)
    pruned = _pruned(state, state.buckets, edge, policy, last_offset=state.last_offset)
    return state if pruned == state else pruned


def _decided(state: RateState, offset: int) -> RateState:
    return RateState(
        buckets=state.buckets,
        horizon=state.horizon,
        last_offset=offset,
        last_evaluated_end=state.last_evaluated_end,
    )


def _pruned(
    state: RateState,
    buckets: tuple[RateBucket, ...],
    edge: datetime,
    policy: RatesPolicy,
    *,
    last_offset: int | None,
) -> RateState:
    keep_counts_from = edge - policy.bucket - timedelta(days=policy.evaluation_grace_days)
    return RateState(
        buckets=tuple(bucket for bucket in buckets if bucket.start >= keep_counts_from),
        horizon=edge,
        last_offset=last_offset,
        last_evaluated_end=state.last_evaluated_end,
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
    delivered = sum(bucket.delivered for bucket in inside)
    hard_bounced = sum(bucket.hard_bounced for bucket in inside)
    return _snapshot(
        provider,
        window,
        delivered=delivered,
        hard_bounced=hard_bounced,
        complained=sum(bucket.complained for bucket in inside),
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
        policy=policy,
    )


def _snapshot(
    provider: str | None,
    window: Window,
    *,
    delivered: int,
    hard_bounced: int,
    complained: int,
    policy: RatesPolicy,
) -> RateSnapshot:
    return RateSnapshot(
        provider=provider,
        window=window,
        delivered=delivered,
        hard_bounced=hard_bounced,
        complained=complained,
        complaint_volume_enough=delivered >= policy.min_delivered_for_complaint_rate,
        bounce_volume_enough=delivered + hard_bounced >= policy.min_attempted_for_bounce_rate,
    )


def breaches(snapshot: RateSnapshot, policy: RatesPolicy) -> tuple[Breach, ...]:
    """Every line the snapshot's rates are strictly above, least severe first.

    A rate is judged only at its scope (complaints per provider and bounces per account, by
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
    else:
        review, strike = policy.bounce_review_line, policy.bounce_line
    return (("review", review), ("strike", strike), ("pause", policy.pause_line(kind, provider)))


def due_windows(
    state: RateState | None,
    *,
    last_evaluated_end: datetime | None,
    now: datetime,
    policy: RatesPolicy,
) -> DueWindows:
    """The closed windows to judge at `now` (policy without `act_at_once`).

    The window ending at bucket boundary e is due once e + lateness has passed, and can be judged
    whole while its first bucket's counts are kept (`evaluation_grace_days` after that). Windows
    after `last_evaluated_end` (None: nothing judged yet) are returned, except those that hold no
    event at all. Judging a window twice is harmless: its breaches carry the same ids.
    """
    now = utc(now)
    latest = bucket_start(now, policy) - policy.lateness
    edge = horizon(state, now, policy)
    earliest = edge - policy.bucket - timedelta(days=policy.evaluation_grace_days) + policy.window
    if last_evaluated_end is None:
        first = earliest
    else:
        last_evaluated_end = utc(last_evaluated_end)
        if bucket_start(last_evaluated_end, policy) != last_evaluated_end:
            raise ValueError("last_evaluated_end must fall on a bucket boundary")
        first = last_evaluated_end + policy.bucket
    skipped = max(0, (earliest - first) // policy.bucket)
    first = max(first, earliest)
    starts = [bucket.start for bucket in (state.buckets if state else ())]
    due: list[Window] = []
    end = first
    while end <= latest:
        window = Window(start=end - policy.window, end=end)
        if any(window.start <= start < window.end for start in starts):
            due.append(window)
        end += policy.bucket
    through = max(latest, last_evaluated_end) if last_evaluated_end is not None else latest
    return DueWindows(due=tuple(due), through=through, skipped=skipped)


def _percent(rate: Fraction) -> str:
    """Display only (never compared): three significant digits."""
    return f"{float(rate * 100):.3g}%"


RECORDS: tuple[type[Record], ...] = (Window, RateBucket, RateState, Breach)
