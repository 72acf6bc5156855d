"""Read one message for marketing signals: a policy's lists compiled, each segment searched.

- Every language's patterns apply to every message: a message's language is not guessed (a
  French receipt may carry an English banner). The languages only group the lists.
- Transactional context: a segment that also says the discount was applied, refunded or redeemed
  ("Member discount applied: -$3.56", "we've refunded $12.00 for your WELCOME15 code"), names a
  sign-in or verification code, or confirms an unsubscribe (the full list: `MisusePolicy`), is
  about this transaction and no signal is looked for in it, unless it points at a future
  purchase ("on your next order").
- Links: a link's URL is matched against `promotional_link`; links to opt-out or preference pages
  and to app stores never count.
- The subject: every text signal's patterns, and `promotional_subject`'s own, are looked for in
  it; a match there adds `promotional_subject` (CAN-SPAM 16 CFR 316.3(a)(2)(i): a subject that
  makes a recipient expect an advertisement makes the message commercial).

A signal counts once however many times it matches; the score is the sum of the weights of the
signals found. Pure, so what it found can be remembered: a policy's compiled lists once per policy
object, and each segment's findings (a personalised message differs from its template in a few
lines; the others read as they did in every other copy), keyed on the text, whether it is the
subject, and the compiled policy. `streams.content.misuse.memory` remembers whole messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from streams.content.misuse.policy import MisusePolicy, flat
from streams.content.misuse.reading import (
    alternation,
    collapsed,
    evidence,
    link_target,
    normalise,
    segment,
    shown_segments,
)
from streams.content.misuse.signals import (
    SIGNAL_LABELS,
    TEXT_SIGNALS,
    MisuseAssessment,
    Signal,
    SignalName,
)

__all__ = [
    "SEGMENTS_REMEMBERED",
    "Links",
    "SamePolicy",
    "read_message",
]

SEGMENTS_REMEMBERED = 8192
"""Segments remembered, each at most `_SEGMENT_CHARS_REMEMBERED` characters long: some 20 MB at
most for Latin text."""
_SEGMENT_CHARS_REMEMBERED = 2000
"""Longer segments (a page of text with no sentence end) are read every time instead."""
_MAX_EVIDENCE = 3

Links = tuple[tuple[str, str], ...]
"""A message's links as read: (URL, link text) pairs."""


@dataclass(frozen=True, slots=True, eq=False)
class SamePolicy:
    """A policy as part of a cache key: equal only to itself. A `MisusePolicy` is frozen but not
    hashable (its pattern lists are dicts), and hashing its content per call would cost more
    than a small message's reading; holding it keeps its id from being reused while the entry
    lives."""

    policy: MisusePolicy

    def __hash__(self) -> int:
        return id(self.policy)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SamePolicy) and other.policy is self.policy


@dataclass(frozen=True, eq=False)
class _Detector:
    """A policy's lists compiled, once per policy object (`_detector`); `text_signals` in
    `TEXT_SIGNALS` order. Compared by identity, so it can key the segment cache."""

    context: re.Pattern[str] | None
    future: re.Pattern[str] | None
    text_signals: tuple[re.Pattern[str] | None, ...]
    subject_words: re.Pattern[str] | None
    shop_links: re.Pattern[str] | None
    exempt: re.Pattern[str] | None


@lru_cache(maxsize=16)
def _detector(policy: SamePolicy) -> _Detector:
    misuse = policy.policy
    return _Detector(
        context=alternation(flat(misuse.transactional_context)),
        future=alternation(flat(misuse.future_purchase)),
        text_signals=tuple(
            alternation(misuse.signal(name).all_patterns()) for name in TEXT_SIGNALS
        ),
        subject_words=alternation(misuse.promotional_subject.all_patterns()),
        shop_links=alternation(misuse.promotional_link.all_patterns()),
        exempt=alternation(tuple(misuse.never_promotional_links)),
    )


@dataclass(frozen=True, slots=True)
class _Findings:
    """What one segment shows: each text signal's snippets (in `TEXT_SIGNALS` order), in match
    order, and the promotional subject words' (subject segments only). A segment with
    transactional context shows nothing."""

    text: tuple[tuple[str, ...], ...]
    subject_words: tuple[str, ...] = ()


_NOTHING = _Findings(text=((),) * len(TEXT_SIGNALS))


def _find(shown: str, in_subject: bool, detector: _Detector) -> _Findings:
    """One segment's reading: what `_findings` remembers."""
    read = segment(shown, in_subject)
    folded = read.folded
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
            read.snippet(match.start(), match.end())
            for match in regex.finditer(folded)
            if match.end() != match.start()
        )
        for regex in detector.text_signals
    )
    words: tuple[str, ...] = ()
    if in_subject and detector.subject_words is not None:
        words = tuple(
            read.snippet(match.start(), match.end())
            for match in detector.subject_words.finditer(folded)
        )
    return _Findings(text, words)


_find_remembered = lru_cache(maxsize=SEGMENTS_REMEMBERED)(_find)


def _findings(shown: str, in_subject: bool, detector: _Detector) -> _Findings:
    """`_find`, remembered for segments up to `_SEGMENT_CHARS_REMEMBERED` characters."""
    if len(shown) > _SEGMENT_CHARS_REMEMBERED:
        return _find(shown, in_subject, detector)
    return _find_remembered(shown, in_subject, detector)


def read_message(
    subject: str, text: str | None, links: Links, policy: MisusePolicy
) -> MisuseAssessment:
    """One message's reading: what `assess_misuse` remembers. `text` None: no body."""
    detector = _detector(SamePolicy(policy))
    segments = [(shown, True) for shown in shown_segments(subject)]
    if text is not None:
        segments += [(shown, False) for shown in shown_segments(text)]
        for _, link_text in links:
            segments += [(shown, False) for shown in shown_segments(link_text)]
    found = [(in_subject, _findings(shown, in_subject, detector)) for shown, in_subject in segments]

    kept: dict[SignalName, list[str]] = {name: [] for name in SIGNAL_LABELS}

    def note(name: SignalName, snippet: str) -> None:
        seen = {known.casefold() for known in kept[name]}
        if snippet and snippet.casefold() not in seen and len(kept[name]) < _MAX_EVIDENCE:
            kept[name].append(snippet)

    # Signal by signal, segment by segment: the order evidence is kept in.
    for index, name in enumerate(TEXT_SIGNALS):
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
            target = link_target(url)
            if target is None or (detector.exempt is not None and detector.exempt.search(target)):
                continue
            match = detector.shop_links.search(target)
            if match is not None:
                note(
                    "promotional_link", evidence(collapsed(normalise(link_text)) or match.group(0))
                )

    signals = tuple(
        Signal(name=name, label=SIGNAL_LABELS[name], weight=weight, evidence=tuple(snippets))
        for name, snippets in kept.items()
        if snippets and (weight := policy.signal(name).weight) > 0
    )
    return MisuseAssessment(
        score=sum(signal.weight for signal in signals),
        threshold=policy.threshold,
        signals=signals,
    )
