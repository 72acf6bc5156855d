"""How long the notifier waits before it POSTs an event to a receiver again.

Exponential backoff with equal jitter: the n-th retry waits between half and all of
`min(max_s, base_s * 2 ** (n - 1))`. The jitter spreads the retries of many events (or of several
notifiers) that failed together, so a receiver coming back is not hit by all of them at once; the
half that is never jittered away keeps a receiver that answers 503 from being asked again at
once, which full jitter (anywhere from zero to the whole step) would sometimes do. A receiver's
`Retry-After` lengthens a wait, never shortens it, and never past `max_s`.

Pure: the random fraction is an argument, so a test can name every wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Jitter", "RetryPolicy", "backoff_s"]

Jitter = Literal["equal", "full"]


def backoff_s(
    retry: int, *, base_s: float, max_s: float, fraction: float, jitter: Jitter = "equal"
) -> float:
    """The wait before retry number `retry` (1: the first retry, after the first failure).

    `fraction` in [0, 1) picks the point within the jitter's range: equal jitter waits
    `step / 2 + fraction * step / 2`, full jitter `fraction * step`, where `step` is
    `min(max_s, base_s * 2 ** (retry - 1))`.
    """
    if retry < 1:
        raise ValueError(f"retry numbers start at 1, not {retry}")
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), not {fraction}")
    # 2 ** 1000 is still a float; past the cap the exponent no longer matters.
    step = min(max_s, base_s * 2.0 ** min(retry - 1, 1000))
    if jitter == "full":
        return fraction * step
    return step / 2 + fraction * step / 2


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently one event is offered to one receiver."""

    tries: int
    """POSTs in all, the first included; after the last failure the event is dead-lettered."""
    base_s: float
    max_s: float
    timeout_s: float
    """One POST, connecting included."""

    def __post_init__(self) -> None:
        if self.tries < 1 or self.base_s <= 0 or self.max_s <= 0 or self.timeout_s <= 0:
            raise ValueError(f"not a retry policy: {self}")

    def wait_s(self, retry: int, fraction: float, retry_after_s: float | None = None) -> float:
        """The wait before retry number `retry`: the backoff, or the receiver's `Retry-After`
        when that is longer, at most `max_s` either way."""
        wait = backoff_s(retry, base_s=self.base_s, max_s=self.max_s, fraction=fraction)
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, self.max_s))
        return wait

    def schedule_s(self, fractions: list[float]) -> list[float]:
        """Every wait of an event that fails each try (`tries - 1` of them), for the fractions
        drawn in order: what an operator reads to know when a dead letter comes."""
        if len(fractions) != self.tries - 1:
            raise ValueError(f"{self.tries} tries have {self.tries - 1} waits")
        return [self.wait_s(retry, fraction) for retry, fraction in enumerate(fractions, 1)]
