"""Enforcement events: every strike, ladder step, pause, review, reinstatement and fine.

Revision ID: 0004
Revises: 0003
Create Date: 2025-05-01 00:00:00+00:00

Only a new table, so existing rows are untouched and the upgrade is quick on a full ledger.
`enforcement_events` is unique on the Kafka coordinates and on the event id (an event emitted
again adds no row), and indexed on (account_id, at) for an account's history, newest first.
`line` and `fine_amount` are exact decimals: NUMERIC without precision on PostgreSQL, text on
SQLite (whose NUMERIC would keep a binary float); `models.ExactDecimal` reads both back.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_DECIMAL = sa.Numeric().with_variant(sa.Text(), "sqlite")


def _kafka_coordinates() -> list[sa.Column[int] | sa.Column[str]]:
    """Repeated from 0001 on purpose: a revision must not change when a later one is written."""
    return [
        sa.Column("kafka_topic", sa.String(249), nullable=False),
        sa.Column("kafka_partition", sa.Integer(), nullable=False),
        sa.Column("kafka_offset", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "enforcement_events",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy_version", sa.Text(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("strike_number", sa.Integer(), nullable=True),
        sa.Column("step", sa.String(32), nullable=True),
        sa.Column("breach_id", sa.Text(), nullable=True),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("breach_kind", sa.String(16), nullable=True),
        sa.Column("breach_level", sa.String(16), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("count", sa.BigInteger(), nullable=True),
        sa.Column("volume", sa.BigInteger(), nullable=True),
        sa.Column("line", _DECIMAL, nullable=True),
        sa.Column("by", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("restored", sa.JSON(), nullable=False),
        sa.Column("strikes_kept", sa.Integer(), nullable=True),
        sa.Column("report_id", sa.Text(), nullable=True),
        sa.Column("fine_amount", _DECIMAL, nullable=True),
        sa.Column("fine_currency", sa.String(3), nullable=True),
        sa.Column("status_after", sa.String(32), nullable=True),
        *_kafka_coordinates(),
        sa.PrimaryKeyConstraint("id", name="pk_enforcement_events"),
        sa.UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_enforcement_events_kafka"
        ),
        sa.UniqueConstraint("event_id", name="uq_enforcement_events_event_id"),
    )
    op.create_index(
        "ix_enforcement_events_account_id_at", "enforcement_events", ["account_id", "at"]
    )


def downgrade() -> None:
    op.drop_index("ix_enforcement_events_account_id_at", table_name="enforcement_events")
    op.drop_table("enforcement_events")
