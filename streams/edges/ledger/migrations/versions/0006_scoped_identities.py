"""Scoped identities: consent events unique per account, bounce changes per recipient.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 00:00:00+00:00

Accounts choose their consent event ids, and the bounce keeper tells delivery events apart per
recipient, so a unique constraint on the bare event id made the ledger drop one account's (or
recipient's) event because another had used its id. `consent_events` becomes unique on
(account_id, event_id) and `bounce_changes` on (recipient_key, event_id).

No row changes: rows unique on the event id alone are unique on any pair that includes it, so the
new constraints hold on every existing ledger and the upgrade only swaps constraints (in place on
PostgreSQL; SQLite, which cannot drop a constraint, copies the table through batch mode).

The downgrade restores the narrower constraints, which fails if two accounts (or recipients) now
share an event id; it refuses up front with the count, rather than leave the database half done.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SWAPS = (
    (
        "consent_events",
        "uq_consent_events_event_id",
        "uq_consent_events_account_event",
        "account_id",
    ),
    (
        "bounce_changes",
        "uq_bounce_changes_event_id",
        "uq_bounce_changes_recipient_event",
        "recipient_key",
    ),
)
"""(table, constraint on the event id alone, scoped constraint, the column that scopes it)."""


def upgrade() -> None:
    for table, narrow, scoped, scope in _SWAPS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(narrow, type_="unique")
            batch.create_unique_constraint(scoped, [scope, "event_id"])


def downgrade() -> None:
    connection = op.get_bind()
    for table, _, _, scope in _SWAPS:
        shared = connection.execute(
            sa.text(
                f"SELECT count(*) FROM (SELECT event_id FROM {table} "
                "GROUP BY event_id HAVING count(*) > 1) AS shared"
            )
        ).scalar_one()
        if shared:
            raise RuntimeError(
                f"cannot downgrade below 0006: {shared} event id(s) of {table} are used by more "
                f"than one {scope}, which the old constraint on the event id alone forbids"
            )
    for table, narrow, scoped, _ in _SWAPS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(scoped, type_="unique")
            batch.create_unique_constraint(narrow, ["event_id"])
