"""Complaint and bounce rates per sending account and mailbox provider, counted in event time.

Pure: the rate keeper calls `count_event` for each rate event it reads from `rate-events`, with
the table's value for the event's key, (account, provider) or (account, every provider), and
writes back the state it returns. With the policy's `act_at_once` it then asks
`streams.reputation.breaches` for `rates_at` and their `breaches`; otherwise a timer asks
`due_windows` which closed windows to judge, and `snapshot_of` and `breaches` for each.
`streams.reputation.strikes` turns breaches into enforcement.

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

Replays: an (account, provider) can count millions of events a week, so its state cannot hold their
ids; it holds counts and one offset. Ids are checked upstream, per recipient, by
`streams.reputation.rate_inputs`, where the list is short (a person receives a few mails a day), and
each event it admits is handed on once as a rate event. The key of a rate event is its state's key,
so every event of one state comes from one partition of `rate-events`, in offset order. What can
still arrive twice is that topic read again: redelivery after a crash (the table was written, the
offset not yet committed), or an analyst replaying it. The state keeps `last_offset`, the offset of
the last event it decided, in the same table value as the counts, so the two cannot disagree; an
event at or below it is `replayed`. A too late or future event moves `last_offset` too, though it
counts nothing: each offset is decided once, so a replay cannot count an event that the clock of its
first reading refused. This rests on offsets only growing per key: if `rate-events` is recreated, or
its partition count changes (keys move to other partitions), the rates table must be reset with it,
or new events would be taken for replays until their offsets pass the old ones.

The residual: `streams.reputation.rate_inputs` runs at least once, like every agent
(`streams.gate.app`). If it crashes after sending a rate event but before its table records the id,
it reads the source event again, admits it again and sends it again at a new offset, and it is
counted twice. That takes a crash in the moment between the two writes, and costs one count per
event in flight then; keeping every id here to catch it would cost a state that grows with the
volume.

The horizon is kept in the state and only moves forward, so a worker whose clock lags cannot
reopen a bucket that was pruned. Bucket counts stay `evaluation_grace_days` after the horizon has
passed them, so windows a stopped worker did not judge in time can still be judged whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal, NamedTuple

from pydantic import Field, field_validator, model_validator

from streams.core.clock import utc
from streams.core.records import Record, UtcMillis
from streams.reputation.policy import RatesPolicy

__all__ = [
    "RECORDS",
    "CountOutcome",
    "DueWindows",
    "EventKind",
    "RateBucket",
    "RateFold",
    "RateState",
    "Window",
    "bucket_start",
    "count_event",
    "current_window",
    "due_windows",
    "horizon",
    "prune",
]

EventKind = Literal["delivered", "hard_bounce", "complaint", "block"]
CountOutcome = Literal["counted", "replayed", "too_late", "from_future"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COUNTERS: dict[EventKind, str] = {
    "delivered": "delivered",
    "hard_bounce": "hard_bounced",
    "complaint": "complained",
    "block": "blocked",
}


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
    blocked: int = Field(default=0, ge=0)
    """Bounces that refused the sender, not the address (`streams.core.bounce_reasons`)."""


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
    """The state after the rate event at `offset` on `rate-events` (a delivery, hard bounce,
    complaint or refusal of the sender), and whether it was counted.

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


RECORDS: tuple[type[Record], ...] = (Window, RateBucket, RateState)
