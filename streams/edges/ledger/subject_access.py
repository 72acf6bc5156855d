"""Subject access: everything the ledger holds about one person, as one report they can read.

A person has the right to see what a platform holds about them. The ledger keeps no address,
only the recipient key, so `read_subject` takes the key (the caller computes it from the address
the person gave) and reads every table that holds rows by it, one indexed query each: consent
events (their whole chain, which `chain.verify_chain` checks), suppression changes, send
decisions and their repeats, bounce changes, feedback reports, and erasures. `build_report`,
pure, turns the rows into the report: frozen dataclasses, in time order, nothing left out that
a row says about the person, nothing added that it does not.

Choices the renderers rely on:
- A request decided twice (the gate is at-least-once) is one decision with its repeats under it
  (`DecisionRecord.repeats`): a person wants to see each request once, and a repeat that came
  out differently is still on record.
- A missing IP address or user agent (never captured, or erased) is None in the report; every
  rendering says "not held" (`NOT_HELD`) for it.
- Erasure: `read_erasure_rows` reads the person's erasure requests and their steps (what was
  removed where, and when), and `build_erasure` folds them into the section.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, inspect, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from streams.core.errors import SendgateError
from streams.edges.ledger.chain import ChainVerdict, verify_chain
from streams.edges.ledger.models import (
    BounceChangeRow,
    ConsentEventRow,
    ErasureRow,
    ErasureStepRow,
    FeedbackReportRow,
    SendDecisionRepeatRow,
    SendDecisionRow,
    SuppressionChangeRow,
    metadata,
)

__all__ = [
    "NOT_HELD",
    "BounceRecord",
    "ComplaintRecord",
    "ConsentRecord",
    "ConsentSection",
    "DecisionRecord",
    "ErasedPlaceRecord",
    "ErasureRecord",
    "ErasureSection",
    "ErasureStep",
    "RepeatRecord",
    "RuleRecord",
    "SubjectReport",
    "SubjectRows",
    "SuppressionRecord",
    "build_erasure",
    "build_report",
    "read_erasure_rows",
    "read_subject",
    "read_subject_rows",
]

NOT_HELD = "not held"
"""What every rendering shows for a value the platform does not hold (an IP address never
captured, or erased): never a blank, never "None"."""

_CONSENT_EVENTS = metadata.tables[ConsentEventRow.__tablename__]
_SUPPRESSION_CHANGES = metadata.tables[SuppressionChangeRow.__tablename__]
_SEND_DECISIONS = metadata.tables[SendDecisionRow.__tablename__]
_DECISION_REPEATS = metadata.tables[SendDecisionRepeatRow.__tablename__]
_BOUNCE_CHANGES = metadata.tables[BounceChangeRow.__tablename__]
_FEEDBACK_REPORTS = metadata.tables[FeedbackReportRow.__tablename__]
_ERASURES = metadata.tables[ErasureRow.__tablename__]
_ERASURE_STEPS = metadata.tables[ErasureStepRow.__tablename__]

Row = Mapping[str, Any]


# --- the report -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One consent event as a sender reported it, with its evidence."""

    occurred_at: datetime
    kind: str
    account_id: str
    lists: tuple[str, ...]
    """The lists it is about; none: all of the account's mail."""
    basis: str | None
    jurisdiction: str | None
    cadence: str | None
    requires_confirmation: bool
    source_kind: str
    source_id: str | None
    wording_hash: str | None
    wording_version: str | None
    ip: str | None
    """None: not held (never captured, or erased)."""
    user_agent: str | None
    """None: not held (never captured, or erased)."""
    event_id: str
    chain_seq: int


@dataclass(frozen=True, slots=True)
class ConsentSection:
    events: tuple[ConsentRecord, ...]
    """In the order they happened (equal times in chain order)."""
    chain: ChainVerdict
    """Whether the stored events are as written: none edited, deleted or moved."""


@dataclass(frozen=True, slots=True)
class SuppressionRecord:
    """One request to stop mail (an unsubscribe, a complaint, a hard bounce, ...) and what the
    platform did with it."""

    since: datetime
    scope: str
    """`list`, `account` or `platform` (all mail through the platform)."""
    account_id: str | None
    list_id: str | None
    reason: str
    outcome: str
    """`added`; `already_suppressed` when mail was stopped already; `replayed` when reported
    again after a restart."""
    changed_at: datetime
    source_event_id: str


@dataclass(frozen=True, slots=True)
class RuleRecord:
    rule: str
    law: str
    explanation: str


