"""Erasure: consent events chained through a commitment to their personal fields, and the
ledger's record of erasure requests and steps.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-21 00:00:00+00:00

`consent_events` gains `chain_format` (1 for every row stored so far, whose hash covers the
personal fields themselves; the writer stores format 2 from here), `personal_salt` and
`personal_commitment` (format 2 only) and `erased_at`; `feedback_reports` gains `erased_at`.
Existing rows are not rehashed: the chain is tamper-evidence, and recomputing it would make the
ledger vouch for rows it can no longer check. A format-1 row that is erased later keeps its stored
hash and place in the chain (`streams.edges.ledger.chain` says what that still proves).

`erasures` holds each erasure request the ledger carried out, `erasure_steps` each erasure event
read back from its topic (0008 indexed `send_decision_repeats` by recipient key, which an erasure
counting the person's rows uses too).

Only added columns and tables, so the upgrade is quick on a full ledger (the new
columns have no default but `chain_format`'s constant, which PostgreSQL adds without rewriting
the table). The downgrade drops them, erasure records included.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision: str = "0009"
down_revision: str | None = "0008"
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
    with op.batch_alter_table("consent_events") as batch:
        batch.add_column(
            sa.Column("chain_format", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )
        batch.add_column(sa.Column("personal_salt", sa.CHAR(64), nullable=True))
        batch.add_column(sa.Column("personal_commitment", sa.CHAR(64), nullable=True))
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("feedback_reports") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "erasures",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("recipient_key", sa.CHAR(64), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chain_before", sa.Text(), nullable=True),
        *_kafka_coordinates(),
        sa.PrimaryKeyConstraint("id", name="pk_erasures"),
        sa.UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_erasures_kafka"
        ),
        sa.UniqueConstraint("request_id", name="uq_erasures_request_id"),
    )
    op.create_index("ix_erasures_recipient_key", "erasures", ["recipient_key"])
    op.create_table(
        "erasure_steps",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("recipient_key", sa.CHAR(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("places", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        *_kafka_coordinates(),
        sa.PrimaryKeyConstraint("id", name="pk_erasure_steps"),
        sa.UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_erasure_steps_kafka"
        ),
        sa.UniqueConstraint("event_id", name="uq_erasure_steps_event_id"),
    )
    op.create_index("ix_erasure_steps_request_id", "erasure_steps", ["request_id"])


def downgrade() -> None:
    # Rows first: SQLite's driver opens the migration's transaction only at the first statement
    # that changes data, and commits DDL before it at once, so dropping first would stay dropped
    # when an older revision's downgrade then refuses (0006 does) and the rest rolls back.
    op.execute(sa.text("DELETE FROM erasure_steps"))
    op.execute(sa.text("DELETE FROM erasures"))
    op.drop_index("ix_erasure_steps_request_id", table_name="erasure_steps")
    op.drop_table("erasure_steps")
    op.drop_index("ix_erasures_recipient_key", table_name="erasures")
    op.drop_table("erasures")
    with op.batch_alter_table("feedback_reports") as batch:
        batch.drop_column("erased_at")
    with op.batch_alter_table("consent_events") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("personal_commitment")
        batch.drop_column("personal_salt")
        batch.drop_column("chain_format")
