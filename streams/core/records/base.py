"""What every record shares: frozen and strict, times in whole UTC milliseconds, the field shapes
several domains' records use (ids, recipient keys, countries)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, ClassVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "COUNTRY_CODE",
    "ID",
    "RECIPIENT_KEY",
    "Jurisdiction",
    "Record",
    "UtcMillis",
]


def _utc_millis(moment: datetime) -> datetime:
    """Avro timestamp-millis keeps milliseconds; truncating here makes a round trip exact.
    A value read from Avro is UTC and whole milliseconds already, and is every record's
    every time field on the gate's hot path: it is returned as it is."""
    if moment.tzinfo is UTC and moment.microsecond % 1000 == 0:
        return moment
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 falls in year 0 in UTC
        # pydantic turns a ValueError into a problem of the field; an OverflowError escapes it.
        raise ValueError("out of range once in UTC") from None
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


UtcMillis = Annotated[AwareDatetime, AfterValidator(_utc_millis)]
ID = Field(min_length=1, max_length=200)
"""An id a sender or an operator chose (request, account, event, click)."""
RECIPIENT_KEY = Field(pattern=r"^[0-9a-f]{64}$")
"""The recipient key (`streams.core.recipient`), the key of every topic about a person."""
COUNTRY_CODE = Field(default=None, pattern=r"^[A-Z]{2}$")


@lru_cache(maxsize=512)
def _known_country(code: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code that exists (pycountry's copy of the standard), or None."""
    if code is None:
        return None
    import pycountry  # deferred: its database loads on first use, not on every import of records

    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"unknown jurisdiction {code!r}: not an ISO 3166-1 alpha-2 country code")
    return code


Jurisdiction = Annotated[str | None, AfterValidator(_known_country)]
"""The country whose law a message or a consent is judged by (with `COUNTRY_CODE` as its field)."""


class Record(BaseModel):
    """Base of every wire record: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    AVRO_NAME: ClassVar[str]