@dataclass(frozen=True, slots=True)
class RepeatRecord:
    """The same request decided again (the gate re-read it), kept beside its first decision."""

    decided_at: datetime
    verdict: str
    failures: tuple[RuleRecord, ...]
    flags: tuple[RuleRecord, ...]
    same_decision: bool
    """Whether it came to the first decision's verdict and rules."""


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One request to send the person mail, as the platform decided it (the first decision, the
    one the sender acted on), with any later decisions of the same request."""

    decided_at: datetime
    account_id: str
    request_id: str
    verdict: str
    """`allow` or `deny`."""
    failures: tuple[RuleRecord, ...]
    """The rules the request failed (why it was denied), in rule-table order."""
    flags: tuple[RuleRecord, ...]
    """Rules it failed that the policy only reports."""
    policy_version: str
    repeats: tuple[RepeatRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class BounceRecord:
    """What one delivery report (a bounce, or a delivery that reset the count) did."""

    changed_at: datetime
    event_id: str
    outcome: str
    consecutive_soft_before: int
    consecutive_soft_after: int
    policy: str


@dataclass(frozen=True, slots=True)
class ComplaintRecord:
    """One feedback report about mail to the person: a spam complaint mostly, but also the other
    types a mailbox provider sends (not spam, virus, ...)."""

    received_at: datetime
    feedback_type: str
    report_id: str
    reporter: str | None
    account_id: str | None
    request_id: str | None
    list_id: str | None
    original_message_id: str | None
    arrival_date: datetime | None


@dataclass(frozen=True, slots=True)
class ErasedPlaceRecord:
    """One place that held the person's data, and what became of it (`ErasedPlace`)."""

    place: str
    action: str
    count: int
    done_by: datetime
    note: str | None


@dataclass(frozen=True, slots=True)
class ErasureStep:
    """One step of an erasure (`ErasureEvent`): suppressed, state erased, ledger erased,
    completed."""

    at: datetime
    kind: str
    places: tuple[ErasedPlaceRecord, ...]


@dataclass(frozen=True, slots=True)
class ErasureRecord:
    """One erasure request (`ErasureRequest`) and the steps taken on it so far."""

    request_id: str
    requested_at: datetime
    requested_by: str
    steps: tuple[ErasureStep, ...]

    @property
    def completed(self) -> bool:
        return any(step.kind == "completed" for step in self.steps)


@dataclass(frozen=True, slots=True)
class ErasureSection:
    requests: tuple[ErasureRecord, ...] = ()

    @property
    def status(self) -> str:
        """`none_recorded`, `requested` (some request not completed yet) or `completed`."""
        if not self.requests:
            return "none_recorded"
        return "completed" if all(r.completed for r in self.requests) else "requested"


@dataclass(frozen=True, slots=True)
class SubjectReport:
    """Everything `sendgate subject-access` shows or exports about one recipient key."""

    recipient_key: str
    generated_at: datetime
    consent: ConsentSection
    suppressions: tuple[SuppressionRecord, ...]
    decisions: tuple[DecisionRecord, ...]
    bounces: tuple[BounceRecord, ...]
    complaints: tuple[ComplaintRecord, ...]
    erasure: ErasureSection

    @property
    def empty(self) -> bool:
        """Whether the ledger holds nothing at all about the person."""
        return not (
            self.consent.events
            or self.suppressions
            or self.decisions
            or self.bounces
            or self.complaints
            or self.erasure.requests
        )


@dataclass(frozen=True, slots=True)
class SubjectRows:
    """One person's stored rows, table by table, as read (column name to value)."""

    consent_events: Sequence[Row] = ()
    suppression_changes: Sequence[Row] = ()
    send_decisions: Sequence[Row] = ()
    decision_repeats: Sequence[Row] = ()
    bounce_changes: Sequence[Row] = ()
    feedback_reports: Sequence[Row] = ()
    erasure_requests: Sequence[Row] = ()
    erasure_steps: Sequence[Row] = ()


# --- reading --------------------------------------------------------------------------------------


def read_subject(engine: Engine, recipient_key: str, *, now: datetime) -> SubjectReport:
    """Read the person's rows from the ledger and build the report (`build_report`)."""
    with engine.connect() as connection:
        rows = read_subject_rows(connection, recipient_key)
    return build_report(rows, recipient_key=recipient_key, generated_at=now)


