"""Which law judges a recipient, and which consent bases let an account mail them: the policy
file's `consent`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from streams.core.records import ConsentBasis, ConsentStatus

__all__ = ["CONSENT_PRESETS", "ConsentPolicy", "Regime"]

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
