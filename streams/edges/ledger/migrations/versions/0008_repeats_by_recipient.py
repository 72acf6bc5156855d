"""Repeated decisions indexed by recipient, so a person's whole record is read by index.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 00:00:00+00:00

`sendgate subject-access` reads every ledger table by one recipient key. Every other table that
holds one had an index for it already (`consent_events` through its chain constraint, which
starts with the key); `send_decision_repeats` was indexed only by request, so reading a
person's repeats scanned the table. One new index, nothing else: the upgrade writes no row.
On PostgreSQL it holds the table's write lock while the index is built (repeats are rare, the
table small); the sink waits, it does not fail.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

__all__ = ["downgrade", "upgrade"]

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_send_decision_repeats_recipient_key"


def upgrade() -> None:
    op.create_index(_INDEX, "send_decision_repeats", ["recipient_key"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="send_decision_repeats")
