"""The subject-access report as one JSON document, for the person's own tools or a regulator's.

Stable: the top-level keys are fixed (`SUBJECT_ACCESS_FORMAT` names the version, changed only
when a key is renamed or removed), and each record's keys are the field names of its dataclass in
`streams.edges.ledger.subject_access`, in their order, documented there. Times are ISO-8601 UTC
with milliseconds and `Z`; lists are arrays; `null` means the platform does not hold the value
(an IP address never captured, or erased). The erasure section's `status` is `none_recorded`,
`requested` or `completed`.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any

from streams.core.clock import utc_text
from streams.edges.ledger.subject_access import ErasureRecord, SubjectReport

__all__ = ["SUBJECT_ACCESS_FORMAT", "report_document"]

SUBJECT_ACCESS_FORMAT = "sendgate-subject-access/1"


def report_document(report: SubjectReport, address: str) -> dict[str, Any]:
    """The report as JSON-ready values."""
    chain = report.consent.chain
    return {
        "format": SUBJECT_ACCESS_FORMAT,
        "generated_at": utc_text(report.generated_at),
        "address": address,
        "recipient_key": report.recipient_key,
        "consents": {
            "chain": {
                "verified": chain.verified,
                "entries": chain.entries,
                "first_bad_seq": chain.first_bad_seq,
                "problem": chain.problem,
                "explanation": chain.explanation,
            },
            "events": [_value(event) for event in report.consent.events],
        },
        "suppressions": [_value(record) for record in report.suppressions],
        "decisions": [_value(record) for record in report.decisions],
        "bounces": [_value(record) for record in report.bounces],
        "complaints": [_value(record) for record in report.complaints],
        "erasure": {
            "status": report.erasure.status,
            "requests": [_erasure(record) for record in report.erasure.requests],
        },
    }


def _erasure(record: ErasureRecord) -> dict[str, Any]:
    return {**_value(record), "completed": record.completed}


def _value(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: _value(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, tuple | list):
        return [_value(item) for item in value]
    return value
