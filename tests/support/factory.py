"""The records the tests send through the gate, built one way: keyword arguments over defaults.

Each builder takes the record's own field names as keyword arguments and fills in the rest with
realistic defaults: the account `acme`, its list `news`, the reader `ana@example.com` (RFC 2606
example domains and RFC 5737 documentation networks only, never a real person or network) and
one fixed moment, `AT`. A test names only what it is about, so a reader sees at a glance which
fields matter to it; a module whose tests share other values (their own account, reader or
moment) binds them once, `functools.partial(send_request, account_id=..., requested_at=...)`.

Ids a test does not give are derived from the rest of the record (`<kind>-<10 hex digits>`): the
same record built twice carries the same id, as a redelivered record would, which is what the
keepers' replay checks see; two records that differ in any field never share one. A test that
means two separate events with identical fields (a click repeated a day later, not redelivered)
names their ids itself.

Mail built here passes every content rule by default (`compliant_content`): the account's
verified domain `<account>.example`, a named sender, DKIM and SPF aligned, DMARC published, the
postal address in the footer and, in commercial mail, the reason the person gets it and an
unsubscribe link, so a test about suppressions, consent or rates fails only the rules it is
about. The content rules themselves are tested in tests/unit/test_content_rules.py.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from streams.content.compliant import compliant_facts
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    ConsentEntry,
    ConsentEvent,
    DeliveryEvent,
    FeedbackReport,
    InboundMail,
    Record,
    SenderDomains,
    SendRequest,
    SuppressionEntry,
    SuppressionState,
    UnsubscribeClick,
)
from streams.rules import RecipientView

__all__ = [
    "ACCOUNT",
    "AT",
    "KEY",
    "KEYER",
    "LIST",
    "RECIPIENT",
    "SECRET",
    "compliant_content",
    "consent_entry",
    "consent_event",
    "delivery_event",
    "feedback_report",
    "inbound_mail",
    "recipient_view",
    "send_request",
    "sender_domains",
    "suppression_entry",
    "suppression_state",
    "unsubscribe_click",
]

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
"""The moment records are made at unless a test says otherwise (a Monday morning, UTC)."""
ACCOUNT = "acme"
LIST = "news"
RECIPIENT = "ana@example.com"
SECRET = "tests-factory-recipient-secret-0123456789"
"""The tests' own platform secret. A gate built on it (tests/agents/conftest.py) keys
`RECIPIENT` as `KEY`, so the records built here are about the person its sends go to."""
KEYER = RecipientKeyer(SECRET.encode())
KEY = KEYER.key(RECIPIENT)
"""The recipient key of `RECIPIENT` under `KEYER`: the person records are about by default."""

R = TypeVar("R", bound=Record)


def _build(record_type: type[R], id_field: str, kind: str, values: dict[str, Any]) -> R:
    """The record, its id derived from every other field when the test gives none."""
    if id_field in values:
        return record_type.model_validate(values)
    draft = record_type.model_validate({**values, id_field: "draft"})
    digest = hashlib.sha256(draft.model_dump_json(exclude={id_field}).encode()).hexdigest()
    return record_type.model_validate({**values, id_field: f"{kind}-{digest[:10]}"})


def compliant_content(
    account: str = ACCOUNT, domain: str | None = None, *, commercial: bool = True
) -> dict[str, Any]:
    """The From, body and authentication of the account's ordinary mail from its verified
    `domain` (default `<account>.example`), as SendRequest fields that pass every content rule
    (`streams.content.compliant`)."""
    return compliant_facts(account, commercial=commercial, domain=domain)


def send_request(*, domain: str | None = None, **fields: Any) -> SendRequest:
    """A bulk send of `acme`'s newsletter `news` to `RECIPIENT` at `AT`, compliant in content
    from `domain` (default `<account>.example`); a transactional one is a receipt ("Your order
    1042") from the same domain, unless it carries promotional content (then it is written as
    the commercial mail it is judged as). Any field given replaces its default."""
    account = fields.get("account_id", ACCOUNT)
    commercial = fields.get("classification", "commercial") == "commercial" or fields.get(
        "promotional_content", False
    )
    values: dict[str, Any] = {
        "account_id": account,
        "list_id": LIST,
        "recipient": RECIPIENT,
        "classification": "commercial",
        "subject": "Autumn offers" if commercial else "Your order 1042",
        "requested_at": AT,
        **compliant_content(account, domain, commercial=commercial),
        **fields,
    }
    return _build(SendRequest, "request_id", "req", values)


def _scoped(fields: dict[str, Any]) -> dict[str, Any]:
    """Scope `list` (the default) names `acme` and `news`, `account` only `acme`, `platform`
    neither, unless the test gives them."""
    scope = fields.get("scope", "list")
    return {
        "scope": scope,
        "account_id": None if scope == "platform" else ACCOUNT,
        "list_id": LIST if scope == "list" else None,
        **fields,
    }


def unsubscribe_click(**fields: Any) -> UnsubscribeClick:
    """`RECIPIENT` unsubscribes from `acme`'s `news` with one click (RFC 8058) at `AT`; another
    `scope` names only what it covers."""
    values = {"recipient_key": KEY, "method": "one_click", "clicked_at": AT, **_scoped(fields)}
    return _build(UnsubscribeClick, "click_id", "click", values)


def suppression_entry(**fields: Any) -> SuppressionEntry:
    """The entry an unsubscribe from `acme`'s `news` at `AT` leaves in the suppressions."""
    values = {
        "reason": "unsubscribe",
        "since": AT,
        "source": "unsubscribe-clicks/0/0",
        **_scoped(fields),
    }
    return _build(SuppressionEntry, "source_event_id", "click", values)