def read_subject_rows(connection: Connection, recipient_key: str) -> SubjectRows:
    """Every table's rows for the key: one indexed query a table, all in one connection."""

    def by_key(table: Table, *order: Any) -> list[dict[str, Any]]:
        query = select(table).where(table.c.recipient_key == recipient_key).order_by(*order)
        return [dict(row) for row in connection.execute(query).mappings()]

    try:
        consent = by_key(_CONSENT_EVENTS, _CONSENT_EVENTS.c.chain_seq)
        suppressions = by_key(_SUPPRESSION_CHANGES, _SUPPRESSION_CHANGES.c.id)
        decisions = by_key(_SEND_DECISIONS, _SEND_DECISIONS.c.id)
        repeats = by_key(_DECISION_REPEATS, _DECISION_REPEATS.c.id)
        bounces = by_key(_BOUNCE_CHANGES, _BOUNCE_CHANGES.c.id)
        reports = by_key(_FEEDBACK_REPORTS, _FEEDBACK_REPORTS.c.id)
    except (ProgrammingError, OperationalError):
        connection.rollback()
        missing = [
            table.name
            for table in (_CONSENT_EVENTS, _DECISION_REPEATS)
            if not inspect(connection).has_table(table.name)
        ]
        if missing:
            raise SendgateError(
                f"the ledger has no {missing[0]} table yet: run `sendgate ledger migrate` "
                "(or `sendgate ledger run`, which migrates first)"
            ) from None
        raise
    erasure_requests, erasure_steps = read_erasure_rows(connection, recipient_key)
    return SubjectRows(
        consent_events=consent,
        suppression_changes=suppressions,
        send_decisions=decisions,
        decision_repeats=repeats,
        bounce_changes=bounces,
        feedback_reports=reports,
        erasure_requests=erasure_requests,
        erasure_steps=erasure_steps,
    )


def read_erasure_rows(
    connection: Connection, recipient_key: str
) -> tuple[Sequence[Row], Sequence[Row]]:
    """The person's erasure requests and erasure steps, as rows for `build_erasure`: request
    rows with `request_id`, `requested_at` and `requested_by`, and step rows with `request_id`,
    `kind`, `at` and `places` (a list of `ErasedPlace` fields), the fields of `ErasureRequest`
    and `ErasureEvent`. Two indexed queries: requests by recipient key, steps by request id."""
    requests = (
        connection.execute(
            select(
                _ERASURES.c.request_id, _ERASURES.c.requested_at, _ERASURES.c.requested_by
            ).where(_ERASURES.c.recipient_key == recipient_key)
        )
        .mappings()
        .all()
    )
    if not requests:
        return (), ()
    steps = (
        connection.execute(
            select(
                _ERASURE_STEPS.c.request_id,
                _ERASURE_STEPS.c.kind,
                _ERASURE_STEPS.c.at,
                _ERASURE_STEPS.c.places,
            ).where(_ERASURE_STEPS.c.request_id.in_([row["request_id"] for row in requests]))
        )
        .mappings()
        .all()
    )
    return requests, steps


# --- building -------------------------------------------------------------------------------------


def build_report(rows: SubjectRows, *, recipient_key: str, generated_at: datetime) -> SubjectReport:
    """The report from one person's stored rows, every section in time order."""
    return SubjectReport(
        recipient_key=recipient_key,
        generated_at=generated_at,
        consent=_consent(rows.consent_events),
        suppressions=tuple(
            sorted(
                (_suppression(row) for row in rows.suppression_changes),
                key=lambda record: record.since,
            )
        ),
        decisions=_decisions(rows.send_decisions, rows.decision_repeats),
        bounces=tuple(
            sorted((_bounce(row) for row in rows.bounce_changes), key=lambda r: r.changed_at)
        ),
        complaints=tuple(
            sorted((_complaint(row) for row in rows.feedback_reports), key=lambda r: r.received_at)
        ),
        erasure=build_erasure(rows.erasure_requests, rows.erasure_steps),
    )


def _consent(rows: Sequence[Row]) -> ConsentSection:
    events = tuple(
        ConsentRecord(
            occurred_at=row["occurred_at"],
            kind=row["kind"],
            account_id=row["account_id"],
            lists=tuple(row["lists"] or ()),
            basis=row["basis"],
            jurisdiction=row["jurisdiction"],
            cadence=row["cadence"],
            requires_confirmation=bool(row["requires_confirmation"]),
            source_kind=row["source_kind"],
            source_id=row["source_id"],
            wording_hash=row["wording_hash"],
            wording_version=row["wording_version"],
            ip=row["ip"] or None,
            user_agent=row["user_agent"] or None,
            event_id=row["event_id"],
            chain_seq=row["chain_seq"],
        )
        for row in rows
    )
    ordered = tuple(sorted(events, key=lambda event: (event.occurred_at, event.chain_seq)))
    return ConsentSection(events=ordered, chain=verify_chain(rows))


