"""Transactional misuse: marketing sent on the transactional stream.

A send the sender classed transactional, without declaring promotional content, is judged by the
marketing detector `streams.content.misuse.assess_misuse` under `policy.misuse`
(`MisusePolicy`); when the signals it finds reach the threshold the send is denied, and the
explanation names them with a few words of evidence each. A sender that declared promotional
content (`SendRequest.promotional_content`) is already treated as commercial by every other rule
(`SendRequest.commercial`: consent, unsubscribe, postal address), so this rule leaves it alone,
as it leaves commercial mail alone.
"""

from __future__ import annotations

from streams.content.misuse import assess_misuse
from streams.core.records import SendRequest
from streams.policy import Policy
from streams.rules.base import Finding, RecipientView, Rule

__all__ = ["TRANSACTIONAL_MISUSE"]


def _transactional_misuse(
    request: SendRequest, view: RecipientView, policy: Policy
) -> Finding | None:
    """The finding carries the assessment, so the misuse report is made from it."""
    if request.commercial:  # commercial by classification or by declared promotional content
        return None
    assessment = assess_misuse(request.subject, request.body, policy.misuse)
    if not assessment.is_misuse:
        return None
    return Finding(
        f"This message is sent as transactional but carries marketing: {assessment.describe()}. "
        "Send it as commercial mail (with the recipient's consent and an unsubscribe link), or "
        "remove the marketing from the transactional message.",
        assessment,
    )


TRANSACTIONAL_MISUSE = Rule(
    name="transactional-misuse",
    law=(
        "CAN-SPAM 16 CFR 316.3 (primary purpose: a message with commercial content is commercial "
        "when its subject makes it look commercial or its transactional part does not come "
        "first, or when it is mainly commercial); CASL s.6(6) (exempt only when the message "
        "solely does one of the listed transactional things); platform policy: transactional "
        "streams bypass unsubscribes, so they carry no marketing"
    ),
    description=(
        "A message classed transactional carries marketing (an offer, a discount code, a call to "
        "buy, a come-back message, ...)."
    ),
    check=_transactional_misuse,
)
