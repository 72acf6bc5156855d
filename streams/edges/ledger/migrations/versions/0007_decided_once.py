"""Each request decided once: one row per request in `send_decisions`, the rest as repeats.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-14 00:00:00+00:00

The gate is at-least-once, so `send-decisions` can carry two decisions of one request; the
ledger stored both, unique only by Kafka coordinates. From here `send_decisions` keeps the first
(unique on account, request id and topic) and `send_decision_repeats` every later one, with
`same_decision` saying whether it came to the same verdict, failed rules and flagged rules.

A ledger written before holds such pairs already, so the upgrade moves them before it adds the
unique index: every row but the first of its request (the lowest id: the sink wrote a
partition's records in offset order) is copied to the repeats table and deleted. The copy is one
INSERT ... SELECT, so the rows keep their values exactly; only the flags, JSON whose explanations
may differ, are compared in Python, for the few rows moved. Rows are only moved, never dropped:
the two tables together still hold one row per record read.

The downgrade moves the repeats back into `send_decisions` (with new ids) before it drops the
table, so going down loses no decision either.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

__all__ = ["downgrade", "upgrade"]

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_REQUEST = ("account_id", "request_id", "kafka_topic")
"""What identifies a request in the ledger: request ids are the senders' per account, and the
topic (its name carries the deployment's prefix) keeps deployments sharing a database apart."""
_MOVING = "ix_send_decisions_request_moving"
"""A transient index of `_REQUEST` while SQLite moves the duplicates."""
_COLUMNS = (
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "request_id",
    "account_id",
    "recipient_key",
    "verdict",
    "policy_version",
    "decided_at",
    "failures",
    "failed_rules",
    "flags",
    "suppressions_seen",
    "state_offsets",
    "request_offset",
)
"""Every column of a decision row but its id, as of this revision."""


def _decision_columns() -> list[sa.Column[object]]:
    """The columns of `send_decisions` (0001 and 0005), repeated here on purpose: a revision must
    not change when a later one is written."""
    return [
        sa.Column("kafka_topic", sa.String(249), nullable=False),
        sa.Column("kafka_partition", sa.Integer(), nullable=False),
        sa.Column("kafka_offset", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("recipient_key", sa.CHAR(64), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("policy_version", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("failed_rules", sa.Text(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=True),
        sa.Column("suppressions_seen", sa.JSON(), nullable=False),
        sa.Column("state_offsets", sa.JSON(), nullable=False),
        sa.Column("request_offset", sa.Text(), nullable=False),
    ]


def _table(name: str, *extra: sa.Column[object]) -> sa.Table:
    """A lightweight description of a table for the data moves (not created from it)."""
    return sa.Table(name, sa.MetaData(), sa.Column("id", _ROW_ID), *_decision_columns(), *extra)


def _flagged(flags: object) -> list[object]:
    """The rule names of a row's flags, in order; NULL (rows before 0005) means none."""
    if not isinstance(flags, list):
        return []
    return [flag.get("rule") if isinstance(flag, dict) else flag for flag in flags]


def upgrade() -> None:
    if context.is_offline_mode():
        raise RuntimeError(
            "revision 0007 reads the decisions it moves (their flags are compared in Python), "
            "so it cannot be rendered as SQL; run it on the database (`sendgate ledger migrate`)"
        )
    op.create_table(
        "send_decision_repeats",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        *_decision_columns(),
        sa.Column("same_decision", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_send_decision_repeats"),
        sa.UniqueConstraint(
            "kafka_topic",
            "kafka_partition",
            "kafka_offset",
            name="uq_send_decision_repeats_kafka",
        ),
    )
    op.create_index(
        "ix_send_decision_repeats_account_id_request_id",
        "send_decision_repeats",
        ["account_id", "request_id"],
    )

    connection = op.get_bind()
    # SQLite joins the table with its duplicates by scanning it again and again (15 s for 200,000
    # rows); the unique index's columns indexed first without uniqueness make that 1 s. PostgreSQL
    # hash-joins, and building the index twice would only double the time the table is locked.
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        op.create_index(_MOVING, "send_decisions", list(_REQUEST))
    decisions = _table("send_decisions")
    repeats = _table("send_decision_repeats", sa.Column("same_decision", sa.Boolean()))
    # The requests decided more than once, each with its first row: one pass over the table,
    # and a result as small as the duplicates are rare.
    firsts = (
        sa.select(
            *(decisions.c[name] for name in _REQUEST),
            sa.func.min(decisions.c.id).label("first_id"),
        )
        .group_by(*(decisions.c[name] for name in _REQUEST))
        .having(sa.func.count() > 1)
        .subquery("firsts")
    )
    later = decisions.alias("later")
    first = decisions.alias("first")
    of_later = later.join(firsts, sa.and_(*(later.c[name] == firsts.c[name] for name in _REQUEST)))
    same_rules = sa.and_(
        later.c.verdict == first.c.verdict, later.c.failed_rules == first.c.failed_rules
    )
    moved = (
        sa.select(
            *(later.c[name] for name in _COLUMNS),
            sa.case((same_rules, sa.true()), else_=sa.false()),
        )
        .select_from(of_later.join(first, first.c.id == firsts.c.first_id))
        .where(later.c.id != firsts.c.first_id)
        .order_by(later.c.id)
    )
    connection.execute(repeats.insert().from_select([*_COLUMNS, "same_decision"], moved))

    # The flags hold explanations too, so they are compared by rule name, here.
    agreeing = connection.execute(
        sa.select(repeats.c.id, repeats.c.flags, first.c.flags)
        .select_from(
            repeats.join(
                firsts, sa.and_(*(repeats.c[name] == firsts.c[name] for name in _REQUEST))
            ).join(first, first.c.id == firsts.c.first_id)
        )
        .where(repeats.c.same_decision.is_(True))
    ).all()
    differing = [
        {"repeat_id": repeat_id}
        for repeat_id, flags, first_flags in agreeing
        if _flagged(flags) != _flagged(first_flags)
    ]
    if differing:
        connection.execute(
            repeats.update()
            .where(repeats.c.id == sa.bindparam("repeat_id"))
            .values(same_decision=False),
            differing,
        )

    connection.execute(
        decisions.delete().where(
            decisions.c.id.in_(
                sa.select(later.c.id).select_from(of_later).where(later.c.id != firsts.c.first_id)
            )
        )
    )
    if sqlite:
        op.drop_index(_MOVING, table_name="send_decisions")
    op.create_index("uq_send_decisions_request", "send_decisions", list(_REQUEST), unique=True)


def downgrade() -> None:
    op.drop_index("uq_send_decisions_request", table_name="send_decisions")
    connection = op.get_bind()
    decisions = _table("send_decisions")
    repeats = _table("send_decision_repeats")
    connection.execute(
        decisions.insert().from_select(
            list(_COLUMNS),
            sa.select(*(repeats.c[name] for name in _COLUMNS)).order_by(repeats.c.id),
        )
    )
    op.drop_index(
        "ix_send_decision_repeats_account_id_request_id", table_name="send_decision_repeats"
    )
    op.drop_table("send_decision_repeats")
