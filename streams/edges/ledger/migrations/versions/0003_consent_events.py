"""Consent events: every grant, confirmation, withdrawal, import and review, chained per recipient.

Revision ID: 0003
Revises: 0002
Create Date: 2025-04-01 00:00:00+00:00

Only a new table, so existing rows are untouched and the upgrade is quick on a full ledger.
`consent_events` is unique on the Kafka coordinates and on the event id (a redelivered event adds
no row), and on (recipient_key, chain_seq): two writers can never give one recipient two entries
with the same place in the chain. That unique index also serves the proof, which reads one
recipient's entries in chain order.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _kafka_coordinates() -> list[sa.Column[int] | sa.Column[str]]:
    """Repeated from 0001 on purpose: a revision must not change when a later one is written."""
    return [
        sa.Column("kafka_topic", sa.String(249), nullable=False),
        sa.Column("kafka_partition", sa.Integer(), nullable=False),
        sa.Column("kafka_offset", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "consent_events",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("recipient_key", sa.CHAR(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("lists", sa.JSON(), nullable=False),
        sa.Column("cadence", sa.String(100), nullable=True),
        sa.Column("basis", sa.String(32), nullable=True),
        sa.Column("requires_confirmation", sa.Boolean(), nullable=False),
        sa.Column("jurisdiction", sa.String(2), nullable=True),
        sa.Column("source_kind", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=True),
        sa.Column("wording_hash", sa.String(64), nullable=True),
        sa.Column("wording_version", sa.String(100), nullable=True),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("user_agent", sa.String(1000), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chain_seq", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.CHAR(64), nullable=False),
        sa.Column("entry_hash", sa.CHAR(64), nullable=False),
        *_kafka_coordinates(),
        sa.PrimaryKeyConstraint("id", name="pk_consent_events"),
        sa.UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_consent_events_kafka"
        ),
        sa.UniqueConstraint("event_id", name="uq_consent_events_event_id"),
        sa.UniqueConstraint("recipient_key", "chain_seq", name="uq_consent_events_chain"),
    )


def downgrade() -> None:
    op.drop_table("consent_events")
