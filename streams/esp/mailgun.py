"""Read Mailgun's webhooks and check their signature (HMAC-SHA-256 over timestamp + token).

Field meanings are Mailgun's: "Webhooks" and "Tracking Failures" in the User Manual
(https://documentation.mailgun.com/en/latest/user_manual.html#webhooks), the event structure and
types in "Events" (https://documentation.mailgun.com/en/latest/api-events.html#event-structure);
the current pages are "Webhook Payloads"
(https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads).

Mailgun posts one event per request: `{"signature": {timestamp, token, signature},
"event-data": {...}}`, where the event data is what the Events API returns for the same event.
The event names its kind (`event`), its recipient (`recipient`), when it happened (`timestamp`,
unix seconds with a fraction) and its id (`id`, which Mailgun guarantees "unique within a day").
What the sender set at send time comes back in `user-variables`; of the message's headers Mailgun
echoes only a few (`message.headers`: to, from, subject, message-id), read all the same.

| Mailgun event | sendgate | why |
|---|---|---|
| `delivered` | delivered | "accepted by the recipient email server" |
| `failed`, severity `permanent` | bounced | Mailgun stopped trying |
| `failed`, severity `temporary` | deferred | "temporary rejected by an ESP"; Mailgun retries |
| `failed`, reason `suppress-*` | ignored, as `failed/<reason>` | Mailgun did not try |
| `complained` | feedback report, abuse | the recipient's spam button, via a feedback loop |
| `unsubscribed` | ignored (an opt-out, below) | the recipient opted out |
| `accepted`, `rejected`, `stored` | ignored | no mailbox provider has seen the message |
| `opened`, `clicked`, list events | ignored | no delivery outcome, no complaint |

`suppress-bounce`, `suppress-complaint` and `suppress-unsubscribe` ("Not delivering to previously
bounced address") are Mailgun declining to send to an address on its own suppression lists. No
mailbox provider saw the message: it says nothing new about the address (the bounce, complaint
or opt-out that put it on the list came to us when it happened) and nothing about the sender's
standing, and as a bounce it would count one failure twice. It is counted by kind, so a platform
that keeps mailing suppressed addresses still shows in the metrics.

A failure is classified by sendgate (`classify_bounce` with the `delivery-status` enhanced code,
and the reply code, message and description as the diagnostic), which decides; Mailgun's word
is kept beside it: `esp_classification` is `<severity>/<reason>`, and `esp_bounce_class` what the
User Manual says it means ("Hard bounces (permanent failure)... Soft bounces (temporary
failure)"), with two reasons whose own names say otherwise:

| Mailgun's word | class | why |
|---|---|---|
| `temporary/*` | soft | a soft bounce; Mailgun retries |
| `permanent/bounce`, `permanent/generic` | hard | a hard bounce, in Mailgun's words |
| `permanent/old` | soft | "reached their retry limit": soft bounces, given up |
| `permanent/espblock` | soft | the receiving provider blocked the sender |
| `permanent/` any other reason | hard | Mailgun's severity |

Ids. A record's id is `event_id("mailgun", id, <UTC date of the event>)`: Mailgun promises its
ids unique within a day only, so two events a day or more apart may share one, and would then
be applied once between them; the event's own date tells them apart and is the same at every
retry of the same event. `esp_event_id` is Mailgun's id as given.

Unsubscribes. `unsubscribed` is the recipient's click on Mailgun's unsubscribe link, a real
opt-out, which sendgate records as `UnsubscribeClick` (method `link`). `EspOutcome` has no field
for it, so `read_mailgun` counts it as ignored and `mailgun_unsubscribe` returns the click, at
the account the send names (Mailgun's link is for all of a domain's mail, or for a tag, which
sendgate cannot map to a list), else platform-wide.

Authenticity. `verify_mailgun_signature` checks the HMAC and the window; it returns the token,
which Mailgun makes new for every request, so that the service can refuse a token it has seen
(`replayed`) with `SeenTokens`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pydantic import ValidationError

from streams.bounces.inbound import scrub_addresses
from streams.core.records import BounceClass, DeliveryEvent, FeedbackReport, UnsubscribeClick
from streams.esp.model import (
    EspContext,
    EspOutcome,
    NotAuthentic,
    Rejection,
    SendIdentity,
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
    "SOURCE",
    "SUPPRESSED_REASONS",
    "SeenTokens",
    "mailgun_unsubscribe",
    "read_mailgun",
    "verify_mailgun_signature",
]

SOURCE: Final = "webhook:mailgun"
"""The `source` of every record read here: Mailgun's webhooks."""

