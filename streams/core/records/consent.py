"""Consent: the events that grant, confirm or withdraw it, the entries the consents table holds per
recipient, and the notices and deadlines of implied consent that lapses."""

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
from streams.core.records.suppression import SuppressionReason

__all__ = [
    "LIVE_STATUSES",
    "WITHDRAWN_STATUSES",
    "ConsentBasis",
    "ConsentDeadline",
    "ConsentEntry",
    "ConsentEvent",
    "ConsentEventKind",
    "ConsentNotice",
    "ConsentSourceKind",
    "ConsentState",
    "ConsentStatus",
]

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
LIVE_STATUSES: frozenset[ConsentStatus] = frozenset(
    {"single_opt_in", "double_opt_in", "pending_review", "unconfirmed"}
)
"""Statuses of a consent that has not been withdrawn (whether or not it allows bulk mail yet)."""
WITHDRAWN_STATUSES: frozenset[ConsentStatus] = frozenset({"transactional_only", "hard_bounce"})
"""Statuses of a withdrawn consent: transactional mail only, or none at all after a hard bounce."""
ConsentSourceKind = Literal[
    "form", "import", "api", "checkout", "confirmation_link", "support", "unsubscribe", "bounce"
]


class ConsentEvent(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.ConsentEvent"

    event_id: str = ID
    recipient_key: str = RECIPIENT_KEY
    kind: ConsentEventKind
    account_id: str = ID
    lists: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = ()
    cadence: str | None = Field(default=None, min_length=1, max_length=100)
    basis: ConsentBasis | None = None
    requires_confirmation: bool = False
    jurisdiction: Jurisdiction = COUNTRY_CODE
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

    notice_id: str = ID
    recipient_key: str = RECIPIENT_KEY
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

    recipient_key: str = RECIPIENT_KEY
    due_at: UtcMillis
    requested_at: UtcMillis
