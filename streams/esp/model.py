"""What every provider's reader shares: the outcome of one authenticated request, what a reader
needs to know beyond the payload, how a send's identity is recovered from a provider's metadata,
and how a provider's bounce is classified by us beside the provider's own word.

One request, one outcome. A provider that posts a batch (SendGrid's array, an SNS notification
naming several recipients) gets one `EspOutcome` for the whole batch, and the webhook service
publishes it whole or answers non-2xx for it whole, so the provider retries the batch; the ids
below make the part that landed before harmless. An event in an authenticated batch that cannot
be read is no reason to refuse the batch (the provider would retry it for a day and then drop all
of it): it becomes a `Rejection`, which the service dead-letters with the event's bytes, and the
rest are published.

Ids. Every record's id is made from the provider's own event id (`event_id`), never from the
moment or the request, so a provider's retry publishes the same records again and every keeper
applies them once (the bounce history's applied ids, the rate inputs' counted ids, the ledger's
identities). No id holds an address.

Identity of the send. The gate writes `X-Sendgate-Account`, `X-Sendgate-Request-Id` and (for list
mail) `X-Sendgate-List-Id` into every message it allows; a platform sending through an ESP passes
the same values as the provider's metadata under the names in `METADATA_NAMES` (SES message tags,
SendGrid custom args, Mailgun user variables, Postmark metadata). `send_identity` takes them from
whichever is there, metadata first (the platform set it on purpose), then the headers (which the
provider echoes only when configured to).

Classification. `classify_bounce` reads the SMTP status and diagnostic the provider passed on
with sendgate's own taxonomy (`streams.parsing.diagnosis`): ours decides, because a provider's
`Permanent` also covers refusals of the sender (a blocklisting is no dead address, and
suppressing the recipient for it would punish them for the sender's reputation). The provider's
classification is kept beside ours in the record (`esp_classification`, `esp_bounce_class`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from streams.core.records import BounceClass, DeliveryEvent, FeedbackReport, UnsubscribeClick
from streams.parsing.diagnosis import classify, normalise_status

__all__ = [
    "ACCOUNT_METADATA",
    "ESPS",
    "LIST_ID_METADATA",
    "METADATA_NAMES",
    "REQUEST_ID_METADATA",
    "Esp",
    "EspContext",
    "EspOutcome",
    "NotAuthentic",
    "Rejection",
    "SendIdentity",
    "classify_bounce",
    "event_id",
    "send_identity",
]

Esp = Literal["ses", "sendgrid", "mailgun", "postmark"]
ESPS: Final[tuple[Esp, ...]] = ("ses", "sendgrid", "mailgun", "postmark")

ACCOUNT_METADATA: Final = "sendgate_account"
REQUEST_ID_METADATA: Final = "sendgate_request_id"
LIST_ID_METADATA: Final = "sendgate_list_id"
METADATA_NAMES: Final = (ACCOUNT_METADATA, REQUEST_ID_METADATA, LIST_ID_METADATA)
"""The metadata names a platform sets on mail it sends through an ESP (tag, custom arg, user
variable, metadata key), the same values as the gate's `X-Sendgate-*` headers."""

_HEADERS: Final = {
    "x-sendgate-account": ACCOUNT_METADATA,
    "x-sendgate-request-id": REQUEST_ID_METADATA,
    "x-sendgate-list-id": LIST_ID_METADATA,
}
_MAX_ID: Final = 200


class NotAuthentic(Exception):
    """A request that does not prove it comes from the provider (answered 401 or 403).

    `reason` is short and fixed (a metrics label: `missing-signature`, `bad-signature`, `stale`,
    `replayed`, `unknown-certificate`, `unlisted-topic`, ...); `detail` says more for the log,
    never holding a secret or an address. `status` is 401 when credentials are missing, 403 when
    they are present but wrong."""

    def __init__(self, reason: str, detail: str, *, status: int = 403) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class EspContext:
    """What a reader needs besides the payload.

    `recipient_key(address)` is the keyed hash (`streams.core.recipient`), `provider_of(address)`
    the mailbox provider the rates count by, `received_at` when the webhook service took the
    request (the event time when the payload states none)."""

    recipient_key: Callable[[str], str]
    provider_of: Callable[[str], str]
    received_at: datetime


