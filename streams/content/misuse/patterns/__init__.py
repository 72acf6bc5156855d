"""The built-in phrase lists of the transactional-misuse detector, per language (en, de, fr, es).

Data only: `streams.content.misuse` holds the detector and `MisusePolicy`, whose docstring gives
each signal's weight and why it counts. Each list here is the default of the `MisusePolicy` field
of the same name in lower case (`DISCOUNT_CODE` is `discount_code.patterns`,
`TRANSACTIONAL_CONTEXT` is `transactional_context`, ...): the offers (`offers`), the rest of the
selling talk (`selling`), and what is not marketing (`context`).

Where the phrases come from: the wording senders use to sell (discount codes, price offers,
product recommendations, win-back and abandoned-cart mail, referral bonuses, newsletter sign-ups,
free offers, calls to buy, sales urgency) and the wording a transactional message uses about its
own transaction (a discount applied, a refund, a sign-in code, an unsubscribe confirmed), in
English, German, French and Spanish. They were written for this detector and tuned on the "dev"
half of the labelled set `tests/data/content/transactional_misuse.jsonl` (the "heldout" half was
not read while tuning); `benchmarks/misuse_accuracy.py` measures them on both halves. A change
here is a change to the detector: re-run that benchmark.

Patterns are Python regular expressions (`re`) matched on the normalised, casefolded text (see
`streams.content.misuse`): lower case, German "ß" spelled "ss", typographic quotes as straight
ones. The languages only group the lists: every pattern applies to every message.

How a policy file overrides them (`[misuse]`, validated by `MisusePolicy`): a signal may give only
its `weight`, or `patterns` for some languages; a language it gives replaces that language's
built-in list, and the languages and weight it leaves out keep the built-in value.
`transactional_context` and `future_purchase` are replaced per language the same way;
`never_promotional_links`, one list, is replaced whole. For example:

    [misuse.cross_sell]
    weight = 8

    [misuse.cross_sell.patterns]
    en = ['\\bpicks\\b']    # replaces the English list; de, fr and es stay built in
"""

from __future__ import annotations

from streams.content.misuse.patterns.context import (
    FUTURE_PURCHASE,
    NEVER_PROMOTIONAL_LINKS,
    TRANSACTIONAL_CONTEXT,
)
from streams.content.misuse.patterns.offers import DISCOUNT_CODE, FREE_OFFER, MONEY_OFF
from streams.content.misuse.patterns.selling import (
    CALL_TO_BUY,
    CROSS_SELL,
    OPT_IN_INVITATION,
    PROMOTIONAL_LINK,
    PROMOTIONAL_SUBJECT,
    REENGAGEMENT,
    REFERRAL,
    URGENCY,
)

__all__ = [
    "CALL_TO_BUY",
    "CROSS_SELL",
    "DISCOUNT_CODE",
    "FREE_OFFER",
    "FUTURE_PURCHASE",
    "MONEY_OFF",
    "NEVER_PROMOTIONAL_LINKS",
    "OPT_IN_INVITATION",
    "PROMOTIONAL_LINK",
    "PROMOTIONAL_SUBJECT",
    "REENGAGEMENT",
    "REFERRAL",
    "TRANSACTIONAL_CONTEXT",
    "URGENCY",
]
