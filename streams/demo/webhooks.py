"""The demo's ESP story: a platform that sends through Amazon SES and SendGrid learns of a
complaint and a bounce from their webhooks, and the gate acts on them as on raw mail.

Two customers of the demo's shop opted in; SES reports that one marked a message as spam (an
SES complaint notification through SNS) and SendGrid that the other's mailbox does not exist (an
Event Webhook bounce). Both payloads follow the providers' documented formats, carry the send's
identity the way a platform passes it (an SES message tag, a SendGrid custom arg) and are signed
as the providers sign them (`streams.demo.providers`). The next send to each is denied: the
complaint suppresses the customer for the account, the dead address everywhere.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.table import Table

from streams.core.recipient import RecipientKeyer
from streams.core.records import ConsentEvent, SendDecision, SendRequest
from streams.demo.content import TEMPLATE_ACCOUNT, compliant_facts, signup
from streams.demo.providers import SendgridSigner, SnsSigner

__all__ = [
    "EspCase",
    "EspPost",
    "EspRun",
    "NotifyRun",
    "build_esp_case",
    "esp_table",
    "notify_table",
]

ACCOUNT = TEMPLATE_ACCOUNT
COMPLAINER = "kim.complains@example.com"
DEAD_ADDRESS = "old.mailbox@example.net"


@dataclass(frozen=True)
class EspPost:
    """One webhook request as the provider would make it."""

    name: str
    esp: str
    body: bytes
    headers: Mapping[str, str]
    probe: SendRequest
    """The next send to the person the request is about."""


@dataclass(frozen=True)
class EspCase:
    consents: tuple[ConsentEvent, ...]
    posts: tuple[EspPost, ...]
    expected: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class EspRun:
    """The case as posted, and the service's answer to each post."""

    case: EspCase
    statuses: Mapping[str, int]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _probe(request_id: str, recipient: str, now: datetime) -> SendRequest:
    return SendRequest(
        request_id=request_id,
        account_id=ACCOUNT,
        list_id="spring-sale",
        recipient=recipient,
        classification="commercial",
        subject="Spring sale: 20% off boots",
        requested_at=now,
        **compliant_facts(ACCOUNT, commercial=True),
    )


def ses_complaint(recipient: str, now: datetime) -> dict[str, object]:
    """An SES complaint notification (SES's documented "complaint notification" format) about
    a message the platform sent with the message tag `sendgate_account`."""
    message_id = f"0100018c{secrets.token_hex(8)}-demo-000000"
    return {
        "notificationType": "Complaint",
        "complaint": {
            "userAgent": "Yahoo!-Mail-Feedback/2.0",
            "complainedRecipients": [{"emailAddress": recipient}],
            "complaintFeedbackType": "abuse",
            "arrivalDate": _iso(now - timedelta(hours=2)),
            "timestamp": _iso(now - timedelta(minutes=5)),
            "feedbackId": f"0100018c{secrets.token_hex(8)}-feedback-000000",
        },
        "mail": {
            "timestamp": _iso(now - timedelta(hours=2)),
            "messageId": message_id,
            "source": f"news@{ACCOUNT}.example",
            "destination": [recipient],
            "tags": {"sendgate_account": [ACCOUNT], "sendgate_request_id": ["sale-0412"]},
        },
    }


def sendgrid_bounce(recipient: str, now: datetime) -> list[dict[str, object]]:
    """A SendGrid Event Webhook batch with one bounce (the Event Webhook reference's format),
    custom args `sendgate_account` and `sendgate_request_id` set at send time."""
    return [
        {
            "email": recipient,
            "timestamp": int((now - timedelta(minutes=3)).timestamp()),
            "smtp-id": f"<{secrets.token_hex(8)}@{ACCOUNT}.example>",
            "event": "bounce",
            "category": ["spring-sale"],
            "sg_event_id": secrets.token_urlsafe(16),
            "sg_message_id": f"{secrets.token_urlsafe(16)}.filter0001",
            "reason": "550 5.1.1 The email account that you tried to reach does not exist",
            "status": "5.1.1",
            "type": "bounce",
            "sendgate_account": ACCOUNT,
            "sendgate_request_id": "sale-0413",
        }
    ]


def build_esp_case(
    keyer: RecipientKeyer, sns: SnsSigner, sendgrid: SendgridSigner, *, now: datetime
) -> EspCase:
    consents = tuple(
        signup(f"esp-signup-{n}", keyer.key(address), ACCOUNT, now - timedelta(days=30))
        for n, address in enumerate((COMPLAINER, DEAD_ADDRESS))
    )
    sendgrid_body = json.dumps(sendgrid_bounce(DEAD_ADDRESS, now)).encode()
    posts = (
        EspPost(
            "SES complaint (through SNS)",
            "ses",
            sns.notification(ses_complaint(COMPLAINER, now)),
            {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"},
            _probe("esp-after-ses-complaint", COMPLAINER, now),
        ),
        EspPost(
            "SendGrid bounce",
            "sendgrid",
            sendgrid_body,
            sendgrid.headers(sendgrid_body),
            _probe("esp-after-sendgrid-bounce", DEAD_ADDRESS, now),
        ),
    )
    expected = {
        "esp-after-ses-complaint": ("account-unsubscribed",),
        "esp-after-sendgrid-bounce": ("platform-suppressed",),
    }
    return EspCase(consents, posts, expected)


def esp_table(
    case: EspCase, statuses: Mapping[str, int], decisions: Mapping[str, SendDecision]
) -> Table:
    table = Table(title="ESP webhooks (sendgate webhooks)", title_justify="left")
    for column in ("provider event", "answer", "next send", "verdict", "why"):
        table.add_column(column, overflow="fold")
    for post in case.posts:
        decision = decisions.get(post.probe.request_id)
        table.add_row(
            post.name,
            str(statuses.get(post.name, "")),
            post.probe.request_id,
            decision.verdict if decision else "(not decided)",
            "; ".join(f"{f.rule}: {f.explanation}" for f in decision.failures) if decision else "",
        )
    return table


@dataclass(frozen=True)
class NotifyRun:
    """What the demo's receiver saw of the enforcement events `sendgate notify` POSTed: each
    request's event id, type, HTTP answer and whether its signature verified."""

    url: str
    requests: tuple[tuple[str, str, int, bool], ...]
    delivered: Mapping[str, int]
    """Event id -> the tries it took to deliver."""
    awaited: frozenset[str] = frozenset()
    """The enforcement events the run had when the notifier started, all of which it waited for
    (later ones, such as the templates' misuse event, are delivered by a later run of it)."""


def notify_table(run: NotifyRun) -> Table:
    table = Table(
        title=f"Enforcement events by HTTP (sendgate notify -> {run.url})", title_justify="left"
    )
    for column in ("event id", "type", "receiver answered", "signature", "tries to deliver"):
        table.add_column(column, overflow="fold")
    for event_id, event_type, status, verified in run.requests:
        table.add_row(
            event_id if len(event_id) <= 24 else f"{event_id[:20]}…",
            event_type.removeprefix("enforcement."),
            str(status),
            "verified" if verified else "WRONG",
            str(run.delivered.get(event_id, "")) if status // 100 == 2 else "",
        )
    return table
