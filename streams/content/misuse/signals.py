"""What the transactional-misuse detector finds, and how it says so.

A signal is a kind of marketing (a discount code, a call to buy, ...); an assessment is the
signals one message carries, each with a few words of evidence, their score and the threshold it
is judged against. `describe` is the sentence the rule's explanation and the misuse report are
built from: what a support agent reads, so it names the signals as a person would.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, computed_field

__all__ = [
    "SIGNAL_LABELS",
    "TEXT_SIGNALS",
    "MisuseAssessment",
    "Signal",
    "SignalName",
]

SignalName = Literal[
    "discount_code",
    "money_off",
    "cross_sell",
    "reengagement",
    "referral",
    "opt_in_invitation",
    "free_offer",
    "call_to_buy",
    "promotional_link",
    "promotional_subject",
    "urgency",
]

SIGNAL_LABELS: dict[SignalName, str] = {
    "discount_code": "a discount code",
    "money_off": "a money-off offer",
    "cross_sell": "product recommendations",
    "reengagement": "a come-back (re-engagement) message",
    "referral": "a referral bonus",
    "opt_in_invitation": "an invitation to sign up for marketing",
    "free_offer": "a free or special offer",
    "call_to_buy": "a call to buy, upgrade or sign up",
    "promotional_link": "a link to a shop, offer or sign-up page",
    "promotional_subject": "a promotional subject line",
    "urgency": "sales urgency",
}
"""What each signal is called in an explanation a support agent reads."""

TEXT_SIGNALS: tuple[SignalName, ...] = tuple(
    name for name in get_args(SignalName) if name not in ("promotional_link", "promotional_subject")
)
"""The signals looked for in the subject, the body text and the link texts: all but the link
URLs' and the subject's own words."""


class Signal(BaseModel):
    """A signal found in a message: what it is, what it weighs, and the words that showed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: SignalName
    label: str
    weight: int
    evidence: tuple[str, ...]
    """Up to three snippets of at most six words each, as the message wrote them."""


class MisuseAssessment(BaseModel):
    """What `assess_misuse` found: the signals, their total score, and the verdict."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: int
    threshold: int
    signals: tuple[Signal, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def is_misuse(self) -> bool:
        return self.score >= self.threshold

    def describe(self, limit: int = 4) -> str:
        """The signals for a person: 'a discount code ("SAVE10"), a call to buy ("Shop now")'."""
        ordered = sorted(self.signals, key=lambda s: -s.weight)
        parts = [
            f'{s.label} ("{s.evidence[0]}")' if s.evidence else s.label for s in ordered[:limit]
        ]
        if len(ordered) > limit:
            parts.append(f"{len(ordered) - limit} more")
        return ", ".join(parts)
