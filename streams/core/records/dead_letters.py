"""Dead letters: a record set aside with where it came from and why, so failures are data."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from streams.core.records.base import Record, UtcMillis

__all__ = ["DeadLetter", "DeadLetterKind"]

DeadLetterKind = Literal["undecodable", "unknown_schema", "invalid"]


class DeadLetter(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.DeadLetter"

    origin_topic: str
    origin_partition: int = Field(ge=0)
    origin_offset: int = Field(ge=0)
    original_key: bytes | None = None
    original_value: bytes | None = None
    error_kind: DeadLetterKind
    reason: str
    agent: str
    failed_at: UtcMillis

    @field_validator("reason")
    @classmethod
    def _reason_is_short(cls, reason: str) -> str:
        return reason if len(reason) <= 2000 else reason[:1997] + "..."
