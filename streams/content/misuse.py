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

import hashlib
import re
import unicodedata
from collections import OrderedDict
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
from streams.core.records import MessageBody

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


def _segment(shown: str, in_subject: bool) -> _Segment:
    folded = shown.casefold()
    origin = None
    if len(folded) != len(shown):  # "ß" folds to "ss": remember where each folded char came from
        origin = tuple(i for i, char in enumerate(shown) for _ in char.casefold())
    return _Segment(shown, folded, origin, in_subject)


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_QUOTES)


def _shown_segments(text: str) -> list[str]:
    """A text's segments as shown: its lines, each cut into sentences, white space collapsed."""
    found = []
    for line in _normalise(text).splitlines():
        for sentence in _SENTENCE_END.split(line):
            shown = _WHITE_SPACE.sub(" ", sentence).strip()
            if shown:
                found.append(shown)
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


# --- Remembering ---
#
# The detector is pure, so what it found is remembered at two levels: whole messages (the rule
# and the misuse report ask about the same send; a campaign sends one text to many people) and
# segments (a personalised message differs from its template in a few lines; the others read
# as they did in every other copy). Both key on everything they read: the text, whether it is
# the subject, and the policy object.

ASSESSMENTS_REMEMBERED = 1024
"""Messages remembered (a few KB each: the key is a digest of the message, not its text)."""
SEGMENTS_REMEMBERED = 8192
"""Segments remembered, each at most `_SEGMENT_CHARS_REMEMBERED` characters long: some 20 MB at
most for Latin text."""
_SEGMENT_CHARS_REMEMBERED = 2000
"""Longer segments (a page of text with no sentence end) are read every time instead."""

_Links = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, eq=False)
class _Same:
    """A policy as part of a cache key: equal only to itself. A `MisusePolicy` is frozen but not
    hashable (its pattern lists are dicts), and hashing its content per call would cost more
    than a small message's reading; holding it keeps its id from being reused while the entry
    lives."""

    policy: MisusePolicy

    def __hash__(self) -> int:
        return id(self.policy)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.policy is self.policy


@dataclass(frozen=True, eq=False)
class _Detector:
    """A policy's lists compiled, once per policy object (`_detector`); `text_signals` in
    `_TEXT_SIGNALS` order. Compared by identity, so it can key the segment cache."""

    context: re.Pattern[str] | None
    future: re.Pattern[str] | None
    text_signals: tuple[re.Pattern[str] | None, ...]
    subject_words: re.Pattern[str] | None
    shop_links: re.Pattern[str] | None
    exempt: re.Pattern[str] | None


@lru_cache(maxsize=16)
def _detector(policy: _Same) -> _Detector:
    misuse = policy.policy
    return _Detector(
        context=_regex(_flat(misuse.transactional_context)),
        future=_regex(_flat(misuse.future_purchase)),
        text_signals=tuple(_regex(misuse.signal(name).all_patterns()) for name in _TEXT_SIGNALS),
        subject_words=_regex(misuse.promotional_subject.all_patterns()),
        shop_links=_regex(misuse.promotional_link.all_patterns()),
        exempt=_regex(tuple(misuse.never_promotional_links)),
    )


@dataclass(frozen=True, slots=True)
class _Findings:
    """What one segment shows: each text signal's snippets (in `_TEXT_SIGNALS` order), in match
    order, and the promotional subject words' (subject segments only). A segment with
    transactional context shows nothing."""

    text: tuple[tuple[str, ...], ...]
    subject_words: tuple[str, ...] = ()


_NOTHING = _Findings(text=((),) * len(_TEXT_SIGNALS))


def _find(shown: str, in_subject: bool, detector: _Detector) -> _Findings:
    """One segment's reading: what `_findings` remembers."""
    segment = _segment(shown, in_subject)
    folded = segment.folded
    if (
        detector.context is not None
        and detector.context.search(folded)
        and not (detector.future is not None and detector.future.search(folded))
    ):
        return _NOTHING
    text = tuple(
        ()
        if regex is None
        else tuple(
            segment.snippet(match.start(), match.end())
            for match in regex.finditer(folded)
            if match.end() != match.start()
        )
        for regex in detector.text_signals
    )
    words: tuple[str, ...] = ()
    if in_subject and detector.subject_words is not None:
        words = tuple(
            segment.snippet(match.start(), match.end())
            for match in detector.subject_words.finditer(folded)
        )
    return _Findings(text, words)


