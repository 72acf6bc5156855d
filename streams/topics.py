"""The catalogue of sendgate's topics: the one place that names them, says which record each
carries and how each record is keyed.

Every topic about a person is keyed by the recipient key and has the same partition count, so
faust assigns partition N of each to the same worker (co-partitioning) and the gate finds the
suppressions it needs in its local table. The faust app (`streams.gate.app`) builds its topic
objects from this catalogue; `sendgate topics create` creates them; the producer
(`streams.edges.producer`) routes and keys what it publishes by it, and the ledger
(`streams.edges.ledger.catalogue`) decodes what it copies by it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, TypeVar

from streams.core.codec import Codec, load_schema_versions
from streams.core.errors import InvalidRecordError
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    MAX_SEND_REQUEST_BYTES,
    RECORD_TYPES,
    AddressCorrection,
    BounceChange,
    BounceState,
    ConsentDeadline,
    ConsentEvent,
    ConsentNotice,
    ConsentState,
    DeadLetter,
    DeliveryEvent,
    ErasureEvent,
    ErasureRequest,
    EspWebhook,
    FeedbackReport,
    InboundMail,
    Record,
    SendDecision,
    SenderDomains,
    SendRequest,
    SuppressionChange,
    SuppressionState,
    UnsubscribeClick,
)
from streams.core.settings import Settings
from streams.reputation import breaches, rate_inputs, rates, standing, strikes
from streams.reputation.rate_inputs import RateEvent, RateTick, RecipientRates, rate_event_key
from streams.reputation.rates import RateState
from streams.reputation.standing import (
    BreachReport,
    EnforcementEvent,
    MisuseReport,
    ReinstatementRequest,
)
from streams.reputation.strikes import AccountStanding
from streams.sending import frequency
from streams.sending.frequency import SendHistory

__all__ = [
    "ACCOUNT_COMMANDS",
    "ADDRESS_CORRECTIONS",
    "BOUNCES_CHANGELOG",
    "BOUNCE_CHANGES",
    "CONSENTS_CHANGELOG",
    "CONSENT_DEADLINES",
    "CONSENT_DEADLINES_CHANGELOG",
    "CONSENT_EVENTS",
    "CONSENT_NOTICES",
    "CONTENT_MISUSE",
    "DEAD_LETTERS",
    "DELIVERY_EVENTS",
    "ENFORCEMENT_EVENTS",
    "ERASURE_EVENTS",
    "ERASURE_REQUESTS",
    "ESP_WEBHOOKS",
    "FEEDBACK_REPORTS",
    "INBOUND_MAIL",
    "PERSONAL_TOPICS",
    "PERSON_TABLE_CHANGELOGS",
    "RATES_CHANGELOG",
    "RATE_BREACHES",
    "RATE_EVENTS",
    "RATE_INPUTS_CHANGELOG",
    "RATE_TICKS",
    "SENDER_DOMAINS",
    "SEND_DECISIONS",
    "SEND_HISTORY_CHANGELOG",
    "SEND_REQUESTS",
    "STANDINGS_CHANGELOG",
    "SUPPRESSIONS_CHANGELOG",
    "SUPPRESSION_CHANGES",
    "TOPICS",
    "UNSUBSCRIBE_CLICKS",
    "RecordKey",
    "TopicSpec",
    "all_record_types",
    "default_codec",
    "erasure_horizons",
    "erasure_sweep_after_s",
    "read_send_request",
    "table_changelog",
]

RecordKey = Callable[[Any, RecipientKeyer], bytes | None]
"""How a topic keys its records: the Kafka key of a record, given the recipient keyer (a send
request names its recipient by address; every other record carries its key). None is Kafka's
null key."""


R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class TopicSpec(Generic[R]):
    """A topic: its base name, what it carries (a sentence for people, and the record type and
    key function for code), and its Kafka configuration.

    `record` is None only where the values are not our records (a table of plain numbers);
    `key` is None for a table's changelog, keyed by the table's key, which its values do not
    carry; `table` names the faust table whose changelog the topic is. `personal` marks a topic
    whose values carry personal data in clear (an address, raw mail, an IP address): its records
    are deleted by a short retention (`Settings.personal_topic_retention_s`), which is how an
    erased person's records leave it.
    """

    name: str
    carries: str
    compacted: bool = False
    config: dict[str, str] = field(default_factory=dict)
    record: type[R] | None = field(default=None, kw_only=True)
    key: RecordKey | None = field(default=None, kw_only=True)
    table: str | None = field(default=None, kw_only=True)
    personal: bool = field(default=False, kw_only=True)

    def full_name(self, settings: Settings) -> str:
        return settings.topic(self.name)

    def kafka_config(self, settings: Settings) -> dict[str, str]:
        """The topic's configuration on the broker. Personal topics get the settings' retention,
        in segments of a tenth of it (Kafka deletes whole segments, so a record lives at most
        retention plus one segment); person tables' changelogs a compaction lag, so an erased
        entry's old value is compacted away after its tombstone within that time."""
        policy = {"cleanup.policy": "compact" if self.compacted else "delete"}
        if self.personal:
            policy |= _expiring(settings.personal_topic_retention_s)
        elif self.table in _PERSON_TABLES:
            policy |= _compacting(settings.personal_topic_retention_s)
        return {**policy, **self.config}

    def gone_within_s(self, settings: Settings) -> float | None:
        """How long a record about a person can outlive its write or its deletion: on a
        personal topic, retention plus one segment, plus the broker's wait between two looks at
        retention; on a person table's changelog, how long an old value outlives the tombstone
        that deleted it: the erasure's sweep writes again once the segment is due to roll
        (`erasure_sweep_after_s`), so it rolls even on a partition nothing else writes to; then
        compaction is due within the same lag, once the log cleaner next looks.
        None for topics whose records stay."""
        retention = settings.personal_topic_retention_s
        if self.personal:
            return retention + _segment_s(retention) + settings.broker_retention_check_s
        if self.table in _PERSON_TABLES:
            return (
                erasure_sweep_after_s(settings)
                + _segment_s(retention)
                + _CLEANER_BACKOFF_S
                + settings.broker_retention_check_s
            )
        return None

    def table_name(self) -> str:
        """The faust table this topic is the changelog of; `TypeError` for any other topic."""
        if self.table is None:
            raise TypeError(f"topic '{self.name}' is no table's changelog")
        return self.table

    def key_of(self, record: Record, keyer: RecipientKeyer) -> bytes | None:
        """The Kafka key of `record` on this topic; `TypeError` for a record it does not carry."""
        if self.record is None or self.key is None or not isinstance(record, self.record):
            raise TypeError(f"topic '{self.name}' does not key {type(record).__name__} records")
        return self.key(record, keyer)


