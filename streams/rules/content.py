"""Content rules: who a message says it is from, how it is authenticated, and what commercial mail
must say, judged on the facts a send request carries (`SendRequest.body`,
`SendRequest.authentication`, the headers), before anyone receives the message.

Which messages each rule judges
- Every message: the From is one valid mailbox, at one of the account's verified domains (a
  subdomain counts); a Reply-To likewise; no display name posing as another address or domain; no
  incentive for a positive review. CAN-SPAM's header rule (15 U.S.C. §7704(a)(1)) and the FTC's
  review rule (16 CFR 465.4) cover transactional mail too.
- Bulk mail (`send_kind == "bulk"`): no From at a free-mail domain, and the bulk-sender rules of
  Gmail and Yahoo (February 2024): SPF and DKIM, DMARC, From aligned with one of them, and, for
  commercial bulk mail, List-Unsubscribe and List-Unsubscribe-Post (which the gate adds,
  `streams.sending.list_headers`) signed by DKIM. Alignment is DMARC's relaxed mode (RFC 7489 §3.1):
  the
  same registrable domain (`streams.core.providers.registrable_domain`, the Public Suffix List
  bundled
  with tldextract).
- Commercial mail (`SendRequest.commercial`): a sender name, a postal address, a visible
  unsubscribe mechanism, no fake "Re:"/"Fwd:", and, where the policy asks, identification as an
  advertisement and a permission reminder. The transactional-looking-subject rule judges mail the
  sender classed as commercial only: a real shipping notice that also carries a promotion
  (transactional with promotional content) may say "Your order has shipped".

A request without body facts (`body` None)
The body rules (postal address, unsubscribe, advertisement label, permission reminder) cannot see
what they look for. For commercial bulk mail one rule, `body-facts-missing`, denies the request and
says why, and the body rules stay silent: one sentence is clearer than four that say the same.
For one-off and transactional mail the body rules pass (the gate judges the headers only, as the
request's schema promises); the review rule then reads the subject alone.

Heuristics
A postal address, an unsubscribe link, a permission reminder or a review incentive are found by
the patterns and phrase lists of `ContentPolicy` (`streams.content.policy`), which says where each
comes from. They are tuned to refuse too little rather than too much on the failing side: a denial
the sender cannot understand costs more than a footer the gate misread as an address.

Where the reading is done
The code that reads the message is pure and lives beside the policy: `streams.content.sender`
(From and Reply-To mailboxes, display names, domain alignment), `streams.content.body` (postal
address, unsubscribe mechanism, advertisement label, permission reminder, review incentive) and
`streams.content.subject` (reply prefixes, transactional-looking subjects). This module keeps
what is the gate's to say: when each rule judges, and the explanation it gives.

Explanations name the sender's own domains and the rule's reason; they never quote the body, the
recipient's address or the subject (a personalised subject may hold the address), except a reply
prefix ("Re").

`ACCOUNT_STATE_RULES` names the rules that need the account's verified domains
(`RecipientView.sender_domains`): a template checker without account state reports them as not
checked instead of failing them.
"""

from __future__ import annotations

from streams.consent.lookup import consent_for
from streams.content.body import (
    buys_positive_reviews,
    has_postal_address,
    labels_advertisement,
    offers_unsubscribe,
    reminds_permission,
)
from streams.content.sender import (
    Mailbox,
    canonical_domains,
    dmarc_aligned,
    domain_within,
    foreign_address_in_name,
    foreign_domain_in_name,
    names_sender,
    parse_mailboxes,
    sole_mailbox,
)
from streams.content.subject import deceptive_subject, reply_prefix
from streams.core.providers import registrable_domain
from streams.core.records import SendRequest
from streams.policy import Policy
from streams.rules.base import RecipientView, Rule

