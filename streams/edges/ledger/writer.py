"""Write batches of topic records into the ledger, idempotently, with the offsets they came from.

One `write_batch` is one transaction: the rows (inserted with ON CONFLICT DO NOTHING, so a
replayed record adds nothing) and the ledger's next offset for every partition the batch touched.
Either both are committed or neither, so the stored offsets never run ahead of the rows, and rows
behind the stored offsets are never written twice.

Which table a record lands in, and how, is `catalogue.LEDGER_TOPICS`; the writer only looks a
record's type up there. It does no Kafka I/O and holds no state besides the engine; the sink
feeds it.

Consent events (the catalogue's one `chained` entry) take a second path, `_insert_chained`, in the
same transaction: each row is numbered and linked to its recipient's hash chain
(`streams.edges.ledger.chain`) before it is inserted, and an event already stored is skipped before
it gets a number, so a replay neither adds rows nor disturbs a chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, case, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

from streams.core.errors import SendgateError
from streams.core.records import Record
from streams.edges.ledger.catalogue import LEDGER_TOPICS, LedgerTopic
from streams.edges.ledger.chain import ChainLink, link
from streams.edges.ledger.models import ConsumerOffset, metadata

__all__ = ["LedgerItem", "LedgerWriter", "read_offsets"]

_BY_RECORD_TYPE: dict[type[Record], LedgerTopic[Any]] = {
    entry.record_type: entry for entry in LEDGER_TOPICS
}
_OFFSETS = metadata.tables[ConsumerOffset.__tablename__]
_INSERTS: dict[str, Callable[[Table], PostgresInsert | SqliteInsert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}
_CHAIN_LOCK_SPACE = 0x5E4DC0
"""First key of the PostgreSQL advisory locks that serialise writers of one recipient's chain.
These use the two-integer key space, apart from the migrations' one-bigint lock."""
_LOCK_CHAIN = text("SELECT pg_advisory_xact_lock(:space, :key)")


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
                self._insert_chained(connection, entry.table, rows[entry.table])
                if entry.chained
                else self._insert_new(connection, entry.table, rows[entry.table])
                for entry in LEDGER_TOPICS
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

    def _insert_chained(
        self, connection: Connection, table: Table, rows: list[dict[str, Any]]
    ) -> int:
        """Append rows to their recipients' hash chains, in offset order; return rows added.

        1. On PostgreSQL, lock each recipient's chain until the transaction ends (an advisory
           lock per recipient, taken in one order by every writer, so two cannot deadlock). A row
           lock on the chain's head (SELECT ... FOR UPDATE) would not do: a recipient without
           entries has no row to lock. SQLite lets one writer in at a time anyway.
        2. Drop rows already stored (same coordinates or event id: an earlier batch, a replay,
           another writer) and repeats within the batch.
        3. Read each recipient's head (highest `chain_seq`), number and link the rows, insert.
        A plain INSERT, not ON CONFLICT DO NOTHING: after 1 and 2 a conflict means a forked
        chain, and failing the batch is better than an event silently missing from a proof.
        """
        if not rows:
            return 0
        ordered = sorted(rows, key=_coordinates_of)
        if connection.dialect.name == "postgresql":
            keys = sorted({_chain_lock_key(row["recipient_key"]) for row in ordered})
            connection.execute(_LOCK_CHAIN, [{"space": _CHAIN_LOCK_SPACE, "key": k} for k in keys])
        fresh = _unstored(connection, table, ordered)
        if not fresh:
            return 0
        heads = _chain_heads(connection, table, {row["recipient_key"] for row in fresh})
        chained = []
        for row in fresh:
            place = link(row, heads.get(row["recipient_key"]))
            heads[row["recipient_key"]] = place
            chained.append(
                {
                    **row,
                    "chain_seq": place.chain_seq,
                    "prev_hash": place.prev_hash,
                    "entry_hash": place.entry_hash,
                }
            )
        return len(connection.execute(table.insert().returning(table.c.id), chained).all())

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


def _coordinates_of(row: dict[str, Any]) -> tuple[str, int, int]:
    return (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"])


def _chain_lock_key(recipient_key: str) -> int:
    """A signed 32-bit lock key from the recipient key (a hash already, so evenly spread); two
    recipients sharing one only wait for each other."""
    return int(recipient_key[:8], 16) - 2**31


def _unstored(
    connection: Connection, table: Table, rows: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The rows whose event and coordinates are not stored yet, first occurrence only."""
    rows = list(rows)
    seen_ids = set(
        connection.execute(
            select(table.c.event_id).where(table.c.event_id.in_({row["event_id"] for row in rows}))
        ).scalars()
    )
    offsets_by_partition: dict[tuple[str, int], set[int]] = {}
    for topic, partition, offset in map(_coordinates_of, rows):
        offsets_by_partition.setdefault((topic, partition), set()).add(offset)
    seen_coordinates = {
        (topic, partition, offset)
        for (topic, partition), offsets in offsets_by_partition.items()
        for offset in connection.execute(
            select(table.c.kafka_offset).where(
                table.c.kafka_topic == topic,
                table.c.kafka_partition == partition,
                table.c.kafka_offset.in_(offsets),
            )
        ).scalars()
    }
    fresh = []
    for row in rows:
        coordinates = _coordinates_of(row)
        if row["event_id"] in seen_ids or coordinates in seen_coordinates:
            continue
        seen_ids.add(row["event_id"])
        seen_coordinates.add(coordinates)
        fresh.append(row)
    return fresh


def _chain_heads(
    connection: Connection, table: Table, recipient_keys: set[str]
) -> dict[str, ChainLink]:
    """Each recipient's newest entry (highest `chain_seq`); recipients without one are absent."""
    newest = (
        select(table.c.recipient_key, func.max(table.c.chain_seq).label("chain_seq"))
        .where(table.c.recipient_key.in_(recipient_keys))
        .group_by(table.c.recipient_key)
        .subquery()
    )
    query = select(
        table.c.recipient_key, table.c.chain_seq, table.c.prev_hash, table.c.entry_hash
    ).join(
        newest,
        and_(
            table.c.recipient_key == newest.c.recipient_key,
            table.c.chain_seq == newest.c.chain_seq,
        ),
    )
    return {
        key: ChainLink(chain_seq, prev_hash, entry_hash)
        for key, chain_seq, prev_hash, entry_hash in connection.execute(query)
    }


def read_offsets(engine: Engine, consumer_group: str) -> dict[tuple[str, int], int]:
    """The stored next offset of every (topic, partition) the consumer group has written."""
    query = select(_OFFSETS.c.topic, _OFFSETS.c.partition, _OFFSETS.c.next_offset).where(
        _OFFSETS.c.consumer_group == consumer_group
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {(topic, partition): next_offset for topic, partition, next_offset in rows}
