"""Find marketing in a message sent as transactional (CAN-SPAM 16 CFR 316.3, CASL s.6(6)).

A transactional stream bypasses unsubscribes (a receipt is owed whatever the recipient chose), so
a platform cannot let marketing ride on it. `assess_misuse` reads a message's subject, body text
and links and says which marketing signals it carries; the rule `transactional-misuse`
(`streams.rules.misuse`) denies a transactional send whose score reaches the policy's threshold.
Pure: text in, a frozen value out.

The detector is a table, not a model. Each signal is a list of patterns per language with a
weight in points (`MisusePolicy`, which documents each default; the built-in lists are in
`streams.content.misuse_patterns`); a signal counts once however many times it matches, the score
is the sum of the weights of the signals found, and the message is misuse when the score reaches
`threshold` (10). The strong signals (a discount code, a money-off offer, product
recommendations, a come-back message, a referral bonus, an invitation to sign up for marketing)
decide alone; the weak ones (a call to buy, a link to a shop page, sales urgency, a promotional
subject, a free offer) need another beside them.

How text is read
- Normalised once: Unicode NFKC (full-width and non-breaking characters become plain ones),
  typographic quotes become straight ones, then the text is cut into segments (a line, or a
  sentence within a line), each with its white space collapsed and case folded (`str.casefold`:
  German "ß" reads "ss", so patterns spell it that way). Link texts are segments too.
- Every language's patterns apply to every message: a message's language is not guessed (a
  French receipt may carry an English banner). The languages only group the lists.
- Transactional context: a segment that also says the discount was applied, refunded or redeemed
  ("Member discount applied: -$3.56", "we've refunded $12.00 for your WELCOME15 code"), names a
  sign-in or verification code, or confirms an unsubscribe (the full list: `MisusePolicy`), is
  about this transaction and no signal is looked for in it, unless it points at a future
  purchase ("on your next order").
- Links: a link's URL (host, path, query) is matched against `promotional_link`; links to
  opt-out or preference pages and to app stores never count.
- The subject: every text signal's patterns, and `promotional_subject`'s own, are looked for in
  it; a match there adds `promotional_subject` (CAN-SPAM 16 CFR 316.3(a)(2)(i): a subject that
  makes a recipient expect an advertisement makes the message commercial).

Evidence: each signal keeps up to three snippets of at most six words, cut from the message as
written (after NFKC); anything shaped like an email address in a snippet is replaced by
"[address]", so an explanation built from them never carries the recipient's address.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field, model_validator

from streams.content.misuse_patterns import (
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
from streams.records import MessageBody

__all__ = [
    "SIGNAL_LABELS",
    "MisuseAssessment",
    "MisusePolicy",
    "Signal",
    "SignalName",
    "SignalPolicy",
    "assess_misuse",
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

_TEXT_SIGNALS: tuple[SignalName, ...] = (
    "discount_code",
    "money_off",
    "cross_sell",
    "reengagement",
    "referral",
    "opt_in_invitation",
    "free_offer",
    "call_to_buy",
    "urgency",
)
"""The signals looked for in the subject, the body text and the link texts."""


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


def _flat(patterns: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Every language's patterns, in a stable order (languages sorted)."""
    return tuple(p for language in sorted(patterns) for p in patterns[language])


class SignalPolicy(BaseModel):
    """One signal: its weight in points and its patterns, per language."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight: int = Field(ge=0, le=100, strict=True)
    patterns: PatternsByLanguage

    def all_patterns(self) -> tuple[str, ...]:
        return _flat(self.patterns)


def _signal(weight: int, patterns: dict[str, tuple[str, ...]]) -> Any:
    return Field(default_factory=lambda: SignalPolicy(weight=weight, patterns=patterns))


def _by_language(patterns: dict[str, tuple[str, ...]]) -> Any:
    return Field(default_factory=lambda: dict(patterns))


class MisusePolicy(BaseModel):
    """How the transactional-misuse rule finds marketing. Defaults, with their reasons:

    Patterns are Python regular expressions (`re`) matched on the normalised, casefolded text
    (see the module docstring); a plain phrase is a pattern too. Lists are given per language
    (en, de, fr, es built in: `streams.content.misuse_patterns`) and all apply to every
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


# --- Matching ---

_MAX_EVIDENCE = 3
_MAX_EVIDENCE_WORDS = 6
_QUOTES = str.maketrans(
    dict.fromkeys("\u2018\u2019\u02bc", "'") | dict.fromkeys("\u201c\u201d\u201e", '"')
)
"""Typographic quotes (' ' and the modifier apostrophe; " " and the German low quote) as plain."""
_WHITE_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ADDRESS = re.compile(r"[^\s@]+@[^\s@]+")
_EDGE = re.compile(r"^[^\w$€£%]+|[^\w$€£%]+$")


