"""The ledger's tables: durable proof of what the gate decided, suppressed, was told and enforced.

Each row of `send_decisions`, `send_decision_repeats`, `suppression_changes`, `bounce_changes`,
`feedback_reports`, `consent_events`, `enforcement_events`, `erasures` and `erasure_steps` is one
record of a Kafka topic,
unique on its coordinates (topic, partition, offset), so replaying a topic into the ledger adds
nothing. Most are also unique on the identity of the event they record, scoped the way its id is
issued (the package docstring says which, per table), so the same event published again adds
nothing either; a request decided again is kept apart, as a repeat of its one decision.
`consent_events` is also a hash chain per recipient (`streams.edges.ledger.chain`), so an edited or
deleted row of it is detected. `consumer_offsets` holds the ledger's own read positions, written
in the same transaction as the rows ("Storing Offsets Outside Kafka", aiokafka's consumer guide):
after a crash the ledger resumes exactly where its last committed rows end.

Erasure: the person's data in clear that the ledger holds (a consent event's IP address, user
agent and source id, a feedback report's Message-ID) is set to NULL when their `ErasureRequest`
arrives, and `erased_at` says when; every table also holds the recipient key, a keyed hash, which
stays as the pseudonymous record of what was done (the package docstring says more).

The same models serve PostgreSQL (the real ledger) and SQLite (the demo), so only portable types
are used: `JSON`; `UtcDateTime`, which gives back aware UTC datetimes on both (SQLite keeps no
time zone); and `ExactDecimal`, which gives back the exact `Decimal` on both (SQLite's NUMERIC
would keep a binary float). There are no CHECK constraints on enumerated values on purpose: the
ledger records what the topics carried, and a row the database refused would stop the sink at
that offset for good; the records were validated when they were decoded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CHAR,
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from streams.core.clock import utc

__all__ = [
    "AddressCorrectionRow",
    "Base",
    "BounceChangeRow",
    "ConsentEventRow",
    "ConsumerOffset",
    "EnforcementEventRow",
    "ErasureRow",
    "ErasureStepRow",
    "ExactDecimal",
    "FeedbackReportRow",
    "SendDecisionRepeatRow",
    "SendDecisionRow",
    "SuppressionChangeRow",
    "UtcDateTime",
    "metadata",
]

KAFKA_TOPIC_MAX_LENGTH = 249
"""Kafka refuses longer topic names."""

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names fixed by convention, so migrations can name them on every database."""


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp with time zone that stores UTC and always reads back aware UTC.

    PostgreSQL keeps the instant (`timestamptz`) and returns it in the session's zone; SQLite
    keeps text without a zone. Storing UTC and attaching UTC on the way out gives the same aware
    value on both. Naive datetimes are refused, not guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = utc(value)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """A decimal kept exactly: NUMERIC without precision or scale on PostgreSQL (any value a record
    carries, neither rounded nor refused as an overflow), the decimal's text on SQLite, whose
    NUMERIC affinity would turn it into a binary float. Reads back a `Decimal` on both."""

    impl = Numeric(asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | str | None:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


_RowId = BigInteger().with_variant(Integer(), "sqlite")
"""BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        list[dict[str, Any]]: JSON(),
        list[str]: JSON(),
        Decimal: ExactDecimal(),
    }


metadata = Base.metadata


class _KafkaCoordinates:
    """Where a row came from; unique, so a replayed record is not stored twice."""

    kafka_topic: Mapped[str] = mapped_column(String(KAFKA_TOPIC_MAX_LENGTH))
    kafka_partition: Mapped[int] = mapped_column(Integer)
    kafka_offset: Mapped[int] = mapped_column(BigInteger)


class _DecisionColumns:
    """What a `SendDecision` leaves in the ledger; shared by the decision kept for a request and
    its repeats, so a repeat can be read (and compared) exactly like the decision it repeats."""

    request_id: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[str] = mapped_column(String(200))
    recipient_key: Mapped[str] = mapped_column(CHAR(64))
    verdict: Mapped[str] = mapped_column(String(16))
    policy_version: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime]
    failures: Mapped[list[dict[str, Any]]]
    """Every failed rule as {"rule", "law", "explanation"}, in rule-table order."""
    failed_rules: Mapped[str] = mapped_column(Text)
    """The failed rule names joined by commas ("" when allowed), for plain SQL filtering."""
    flags: Mapped[list[dict[str, Any]] | None]
    """Failed rules the policy only flags (SendDecision v5), like `failures`; NULL in rows
    written before the column existed, which had none."""
    suppressions_seen: Mapped[list[dict[str, Any]]]
    state_offsets: Mapped[dict[str, Any]]
    request_offset: Mapped[str] = mapped_column(Text)


class SendDecisionRow(_KafkaCoordinates, _DecisionColumns, Base):
    """One `SendDecision`: the verdict, every failed rule and the state it was made on.

    One row per request: the first decision the ledger read of it (the lowest offset, as both
    copies of a request share its recipient's partition). The gate is at-least-once, so a
    request can be decided again; the later decisions are `SendDecisionRepeatRow`s.
    """

    __tablename__ = "send_decisions"
    __table_args__ = (
        UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_send_decisions_kafka"
        ),
        # One decision per request of an account. The topic is part of it because request ids
        # are the senders', so deployments sharing the database (each with its topic prefix),
        # or the demo run again on its own ledger, reuse them for requests of their own.
        Index("uq_send_decisions_request", "account_id", "request_id", "kafka_topic", unique=True),
        Index(None, "account_id", "decided_at"),
        Index(None, "recipient_key"),
        # Retention deletes decisions past their period, oldest first, a batch at a time.
        Index(None, "decided_at"),
    )

    id: Mapped[int] = mapped_column(_RowId, primary_key=True, autoincrement=True)


class SendDecisionRepeatRow(_KafkaCoordinates, _DecisionColumns, Base):
    """A later `SendDecision` of a request that has its row in `send_decisions` already.

    The gate decides a request again when it reads it again (published twice, or re-read after
    a commit the broker never took); that is at-least-once working as designed, not a conflict,
    so the repeat is kept here whole rather than dead-lettered or dropped: every record of the
    topic is a row of one of the two tables. Unique by its Kafka coordinates only (a replay of
    the topic adds nothing), indexed by request, to be found beside its first decision, and by
    recipient, to be found among a person's records.
    """

    __tablename__ = "send_decision_repeats"
    __table_args__ = (
        UniqueConstraint(
            "kafka_topic",
            "kafka_partition",
            "kafka_offset",
            name="uq_send_decision_repeats_kafka",
        ),
        Index(None, "account_id", "request_id"),
        # A person's repeats: `sendgate subject-access` reads every table by key, and an erasure
        # counts the recipient's rows everywhere.
        Index(None, "recipient_key"),
        # Retention deletes repeats past their period, like the decisions.
        Index(None, "decided_at"),
    )

    id: Mapped[int] = mapped_column(_RowId, primary_key=True, autoincrement=True)
    same_decision: Mapped[bool] = mapped_column(Boolean)
    """Whether the repeat came to the decision kept in `send_decisions`: the same verdict, failed
    rules and flagged rules (`rows.same_decision`). False when the state changed in between (an
    unsubscribe, a pause): the request was then denied one time and allowed the other, which is
    what an auditor looks for."""


class SuppressionChangeRow(_KafkaCoordinates, Base):
    """One `SuppressionChange`: the audit trail of an unsubscribe or suppression request."""

    __tablename__ = "suppression_changes"
    __table_args__ = (
        UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_suppression_changes_kafka"
        ),
        # One row per click: the keeper reports a click again when it re-reads it after a crash
        # (outcome "replayed"); that report adds nothing to the audit trail.
        UniqueConstraint("source", name="uq_suppression_changes_source"),
        Index(None, "recipient_key"),
    )

    id: Mapped[int] = mapped_column(_RowId, primary_key=True, autoincrement=True)
    recipient_key: Mapped[str] = mapped_column(CHAR(64))
    scope: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str | None] = mapped_column(String(200))
    list_id: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32))
    since: Mapped[datetime]
    changed_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(Text)
    """Kafka coordinates (topic/partition/offset) of the click that asked for the suppression."""
    source_event_id: Mapped[str] = mapped_column(String(200))


class BounceChangeRow(_KafkaCoordinates, Base):
    """One `BounceChange`: what one delivery event did to a recipient's bounce count."""

    __tablename__ = "bounce_changes"
    __table_args__ = (
        UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_bounce_changes_kafka"
        ),
        # One row per delivery event of a recipient: the keeper reports an event again when it
        # re-reads it after a crash (outcome "replayed"); that report adds nothing to the audit
        # trail. Per recipient, as the keeper remembers the event ids it applied.
        UniqueConstraint("recipient_key", "event_id", name="uq_bounce_changes_recipient_event"),
        Index(None, "recipient_key"),
    )

    id: Mapped[int] = mapped_column(_RowId, primary_key=True, autoincrement=True)
    recipient_key: Mapped[str] = mapped_column(CHAR(64))
    event_id: Mapped[str] = mapped_column(Text)
    """The delivery event's id. Text, not VARCHAR: the record does not bound its length, and a
    value the database refused would stop the sink for good."""
    outcome: Mapped[str] = mapped_column(String(32))
    consecutive_soft_before: Mapped[int] = mapped_column(Integer)
    consecutive_soft_after: Mapped[int] = mapped_column(Integer)
    policy: Mapped[str] = mapped_column(Text)
    """The soft-bounce rule in force, e.g. "consecutive(4)"."""
    source: Mapped[str] = mapped_column(Text)
    """Kafka coordinates (topic/partition/offset) of the delivery event."""
    changed_at: Mapped[datetime]


class FeedbackReportRow(_KafkaCoordinates, Base):
    """One `FeedbackReport`, whatever its type: not-spam, virus and auth-failure reports are
    recorded here even though they suppress nothing."""

    __tablename__ = "feedback_reports"
    __table_args__ = (
        UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_feedback_reports_kafka"
        ),
        # One row per report: a report delivered twice (a retried webhook, a re-read mailbox)
        # carries the same id and adds nothing.
        UniqueConstraint("report_id", name="uq_feedback_reports_report_id"),
        Index(None, "recipient_key"),
        Index(None, "account_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(_RowId, primary_key=True, autoincrement=True)
    report_id: Mapped[str] = mapped_column(String(200))
    recipient_key: Mapped[str] = mapped_column(CHAR(64))
    feedback_type: Mapped[str] = mapped_column(String(32))
    reporter: Mapped[str | None] = mapped_column(String(255))
    account_id: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(200))
    list_id: Mapped[str | None] = mapped_column(String(200))
    original_message_id: Mapped[str | None] = mapped_column(String(998))
    """The reported message's Message-ID. Erased with the person (`erased_at`): a sender may
    build it from the recipient's address, and it names one message to them either way."""
    arrival_date: Mapped[datetime | None]
    """When the reported message arrived at the ISP, if the report said."""
    received_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(Text)
    """Where the report came from: Kafka coordinates of the inbound mail, or a webhook name."""
    esp: Mapped[str | None] = mapped_column(String(40))
    """The email service provider whose webhook reported it (ses, sendgrid, mailgun, postmark);
    NULL for reports our own intake read."""
    esp_event_id: Mapped[str | None] = mapped_column(String(255))
    esp_feedback_type: Mapped[str | None] = mapped_column(String(100))
    """The provider's own word for the complaint, kept beside `feedback_type` (ours)."""
    erased_at: Mapped[datetime | None]
    """When the ledger erased the row's personal data (`original_message_id`); NULL if it did
    not. The row stays, under the recipient key only."""


class ConsentEventRow(_KafkaCoordinates, Base):
    """One `ConsentEvent`, stored append-only and chained per recipient: the proof of consent.

    Every field of the event is kept, IP address and user agent included (the ledger is the one
    place they are kept; logs never carry them), until the person's data is erased: then the
    personal fields (`chain.PERSONAL_FIELDS`) and `personal_salt` are NULL and `erased_at` says
    when, and the rest of the row stays. `chain_seq` numbers a recipient's entries 1, 2, ... in
    the order the ledger stored them, `prev_hash` is the previous entry's `entry_hash` (64 zeros
    for the first) and `entry_hash` the SHA-256 of the entry's canonical bytes in its
    `chain_format` (`streams.edges.ledger.chain`). Unique on (recipient_key, chain_seq), so two
    writers can never fork a chain; that constraint's index is also the proof's: `sendgate
    consent proof` reads one recipient's whole chain in order, to verify it.
    """

    __tablename__ = "consent_events"
    __table_args__ = (
        UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_consent_events_kafka"
        ),
        # One row per event of an account: a redelivered event (a retried form post, a re-run
        # import) carries the same id and adds nothing. Accounts choose their event ids, so two
        # accounts may well use the same one for different events.
        UniqueConstraint("account_id", "event_id", name="uq_consent_events_account_event"),
        UniqueConstraint("recipient_key", "chain_seq", name="uq_consent_events_chain"),
        # Retention finds the evidence that may be past its period by the event's time.
        Index(None, "occurred_at"),
    )

    id: Mapped[int] = mapped_column(_RowId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200))
    recipient_key: Mapped[str] = mapped_column(CHAR(64))
    kind: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str] = mapped_column(String(200))
    lists: Mapped[list[str]]
    cadence: Mapped[str | None] = mapped_column(String(100))
    basis: Mapped[str | None] = mapped_column(String(32))
    requires_confirmation: Mapped[bool] = mapped_column(Boolean)
    jurisdiction: Mapped[str | None] = mapped_column(String(2))
    source_kind: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str | None] = mapped_column(String(200))
    wording_hash: Mapped[str | None] = mapped_column(String(64))
    wording_version: Mapped[str | None] = mapped_column(String(100))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(1000))
    occurred_at: Mapped[datetime]
    chain_seq: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(CHAR(64))
    entry_hash: Mapped[str] = mapped_column(CHAR(64))
    chain_format: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    """How `entry_hash` was taken: 1 of the fields themselves (rows stored before the
    commitment), 2 of `personal_commitment` in their place. The default is 1 so that a writer
    that predates the column still marks its rows rightly; this one always writes 2."""
    personal_salt: Mapped[str | None] = mapped_column(CHAR(64))
    """The random salt of `personal_commitment` (hex); NULL once erased, or in format 1."""
    personal_commitment: Mapped[str | None] = mapped_column(CHAR(64))
    """SHA-256 of the salt and the personal fields (`chain.commit_personal`); NULL in format 1."""
    erased_at: Mapped[datetime | None]
    """When the ledger erased the personal fields (and the salt); NULL while they are kept."""


