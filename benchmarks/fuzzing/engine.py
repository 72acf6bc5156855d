"""Running fuzz cases: the outcome of one case, the tally of many, and what counts as a crash.

A crash is anything the product was not meant to do with hostile input: an exception type the
target does not expect, a rejection whose reason is not in the target's known set, or a case
that takes longer than `CASE_LIMIT_S`. A case that never returns would stop the run, so a
watchdog (SIGALRM, where the platform has it) interrupts it after `WATCHDOG_S` and it is counted
as a crash too; `CaseHang` derives from `BaseException` so that the product's own
`except Exception` safety nets cannot swallow it.
"""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CASE_LIMIT_S",
    "MAX_KEPT_CRASHES",
    "WATCHDOG_S",
    "CaseHang",
    "Outcome",
    "Tally",
    "Target",
    "accepted",
    "rejected",
    "run_case",
    "run_cases",
]

CASE_LIMIT_S = 1.0
WATCHDOG_S = 10.0
MAX_KEPT_CRASHES = 20


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the product did with one case: took it (`label` says as what) or refused it."""

    accepted: bool
    label: str


def accepted(label: str = "ok") -> Outcome:
    return Outcome(True, label)


def rejected(reason: str) -> Outcome:
    return Outcome(False, reason)


@dataclass(frozen=True)
class Target:
    """One input surface of the product, its case generator and its oracle.

    `check` returns the `Outcome` for a case and lets every exception the product was not meant
    to raise escape; `reasons` is every rejection reason the product can give for this surface.
    """

    name: str
    what: str
    reasons: frozenset[str]
    generate: Callable[[random.Random], Any]
    check: Callable[[Any], Outcome]
    describe: Callable[[Any], str] = repr


class CaseHang(BaseException):
    """A case ran past the watchdog."""


def _on_alarm(signum: int, frame: object) -> None:
    raise CaseHang(f"no answer within {WATCHDOG_S:.0f} s")


def _watchdog_available() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@dataclass
class Tally:
    """The figures of many cases of one target; tallies of chunks add up."""

    target: str
    cases: int = 0
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    crashes: int = 0
    slow: int = 0
    crash_samples: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def crash(self, what: str) -> None:
        self.crashes += 1
        if len(self.crash_samples) < MAX_KEPT_CRASHES:
            self.crash_samples.append(what)

    def add(self, other: Tally) -> None:
        self.cases += other.cases
        self.accepted.update(other.accepted)
        self.rejected.update(other.rejected)
        self.crashes += other.crashes
        self.slow += other.slow
        room = MAX_KEPT_CRASHES - len(self.crash_samples)
        self.crash_samples.extend(other.crash_samples[: max(0, room)])
        self.times.extend(other.times)

    @property
    def max_s(self) -> float:
        return max(self.times) if self.times else math.nan

    def percentile_s(self, q: float) -> float:
        """By nearest rank, like `harness.stats.percentile` (which this avoids importing so
        that the tests need nothing from the benchmark harness)."""
        if not self.times:
            return math.nan
        ordered = sorted(self.times)
        return ordered[max(1, min(len(ordered), math.ceil(q / 100 * len(ordered)))) - 1]

    def figures(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "accepted": sum(self.accepted.values()),
            "accepted_as": dict(sorted(self.accepted.items())),
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "crashes": self.crashes,
            "over_1s": self.slow,
            "max_ms": self.max_s * 1000,
            "p99_ms": self.percentile_s(99) * 1000,
        }


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def run_case(target: Target, case: Any, tally: Tally) -> Outcome | None:
    """Run one case into `tally`; the outcome, or None for a crash (recorded in the tally)."""
    guarded = _watchdog_available()
    tally.cases += 1
    started = time.perf_counter()
    try:
        if guarded:
            previous = signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, WATCHDOG_S)
        try:
            outcome = target.check(case)
        finally:
            if guarded:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
    except (Exception, CaseHang) as exc:
        tally.times.append(time.perf_counter() - started)
        tally.crash(f"{type(exc).__name__}: {_short(str(exc))} on {_short(target.describe(case))}")
        return None
    elapsed = time.perf_counter() - started
    tally.times.append(elapsed)
    if elapsed > CASE_LIMIT_S:
        tally.slow += 1
        tally.crash(f"took {elapsed:.2f} s on {_short(target.describe(case))}")
        return None
    if outcome.accepted:
        tally.accepted[outcome.label] += 1
    elif outcome.label and outcome.label in target.reasons:
        tally.rejected[outcome.label] += 1
    else:
        tally.crash(f"unknown reason {outcome.label!r} on {_short(target.describe(case))}")
        return None
    return outcome


def run_cases(target: Target, cases: Iterable[Any], tally: Tally | None = None) -> Tally:
    tally = tally or Tally(target.name)
    for case in cases:
        run_case(target, case, tally)
    return tally
