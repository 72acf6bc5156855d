"""The facts of an account's ordinary, compliant mail: what every content rule asks for, as
send-request fields.

The demo, the benchmarks and the tests send mail whose content is beside their point (they are
about suppressions, consent, rates or speed); these facts make it pass every content rule the
way a careful sender's template would, so only the rules a scenario is about can fail: a named
sender on the account's verified domain, DKIM and SPF aligned with it, DMARC published, the
postal address in the footer and, in commercial mail, why the person gets it and a working
unsubscribe link. The rules themselves are in `streams.rules.content`.
"""

from __future__ import annotations

from typing import Any

from streams.core.records import BodyLink, MailAuthentication, MessageBody

__all__ = ["SIGNED_HEADERS", "compliant_facts", "sender_name"]

SIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
)
"""The headers a good mailer's DKIM signature covers, the list headers included (the bulk-sender
rules ask for List-Unsubscribe and List-Unsubscribe-Post to be signed)."""


def sender_name(account: str) -> str:
    """The display name an account's mail carries: its id in words (`acme-shoes`: Acme Shoes)."""
    return account.replace("-", " ").title()


def compliant_facts(
    account: str,
    *,
    commercial: bool,
    domain: str | None = None,
    postal_address: str | None = None,
) -> dict[str, Any]:
    """The From, body and authentication facts of the account's ordinary mail from its verified
    `domain` (default `<account>.example`), with `postal_address` in the footer (default a
    documentation address under the account's name)."""
    domain = domain or f"{account}.example"
    name = sender_name(account)
    footer = postal_address or f"{name}, 1 Main Street, Springfield, IL 62701"
    if commercial:
        body = MessageBody(
            text=(
                f"News from {name}: read it on the web.\n"
                f"You receive this because you signed up at {domain}.\n"
                f"{footer}\nUnsubscribe or manage your preferences"
            ),
            links=(
                BodyLink(url=f"https://www.{domain}/news", text="read it on the web"),
                BodyLink(url=f"https://www.{domain}/preferences", text="Unsubscribe"),
            ),
        )
        sender = f"{name} <hello@{domain}>"
    else:
        body = MessageBody(
            text=(
                "Thank you. The details of your account and orders are in your account.\n"
                f"View your account\n\n{footer}"
            ),
            links=(BodyLink(url=f"https://www.{domain}/account", text="View your account"),),
        )
        sender = f"{name} <receipts@{domain}>"
    return {
        "from_address": sender,
        "body": body,
        "authentication": MailAuthentication(
            dkim_domain=domain,
            dkim_signed_headers=SIGNED_HEADERS,
            spf_domain=f"mail.{domain}",
            dmarc_policy="quarantine",
        ),
    }