@dataclass(frozen=True, slots=True)
class _Segment:
    """A line or sentence: `shown` as written (NFKC, white space collapsed), `folded` as
    matched; `origin[i]` is the index in `shown` of `folded[i]` (None: the same index)."""

    shown: str
    folded: str
    origin: tuple[int, ...] | None
    in_subject: bool

    def snippet(self, start: int, end: int) -> str:
        if self.origin is not None:
            start, end = self.origin[start], self.origin[end - 1] + 1
        return _evidence(self.shown[start:end])


def _evidence(text: str) -> str:
    text = _ADDRESS.sub("[address]", _EDGE.sub("", text))
    words = text.split(" ")
    if len(words) > _MAX_EVIDENCE_WORDS:
        return " ".join(words[:_MAX_EVIDENCE_WORDS]) + "…"
    return text


def _segment(text: str, in_subject: bool) -> _Segment | None:
    shown = _WHITE_SPACE.sub(" ", text).strip()
    if not shown:
        return None
    folded = shown.casefold()
    origin = None
    if len(folded) != len(shown):  # "ß" folds to "ss": remember where each folded char came from
        origin = tuple(i for i, char in enumerate(shown) for _ in char.casefold())
    return _Segment(shown, folded, origin, in_subject)


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_QUOTES)


def _segments(text: str, in_subject: bool) -> list[_Segment]:
    found = []
    for line in _normalise(text).splitlines():
        for sentence in _SENTENCE_END.split(line):
            segment = _segment(sentence, in_subject)
            if segment is not None:
                found.append(segment)
    return found


@lru_cache(maxsize=256)
def _regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled alternation per list, compiled once per distinct list."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns))


def _link_target(url: str) -> str | None:
    """A web link as matched: host, path and query, casefolded and percent-decoded."""
    try:
        parts = urlsplit(unicodedata.normalize("NFKC", url.strip()))
        host = parts.hostname
    except ValueError:  # "http://[::1": a malformed link is no shop page
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    target = host + unquote(parts.path)
    if parts.query:
        target += "?" + unquote(parts.query)
    return target.casefold()


def assess_misuse(subject: str, body: MessageBody | None, policy: MisusePolicy) -> MisuseAssessment:
    """The marketing signals in a message's subject, body text and links, and their score."""
    segments = _segments(subject, in_subject=True)
    if body is not None:
        segments += _segments(body.text, in_subject=False)
        for link in body.links:
            segments += _segments(link.text, in_subject=False)

    context = _regex(_flat(policy.transactional_context))
    future = _regex(_flat(policy.future_purchase))
    judged = [
        segment
        for segment in segments
        if context is None
        or not context.search(segment.folded)
        or (future is not None and future.search(segment.folded))
    ]

    evidence: dict[SignalName, list[str]] = {name: [] for name in SIGNAL_LABELS}

    def note(name: SignalName, snippet: str) -> None:
        seen = {known.casefold() for known in evidence[name]}
        if snippet and snippet.casefold() not in seen and len(evidence[name]) < _MAX_EVIDENCE:
            evidence[name].append(snippet)

    for name in _TEXT_SIGNALS:
        regex = _regex(policy.signal(name).all_patterns())
        if regex is None:
            continue
        for segment in judged:
            for match in regex.finditer(segment.folded):
                if match.end() == match.start():
                    continue
                snippet = segment.snippet(match.start(), match.end())
                note(name, snippet)
                if segment.in_subject:
                    note("promotional_subject", snippet)

    subject_words = _regex(policy.promotional_subject.all_patterns())
    if subject_words is not None:
        for segment in judged:
            if segment.in_subject:
                for match in subject_words.finditer(segment.folded):
                    note("promotional_subject", segment.snippet(match.start(), match.end()))

    shop_links = _regex(policy.promotional_link.all_patterns())
    exempt = _regex(tuple(policy.never_promotional_links))
    if shop_links is not None and body is not None:
        for link in body.links:
            target = _link_target(link.url)
            if target is None or (exempt is not None and exempt.search(target)):
                continue
            match = shop_links.search(target)
            if match is not None:
                text = _WHITE_SPACE.sub(" ", _normalise(link.text)).strip()
                note("promotional_link", _evidence(text or match.group(0)))

    signals = tuple(
        Signal(name=name, label=SIGNAL_LABELS[name], weight=weight, evidence=tuple(snippets))
        for name, snippets in evidence.items()
        if snippets and (weight := policy.signal(name).weight) > 0
    )
    return MisuseAssessment(
        score=sum(signal.weight for signal in signals),
        threshold=policy.threshold,
        signals=signals,
    )
