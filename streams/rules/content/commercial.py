"""Commercial-mail rules: what commercial mail (`SendRequest.commercial`) must say.

A sender name, a postal address and a visible way to unsubscribe (CAN-SPAM, CASL, the Spam Act)
and, where the policy asks, identification as an advertisement and a permission reminder. What
the body shows is found by the heuristics of `streams.content.body`, driven by the phrase lists
and patterns of `ContentPolicy`, which says where each comes from; they are tuned to refuse too
little rather than too much on the failing side: a denial the sender cannot understand costs more
than a footer the gate misread as an address.

A request without body facts (`body` None)
The body rules cannot see what they look for. For commercial bulk mail one rule,
`body-facts-missing`, denies the request and says why, and the body rules stay silent: one
sentence is clearer than four that say the same. For one-off and transactional mail the body
rules pass (the gate judges the headers only, as the request's schema promises).
"""

from __future__ import annotations

from collections.abc import Callable

from streams.consent.lookup import consent_for
from streams.content.body import (
    has_postal_address,
    labels_advertisement,
    offers_unsubscribe,
    reminds_permission,
)
from streams.content.policy import ContentPolicy
from streams.content.sender import names_sender, sole_mailbox
from streams.core.records import MessageBody, SendRequest
from streams.policy import Policy
from streams.rules.base import RecipientView, Rule, RuleCheck

__all__ = [
    "AD_IDENTIFICATION_MISSING",
    "BODY_FACTS_MISSING",
    "PERMISSION_REMINDER_MISSING",
    "POSTAL_ADDRESS_MISSING",
    "SENDER_NAME_MISSING",
    "UNSUBSCRIBE_MECHANISM_MISSING",
]

_Shows = Callable[[SendRequest, MessageBody, ContentPolicy], bool]
"""Whether a commercial message (its body, and for some rules its subject) shows what a rule
looks for."""
_Requires = Callable[[SendRequest, RecipientView, ContentPolicy], bool]
"""Whether the policy requires that for this message and recipient."""


def _always(request: SendRequest, view: RecipientView, content: ContentPolicy) -> bool:
    return True


