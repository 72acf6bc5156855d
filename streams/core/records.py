"""Typed, frozen records: what travels on the topics and what the tables hold.

Each record here has one Avro schema in `schemas/` (named in `AVRO_NAME`); `codec` maps between
them. Field meanings are documented once, in the `.avsc` files; the validators below add the rules
Avro cannot express (a list suppression names its list, datetimes are aware UTC, ...).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

__all__ = [
    "MAX_SEND_REQUEST_BYTES",
    "RECORD_TYPES",
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

Classification = Literal["commercial", "transactional"]
SendKind = Literal["bulk", "one_off"]
Verdict = Literal["allow", "deny"]
SuppressionScope = Literal["list", "account", "platform"]
SuppressionReason = Literal["unsubscribe", "complaint", "hard_bounce", "erasure", "manual"]
SuppressionOutcome = Literal["added", "already_suppressed", "replayed"]
UnsubscribeMethod = Literal[
    "one_click", "link", "reply", "feedback_loop", "manual", "api", "bounce_policy"
]
DeadLetterKind = Literal["undecodable", "unknown_schema", "invalid"]


def _utc_millis(moment: datetime) -> datetime:
    """Avro timestamp-millis keeps milliseconds; truncating here makes a round trip exact.
    A value read from Avro is UTC and whole milliseconds already, and is every record's
    every time field on the gate's hot path: it is returned as it is."""
    if moment.tzinfo is UTC and moment.microsecond % 1000 == 0:
        return moment
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


UtcMillis = Annotated[AwareDatetime, AfterValidator(_utc_millis)]
_Id = Field(min_length=1, max_length=200)
_RecipientKey = Field(pattern=r"^[0-9a-f]{64}$")


_CountryCode = Field(default=None, pattern=r"^[A-Z]{2}$")


