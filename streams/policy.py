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
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from streams.content.misuse import MisusePolicy
from streams.content.policy import ContentPolicy
from streams.errors import PolicyError
from streams.frequency import FrequencyPolicy
from streams.rates import RatesPolicy
from streams.records import ConsentBasis, ConsentStatus
from streams.strikes import StrikePolicy

__all__ = [
    "CONSENT_PRESETS",
    "DEFAULT_POLICY_FILE",
    "SOFT_BOUNCE_PRESETS",
    "ConsentPolicy",
    "Policy",
    "Regime",
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


Regime = Literal["can_spam", "casl", "gdpr_pecr", "spam_act", "platform"]
"""The body of law a commercial message is judged by. `platform` is the baseline for countries no
regime is configured for: only the platform's own opt-in rule applies."""

_EEA_AND_UK = [
    "AT",
    "BE",
    "BG",
    "HR",
    "CY",
    "CZ",
    "DK",
    "EE",
    "FI",
    "FR",
    "DE",
    "GR",
    "HU",
    "IE",
    "IT",
    "LV",
    "LT",
    "LU",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SK",
    "SI",
    "ES",
    "SE",
    "IS",
    "LI",
    "NO",
    "GB",
]


class ConsentPolicy(BaseModel):
    """How consent is judged: which law applies where, which bases each law accepts, and when
    implied consent lapses.

    Defaults, with their sources:
    - `regimes`: CA -> CASL; the EU and EEA states and GB -> GDPR + PECR (and the ePrivacy
      rules of each state); AU -> Spam Act 2003; US -> CAN-SPAM. Other countries: `platform`.
    - `unknown_jurisdiction` (a request that names no country): "US", i.e. CAN-SPAM plus the
      platform's opt-in rule; the preset "strictest-when-unknown" applies every regime at once.
    - `commercial_bases`: CASL s.6(1)(a), s.10(9)-(10): express, implied by a purchase or contract,
      implied by an inquiry, conspicuous publication. GDPR Art. 6(1)(a) and PECR reg. 22(2)-(3):
      express, or the soft opt-in of an existing customer. Spam Act s.16 and Sch. 2: express, or
      inferred from a business relationship or conspicuous publication. CAN-SPAM requires no
      consent (only honouring opt-outs), so every basis serves.
    - CASL s.10(10): implied consent from a purchase or contract lasts 2 years, from an inquiry 6
      months, from the day of the event.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    regimes: dict[str, Regime] = Field(
        default_factory=lambda: {
            "CA": "casl",
            "AU": "spam_act",
            "US": "can_spam",
            **dict.fromkeys(_EEA_AND_UK, "gdpr_pecr"),
        }
    )
    unknown_jurisdiction: str = Field(default="US", pattern=r"^([A-Z]{2}|strictest)$")
    commercial_bases: dict[Regime, frozenset[ConsentBasis]] = Field(
        default_factory=lambda: {
            "casl": frozenset(
                {"express", "implied_purchase", "implied_inquiry", "conspicuous_publication"}
            ),
            "gdpr_pecr": frozenset({"express", "soft_opt_in"}),
            "spam_act": frozenset(
                {"express", "implied_purchase", "implied_inquiry", "conspicuous_publication"}
            ),
        }
    )
    casl_implied_purchase_months: int = Field(default=24, ge=1, le=120, strict=True)
    casl_implied_inquiry_months: int = Field(default=6, ge=1, le=120, strict=True)
    expiry_notice_days: int = Field(default=30, ge=0, le=365, strict=True)
    bulk_allowed_statuses: frozenset[ConsentStatus] = frozenset({"single_opt_in", "double_opt_in"})
    one_off_allowed_statuses: frozenset[ConsentStatus] = Field(
        default=frozenset({"single_opt_in", "double_opt_in", "unconfirmed", "transactional_only"}),
        description="Statuses that may receive a one-off commercial message to one person.",
    )
    event_time_tolerance_s: int = Field(default=300, ge=0, le=86_400, strict=True)
    """A consent event dated further in the future than this is refused (dead-lettered)."""

    @field_validator("regimes")
    @classmethod
    def _country_codes(cls, regimes: dict[str, Regime]) -> dict[str, Regime]:
        bad = sorted(code for code in regimes if len(code) != 2 or not code.isupper())
        if bad:
            raise ValueError(f"regimes are keyed by ISO 3166-1 alpha-2 codes, not {bad}")
        return regimes

    def regimes_for(self, jurisdiction: str | None) -> tuple[Regime, ...]:
        """The regimes a message to someone in `jurisdiction` (None: not known) is judged by."""
        if jurisdiction is None:
            jurisdiction = self.unknown_jurisdiction
        if jurisdiction == "strictest":
            return ("casl", "gdpr_pecr", "spam_act", "can_spam")
        return (self.regimes.get(jurisdiction, "platform"),)

    def accepts(self, regime: Regime, basis: str | None) -> bool:
        if regime in ("can_spam", "platform"):
            return True
        return basis is not None and basis in self.commercial_bases.get(regime, frozenset())


CONSENT_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "strictest-when-unknown": {"unknown_jurisdiction": "strictest"},
}
"""Named consent policies; a policy file picks one with `consent = { preset = "..." }`."""


class EnforcementPolicy(BaseModel):
    """What the rate keeper counts as volume, and the fine for complaints without consent.

    - `volume` "delivered": the rate's denominator is messages delivered (delivery events), the
      industry's reading ("complaints per 1,000 delivered"); "allowed_sends": allowed decisions
      count instead, for platforms whose mailers do not report deliveries.
    - `fine_per_complaint` 250 USD: one well-known platform charges up to $250 per complaint
      the customer cannot prove an opt-in for; 0 turns fines off. A complaint is fined
      when the recipient's consents show no grant, import or purchase for the account that was
      in force when the complaint arrived.
    - `misuse_suspend_after` 3 within `misuse_window_days` 30: transactional sends the gate
      denied as carrying marketing (the transactional-misuse rule) count against the account;
      at this many in the window its transactional sending is suspended until an operator
      reinstates it (0: never suspend, the misuse is still reported). Transactional streams
      bypass unsubscribes, so a platform cannot let marketing ride on them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    volume: Literal["delivered", "allowed_sends"] = "delivered"
    fine_per_complaint: Decimal = Field(default=Decimal("250"), ge=0, max_digits=12)
    fine_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    misuse_suspend_after: int = Field(default=3, ge=0, le=1000, strict=True)
    misuse_window_days: int = Field(default=30, ge=1, le=365, strict=True)


class UnsubscribePolicy(BaseModel):
    """The unsubscribe headers the gate hands the mailer with each allowed decision.

    - `token_valid_days` 365: how long a one-click link works. CAN-SPAM (15 U.S.C.
      §7704(a)(3)(A)(ii)) asks for at least 30 days after the message; people unsubscribe from
      months-old mail too, and an expired link still offers a way out (by confirmed address).
    - `headers_on_transactional` False: transactional mail owes no opt-out (CAN-SPAM covers
      commercial messages; CASL s.6(6)); a transactional send with promotional content is
      commercial and gets them.
    - `offer_platform_opt_out` True: the preference centre also offers "stop all mail sent
      through this platform" (a platform-scope suppression). Platforms whose customers must own
      their audiences turn it off; the list and account choices are always offered, as the
      laws require a way to leave the sender.
    - `cadence_choices` daily, weekly, monthly: where the person's consent names a cadence, the
      preference centre offers these instead of leaving; a choice becomes a `cadence_changed`
      consent event, and the frequency rule holds the sender to it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    token_valid_days: int = Field(default=365, ge=30, le=3650, strict=True)
    headers_on_transactional: bool = Field(default=False, strict=True)
    offer_platform_opt_out: bool = Field(default=True, strict=True)
    cadence_choices: tuple[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")], ...] = (
        "daily",
        "weekly",
        "monthly",
    )


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

    @field_validator("consent", mode="before")
    @classmethod
    def _consent_preset(cls, value: Any) -> Any:
        if isinstance(value, dict) and "preset" in value:
            rest = {key: item for key, item in value.items() if key != "preset"}
            try:
                return {**CONSENT_PRESETS[value["preset"]], **rest}
            except KeyError:
                raise ValueError(
                    f"unknown preset {value['preset']!r}; one of {sorted(CONSENT_PRESETS)}"
                ) from None
        return value

    @field_validator("rates", mode="before")
    @classmethod
    def _rates_preset(cls, value: Any) -> Any:
        if isinstance(value, dict) and "preset" in value:
            rest = {key: item for key, item in value.items() if key != "preset"}
            return RatesPolicy.preset(value["preset"], **rest)
        return value

    @model_validator(mode="after")
    def _flags_name_flaggable_rules(self) -> Policy:
        # Deferred: the rule table imports this module.
        from streams.rules import FLAGGABLE_RULES

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
