"""The ledger's first schema: send decisions, suppression changes and the ledger's own offsets.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _kafka_coordinates() -> list[sa.Column[int] | sa.Column[str]]:
    return [
        sa.Column("kafka_topic", sa.String(249), nullable=False),
        sa.Column("kafka_partition", sa.Integer(), nullable=False),
        sa.Column("kafka_offset", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "send_decisions",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("recipient_key", sa.CHAR(64), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("policy_version", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("failed_rules", sa.Text(), nullable=False),
        sa.Column("suppressions_seen", sa.JSON(), nullable=False),
        sa.Column("state_offsets", sa.JSON(), nullable=False),
        sa.Column("request_offset", sa.Text(), nullable=False),
        *_kafka_coordinates(),
        sa.PrimaryKeyConstraint("id", name="pk_send_decisions"),
        sa.UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_send_decisions_kafka"
        ),
    )
    op.create_index(
        "ix_send_decisions_account_id_decided_at", "send_decisions", ["account_id", "decided_at"]
    )
    op.create_index("ix_send_decisions_recipient_key", "send_decisions", ["recipient_key"])

    op.create_table(
        "suppression_changes",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("recipient_key", sa.CHAR(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=True),
        sa.Column("list_id", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_event_id", sa.String(200), nullable=False),
        *_kafka_coordinates(),
        sa.PrimaryKeyConstraint("id", name="pk_suppression_changes"),
        sa.UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_suppression_changes_kafka"
        ),
        sa.UniqueConstraint("source", name="uq_suppression_changes_source"),
    )
    op.create_index(
        "ix_suppression_changes_recipient_key", "suppression_changes", ["recipient_key"]
    )

    op.create_table(
        "consumer_offsets",
        sa.Column("consumer_group", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("consumer_group", "topic", "partition", name="pk_consumer_offsets"),
    )


def downgrade() -> None:
    op.drop_table("consumer_offsets")
    op.drop_index("ix_suppression_changes_recipient_key", table_name="suppression_changes")
    op.drop_table("suppression_changes")
    op.drop_index("ix_send_decisions_recipient_key", table_name="send_decisions")
    op.drop_index("ix_send_decisions_account_id_decided_at", table_name="send_decisions")
    op.drop_table("send_decisions")
