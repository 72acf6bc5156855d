"""Load and validate the policy file: the thresholds and lists the gate decides by.

The policy is TOML (comments let it explain itself). Every key has a documented default below, so
a policy file only states where it differs. The policy version that decisions carry is the file's
`name@version` plus a hash of its validated content, so two files that say the same thing under
the same version cannot be told apart, and a silent edit changes the version.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from streams.errors import PolicyError

__all__ = [
    "DEFAULT_POLICY_FILE",
    "SOFT_BOUNCE_PRESETS",
    "Policy",
    "SoftBouncePolicy",
    "load_policy",
]

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent / "policies" / "default.toml"


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


class Policy(BaseModel):
    """Validated policy; frozen so a running gate cannot drift from its version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, strict=True)
    version: str = Field(min_length=1, strict=True)
    role_local_parts: frozenset[str] = Field(
        default=frozenset({"abuse", "postmaster", "info", "sales", "support", "noreply"}),
        description="Local parts of role addresses; commercial mail to them is denied.",
    )
    transactional_honors_opt_outs_by_default: bool = Field(
        default=False,
        strict=True,
        description="Whether transactional sends honour list/account unsubscribes by default.",
    )
    soft_bounce: SoftBouncePolicy = Field(default_factory=SoftBouncePolicy)
    unsubscribe_reply_keywords: dict[str, tuple[str, ...]] | None = Field(
        default=None,
        description=(
            "Per language, the phrases that make a reply an unsubscribe request (a trailing * "
            "matches any ending). None: the parser's built-in list (en, de, fr, es, nl, it, pt)."
        ),
    )

    @field_validator("soft_bounce", mode="before")
    @classmethod
    def _soft_bounce_preset(cls, value: Any) -> Any:
        if isinstance(value, dict) and "preset" in value:
            extra = set(value) - {"preset"}
            if extra:
                raise ValueError(f"a preset takes no other keys (got {sorted(extra)})")
            try:
                return SOFT_BOUNCE_PRESETS[value["preset"]]
            except KeyError:
                raise ValueError(
                    f"unknown preset {value['preset']!r}; one of {sorted(SOFT_BOUNCE_PRESETS)}"
                ) from None
        return value

    @field_validator("role_local_parts")
    @classmethod
    def _lower_case(cls, parts: frozenset[str]) -> frozenset[str]:
        return frozenset(part.strip().lower() for part in parts)

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Policy:
        """A copy is validated anew, so it cannot carry its parent's cached version."""
        return type(self).model_validate({**self.model_dump(), **(update or {})})

    @cached_property
    def fingerprint(self) -> str:
        # Sets dump in hash order, which changes between processes: sort them first.
        fields = {
            key: sorted(value) if isinstance(value, frozenset) else value
            for key, value in self.model_dump().items()
        }
        content = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(content.encode()).hexdigest()[:12]

    @property
    def policy_version(self) -> str:
        return f"{self.name}@{self.version}+{self.fingerprint}"


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate a policy file; `PolicyError` says what is wrong and where."""
    path = path or DEFAULT_POLICY_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from None
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise PolicyError(f"policy file {path} is invalid: {problems}") from None
