"""Write batches of topic records into the ledger, idempotently, with the offsets they came from.

One `write_batch` is one transaction: the rows (inserted with ON CONFLICT DO NOTHING, so a
replayed record adds nothing) and the ledger's next offset for every partition the batch touched.
Either both are committed or neither, so the stored offsets never run ahead of the rows, and rows
behind the stored offsets are never written twice.

Which table a record lands in, and how, is `catalogue.LEDGER_TOPICS`; the writer only looks a
record's type up there. It does no Kafka I/O and holds no state besides the engine; the sink
feeds it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

from streams.errors import SendgateError
from streams.ledger.catalogue import LEDGER_TOPICS, LedgerTopic
from streams.ledger.models import ConsumerOffset, metadata
from streams.records import Record

__all__ = ["LedgerItem", "LedgerWriter", "read_offsets"]

_BY_RECORD_TYPE: dict[type[Record], LedgerTopic[Any]] = {
    entry.record_type: entry for entry in LEDGER_TOPICS
}
_OFFSETS = metadata.tables[ConsumerOffset.__tablename__]
_INSERTS: dict[str, Callable[[Table], PostgresInsert | SqliteInsert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


@dataclass(frozen=True, slots=True)
class LedgerItem:
    """One consumed Kafka record and where it came from.

    `record` is None for a value that could not be decoded: it makes no row, but its offset is
    still committed, since the agent that produced the topic has dead-lettered bad input already.
    Records of a type the ledger does not store (a DeadLetter, say) are treated the same way.
    """

    topic: str
    partition: int
    offset: int
    record: Record | None


class LedgerWriter:
    """Writes batches of `LedgerItem`s to the ledger tables (PostgreSQL or SQLite)."""

    def __init__(self, engine: Engine) -> None:
        insert = _INSERTS.get(engine.dialect.name)
        if insert is None:
            raise SendgateError(
                f"the ledger supports PostgreSQL and SQLite, not {engine.dialect.name}"
            )
        self._engine = engine
        self._insert = insert
        self._offsets_upsert = self._offsets_statement()

    def write_batch(self, consumer_group: str, items: Sequence[LedgerItem]) -> int:
        """Store the batch's rows and its next offsets in one transaction; return rows added.

        Rows already in the ledger (same coordinates, or the same event reported again) are
        skipped. The stored next offset of a partition only moves forward, so an older batch
        written late cannot rewind it.
        """
        if not items:
            return 0
        rows: dict[Table, list[dict[str, Any]]] = {entry.table: [] for entry in LEDGER_TOPICS}
        next_offsets: dict[tuple[str, int], int] = {}
        for item in items:
            entry = _BY_RECORD_TYPE.get(type(item.record))
            if entry is not None:
                rows[entry.table].append(
                    entry.row(item.record, item.topic, item.partition, item.offset)
                )
            position = (item.topic, item.partition)
            next_offsets[position] = max(next_offsets.get(position, 0), item.offset + 1)
        offsets = [
            {
                "consumer_group": consumer_group,
                "topic": topic,
                "partition": partition,
                "next_offset": next_offset,
            }
            for (topic, partition), next_offset in sorted(next_offsets.items())
        ]
        with self._engine.begin() as connection:
            inserted = sum(
                self._insert_new(connection, table, table_rows)
                for table, table_rows in rows.items()
            )
            connection.execute(self._offsets_upsert, offsets)
        return inserted

    def _insert_new(self, connection: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
        """INSERT ... ON CONFLICT DO NOTHING RETURNING id, as multi-row statements.

        RETURNING reports only the rows actually inserted, which is the count we want; with
        it SQLAlchemy batches the executemany into multi-row VALUES ("insertmanyvalues").
        No conflict target: a row is skipped when it breaks any unique constraint, the Kafka
        coordinates or the event it reports on (the click of a suppression change, the delivery
        event of a bounce change, the id of a feedback report).
        """
        if not rows:
            return 0
        statement = self._insert(table).on_conflict_do_nothing().returning(table.c.id)
        return len(connection.execute(statement, rows).all())

    def _offsets_statement(self) -> PostgresInsert | SqliteInsert:
        upsert = self._insert(_OFFSETS)
        forward = case(
            (upsert.excluded.next_offset > _OFFSETS.c.next_offset, upsert.excluded.next_offset),
            else_=_OFFSETS.c.next_offset,
        )
        return upsert.on_conflict_do_update(
            index_elements=["consumer_group", "topic", "partition"],
            set_={"next_offset": forward},
        )


def read_offsets(engine: Engine, consumer_group: str) -> dict[tuple[str, int], int]:
    """The stored next offset of every (topic, partition) the consumer group has written."""
    query = select(_OFFSETS.c.topic, _OFFSETS.c.partition, _OFFSETS.c.next_offset).where(
        _OFFSETS.c.consumer_group == consumer_group
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {(topic, partition): next_offset for topic, partition, next_offset in rows}
