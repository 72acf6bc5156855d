"""Address corrections: the ledger keeps each one, from the old recipient key to the new.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-29 00:00:00+00:00

The consent events a correction moves name it (`source_id` `rectification:<id>`); the
`address_corrections` table says which key they came from, so the new key's proof leads back to
the old key's evidence from the ledger alone. A new table only; the downgrade drops it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "address_corrections",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("correction_id", sa.String(200), nullable=False),
        sa.Column("old_recipient_key", sa.CHAR(64), nullable=False),
        sa.Column("new_recipient_key", sa.CHAR(64), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        # Repeated from 0001 on purpose: a revision must not change when a later one is written.
        sa.Column("kafka_topic", sa.String(249), nullable=False),
        sa.Column("kafka_partition", sa.Integer(), nullable=False),
        sa.Column("kafka_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_address_corrections"),
        sa.UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_address_corrections_kafka"
        ),
        sa.UniqueConstraint("correction_id", name="uq_address_corrections_correction_id"),
    )
    op.create_index(
        "ix_address_corrections_old_recipient_key", "address_corrections", ["old_recipient_key"]
    )
    op.create_index(
        "ix_address_corrections_new_recipient_key", "address_corrections", ["new_recipient_key"]
    )


def downgrade() -> None:
    # Rows first (SQLite commits DDL at once; see 0009).
    op.execute(sa.text("DELETE FROM address_corrections"))
    op.drop_index("ix_address_corrections_new_recipient_key", table_name="address_corrections")
    op.drop_index("ix_address_corrections_old_recipient_key", table_name="address_corrections")
    op.drop_table("address_corrections")