@lru_cache(maxsize=512)
def _known_country(code: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code that exists (pycountry's copy of the standard), or None."""
    if code is None:
        return None
    import pycountry  # deferred: its database loads on first use, not on every import of records

    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"unknown jurisdiction {code!r}: not an ISO 3166-1 alpha-2 country code")
    return code


class Record(BaseModel):
    """Base of every wire record: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    AVRO_NAME: ClassVar[str]


MAX_BODY_TEXT_CHARS = 65_536
MAX_BODY_LINKS = 500
MAX_HEADERS = 100
MAX_HEADER_VALUE_CHARS = 4_000
MAX_SEND_REQUEST_BYTES = 256 * 1024
"""A send request carries the facts the content rules need, not the message: past these limits
it goes to dead-letters with the limit named (`streams.gate.agents.decide_send`)."""


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

    request_id: str = _Id
    account_id: str = _Id
    list_id: str | None = Field(default=None, min_length=1, max_length=200)
    recipient: str = Field(min_length=1, max_length=512)
    jurisdiction: Annotated[str | None, AfterValidator(_known_country)] = _CountryCode
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


class SuppressionEntry(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.SuppressionEntry"

    scope: SuppressionScope
    account_id: str | None = None
    list_id: str | None = None
    reason: SuppressionReason
    since: UtcMillis
    source: str
    source_event_id: str

    @model_validator(mode="after")
    def _scope_names_its_target(self) -> SuppressionEntry:
        _check_scope_target(self.scope, self.account_id, self.list_id, platform_names_account=False)
        return self

    def target(self) -> tuple[str, str | None, str | None]:
        """What the entry suppresses; two entries with the same target are the same suppression."""
        return (self.scope, self.account_id, self.list_id)


class SuppressionState(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.SuppressionState"

    entries: tuple[SuppressionEntry, ...] = ()
    applied_event_ids: tuple[str, ...] = ()


class SendDecision(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.SendDecision"

    request_id: str
    account_id: str
    recipient_key: str = _RecipientKey
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

    @model_validator(mode="after")
    def _verdict_matches_failures(self) -> SendDecision:
        if (self.verdict == "deny") != bool(self.failures):
            raise ValueError("verdict must be deny exactly when failures is not empty")
        return self


class UnsubscribeClick(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.UnsubscribeClick"

    click_id: str = _Id
    recipient_key: str = _RecipientKey
    scope: SuppressionScope
    account_id: str | None = Field(default=None, min_length=1, max_length=200)
    list_id: str | None = Field(default=None, min_length=1, max_length=200)
    method: UnsubscribeMethod
    reason: SuppressionReason = "unsubscribe"
    clicked_at: UtcMillis

    @model_validator(mode="after")
    def _scope_names_its_target(self) -> UnsubscribeClick:
        _check_scope_target(self.scope, self.account_id, self.list_id, platform_names_account=True)
        return self


class SuppressionChange(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.SuppressionChange"

    recipient_key: str = _RecipientKey
    entry: SuppressionEntry
    outcome: SuppressionOutcome
    changed_at: UtcMillis


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


def _check_scope_target(
    scope: str, account_id: str | None, list_id: str | None, *, platform_names_account: bool
) -> None:
    """A suppression names exactly what it reaches.

    A click at platform scope may say which account's mail it came from (for the audit); the
    suppression entry it makes does not, so two platform entries are always the same target.
    """
    if scope == "platform":
        if list_id or (account_id and not platform_names_account):
            raise ValueError("a platform suppression names no list and no account")
    elif scope == "account":
        if not account_id or list_id:
            raise ValueError("an account suppression names its account and no list")
    elif not (account_id and list_id):
        raise ValueError("a list suppression names its account and its list")


class InboundMail(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.InboundMail"

    intake_id: str = _Id
    received_at: UtcMillis
    mail_from: str = Field(max_length=512)
    rcpt_to: tuple[str, ...] = Field(min_length=1)
    raw: bytes
    peer: str | None = Field(default=None, max_length=255)


DeliveryKind = Literal["delivered", "deferred", "bounced"]
BounceClass = Literal["hard", "soft", "undetermined"]
FeedbackType = Literal["abuse", "fraud", "opt_out", "not_spam", "virus", "auth_failure", "other"]
BounceOutcome = Literal["counted", "reset", "became_hard", "hard_bounce", "ignored", "replayed"]


class DeliveryEvent(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.DeliveryEvent"

    event_id: str = _Id
    recipient_key: str = _RecipientKey
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


class FeedbackReport(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.FeedbackReport"

    report_id: str = _Id
    recipient_key: str = _RecipientKey
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

    recipient_key: str = _RecipientKey
    event_id: str
    outcome: BounceOutcome
    consecutive_soft_before: int = Field(ge=0)
    consecutive_soft_after: int = Field(ge=0)
    policy: str
    source: str
    changed_at: UtcMillis


ConsentEventKind = Literal[
    "grant", "confirm", "withdraw", "import", "review_approved", "cadence_changed"
]
ConsentBasis = Literal[
    "express",
    "implied_purchase",
    "implied_inquiry",
    "conspicuous_publication",
    "soft_opt_in",
    "legal_obligation",
]
ConsentStatus = Literal[
    "single_opt_in",
    "double_opt_in",
    "pending_review",
    "unconfirmed",
    "transactional_only",
    "hard_bounce",
]
ConsentSourceKind = Literal[
    "form", "import", "api", "checkout", "confirmation_link", "support", "unsubscribe", "bounce"
]


class ConsentEvent(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.ConsentEvent"

    event_id: str = _Id
    recipient_key: str = _RecipientKey
    kind: ConsentEventKind
    account_id: str = _Id
    lists: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = ()
    cadence: str | None = Field(default=None, min_length=1, max_length=100)
    basis: ConsentBasis | None = None
    requires_confirmation: bool = False
    jurisdiction: Annotated[str | None, AfterValidator(_known_country)] = _CountryCode
    source_kind: ConsentSourceKind
    source_id: str | None = Field(default=None, min_length=1, max_length=200)
    wording_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    wording_version: str | None = Field(default=None, min_length=1, max_length=100)
    ip: str | None = Field(default=None, max_length=45)
    user_agent: str | None = Field(default=None, max_length=1000)
    occurred_at: UtcMillis

    @model_validator(mode="after")
    def _kind_has_what_it_needs(self) -> ConsentEvent:
        if self.kind in ("grant", "import") and self.basis is None:
            raise ValueError(f"a {self.kind} event needs a basis (the legal ground of the consent)")
        if self.kind == "review_approved" and self.source_id is None:
            raise ValueError("a review_approved event names the approved import in source_id")
        if self.kind == "import" and self.source_id is None:
            raise ValueError("an import event names its import in source_id")
        if self.kind == "cadence_changed" and self.cadence is None:
            raise ValueError("a cadence_changed event names the new cadence")
        if len(set(self.lists)) != len(self.lists):
            raise ValueError("lists must not repeat an id")
        return self


class ConsentEntry(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.ConsentEntry"

    account_id: str
    lists: tuple[str, ...] = ()
    status: ConsentStatus
    basis: ConsentBasis | None = None
    jurisdiction: str | None = None
    cadence: str | None = None
    source_kind: ConsentSourceKind
    source_id: str | None = None
    wording_version: str | None = None
    requires_confirmation: bool = False
    granted_at: UtcMillis | None = None
    confirmed_at: UtcMillis | None = None
    expires_at: UtcMillis | None = None
    withdrawn_at: UtcMillis | None = None
    withdrawn_reason: SuppressionReason | None = None
    expiring_notified: bool = False
    expired_notified: bool = False
    last_event_id: str

    def scope(self) -> tuple[str, tuple[str, ...]]:
        """What the entry covers: an account, and its lists (none named: all of them)."""
        return (self.account_id, self.lists)

    def covers(self, account_id: str, list_id: str | None) -> bool:
        if self.account_id != account_id:
            return False
        return not self.lists or (list_id is not None and list_id in self.lists)


class ConsentState(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.ConsentState"

    entries: tuple[ConsentEntry, ...] = ()
    applied_event_ids: tuple[str, ...] = ()


class ConsentNotice(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.ConsentNotice"

    notice_id: str = _Id
    recipient_key: str = _RecipientKey
    kind: Literal["expiring", "expired"]
    account_id: str
    lists: tuple[str, ...] = ()
    basis: ConsentBasis
    jurisdiction: str | None = None
    granted_at: UtcMillis
    expires_at: UtcMillis
    emitted_at: UtcMillis


class ConsentDeadline(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.ConsentDeadline"

    recipient_key: str = _RecipientKey
    due_at: UtcMillis
    requested_at: UtcMillis


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


_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class SenderDomains(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.SenderDomains"

    account_id: str = _Id
    domains: tuple[Annotated[str, AfterValidator(_domain_name)], ...] = Field(
        default=(), max_length=1000
    )
    changed_at: UtcMillis
    source: str = Field(min_length=1, max_length=200)


RECORD_TYPES: tuple[type[Record], ...] = (
    SendRequest,
    RuleFailure,
    SuppressionEntry,
    SuppressionState,
    SendDecision,
    UnsubscribeClick,
    SuppressionChange,
    DeadLetter,
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
)