def _segment_s(retention_s: int) -> int:
    return max(1, retention_s // 10)


_CLEANER_BACKOFF_S = 15
"""How long Kafka's log cleaner sleeps when it finds nothing to clean (`log.cleaner.backoff.ms`,
default 15 s)."""


def erasure_sweep_after_s(settings: Settings) -> int:
    """How long after an erasure the worker writes its tombstones again.

    Kafka never compacts a log's active segment, and rolls it only when a record is appended
    after `segment.ms`: on a partition nobody writes to, the values an erasure's tombstones
    replaced would stay readable. A second tombstone one segment later rolls it, and
    `max.compaction.lag.ms` then makes the old values due for compaction."""
    return _segment_s(settings.personal_topic_retention_s) + 1


def _expiring(retention_s: int) -> dict[str, str]:
    return {
        "retention.ms": str(retention_s * 1000),
        "segment.ms": str(_segment_s(retention_s) * 1000),
    }


def _compacting(retention_s: int) -> dict[str, str]:
    lag_ms = str(_segment_s(retention_s) * 1000)
    return {"segment.ms": lag_ms, "max.compaction.lag.ms": lag_ms}


_PERSON_TABLES = frozenset(
    {"suppressions", "bounces", "consents", "consent_deadlines", "rate_inputs", "send_history"}
)
"""The tables keyed by recipient key: an erasure deletes each of their entries but the
suppression, and compaction must then drop the old values from the changelog in good time."""


_APP_NAME = "sendgate"
"""The faust app id without the topic prefix (`Settings.app_id` adds it, as `full_name` does)."""


def table_changelog(table: str, holds: str, value: type[Record] | None) -> TopicSpec:
    """The compacted changelog of a faust table, which faust names `<app id>-<table>-changelog`.

    The app id carries the same prefix as the topics, so `full_name` gives the right name for both.
    `holds` says what the table maps, for people; `value` is the record type of its values.
    """
    return TopicSpec(
        f"{_APP_NAME}-{table}-changelog",
        f"faust changelog of the {table} table ({holds})",
        compacted=True,
        record=value,
        table=table,
    )


# --- how records are keyed -----------------------------------------------------------------------


def _by_recipient_address(request: SendRequest, keyer: RecipientKeyer) -> bytes:
    """A send request names its recipient by address: the key is that address's recipient key."""
    return keyer.key(request.recipient).encode("ascii")


def _by_recipient_key(record: Any, keyer: RecipientKeyer) -> bytes:
    return record.recipient_key.encode("ascii")


def _by_old_recipient_key(correction: AddressCorrection, keyer: RecipientKeyer) -> bytes:
    """A correction lands where the consents it moves are kept: on the old key's partition."""
    return correction.old_recipient_key.encode("ascii")


def _by_account(record: Any, keyer: RecipientKeyer) -> bytes:
    return record.account_id.encode("utf-8")


def _by_account_and_provider(record: RateEvent | RateTick, keyer: RecipientKeyer) -> bytes:
    return rate_event_key(record)


def _by_intake_id(mail: InboundMail, keyer: RecipientKeyer) -> bytes:
    return mail.intake_id.encode("ascii")


def _by_webhook_id(webhook: EspWebhook, keyer: RecipientKeyer) -> bytes:
    return webhook.webhook_id.encode("ascii")


def _by_original_key(letter: DeadLetter, keyer: RecipientKeyer) -> bytes | None:
    """A dead letter keeps the key of the record it sets aside, so it lands where that did."""
    return letter.original_key


# --- the topics ----------------------------------------------------------------------------------

SEND_REQUESTS = TopicSpec(
    "send-requests",
    "SendRequest, keyed by recipient key",
    record=SendRequest,
    key=_by_recipient_address,
    personal=True,
)


def read_send_request(value: bytes | None, codec: Codec) -> SendRequest:
    """A `send-requests` value as the gate reads it: within the gate's size limit, then decoded
    (`CodecError` / `InvalidRecordError` otherwise). The replay reads requests the same way."""
    size = len(value or b"")
    if size > MAX_SEND_REQUEST_BYTES:
        raise InvalidRecordError(
            f"the send request is {size:,} bytes, over the gate's limit of "
            f"{MAX_SEND_REQUEST_BYTES:,}: send the message's facts (its text and links), "
            "not the message with its attachments"
        )
    return codec.decode(value or b"", SendRequest)


SEND_DECISIONS = TopicSpec(
    "send-decisions",
    "SendDecision, keyed by recipient key",
    record=SendDecision,
    key=_by_recipient_key,
    personal=True,
)
UNSUBSCRIBE_CLICKS = TopicSpec(
    "unsubscribe-clicks",
    "UnsubscribeClick, keyed by recipient key",
    record=UnsubscribeClick,
    key=_by_recipient_key,
    personal=True,
)
SUPPRESSION_CHANGES = TopicSpec(
    "suppression-changes",
    "SuppressionChange, keyed by recipient key (audit trail)",
    record=SuppressionChange,
    key=_by_recipient_key,
    personal=True,
)
INBOUND_MAIL = TopicSpec(
    "inbound-mail",
    "InboundMail, keyed by intake id (raw DSNs, feedback reports, replies)",
    record=InboundMail,
    key=_by_intake_id,
    personal=True,
)
ESP_WEBHOOKS = TopicSpec(
    "esp-webhooks",
    "EspWebhook, keyed by webhook id (authenticated ESP webhook bodies: SES, SendGrid, Mailgun, "
    "Postmark)",
    record=EspWebhook,
    key=_by_webhook_id,
    personal=True,
)
DEAD_LETTERS = TopicSpec(
    "dead-letters",
    "DeadLetter, keyed by the original record's key",
    record=DeadLetter,
    key=_by_original_key,
    personal=True,
)
ERASURE_REQUESTS = TopicSpec(
    "erasure-requests",
    "ErasureRequest, keyed by recipient key (a person's data to be erased; no address)",
    # Kept for ever: the proof that each request was honoured. A few bytes per request.
    config={"retention.ms": "-1"},
    record=ErasureRequest,
    key=_by_recipient_key,
)
ERASURE_EVENTS = TopicSpec(
    "erasure-events",
    "ErasureEvent, keyed by recipient key (each erasure's steps, then what was removed where)",
    config={"retention.ms": "-1"},
    record=ErasureEvent,
    key=_by_recipient_key,
)
ADDRESS_CORRECTIONS = TopicSpec(
    "address-corrections",
    "AddressCorrection, keyed by the old recipient key (an address corrected; no address)",
    # Kept for ever, like erasure-requests: the trail of why a consent moved from one key to
    # another. Only keys and ids, a few bytes per correction.
    config={"retention.ms": "-1"},
    record=AddressCorrection,
    key=_by_old_recipient_key,
)
SUPPRESSIONS_CHANGELOG = table_changelog(
    "suppressions", "SuppressionState by recipient key", SuppressionState
)

DELIVERY_EVENTS = TopicSpec(
    "delivery-events",
    "DeliveryEvent, keyed by recipient key",
    record=DeliveryEvent,
    key=_by_recipient_key,
    personal=True,
)
FEEDBACK_REPORTS = TopicSpec(
    "feedback-reports",
    "FeedbackReport, keyed by recipient key",
    record=FeedbackReport,
    key=_by_recipient_key,
    personal=True,
)
BOUNCE_CHANGES = TopicSpec(
    "bounce-changes",
    "BounceChange, keyed by recipient key (audit trail of the bounce counts)",
    record=BounceChange,
    key=_by_recipient_key,
    personal=True,
)
BOUNCES_CHANGELOG = table_changelog("bounces", "BounceState by recipient key", BounceState)

CONSENT_EVENTS = TopicSpec(
    "consent-events",
    "ConsentEvent, keyed by recipient key (grants, confirmations, withdrawals, imports, reviews)",
    record=ConsentEvent,
    key=_by_recipient_key,
    personal=True,
)
CONSENT_NOTICES = TopicSpec(
    "consent-notices",
    "ConsentNotice, keyed by recipient key (implied consent expiring or expired)",
    record=ConsentNotice,
    key=_by_recipient_key,
    personal=True,
)
CONSENT_DEADLINES = TopicSpec(
    "consent-deadlines",
    "ConsentDeadline, keyed by recipient key (internal: the consent timer's nudges)",
    record=ConsentDeadline,
    key=_by_recipient_key,
    personal=True,
)
CONSENTS_CHANGELOG = table_changelog("consents", "ConsentState by recipient key", ConsentState)
CONSENT_DEADLINES_CHANGELOG = table_changelog(
    "consent_deadlines",
    "next notice due, epoch ms, by recipient key",
    None,  # big-endian epoch milliseconds (`streams.gate.agents`), not a record
)

RATE_EVENTS = TopicSpec(
    "rate-events",
    "RateEvent, keyed by `account|provider` (or `account|*`): internal, the rate keeper's input",
    record=RateEvent,
    key=_by_account_and_provider,
)
RATE_TICKS = TopicSpec(
    "rate-ticks",
    "RateTick, keyed like rate-events (internal: the rate keeper's daily nudge for idle keys)",
    record=RateTick,
    key=_by_account_and_provider,
)
RATE_BREACHES = TopicSpec(
    "rate-breaches",
    "BreachReport, keyed by account (internal: rates over a line, to the enforcer)",
    record=BreachReport,
    key=_by_account,
)
ACCOUNT_COMMANDS = TopicSpec(
    "account-commands",
    "ReinstatementRequest, keyed by account (operators' reinstatements)",
    record=ReinstatementRequest,
    key=_by_account,
)
SENDER_DOMAINS = TopicSpec(
    "sender-domains",
    "SenderDomains, keyed by account (the account's verified sending domains, whole set each time)",
    # Every worker reads it whole at start (streams.gate.broadcast): the latest set per account must
    # outlive any retention.
    compacted=True,
    record=SenderDomains,
    key=_by_account,
)
CONTENT_MISUSE = TopicSpec(
    "content-misuse",
    "MisuseReport, keyed by account (internal: transactional sends the gate found carrying "
    "marketing, to the enforcer)",
    record=MisuseReport,
    key=_by_account,
)
ENFORCEMENT_EVENTS = TopicSpec(
    "enforcement-events",
    "EnforcementEvent, keyed by account (strikes, ladder steps, pauses, reviews, reinstatements, "
    "fines)",
    # Kept for ever: every worker rebuilds each account's standing from it at start
    # (streams.gate.broadcast), and billing and support read its history. A few records per account.
    config={"retention.ms": "-1"},
    record=EnforcementEvent,
    key=_by_account,
)
RATE_INPUTS_CHANGELOG = table_changelog(
    "rate_inputs", "RecipientRates by recipient key", RecipientRates
)
RATES_CHANGELOG = table_changelog("rates", "RateState by `account|provider`", RateState)
STANDINGS_CHANGELOG = table_changelog("standings", "AccountStanding by account", AccountStanding)
SEND_HISTORY_CHANGELOG = table_changelog(
    "send_history", "SendHistory by recipient key", SendHistory
)

TOPICS: tuple[TopicSpec, ...] = (
    SEND_REQUESTS,
    SEND_DECISIONS,
    UNSUBSCRIBE_CLICKS,
    SUPPRESSION_CHANGES,
    DEAD_LETTERS,
    SUPPRESSIONS_CHANGELOG,
    INBOUND_MAIL,
    ESP_WEBHOOKS,
    DELIVERY_EVENTS,
    FEEDBACK_REPORTS,
    BOUNCE_CHANGES,
    BOUNCES_CHANGELOG,
    CONSENT_EVENTS,
    CONSENT_NOTICES,
    CONSENT_DEADLINES,
    CONSENTS_CHANGELOG,
    CONSENT_DEADLINES_CHANGELOG,
    RATE_EVENTS,
    RATE_TICKS,
    RATE_BREACHES,
    ACCOUNT_COMMANDS,
    ENFORCEMENT_EVENTS,
    RATE_INPUTS_CHANGELOG,
    RATES_CHANGELOG,
    STANDINGS_CHANGELOG,
    SENDER_DOMAINS,
    CONTENT_MISUSE,
    SEND_HISTORY_CHANGELOG,
    ERASURE_REQUESTS,
    ERASURE_EVENTS,
    ADDRESS_CORRECTIONS,
)

PERSONAL_TOPICS: tuple[TopicSpec, ...] = tuple(spec for spec in TOPICS if spec.personal)
"""The topics whose records about a person leave by retention."""


def erasure_horizons(settings: Settings) -> dict[str, float]:
    """Each topic that may still hold an erased person's records, by its place name in an
    erasure's report (`topic <name>`), and how long after the erasure they may stay there: the
    personal topics until retention deletes them, the person tables' changelogs until compaction
    drops the values the erasure's tombstones replaced. The suppressions' changelog is not
    listed: the suppression is kept."""
    horizons: dict[str, float] = {}
    for spec in TOPICS:
        within = spec.gone_within_s(settings)
        if within is not None and spec.table != "suppressions":
            horizons[f"topic {spec.full_name(settings)}"] = within
    return horizons


PERSON_TABLE_CHANGELOGS: tuple[TopicSpec, ...] = tuple(
    spec for spec in TOPICS if spec.table in _PERSON_TABLES
)


@cache
def default_codec() -> Codec:
    """The codec over the repository's schemas and every record type that travels; built once
    per process."""
    return Codec(load_schema_versions(), all_record_types())


def all_record_types() -> tuple[type[Record], ...]:
    """Every record type on our topics and tables: `streams.core.records`' and those the rate,
    breach, strike, standing and cadence modules define next to their logic."""
    return (
        *RECORD_TYPES,
        *rates.RECORDS,
        *breaches.RECORDS,
        *strikes.RECORDS,
        *rate_inputs.RECORDS,
        *standing.RECORDS,
        *frequency.RECORDS,
    )
