"""Read Amazon SES notifications and published events (the JSON inside an SNS Message) as
sendgate's delivery events and feedback reports.

Field meanings are AWS's: "Amazon SNS notification contents for Amazon SES" and "Amazon SNS
notification examples for Amazon SES" (docs.aws.amazon.com/ses/latest/dg/notification-contents.html,
notification-examples.html) for notifications (`notificationType`), and "Contents of event data
that Amazon SES publishes to Amazon SNS" and its examples (event-publishing-retrieving-sns-
contents.html, event-publishing-retrieving-sns-examples.html) for event publishing (`eventType`).
Both carry the same `mail`, `bounce`, `complaint` and `delivery` objects; event publishing adds
`deliveryDelay` and kinds sendgate does not act on.

What becomes what, mirroring `streams.bounces.inbound` (a DSN or ARF report the intake reads):

- Bounce: one `DeliveryEvent(kind="bounced")` per `bouncedRecipients` entry. Ours (`bounce_class`,
  `reason`) comes from the entry's `status` and `diagnosticCode` through `classify_bounce`, with
  SES's `bounceType` as the attempt's finality (`Transient` temporary, `Permanent` permanent);
  SES's own word is kept as `esp_classification` (`"Permanent/General"`) and `esp_bounce_class`
  (table below). A `Transient` bounce is still `bounced`, not `deferred`: SES sends one only once
  it has stopped retrying.
- `Permanent/OnAccountSuppressionList` is ignored: SES did not attempt the send, because the
  address is on this AWS account's own suppression list, so no receiver said anything (SES does
  not count it in the bounce rate either). `Permanent/Suppressed` (SES's global list of addresses
  that recently hard-bounced for any sender) is read: it is news about the address.
- DeliveryDelay (event publishing only): one `DeliveryEvent(kind="deferred")` per
  `delayedRecipients` entry, classified as a temporary failure; `esp_classification` is
  `DeliveryDelay/<delayType>`. A delay is no bounce, so `esp_bounce_class` stays None.
- Complaint: one `FeedbackReport` per `complainedRecipients` entry; `feedback_type` from
  `complaintFeedbackType` (the report's ARF Feedback-Type: abuse, auth-failure, fraud, not-spam,
  other, virus), `abuse` when absent, because a complaint SES relays without a report comes from
  an ISP's feedback loop, which is a "this is spam" click. `reporter` is the report's `userAgent`
  (the ISP's feedback-loop software, AWS: "the name and version of the system that generated the
  report"); `arrival_date` its `arrivalDate`. `complaintSubType: OnAccountSuppressionList` is
  ignored: SES sent nothing, the complaint is an old one.
- Delivery: one `DeliveryEvent(kind="delivered")` per `delivery.recipients` address, its
  `smtpResponse` as the diagnostic. The delivery's `reportingMTA` is SES's own sending host, not
  the receiver, so it is not `remote_mta`.
- Every other kind (Send, Reject, Open, Click, Rendering Failure, Subscription, Received, ...) is
  ignored, counted by kind.

SES's `bounceType`/`bounceSubType` and the bounce class we record as SES's view
(`esp_bounce_class`), from the "Bounce types" table of the notification contents page:

| bounceType | bounceSubType | SES says | esp_bounce_class |
|---|---|---|---|
| Permanent | General, NoEmail, Suppressed, any other | remove the recipient now | hard |
| Permanent | OnAccountSuppressionList | not sent, not counted | (ignored) |
| Transient | General, MailboxFull, MessageTooLarge, | you might be able to send | soft |
|           | ContentRejected, AttachmentRejected    | to it in the future       |      |
| Undetermined | Undetermined | not enough information | undetermined |

Ours decides, and they disagree on purpose: SES's `Permanent/General` also covers a receiver's
refusal of the *sender* (a blocklisted IP answered with 5.7.1), which says nothing about the
address; ours reads that as a soft `blocked`.

What is left out: `remoteMtaIp` (an address of a machine, but nothing sendgate needs, and no IP
goes into a record), `mail.source`, `mail.destination` and the other headers (addresses of
people), a diagnostic's addresses (`scrub_addresses`, as for DSNs).

Ids. A record's id comes from SES's ids, never from the SNS MessageId alone: SES may publish the
same event to a notification topic and to an event-publishing topic, and SNS retries a message
with the same MessageId, so both arrive twice and each must give the same ids. Bounces and
complaints: `feedbackId` and the recipient's place in the list (`ses:bounce:<feedbackId>:<n>`).
Deliveries and delays have no feedbackId, and SES sends one delivery notification per receiving
domain of a message (so the place in the list repeats): they use `mail.messageId` and the
address itself, which `event_id` turns into a digest.

A recipient or event that cannot be read (no address, a timestamp that is not a time, no
feedbackId) becomes a `Rejection` with that entry's JSON; `index` is the entry's place in its
recipient list (0 for a problem of the whole event). The reasons name the field, never a value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from streams.bounces.inbound import scrub_addresses
from streams.core.records import (
    BounceClass,
    DeliveryEvent,
    DeliveryKind,
    FeedbackReport,
    FeedbackType,
)
from streams.esp.model import (
    EspContext,
    EspOutcome,
    Rejection,
    SendIdentity,
    classify_bounce,
    event_id,
    send_identity,
)
from streams.esp.reading import Unreadable, after_type, iso_time, kind_label, stripped_text
from streams.parsing.diagnosis import find_status

__all__ = ["SES_BOUNCE_CLASSES", "SES_FEEDBACK_TYPES", "read_ses"]

SES_BOUNCE_CLASSES: Final[dict[str, BounceClass]] = {
    "Permanent": "hard",
    "Transient": "soft",
    "Undetermined": "undetermined",
}
"""SES's bounce class by `bounceType` (see the module docstring's table)."""

SES_FEEDBACK_TYPES: Final[dict[str, FeedbackType]] = {
    "abuse": "abuse",
    "auth-failure": "auth_failure",
    "fraud": "fraud",
    "not-spam": "not_spam",
    "other": "other",
    "virus": "virus",
    "opt-out": "opt_out",
}
"""ARF Feedback-Type (IANA "Feedback Report Type Values") to ours; an unknown one is `other`."""

_SUPPRESSED_BY_ACCOUNT: Final = "OnAccountSuppressionList"


def _raw(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _address(value: object, field: str) -> str:
    address = stripped_text(value)
    if address is None or "@" not in address:
        raise Unreadable(f"the recipient has no {field}")
    return address


def _headers(mail: Mapping[str, Any]) -> list[tuple[str, str]]:
    headers = mail.get("headers")
    if not isinstance(headers, list):
        return []
    return [
        (header["name"], header["value"])
        for header in headers
        if isinstance(header, Mapping)
        and isinstance(header.get("name"), str)
        and isinstance(header.get("value"), str)
    ]


def _message_id(mail: Mapping[str, Any], headers: Sequence[tuple[str, str]]) -> str | None:
    """The original's Message-ID header (as `streams.bounces.inbound` records it), from
    `commonHeaders` or the headers SES includes when configured to; never SES's own
    `mail.messageId`, which is no header."""
    common = stripped_text(_mapping(mail.get("commonHeaders")).get("messageId"))
    if common:
        return common[:998]
    for name, value in headers:
        if name.strip().lower() == "message-id" and value.strip():
            return value.strip()[:998]
    return None


class _Mail:
    """What every record about one SES `mail` object shares."""

    def __init__(self, mail: Mapping[str, Any], context: EspContext, source: str) -> None:
        headers = _headers(mail)
        tags = mail.get("tags")
        self.identity: SendIdentity = send_identity(
            tags if isinstance(tags, Mapping) else None, headers
        )
        self.message_id = _message_id(mail, headers)
        self.ses_message_id = stripped_text(mail.get("messageId"))
        self.context = context
        self.source = source


def read_ses(
    notification: Mapping[str, Any], context: EspContext, *, sns_message_id: str | None
) -> EspOutcome:
    """The records one SES notification or published event gives (see the module docstring).

    `sns_message_id` is the SNS envelope's MessageId; it goes into each record's `source` (which
    message the record was read from), not into its id."""
    source = f"ses/sns:{sns_message_id}" if sns_message_id else "ses/sns"
    kind = stripped_text(notification.get("notificationType")) or stripped_text(
        notification.get("eventType")
    )
    if kind is None:
        return EspOutcome(
            rejections=(Rejection(0, "neither notificationType nor eventType", _raw(notification)),)
        )
    mail = _Mail(_mapping(notification.get("mail")), context, source)
    if kind == "Bounce":
        return _bounce(_mapping(notification.get("bounce")), mail, notification)
    if kind == "Complaint":
        return _complaint(_mapping(notification.get("complaint")), mail, notification)
    if kind == "Delivery":
        return _delivery(_mapping(notification.get("delivery")), mail, notification)
    if kind == "DeliveryDelay":
        return _delay(_mapping(notification.get("deliveryDelay")), mail, notification)
    return EspOutcome(ignored=(kind_label(kind),))


def _recipients(
    event: Mapping[str, Any], field: str, notification: Mapping[str, Any]
) -> list[Any] | Rejection:
    entries = event.get(field)
    if not isinstance(entries, list) or not entries:
        return Rejection(0, f"{field} is missing or empty", _raw(notification))
    return entries


def _bounce(bounce: Mapping[str, Any], mail: _Mail, notification: Mapping[str, Any]) -> EspOutcome:
    bounce_type = stripped_text(bounce.get("bounceType")) or "Undetermined"
    sub_type = stripped_text(bounce.get("bounceSubType")) or "Undetermined"
    if bounce_type == "Permanent" and sub_type == _SUPPRESSED_BY_ACCOUNT:
        return EspOutcome(ignored=("bounce-on-account-suppression-list",))
    feedback_id = stripped_text(bounce.get("feedbackId"))
    entries = _recipients(bounce, "bouncedRecipients", notification)
    if isinstance(entries, Rejection):
        return EspOutcome(rejections=(entries,))
    if feedback_id is None:
        return EspOutcome(
            rejections=(Rejection(0, "bounce has no feedbackId", _raw(notification)),)
        )
    try:
        occurred_at = iso_time(bounce.get("timestamp"), "bounce.timestamp")
    except Unreadable as error:
        return EspOutcome(rejections=(Rejection(0, error.reason, _raw(notification)),))
    remote_mta = after_type(stripped_text(bounce.get("reportingMTA")))
    events: list[DeliveryEvent] = []
    rejections: list[Rejection] = []
    for index, entry in enumerate(entries):
        try:
            recipient = _mapping(entry)
            address = _address(recipient.get("emailAddress"), "emailAddress")
            diagnostic = after_type(stripped_text(recipient.get("diagnosticCode")))
            status = stripped_text(recipient.get("status")) or find_status(diagnostic)
            bounce_class, reason, code = classify_bounce(
                status,
                diagnostic,
                temporary=bounce_type == "Transient",
                permanent=bounce_type == "Permanent",
            )
            events.append(
                _delivery_event(
                    mail,
                    event_id("ses", "bounce", feedback_id, str(index)),
                    address,
                    kind="bounced",
                    occurred_at=occurred_at,
                    bounce_class=bounce_class,
                    reason=reason,
                    status=code,
                    diagnostic=diagnostic,
                    remote_mta=remote_mta,
                    esp_event_id=feedback_id,
                    esp_classification=f"{bounce_type}/{sub_type}",
                    esp_bounce_class=SES_BOUNCE_CLASSES.get(bounce_type, "undetermined"),
                )
            )
        except Unreadable as error:
            rejections.append(Rejection(index, error.reason, _raw(entry)))
    return EspOutcome(delivery_events=tuple(events), rejections=tuple(rejections))


def _delay(delay: Mapping[str, Any], mail: _Mail, notification: Mapping[str, Any]) -> EspOutcome:
    entries = _recipients(delay, "delayedRecipients", notification)
    if isinstance(entries, Rejection):
        return EspOutcome(rejections=(entries,))
    if mail.ses_message_id is None:
        return EspOutcome(rejections=(Rejection(0, "mail has no messageId", _raw(notification)),))
    delay_type = stripped_text(delay.get("delayType")) or "Undetermined"
    timestamp = stripped_text(delay.get("timestamp")) or ""
    try:
        occurred_at = iso_time(delay.get("timestamp"), "deliveryDelay.timestamp")
    except Unreadable as error:
        return EspOutcome(rejections=(Rejection(0, error.reason, _raw(notification)),))
    events: list[DeliveryEvent] = []
    rejections: list[Rejection] = []
    for index, entry in enumerate(entries):
        try:
            recipient = _mapping(entry)
            address = _address(recipient.get("emailAddress"), "emailAddress")
            diagnostic = after_type(stripped_text(recipient.get("diagnosticCode")))
            status = stripped_text(recipient.get("status")) or find_status(diagnostic)
            bounce_class, reason, code = classify_bounce(
                status, diagnostic, temporary=True, permanent=False
            )
            events.append(
                _delivery_event(
                    mail,
                    # SES may report a message delayed more than once: the delay's own time
                    # tells the reports apart, and is the same in every copy of one report.
                    event_id("ses", "delay", mail.ses_message_id, timestamp, address),
                    address,
                    kind="deferred",
                    occurred_at=occurred_at,
                    bounce_class=bounce_class,
                    reason=reason,
                    status=code,
                    diagnostic=diagnostic,
                    remote_mta=None,
                    esp_event_id=mail.ses_message_id,
                    esp_classification=f"DeliveryDelay/{delay_type}",
                    esp_bounce_class=None,
                )
            )
        except Unreadable as error:
            rejections.append(Rejection(index, error.reason, _raw(entry)))
    return EspOutcome(delivery_events=tuple(events), rejections=tuple(rejections))


def _delivery(
    delivery: Mapping[str, Any], mail: _Mail, notification: Mapping[str, Any]
) -> EspOutcome:
    entries = _recipients(delivery, "recipients", notification)
    if isinstance(entries, Rejection):
        return EspOutcome(rejections=(entries,))
    if mail.ses_message_id is None:
        return EspOutcome(rejections=(Rejection(0, "mail has no messageId", _raw(notification)),))
    try:
        occurred_at = iso_time(delivery.get("timestamp"), "delivery.timestamp")
    except Unreadable as error:
        return EspOutcome(rejections=(Rejection(0, error.reason, _raw(notification)),))
    response = stripped_text(delivery.get("smtpResponse"))
    events: list[DeliveryEvent] = []
    rejections: list[Rejection] = []
    for index, entry in enumerate(entries):
        try:
            address = _address(entry, "address")
            events.append(
                _delivery_event(
                    mail,
                    event_id("ses", "delivery", mail.ses_message_id, address),
                    address,
                    kind="delivered",
                    occurred_at=occurred_at,
                    bounce_class=None,
                    reason=None,
                    status=None,
                    diagnostic=response,
                    remote_mta=None,
                    esp_event_id=mail.ses_message_id,
                    esp_classification="Delivery",
                    esp_bounce_class=None,
                )
            )
        except Unreadable as error:
            rejections.append(Rejection(index, error.reason, _raw(entry)))
    return EspOutcome(delivery_events=tuple(events), rejections=tuple(rejections))


def _delivery_event(
    mail: _Mail,
    record_id: str,
    address: str,
    *,
    kind: DeliveryKind,
    occurred_at: datetime,
    bounce_class: BounceClass | None,
    reason: str | None,
    status: str | None,
    diagnostic: str | None,
    remote_mta: str | None,
    esp_event_id: str,
    esp_classification: str,
    esp_bounce_class: BounceClass | None,
) -> DeliveryEvent:
    context = mail.context
    try:
        return DeliveryEvent(
            event_id=record_id,
            recipient_key=context.recipient_key(address),
            kind=kind,
            bounce_class=bounce_class,
            reason=reason,
            status=status,
            diagnostic=scrub_addresses(diagnostic),
            remote_mta=remote_mta[:255] if remote_mta else None,
            account_id=mail.identity.account_id,
            request_id=mail.identity.request_id,
            message_id=mail.message_id,
            occurred_at=occurred_at,
            source=mail.source,
            provider=context.provider_of(address),
            esp="ses",
            esp_event_id=esp_event_id[:255],
            esp_classification=esp_classification[:200],
            esp_bounce_class=esp_bounce_class,
        )
    except ValidationError as error:
        fields = ", ".join(sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]}))
        raise Unreadable(f"the event does not make a delivery event ({fields})") from error


def _complaint(
    complaint: Mapping[str, Any], mail: _Mail, notification: Mapping[str, Any]
) -> EspOutcome:
    if stripped_text(complaint.get("complaintSubType")) == _SUPPRESSED_BY_ACCOUNT:
        return EspOutcome(ignored=("complaint-on-account-suppression-list",))
    entries = _recipients(complaint, "complainedRecipients", notification)
    if isinstance(entries, Rejection):
        return EspOutcome(rejections=(entries,))
    feedback_id = stripped_text(complaint.get("feedbackId"))
    if feedback_id is None:
        return EspOutcome(
            rejections=(Rejection(0, "complaint has no feedbackId", _raw(notification)),)
        )
    context = mail.context
    try:
        received_at = iso_time(
            complaint.get("timestamp"), "complaint.timestamp", default=context.received_at
        )
        arrival = complaint.get("arrivalDate")
        arrival_date = iso_time(arrival, "complaint.arrivalDate") if arrival is not None else None
    except Unreadable as error:
        return EspOutcome(rejections=(Rejection(0, error.reason, _raw(notification)),))
    word = stripped_text(complaint.get("complaintFeedbackType"))
    feedback_type: FeedbackType = SES_FEEDBACK_TYPES.get(word.lower(), "other") if word else "abuse"
    agent = scrub_addresses(stripped_text(complaint.get("userAgent")))
    reports: list[FeedbackReport] = []
    rejections: list[Rejection] = []
    for index, entry in enumerate(entries):
        try:
            address = _address(_mapping(entry).get("emailAddress"), "emailAddress")
            reports.append(
                FeedbackReport(
                    report_id=event_id("ses", "complaint", feedback_id, str(index)),
                    recipient_key=context.recipient_key(address),
                    feedback_type=feedback_type,
                    reporter=agent[:255] if agent else None,
                    account_id=mail.identity.account_id,
                    request_id=mail.identity.request_id,
                    list_id=mail.identity.list_id,
                    original_message_id=mail.message_id,
                    arrival_date=arrival_date,
                    received_at=received_at,
                    source=mail.source,
                    provider=context.provider_of(address),
                    esp="ses",
                    esp_event_id=feedback_id[:255],
                    esp_feedback_type=(word or "complaint")[:100],
                )
            )
        except Unreadable as error:
            rejections.append(Rejection(index, error.reason, _raw(entry)))
        except ValidationError as error:
            fields = ", ".join(sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]}))
            reason = f"the complaint does not make a feedback report ({fields})"
            rejections.append(Rejection(index, reason, _raw(entry)))
    return EspOutcome(feedback_reports=tuple(reports), rejections=tuple(rejections))
