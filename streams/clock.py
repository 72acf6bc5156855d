"""Injected time: every datetime in sendgate is aware UTC, and tests freeze and advance it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FrozenClock", "SystemClock", "to_epoch_ms", "utc"]


class Clock(Protocol):
    """Where processing time comes from."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        self._at = utc(at)

    def now(self) -> datetime:
        return self._at

    def advance(self, by: timedelta) -> None:
        self._at += by


def utc(moment: datetime) -> datetime:
    """Refuse naive datetimes rather than guess their zone."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: sendgate only handles aware UTC datetimes")
    return moment.astimezone(UTC)


def to_epoch_ms(moment: datetime) -> int:
    return int(utc(moment).timestamp() * 1000)
