"""Inbound mail: a message the SMTP intake accepted, kept whole until the parser has read it."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from streams.core.records.base import ID, Record, UtcMillis

__all__ = ["InboundMail"]


class InboundMail(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.InboundMail"

    intake_id: str = ID
    received_at: UtcMillis
    mail_from: str = Field(max_length=512)
    rcpt_to: tuple[str, ...] = Field(min_length=1)
    raw: bytes
    peer: str | None = Field(default=None, max_length=255)