class EnforcementEventRow(_KafkaCoordinates, Base):
    """One `EnforcementEvent`: a strike, a ladder step, a pause, a review flag, a reinstatement or
    a fine, the account's history of enforcement.

    The standings table forgets strikes after their period and keeps only the latest
    reinstatements; these rows keep them all. A reinstatement keeps who (`by`) and why
    (`reason`); `restored` lists what it gave back. `status_after` is the account's status after
    the event (None for fines, which change nothing the gate denies). Text wherever the record
    does not bound a value's length: a value the database refused would stop the sink for good.
    """

    __tablename__ = "enforcement_events"
    __table_args__ = (
        UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_enforcement_events_kafka"
        ),
        # One row per event: the enforcer derives event ids from what caused them (the breach,
        # the reinstatement request, the complaint), so an event emitted again adds nothing.
        UniqueConstraint("event_id", name="uq_enforcement_events_event_id"),
        Index(None, "account_id", "at"),
    )

    id: Mapped[int] = mapped_column(_RowId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    policy_version: Mapped[str] = mapped_column(Text)
    explanation: Mapped[str] = mapped_column(Text)
    strike_number: Mapped[int | None] = mapped_column(Integer)
    step: Mapped[str | None] = mapped_column(String(32))
    breach_id: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(Text)
    """None on a breach event: the breach was account-wide (every provider)."""
    breach_kind: Mapped[str | None] = mapped_column(String(16))
    breach_level: Mapped[str | None] = mapped_column(String(16))
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    count: Mapped[int | None] = mapped_column(BigInteger)
    volume: Mapped[int | None] = mapped_column(BigInteger)
    line: Mapped[Decimal | None]
    by: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    restored: Mapped[list[str]]
    """What a reinstatement gave back (`broadcasts`, `provider:<name>`, ...); [] otherwise."""
    strikes_kept: Mapped[int | None] = mapped_column(Integer)
    report_id: Mapped[str | None] = mapped_column(Text)
    fine_amount: Mapped[Decimal | None]
    fine_currency: Mapped[str | None] = mapped_column(String(3))
    status_after: Mapped[str | None] = mapped_column(String(32))


class AddressCorrectionRow(_KafkaCoordinates, Base):
    """One `AddressCorrection`: a person's address corrected (GDPR Art. 16), from the old key to
    the new one. The consent events the worker moved name it (`source_id`
    `rectification:<correction_id>`); this row says which key they came from, so the new key's
    proof of consent leads back to the old key's evidence from the ledger alone."""

    __tablename__ = "address_corrections"
    __table_args__ = (
        UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_address_corrections_kafka"
        ),
        UniqueConstraint("correction_id", name="uq_address_corrections_correction_id"),
        Index(None, "old_recipient_key"),
        Index(None, "new_recipient_key"),
    )

    id: Mapped[int] = mapped_column(_RowId, primary_key=True, autoincrement=True)
    correction_id: Mapped[str] = mapped_column(String(200))
    old_recipient_key: Mapped[str] = mapped_column(CHAR(64))
    new_recipient_key: Mapped[str] = mapped_column(CHAR(64))
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime]


