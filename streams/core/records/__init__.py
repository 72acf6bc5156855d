"""Typed, frozen records: what travels on the topics and what the tables hold.

Each record here has one Avro schema in `schemas/` (named in `AVRO_NAME`); `codec` maps between
them. Field meanings are documented once, in the `.avsc` files; the validators add the rules Avro
cannot express (a list suppression names its list, datetimes are aware UTC, ...).

One module per domain (`sending`, `suppression`, `dead_letters`, `inbound`, `esp`, `bounces`,
`consent`, `sender_domains`, `privacy`, and `base` for what they share); every layer imports them
from here, the vocabulary they all speak.
"""

from __future__ import annotations

from streams.core.records.base import Record, UtcMillis
from streams.core.records.bounces import (
    BounceChange,
    BounceClass,
    BounceOutcome,
    BounceState,
    DeliveryEvent,
    DeliveryKind,
    FeedbackReport,
    FeedbackType,
)
from streams.core.records.consent import (
    LIVE_STATUSES,
    WITHDRAWN_STATUSES,
    ConsentBasis,
    ConsentDeadline,
    ConsentEntry,
    ConsentEvent,
    ConsentEventKind,
    ConsentNotice,
    ConsentSourceKind,
    ConsentState,
    ConsentStatus,
)
from streams.core.records.dead_letters import DeadLetter, DeadLetterKind
from streams.core.records.esp import EspName, EspWebhook
from streams.core.records.inbound import InboundMail
from streams.core.records.privacy import (
    AddressCorrection,
    ErasedPlace,
    ErasureAction,
    ErasureEvent,
    ErasureEventKind,
    ErasureRequest,
)
from streams.core.records.sender_domains import SenderDomains
from streams.core.records.sending import (
    MAX_BODY_LINKS,
    MAX_BODY_TEXT_CHARS,
    MAX_HEADER_VALUE_CHARS,
    MAX_HEADERS,
    MAX_SEND_REQUEST_BYTES,
    BodyLink,
    Classification,
    DmarcPolicy,
    MailAuthentication,
    MessageBody,
    RuleFailure,
    SendDecision,
    SendKind,
    SendRequest,
    Verdict,
)
from streams.core.records.suppression import (
    SuppressionChange,
    SuppressionEntry,
    SuppressionOutcome,
    SuppressionReason,
    SuppressionScope,
    SuppressionState,
    UnsubscribeClick,
    UnsubscribeMethod,
)

__all__ = [
    "LIVE_STATUSES",
    "MAX_BODY_LINKS",
    "MAX_BODY_TEXT_CHARS",
    "MAX_HEADERS",
    "MAX_HEADER_VALUE_CHARS",
    "MAX_SEND_REQUEST_BYTES",
    "RECORD_TYPES",
    "WITHDRAWN_STATUSES",
    "AddressCorrection",
    "BodyLink",
    "BounceChange",
    "BounceClass",
    "BounceOutcome",
    "BounceState",
    "Classification",
    "ConsentBasis",
    "ConsentDeadline",
    "ConsentEntry",
    "ConsentEvent",
    "ConsentEventKind",
    "ConsentNotice",
    "ConsentSourceKind",
    "ConsentState",
    "ConsentStatus",
    "DeadLetter",
    "DeadLetterKind",
    "DeliveryEvent",
    "DeliveryKind",
    "DmarcPolicy",
    "ErasedPlace",
    "ErasureAction",
    "ErasureEvent",
    "ErasureEventKind",
    "ErasureRequest",
    "EspName",
    "EspWebhook",
    "FeedbackReport",
    "FeedbackType",
    "InboundMail",
    "MailAuthentication",
    "MessageBody",
    "Record",
    "RuleFailure",
    "SendDecision",
    "SendKind",
    "SendRequest",
    "SenderDomains",
    "SuppressionChange",
    "SuppressionEntry",
    "SuppressionOutcome",
    "SuppressionReason",
    "SuppressionScope",
    "SuppressionState",
    "UnsubscribeClick",
    "UnsubscribeMethod",
    "UtcMillis",
    "Verdict",
]

RECORD_TYPES: tuple[type[Record], ...] = (
    SendRequest,
    RuleFailure,
    SuppressionEntry,
    SuppressionState,
    SendDecision,
    UnsubscribeClick,
    SuppressionChange,
    DeadLetter,
    EspWebhook,
    InboundMail,
    DeliveryEvent,
    FeedbackReport,
    BounceState,
    BounceChange,
    ConsentEvent,
    ConsentEntry,
    ConsentState,
    ConsentNotice,
    ConsentDeadline,
    SenderDomains,
    ErasureRequest,
    ErasedPlace,
    ErasureEvent,
    AddressCorrection,
)
"""Every record type of this package, in the order the codec registers them."""
