"""Read SendGrid's Event Webhook and check its signature (the Signed Event Webhook: ECDSA over
P-256 with SHA-256).

Field meanings are SendGrid's: "Event Webhook Reference"
(https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event), the signature
"Getting Started with the Event Webhook Security Features"
(https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features),
the classifications "Bounce and Block Classifications"
(https://www.twilio.com/docs/sendgrid/ui/analytics-and-reporting/bounce-and-block-classifications).

SendGrid posts a JSON array of events; each names its recipient (`email`), its kind (`event`),
when it happened (`timestamp`, unix seconds), its own id (`sg_event_id`, "a unique ID to this
event that you can use for deduplication") and the `smtp-id` of the message. Custom arguments set
at send time come back as top-level keys of each event, so `send_identity` reads the gate's
metadata names straight from the event.

| SendGrid event | sendgate | why |
|---|---|---|
| `delivered` | delivered | the receiving server accepted it |
| `deferred` | deferred (soft) | "temporarily rejected"; SendGrid tries again |
| `bounce` (type `bounce`, `blocked`) | bounced | refused, and SendGrid gives the message up |
| `spamreport` | feedback report, abuse | "Recipient marked message as spam" |
| `unsubscribe`, `group_unsubscribe` | ignored (an opt-out, below) | the recipient opted out |
| `dropped` | ignored | SendGrid did not try: nothing reached a mailbox |
| `processed`, `open`, `click` | ignored | no delivery outcome, no complaint |
| `group_resubscribe`, `account_status_change` | ignored | idem |

`dropped` is SendGrid refusing to send to an address on its own lists (bounced, unsubscribed,
reported spam) or an invalid one: no mailbox provider saw the message, so it says nothing new
about the address nor about the sender's standing, and counting it would count one bounce twice.

A bounce is classified by sendgate (`classify_bounce` with SendGrid's `status` and its `reason`,
the receiving server's words), which decides; SendGrid's own word is kept beside it:
`esp_classification` is `<type>/<bounce_classification>` (`bounce/Invalid Address`,
`blocked/Reputation`, or just the type for payloads from before the classifications), and
`esp_bounce_class` is what SendGrid's documentation says that word means:

| SendGrid's word | class | SendGrid's documentation |
|---|---|---|
| `Invalid Address` | hard | "often referred to as hard bounces" (Classifications) |
| `Mailbox Unavailable` | soft | the mailbox exists but cannot take mail now |
| `Technical` (`Technical Failure`) | soft | a failure of the systems, not the address |
| `Content`, `Reputation` | soft | a refusal of the message or the sender |
| `Frequency or Volume Too High` | soft | a refusal of the sender's rate |
| `Unclassified`, none, unknown | by type | SendGrid did not classify the response |
| type `bounce` (or none) | hard | "a hard bounce (type=bounce)" (Reference) |
| type `blocked` | soft | "or block (type=blocked)" (Reference) |
| event `deferred` | soft | "temporarily rejected" (Reference) |

Unsubscribes. `unsubscribe` is the recipient's "Opt Out of All Emails" through SendGrid's
subscription management link, `group_unsubscribe` their leaving one unsubscribe group: real
opt-outs, which sendgate records as `UnsubscribeClick` (method `link`). `EspOutcome` has no field
for them, so `read_sendgrid` counts them as ignored and `sendgrid_unsubscribes` returns the
clicks, at the narrowest scope the send's identity names (a group is a list when the send named
its list; "all emails" is the account).

An event that cannot be read (no recipient, no id, no time, a kind SendGrid does not document)
becomes a `Rejection` with its JSON; the rest of the batch is read.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from streams.bounces.inbound import scrub_addresses
from streams.core.records import BounceClass, DeliveryEvent, FeedbackReport, UnsubscribeClick
from streams.esp.model import (
    EspContext,
    EspOutcome,
    NotAuthentic,
    Rejection,
    classify_bounce,
    event_id,
    send_identity,
)
from streams.esp.reading import (
    check_fresh,
    event_time,
    invalid_fields,
    opt_out_scope,
    raw_json,
    text_of,
    unknown_kind,
)

__all__ = [
    "ESP_BOUNCE_CLASSES",
    "IGNORED_EVENTS",
    "SIGNATURE_HEADER",
    "SOURCE",
    "TIMESTAMP_HEADER",
    "UNSUBSCRIBE_EVENTS",
    "load_sendgrid_public_key",
    "read_sendgrid",
    "sendgrid_unsubscribes",
    "verify_sendgrid_signature",
]

SIGNATURE_HEADER: Final = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER: Final = "X-Twilio-Email-Event-Webhook-Timestamp"
SOURCE: Final = "webhook:sendgrid"
"""The `source` of every record read here: SendGrid's Event Webhook."""

