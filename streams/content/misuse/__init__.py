"""Find marketing in a message sent as transactional (CAN-SPAM 16 CFR 316.3, CASL s.6(6)).

A transactional stream bypasses unsubscribes (a receipt is owed whatever the recipient chose), so
a platform cannot let marketing ride on it. `assess_misuse` reads a message's subject, body text
and links and says which marketing signals it carries; the rule `transactional-misuse`
(`streams.rules.misuse`) denies a transactional send whose score reaches the policy's threshold.
Pure: text in, a frozen value out.

The detector is a table, not a model. Each signal is a list of patterns per language with a
weight in points (`MisusePolicy`, which documents each default; the built-in lists are in
`streams.content.misuse.patterns`); a signal counts once however many times it matches, the
score is the sum of the weights of the signals found, and the message is misuse when the score
reaches `threshold` (10). The strong signals (a discount code, a money-off offer, product
recommendations, a come-back message, a referral bonus, an invitation to sign up for marketing)
decide alone; the weak ones (a call to buy, a link to a shop page, sales urgency, a promotional
subject, a free offer) need another beside them.

The parts: `signals` (what is found, and how it is described), `policy` and `patterns` (the
signals' weights and lists), `reading` (how text is normalised, cut into segments and quoted),
`detector` (one message read, under one policy) and `memory` (`assess_misuse`, which remembers
the messages it read).
"""

from __future__ import annotations

from streams.content.misuse.memory import assess_misuse
from streams.content.misuse.policy import MisusePolicy, SignalPolicy
from streams.content.misuse.signals import SIGNAL_LABELS, MisuseAssessment, Signal, SignalName

__all__ = [
    "SIGNAL_LABELS",
    "MisuseAssessment",
    "MisusePolicy",
    "Signal",
    "SignalName",
    "SignalPolicy",
    "assess_misuse",
]