__all__ = [
    "ACCOUNT_STATE_RULES",
    "AD_IDENTIFICATION_MISSING",
    "BODY_FACTS_MISSING",
    "BULK_AUTHENTICATION_MISSING",
    "BULK_DMARC_MISSING",
    "BULK_FROM_NOT_ALIGNED",
    "CONTENT_RULES",
    "DISPLAY_NAME_SPOOFED",
    "FROM_ADDRESS_INVALID",
    "FROM_DOMAIN_NOT_VERIFIED",
    "FROM_FREE_MAIL_DOMAIN",
    "LIST_UNSUBSCRIBE_NOT_SIGNED",
    "PERMISSION_REMINDER_MISSING",
    "POSTAL_ADDRESS_MISSING",
    "REPLY_TO_DOMAIN_NOT_VERIFIED",
    "REVIEW_INCENTIVE_FOR_POSITIVE_REVIEW",
    "SENDER_NAME_MISSING",
    "SUBJECT_FAKE_REPLY",
    "SUBJECT_LOOKS_TRANSACTIONAL",
    "UNSUBSCRIBE_MECHANISM_MISSING",
    "Mailbox",
    "parse_mailboxes",
]

_BULK_RULES = 'Gmail "Email sender guidelines" and Yahoo "Sender Best Practices" (February 2024)'
_SIGNED_LIST_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")
_LISTED_DOMAINS = 5


# Reading the request and the account ------------------------------------------------------------


def _verified(view: RecipientView) -> frozenset[str]:
    return canonical_domains(view.sender_domains) if view.sender_domains else frozenset()


def _listed(domains: frozenset[str]) -> str:
    names = sorted(domains)
    shown = ", ".join(names[:_LISTED_DOMAINS])
    more = len(names) - _LISTED_DOMAINS
    return f"{shown} and {more} more" if more > 0 else shown


def _affirmative_consent(request: SendRequest, view: RecipientView) -> bool:
    """CAN-SPAM §7702(1) "affirmative consent": an express opt-in on record, not withdrawn."""
    entry = consent_for(view.consents, request.account_id, request.list_id)
    return (
        entry is not None
        and entry.basis == "express"
        and entry.status in ("single_opt_in", "double_opt_in")
        and entry.withdrawn_at is None
    )


# Every message: who it is from --------------------------------------------------------------------


