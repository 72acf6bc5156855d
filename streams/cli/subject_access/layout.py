"""The report laid out as the person reads it: per section, its headings, rows of text and notes.

The HTML page and the terminal show the same tables; building their text here, once, keeps the
two from saying different things. Every cell is plain text (a cell may have several lines); the
renderers escape it for their medium.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streams.cli.subject_access.wording import (
    SECTIONS,
    Section,
    chain_text,
    day_time,
    given,
    held,
    lists_text,
    scope_text,
    verdict_text,
)
from streams.edges.ledger.subject_access import (
    DecisionRecord,
    ErasureRecord,
    ErasureStep,
    RuleRecord,
    SubjectReport,
)

__all__ = ["Cell", "SectionView", "report_sections"]

Cell = tuple[str, ...]
"""A cell's lines (one, mostly)."""


@dataclass(frozen=True, slots=True)
class SectionView:
    section: Section
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    notes: tuple[str, ...] = ()
    """Sentences shown after the table (the chain check, an erasure's progress)."""


def report_sections(report: SubjectReport) -> tuple[SectionView, ...]:
    """Every section, in the order the report shows them, empty ones included."""
    return (
        _consents(report),
        _view(
            "suppressions",
            ("since", "what it stops", "reason", "outcome", "recorded", "event"),
            [
                (
                    day_time(record.since),
                    scope_text(record.scope, record.account_id, record.list_id),
                    record.reason,
                    record.outcome,
                    day_time(record.changed_at),
                    record.source_event_id,
                )
                for record in report.suppressions
            ],
        ),
        _view(
            "decisions",
            ("decided", "sender (account)", "request", "decision", "reasons", "decided again"),
            [_decision(record) for record in report.decisions],
        ),
        _view(
            "bounces",
            (
                "when",
                "delivery report",
                "outcome",
                "soft failures in a row (before, after)",
                "rule",
            ),
            [
                (
                    day_time(record.changed_at),
                    record.event_id,
                    record.outcome,
                    f"{record.consecutive_soft_before}, {record.consecutive_soft_after}",
                    record.policy,
                )
                for record in report.bounces
            ],
        ),
        _view(
            "complaints",
            (
                "received",
                "type",
                "report",
                "from",
                "sender (account)",
                "list",
                "message",
                "message arrived",
            ),
            [
                (
                    day_time(record.received_at),
                    record.feedback_type,
                    record.report_id,
                    given(record.reporter),
                    given(record.account_id),
                    given(record.list_id),
                    given(record.original_message_id),
                    day_time(record.arrival_date),
                )
                for record in report.complaints
            ],
        ),
        _view(
            "erasure",
            ("request", "when", "step", "place", "what was done", "records", "gone by", "note"),
            [
                row
                for record in report.erasure.requests
                for step in record.steps
                for row in _step_rows(record, step)
            ],
            notes=[_erasure_note(record) for record in report.erasure.requests],
        ),
    )


def _view(
    key: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str | Cell]],
    notes: Sequence[str] = (),
) -> SectionView:
    return SectionView(
        section=SECTIONS[key],
        headers=tuple(headers),
        rows=tuple(tuple((c,) if isinstance(c, str) else tuple(c) for c in row) for row in rows),
        notes=tuple(notes),
    )


def _consents(report: SubjectReport) -> SectionView:
    chain = report.consent.chain
    return _view(
        "consents",
        (
            "when",
            "event",
            "sender (account)",
            "lists",
            "legal basis",
            "country",
            "where given",
            "wording (version, fingerprint)",
            "IP address",
            "browser (user agent)",
        ),
        [
            (
                day_time(event.occurred_at),
                event.kind,
                event.account_id,
                lists_text(event.lists),
                given(event.basis),
                given(event.jurisdiction),
                event.source_kind + (f" {event.source_id}" if event.source_id else ""),
                (given(event.wording_version), given(event.wording_hash)),
                held(event.ip),
                held(event.user_agent),
            )
            for event in report.consent.events
        ],
        notes=[chain_text(chain.verified, chain.entries, chain.explanation)],
    )


def _decision(record: DecisionRecord) -> tuple[str | Cell, ...]:
    again = tuple(
        f"{day_time(repeat.decided_at)}: "
        + ("same decision" if repeat.same_decision else verdict_text(repeat.verdict))
        + (f" ({', '.join(r.rule for r in repeat.failures)})" if repeat.failures else "")
        for repeat in record.repeats
    )
    return (
        day_time(record.decided_at),
        record.account_id,
        record.request_id,
        verdict_text(record.verdict),
        _reasons(record.failures, record.flags),
        again or ("no",),
    )


def _reasons(failures: Sequence[RuleRecord], flags: Sequence[RuleRecord]) -> Cell:
    lines = [f"{rule.rule} ({rule.law}): {rule.explanation}" for rule in failures]
    lines += [f"noted: {rule.rule} ({rule.law}): {rule.explanation}" for rule in flags]
    return tuple(lines) or ("every rule passed",)


def _step_rows(record: ErasureRecord, step: ErasureStep) -> list[tuple[str, ...]]:
    """One row per place the step names; a step that names none gets a row of its own."""
    if not step.places:
        return [(record.request_id, day_time(step.at), step.kind, "", "", "", "", "")]
    return [
        (
            record.request_id,
            day_time(step.at),
            step.kind,
            place.place,
            place.action,
            str(place.count),
            day_time(place.done_by),
            given(place.note),
        )
        for place in step.places
    ]


def _erasure_note(record: ErasureRecord) -> str:
    state = "completed" if record.completed else "in progress"
    return (
        f"Request {record.request_id}, made {day_time(record.requested_at)} by "
        f"{record.requested_by}: {state}."
    )
