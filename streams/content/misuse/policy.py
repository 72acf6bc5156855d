"""The transactional-misuse detector's policy (`[misuse]`): each signal's weight and patterns.

The patterns are validated here, so a policy file with a broken one is refused at load time
rather than at the first send; the built-in lists are in `streams.content.misuse.patterns`, and a
policy file may override any part of them (see `MisusePolicy`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from streams.content.misuse.patterns import (
    CALL_TO_BUY,
    CROSS_SELL,
    DISCOUNT_CODE,
    FREE_OFFER,
    FUTURE_PURCHASE,
    MONEY_OFF,
    NEVER_PROMOTIONAL_LINKS,
    OPT_IN_INVITATION,
    PROMOTIONAL_LINK,
    PROMOTIONAL_SUBJECT,
    REENGAGEMENT,
    REFERRAL,
    TRANSACTIONAL_CONTEXT,
    URGENCY,
)
from streams.content.misuse.signals import SIGNAL_LABELS, SignalName

__all__ = ["MisusePolicy", "SignalPolicy", "flat"]


def _compiles(pattern: str) -> str:
    """A pattern that `re` cannot compile, alone or inside a group, is refused with the reason."""
    try:
        re.compile(f"(?:{pattern})")
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    return pattern


Pattern = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_compiles)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
PatternsByLanguage = dict[Language, tuple[Pattern, ...]]


def flat(patterns: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Every language's patterns, in a stable order (languages sorted)."""
    return tuple(p for language in sorted(patterns) for p in patterns[language])


