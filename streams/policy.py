"""Load and validate the policy file: the thresholds and lists the gate decides by.

The policy is TOML (comments let it explain itself). Every key has a documented default below, so
a policy file only states where it differs. The policy version that decisions carry is the file's
`name@version` plus a hash of its validated content, so two files that say the same thing under
the same version cannot be told apart, and a silent edit changes the version.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from streams.bounces.policy import SOFT_BOUNCE_PRESETS, SoftBouncePolicy
from streams.consent.policy import CONSENT_PRESETS, ConsentPolicy, Regime
from streams.content.misuse import MisusePolicy
from streams.content.policy import ContentPolicy
from streams.core.policy_files import load_policy_file, preset_named
from streams.reputation.policy import EnforcementPolicy, RatesPolicy, StrikePolicy
from streams.sending.frequency import FrequencyPolicy
from streams.sending.policy import UnsubscribePolicy

__all__ = [
    "CONSENT_PRESETS",
    "DEFAULT_POLICY_FILE",
    "FLAGGABLE_RULES",
    "SOFT_BOUNCE_PRESETS",
    "ConsentPolicy",
    "EnforcementPolicy",
    "Policy",
    "Regime",
    "SoftBouncePolicy",
    "UnsubscribePolicy",
    "load_policy",
]

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent / "policies" / "default.toml"

FLAGGABLE_RULES: frozenset[str] = frozenset(
    {
        "ad-identification-missing",
        "body-facts-missing",
        "bulk-authentication-missing",
        "bulk-dmarc-missing",
        "bulk-from-not-aligned",
        "cadence-exceeded",
        "display-name-spoofed",
        "frequency-cap-exceeded",
        "from-address-invalid",
        "from-domain-not-verified",
        "from-free-mail-domain",
        "list-unsubscribe-not-signed",
        "permission-reminder-missing",
        "postal-address-missing",
        "reply-to-domain-not-verified",
        "review-incentive-for-positive-review",
        "sender-name-missing",
        "subject-fake-reply",
        "subject-looks-transactional",
        "transactional-misuse",
        "unsubscribe-mechanism-missing",
    }
)
"""The rules a policy may turn into flags (`content.flag_only_rules`): the content, misuse and
frequency rules, named here because a policy file is validated before any rule is loaded. The
rule table (`streams.rules`) refuses to load when its own list differs."""


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
    consent: ConsentPolicy = Field(default_factory=ConsentPolicy)
    rates: RatesPolicy = Field(default_factory=RatesPolicy)
    strikes: StrikePolicy = Field(default_factory=StrikePolicy)
    enforcement: EnforcementPolicy = Field(default_factory=EnforcementPolicy)
    unsubscribe: UnsubscribePolicy = Field(default_factory=UnsubscribePolicy)
    frequency: FrequencyPolicy = Field(default_factory=FrequencyPolicy)
    content: ContentPolicy = Field(default_factory=ContentPolicy)
    misuse: MisusePolicy = Field(default_factory=MisusePolicy)
    unsubscribe_reply_keywords: dict[str, tuple[str, ...]] | None = Field(
        default=None,
        description=(
            "Per language, the phrases that make a reply an unsubscribe request (a trailing * "
            "matches any ending). None: the parser's built-in list (en, de, fr, es, nl, it, pt)."
        ),
    )

    @field_validator("soft_bounce", "consent", "rates", mode="before")
    @classmethod
    def _named_preset(cls, value: Any, info: ValidationInfo) -> Any:
        """`{ preset = "..." }` picks one of the section's named presets. Keys beside it override
        the preset's, except in `soft_bounce`, whose presets are whole rules."""
        if not (isinstance(value, dict) and "preset" in value):
            return value
        name = value["preset"]
        rest = {key: item for key, item in value.items() if key != "preset"}
        if info.field_name == "rates":
            return RatesPolicy.preset(name, **rest)
        if info.field_name == "consent":
            return {**preset_named(CONSENT_PRESETS, name), **rest}
        if rest:
            raise ValueError(f"a preset takes no other keys (got {sorted(rest)})")
        return preset_named(SOFT_BOUNCE_PRESETS, name)

    @model_validator(mode="after")
    def _flags_name_flaggable_rules(self) -> Policy:
        unknown = sorted(self.content.flag_only_rules - FLAGGABLE_RULES)
        if unknown:
            raise ValueError(
                f"content.flag_only_rules names {', '.join(unknown)}: only content, misuse and "
                f"frequency rules can be flagged ({', '.join(sorted(FLAGGABLE_RULES))})"
            )
        return self

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
        content = json.dumps(self.model_dump(), sort_keys=True, default=_canonical)
        return hashlib.sha256(content.encode()).hexdigest()[:12]

    @property
    def policy_version(self) -> str:
        return f"{self.name}@{self.version}+{self.fingerprint}"


def _canonical(value: Any) -> Any:
    """JSON for what json cannot write: sets in a stable order, decimals as their text."""
    if isinstance(value, Decimal):
        return str(value)
    return sorted(value)


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate a policy file; `PolicyError` says what is wrong and where."""
    return load_policy_file(path or DEFAULT_POLICY_FILE, Policy, what="policy")
