"""Turn decoded records into ledger rows: plain dictionaries of column values, no database.

Kept apart from the writer so the mapping can be read (and tested) on its own: a record field
lands in the column of its name (the models in `models.py` say which are kept), and nested
values are flattened into JSON here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from streams.core.records import (
    AddressCorrection,
    BounceChange,
    ConsentEvent,
    ErasureEvent,
    ErasureRequest,
    FeedbackReport,
    Record,
    SendDecision,
    SuppressionChange,
)
from streams.edges.ledger.models import (
    AddressCorrectionRow,
    Base,
    BounceChangeRow,
    ConsentEventRow,
    EnforcementEventRow,
    ErasureRow,
    ErasureStepRow,
    FeedbackReportRow,
    SendDecisionRow,
    SuppressionChangeRow,
)
from streams.reputation.standing import EnforcementEvent

__all__ = [
    "bounce_change_row",
    "consent_event_row",
    "decision_row",
    "enforcement_event_row",
    "erasure_event_row",
    "erasure_request_row",
    "feedback_report_row",
    "same_decision",
    "suppression_change_row",
]


def _coordinates(topic: str, partition: int, offset: int) -> dict[str, Any]:
    return {"kafka_topic": topic, "kafka_partition": partition, "kafka_offset": offset}


def _copied(record: Record, table: type[Base], **converted: Any) -> dict[str, Any]:
    """Every column of `table` named like a field of `record`, with the field's value, except
    the `converted` ones (flattened to JSON, or taken apart) which are given here. A field
    reaches the ledger only where its table has a column of its name: the models say what is
    kept."""
    copied = {
        name: getattr(record, name)
        for name in _shared_names(table, type(record))
        if name not in converted
    }
    return {**copied, **converted}


@cache
def _shared_names(table: type[Base], record_type: type[Record]) -> tuple[str, ...]:
    """The columns of `table` named like a field of `record_type`: worked out once per pair, not
    once per row the sink writes."""
    fields = record_type.model_fields
    return tuple(column.key for column in table.__table__.columns if column.key in fields)


def decision_row(decision: SendDecision, topic: str, partition: int, offset: int) -> dict[str, Any]:
    """A `send_decisions` row; `failed_rules` repeats the rule names for simple SQL filters."""
    return {
        **_copied(
            decision,
            SendDecisionRow,
            failures=[failure.model_dump(mode="json") for failure in decision.failures],
            suppressions_seen=[seen.model_dump(mode="json") for seen in decision.suppressions_seen],
            state_offsets=dict(decision.state_offsets),
            # NULL when there are none, as in rows from before SendDecision v5.
            flags=[flag.model_dump(mode="json") for flag in decision.flags] or None,
        ),
        "failed_rules": ",".join(failure.rule for failure in decision.failures),
        **_coordinates(topic, partition, offset),
    }


def same_decision(first: Mapping[str, Any], repeat: Mapping[str, Any]) -> bool:
    """Whether a repeated decision of a request decided it as the first did: the same verdict,
    the same failed rules and the same flagged rules, by name and in order.

    Explanations are left out (a rule may quote a count of the moment), and so is everything the
    gate makes anew each time (decision time, list-header tokens, the state's offsets): they
    differ between any two decisions and would hide the ones that matter. The rows compared may
    be new or read back from either database, where no flags is NULL or an empty list alike.
    """

    def outcome(row: Mapping[str, Any]) -> tuple[str, str, list[str]]:
        flagged = [flag["rule"] for flag in row.get("flags") or ()]
        return (row["verdict"], row["failed_rules"], flagged)

    return outcome(first) == outcome(repeat)


def suppression_change_row(
    change: SuppressionChange, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """A `suppression_changes` row: the entry's fields flattened beside the outcome."""
    return {
        **_copied(change, SuppressionChangeRow),
        **_copied(change.entry, SuppressionChangeRow),
        **_coordinates(topic, partition, offset),
    }


def bounce_change_row(
    change: BounceChange, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """A `bounce_changes` row: the change as it was reported, `source` naming the delivery event."""
    return {**_copied(change, BounceChangeRow), **_coordinates(topic, partition, offset)}


def feedback_report_row(
    report: FeedbackReport, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """A `feedback_reports` row, for every feedback type (complaint or not)."""
    return {**_copied(report, FeedbackReportRow), **_coordinates(topic, partition, offset)}


def consent_event_row(
    event: ConsentEvent, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """A `consent_events` row without its chain columns, which the writer adds (`chain.link`)."""
    return {
        **_copied(event, ConsentEventRow, lists=list(event.lists)),
        **_coordinates(topic, partition, offset),
    }


def enforcement_event_row(
    event: EnforcementEvent, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """An `enforcement_events` row: every field of the event, and of its `status_after` snapshot
    only the status (the rest follows from the history and the standings table)."""
    status = event.status_after.status if event.status_after is not None else None
    return {
        **_copied(event, EnforcementEventRow, restored=list(event.restored), status_after=status),
        **_coordinates(topic, partition, offset),
    }


def address_correction_row(
    correction: AddressCorrection, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    return {**_copied(correction, AddressCorrectionRow), **_coordinates(topic, partition, offset)}


def erasure_request_row(
    request: ErasureRequest, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """An `erasures` row without `processed_at` and `chain_before`, which the writer adds as it
    carries the request out (`redaction`)."""
    return {**_copied(request, ErasureRow), **_coordinates(topic, partition, offset)}


def erasure_event_row(
    event: ErasureEvent, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """An `erasure_steps` row: the event, its places as JSON (times ISO-8601, as Pydantic writes
    them)."""
    return {
        **_copied(
            event,
            ErasureStepRow,
            places=[place.model_dump(mode="json") for place in event.places],
        ),
        **_coordinates(topic, partition, offset),
    }
