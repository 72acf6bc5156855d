"""Complaints from ESP webhooks: the provider that reported one, its event id and its own word.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 00:00:00+00:00

A complaint an ESP reported (SES, SendGrid, Mailgun, Postmark) keeps the provider's name, its
event id and its word for the complaint beside the feedback type sendgate read, so the ledger
shows both readings after the topics' retention. Three nullable columns: rows of reports our own
intake read stay as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("feedback_reports", sa.Column("esp", sa.String(40), nullable=True))
    op.add_column("feedback_reports", sa.Column("esp_event_id", sa.String(255), nullable=True))
    op.add_column("feedback_reports", sa.Column("esp_feedback_type", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback_reports") as batch:  # SQLite cannot drop in place
        batch.drop_column("esp_feedback_type")
        batch.drop_column("esp_event_id")
        batch.drop_column("esp")
