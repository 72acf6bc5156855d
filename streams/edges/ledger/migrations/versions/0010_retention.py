"""Retention: indexes by the moment each kept record is counted from.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-28 00:00:00+00:00

The retention job (`streams.edges.ledger.retention`) looks for consent events at or before a
cutoff and deletes decisions and their repeats at or before another, a bounded batch at a time;
without an index on `occurred_at` and `decided_at` each batch would read the whole table. Only
indexes are added, so nothing is rewritten; the downgrade drops them.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

__all__ = ["downgrade", "upgrade"]

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_consent_events_occurred_at", "consent_events", "occurred_at"),
    ("ix_send_decisions_decided_at", "send_decisions", "decided_at"),
    ("ix_send_decision_repeats_decided_at", "send_decision_repeats", "decided_at"),
)


def upgrade() -> None:
    for name, table, column in _INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
