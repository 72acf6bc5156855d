"""Sending: the request a sender publishes for every message, and the gate's decision on it."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from streams.core.records.base import (
    COUNTRY_CODE,
    ID,
    RECIPIENT_KEY,
    Jurisdiction,
    Record,
    UtcMillis,
)
from streams.core.records.suppression import SuppressionEntry

__all__ = [
    "MAX_BODY_LINKS",
    "MAX_BODY_TEXT_CHARS",
    "MAX_HEADERS",
    "MAX_HEADER_VALUE_CHARS",
    "MAX_SEND_REQUEST_BYTES",
    "BodyLink",
    "Classification",
    "DmarcPolicy",
    "MailAuthentication",
    "MessageBody",
    "RuleFailure",
    "SendDecision",
    "SendKind",
    "SendRequest",
    "Verdict",
]

Classification = Literal["commercial", "transactional"]
SendKind = Literal["bulk", "one_off"]
Verdict = Literal["allow", "deny"]

MAX_BODY_TEXT_CHARS = 65_536
MAX_BODY_LINKS = 500
MAX_HEADERS = 100
MAX_HEADER_VALUE_CHARS = 4_000
MAX_SEND_REQUEST_BYTES = 256 * 1024
"""A send request carries the facts the content rules need, not the message: past these limits
it goes to dead-letters with the limit named (`streams.gate.deciding.decide_send`)."""


class BodyLink(Record):
    url: str = Field(min_length=1, max_length=2048)
    text: str = Field(default="", max_length=1000)


class MessageBody(Record):
    text: str = Field(max_length=MAX_BODY_TEXT_CHARS)
    links: tuple[BodyLink, ...] = Field(default=(), max_length=MAX_BODY_LINKS)


DmarcPolicy = Literal["none", "quarantine", "reject"]


class MailAuthentication(Record):
    dkim_domain: str | None = Field(default=None, min_length=1, max_length=255)
    dkim_signed_headers: tuple[Annotated[str, Field(min_length=1, max_length=76)], ...] = Field(
        default=(), max_length=100
    )
    spf_domain: str | None = Field(default=None, min_length=1, max_length=255)
    dmarc_policy: DmarcPolicy | None = None


class SendRequest(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.SendRequest"

    request_id: str = ID
    account_id: str = ID
    list_id: str | None = Field(default=None, min_length=1, max_length=200)
    recipient: str = Field(min_length=1, max_length=512)
    jurisdiction: Jurisdiction = COUNTRY_CODE
    classification: Classification
    promotional_content: bool = False
    honor_list_opt_outs: bool = False
    send_kind: SendKind = "bulk"
    from_address: str = Field(min_length=3, max_length=512)
    subject: str = Field(max_length=998)
    reply_to: str | None = Field(default=None, min_length=3, max_length=512)
    headers: dict[
        Annotated[str, Field(pattern=r"^[!-9;-~]{1,76}$")],
        Annotated[str, Field(max_length=MAX_HEADER_VALUE_CHARS)],
    ] = Field(default_factory=dict, max_length=MAX_HEADERS)
    body: MessageBody | None = None
    authentication: MailAuthentication | None = None
    requested_at: UtcMillis

    def header(self, name: str) -> str | None:
        """A header the message will carry, by case-insensitive name (RFC 5322 §1.2.2)."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    @property
    def commercial(self) -> bool:
        """Commercial by classification, or by content: a transactional message that carries
        promotional content is commercial (CAN-SPAM 16 CFR 316.3 "primary purpose"; CASL s.6(6)
        exempts only messages that are solely transactional)."""
        return self.classification == "commercial" or self.promotional_content


class RuleFailure(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.RuleFailure"

    rule: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    law: str
    explanation: str


class SendDecision(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.SendDecision"

    request_id: str
    account_id: str
    recipient_key: str = RECIPIENT_KEY
    verdict: Verdict
    failures: tuple[RuleFailure, ...] = ()
    flags: tuple[RuleFailure, ...] = ()
    policy_version: str
    decided_at: UtcMillis
    request_offset: str
    suppressions_seen: tuple[SuppressionEntry, ...] = ()
    state_offsets: dict[str, int] = Field(default_factory=dict)
    return_path: str | None = Field(default=None, max_length=320)
    provider: str | None = Field(default=None, min_length=1, max_length=255)
    headers: dict[str, str] = Field(default_factory=dict)
    inputs: bytes | None = None
    """What the decision saw beyond `suppressions_seen`, for a replay to decide it again: a
    `streams.rules.inputs.DecisionInputs` in single-object encoding, kept opaque here so the
    readers that only want the verdict (the ledger, the demo) never decode it."""

    @model_validator(mode="after")
    def _verdict_matches_failures(self) -> SendDecision:
        if (self.verdict == "deny") != bool(self.failures):
            raise ValueError("verdict must be deny exactly when failures is not empty")
        return self