@dataclass(frozen=True)
class Rejection:
    """One event of an authenticated request that could not be read: dead-lettered with its
    bytes (`raw`, the event's JSON as posted) and `reason` (no address in it)."""

    index: int
    reason: str
    raw: bytes


@dataclass(frozen=True)
class EspOutcome:
    """Everything one request produced. `unsubscribes` are opt-outs made through a provider's
    own unsubscribe link; `ignored` counts event kinds sendgate takes no action on (opens,
    clicks, a provider's own suppression of a send) by kind."""

    delivery_events: tuple[DeliveryEvent, ...] = ()
    feedback_reports: tuple[FeedbackReport, ...] = ()
    unsubscribes: tuple[UnsubscribeClick, ...] = ()
    ignored: tuple[str, ...] = ()
    rejections: tuple[Rejection, ...] = ()

    @property
    def records(self) -> tuple[DeliveryEvent | FeedbackReport, ...]:
        return (*self.delivery_events, *self.feedback_reports)

    @classmethod
    def merged(cls, outcomes: Iterable[EspOutcome]) -> EspOutcome:
        parts = list(outcomes)
        return cls(
            delivery_events=tuple(e for o in parts for e in o.delivery_events),
            feedback_reports=tuple(r for o in parts for r in o.feedback_reports),
            unsubscribes=tuple(u for o in parts for u in o.unsubscribes),
            ignored=tuple(i for o in parts for i in o.ignored),
            rejections=tuple(r for o in parts for r in o.rejections),
        )


@dataclass(frozen=True)
class SendIdentity:
    account_id: str | None = None
    request_id: str | None = None
    list_id: str | None = None
    found_in: tuple[str, ...] = field(default=())


def _clean(value: object) -> str | None:
    if isinstance(value, list | tuple) and value:
        value = value[0]
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text[:_MAX_ID] if text else None


def send_identity(
    metadata: Mapping[str, object] | None, headers: Iterable[tuple[str, str]] = ()
) -> SendIdentity:
    """The account, request and list of the mail an event is about, from the provider's metadata
    (names in `METADATA_NAMES`; a list value's first item, as SES tags hold lists) or else the
    gate's headers. A list id without an account is dropped: a list belongs to an account."""
    found: dict[str, str] = {}
    sources: list[str] = []
    for name in METADATA_NAMES:
        value = _clean((metadata or {}).get(name))
        if value is not None:
            found[name] = value
    if found:
        sources.append("metadata")
    for name, value in headers:
        wanted = _HEADERS.get(name.strip().lower())
        cleaned = _clean(value)
        if wanted and wanted not in found and cleaned is not None:
            found[wanted] = cleaned
            if "headers" not in sources:
                sources.append("headers")
    account = found.get(ACCOUNT_METADATA)
    return SendIdentity(
        account_id=account,
        request_id=found.get(REQUEST_ID_METADATA),
        list_id=found.get(LIST_ID_METADATA) if account else None,
        found_in=tuple(sources),
    )


def event_id(esp: Esp, *parts: str) -> str:
    """A record id from the provider's own ids: `<esp>:<parts joined by :>`, or, when that
    would be longer than an id may be (or a part might hold an address), a digest of it."""
    text = ":".join((esp, *parts))
    if len(text) <= _MAX_ID and "@" not in text:
        return text
    return f"{esp}:sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def classify_bounce(
    status: str | None, diagnostic: str | None, *, temporary: bool, permanent: bool
) -> tuple[BounceClass, str, str | None]:
    """Our class and reason of a failure an ESP reported, and its normalised status code.

    `temporary` and `permanent` are what the provider says about the attempt (a deferral, a
    final failure), as a DSN's Action field would; they say nothing about why, which only the
    status and the diagnostic do."""
    code = normalise_status(status) if status else None
    bounce_class, reason = classify(code, diagnostic, temporary=temporary, permanent=permanent)
    return bounce_class, reason.value, code
