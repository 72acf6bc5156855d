"""Suppressions: the unsubscribe clicks (and operator, complaint and bounce opt-outs) that come in,
the entries the gate consults, and the changes the ledger records."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from streams.core.records.base import ID, RECIPIENT_KEY, Record, UtcMillis

__all__ = [
    "SuppressionChange",
    "SuppressionEntry",
    "SuppressionOutcome",
    "SuppressionReason",
    "SuppressionScope",
    "SuppressionState",
    "UnsubscribeClick",
    "UnsubscribeMethod",
]

SuppressionScope = Literal["list", "account", "platform"]
SuppressionReason = Literal["unsubscribe", "complaint", "hard_bounce", "erasure", "manual"]
SuppressionOutcome = Literal["added", "already_suppressed", "replayed"]
UnsubscribeMethod = Literal[
    "one_click", "link", "reply", "feedback_loop", "manual", "api", "bounce_policy"
]


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


class UnsubscribeClick(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.UnsubscribeClick"

    click_id: str = ID
    recipient_key: str = RECIPIENT_KEY
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

    recipient_key: str = RECIPIENT_KEY
    entry: SuppressionEntry
    outcome: SuppressionOutcome
    changed_at: UtcMillis


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
