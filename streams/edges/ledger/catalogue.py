"""Which topics the ledger copies, and where each of their records lands: one table, one place.

Each entry names a topic of the topic catalogue (`streams.topics`, which says the record type it
carries), the model (table) its records become rows of, and the function that makes the row. The
sink reads exactly these topics and decodes each as its record type; the writer finds a record's
table and row function by the record's type. Storing one more record in the ledger is a model, a
migration, a row function and one entry here, and no new branch in the writer or the sink.

One entry is `chained`: consent events are stored as a hash chain per recipient
(`streams.edges.ledger.chain`), so the writer numbers and links those rows instead of inserting them
as they are (`LedgerWriter._insert_chained`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Table

from streams.core.records import Record
from streams.edges.ledger.models import (
    Base,
    BounceChangeRow,
    ConsentEventRow,
    EnforcementEventRow,
    FeedbackReportRow,
    SendDecisionRow,
    SuppressionChangeRow,
    metadata,
)
from streams.edges.ledger.rows import (
    bounce_change_row,
    consent_event_row,
    decision_row,
    enforcement_event_row,
    feedback_report_row,
    suppression_change_row,
)
from streams.topics import (
    BOUNCE_CHANGES,
    CONSENT_EVENTS,
    ENFORCEMENT_EVENTS,
    FEEDBACK_REPORTS,
    SEND_DECISIONS,
    SUPPRESSION_CHANGES,
    TopicSpec,
)

__all__ = ["LEDGER_TOPICS", "LedgerTopic"]

R = TypeVar("R", bound=Record)


@dataclass(frozen=True, slots=True)
class LedgerTopic(Generic[R]):
    """One topic the ledger copies: its model, and how one of its records becomes a row.

    `row` takes the record and its Kafka coordinates (topic, partition, offset) and returns the
    column values. `chained` rows are appended to a per-recipient hash chain (they need
    `recipient_key` and `event_id` columns and the chain columns of `ConsentEventRow`).
    """

    topic: TopicSpec
    model: type[Base]
    row: Callable[[R, str, int, int], dict[str, Any]]
    chained: bool = False

    def __post_init__(self) -> None:
        if self.topic.record is None:
            raise ValueError(f"the ledger copies records; topic '{self.topic.name}' has none")

    @property
    def record_type(self) -> type[R]:
        """The record type the catalogue says the topic carries."""
        return cast("type[R]", self.topic.record)

    @property
    def table(self) -> Table:
        return metadata.tables[self.model.__tablename__]


LEDGER_TOPICS: tuple[LedgerTopic[Any], ...] = (
    LedgerTopic(SEND_DECISIONS, SendDecisionRow, decision_row),
    LedgerTopic(SUPPRESSION_CHANGES, SuppressionChangeRow, suppression_change_row),
    LedgerTopic(BOUNCE_CHANGES, BounceChangeRow, bounce_change_row),
    LedgerTopic(FEEDBACK_REPORTS, FeedbackReportRow, feedback_report_row),
    LedgerTopic(CONSENT_EVENTS, ConsentEventRow, consent_event_row, chained=True),
    LedgerTopic(ENFORCEMENT_EVENTS, EnforcementEventRow, enforcement_event_row),
)
"""In this order the writer inserts a batch's rows, table by table."""