SUPPRESSED_REASONS: Final = frozenset(
    {"suppress-bounce", "suppress-complaint", "suppress-unsubscribe"}
)
ESP_BOUNCE_CLASSES: Final[dict[str, BounceClass]] = {"old": "soft", "espblock": "soft"}
"""Reasons of a permanent failure that Mailgun's own words make soft (the table above); every
other permanent failure is hard, every temporary one soft."""
IGNORED_EVENTS: Final = frozenset(
    {
        "accepted",
        "rejected",
        "stored",
        "opened",
        "clicked",
        "unsubscribed",
        "list_member_uploaded",
        "list_member_upload_error",
        "list_uploaded",
    }
)
_READ_EVENTS: Final = frozenset({"delivered", "failed", "complained"})
_SEVERITIES: Final = frozenset({"permanent", "temporary"})
_MAX_ESP_ID: Final = 255


def verify_mailgun_signature(
    signing_key: str,
    signature: Mapping[str, Any] | None,
    *,
    now: datetime,
    tolerance_s: float,
) -> str:
    """The token of a request Mailgun signed within `tolerance_s` of `now`; refuse any other.

    The HMAC covers only the timestamp and the token, not the event (Mailgun's choice), so the
    signature says the request is Mailgun's and recent, and the token, new for every request,
    is what a replay repeats: the service refuses a token it has seen (`SeenTokens`). The
    signature is checked before the time, so `stale` always means "Mailgun's, but outside the
    window". `DEFAULT_TOLERANCE_S` (`streams.esp.reading`) is the window we recommend."""
    if not signing_key:
        raise ValueError("the Mailgun webhook signing key is empty")
    if not isinstance(signature, Mapping):
        raise NotAuthentic("missing-signature", "no signature object in the body", status=401)
    parts = [_signed_text(signature.get(name)) for name in ("timestamp", "token", "signature")]
    timestamp, token, given = parts
    if timestamp is None or token is None or given is None:
        raise NotAuthentic(
            "missing-signature", "the signature lacks its timestamp, token or value", status=401
        )
    expected = hmac.new(
        signing_key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), given.lower().encode("utf-8")):
        raise NotAuthentic("bad-signature", "the signature does not match the timestamp and token")
    check_fresh(timestamp, now=now, tolerance_s=tolerance_s)
    return token


def _signed_text(value: object) -> str | None:
    """A signature field as Mailgun signed it: its text (the timestamp is documented as an int
    but posted as a string; either is signed as its decimal digits)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value:
        return value
    return None


class SeenTokens:
    """The tokens of requests already taken, for as long as they could be replayed.

    In memory and bounded: state of the webhook service (one per process; a token replayed to
    another replica is caught by the record ids downstream), not of the pure readers. A token
    is `reserve`d when its request arrives (False: seen before, refuse it as `replayed`), then
    `confirm`ed when the request's records are published, or `release`d when publishing failed,
    so that the provider's retry of the very same request is not refused as a replay of itself.

    Entries expire because a token outlives its use only as long as its timestamp is inside the
    window: after that, the signature check refuses the request as `stale` whatever the token.
    A timestamp may be up to `tolerance_s` ahead of the clock and stays acceptable until
    `tolerance_s` after itself, so a token is kept twice the tolerance after it is first seen.
    When more than `max_tokens` are live the oldest are forgotten first: a replay of a forgotten
    token would be published again, and the record ids make that harmless; refusing genuine new
    requests instead would lose events. Not thread-safe: the service calls it from its loop."""

    def __init__(
        self,
        tolerance_s: float,
        *,
        max_tokens: int = 100_000,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if tolerance_s <= 0 or not math.isfinite(tolerance_s):
            raise ValueError("the replay tolerance must be a positive number of seconds")
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        self._keep = timedelta(seconds=2 * tolerance_s)
        self._max = max_tokens
        self._clock = clock or (lambda: datetime.now(UTC))
        self._tokens: OrderedDict[str, _Seen] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        seen = self._tokens.get(token) if isinstance(token, str) else None
        return seen is not None and seen.expires_at > self._clock()

    def reserve(self, token: str, now: datetime | None = None) -> bool:
        """Take a token for one request: False when it was taken before and not released."""
        now = now or self._clock()
        self._expire(now)
        seen = self._tokens.get(token)
        if seen is not None and seen.expires_at > now:
            return False
        self._tokens.pop(token, None)
        self._tokens[token] = _Seen(expires_at=now + self._keep)
        while len(self._tokens) > self._max:
            self._tokens.popitem(last=False)
        return True

    def confirm(self, token: str) -> None:
        """The request's records are published: keep its token until it expires."""
        seen = self._tokens.get(token)
        if seen is not None:
            self._tokens[token] = _Seen(expires_at=seen.expires_at, confirmed=True)

    def release(self, token: str) -> None:
        """The request failed before its records were published: let a retry use the token.
        A confirmed token stays, as its records are out."""
        seen = self._tokens.get(token)
        if seen is not None and not seen.confirmed:
            del self._tokens[token]

    def _expire(self, now: datetime) -> None:
        # Tokens are kept in the order they were first seen; with a clock that does not go back
        # the oldest expire first, and the rest are dropped when met or when over the bound.
        while self._tokens:
            token, seen = next(iter(self._tokens.items()))
            if seen.expires_at > now:
                break
            del self._tokens[token]


