"""Read Postmark webhooks (bounce, spam complaint, delivery) as sendgate's records, and check a
webhook request's credentials.

Field meanings are Postmark's: "Bounce webhook", "Spam complaint webhook" and "Delivery webhook"
(postmarkapp.com/developer/webhooks/bounce-webhook, spam-complaint-webhook, delivery-webhook)
and the "Bounce types" table of the Bounce API (postmarkapp.com/developer/api/bounce-api).
One request carries one record, told apart by `RecordType`.

What becomes what, mirroring `streams.bounces.inbound`:

- `Bounce`: one `DeliveryEvent` about `Email`. Ours comes from `classify_bounce` over the status
  code and reply Postmark passes on in `Details` (the receiver's words), with the type's
  finality below as the hint; Postmark's `Type` is kept as `esp_classification` and its class as
  `esp_bounce_class`. A bounce of type `SpamComplaint` (Postmark used to send complaints through
  the bounce webhook) is read as a complaint.
- `SpamComplaint`: one `FeedbackReport(feedback_type="abuse")`: Postmark records one "when a user
  clicks This is Spam or Mark as Spam"; `BouncedAt` is when.
- `Delivery`: one `DeliveryEvent(kind="delivered")` about `Recipient` at `DeliveredAt`, its
  `Details` (the receiver's reply) as the diagnostic.
- Every other `RecordType` (Open, Click, SubscriptionChange, Inbound, ...) is ignored by kind.

Postmark's bounce types (the Bounce API's "Bounce types" table; its words in quotes), what each
becomes, the hint it gives `classify_bounce` and Postmark's own class:

| Type | Postmark says | becomes | hint | esp class |
|---|---|---|---|---|
| HardBounce | "unknown user, mailbox not found" | bounced | permanent | hard |
| BadEmailAddress | "not a valid email address" | bounced | permanent | hard |
| SoftBounce | "mailbox full, account disabled, exceeds quota" | bounced | temporary | soft |
| DnsError | "a temporary DNS error" | bounced | temporary | soft |
| Transient | "message is delayed" | deferred | temporary | soft |
| SpamNotification | "classified as spam ... or had rejected content" | bounced | - | soft |
| VirusNotification | "a virus notification" | bounced | - | soft |
| Blocked | the receiving ISP blocked the message | bounced | permanent | soft |
| DMARCPolicy | refused for the sender domain's DMARC policy | bounced | permanent | soft |
| Unknown, or a type not listed | "unable to classify the NDR" | bounced | - | undetermined |
| SpamComplaint | "marked this message as spam" | a complaint | | |
| AutoResponder, ChallengeVerification, AddressChange | | ignored | | |
| Subscribe, Unsubscribe, OpenRelayTest | | ignored | | |
| ManuallyDeactivated, Unconfirmed | | ignored | | |
| SMTPApiError, InboundError, TemplateRenderingFailed | | ignored | | |

The ignored ones are replies to the mail rather than failures (an out-of-office, a challenge,
a request to unsubscribe or to use another address), Postmark's own state (an address a user
deactivated by hand: no receiver spoke) or errors of the sending side before any delivery.

"hint" is what the type says about the attempt (final or a temporary refusal), never about
why; "-" leaves it to the code and wording. Blocked and DMARCPolicy are refusals of the sender,
soft in Postmark's view too (it does not deactivate the address for them).

Identity comes from `Metadata` only (the names in `METADATA_NAMES`): `Tag` is one free string a
sender uses for anything. Postmark's `MessageID` is its own id, no Message-ID header, so
`message_id` stays None; it is the `esp_event_id` of a delivery.

Ids: a bounce's or complaint's Postmark `ID` (`postmark:bounce:<ID>`); a delivery has none, so
its `MessageID` and `Recipient` (which `event_id` digests).

Authentication (`check_postmark_auth`): Postmark signs nothing. A webhook URL may carry HTTP basic
credentials (`https://user:pass@host/...`), and a webhook may send custom headers; the service
configures either or both, and every configured one must be present and right. Comparisons are
constant-time. A request without them is answered 401, one with wrong ones 403.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import ValidationError

from streams.bounces.inbound import scrub_addresses
from streams.core.records import BounceClass, DeliveryEvent, DeliveryKind, FeedbackReport
from streams.esp.model import (
    EspContext,
    EspOutcome,
    NotAuthentic,
    Rejection,
    classify_bounce,
    event_id,
    send_identity,
)
from streams.esp.reading import Unreadable, after_type, iso_time, kind_label, stripped_text
from streams.parsing.diagnosis import find_status

__all__ = ["POSTMARK_BOUNCE_TYPES", "PostmarkBounceType", "check_postmark_auth", "read_postmark"]


@dataclass(frozen=True)
class PostmarkBounceType:
    """What one Postmark bounce `Type` becomes (see the module docstring's table)."""

    kind: DeliveryKind | Literal["ignored", "complaint"]
    esp_bounce_class: BounceClass | None = None
    temporary: bool = False
    permanent: bool = False


_IGNORED: Final = PostmarkBounceType("ignored")
_UNKNOWN: Final = PostmarkBounceType("bounced", "undetermined")

POSTMARK_BOUNCE_TYPES: Final[dict[str, PostmarkBounceType]] = {
    "HardBounce": PostmarkBounceType("bounced", "hard", permanent=True),
    "BadEmailAddress": PostmarkBounceType("bounced", "hard", permanent=True),
    "SoftBounce": PostmarkBounceType("bounced", "soft", temporary=True),
    "DnsError": PostmarkBounceType("bounced", "soft", temporary=True),
    "Transient": PostmarkBounceType("deferred", "soft", temporary=True),
    "SpamNotification": PostmarkBounceType("bounced", "soft"),
    "VirusNotification": PostmarkBounceType("bounced", "soft"),
    "Blocked": PostmarkBounceType("bounced", "soft", permanent=True),
    "DMARCPolicy": PostmarkBounceType("bounced", "soft", permanent=True),
    "Unknown": _UNKNOWN,
    "SpamComplaint": PostmarkBounceType("complaint"),
    "AutoResponder": _IGNORED,
    "ChallengeVerification": _IGNORED,
    "AddressChange": _IGNORED,
    "Subscribe": _IGNORED,
    "Unsubscribe": _IGNORED,
    "OpenRelayTest": _IGNORED,
    "ManuallyDeactivated": _IGNORED,
    "Unconfirmed": _IGNORED,
    "SMTPApiError": _IGNORED,
    "InboundError": _IGNORED,
    "TemplateRenderingFailed": _IGNORED,
}


def _id(value: object) -> str | None:
    """Postmark's numeric `ID` (a 64-bit integer in JSON) or a string one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return stripped_text(value)


def _address(value: object, field: str) -> str:
    address = stripped_text(value)
    if address is None or "@" not in address:
        raise Unreadable(f"the record has no {field} address")
    return address


def _fields(error: ValidationError) -> str:
    return ", ".join(sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]}))


def read_postmark(payload: Mapping[str, Any], context: EspContext) -> EspOutcome:
    """The records one Postmark webhook gives (see the module docstring)."""
    record_type = stripped_text(payload.get("RecordType"))
    raw = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    if record_type is None:
        return EspOutcome(rejections=(Rejection(0, "the payload has no RecordType", raw),))
    try:
        if record_type == "Bounce":
            bounce_type = stripped_text(payload.get("Type")) or "Unknown"
            meaning = POSTMARK_BOUNCE_TYPES.get(bounce_type, _UNKNOWN)
            if meaning.kind == "ignored":
                return EspOutcome(ignored=(f"bounce-{kind_label(bounce_type)}",))
            if meaning.kind == "complaint":
                return EspOutcome(feedback_reports=(_complaint(payload, context),))
            return EspOutcome(delivery_events=(_bounce(payload, bounce_type, meaning, context),))
        if record_type == "SpamComplaint":
            return EspOutcome(feedback_reports=(_complaint(payload, context),))
        if record_type == "Delivery":
            return EspOutcome(delivery_events=(_delivery(payload, context),))
    except Unreadable as error:
        return EspOutcome(rejections=(Rejection(0, error.reason, raw),))
    except ValidationError as error:
        reason = f"the payload does not make a {record_type} record ({_fields(error)})"
        return EspOutcome(rejections=(Rejection(0, reason, raw),))
    return EspOutcome(ignored=(kind_label(record_type),))


def _metadata(payload: Mapping[str, Any]) -> Mapping[str, object] | None:
    metadata = payload.get("Metadata")
    return metadata if isinstance(metadata, Mapping) else None


def _bounce(
    payload: Mapping[str, Any],
    bounce_type: str,
    meaning: PostmarkBounceType,
    context: EspContext,
) -> DeliveryEvent:
    bounce_id = _id(payload.get("ID"))
    if bounce_id is None:
        raise Unreadable("the bounce has no ID")
    address = _address(payload.get("Email"), "Email")
    diagnostic = after_type(stripped_text(payload.get("Details")))
    bounce_class, reason, code = classify_bounce(
        find_status(diagnostic),
        diagnostic,
        temporary=meaning.temporary,
        permanent=meaning.permanent,
    )
    identity = send_identity(_metadata(payload))
    kind: DeliveryKind = "deferred" if meaning.kind == "deferred" else "bounced"
    return DeliveryEvent(
        event_id=event_id("postmark", "bounce", bounce_id),
        recipient_key=context.recipient_key(address),
        kind=kind,
        bounce_class=bounce_class,
        reason=reason,
        status=code,
        diagnostic=scrub_addresses(diagnostic),
        account_id=identity.account_id,
        request_id=identity.request_id,
        occurred_at=iso_time(payload.get("BouncedAt"), "BouncedAt", context.received_at),
        source=f"postmark:bounce:{bounce_id}",
        provider=context.provider_of(address),
        esp="postmark",
        esp_event_id=bounce_id,
        esp_classification=bounce_type[:200],
        esp_bounce_class=meaning.esp_bounce_class,
    )


def _complaint(payload: Mapping[str, Any], context: EspContext) -> FeedbackReport:
    complaint_id = _id(payload.get("ID"))
    if complaint_id is None:
        raise Unreadable("the spam complaint has no ID")
    address = _address(payload.get("Email"), "Email")
    identity = send_identity(_metadata(payload))
    return FeedbackReport(
        report_id=event_id("postmark", "complaint", complaint_id),
        recipient_key=context.recipient_key(address),
        # Postmark records a complaint "when a user clicks This is Spam or Mark as Spam".
        feedback_type="abuse",
        account_id=identity.account_id,
        request_id=identity.request_id,
        list_id=identity.list_id,
        received_at=iso_time(payload.get("BouncedAt"), "BouncedAt", context.received_at),
        source=f"postmark:complaint:{complaint_id}",
        provider=context.provider_of(address),
        esp="postmark",
        esp_event_id=complaint_id,
        esp_feedback_type=(stripped_text(payload.get("Type")) or "SpamComplaint")[:100],
    )


def _delivery(payload: Mapping[str, Any], context: EspContext) -> DeliveryEvent:
    message_id = stripped_text(payload.get("MessageID"))
    if message_id is None:
        raise Unreadable("the delivery has no MessageID")
    address = _address(payload.get("Recipient"), "Recipient")
    identity = send_identity(_metadata(payload))
    return DeliveryEvent(
        event_id=event_id("postmark", "delivery", message_id, address),
        recipient_key=context.recipient_key(address),
        kind="delivered",
        diagnostic=scrub_addresses(after_type(stripped_text(payload.get("Details")))),
        account_id=identity.account_id,
        request_id=identity.request_id,
        occurred_at=iso_time(payload.get("DeliveredAt"), "DeliveredAt", context.received_at),
        source=f"postmark:delivery:{message_id}"[:255],
        provider=context.provider_of(address),
        esp="postmark",
        esp_event_id=message_id[:255],
        esp_classification="Delivery",
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (a plain dict is not case-insensitive)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _basic_credentials(value: str | None) -> tuple[str, str] | None:
    """User and password of an `Authorization: Basic` header; None when it holds none."""
    if value is None:
        return None
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def check_postmark_auth(
    headers: Mapping[str, str],
    *,
    username: str | None,
    password: str | None,
    token: str | None,
    token_header: str,
) -> None:
    """Raise `NotAuthentic` unless the request carries every configured credential: HTTP basic
    `username`/`password` (from the webhook URL's `user:pass@`), and `token` in the custom header
    `token_header`. Missing ones: `missing-credentials`, 401; wrong ones: `wrong-credentials`,
    403. With nothing configured every request would pass, so that is a `ValueError` (a
    configuration error the service must not start with), never an open door."""
    if (username is None) != (password is None):
        raise ValueError("Postmark basic auth needs both a username and a password")
    if username is None and token is None:
        raise ValueError("no Postmark webhook credentials are configured")
    missing: list[str] = []
    wrong: list[str] = []
    if username is not None and password is not None:
        authorization = _header(headers, "Authorization")
        credentials = _basic_credentials(authorization)
        if authorization is None or not authorization.strip():
            missing.append("basic credentials")
        elif credentials is None:
            wrong.append("basic credentials")
        else:
            # Both compared whatever the first gives, so the time says nothing about which.
            user_ok = _equal(credentials[0], username)
            password_ok = _equal(credentials[1], password)
            if not (user_ok and password_ok):
                wrong.append("basic credentials")
    if token is not None:
        given = _header(headers, token_header)
        if given is None or not given:
            missing.append("token header")
        elif not _equal(given, token):
            wrong.append("token header")
    if missing:
        raise NotAuthentic(
            "missing-credentials", "no " + " and no ".join(missing) + " in the request", status=401
        )
    if wrong:
        raise NotAuthentic("wrong-credentials", "wrong " + " and ".join(wrong), status=403)