def _suppression(row: Row) -> SuppressionRecord:
    return SuppressionRecord(
        since=row["since"],
        scope=row["scope"],
        account_id=row["account_id"],
        list_id=row["list_id"],
        reason=row["reason"],
        outcome=row["outcome"],
        changed_at=row["changed_at"],
        source_event_id=row["source_event_id"],
    )


def _rules(stored: Any) -> tuple[RuleRecord, ...]:
    """Failures or flags as stored (a JSON list of {rule, law, explanation}; NULL: none)."""
    return tuple(
        RuleRecord(
            rule=str(item.get("rule", "")),
            law=str(item.get("law", "")),
            explanation=str(item.get("explanation", "")),
        )
        for item in stored or ()
        if isinstance(item, Mapping)
    )


def _decisions(decisions: Sequence[Row], repeats: Sequence[Row]) -> tuple[DecisionRecord, ...]:
    """Each request once, its repeats under it. A request is identified as the ledger does
    (account, request id, topic); a repeat whose first decision is not among the person's rows
    (it cannot be, short of a hand-edited ledger) is shown as a decision of its own rather than
    dropped."""
    by_request: dict[tuple[Any, ...], list[RepeatRecord]] = {}
    orphans: list[DecisionRecord] = []
    firsts = {_request(row) for row in decisions}
    for row in sorted(repeats, key=lambda r: r["decided_at"]):
        repeat = RepeatRecord(
            decided_at=row["decided_at"],
            verdict=row["verdict"],
            failures=_rules(row["failures"]),
            flags=_rules(row["flags"]),
            same_decision=bool(row["same_decision"]),
        )
        if _request(row) in firsts:
            by_request.setdefault(_request(row), []).append(repeat)
        else:
            orphans.append(_decision(row, ()))
    records = [_decision(row, tuple(by_request.get(_request(row), ()))) for row in decisions]
    return tuple(sorted(records + orphans, key=lambda record: record.decided_at))


def _request(row: Row) -> tuple[Any, ...]:
    return (row["account_id"], row["request_id"], row["kafka_topic"])


def _decision(row: Row, repeats: tuple[RepeatRecord, ...]) -> DecisionRecord:
    return DecisionRecord(
        decided_at=row["decided_at"],
        account_id=row["account_id"],
        request_id=row["request_id"],
        verdict=row["verdict"],
        failures=_rules(row["failures"]),
        flags=_rules(row["flags"]),
        policy_version=row["policy_version"],
        repeats=repeats,
    )


def _bounce(row: Row) -> BounceRecord:
    return BounceRecord(
        changed_at=row["changed_at"],
        event_id=row["event_id"],
        outcome=row["outcome"],
        consecutive_soft_before=row["consecutive_soft_before"],
        consecutive_soft_after=row["consecutive_soft_after"],
        policy=row["policy"],
    )


def _complaint(row: Row) -> ComplaintRecord:
    return ComplaintRecord(
        received_at=row["received_at"],
        feedback_type=row["feedback_type"],
        report_id=row["report_id"],
        reporter=row["reporter"],
        account_id=row["account_id"],
        request_id=row["request_id"],
        list_id=row["list_id"],
        original_message_id=row["original_message_id"],
        arrival_date=row["arrival_date"],
    )


def build_erasure(requests: Sequence[Row], steps: Sequence[Row]) -> ErasureSection:
    """The erasure section from request rows and step rows (`read_erasure_rows` says their
    columns); steps of a request not among `requests` are left out, as they belong to none."""
    steps_of: dict[str, list[ErasureStep]] = {}
    for row in sorted(steps, key=lambda r: r["at"]):
        places = tuple(
            ErasedPlaceRecord(
                place=place["place"],
                action=place["action"],
                count=place["count"],
                done_by=_moment(place["done_by"]),
                note=place.get("note"),
            )
            for place in row.get("places") or ()
        )
        steps_of.setdefault(row["request_id"], []).append(
            ErasureStep(at=row["at"], kind=row["kind"], places=places)
        )
    records = tuple(
        ErasureRecord(
            request_id=row["request_id"],
            requested_at=row["requested_at"],
            requested_by=row["requested_by"],
            steps=tuple(steps_of.get(row["request_id"], ())),
        )
        for row in sorted(requests, key=lambda r: r["requested_at"])
    )
    return ErasureSection(requests=records)


def _moment(value: datetime | str) -> datetime:
    """A time kept in a JSON column comes back as its ISO-8601 text; a column, as a datetime."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
