"""Carry the retention policy out in the ledger: consent evidence and decisions past their period
go (storage limitation, GDPR Art. 5(1)(e); the periods and their law are
`streams.privacy.retention`).

Consent evidence, per person and account. Its period runs from the last relationship event between
them (`retention.last_relationships`): the account's consent events, its allowed sends to them
(decisions and repeats), suppression changes naming the account or the whole platform, and
complaints (feedback reports). When it has run out:
- while another account of the person's chain still has a live relationship, the account's rows
  are redacted by the erasure's own `redaction.redact`: IP address, user agent and source id and
  the salt of their commitment set to NULL, `erased_at` set. The rows stay, so the chain keeps its
  numbering and links and still verifies; what stays is the pseudonymous recipient key, the
  account, kind, lists, times and the wording's hash.
- once every account's period has run out, the person's whole chain is deleted: nothing is left
  to verify, so nothing is left inconsistent, and a consent event of theirs that comes later
  starts a new chain at 1 (the writer links to the stored head, and there is none). Part of a
  chain is never deleted: that would break it.
Decisions (`send_decisions`) and their repeats are deleted once past their own period, counted
from when each was made.

The rest stays, and why (docs/ledger-retention.md): suppression changes are the proof an opt-out
was honoured, and they hold nothing but the pseudonymous key; bounce changes the same; feedback
reports are complaints an account's enforcement history rests on (their Message-ID goes with an
erasure); enforcement events are about accounts; erasure requests and steps are the proof that
an erasure was carried out.

Bounded: each batch of recipients (consent) or of rows (decisions) is one transaction, so a ledger
of millions of rows is never one giant transaction, and a crash loses at most the batch in hand.
Idempotent: a second run at the same moment finds nothing to do (redacted rows are skipped,
deleted ones are gone), and the report counts only what this run changed. On PostgreSQL each
batch takes the writer's per-recipient locks first (`writer.lock_recipients`), so it never
interleaves with the sink appending to the same chain.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter
from sqlalchemy import ColumnElement, Connection, Engine, Table, delete, func, select

from streams.core.clock import utc
from streams.edges.ledger.catalogue import LEDGER_TOPICS
from streams.edges.ledger.models import (
    ConsentEventRow,
    FeedbackReportRow,
    SendDecisionRepeatRow,
    SendDecisionRow,
    SuppressionChangeRow,
    metadata,
)
from streams.edges.ledger.redaction import redact
from streams.edges.ledger.writer import lock_recipients
from streams.privacy.retention import (
    RelationshipEvent,
    RetentionPolicy,
    due_pairs,
    last_relationships,
)

__all__ = ["BATCH_SIZE", "RETAINED", "RetentionCount", "RetentionReport", "apply_retention"]

log = logging.getLogger(__name__)

BATCH_SIZE = 500
"""Recipients (consent evidence) or rows (decisions) per transaction."""

_CONSENT = metadata.tables[ConsentEventRow.__tablename__]
_CONSENT_ENTRY = next(entry for entry in LEDGER_TOPICS if entry.table is _CONSENT)
_DECISIONS = metadata.tables[SendDecisionRow.__tablename__]
_REPEATS = metadata.tables[SendDecisionRepeatRow.__tablename__]
_SUPPRESSIONS = metadata.tables[SuppressionChangeRow.__tablename__]
_REPORTS = metadata.tables[FeedbackReportRow.__tablename__]

RETAINED = Counter(
    "sendgate_ledger_retention_rows",
    "Rows the ledger's retention job redacted or deleted, by table and action.",
    ["table", "action"],
)


@dataclass(frozen=True, slots=True)
class RetentionCount:
    """What one run did in one table: `redacted` (personal columns set to NULL) or `deleted`."""

    table: str
    action: str
    rows: int


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """One run of the job: its moment, the cutoffs it used and what it did, table by table."""

    now: datetime
    consent_cutoff: datetime
    decisions_cutoff: datetime
    counts: tuple[RetentionCount, ...]
    chains_deleted: int
    """People whose whole consent chain went (every account's period over)."""
    dry_run: bool = False

    def rows(self, table: str, action: str) -> int:
        return sum(c.rows for c in self.counts if c.table == table and c.action == action)

    @property
    def total(self) -> int:
        return sum(c.rows for c in self.counts)


def apply_retention(
    engine: Engine,
    policy: RetentionPolicy,
    now: datetime,
    *,
    batch_size: int = BATCH_SIZE,
    dry_run: bool = False,
) -> RetentionReport:
    """Redact or delete what is past its period at `now`; `dry_run` counts what would go and
    changes nothing (each batch is rolled back)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = utc(now)
    consent_cutoff = policy.consent_evidence.cutoff(now)
    decisions_cutoff = policy.decisions.cutoff(now)
    redacted = deleted = chains = 0
    for batch in _consent_batches(engine, consent_cutoff, batch_size):
        with engine.connect() as connection, connection.begin() as transaction:
            done = _expire_consent(connection, batch, policy, now)
            if dry_run:
                transaction.rollback()
        redacted += done[0]
        deleted += done[1]
        chains += done[2]
    counts = [
        RetentionCount(_CONSENT.name, "redacted", redacted),
        RetentionCount(_CONSENT.name, "deleted", deleted),
    ]
    for table in (_DECISIONS, _REPEATS):
        gone = (
            _count_due(engine, table, decisions_cutoff)
            if dry_run
            else _delete_due(engine, table, decisions_cutoff, batch_size)
        )
        counts.append(RetentionCount(table.name, "deleted", gone))
    report = RetentionReport(
        now, consent_cutoff, decisions_cutoff, tuple(counts), chains, dry_run=dry_run
    )
    if not dry_run:
        for count in report.counts:
            RETAINED.labels(count.table, count.action).inc(count.rows)
    return report


def _consent_batches(engine: Engine, cutoff: datetime, size: int) -> Iterator[list[str]]:
    """Recipients with consent evidence at or before `cutoff`, `size` at a time, in key order
    (keyset: each batch starts after the last key of the one before, so a batch the run kept
    is never read again)."""
    after = ""
    while True:
        with engine.connect() as connection:
            keys = list(
                connection.execute(
                    select(_CONSENT.c.recipient_key)
                    .where(_CONSENT.c.occurred_at <= cutoff, _CONSENT.c.recipient_key > after)
                    .group_by(_CONSENT.c.recipient_key)
                    .order_by(_CONSENT.c.recipient_key)
                    .limit(size)
                ).scalars()
            )
        if not keys:
            return
        yield keys
        if len(keys) < size:
            return
        after = keys[-1]


def _expire_consent(
    connection: Connection, keys: Sequence[str], policy: RetentionPolicy, now: datetime
) -> tuple[int, int, int]:
    """Redact the evidence of every (person, account) of `keys` past its period, or delete the
    person's chain when every account's is; return rows redacted, rows deleted, chains deleted."""
    lock_recipients(connection, keys)
    events = _relationship_events(connection, keys)
    due = due_pairs(last_relationships(events), policy, now)
    accounts: dict[str, set[str]] = {}
    for key, account in connection.execute(
        select(_CONSENT.c.recipient_key, _CONSENT.c.account_id)
        .where(_CONSENT.c.recipient_key.in_(keys))
        .group_by(_CONSENT.c.recipient_key, _CONSENT.c.account_id)
    ):
        accounts.setdefault(key, set()).add(account)
    whole = sorted(key for key, held in accounts.items() if all((key, a) in due for a in held))
    redacted = deleted = 0
    if whole:
        deleted = connection.execute(
            delete(_CONSENT).where(_CONSENT.c.recipient_key.in_(whole))
        ).rowcount
    for key, held in accounts.items():
        expired = sorted(a for a in held if (key, a) in due)
        if key in whole or not expired:
            continue
        redacted += redact(
            connection,
            _CONSENT_ENTRY,
            (_CONSENT.c.recipient_key == key) & _CONSENT.c.account_id.in_(expired),
            now,
        )
    return redacted, deleted, len(whole)


def _relationship_events(connection: Connection, keys: Sequence[str]) -> list[RelationshipEvent]:
    """The latest relationship event of each (person, account) of `keys` in each table, as plain
    events (the pure `last_relationships` takes the latest of them)."""
    sources: list[tuple[Table, str, ColumnElement[bool] | None]] = [
        (_CONSENT, "occurred_at", None),
        (_DECISIONS, "decided_at", _DECISIONS.c.verdict == "allow"),
        (_REPEATS, "decided_at", _REPEATS.c.verdict == "allow"),
        (_SUPPRESSIONS, "changed_at", None),
        (_REPORTS, "received_at", None),
    ]
    events = []
    for table, moment, condition in sources:
        query = (
            select(table.c.recipient_key, table.c.account_id, func.max(table.c[moment]))
            .where(table.c.recipient_key.in_(keys))
            .group_by(table.c.recipient_key, table.c.account_id)
        )
        if condition is not None:
            query = query.where(condition)
        events += [
            RelationshipEvent(key, account, utc(at))
            for key, account, at in connection.execute(query)
            if at is not None
        ]
    return events


def _delete_due(engine: Engine, table: Table, cutoff: datetime, size: int) -> int:
    """Delete the table's rows decided at or before `cutoff`, `size` per transaction."""
    gone = 0
    while True:
        with engine.begin() as connection:
            ids = list(
                connection.execute(
                    select(table.c.id)
                    .where(table.c.decided_at <= cutoff)
                    .order_by(table.c.decided_at, table.c.id)
                    .limit(size)
                ).scalars()
            )
            if ids:
                connection.execute(delete(table).where(table.c.id.in_(ids)))
        gone += len(ids)
        if len(ids) < size:
            return gone


def _count_due(engine: Engine, table: Table, cutoff: datetime) -> int:
    with engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(table).where(table.c.decided_at <= cutoff)
        ).scalar_one()
