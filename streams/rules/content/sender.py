"""Sender rules: who every message says it is from.

The From is one valid mailbox, at one of the account's verified domains (a subdomain counts); a
Reply-To likewise; no display name poses as another address or domain. CAN-SPAM's header rule
(15 U.S.C. §7704(a)(1)) covers transactional mail too, so these judge every message, except the
free-mail rule, which is the bulk-sender rules' and judges bulk mail only.

Explanations name the account's own domains and the domain at fault, never the recipient.

`ACCOUNT_STATE_RULES` names the rules that need the account's verified domains
(`RecipientView.sender_domains`): a template checker without account state reports them as not
checked instead of failing them.
"""

from __future__ import annotations

from streams.content.sender import (
    brand_posed_as,
    canonical_domains,
    domain_within,
    foreign_address_in_name,
    foreign_domain_in_name,
    parse_mailboxes,
    sole_mailbox,
)
from streams.core.records import SendRequest
from streams.policy import Policy
from streams.rules.base import RecipientView, Rule
from streams.rules.content.authentication import BULK_SENDER_GUIDELINES

__all__ = [
    "ACCOUNT_STATE_RULES",
    "DISPLAY_NAME_SPOOFED",
    "FROM_ADDRESS_INVALID",
    "FROM_DOMAIN_NOT_VERIFIED",
    "FROM_FREE_MAIL_DOMAIN",
    "REPLY_TO_DOMAIN_NOT_VERIFIED",
]

_LISTED_DOMAINS = 5


def _verified(view: RecipientView) -> frozenset[str]:
    return canonical_domains(view.sender_domains) if view.sender_domains else frozenset()


def _listed(domains: frozenset[str]) -> str:
    names = sorted(domains)
    shown = ", ".join(names[:_LISTED_DOMAINS])
    more = len(names) - _LISTED_DOMAINS
    return f"{shown} and {more} more" if more > 0 else shown


def _from_address_invalid(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    if sole_mailbox(request.from_address) is not None:
        return None
    return (
        "The From header does not hold exactly one valid email address, so recipients cannot "
        'tell who sent the message; write it as one address, e.g. "Your Business" '
        "<news@your-verified-domain>."
    )


FROM_ADDRESS_INVALID = Rule(
    name="from-address-invalid",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(1): false or misleading header information; RFC 5322 "
        "§3.6.2 (one From mailbox)"
    ),
    description="The From header is not exactly one valid email address.",
    check=_from_address_invalid,
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


FROM_DOMAIN_NOT_VERIFIED = Rule(
    name="from-domain-not-verified",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(1): false or misleading header information; platform "
        "policy: mail only From the account's verified domains"
    ),
    description="The From address is not at one of the account's verified domains.",
    check=_from_domain_not_verified,
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


FROM_FREE_MAIL_DOMAIN = Rule(
    name="from-free-mail-domain",
    law=(
        f"{BULK_SENDER_GUIDELINES}: bulk mail From the sender's own authenticated domain; the "
        "free-mail providers' DMARC policies (RFC 7489)"
    ),
    description="Bulk mail From an address at a free-mail domain.",
    check=_from_free_mail,
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
    if shown is not None:
        return (
            f"The From display name names the domain {shown}, but the message is From "
            f"{sender.domain}; a display name must not pose as another domain. Use the "
            "sender's name instead."
        )
    brand = brand_posed_as(sender, policy.content.protected_brands)
    if brand is None:
        return None
    return (
        f'The From display name carries the brand "{brand}", but the message is From '
        f"{sender.domain}, none of that brand's domains; a display name must not pose as "
        "another company. Use the sender's own name."
    )


DISPLAY_NAME_SPOOFED = Rule(
    name="display-name-spoofed",
    law=(
        "CAN-SPAM, 15 U.S.C. §7704(a)(1): a From line that does not accurately identify the "
        "sender is misleading header information; Competition Act (Canada) s.74.011"
    ),
    description=(
        "The From display name holds another address, names another domain, or carries a "
        "protected brand it is not sent from."
    ),
    check=_display_name_spoofed,
)

ACCOUNT_STATE_RULES: frozenset[str] = frozenset(
    {FROM_DOMAIN_NOT_VERIFIED.name, REPLY_TO_DOMAIN_NOT_VERIFIED.name}
)
"""The rules that read the account's verified domains (`RecipientView.sender_domains`); a check
without account state (a template checker) reports them as not checked."""