class SignalPolicy(BaseModel):
    """One signal: its weight in points and its patterns, per language."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight: int = Field(ge=0, le=100, strict=True)
    patterns: PatternsByLanguage

    def all_patterns(self) -> tuple[str, ...]:
        return flat(self.patterns)


def _signal(weight: int, patterns: dict[str, tuple[str, ...]]) -> Any:
    return Field(default_factory=lambda: SignalPolicy(weight=weight, patterns=patterns))


def _by_language(patterns: dict[str, tuple[str, ...]]) -> Any:
    return Field(default_factory=lambda: dict(patterns))


class MisusePolicy(BaseModel):
    """How the transactional-misuse rule finds marketing. Defaults, with their reasons:

    Patterns are Python regular expressions (`re`) matched on the normalised, casefolded text
    (`streams.content.misuse.reading`); a plain phrase is a pattern too. Lists are given per
    language (en, de, fr, es built in: `streams.content.misuse.patterns`) and all apply to every
    message. In a policy file a signal may give only its `weight`, or only some languages: what
    it leaves out keeps the built-in value.

    Signals and weights (points; `threshold` 10: a score of 10 or more is misuse)
    - `discount_code` 10: "use code SAVE10", "promo code", "coupon", "Gutscheincode", "code
      promo", "código de descuento": a code for a purchase is an inducement to buy (CASL s.6(6)
      exempts only messages that solely do a transactional thing).
    - `money_off` 10: "20% off", "$5 off", "save 15%", "(regular $299)", "25 % Rabatt", "20 € de
      réduction", "50 % de descuento": a price offer.
    - `cross_sell` 10: "you might also like", "customers also bought", "bestsellers", "new
      arrivals", "recomendados para ti", "neu im Sortiment": selling other products.
    - `reengagement` 10: "we miss you", "come back and ...", "you left something in your cart",
      "wir vermissen Sie", "vous nous manquez", "tu carrito te espera": win-back and abandoned-cart
      mail, commercial by purpose (platforms such as Postmark refuse it on transactional
      streams). "We missed you" is left out: couriers say it of a missed delivery.
    - `referral` 10: "refer a friend", "bring a friend", "you both get", "parrainez",
      "Freunde werben": a bonus for bringing customers.
    - `opt_in_invitation` 10: "subscribe to our newsletter", "be the first to hear", "inscrivez-
      vous à notre newsletter": inviting the reader to opt in to marketing.
    - `free_offer` 7: "try Premium free", "first month free", "free e-book", "chance to win",
      "exclusive offer", "essai gratuit": an offer, but one a transactional message also names
      when it confirms what was bought ("your first month is free"), so it needs another signal.
    - `call_to_buy` 6: "Shop now", "buy now", "upgrade to Pro", "join Premium", "see plans",
      "Jetzt kaufen", "Découvrez", "Ver ofertas". Renewing or paying for what the customer
      already has ("Renew domain", "Pay invoice") is not one.
    - `promotional_link` 5: a link whose URL is a shop, sale, offer, pricing, product or sign-up
      page (`/shop`, `/sale`, `/offers`, `/pricing`, `/newsletter`, `shop.` hosts) or carries an
      offer parameter (`?promo=`, `?code=`, `?offer=`). Links to opt-out and preference pages
      and to app stores never count (`never_promotional_links`).
    - `promotional_subject` 5: a text signal, or one of this signal's own words ("sale",
      "deal", "save", "exclusive", "gift", "-30%", "🎁"), in the subject (16 CFR
      316.3(a)(2)(i)). "Free" and a bare "%" are left out: "Your free trial has started" and
      "Your storage is 90% full" are transactional subjects.
    - `urgency` 4: "limited time", "ends tonight", "only until", "while stocks last", "solo
      hasta": sales pressure, which a transactional deadline ("this link expires in 15
      minutes") does not match.

    Context
    - `transactional_context`: a segment that says a discount was applied, refunded or redeemed,
      shows a negative amount (an order line: "Promo code SPRING10: -$4.00"), offers an
      early-payment discount on an invoice (Skonto, escompte), speaks of the reader's own gift
      card, of signing in or of verification, or confirms an unsubscribe, is not searched for
      signals: it describes this transaction, not a new one.
    - `future_purchase`: "next order", "prochaine commande", ...: a segment pointing at a future
      purchase is searched even when it has transactional context ("we've refunded the
      difference; here is 10% off your next order").
    - `never_promotional_links`: URL patterns of links that never count as promotional.

    The default weights and threshold were set on the development half of a labelled set of 136
    messages (`tests/data/content/transactional_misuse.jsonl`); `benchmarks/misuse_accuracy.py`
    prints the precision and recall on both halves.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: int = Field(default=10, ge=1, le=1000, strict=True)
    discount_code: SignalPolicy = _signal(10, DISCOUNT_CODE)
    money_off: SignalPolicy = _signal(10, MONEY_OFF)
    cross_sell: SignalPolicy = _signal(10, CROSS_SELL)
    reengagement: SignalPolicy = _signal(10, REENGAGEMENT)
    referral: SignalPolicy = _signal(10, REFERRAL)
    opt_in_invitation: SignalPolicy = _signal(10, OPT_IN_INVITATION)
    free_offer: SignalPolicy = _signal(7, FREE_OFFER)
    call_to_buy: SignalPolicy = _signal(6, CALL_TO_BUY)
    promotional_link: SignalPolicy = _signal(5, PROMOTIONAL_LINK)
    promotional_subject: SignalPolicy = _signal(5, PROMOTIONAL_SUBJECT)
    urgency: SignalPolicy = _signal(4, URGENCY)
    transactional_context: PatternsByLanguage = _by_language(TRANSACTIONAL_CONTEXT)
    future_purchase: PatternsByLanguage = _by_language(FUTURE_PURCHASE)
    never_promotional_links: tuple[Pattern, ...] = NEVER_PROMOTIONAL_LINKS

    @model_validator(mode="before")
    @classmethod
    def _keep_built_in_parts(cls, data: Any) -> Any:
        """A signal or list given in part keeps the built-in value of what it leaves out."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name in SIGNAL_LABELS:
            given = merged.get(name)
            if isinstance(given, dict):
                built_in = cls.model_fields[name].get_default(call_default_factory=True)
                merged[name] = {
                    "weight": given.get("weight", built_in.weight),
                    "patterns": {**built_in.patterns, **given.get("patterns", {})},
                    **{k: v for k, v in given.items() if k not in ("weight", "patterns")},
                }
        for name in ("transactional_context", "future_purchase"):
            given = merged.get(name)
            if isinstance(given, dict):
                built_in = cls.model_fields[name].get_default(call_default_factory=True)
                merged[name] = {**built_in, **given}
        return merged

    def signal(self, name: SignalName) -> SignalPolicy:
        policy: SignalPolicy = getattr(self, name)
        return policy
