"""When soft bounces make an address count as hard-bounced: the policy file's `soft_bounce`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SOFT_BOUNCE_PRESETS", "SoftBouncePolicy"]


class SoftBouncePolicy(BaseModel):
    """When soft bounces make an address count as hard-bounced (then suppressed platform-wide).

    - `consecutive` (default, threshold 4): N soft bounces in a row; a delivery resets the count.
    - `spread` (threshold 3, min_span_days 15): N soft bounces since the last delivery, the first
      and the last at least `min_span_days` apart (a mailbox full for two weeks is abandoned).
    - `ratio` (threshold 3, window 5): N of the last `window` sends soft-bounced.
    - `count` (threshold N): N soft bounces ever, deliveries in between or not.
    An undetermined bounce counts as a soft one; a deferral counts as nothing (the MTA retries and
    reports the final outcome).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: Literal["consecutive", "spread", "ratio", "count"] = "consecutive"
    threshold: int = Field(default=4, ge=1, le=100, strict=True)
    min_span_days: int = Field(default=15, ge=0, le=365, strict=True)
    window: int = Field(default=5, ge=1, le=50, strict=True)

    @model_validator(mode="after")
    def _window_holds_threshold(self) -> SoftBouncePolicy:
        if self.rule == "ratio" and self.window < self.threshold:
            raise ValueError("ratio: window must be at least threshold")
        return self

    def describe(self) -> str:
        if self.rule == "spread":
            return f"spread({self.threshold}, {self.min_span_days}d)"
        if self.rule == "ratio":
            return f"ratio({self.threshold}/{self.window})"
        return f"{self.rule}({self.threshold})"


SOFT_BOUNCE_PRESETS: dict[str, SoftBouncePolicy] = {
    "consecutive-4": SoftBouncePolicy(rule="consecutive", threshold=4),
    "spread-3-over-15-days": SoftBouncePolicy(rule="spread", threshold=3, min_span_days=15),
    "3-of-last-5": SoftBouncePolicy(rule="ratio", threshold=3, window=5),
    "count-5": SoftBouncePolicy(rule="count", threshold=5),
}
"""Named soft-bounce rules; a policy file picks one with `soft_bounce = { preset = "..." }`."""
