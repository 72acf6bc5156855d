"""Write batches of topic records into the ledger, idempotently, with the offsets they came from.

One `write_batch` is one transaction: the rows (inserted with ON CONFLICT DO NOTHING, so a
replayed record adds nothing) and the ledger's next offset for every partition the batch touched.
Either both are committed or neither, so the stored offsets never run ahead of the rows, and rows
behind the stored offsets are never written twice.

A row whose identity (`catalogue.LedgerTopic.identity`: a consent event's account and event id,
say) is stored already is compared with the stored row by a digest of its content
(`streams.edges.ledger.identity`): the same content is a replay and adds nothing, silently; other
content is a conflict. A conflict is not stored (the first record of an identity stands, and a
proof or a chain never changes under it) and not dropped either: the batch hands it to its
`on_conflicts` handler inside the transaction, before the commit, and the sink dead-letters it
there. Its offset is committed with the batch, so the sink goes on past it.

Decisions are the exception (the catalogue's entry with `repeats`): a decision whose request is
stored already is the gate deciding it again, at least once as designed, so it is neither
compared nor a conflict. It is stored in the repeats table instead (`_insert_with_repeats`),
marked with whether it came to the same decision; the first stays the request's one decision.

Which table a record lands in, and how, is `catalogue.LEDGER_TOPICS`; the writer only looks a
record's type up there. It does no Kafka I/O and holds no state besides the engine; the sink
feeds it.

Consent events (the catalogue's one `chained` entry) take a second path, `_insert_chained`, in the
same transaction: each row is numbered and linked to its recipient's hash chain
(`streams.edges.ledger.chain`) before it is inserted, and an event already stored is sorted out
before it gets a number, so a replay neither adds rows nor disturbs a chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, case, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

from streams.core.errors import SendgateError
from streams.core.records import Record
from streams.edges.ledger.catalogue import COORDINATES, LEDGER_TOPICS, LedgerTopic, Repeats
from streams.edges.ledger.chain import ChainLink, link
from streams.edges.ledger.identity import content_digest, differing_columns
from streams.edges.ledger.models import ConsumerOffset, metadata

__all__ = [
    "ConflictHandler",
    "LedgerConflict",
    "LedgerConflictError",
    "LedgerItem",
    "LedgerWriter",
    "read_offsets",
]

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
    `key` and `value` are the message as read, so a conflicting record can be dead-lettered whole;
    writers fed from elsewhere than Kafka may leave them out.
    """

    topic: str
    partition: int
    offset: int
    record: Record | None
    key: bytes | None = None
    value: bytes | None = None


@dataclass(frozen=True, slots=True)
class LedgerConflict:
    """A record not stored because what it names is stored already with other content.

    `reason` says which row it clashed with, where that one came from and which columns differ
    (their names only: a reason ends up in dead letters, logs and terminals, values do not)."""

    item: LedgerItem
    reason: str


class LedgerConflictError(SendgateError):
    """A batch held conflicts and its writer was given nowhere to send them, so nothing of it was
    committed: a conflict is never dropped without a word."""


ConflictHandler = Callable[[Sequence[LedgerConflict]], None]
"""Called with a batch's conflicts inside its transaction, before the commit: if it raises,
neither the batch's rows nor its offsets are committed, so the conflicts come back on the retry."""