_find_remembered = lru_cache(maxsize=SEGMENTS_REMEMBERED)(_find)


def _findings(shown: str, in_subject: bool, detector: _Detector) -> _Findings:
    """`_find`, remembered for segments up to `_SEGMENT_CHARS_REMEMBERED` characters."""
    if len(shown) > _SEGMENT_CHARS_REMEMBERED:
        return _find(shown, in_subject, detector)
    return _find_remembered(shown, in_subject, detector)


def _digest(subject: str, text: str | None, links: _Links) -> bytes:
    """Everything `assess_misuse` reads of a message, as one digest: a key of fixed size however
    long the body, and each part length-prefixed so that no two messages share it."""
    digest = hashlib.blake2b(digest_size=32)
    parts = (subject, "" if text is None else text, *(part for link in links for part in link))
    digest.update(b"\x00" if text is None else b"\x01")
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.digest()


_ASSESSMENTS: OrderedDict[tuple[bytes, _Same], MisuseAssessment] = OrderedDict()


def assess_misuse(subject: str, body: MessageBody | None, policy: MisusePolicy) -> MisuseAssessment:
    """The marketing signals in a message's subject, body text and links, and their score.

    Remembered (the last `ASSESSMENTS_REMEMBERED` messages, by a digest of what is read and the
    policy object; see "Remembering" above), so asking twice about one send reads it once.
    """
    text = None if body is None else body.text
    links = () if body is None else tuple((link.url, link.text) for link in body.links)
    key = (_digest(subject, text, links), _Same(policy))
    found = _ASSESSMENTS.get(key)
    if found is not None:
        _ASSESSMENTS.move_to_end(key)
        return found
    found = _assess(subject, text, links, policy)
    _ASSESSMENTS[key] = found
    while len(_ASSESSMENTS) > ASSESSMENTS_REMEMBERED:
        _ASSESSMENTS.popitem(last=False)
    return found


def _assess(
    subject: str, text: str | None, links: _Links, policy: MisusePolicy
) -> MisuseAssessment:
    """One message's reading: what `assess_misuse` remembers. `text` None: no body."""
    detector = _detector(_Same(policy))
    segments = [(shown, True) for shown in _shown_segments(subject)]
    if text is not None:
        segments += [(shown, False) for shown in _shown_segments(text)]
        for _, link_text in links:
            segments += [(shown, False) for shown in _shown_segments(link_text)]
    found = [(in_subject, _findings(shown, in_subject, detector)) for shown, in_subject in segments]

    evidence: dict[SignalName, list[str]] = {name: [] for name in SIGNAL_LABELS}

    def note(name: SignalName, snippet: str) -> None:
        seen = {known.casefold() for known in evidence[name]}
        if snippet and snippet.casefold() not in seen and len(evidence[name]) < _MAX_EVIDENCE:
            evidence[name].append(snippet)

    # Signal by signal, segment by segment: the order evidence is kept in.
    for index, name in enumerate(_TEXT_SIGNALS):
        for in_subject, findings in found:
            for snippet in findings.text[index]:
                note(name, snippet)
                if in_subject:
                    note("promotional_subject", snippet)
    for _, findings in found:
        for snippet in findings.subject_words:
            note("promotional_subject", snippet)

    if detector.shop_links is not None and text is not None:
        for url, link_text in links:
            target = _link_target(url)
            if target is None or (detector.exempt is not None and detector.exempt.search(target)):
                continue
            match = detector.shop_links.search(target)
            if match is not None:
                shown = _WHITE_SPACE.sub(" ", _normalise(link_text)).strip()
                note("promotional_link", _evidence(shown or match.group(0)))

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