def suppression_state(*entries: SuppressionEntry, **fields: Any) -> SuppressionState:
    """A recipient's suppressions holding `entries`, having applied the events they came from."""
    values: dict[str, Any] = {
        "entries": entries,
        "applied_event_ids": tuple(entry.source_event_id for entry in entries),
        **fields,
    }
    return SuppressionState.model_validate(values)


def consent_event(**fields: Any) -> ConsentEvent:
    """`RECIPIENT` signs up to everything of `acme` on its sign-up form at `AT` (express consent);
    an `import` or `review_approved` comes from import `import-1`. Other kinds carry no basis."""
    kind = fields.get("kind", "grant")
    imported = kind in ("import", "review_approved")
    values = {
        "recipient_key": KEY,
        "kind": kind,
        "account_id": ACCOUNT,
        "basis": "express" if kind in ("grant", "import") else None,
        "source_kind": "import" if imported else "form",
        "source_id": "import-1" if imported else None,
        "occurred_at": AT,
        **fields,
    }
    return _build(ConsentEvent, "event_id", "consent", values)


def consent_entry(**fields: Any) -> ConsentEntry:
    """What the consent keeper holds after `RECIPIENT` opted in to everything of `acme` with
    express consent 30 days before `AT` (single opt-in)."""
    values = {
        "account_id": ACCOUNT,
        "status": "single_opt_in",
        "basis": "express",
        "source_kind": "form",
        "granted_at": AT - timedelta(days=30),
        **fields,
    }
    return _build(ConsentEntry, "last_event_id", "consent", values)


def recipient_view(**fields: Any) -> RecipientView:
    """What the gate knows of `RECIPIENT` when every rule is silent for `send_request()`: opted
    in to `acme` (`consent_entry()`), nothing suppressed, `acme.example` verified."""
    values = {
        "consents": (consent_entry(),),
        "sender_domains": frozenset({f"{ACCOUNT}.example"}),
        **fields,
    }
    return RecipientView(**values)


def sender_domains(**fields: Any) -> SenderDomains:
    """The platform publishes that `acme` verified `acme.example` (the `sender-domains` topic);
    another `account_id` verified `<account>.example` unless `domains` says otherwise."""
    account = fields.get("account_id", ACCOUNT)
    values = {
        "account_id": account,
        "domains": (f"{account}.example",),
        "changed_at": AT,
        "source": "test",
        **fields,
    }
    return SenderDomains.model_validate(values)


def delivery_event(**fields: Any) -> DeliveryEvent:
    """The MTA delivered `acme`'s mail to `RECIPIENT` at `AT`; a `bounced` kind names its
    `bounce_class`."""
    values = {
        "recipient_key": KEY,
        "kind": "delivered",
        "account_id": ACCOUNT,
        "occurred_at": AT,
        "source": "mta-1",
        **fields,
    }
    return _build(DeliveryEvent, "event_id", "delivery", values)


def feedback_report(**fields: Any) -> FeedbackReport:
    """An ISP's feedback loop reports `acme`'s mail to `RECIPIENT` as spam (RFC 5965 `abuse`),
    received at `AT`."""
    values = {
        "recipient_key": KEY,
        "feedback_type": "abuse",
        "reporter": "fbl.example.net",
        "account_id": ACCOUNT,
        "received_at": AT,
        "source": "fbl",
        **fields,
    }
    return _build(FeedbackReport, "report_id", "report", values)


def inbound_mail(**fields: Any) -> InboundMail:
    """A reply asking to unsubscribe, taken in by the SMTP intake at `AT` for a VERP return
    path."""
    values = {
        "received_at": AT,
        "mail_from": "",
        "rcpt_to": ("b-token@bounces.example.net",),
        "raw": b"From: reader@example.com\r\nSubject: Re: offers\r\n\r\nunsubscribe\r\n",
        **fields,
    }
    return _build(InboundMail, "intake_id", "in", values)
