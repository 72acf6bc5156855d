"""Injected time: every datetime in sendgate is aware UTC, and tests freeze and advance it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import monotonic
from typing import Protocol

__all__ = [
    "Clock",
    "FileClock",
    "FrozenClock",
    "SystemClock",
    "from_epoch_ms",
    "to_epoch_ms",
    "utc",
    "utc_text",
]


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


class FileClock:
    """A clock whose time is written in a file, so a test can advance a worker process's time.

    The file holds one ISO 8601 datetime with its offset. It is read again at most every
    `reread_s` seconds, so a busy gate does not stat it for every decision. A file that cannot be
    read or parsed keeps the last good time (and, before the first, raises: a worker told to run
    on a clock it cannot read must not silently fall back to the wall clock).
    """

    def __init__(self, path: Path, *, reread_s: float = 0.2) -> None:
        self._path = path
        self._reread_s = reread_s
        self._read_at = float("-inf")
        self._at: datetime | None = None

    def now(self) -> datetime:
        if monotonic() - self._read_at >= self._reread_s:
            self._read_at = monotonic()
            try:
                self._at = utc(datetime.fromisoformat(self._path.read_text().strip()))
            except (OSError, ValueError):
                if self._at is None:
                    raise
        assert self._at is not None
        return self._at

    @staticmethod
    def write(path: Path, at: datetime) -> None:
        """Set the time a `FileClock` on `path` reads (atomically: write, then rename)."""
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(utc(at).isoformat())
        temporary.replace(path)


def utc(moment: datetime) -> datetime:
    """Refuse naive datetimes rather than guess their zone."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: sendgate only handles aware UTC datetimes")
    return moment.astimezone(UTC)


def to_epoch_ms(moment: datetime) -> int:
    return int(utc(moment).timestamp() * 1000)


def from_epoch_ms(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def utc_text(moment: datetime) -> str:
    """An instant as ISO-8601 UTC with milliseconds and `Z` (`2025-05-14T12:00:00.000Z`): one
    spelling in tables and JSON alike, whatever zone the value came in."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
