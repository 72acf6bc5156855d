"""Bounce changes and feedback reports: the audit trail of bounce counts, and every FBL report.

Revision ID: 0002
Revises: 0001
Create Date: 2025-03-01 00:00:00+00:00

Only new tables, so existing rows are untouched and the upgrade is quick on a full ledger.
`bounce_changes` is unique on the delivery event as well as the coordinates (a replayed event adds
no row); `feedback_reports` is unique on the report id.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision: str = "0002"
down_revision: str | None = "0001"
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
        "bounce_changes",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("recipient_key", sa.CHAR(64), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("consecutive_soft_before", sa.Integer(), nullable=False),
        sa.Column("consecutive_soft_after", sa.Integer(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        *_kafka_coordinates(),
        sa.PrimaryKeyConstraint("id", name="pk_bounce_changes"),
        sa.UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_bounce_changes_kafka"
        ),
        sa.UniqueConstraint("event_id", name="uq_bounce_changes_event_id"),
    )
    op.create_index("ix_bounce_changes_recipient_key", "bounce_changes", ["recipient_key"])

    op.create_table(
        "feedback_reports",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("report_id", sa.String(200), nullable=False),
        sa.Column("recipient_key", sa.CHAR(64), nullable=False),
        sa.Column("feedback_type", sa.String(32), nullable=False),
        sa.Column("reporter", sa.String(255), nullable=True),
        sa.Column("account_id", sa.String(200), nullable=True),
        sa.Column("request_id", sa.String(200), nullable=True),
        sa.Column("list_id", sa.String(200), nullable=True),
        sa.Column("original_message_id", sa.String(998), nullable=True),
        sa.Column("arrival_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        *_kafka_coordinates(),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_reports"),
        sa.UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_feedback_reports_kafka"
        ),
        sa.UniqueConstraint("report_id", name="uq_feedback_reports_report_id"),
    )
    op.create_index("ix_feedback_reports_recipient_key", "feedback_reports", ["recipient_key"])
    op.create_index(
        "ix_feedback_reports_account_id_received_at",
        "feedback_reports",
        ["account_id", "received_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_feedback_reports_account_id_received_at", table_name="feedback_reports")
    op.drop_index("ix_feedback_reports_recipient_key", table_name="feedback_reports")
    op.drop_table("feedback_reports")
    op.drop_index("ix_bounce_changes_recipient_key", table_name="bounce_changes")
    op.drop_table("bounce_changes")