class ErasureRow(_KafkaCoordinates, Base):
    """One `ErasureRequest` the ledger carried out: the request, and when the ledger redacted
    the person's rows (`processed_at`, in the same transaction as the row).

    `chain_before` is what `chain.verify_chain` said of the person's consent chain just before
    the redaction ("verified", or its explanation): erasing removes what some checks need, so the
    ledger records whether there was anything to hide first.
    """

    __tablename__ = "erasures"
    __table_args__ = (
        UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_erasures_kafka"
        ),
        UniqueConstraint("request_id", name="uq_erasures_request_id"),
        Index(None, "recipient_key"),
    )

    id: Mapped[int] = mapped_column(_RowId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(200))
    recipient_key: Mapped[str] = mapped_column(CHAR(64))
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime]
    processed_at: Mapped[datetime]
    chain_before: Mapped[str | None] = mapped_column(Text)


class ErasureStepRow(_KafkaCoordinates, Base):
    """One `ErasureEvent`: a step of an erasure, with the places it reports, read back from
    `erasure-events` so an erasure's status can be read from the ledger alone."""

    __tablename__ = "erasure_steps"
    __table_args__ = (
        UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_erasure_steps_kafka"
        ),
        UniqueConstraint("event_id", name="uq_erasure_steps_event_id"),
        Index(None, "request_id"),
    )

    id: Mapped[int] = mapped_column(_RowId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str] = mapped_column(String(200))
    recipient_key: Mapped[str] = mapped_column(CHAR(64))
    kind: Mapped[str] = mapped_column(String(32))
    places: Mapped[list[dict[str, Any]]]
    """Each `ErasedPlace` as {"place", "action", "count", "done_by", "note"}, times ISO-8601."""
    at: Mapped[datetime]


class ConsumerOffset(Base):
    """The next offset the ledger will read, per consumer group and partition."""

    __tablename__ = "consumer_offsets"

    consumer_group: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(KAFKA_TOPIC_MAX_LENGTH), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_offset: Mapped[int] = mapped_column(BigInteger)
