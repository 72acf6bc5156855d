"""Bounces and complaints: delivery events and feedback reports about mail we sent, and the
per-recipient soft-bounce count they fold into."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from streams.core.records.base import ID, RECIPIENT_KEY, Record, UtcMillis

__all__ = [
    "BounceChange",
    "BounceClass",
    "BounceOutcome",
    "BounceState",
    "DeliveryEvent",
    "DeliveryKind",
    "FeedbackReport",
    "FeedbackType",
]

DeliveryKind = Literal["delivered", "deferred", "bounced"]
BounceClass = Literal["hard", "soft", "undetermined"]
FeedbackType = Literal["abuse", "fraud", "opt_out", "not_spam", "virus", "auth_failure", "other"]
BounceOutcome = Literal[
    "counted", "reset", "became_hard", "hard_bounce", "ignored", "replayed", "sender_refused"
]


class DeliveryEvent(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.DeliveryEvent"

    event_id: str = ID
    recipient_key: str = RECIPIENT_KEY
    kind: DeliveryKind
    bounce_class: BounceClass | None = None
    reason: str | None = Field(default=None, max_length=100)
    status: str | None = Field(default=None, pattern=r"^[245]\.\d{1,3}\.\d{1,3}$")
    diagnostic: str | None = Field(default=None, max_length=2000)
    remote_mta: str | None = Field(default=None, max_length=255)
    account_id: str | None = Field(default=None, min_length=1, max_length=200)
    request_id: str | None = Field(default=None, min_length=1, max_length=200)
    message_id: str | None = Field(default=None, max_length=998)
    occurred_at: UtcMillis
    source: str
    provider: str | None = Field(default=None, min_length=1, max_length=255)
    esp: str | None = Field(default=None, min_length=1, max_length=40)
    """The email service provider whose webhook reported the event; None for our own intake's."""
    esp_event_id: str | None = Field(default=None, min_length=1, max_length=255)
    esp_classification: str | None = Field(default=None, max_length=200)
    """The ESP's own classification, in its words, kept beside ours (`bounce_class`, `reason`),
    which decides: an ESP's `Permanent` is not always a dead address."""
    esp_bounce_class: BounceClass | None = None


class FeedbackReport(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.FeedbackReport"

    report_id: str = ID
    recipient_key: str = RECIPIENT_KEY
    feedback_type: FeedbackType
    reporter: str | None = Field(default=None, max_length=255)
    account_id: str | None = Field(default=None, min_length=1, max_length=200)
    request_id: str | None = Field(default=None, min_length=1, max_length=200)
    list_id: str | None = Field(default=None, min_length=1, max_length=200)
    original_message_id: str | None = Field(default=None, max_length=998)
    arrival_date: UtcMillis | None = None
    received_at: UtcMillis
    source: str
    provider: str | None = Field(default=None, min_length=1, max_length=255)
    esp: str | None = Field(default=None, min_length=1, max_length=40)
    esp_event_id: str | None = Field(default=None, min_length=1, max_length=255)
    esp_feedback_type: str | None = Field(default=None, max_length=100)


class BounceState(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.BounceState"

    consecutive_soft: int = Field(default=0, ge=0)
    total_soft: int = Field(default=0, ge=0)
    soft_since_delivery: tuple[UtcMillis, ...] = ()
    recent_outcomes: tuple[Literal["delivered", "soft", "hard"], ...] = ()
    last_delivery: UtcMillis | None = None
    hard_bounced: bool = False
    applied_event_ids: tuple[str, ...] = ()


class BounceChange(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.BounceChange"

    recipient_key: str = RECIPIENT_KEY
    event_id: str
    outcome: BounceOutcome
    consecutive_soft_before: int = Field(ge=0)
    consecutive_soft_after: int = Field(ge=0)
    policy: str
    source: str
    changed_at: UtcMillis
