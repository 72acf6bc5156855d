"""Sender domains: the domains an account has verified, which its From and Reply-To must use."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field

from streams.core.records.base import ID, Record, UtcMillis

__all__ = ["SenderDomains"]

_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _domain_name(domain: str) -> str:
    """A domain as DNS compares it: lower-case, IDNA A-labels, no trailing dot."""
    name = domain.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{domain!r} is not a domain name") from None
    labels = name.split(".")
    if len(labels) < 2 or len(name) > 253 or not all(_DNS_LABEL.match(x) for x in labels):
        raise ValueError(f"{domain!r} is not a domain name")
    return name


class SenderDomains(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.SenderDomains"

    account_id: str = ID
    domains: tuple[Annotated[str, AfterValidator(_domain_name)], ...] = Field(
        default=(), max_length=1000
    )
    changed_at: UtcMillis
    source: str = Field(min_length=1, max_length=200)
