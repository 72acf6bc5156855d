"""Turn decoded records into ledger rows: plain dictionaries of column values, no database.

Kept apart from the writer so the mapping can be read (and tested) on its own: which record field
lands in which column, and how nested values are flattened into JSON.
"""

from __future__ import annotations

from typing import Any

from streams.core.records import (
    BounceChange,
    ConsentEvent,
    FeedbackReport,
    SendDecision,
    SuppressionChange,
)
from streams.reputation.standing import EnforcementEvent

__all__ = [
    "bounce_change_row",
    "consent_event_row",
    "decision_row",
    "enforcement_event_row",
    "feedback_report_row",
    "suppression_change_row",
]


def _coordinates(topic: str, partition: int, offset: int) -> dict[str, Any]:
    return {"kafka_topic": topic, "kafka_partition": partition, "kafka_offset": offset}


def decision_row(decision: SendDecision, topic: str, partition: int, offset: int) -> dict[str, Any]:
    """A `send_decisions` row; `failed_rules` repeats the rule names for simple SQL filters."""
    return {
        "request_id": decision.request_id,
        "account_id": decision.account_id,
        "recipient_key": decision.recipient_key,
        "verdict": decision.verdict,
        "policy_version": decision.policy_version,
        "decided_at": decision.decided_at,
        "failures": [failure.model_dump(mode="json") for failure in decision.failures],
        "failed_rules": ",".join(failure.rule for failure in decision.failures),
        "suppressions_seen": [seen.model_dump(mode="json") for seen in decision.suppressions_seen],
        "state_offsets": dict(decision.state_offsets),
        "request_offset": decision.request_offset,
        # NULL when there are none, as in rows from before SendDecision v5.
        "flags": [flag.model_dump(mode="json") for flag in decision.flags] or None,
        **_coordinates(topic, partition, offset),
    }


def suppression_change_row(
    change: SuppressionChange, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """A `suppression_changes` row: the entry's fields flattened beside the outcome."""
    entry = change.entry
    return {
        "recipient_key": change.recipient_key,
        "scope": entry.scope,
        "account_id": entry.account_id,
        "list_id": entry.list_id,
        "reason": entry.reason,
        "outcome": change.outcome,
        "since": entry.since,
        "changed_at": change.changed_at,
        "source": entry.source,
        "source_event_id": entry.source_event_id,
        **_coordinates(topic, partition, offset),
    }


def bounce_change_row(
    change: BounceChange, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """A `bounce_changes` row: the change as it was reported, `source` naming the delivery event."""
    return {
        "recipient_key": change.recipient_key,
        "event_id": change.event_id,
        "outcome": change.outcome,
        "consecutive_soft_before": change.consecutive_soft_before,
        "consecutive_soft_after": change.consecutive_soft_after,
        "policy": change.policy,
        "source": change.source,
        "changed_at": change.changed_at,
        **_coordinates(topic, partition, offset),
    }


def feedback_report_row(
    report: FeedbackReport, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """A `feedback_reports` row, for every feedback type (complaint or not)."""
    return {
        "report_id": report.report_id,
        "recipient_key": report.recipient_key,
        "feedback_type": report.feedback_type,
        "reporter": report.reporter,
        "account_id": report.account_id,
        "request_id": report.request_id,
        "list_id": report.list_id,
        "original_message_id": report.original_message_id,
        "arrival_date": report.arrival_date,
        "received_at": report.received_at,
        "source": report.source,
        **_coordinates(topic, partition, offset),
    }


def consent_event_row(
    event: ConsentEvent, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """A `consent_events` row without its chain columns, which the writer adds (`chain.link`)."""
    return {
        "event_id": event.event_id,
        "recipient_key": event.recipient_key,
        "kind": event.kind,
        "account_id": event.account_id,
        "lists": list(event.lists),
        "cadence": event.cadence,
        "basis": event.basis,
        "requires_confirmation": event.requires_confirmation,
        "jurisdiction": event.jurisdiction,
        "source_kind": event.source_kind,
        "source_id": event.source_id,
        "wording_hash": event.wording_hash,
        "wording_version": event.wording_version,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "occurred_at": event.occurred_at,
        **_coordinates(topic, partition, offset),
    }


def enforcement_event_row(
    event: EnforcementEvent, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """An `enforcement_events` row: every field of the event, and of its `status_after` snapshot
    only the status (the rest follows from the history and the standings table)."""
    return {
        "event_id": event.event_id,
        "account_id": event.account_id,
        "action": event.action,
        "at": event.at,
        "policy_version": event.policy_version,
        "explanation": event.explanation,
        "strike_number": event.strike_number,
        "step": event.step,
        "breach_id": event.breach_id,
        "provider": event.provider,
        "breach_kind": event.breach_kind,
        "breach_level": event.breach_level,
        "window_start": event.window_start,
        "window_end": event.window_end,
        "count": event.count,
        "volume": event.volume,
        "line": event.line,
        "by": event.by,
        "reason": event.reason,
        "restored": list(event.restored),
        "strikes_kept": event.strikes_kept,
        "report_id": event.report_id,
        "fine_amount": event.fine_amount,
        "fine_currency": event.fine_currency,
        "status_after": event.status_after.status if event.status_after is not None else None,
        **_coordinates(topic, partition, offset),
    }