def _body_must_show(shows: _Shows, missing: str, *, required: _Requires = _always) -> RuleCheck:
    """The check of a rule about what the body of commercial mail must show: silent when the
    message is not commercial, when the request carries no body facts (`body-facts-missing`) or
    when the policy does not require it; `missing` when the message does not show it."""

    def check(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
        body = request.body
        if body is None or not request.commercial or not required(request, view, policy.content):
            return None
        return None if shows(request, body, policy.content) else missing

    return check


def _body_facts_missing(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    if request.body is not None or not request.commercial or request.send_kind != "bulk":
        return None
    return (
        "The send request carried no body facts (text and links), so the gate cannot check the "
        "postal address, unsubscribe link and other content commercial mail must carry; include "
        "the message body facts in the request."
    )


BODY_FACTS_MISSING = Rule(
    name="body-facts-missing",
    law=(
        "Platform policy: commercial bulk mail is checked for the content CAN-SPAM (15 U.S.C. "
        "§7704(a)(3)-(5)), CASL s.6(2) and the Spam Act 2003 (Cth) ss.17-18 require before it "
        "is sent"
    ),
    description="A commercial bulk send request without body facts.",
    check=_body_facts_missing,
)


def _sender_name_missing(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    sender = sole_mailbox(request.from_address)
    if sender is None or not request.commercial:
        return None
    if names_sender(sender.display_name, policy.content.non_sender_display_names):
        return None
    return (
        "The From header has no display name that names the sender (it is empty, an address, "
        'or a mailbox word such as "No Reply"); commercial mail must identify who sends it. '
        "Set the From display name to your business name."
    )


SENDER_NAME_MISSING = Rule(
    name="sender-name-missing",
    law=(
        "CASL (S.C. 2010, c. 23) s.6(2)(a) and Electronic Commerce Protection Regulations (CRTC), "
        "SOR/2012-36, s.2: the name the sender carries on business by; Spam Act 2003 (Cth) s.17: "
        "accurate sender information; PECR reg. 23: the sender's identity not concealed"
    ),
    description="Commercial mail whose From display name does not name the sender.",
    check=_sender_name_missing,
)


def _shows_postal_address(request: SendRequest, body: MessageBody, content: ContentPolicy) -> bool:
    return has_postal_address(body.text, content.postal_address_patterns)


POSTAL_ADDRESS_MISSING = Rule(
    name="postal-address-missing",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(5)(A)(iii): a valid physical postal address; CASL s.6(2) "
        "and Electronic Commerce Protection Regulations (CRTC), SOR/2012-36, s.2: a mailing "
        "address; Spam Act 2003 (Cth) s.17: accurate sender information"
    ),
    description="Commercial mail whose body shows no postal address.",
    check=_body_must_show(
        _shows_postal_address,
        required=lambda request, view, content: content.require_postal_address,
        missing=(
            "No postal address of the sender was found in the message body; commercial mail "
            "must show the sender's valid physical postal address (a street address or a "
            "registered post-office box). Add it to the footer."
        ),
    ),
)


def _shows_unsubscribe(request: SendRequest, body: MessageBody, content: ContentPolicy) -> bool:
    return offers_unsubscribe(
        body.text,
        body.links,
        content.unsubscribe_phrases,
        content.unsubscribe_url_markers,
        content.unsubscribe_reply_patterns,
    )


UNSUBSCRIBE_MECHANISM_MISSING = Rule(
    name="unsubscribe-mechanism-missing",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(3) and (a)(5)(A)(ii): a functioning opt-out and clear "
        "notice of it; CASL s.6(2)(c) and s.11(1); Spam Act 2003 (Cth) s.18: a functional "
        "unsubscribe facility; GDPR Art. 21(2)-(4); PECR reg. 22(3)(c) and reg. 23"
    ),
    description="Commercial mail whose body offers no visible way to unsubscribe.",
    check=_body_must_show(
        _shows_unsubscribe,
        missing=(
            "The message body offers no visible way to unsubscribe (no working link whose text "
            "or address says unsubscribe or manage preferences, and no instructions to reply); "
            "commercial mail must. Add an unsubscribe link to the footer."
        ),
    ),
)


def _shows_ad_label(request: SendRequest, body: MessageBody, content: ContentPolicy) -> bool:
    return labels_advertisement(request.subject, body.text, content.ad_identification_phrases)


def _ad_label_required(request: SendRequest, view: RecipientView, content: ContentPolicy) -> bool:
    """Where the policy asks for the label, CAN-SPAM §7704(a)(5)(B) waives it for a recipient
    who gave prior affirmative consent (§7702(1)): an express opt-in on record, not withdrawn."""
    if not content.require_ad_identification:
        return False
    entry = consent_for(view.consents, request.account_id, request.list_id)
    return not (
        entry is not None
        and entry.basis == "express"
        and entry.status in ("single_opt_in", "double_opt_in")
        and entry.withdrawn_at is None
    )


AD_IDENTIFICATION_MISSING = Rule(
    name="ad-identification-missing",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(5)(A)(i): identification as an advertisement (not "
        "required with prior affirmative consent, §7704(a)(5)(B)), where the platform's policy "
        "requires it"
    ),
    description="Commercial mail not labelled as an advertisement, where the policy requires it.",
    check=_body_must_show(
        _shows_ad_label,
        required=_ad_label_required,
        missing=(
            "Neither the subject nor the body identifies the message as an advertisement (e.g. "
            '"Advertisement" or "Ad:"), and the recipient did not opt in expressly; label the '
            "message as an advertisement, or send it only to people who opted in."
        ),
    ),
)


def _shows_permission_reminder(
    request: SendRequest, body: MessageBody, content: ContentPolicy
) -> bool:
    return reminds_permission(body.text, content.permission_reminder_phrases)


PERMISSION_REMINDER_MISSING = Rule(
    name="permission-reminder-missing",
    law=(
        "Platform policy: a permission reminder (why the recipient receives the message) on "
        "commercial mail, where the platform requires one"
    ),
    description="Commercial mail without a permission reminder, where the policy requires one.",
    check=_body_must_show(
        _shows_permission_reminder,
        required=lambda request, view, content: content.require_permission_reminder,
        missing=(
            'The message body does not remind the recipient why they receive it (e.g. "You are '
            'receiving this because you signed up at ..."); the platform requires a permission '
            "reminder on commercial mail. Add one to the footer."
        ),
    ),
)
