"""What the demo's senders put in their messages: content facts that pass the content rules.

Every account of the demo has verified its domain `<account>.example` and sends from it, signed
and aligned, with a footer that carries its postal address and an unsubscribe link: the content
rules have nothing to say about the scenario's ordinary mail, so its decisions stay about
consent, suppressions and enforcement.

Then two templates from `templates/`, read the way `sendgate check` reads them
(`streams.content.message_facts`), are sent through the gate as they are:

- `acme-spring-sale.eml`, a commercial newsletter that breaks several content rules at once
  (free-mail From with a display name posing as an address of the sender's domain, a Reply-To
  at an unverified domain, "Re:" and a shipping-notice subject, no postal address, no way to
  unsubscribe, a gift card for five-star reviews);
- `acme-receipt-with-coupon.eml`, a receipt sent as transactional that carries a discount code
  and a link to new arrivals (transactional misuse).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from streams.consent.fold import apply_consent_event
from streams.content.compliant import compliant_facts as content_facts
from streams.content.message_facts import facts_from_message, request_from_facts
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    ConsentEvent,
    SenderDomains,
    SendRequest,
)
from streams.policy import Policy
from streams.rules import RecipientView, decide

__all__ = [
    "TEMPLATES",
    "TEMPLATE_ACCOUNT",
    "TEMPLATE_SENDS",
    "ContentCase",
    "build_content_case",
    "compliant_facts",
    "sender_domains",
    "signup",
    "template_send",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE_SENDS: tuple[tuple[str, str, str, str | None], ...] = (
    # (request id, template file, classification, list)
    ("acme-spring-sale-template", "acme-spring-sale.eml", "commercial", "newsletter"),
    ("acme-receipt-with-coupon", "acme-receipt-with-coupon.eml", "transactional", None),
)
TEMPLATE_ACCOUNT = "acme-shoes"

_ADDRESSES = {
    "acme-shoes": "Acme Shoes Inc., 200 Market Street, Portland, OR 97204, USA",
    "northwind-news": "Northwind News Ltd, 12 Harbour Road, Halifax, NS B3H 1A1, Canada",
    "globex-saas": "Globex Software GmbH, Hauptstraße 5, 10115 Berlin, Germany",
    "blastmail": "Blastmail LLC, 9 Commerce Way, Austin, TX 78701, USA",
}


def sender_domains(accounts: Iterable[str], *, now: datetime) -> list[SenderDomains]:
    """Each account's verified domain, as the platform publishes it before anyone sends."""
    return [
        SenderDomains(
            account_id=account,
            domains=(f"{account}.example",),
            changed_at=now,
            source="demo: domain verification",
        )
        for account in accounts
    ]


def compliant_facts(account: str, *, commercial: bool, domain: str | None = None) -> dict[str, Any]:
    """The account's ordinary, compliant mail (`streams.content.compliant`), with the postal
    address the demo gives each of its accounts."""
    return content_facts(
        account, commercial=commercial, domain=domain, postal_address=_ADDRESSES.get(account)
    )


def template_send(
    request_id: str,
    template: str,
    classification: str,
    list_id: str | None,
    *,
    recipient: str,
    now: datetime,
) -> SendRequest:
    """A send of one of the demo's template files, its facts read as `sendgate check` reads
    them; the mailer reports DMARC p=none for the From domain, as a file cannot say it."""
    facts = facts_from_message((TEMPLATES / template).read_bytes())
    request = request_from_facts(
        facts,
        account_id=TEMPLATE_ACCOUNT,
        classification=classification,  # type: ignore[arg-type]
        jurisdiction="CA",
        send_kind="bulk" if classification == "commercial" else "one_off",
        list_id=list_id,
        recipient=recipient,
        requested_at=now,
        dmarc_policy="none",
    )
    return request.model_copy(update={"request_id": request_id})


TEMPLATE_READER = "template.reader@example.com"


@dataclass(frozen=True)
class ContentCase:
    """A customer of the template's account, and the template sends to them."""

    consent: ConsentEvent
    sends: tuple[SendRequest, ...]
    expected: Mapping[str, tuple[str, ...]]


def signup(
    event_id: str,
    recipient_key: str,
    account_id: str,
    at: datetime,
    *,
    jurisdiction: str | None = None,
) -> ConsentEvent:
    """Express consent given on the account's sign-up form: the demo's ordinary opt-in."""
    return ConsentEvent(
        event_id=event_id,
        recipient_key=recipient_key,
        kind="grant",
        account_id=account_id,
        basis="express",
        jurisdiction=jurisdiction,
        source_kind="form",
        source_id="signup-form",
        occurred_at=at,
    )


def build_content_case(keyer: RecipientKeyer, policy: Policy, *, now: datetime) -> ContentCase:
    """The template sends, to a customer who opted in: what they break is the content alone.
    The expected rules come from the gate's pure rule table over the same records."""
    consent = signup(
        "template-reader-signup",
        keyer.key(TEMPLATE_READER),
        TEMPLATE_ACCOUNT,
        now - timedelta(days=40),
        jurisdiction="CA",
    )
    sends = tuple(template_send(*row, recipient=TEMPLATE_READER, now=now) for row in TEMPLATE_SENDS)
    state = apply_consent_event(None, consent, policy.consent).state
    view = RecipientView(
        consents=state.entries, sender_domains=frozenset({f"{TEMPLATE_ACCOUNT}.example"})
    )
    expected = {
        send.request_id: tuple(
            failure.rule
            for failure in decide(
                send,
                view,
                policy,
                recipient_key=consent.recipient_key,
                decided_at=now,
                request_offset="expected",
                state_offsets={},
            ).failures
        )
        for send in sends
    }
    return ContentCase(consent, sends, expected)