ESP_BOUNCE_CLASSES: Final[dict[str, BounceClass]] = {
    "Invalid Address": "hard",
    "Mailbox Unavailable": "soft",
    "Technical": "soft",
    "Technical Failure": "soft",
    "Content": "soft",
    "Reputation": "soft",
    "Frequency or Volume Too High": "soft",
}
"""SendGrid's bounce classification -> what SendGrid says it means (the table above);
`Unclassified` and unknown words fall back to the bounce type."""
_TYPE_CLASSES: Final[dict[str, BounceClass]] = {"bounce": "hard", "blocked": "soft"}

UNSUBSCRIBE_EVENTS: Final = frozenset({"unsubscribe", "group_unsubscribe"})
IGNORED_EVENTS: Final = frozenset(
    {
        "processed",
        "dropped",
        "open",
        "click",
        "group_resubscribe",
        "account_status_change",
        *UNSUBSCRIBE_EVENTS,
    }
)
_READ_EVENTS: Final = frozenset({"delivered", "deferred", "bounce", "spamreport"})
_MAX_ESP_ID: Final = 255


@lru_cache(maxsize=8)
def load_sendgrid_public_key(public_key: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 of the DER SubjectPublicKeyInfo) or as
    PEM. A key that is none of these is a configuration error (ValueError), not a refusal of a
    request: the service should load it once at start and fail there."""
    text = public_key.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            der = base64.b64decode("".join(text.split()), validate=True)
            key = serialization.load_der_public_key(der)
    except (ValueError, binascii.Error, UnsupportedAlgorithm, UnicodeEncodeError):
        raise ValueError("the SendGrid verification key is not a public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("the SendGrid verification key is not an ECDSA P-256 public key")
    return key


def verify_sendgrid_signature(
    public_key: str,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    *,
    now: datetime,
    tolerance_s: float,
) -> None:
    """Refuse a request SendGrid did not sign, or signed longer than `tolerance_s` from `now`.

    The signature covers the timestamp header followed by the body's raw bytes, so the body must
    be the bytes as received (SendGrid warns that re-encoding the JSON breaks it). The signature
    is checked before the time, so `stale` always means "SendGrid's, but outside the window" and a
    forgery is always `bad-signature`. `DEFAULT_TOLERANCE_S` (`streams.esp.reading`) is the
    window we recommend, and says why there is one."""
    if not signature or not timestamp:
        raise NotAuthentic(
            "missing-signature",
            f"no {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header",
            status=401,
        )
    key = load_sendgrid_public_key(public_key)
    try:
        der = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise NotAuthentic("bad-signature", "the signature is not base64") from None
    try:
        key.verify(der, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise NotAuthentic(
            "bad-signature", "the signature does not match the timestamp and body"
        ) from None
    check_fresh(timestamp, now=now, tolerance_s=tolerance_s)


def read_sendgrid(events: Sequence[Any], context: EspContext) -> EspOutcome:
    """The records of one Event Webhook post (the table in the module docstring)."""
    deliveries: list[DeliveryEvent] = []
    reports: list[FeedbackReport] = []
    ignored: list[str] = []
    rejections: list[Rejection] = []
    for index, event in enumerate(events):
        read = _read_event(event)
        if isinstance(read, str):
            rejections.append(Rejection(index, read, raw_json(event)))
            continue
        kind, fields = read
        try:
            if fields is None or kind in UNSUBSCRIBE_EVENTS:
                ignored.append(kind)
            elif kind == "spamreport":
                reports.append(_report(event, fields, context))
            else:
                deliveries.append(_delivery(kind, event, fields, context))
        except ValidationError as error:
            rejections.append(Rejection(index, invalid_fields(error, kind), raw_json(event)))
    return EspOutcome(
        delivery_events=tuple(deliveries),
        feedback_reports=tuple(reports),
        ignored=tuple(ignored),
        rejections=tuple(rejections),
    )


def sendgrid_unsubscribes(
    events: Sequence[Any], context: EspContext
) -> tuple[UnsubscribeClick, ...]:
    """The opt-outs among one post's events (`unsubscribe`, `group_unsubscribe`), which
    `read_sendgrid` counts as ignored because `EspOutcome` has no place for them. An event that
    `read_sendgrid` rejects gives none."""
    clicks: list[UnsubscribeClick] = []
    for event in events:
        read = _read_event(event)
        if isinstance(read, str) or read[1] is None or read[0] not in UNSUBSCRIBE_EVENTS:
            continue
        kind, fields = read
        identity = send_identity(event, ())
        scope, account_id, list_id = opt_out_scope(identity, list_wide=kind == "group_unsubscribe")
        clicks.append(
            UnsubscribeClick(
                click_id=fields.record_id,
                recipient_key=context.recipient_key(fields.email),
                scope=scope,
                account_id=account_id if scope != "platform" else None,
                list_id=list_id,
                method="link",
                reason="unsubscribe",
                clicked_at=fields.occurred_at,
            )
        )
    return tuple(clicks)


@dataclass(frozen=True)
class _Fields:
    """What every event sendgate reads must carry, checked once."""

    email: str
    esp_id: str
    occurred_at: datetime

    @property
    def record_id(self) -> str:
        return event_id("sendgrid", self.esp_id)


def _read_event(event: object) -> tuple[str, _Fields | None] | str:
    """(kind, its checked fields) or the reason the event cannot be read. Kinds sendgate takes
    no action on need no fields, except the opt-outs, which are read elsewhere."""
    if not isinstance(event, Mapping):
        return "an event that is not a JSON object"
    kind = text_of(event, "event")
    if kind is None:
        return "an event with no event type"
    if kind not in _READ_EVENTS and kind not in IGNORED_EVENTS:
        return unknown_kind("SendGrid", kind)
    if kind in IGNORED_EVENTS and kind not in UNSUBSCRIBE_EVENTS:
        return kind, None
    email = text_of(event, "email")
    if email is None:
        return f"a {kind} event with no recipient address"
    esp_id = text_of(event, "sg_event_id")
    if esp_id is None:
        return f"a {kind} event with no sg_event_id"
    if len(esp_id) > _MAX_ESP_ID or "@" in esp_id:
        return f"a {kind} event whose sg_event_id is not an event id"
    occurred_at = event_time(event.get("timestamp"))
    if occurred_at is None:
        return f"a {kind} event with no unix timestamp"
    return kind, _Fields(email, esp_id, occurred_at)


def _message_id(event: Mapping[str, Any]) -> str | None:
    value = text_of(event, "smtp-id")
    return value[:998] if value else None


def _delivery(
    kind: str, event: Mapping[str, Any], fields: _Fields, context: EspContext
) -> DeliveryEvent:
    identity = send_identity(event, ())
    common: dict[str, Any] = {
        "event_id": fields.record_id,
        "recipient_key": context.recipient_key(fields.email),
        "account_id": identity.account_id,
        "request_id": identity.request_id,
        "message_id": _message_id(event),
        "occurred_at": fields.occurred_at,
        "source": SOURCE,
        "provider": context.provider_of(fields.email) or None,
        "esp": "sendgrid",
        "esp_event_id": fields.esp_id,
    }
    if kind == "delivered":
        return DeliveryEvent(kind="delivered", **common)
    if kind == "deferred":
        # SendGrid's `response` is the receiving server's reply; a deferral has no `status`.
        text = text_of(event, "response") or text_of(event, "reason")
        bounce_class, reason, code = classify_bounce(None, text, temporary=True, permanent=False)
        return DeliveryEvent(
            kind="deferred",
            bounce_class=bounce_class,
            reason=reason,
            status=code,
            diagnostic=scrub_addresses(text),
            esp_classification="deferred",
            esp_bounce_class="soft",
            **common,
        )
    text = text_of(event, "reason")
    bounce_class, reason, code = classify_bounce(
        text_of(event, "status"), text, temporary=False, permanent=True
    )
    bounce_type = text_of(event, "type") or "bounce"
    classification = text_of(event, "bounce_classification")
    return DeliveryEvent(
        kind="bounced",
        bounce_class=bounce_class,
        reason=reason,
        status=code,
        diagnostic=scrub_addresses(text),
        esp_classification=(f"{bounce_type}/{classification}" if classification else bounce_type)[
            :200
        ],
        esp_bounce_class=_esp_bounce_class(bounce_type, classification),
        **common,
    )


def _esp_bounce_class(bounce_type: str, classification: str | None) -> BounceClass:
    """SendGrid's own class of a bounce (the second table of the module docstring)."""
    if classification is not None and classification in ESP_BOUNCE_CLASSES:
        return ESP_BOUNCE_CLASSES[classification]
    return _TYPE_CLASSES.get(bounce_type, "undetermined")


def _report(event: Mapping[str, Any], fields: _Fields, context: EspContext) -> FeedbackReport:
    """A spam report. SendGrid does not say which mailbox provider passed it on, nor when the
    original arrived; the event's time is when the complaint reached SendGrid, which is when it
    was received as far as sendgate can know."""
    identity = send_identity(event, ())
    return FeedbackReport(
        report_id=fields.record_id,
        recipient_key=context.recipient_key(fields.email),
        feedback_type="abuse",
        account_id=identity.account_id,
        request_id=identity.request_id,
        list_id=identity.list_id,
        original_message_id=_message_id(event),
        received_at=fields.occurred_at,
        source=SOURCE,
        provider=context.provider_of(fields.email) or None,
        esp="sendgrid",
        esp_event_id=fields.esp_id,
        esp_feedback_type="spamreport",
    )