@dataclass(frozen=True, slots=True)
class _Pending:
    item: LedgerItem
    row: dict[str, Any]

    @property
    def coordinates(self) -> tuple[str, int, int]:
        return (self.item.topic, self.item.partition, self.item.offset)


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

    def write_batch(
        self,
        consumer_group: str,
        items: Sequence[LedgerItem],
        *,
        on_conflicts: ConflictHandler | None = None,
    ) -> int:
        """Store the batch's rows and its next offsets in one transaction; return rows added, in
        any table (repeats included, so that rows added add up to records stored).

        Rows already in the ledger (same coordinates, or the same event reported again with the
        same content) are skipped without a word, and a request decided again is a repeat. A
        record whose identity is stored with other content is not stored: it goes to
        `on_conflicts` before the commit, and without a handler the batch fails with
        `LedgerConflictError`. Its offset is committed with the others, so the sink goes on past
        it. The stored next offset of a partition only moves forward, so an older batch written
        late cannot rewind it.
        """
        if not items:
            return 0
        pending: dict[str, list[_Pending]] = {entry.table.name: [] for entry in LEDGER_TOPICS}
        next_offsets: dict[tuple[str, int], int] = {}
        for item in items:
            entry = _BY_RECORD_TYPE.get(type(item.record))
            if entry is not None:
                row = entry.row(item.record, item.topic, item.partition, item.offset)
                pending[entry.table.name].append(_Pending(item, row))
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
        inserted = 0
        conflicts: list[LedgerConflict] = []
        with self._engine.begin() as connection:
            for entry in LEDGER_TOPICS:
                rows = sorted(pending[entry.table.name], key=lambda p: p.coordinates)
                if not rows:
                    continue
                if entry.chained:
                    added, found = self._insert_chained(connection, entry, rows)
                elif entry.repeats is not None:
                    added, found = self._insert_with_repeats(connection, entry, rows)
                else:
                    added, found = self._insert_new(connection, entry, rows)
                inserted += added
                conflicts += found
            connection.execute(self._offsets_upsert, offsets)
            if conflicts:
                conflicts.sort(key=lambda c: (c.item.topic, c.item.partition, c.item.offset))
                if on_conflicts is None:
                    raise LedgerConflictError(
                        "the ledger refused the batch: " + "; ".join(c.reason for c in conflicts)
                    )
                on_conflicts(conflicts)
        return inserted

    def _insert_new(
        self, connection: Connection, entry: LedgerTopic[Any], rows: list[_Pending]
    ) -> tuple[int, list[LedgerConflict]]:
        """INSERT ... ON CONFLICT DO NOTHING RETURNING the coordinates, as multi-row statements.

        Rows whose identity is stored already are compared first, and only new ones are sent.
        RETURNING reports the rows actually inserted; one that was not lost a race (another
        writer stored its identity meanwhile) or met its own coordinates (a replayed record), and
        is compared with what is stored now. No conflict target: a row is skipped when it breaks
        any unique constraint, its coordinates or its identity. With RETURNING SQLAlchemy batches
        the executemany into multi-row VALUES ("insertmanyvalues").
        """
        table = entry.table
        stored = _stored_by_identity(connection, entry, rows) if entry.identity else {}
        fresh, _, conflicts = _sort_out(entry, rows, stored, {})
        if not fresh:
            return 0, conflicts
        statement = (
            self._insert(table)
            .on_conflict_do_nothing()
            .returning(*(table.c[name] for name in COORDINATES))
        )
        inserted = {tuple(row) for row in connection.execute(statement, [p.row for p in fresh])}
        missed = [p for p in fresh if p.coordinates not in inserted]
        if missed:
            again, _, late = _sort_out(
                entry,
                missed,
                _stored_by_identity(connection, entry, missed) if entry.identity else {},
                _stored_by_coordinates(connection, table, missed),
            )
            if again:  # refused by a unique constraint, yet nothing stored matches it
                raise SendgateError(
                    f"the ledger refused {entry.describe(again[0].row)} for no stored row"
                )
            conflicts += late
        return len(inserted), conflicts

    def _insert_with_repeats(
        self, connection: Connection, entry: LedgerTopic[Any], rows: list[_Pending]
    ) -> tuple[int, list[LedgerConflict]]:
        """Store the first record of each identity in the entry's table and every later one in
        its repeats table; return rows added to both, and conflicts.

        1. Look up what is stored: rows of the batch's identities, and rows at its coordinates in
           either table (a record read again is a replay, or a conflict if the topic was created
           anew and its offsets name other records now). Sort the rest, in offset order, into
           firsts (no row of the identity stored, nor earlier in the batch) and repeats.
        2. Insert the firsts with ON CONFLICT DO NOTHING RETURNING their coordinates. One that
           was refused lost a race: another writer stored its coordinates or its identity
           meanwhile. Sort the refused rows again, with the batch's repeats (whose first may be
           the refused row), against what is stored now, which this transaction sees (its own
           rows and, read committed, the other writer's): the refused row is a replay, a
           conflict or a repeat now, and a repeat whose first was a conflict becomes a first
           itself; and so on until no first is refused. A row refused once that finds nothing
           stored fails the batch, as in `_insert_new`.
        3. Only then insert the repeats, each marked against the first now stored for it, with
           ON CONFLICT DO NOTHING on their coordinates; one refused there was stored meanwhile
           by another writer, and is a replay or a conflict like any other.
        """
        repeats = entry.repeats
        if repeats is None:
            raise ValueError(f"{entry.table.name} has no repeats table")
        table = entry.table
        statement = (
            self._insert(table)
            .on_conflict_do_nothing()
            .returning(*(table.c[name] for name in COORDINATES))
        )
        firsts: dict[tuple[Any, ...], Mapping[str, Any]] = {}
        refused: set[tuple[str, int, int]] = set()
        conflicts: list[LedgerConflict] = []
        added = 0
        todo = rows
        while True:
            stored = _stored_by_identity(connection, entry, todo)
            firsts.update(stored)
            at = {
                coordinates: row
                for stored_table in entry.tables
                for coordinates, row in _stored_by_coordinates(
                    connection, stored_table, todo
                ).items()
            }
            fresh, later, found = _sort_out(entry, todo, stored, at)
            conflicts += found
            again = [p for p in fresh if p.coordinates in refused]
            if again:  # refused by a unique constraint, yet nothing stored matches it
                raise SendgateError(
                    f"the ledger refused {entry.describe(again[0].row)} for no stored row"
                )
            if not fresh:
                break
            inserted = {tuple(row) for row in connection.execute(statement, [p.row for p in fresh])}
            added += len(inserted)
            firsts.update(
                (entry.identity_of(p.row), p.row) for p in fresh if p.coordinates in inserted
            )
            missed = [p for p in fresh if p.coordinates not in inserted]
            if not missed:
                break
            refused.update(p.coordinates for p in missed)
            todo = sorted([*missed, *later], key=lambda p: p.coordinates)
        if not later:
            return added, conflicts
        repeated, late = self._insert_repeats(connection, entry, repeats, later, firsts)
        return added + repeated, conflicts + late

    def _insert_repeats(
        self,
        connection: Connection,
        entry: LedgerTopic[Any],
        repeats: Repeats,
        rows: list[_Pending],
        firsts: Mapping[tuple[Any, ...], Mapping[str, Any]],
    ) -> tuple[int, list[LedgerConflict]]:
        """Insert repeats (each first among `firsts`) into the repeats table; return rows added,
        and conflicts among the ones another writer stored meanwhile."""
        table = repeats.table
        values = [
            {**p.row, repeats.agrees: repeats.same(firsts[entry.identity_of(p.row)], p.row)}
            for p in rows
        ]
        statement = (
            self._insert(table)
            .on_conflict_do_nothing()
            .returning(*(table.c[name] for name in COORDINATES))
        )
        inserted = {tuple(row) for row in connection.execute(statement, values)}
        missed = [p for p in rows if p.coordinates not in inserted]
        conflicts: list[LedgerConflict] = []
        if missed:
            stored = _stored_by_coordinates(connection, table, missed)
            for pending in missed:
                earlier = stored.get(pending.coordinates)
                if earlier is None:
                    raise SendgateError(
                        f"the ledger refused {entry.describe(pending.row)} for no stored row"
                    )
                conflict = _compare(entry, pending, earlier)
                if conflict is not None:
                    conflicts.append(conflict)
        return len(inserted), conflicts

    def _insert_chained(
        self, connection: Connection, entry: LedgerTopic[Any], rows: list[_Pending]
    ) -> tuple[int, list[LedgerConflict]]:
        """Append rows to their recipients' hash chains, in offset order; return rows added.

        1. On PostgreSQL, lock each recipient's chain until the transaction ends (an advisory
           lock per recipient, taken in one order by every writer, so two cannot deadlock). A row
           lock on the chain's head (SELECT ... FOR UPDATE) would not do: a recipient without
           entries has no row to lock. SQLite lets one writer in at a time anyway.
        2. Sort out rows already stored (same coordinates or identity: an earlier batch, a
           replay, another writer) and repeats within the batch; conflicts among them are
           returned, not stored.
        3. Read each recipient's head (highest `chain_seq`), number and link the rows, insert.
        A plain INSERT, not ON CONFLICT DO NOTHING: after 1 and 2 a conflict means a forked
        chain, or an identity another writer stored for another recipient meanwhile (the lock is
        per recipient, an identity is not); failing the batch is better than an event silently
        missing from a proof, and its retry finds the stored row and sorts the record out.
        """
        table = entry.table
        if connection.dialect.name == "postgresql":
            keys = sorted({_chain_lock_key(p.row["recipient_key"]) for p in rows})
            connection.execute(_LOCK_CHAIN, [{"space": _CHAIN_LOCK_SPACE, "key": k} for k in keys])
        fresh, _, conflicts = _sort_out(
            entry,
            rows,
            _stored_by_identity(connection, entry, rows),
            _stored_by_coordinates(connection, table, rows),
        )
        if not fresh:
            return 0, conflicts
        heads = _chain_heads(connection, table, {p.row["recipient_key"] for p in fresh})
        chained = []
        for pending in fresh:
            row = pending.row
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
        added = len(connection.execute(table.insert().returning(table.c.id), chained).all())
        return added, conflicts

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