def _from_address_invalid(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    if sole_mailbox(request.from_address) is not None:
        return None
    return (
        "The From header does not hold exactly one valid email address, so recipients cannot "
        'tell who sent the message; write it as one address, e.g. "Your Business" '
        "<news@your-verified-domain>."
    )


def _from_domain_not_verified(
    request: SendRequest, view: RecipientView, policy: Policy
) -> str | None:
    sender = sole_mailbox(request.from_address)
    if sender is None or not policy.content.require_verified_domains:
        return None  # from-address-invalid says it
    verified = _verified(view)
    if not verified:
        return (
            f"Account {request.account_id} has no verified sending domain on record, so it cannot "
            f"send From {sender.domain}; verify a domain you control (its DNS records) and send "
            "From an address at it."
        )
    if domain_within(sender.domain, verified):
        return None
    return (
        f"The From address is at {sender.domain}, which is not one of account "
        f"{request.account_id}'s verified sending domains ({_listed(verified)}); send From an "
        f"address at a verified domain, or verify {sender.domain} first."
    )


def _reply_to_domain_not_verified(
    request: SendRequest, view: RecipientView, policy: Policy
) -> str | None:
    if request.reply_to is None:
        return None
    content = policy.content
    boxes = parse_mailboxes(request.reply_to)
    if boxes is None:
        return (
            "The Reply-To header does not hold valid email addresses, so replies cannot reach "
            "the sender; correct it or leave it out."
        )
    if not content.require_verified_domains:
        return None
    verified = _verified(view)
    for box in boxes:
        if domain_within(box.domain, verified) or domain_within(
            box.domain, content.reply_to_allowed_domains
        ):
            continue
        free_mail = domain_within(box.domain, content.free_mail_domains)
        if free_mail and request.send_kind == "one_off":
            continue  # a person's own mailbox for replies to one-to-one mail
        if free_mail:
            return (
                f"The Reply-To address is at the free-mail domain {box.domain}; replies to bulk "
                "mail must go to a domain the account has verified, so they stay with the "
                "sender's own domain. Use a Reply-To address at a verified domain."
            )
        if not verified:
            return (
                f"The Reply-To address is at {box.domain}, and account {request.account_id} has "
                "no verified sending domain on record; verify the domain replies go to."
            )
        return (
            f"The Reply-To address is at {box.domain}, which is not one of account "
            f"{request.account_id}'s verified sending domains ({_listed(verified)}); use a "
            f"Reply-To at a verified domain, or verify {box.domain} first."
        )
    return None


def _from_free_mail(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    sender = sole_mailbox(request.from_address)
    if sender is None or request.send_kind != "bulk":
        return None
    if not domain_within(sender.domain, policy.content.free_mail_domains):
        return None
    return (
        f"The From address is at {sender.domain}, a free-mail provider's domain: only the "
        "provider's own servers can send mail that passes its DMARC check, so receivers reject or "
        "filter bulk mail From it. Send bulk mail From an address at a domain you own and have "
        "verified."
    )


def _display_name_spoofed(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    sender = sole_mailbox(request.from_address)
    if sender is None or not sender.display_name:
        return None
    if foreign_address_in_name(sender):
        return (
            "The From display name contains an email address other than the From address, "
            "which makes the message look as if someone else sent it; use the sender's "
            "name as the display name."
        )
    shown = foreign_domain_in_name(sender)
    if shown is None:
        return None
    return (
        f"The From display name names the domain {shown}, but the message is From "
        f"{sender.domain}; a display name must not pose as another domain. Use the "
        "sender's name instead."
    )


# Bulk mail: authentication ------------------------------------------------------------------------


def _judges_bulk(request: SendRequest, policy: Policy) -> bool:
    return request.send_kind == "bulk" and policy.content.bulk_authentication


def _bulk_authentication_missing(
    request: SendRequest, view: RecipientView, policy: Policy
) -> str | None:
    if not _judges_bulk(request, policy):
        return None
    facts = request.authentication
    if facts is None:
        return (
            "The mailer reported no authentication facts (DKIM, SPF, DMARC) for this bulk send; "
            "bulk senders must authenticate with SPF and DKIM. Configure the mailer to sign and "
            "report them."
        )
    missing = [
        what
        for what, present in (
            ("DKIM signature", facts.dkim_domain),
            ("SPF domain", facts.spf_domain),
        )
        if not present
    ]
    if not missing:
        return None
    return (
        f"This bulk send has no {' and no '.join(missing)}; Gmail and Yahoo require bulk senders "
        "to authenticate with both SPF and DKIM. Set them up for your sending domain."
    )


def _bulk_from_not_aligned(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    sender = sole_mailbox(request.from_address)
    facts = request.authentication
    if sender is None or facts is None or not _judges_bulk(request, policy):
        return None
    if not (facts.dkim_domain or facts.spf_domain):
        return None  # bulk-authentication-missing says it
    if dmarc_aligned(facts.dkim_domain, sender.domain) or dmarc_aligned(
        facts.spf_domain, sender.domain
    ):
        return None
    organisation = registrable_domain(sender.domain) or sender.domain
    return (
        f"Neither the DKIM signing domain ({facts.dkim_domain or 'none'}) nor the SPF domain "
        f"({facts.spf_domain or 'none'}) belongs to {organisation}, the From address's domain, "
        f"so DMARC fails; sign with DKIM as {organisation} or send with a return path at it."
    )


def _bulk_dmarc_missing(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    facts = request.authentication
    if facts is None or facts.dmarc_policy is not None or not _judges_bulk(request, policy):
        return None
    sender = sole_mailbox(request.from_address)
    where = registrable_domain(sender.domain) if sender else None
    publisher = where or "the From domain"
    return (
        f"The mailer reports no DMARC policy for {publisher}; Gmail and Yahoo require bulk "
        "senders to publish one (p=none is enough). Add a _dmarc TXT record for the domain."
    )


def _list_unsubscribe_not_signed(
    request: SendRequest, view: RecipientView, policy: Policy
) -> str | None:
    facts = request.authentication
    if not request.commercial or not _judges_bulk(request, policy):
        return None
    if facts is None or not facts.dkim_domain:
        return None  # bulk-authentication-missing says it
    signed = {name.strip().lower() for name in facts.dkim_signed_headers}
    unsigned = [name for name in _SIGNED_LIST_HEADERS if name.lower() not in signed]
    if not unsigned:
        return None
    words = " and ".join(unsigned)
    return (
        f"The DKIM signature does not cover {words}, which the gate adds to commercial bulk "
        "mail; one-click unsubscribe (RFC 8058) needs both signed. Add them to the signed "
        "headers (h=) of the mailer's DKIM configuration."
    )


# Commercial mail: what it must say ----------------------------------------------------------------


def _body_facts_missing(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    if request.body is not None or not request.commercial or request.send_kind != "bulk":
        return None
    return (
        "The send request carried no body facts (text and links), so the gate cannot check the "
        "postal address, unsubscribe link and other content commercial mail must carry; include "
        "the message body facts in the request."
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


def _postal_address_missing(
    request: SendRequest, view: RecipientView, policy: Policy
) -> str | None:
    content = policy.content
    body = request.body
    if body is None or not request.commercial or not content.require_postal_address:
        return None
    if has_postal_address(body.text, content.postal_address_patterns):
        return None
    return (
        "No postal address of the sender was found in the message body; commercial mail must "
        "show the sender's valid physical postal address (a street address or a registered "
        "post-office box). Add it to the footer."
    )


def _unsubscribe_mechanism_missing(
    request: SendRequest, view: RecipientView, policy: Policy
) -> str | None:
    content = policy.content
    body = request.body
    if body is None or not request.commercial:
        return None
    if offers_unsubscribe(
        body.text,
        body.links,
        content.unsubscribe_phrases,
        content.unsubscribe_url_markers,
        content.unsubscribe_reply_patterns,
    ):
        return None
    return (
        "The message body offers no visible way to unsubscribe (no working link whose text or "
        "address says unsubscribe or manage preferences, and no instructions to reply); "
        "commercial mail must. Add an unsubscribe link to the footer."
    )


def _ad_identification_missing(
    request: SendRequest, view: RecipientView, policy: Policy
) -> str | None:
    content = policy.content
    body = request.body
    if not request.commercial or not content.require_ad_identification or body is None:
        return None
    if labels_advertisement(request.subject, body.text, content.ad_identification_phrases):
        return None
    if _affirmative_consent(request, view):
        return None  # CAN-SPAM §7704(a)(5)(B)
    return (
        "Neither the subject nor the body identifies the message as an advertisement (e.g. "
        '"Advertisement" or "Ad:"), and the recipient did not opt in expressly; label the '
        "message as an advertisement, or send it only to people who opted in."
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


def _subject_looks_transactional(
    request: SendRequest, view: RecipientView, policy: Policy
) -> str | None:
    if request.classification != "commercial":
        return None  # a transactional message may say what it is, promotion or not
    why = deceptive_subject(request.subject, policy.content.deceptive_subject_patterns)
    if why is None:
        return None
    return (
        f"The subject of this commercial message is deceptive: {why}, which misleads about "
        "what the message is; write a subject that says what it offers."
    )


def _permission_reminder_missing(
    request: SendRequest, view: RecipientView, policy: Policy
) -> str | None:
    content = policy.content
    body = request.body
    if body is None or not request.commercial or not content.require_permission_reminder:
        return None
    if reminds_permission(body.text, content.permission_reminder_phrases):
        return None
    return (
        'The message body does not remind the recipient why they receive it (e.g. "You are '
        'receiving this because you signed up at ..."); the platform requires a permission '
        "reminder on commercial mail. Add one to the footer."
    )


def _review_incentive(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    content = policy.content
    if not buys_positive_reviews(
        request.subject,
        request.body.text if request.body else None,
        content.review_window_paragraphs,
        content.review_request_patterns,
        content.review_incentive_patterns,
        content.positive_review_patterns,
    ):
        return None
    return (
        "The message asks for a review and offers a reward tied to a positive one (such as a "
        "discount for a 5-star rating), which the FTC prohibits; offer any incentive for every "
        "honest review, whatever it says, or none."
    )


# The rules, in table order ------------------------------------------------------------------------

FROM_ADDRESS_INVALID = Rule(
    name="from-address-invalid",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(1): false or misleading header information; RFC 5322 "
        "§3.6.2 (one From mailbox)"
    ),
    description="The From header is not exactly one valid email address.",
    check=_from_address_invalid,
)
FROM_DOMAIN_NOT_VERIFIED = Rule(
    name="from-domain-not-verified",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(1): false or misleading header information; platform "
        "policy: mail only From the account's verified domains"
    ),
    description="The From address is not at one of the account's verified domains.",
    check=_from_domain_not_verified,
)
REPLY_TO_DOMAIN_NOT_VERIFIED = Rule(
    name="reply-to-domain-not-verified",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(1) and (a)(3): truthful header information and a "
        "functioning return address; platform policy: Reply-To at the account's verified domains "
        "(a free-mail Reply-To only on one-off mail)"
    ),
    description="The Reply-To address is invalid or not at a domain the account may use.",
    check=_reply_to_domain_not_verified,
)
FROM_FREE_MAIL_DOMAIN = Rule(
    name="from-free-mail-domain",
    law=(
        f"{_BULK_RULES}: bulk mail From the sender's own authenticated domain; the free-mail "
        "providers' DMARC policies (RFC 7489)"
    ),
    description="Bulk mail From an address at a free-mail domain.",
    check=_from_free_mail,
)
DISPLAY_NAME_SPOOFED = Rule(
    name="display-name-spoofed",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(1): a From line that does not accurately identify the "
        "sender is misleading header information; Competition Act (Canada) s.74.011"
    ),
    description="The From display name holds another address or names another domain.",
    check=_display_name_spoofed,
)
BULK_AUTHENTICATION_MISSING = Rule(
    name="bulk-authentication-missing",
    law=f"{_BULK_RULES}: bulk senders authenticate with SPF (RFC 7208) and DKIM (RFC 6376)",
    description="A bulk send without SPF and DKIM facts.",
    check=_bulk_authentication_missing,
)
BULK_FROM_NOT_ALIGNED = Rule(
    name="bulk-from-not-aligned",
    law=(
        f"{_BULK_RULES}: the From domain aligned with the SPF or the DKIM domain (DMARC relaxed "
        "alignment, RFC 7489 §3.1)"
    ),
    description="Neither the DKIM nor the SPF domain aligns with the From domain.",
    check=_bulk_from_not_aligned,
)
BULK_DMARC_MISSING = Rule(
    name="bulk-dmarc-missing",
    law=f"{_BULK_RULES}: a DMARC policy for the From domain, p=none at least (RFC 7489)",
    description="A bulk send From a domain that publishes no DMARC policy.",
    check=_bulk_dmarc_missing,
)
LIST_UNSUBSCRIBE_NOT_SIGNED = Rule(
    name="list-unsubscribe-not-signed",
    law=(
        f"{_BULK_RULES}: one-click unsubscribe; RFC 8058 §4: the DKIM signature covers "
        "List-Unsubscribe and List-Unsubscribe-Post"
    ),
    description="Commercial bulk mail whose DKIM signature leaves the list headers unsigned.",
    check=_list_unsubscribe_not_signed,
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
POSTAL_ADDRESS_MISSING = Rule(
    name="postal-address-missing",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(5)(A)(iii): a valid physical postal address; CASL s.6(2) "
        "and Electronic Commerce Protection Regulations (CRTC), SOR/2012-36, s.2: a mailing "
        "address; Spam Act 2003 (Cth) s.17: accurate sender information"
    ),
    description="Commercial mail whose body shows no postal address.",
    check=_postal_address_missing,
)
UNSUBSCRIBE_MECHANISM_MISSING = Rule(
    name="unsubscribe-mechanism-missing",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(3) and (a)(5)(A)(ii): a functioning opt-out and clear "
        "notice of it; CASL s.6(2)(c) and s.11(1); Spam Act 2003 (Cth) s.18: a functional "
        "unsubscribe facility; GDPR Art. 21(2)-(4); PECR reg. 22(3)(c) and reg. 23"
    ),
    description="Commercial mail whose body offers no visible way to unsubscribe.",
    check=_unsubscribe_mechanism_missing,
)
AD_IDENTIFICATION_MISSING = Rule(
    name="ad-identification-missing",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(5)(A)(i): identification as an advertisement (not "
        "required with prior affirmative consent, §7704(a)(5)(B)), where the platform's policy "
        "requires it"
    ),
    description="Commercial mail not labelled as an advertisement, where the policy requires it.",
    check=_ad_identification_missing,
)
SUBJECT_FAKE_REPLY = Rule(
    name="subject-fake-reply",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(2): deceptive subject headings; Competition Act (Canada) "
        "s.74.011"
    ),
    description='Commercial mail with a "Re:" or "Fwd:" subject that answers no message.',
    check=_subject_fake_reply,
)
SUBJECT_LOOKS_TRANSACTIONAL = Rule(
    name="subject-looks-transactional",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(2): deceptive subject headings; Competition Act (Canada) "
        "s.74.011"
    ),
    description="Commercial mail whose subject poses as a transactional notice.",
    check=_subject_looks_transactional,
)
PERMISSION_REMINDER_MISSING = Rule(
    name="permission-reminder-missing",
    law=(
        "Platform policy: a permission reminder (why the recipient receives the message) on "
        "commercial mail, where the platform requires one"
    ),
    description="Commercial mail without a permission reminder, where the policy requires one.",
    check=_permission_reminder_missing,
)
REVIEW_INCENTIVE_FOR_POSITIVE_REVIEW = Rule(
    name="review-incentive-for-positive-review",
    law=(
        "FTC Rule on the Use of Consumer Reviews and Testimonials, 16 CFR 465.4: no incentive "
        "conditioned on a review's sentiment; FTC Endorsement Guides, 16 CFR Part 255"
    ),
    description="A review request that rewards positive reviews only.",
    check=_review_incentive,
)

CONTENT_RULES: tuple[Rule, ...] = (
    # Every message: who it is from.
    FROM_ADDRESS_INVALID,
    FROM_DOMAIN_NOT_VERIFIED,
    REPLY_TO_DOMAIN_NOT_VERIFIED,
    FROM_FREE_MAIL_DOMAIN,
    DISPLAY_NAME_SPOOFED,
    # Bulk mail: how it is authenticated.
    BULK_AUTHENTICATION_MISSING,
    BULK_FROM_NOT_ALIGNED,
    BULK_DMARC_MISSING,
    LIST_UNSUBSCRIBE_NOT_SIGNED,
    # Commercial mail: what it must say, and must not.
    BODY_FACTS_MISSING,
    SENDER_NAME_MISSING,
    POSTAL_ADDRESS_MISSING,
    UNSUBSCRIBE_MECHANISM_MISSING,
    AD_IDENTIFICATION_MISSING,
    SUBJECT_FAKE_REPLY,
    SUBJECT_LOOKS_TRANSACTIONAL,
    PERMISSION_REMINDER_MISSING,
    # Every message: what it offers for reviews.
    REVIEW_INCENTIVE_FOR_POSITIVE_REVIEW,
)
"""Every content rule, in the order the gate's table lists them (`streams.rules`)."""

ACCOUNT_STATE_RULES: frozenset[str] = frozenset(
    {FROM_DOMAIN_NOT_VERIFIED.name, REPLY_TO_DOMAIN_NOT_VERIFIED.name}
)
"""The rules that read the account's verified domains (`RecipientView.sender_domains`); a check
without account state (a template checker) reports them as not checked."""