@dataclass(frozen=True)
class _Seen:
    expires_at: datetime
    confirmed: bool = False


def read_mailgun(payload: Mapping[str, Any], context: EspContext) -> EspOutcome:
    """The records of one webhook post (the table in the module docstring).

    `payload` is the posted body; its `event-data` is read. A bare event as the Events API
    returns it (the same structure, per Mailgun) is read too, so events fetched to fill a gap
    go the same way."""
    event = _event_data(payload)
    try:
        return _outcome(event, context)
    except ValidationError as error:
        kind = (text_of(event, "event") if isinstance(event, Mapping) else None) or "Mailgun"
        return EspOutcome(rejections=(Rejection(0, invalid_fields(error, kind), raw_json(event)),))


def _outcome(event: object, context: EspContext) -> EspOutcome:
    read = _read_event(event)
    if isinstance(read, str):
        return EspOutcome(rejections=(Rejection(0, read, raw_json(event)),))
    kind, fields = read
    if fields is None:
        return EspOutcome(ignored=(kind,))
    if kind == "complained":
        return EspOutcome(feedback_reports=(_report(fields, context),))
    if kind == "failed":
        severity = text_of(fields.event, "severity")
        reason = text_of(fields.event, "reason")
        if reason in SUPPRESSED_REASONS:
            return EspOutcome(ignored=(f"failed/{reason}",))
        if severity not in _SEVERITIES:
            return EspOutcome(
                rejections=(Rejection(0, "a failed event with no severity", raw_json(event)),)
            )
        return EspOutcome(delivery_events=(_failure(fields, severity, reason, context),))
    return EspOutcome(delivery_events=(_delivered(fields, context),))


def mailgun_unsubscribe(payload: Mapping[str, Any], context: EspContext) -> UnsubscribeClick | None:
    """The opt-out an `unsubscribed` event records, which `read_mailgun` counts as ignored
    because `EspOutcome` has no place for it; None for any other event, or one it cannot read."""
    event = _event_data(payload)
    if not isinstance(event, Mapping) or text_of(event, "event") != "unsubscribed":
        return None
    fields = _fields(event, "unsubscribed")
    if isinstance(fields, str):
        return None
    scope, account_id, _ = opt_out_scope(fields.identity, list_wide=False)
    return UnsubscribeClick(
        click_id=fields.record_id,
        recipient_key=context.recipient_key(fields.email),
        scope=scope,
        account_id=account_id,
        method="link",
        reason="unsubscribe",
        clicked_at=fields.occurred_at,
    )


@dataclass(frozen=True)
class _Fields:
    """What every event sendgate reads must carry, checked once."""

    event: Mapping[str, Any]
    email: str
    esp_id: str
    occurred_at: datetime
    identity: SendIdentity
    message_id: str | None

    @property
    def record_id(self) -> str:
        return event_id("mailgun", self.esp_id, self.occurred_at.date().isoformat())


def _event_data(payload: object) -> object:
    if isinstance(payload, Mapping) and "event-data" in payload:
        return payload["event-data"]
    return payload


def _read_event(event: object) -> tuple[str, _Fields | None] | str:
    """(kind, its checked fields; None for kinds sendgate takes no action on) or why the event
    cannot be read."""
    if not isinstance(event, Mapping):
        return "no event-data object"
    kind = text_of(event, "event")
    if kind is None:
        return "an event with no event type"
    if kind in IGNORED_EVENTS:
        return kind, None
    if kind not in _READ_EVENTS:
        return unknown_kind("Mailgun", kind)
    fields = _fields(event, kind)
    return fields if isinstance(fields, str) else (kind, fields)