def _coordinates_of(row: Mapping[str, Any]) -> tuple[str, int, int]:
    return (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"])


def _where(row: Mapping[str, Any]) -> str:
    """A row's origin the way dead letters and agents' logs write it: topic/partition/offset."""
    return "/".join(str(part) for part in _coordinates_of(row))


def _chain_lock_key(recipient_key: str) -> int:
    """A signed 32-bit lock key from the recipient key (a hash already, so evenly spread); two
    recipients sharing one only wait for each other."""
    return int(recipient_key[:8], 16) - 2**31


def _sort_out(
    entry: LedgerTopic[Any],
    rows: Sequence[_Pending],
    by_identity: Mapping[tuple[Any, ...], Mapping[str, Any]],
    by_coordinates: Mapping[tuple[str, int, int], Mapping[str, Any]],
) -> tuple[list[_Pending], list[_Pending], list[LedgerConflict]]:
    """Split rows (in offset order) into new ones, repeats, replays (dropped: nothing to add) and
    conflicts, against the stored rows given and the batch's own earlier rows.

    A row is compared with the row stored at its coordinates, else with the row stored under its
    identity, else with the batch's first row of that identity; it is a replay when both have
    one identity and one content digest, a conflict otherwise. Except for an entry with repeats:
    there a row whose identity is recorded at other coordinates is a repeat, not compared.
    """
    recorded: dict[tuple[Any, ...], Mapping[str, Any]] = dict(by_identity)
    fresh: list[_Pending] = []
    repeats: list[_Pending] = []
    conflicts: list[LedgerConflict] = []
    for pending in rows:
        identity = entry.identity_of(pending.row)
        earlier = by_coordinates.get(pending.coordinates)
        if earlier is None:
            earlier = recorded.get(identity)
            if earlier is None:
                recorded[identity] = pending.row
                fresh.append(pending)
                continue
            if entry.repeats is not None and _coordinates_of(earlier) != pending.coordinates:
                repeats.append(pending)
                continue
        conflict = _compare(entry, pending, earlier)
        if conflict is not None:
            conflicts.append(conflict)
    return fresh, repeats, conflicts


def _compare(
    entry: LedgerTopic[Any], pending: _Pending, earlier: Mapping[str, Any]
) -> LedgerConflict | None:
    """None when `pending` is a replay of the stored or earlier row, else the conflict."""
    identity = entry.identity_of(pending.row)
    if entry.identity_of(earlier) != identity:
        reason = (
            f"{_where(pending.row)} already recorded as {entry.describe(earlier)}, not "
            f"{entry.describe(pending.row)} (was the topic deleted and created again?)"
        )
    elif content_digest(earlier, entry.content) != content_digest(pending.row, entry.content):
        differ = differing_columns(earlier, pending.row, entry.content)
        verb = "differs" if len(differ) == 1 else "differ"
        reason = (
            f"{entry.describe(pending.row)} already recorded with different content "
            f"({', '.join(differ)} {verb} from the record stored from {_where(earlier)})"
        )
    else:
        return None
    return LedgerConflict(pending.item, reason)


def _stored_by_identity(
    connection: Connection, entry: LedgerTopic[Any], rows: Iterable[_Pending]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The stored rows with the identity of one of `rows`, by identity.

    One IN list per identity column, then the exact identities picked out here: portable (no row
    values), and a handful of extra rows at most (another account's event with a shared id)."""
    table = entry.table
    wanted = {entry.identity_of(p.row) for p in rows}
    conditions = [
        table.c[name].in_({identity[n] for identity in wanted})
        for n, name in enumerate(entry.identity)
    ]
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in connection.execute(select(table).where(*conditions)).mappings():
        identity = entry.identity_of(row)
        if identity in wanted:
            found.setdefault(identity, dict(row))
    return found


def _stored_by_coordinates(
    connection: Connection, table: Table, rows: Iterable[_Pending]
) -> dict[tuple[str, int, int], dict[str, Any]]:
    """The stored rows read from the coordinates of one of `rows`, by coordinates."""
    offsets_by_partition: dict[tuple[str, int], set[int]] = {}
    for topic, partition, offset in (p.coordinates for p in rows):
        offsets_by_partition.setdefault((topic, partition), set()).add(offset)
    found: dict[tuple[str, int, int], dict[str, Any]] = {}
    for (topic, partition), offsets in offsets_by_partition.items():
        query = select(table).where(
            table.c.kafka_topic == topic,
            table.c.kafka_partition == partition,
            table.c.kafka_offset.in_(offsets),
        )
        for row in connection.execute(query).mappings():
            found[_coordinates_of(row)] = dict(row)
    return found


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
