"""Subject rules: no subject heading that misleads about what a commercial message is.

CAN-SPAM §7704(a)(2) forbids deceptive subject headings: a "Re:" or "Fwd:" on a message that
answers none, or wording that poses as a transactional notice (a shipping notice, a password
reset, an invoice) to get marketing opened. The reading is `streams.content.subject`'s; the
explanations quote a reply prefix at most, never the subject (a personalised subject may hold
the recipient's address).
"""

from __future__ import annotations

from streams.content.subject import deceptive_subject, reply_prefix
from streams.core.records import SendRequest
from streams.policy import Policy
from streams.rules.base import RecipientView, Rule

__all__ = ["SUBJECT_FAKE_REPLY", "SUBJECT_LOOKS_TRANSACTIONAL"]

_DECEPTIVE_SUBJECTS_LAW = (
    "CAN-SPAM, 15 U.S.C. §7704(a)(2): deceptive subject headings; Competition Act (Canada) s.74.011"
)


def _subject_fake_reply(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    if not request.commercial:
        return None
    prefix = reply_prefix(request.subject, policy.content.reply_subject_prefixes)
    if prefix is None or request.header("In-Reply-To") or request.header("References"):
        return None
    return (
        f'The subject starts with "{prefix}:", which marks a reply or a forward, but '
        "the message answers no earlier one (it has no In-Reply-To or References header); "
        "remove the prefix."
    )


SUBJECT_FAKE_REPLY = Rule(
    name="subject-fake-reply",
    law=_DECEPTIVE_SUBJECTS_LAW,
    description='Commercial mail with a "Re:" or "Fwd:" subject that answers no message.',
    check=_subject_fake_reply,
)


def _subject_looks_transactional(
    request: SendRequest, view: RecipientView, policy: Policy
) -> str | None:
    """Judges mail the sender classed as commercial only: a real shipping notice that also
    carries a promotion (transactional with promotional content) may say "Your order has
    shipped"."""
    if request.classification != "commercial":
        return None
    why = deceptive_subject(request.subject, policy.content.deceptive_subject_patterns)
    if why is None:
        return None
    return (
        f"The subject of this commercial message is deceptive: {why}, which misleads about "
        "what the message is; write a subject that says what it offers."
    )


SUBJECT_LOOKS_TRANSACTIONAL = Rule(
    name="subject-looks-transactional",
    law=_DECEPTIVE_SUBJECTS_LAW,
    description="Commercial mail whose subject poses as a transactional notice.",
    check=_subject_looks_transactional,
)