def _fields(event: Mapping[str, Any], kind: str) -> _Fields | str:
    email = text_of(event, "recipient")
    if email is None:
        return f"a {kind} event with no recipient address"
    esp_id = text_of(event, "id")
    if esp_id is None:
        return f"a {kind} event with no id"
    if len(esp_id) > _MAX_ESP_ID or "@" in esp_id:
        return f"a {kind} event whose id is not an event id"
    occurred_at = event_time(event.get("timestamp"))
    if occurred_at is None:
        return f"a {kind} event with no unix timestamp"
    message = event.get("message")
    headers = message.get("headers") if isinstance(message, Mapping) else None
    headers = headers if isinstance(headers, Mapping) else {}
    variables = event.get("user-variables")
    return _Fields(
        event=event,
        email=email,
        esp_id=esp_id,
        occurred_at=occurred_at,
        identity=send_identity(
            variables if isinstance(variables, Mapping) else None, _header_pairs(headers)
        ),
        message_id=_message_id(headers),
    )


def _header_pairs(headers: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    return [(str(name), value) for name, value in headers.items() if isinstance(value, str)]


def _message_id(headers: Mapping[str, Any]) -> str | None:
    """The Message-ID as the header writes it: Mailgun gives it without its angle brackets,
    which a DSN's copy of the header keeps, so the two compare equal."""
    value = headers.get("message-id")
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if not text.startswith("<"):
        text = f"<{text}>"
    return text[:998]


def _common(fields: _Fields, context: EspContext) -> dict[str, Any]:
    return {
        "event_id": fields.record_id,
        "recipient_key": context.recipient_key(fields.email),
        "account_id": fields.identity.account_id,
        "request_id": fields.identity.request_id,
        "message_id": fields.message_id,
        "occurred_at": fields.occurred_at,
        "source": SOURCE,
        "provider": context.provider_of(fields.email) or None,
        "esp": "mailgun",
        "esp_event_id": fields.esp_id,
    }


def _status(fields: _Fields) -> Mapping[str, Any]:
    status = fields.event.get("delivery-status")
    return status if isinstance(status, Mapping) else {}


def _remote_mta(status: Mapping[str, Any]) -> str | None:
    host = text_of(status, "mx-host")
    return host[:255] if host else None


def _delivered(fields: _Fields, context: EspContext) -> DeliveryEvent:
    return DeliveryEvent(
        kind="delivered", remote_mta=_remote_mta(_status(fields)), **_common(fields, context)
    )


def _failure(
    fields: _Fields, severity: str, reason: str | None, context: EspContext
) -> DeliveryEvent:
    status = _status(fields)
    text = _diagnostic(status)
    temporary = severity == "temporary"
    enhanced = text_of(status, "enhanced-code") or text_of(status, "bounce-code")
    bounce_class, our_reason, code = classify_bounce(
        enhanced, text, temporary=temporary, permanent=not temporary
    )
    return DeliveryEvent(
        kind="deferred" if temporary else "bounced",
        bounce_class=bounce_class,
        reason=our_reason,
        status=code,
        diagnostic=scrub_addresses(text),
        remote_mta=_remote_mta(status),
        esp_classification=f"{severity}/{reason or ''}"[:200],
        esp_bounce_class=_esp_bounce_class(severity, reason),
        **_common(fields, context),
    )


def _diagnostic(status: Mapping[str, Any]) -> str | None:
    """The receiving server's reply as one text: its SMTP reply code first (where the taxonomy
    looks for one when there is no enhanced code), then Mailgun's `message` (the server's
    words) and `description` (Mailgun's, or the bounce message's, explanation)."""
    code = status.get("code")
    parts: list[str] = []
    if isinstance(code, int) and not isinstance(code, bool) and 200 <= code <= 599:
        parts.append(str(code))
    message = text_of(status, "message")
    description = text_of(status, "description")
    if message:
        parts.append(message)
    if description and description != message:
        parts.append(description)
    return " ".join(parts) or None


def _esp_bounce_class(severity: str, reason: str | None) -> BounceClass:
    """Mailgun's own class of a failure (the second table of the module docstring)."""
    if severity == "temporary":
        return "soft"
    return ESP_BOUNCE_CLASSES.get(reason or "", "hard")


def _report(fields: _Fields, context: EspContext) -> FeedbackReport:
    """A complaint. Mailgun does not say which mailbox provider's loop passed it on, nor when
    the original arrived; the event's time is when the complaint reached Mailgun, which is when
    it was received as far as sendgate can know."""
    return FeedbackReport(
        report_id=fields.record_id,
        recipient_key=context.recipient_key(fields.email),
        feedback_type="abuse",
        account_id=fields.identity.account_id,
        request_id=fields.identity.request_id,
        list_id=fields.identity.list_id,
        original_message_id=fields.message_id,
        received_at=fields.occurred_at,
        source=SOURCE,
        provider=context.provider_of(fields.email) or None,
        esp="mailgun",
        esp_event_id=fields.esp_id,
        esp_feedback_type="complained",
    )
