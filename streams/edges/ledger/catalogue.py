"""Which topics the ledger copies, and where each of their records lands: one table, one place.

Each entry names a topic of the topic catalogue (`streams.topics`, which says the record type it
carries), the model (table) its records become rows of, and the function that makes the row. The
sink reads exactly these topics and decodes each as its record type; the writer finds a record's
table and row function by the record's type. Storing one more record in the ledger is a model, a
migration, a row function and one entry here, and no new branch in the writer or the sink.

One entry is `chained`: consent events are stored as a hash chain per recipient
(`streams.edges.ledger.chain`), so the writer numbers and links those rows instead of inserting them
as they are (`LedgerWriter._insert_chained`).

Each entry also says what a row's identity is (`identity`: the columns naming the event it
records, unique together in its table) and which of its columns may differ between two reports
of one event (`varying`); the rest is its content, compared by digest (`ledger.identity`) when a
row's identity is already stored. The identities, and why, are the ledger package's docstring.

An entry with `personal` names the columns that are the person's data in clear: an erasure
request of the recipient sets them to NULL (and `erased_at`), and a row of theirs that arrives
after the request but happened before it is stored without them. Two rows of one identity are
compared without those columns when the stored one is erased (its fields are gone, so a replay of
its record is still a replay, not a conflict). The entry with `erases` is the erasure requests
themselves: the writer carries each new one out in the batch's transaction (`redaction`).

An entry with `repeats` takes a record whose identity is stored already not for a report of the
same event but for a fact of its own that happens again: the gate deciding a request it has
decided before. Such a record is not compared with the stored row; it goes whole to the repeats
table, marked with whether it agrees with the first. So the first stays the one row of its
identity, and still no record of the topic is missing from the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Table

from streams.core.records import Record
from streams.edges.ledger.models import (
    AddressCorrectionRow,
    Base,
    BounceChangeRow,
    ConsentEventRow,
    EnforcementEventRow,
    ErasureRow,
    ErasureStepRow,
    FeedbackReportRow,
    SendDecisionRepeatRow,
    SendDecisionRow,
    SuppressionChangeRow,
    metadata,
)
from streams.edges.ledger.rows import (
    address_correction_row,
    bounce_change_row,
    consent_event_row,
    decision_row,
    enforcement_event_row,
    erasure_event_row,
    erasure_request_row,
    feedback_report_row,
    same_decision,
    suppression_change_row,
)
from streams.topics import (
    ADDRESS_CORRECTIONS,
    BOUNCE_CHANGES,
    CONSENT_EVENTS,
    ENFORCEMENT_EVENTS,
    ERASURE_EVENTS,
    ERASURE_REQUESTS,
    FEEDBACK_REPORTS,
    SEND_DECISIONS,
    SUPPRESSION_CHANGES,
    TopicSpec,
)

__all__ = [
    "COORDINATES",
    "LEDGER_TOPICS",
    "WRITTEN_BY_THE_LEDGER",
    "LedgerTopic",
    "Personal",
    "Repeats",
]

R = TypeVar("R", bound=Record)

COORDINATES: tuple[str, ...] = ("kafka_topic", "kafka_partition", "kafka_offset")
"""Where a row's record was read; unique in every ledger table."""
WRITTEN_BY_THE_LEDGER = frozenset(
    {
        "id",
        *COORDINATES,
        "chain_seq",
        "prev_hash",
        "entry_hash",
        "chain_format",
        "personal_salt",
        "personal_commitment",
        "erased_at",
        "processed_at",
        "chain_before",
    }
)
"""Columns the ledger fills as it stores a row, not the record: ingestion metadata, the chain and
its commitment (salted at random, so never equal twice), and the erasure's marks; never part of a
row's content (the same event read at other coordinates is the same event)."""


@dataclass(frozen=True, slots=True)
class Personal:
    """What of an entry's rows is the person's data in clear, erased on their request.

    `columns` are filled from the record and set to NULL on erasure; `also` are the ledger's own
    columns that go with them (a commitment's salt). `moment` gives when a row's data was given
    (a consent event's time): a row at or before an erasure request's `requested_at` that the
    ledger reads only after the request is stored erased. `what` names the columns for people,
    in an erasure's report."""

    columns: tuple[str, ...]
    moment: Callable[[Mapping[str, Any]], datetime]
    what: str
    also: tuple[str, ...] = ()

    @property
    def erased(self) -> tuple[str, ...]:
        """Every column an erasure sets to NULL."""
        return (*self.columns, *self.also)


