"""Authentication rules: what Gmail and Yahoo require of bulk senders (February 2024).

Bulk mail (`send_kind == "bulk"`) is authenticated with SPF and DKIM, its From domain publishes a
DMARC policy and is aligned with one of them, and commercial bulk mail has List-Unsubscribe and
List-Unsubscribe-Post (which the gate adds, `streams.sending.list_headers`) signed by DKIM.
Alignment is DMARC's relaxed mode (RFC 7489 §3.1): the same registrable domain
(`streams.core.providers.registrable_domain`, the Public Suffix List bundled with tldextract).

The facts are the mailer's (`SendRequest.authentication`), not verified here; when they are
missing, `bulk-authentication-missing` says so once and the rules that would read them stay
silent. A policy may switch the group off (`ContentPolicy.bulk_authentication`).
"""

from __future__ import annotations

from streams.content.sender import dmarc_aligned, sole_mailbox
from streams.core.providers import registrable_domain
from streams.core.records import SendRequest
from streams.policy import Policy
from streams.rules.base import RecipientView, Rule

__all__ = [
    "BULK_AUTHENTICATION_MISSING",
    "BULK_DMARC_MISSING",
    "BULK_FROM_NOT_ALIGNED",
    "BULK_SENDER_GUIDELINES",
    "LIST_UNSUBSCRIBE_NOT_SIGNED",
]

BULK_SENDER_GUIDELINES = (
    'Gmail "Email sender guidelines" and Yahoo "Sender Best Practices" (February 2024)'
)
"""The bulk-sender rules, as a rule's `law` cites them."""

_SIGNED_LIST_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")


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


BULK_AUTHENTICATION_MISSING = Rule(
    name="bulk-authentication-missing",
    law=(
        f"{BULK_SENDER_GUIDELINES}: bulk senders authenticate with SPF (RFC 7208) and DKIM "
        "(RFC 6376)"
    ),
    description="A bulk send without SPF and DKIM facts.",
    check=_bulk_authentication_missing,
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


BULK_FROM_NOT_ALIGNED = Rule(
    name="bulk-from-not-aligned",
    law=(
        f"{BULK_SENDER_GUIDELINES}: the From domain aligned with the SPF or the DKIM domain "
        "(DMARC relaxed alignment, RFC 7489 §3.1)"
    ),
    description="Neither the DKIM nor the SPF domain aligns with the From domain.",
    check=_bulk_from_not_aligned,
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


BULK_DMARC_MISSING = Rule(
    name="bulk-dmarc-missing",
    law=f"{BULK_SENDER_GUIDELINES}: a DMARC policy for the From domain, p=none at least (RFC 7489)",
    description="A bulk send From a domain that publishes no DMARC policy.",
    check=_bulk_dmarc_missing,
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


LIST_UNSUBSCRIBE_NOT_SIGNED = Rule(
    name="list-unsubscribe-not-signed",
    law=(
        f"{BULK_SENDER_GUIDELINES}: one-click unsubscribe; RFC 8058 §4: the DKIM signature covers "
        "List-Unsubscribe and List-Unsubscribe-Post"
    ),
    description="Commercial bulk mail whose DKIM signature leaves the list headers unsigned.",
    check=_list_unsubscribe_not_signed,
)
