"""ESP webhooks: a request an email service provider posted, kept whole once it proved its
origin, until the worker has read it."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from streams.core.records.base import ID, Record, UtcMillis

__all__ = ["EspName", "EspWebhook"]

EspName = Literal["ses", "sendgrid", "mailgun", "postmark"]


class EspWebhook(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.EspWebhook"

    webhook_id: str = ID
    esp: EspName
    received_at: UtcMillis
    authenticated_by: str = Field(min_length=1, max_length=200)
    body: bytes