@dataclass(frozen=True, slots=True)
class Repeats:
    """Where the later records of a stored identity go, and how they are set beside the first.

    `model` has every column of the entry's table (a repeat is read like the row it repeats),
    unique by Kafka coordinates only, and the boolean column `agrees`, which `same` fills: given
    the row stored first and the repeat, whether they come to the same outcome (less than the
    same content, which never holds for two facts made at two moments).
    """

    model: type[Base]
    same: Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
    agrees: str

    @property
    def table(self) -> Table:
        return metadata.tables[self.model.__tablename__]


@dataclass(frozen=True, slots=True)
class LedgerTopic(Generic[R]):
    """One topic the ledger copies: its model, and how one of its records becomes a row.

    `row` takes the record and its Kafka coordinates (topic, partition, offset) and returns the
    column values. `chained` rows are appended to a per-recipient hash chain (they need
    `recipient_key` and `event_id` columns and the chain columns of `ConsentEventRow`).

    `identity` names the columns that identify the event a row records, as the table's unique
    constraint does; empty when the row is only its Kafka record (its coordinates identify it).
    `varying` names columns that legitimately differ between two reports of one event (a
    keeper's outcome and clock when it reports an event again after a crash): they are not
    compared. Every other column the record fills is the row's content.

    `repeats`, for a topic whose records can be the same fact happening again rather than one
    event reported twice: a record whose identity is stored already (at other coordinates) is
    stored there instead of being compared (the module docstring says why).

    `personal`, for a table holding the person's data in clear (it needs `recipient_key` and
    `erased_at` columns); `erases`, for the erasure requests (the module docstring says both).
    """

    topic: TopicSpec
    model: type[Base]
    row: Callable[[R, str, int, int], dict[str, Any]]
    chained: bool = False
    identity: tuple[str, ...] = ()
    varying: tuple[str, ...] = ()
    repeats: Repeats | None = None
    personal: Personal | None = None
    erases: bool = False

    def __post_init__(self) -> None:
        if self.topic.record is None:
            raise ValueError(f"the ledger copies records; topic '{self.topic.name}' has none")
        columns = {c.key for c in self.table.columns}
        erased = self.personal.erased if self.personal else ()
        needed = ("recipient_key", "erased_at") if self.personal else ()
        unknown = {*self.identity, *self.varying, *erased, *needed} - columns
        if unknown:
            raise ValueError(f"{self.table.name} has no column {', '.join(sorted(unknown))}")
        if self.repeats is not None:
            self._check_repeats(self.repeats, columns)

    def _check_repeats(self, repeats: Repeats, columns: set[str]) -> None:
        """A repeats table that could not hold a row of the entry would fail on the first repeat,
        which may come months after the deployment."""
        if not self.identity or self.chained:
            raise ValueError(
                f"{self.table.name}: only rows with an identity of their own, not chained, "
                "can have repeats"
            )
        kept = {c.key for c in repeats.table.columns}
        missing = (columns - kept) | ({repeats.agrees} - kept)
        if missing:
            raise ValueError(f"{repeats.table.name} has no column {', '.join(sorted(missing))}")

    @property
    def tables(self) -> tuple[Table, ...]:
        """Every table the topic's records land in: its own, then its repeats table if any."""
        if self.repeats is None:
            return (self.table,)
        return (self.table, self.repeats.table)

    @property
    def record_type(self) -> type[R]:
        """The record type the catalogue says the topic carries."""
        return cast("type[R]", self.topic.record)

    @property
    def table(self) -> Table:
        return metadata.tables[self.model.__tablename__]

    @property
    def content(self) -> tuple[str, ...]:
        """The columns two rows of one identity must agree on to be the same: every column but
        the ones the ledger writes itself (row id, Kafka coordinates, chain) and `varying`."""
        skipped = {*WRITTEN_BY_THE_LEDGER, *self.varying}
        return tuple(c.key for c in self.table.columns if c.key not in skipped)

    def content_of(self, stored: Mapping[str, Any]) -> tuple[str, ...]:
        """The columns to compare a row with `stored` on: `content`, less the personal columns
        when `stored` was erased (they are NULL there, whatever the record said)."""
        if self.personal is None or stored.get("erased_at") is None:
            return self.content
        return tuple(name for name in self.content if name not in self.personal.erased)

    @property
    def noun(self) -> str:
        """What one row is, for people: `consent event` for a ConsentEvent."""
        return re.sub(r"(?<!^)(?=[A-Z])", " ", self.record_type.__name__).lower()

    def identity_of(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The row's identity; its Kafka coordinates when the table has none of its own."""
        return tuple(row[name] for name in self.identity or COORDINATES)

    def describe(self, row: Mapping[str, Any]) -> str:
        """The row as a conflict's reason names it: `consent event acme/e-1`."""
        return f"{self.noun} {'/'.join(str(value) for value in self.identity_of(row))}"


LEDGER_TOPICS: tuple[LedgerTopic[Any], ...] = (
    LedgerTopic(
        SEND_DECISIONS,
        SendDecisionRow,
        decision_row,
        identity=("account_id", "request_id", "kafka_topic"),
        repeats=Repeats(SendDecisionRepeatRow, same_decision, agrees="same_decision"),
    ),
    LedgerTopic(
        SUPPRESSION_CHANGES,
        SuppressionChangeRow,
        suppression_change_row,
        identity=("source",),
        varying=("outcome", "changed_at"),
    ),
    LedgerTopic(
        BOUNCE_CHANGES,
        BounceChangeRow,
        bounce_change_row,
        identity=("recipient_key", "event_id"),
        varying=(
            "outcome",
            "consecutive_soft_before",
            "consecutive_soft_after",
            "policy",
            "source",
            "changed_at",
        ),
    ),
    LedgerTopic(
        FEEDBACK_REPORTS,
        FeedbackReportRow,
        feedback_report_row,
        identity=("report_id",),
        varying=("received_at", "source"),
        personal=Personal(
            columns=("original_message_id",),
            moment=lambda row: row["arrival_date"] or row["received_at"],
            what="Message-ID of the reported message",
        ),
    ),
    LedgerTopic(
        CONSENT_EVENTS,
        ConsentEventRow,
        consent_event_row,
        chained=True,
        identity=("account_id", "event_id"),
        personal=Personal(
            columns=("ip", "user_agent", "source_id"),
            also=("personal_salt",),
            moment=lambda row: row["occurred_at"],
            what="IP address, user agent and source id (and the salt of their commitment)",
        ),
    ),
    LedgerTopic(
        ENFORCEMENT_EVENTS,
        EnforcementEventRow,
        enforcement_event_row,
        identity=("event_id",),
    ),
    LedgerTopic(
        ADDRESS_CORRECTIONS,
        AddressCorrectionRow,
        address_correction_row,
        identity=("correction_id",),
    ),
    LedgerTopic(
        ERASURE_REQUESTS,
        ErasureRow,
        erasure_request_row,
        identity=("request_id",),
        erases=True,
    ),
    LedgerTopic(
        ERASURE_EVENTS,
        ErasureStepRow,
        erasure_event_row,
        identity=("event_id",),
        # The ledger publishes its step again if its commit failed after Kafka took the step
        # (at least once); the copy carries new times, and the first one read stands.
        varying=("places", "at"),
    ),
)
"""In this order the writer inserts a batch's rows, table by table: the erasure requests after
every table with personal columns, so a request erases the rows of its own batch too."""


def _erasures_come_last(entries: tuple[LedgerTopic[Any], ...]) -> None:
    """A request stored before a personal table's rows of its batch would leave them unerased
    whenever they happened after it (a late row is only erased up to the request's time)."""
    erasing = [n for n, entry in enumerate(entries) if entry.erases]
    personal = [n for n, entry in enumerate(entries) if entry.personal is not None]
    if erasing and personal and min(erasing) < max(personal):
        raise ValueError("the erasure requests must come after every table with personal columns")


_erasures_come_last(LEDGER_TOPICS)
