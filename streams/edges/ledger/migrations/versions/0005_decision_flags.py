"""Decision flags: the failed rules a policy reports without denying (SendDecision v5).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 00:00:00+00:00

One nullable JSON column on `send_decisions`; rows written before it read as NULL, which means
the same as an empty list: decisions before SendDecision v5 had no flags.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("send_decisions", sa.Column("flags", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("send_decisions") as batch:  # SQLite cannot drop in place
        batch.drop_column("flags")
