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
before it gets a number, so a replay neither adds rows nor disturbs a chain. Each new row is
chained in format 2: a random salt, and the commitment to its personal fields taken with it.

Erasure requests (the catalogue's `erases` entry) are carried out in the transaction that stores
them (`redaction.carry_out`): the person's personal columns are set to NULL everywhere, and the
step that reports it (`ErasureEvent` `ledger_erased`) goes to the batch's `on_erasures` handler
before the commit, which the sink publishes and waits for, like conflicts. A request read again
is stored already and does nothing, so nothing is erased or reported twice for one request
(the step itself may be published twice, if the commit fails after Kafka took it: its event id
is the same). A row with personal columns that arrives after its person's erasure but happened
at or before it is stored erased (`redaction.as_stored`). On PostgreSQL a batch first locks
every recipient whose chain, personal rows or erasure it touches (one advisory lock each, in one
order), so a row cannot slip in unerased beside a concurrent writer's erasure.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, case, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

from streams.core.clock import Clock, SystemClock
from streams.core.errors import SendgateError
from streams.core.records import ErasureEvent, Record
from streams.edges.ledger.catalogue import COORDINATES, LEDGER_TOPICS, LedgerTopic, Repeats
from streams.edges.ledger.chain import CHAIN_FORMAT, ChainLink, commit_personal, link
from streams.edges.ledger.identity import content_digest, differing_columns
from streams.edges.ledger.models import ConsumerOffset, metadata
from streams.edges.ledger.redaction import (
    as_stored,
    carry_out,
    erased_until,
    ledger_erased_event,
)

__all__ = [
    "ConflictHandler",
    "ErasureHandler",
    "LedgerConflict",
    "LedgerConflictError",
    "LedgerErasureError",
    "LedgerItem",
    "LedgerWriter",
    "lock_recipients",
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


class LedgerErasureError(SendgateError):
    """A batch carried out an erasure and its writer was given nowhere to report it, so nothing
    of it was committed: an erasure is never done without its step on record."""


ErasureHandler = Callable[[Sequence[ErasureEvent]], None]
"""Called with the `ledger_erased` steps of the erasures a batch carried out, inside its
transaction, before the commit (after the conflicts): if it raises, nothing of the batch is
committed, the erasures included, and they are carried out again on the retry."""


@dataclass(frozen=True, slots=True)
class _Pending:
    item: LedgerItem
    row: dict[str, Any]

    @property
    def coordinates(self) -> tuple[str, int, int]:
        return (self.item.topic, self.item.partition, self.item.offset)


class LedgerWriter:
    """Writes batches of `LedgerItem`s to the ledger tables (PostgreSQL or SQLite)."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        insert = _INSERTS.get(engine.dialect.name)
        if insert is None:
            raise SendgateError(
                f"the ledger supports PostgreSQL and SQLite, not {engine.dialect.name}"
            )
        self._engine = engine
        self._clock = clock or SystemClock()
        self._insert = insert
        self._offsets_upsert = self._offsets_statement()

    def write_batch(
        self,
        consumer_group: str,
        items: Sequence[LedgerItem],
        *,
        on_conflicts: ConflictHandler | None = None,
        on_erasures: ErasureHandler | None = None,
    ) -> int:
        """Store the batch's rows and its next offsets in one transaction; return rows added, in
        any table (repeats included, so that rows added add up to records stored).

        Rows already in the ledger (same coordinates, or the same event reported again with the
        same content) are skipped without a word, and a request decided again is a repeat. A
        record whose identity is stored with other content is not stored: it goes to
        `on_conflicts` before the commit, and without a handler the batch fails with
        `LedgerConflictError`. Its offset is committed with the others, so the sink goes on past
        it. The stored next offset of a partition only moves forward, so an older batch written
        late cannot rewind it. Erasure requests stored for the first time are carried out and
        their steps handed to `on_erasures` before the commit; without a handler such a batch
        fails with `LedgerErasureError`.
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
        steps: list[ErasureEvent] = []
        now = self._clock.now()
        with self._engine.begin() as connection:
            _lock_recipients(connection, pending)
            for entry in LEDGER_TOPICS:
                rows = sorted(pending[entry.table.name], key=lambda p: p.coordinates)
                if not rows:
                    continue
                if entry.chained:
                    added, found = self._insert_chained(connection, entry, rows, now)
                elif entry.repeats is not None:
                    added, found = self._insert_with_repeats(connection, entry, rows)
                elif entry.erases:
                    added, found, done = self._insert_erasures(connection, entry, rows, now)
                    steps += done
                else:
                    added, found = self._insert_new(connection, entry, rows, now=now)
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
            if steps:
                if on_erasures is None:
                    raise LedgerErasureError(
                        f"the batch carried out {len(steps)} erasure(s) and has nowhere to "
                        "report them; nothing of it is committed"
                    )
                on_erasures(steps)
        return inserted

    def _insert_new(
        self,
        connection: Connection,
        entry: LedgerTopic[Any],
        rows: list[_Pending],
        *,
        now: datetime,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[int, list[LedgerConflict]]:
        added, conflicts = self._insert_new_rows(connection, entry, rows, now=now, extra=extra)
        return len(added), conflicts

    def _insert_new_rows(
        self,
        connection: Connection,
        entry: LedgerTopic[Any],
        rows: list[_Pending],
        *,
        now: datetime,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[list[_Pending], list[LedgerConflict]]:
        """INSERT ... ON CONFLICT DO NOTHING RETURNING the coordinates, as multi-row statements.

        Rows whose identity is stored already are compared first, and only new ones are sent.
        RETURNING reports the rows actually inserted; one that was not lost a race (another
        writer stored its identity meanwhile) or met its own coordinates (a replayed record), and
        is compared with what is stored now. No conflict target: a row is skipped when it breaks
        any unique constraint, its coordinates or its identity. With RETURNING SQLAlchemy batches
        the executemany into multi-row VALUES ("insertmanyvalues").

        A row with personal columns is stored erased when its person's erasure came after it
        (`redaction.as_stored`); `extra` holds columns the ledger adds to every row. Returns the
        rows inserted, in offset order, and the conflicts.
        """
        table = entry.table
        stored = _stored_by_identity(connection, entry, rows) if entry.identity else {}
        fresh, _, conflicts = _sort_out(entry, rows, stored, {})
        if not fresh:
            return [], conflicts
        statement = (
            self._insert(table)
            .on_conflict_do_nothing()
            .returning(*(table.c[name] for name in COORDINATES))
        )
        until = (
            erased_until(connection, {p.row["recipient_key"] for p in fresh})
            if entry.personal is not None
            else {}
        )
        values = [{**as_stored(entry, p.row, until, now), **(extra or {})} for p in fresh]
        inserted = {tuple(row) for row in connection.execute(statement, values)}
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
        return [p for p in fresh if p.coordinates in inserted], conflicts

    def _insert_erasures(
        self, connection: Connection, entry: LedgerTopic[Any], rows: list[_Pending], now: datetime
    ) -> tuple[int, list[LedgerConflict], list[ErasureEvent]]:
        """Store erasure requests, and carry out each one stored for the first time, in offset
        order; return rows added, conflicts and the `ledger_erased` steps to report.

        A request read again (or sent again with the same id) is stored already: it adds nothing
        and erases nothing, so replaying the topic changes nothing twice. (A request's id is short
        enough to name its steps: the record refuses a longer one.)"""
        added, conflicts = self._insert_new_rows(
            connection, entry, rows, now=now, extra={"processed_at": now, "chain_before": None}
        )
        steps = []
        for pending in added:
            redacted, kept, chain_before = carry_out(connection, pending.row, now)
            steps.append(ledger_erased_event(pending.row, redacted, kept, chain_before, now))
        return len(added), conflicts, steps

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
        self, connection: Connection, entry: LedgerTopic[Any], rows: list[_Pending], now: datetime
    ) -> tuple[int, list[LedgerConflict]]:
        """Append rows to their recipients' hash chains, in offset order; return rows added.

        1. On PostgreSQL, each recipient's chain is locked until the transaction ends
           (`_lock_recipients`, at the start of the batch). A row lock on the chain's head
           (SELECT ... FOR UPDATE) would not do: a recipient without entries has no row to lock.
           SQLite lets one writer in at a time anyway.
        2. Sort out rows already stored (same coordinates or identity: an earlier batch, a
           replay, another writer) and repeats within the batch; conflicts among them are
           returned, not stored.
        3. Read each recipient's head (highest `chain_seq`), number and link the rows in format 2
           (a fresh random salt each, and the commitment to the personal fields), erase the ones
           whose person was erased after them (`redaction.as_stored`: the commitment is taken
           first, so the chain is the same as if they had been erased later), insert.
        A plain INSERT, not ON CONFLICT DO NOTHING: after 1 and 2 a conflict means a forked
        chain, or an identity another writer stored for another recipient meanwhile (the lock is
        per recipient, an identity is not); failing the batch is better than an event silently
        missing from a proof, and its retry finds the stored row and sorts the record out.
        """
        table = entry.table
        fresh, _, conflicts = _sort_out(
            entry,
            rows,
            _stored_by_identity(connection, entry, rows),
            _stored_by_coordinates(connection, table, rows),
        )
        if not fresh:
            return 0, conflicts
        recipients = {p.row["recipient_key"] for p in fresh}
        heads = _chain_heads(connection, table, recipients)
        until = erased_until(connection, recipients)
        chained = []
        for pending in fresh:
            salt = secrets.token_hex(32)
            row = {
                **pending.row,
                "chain_format": CHAIN_FORMAT,
                "personal_salt": salt,
                "personal_commitment": commit_personal(pending.row, salt),
            }
            place = link(row, heads.get(row["recipient_key"]))
            heads[row["recipient_key"]] = place
            chained.append(
                {
                    **as_stored(entry, row, until, now),
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


def _lock_recipients(connection: Connection, pending: Mapping[str, Sequence[_Pending]]) -> None:
    """On PostgreSQL, lock every recipient whose chain, personal rows or erasure the batch
    touches, until the transaction ends (`lock_recipients`). Appending to a chain, storing a
    personal row (erased or not, by the erasures stored) and carrying out an erasure then never
    interleave for one person. SQLite lets one writer in at a time anyway."""
    lock_recipients(
        connection,
        (
            p.row["recipient_key"]
            for entry in LEDGER_TOPICS
            if entry.chained or entry.personal is not None or entry.erases
            for p in pending[entry.table.name]
        ),
    )


def lock_recipients(connection: Connection, recipient_keys: Iterable[str]) -> None:
    """On PostgreSQL, one transaction-scoped advisory lock per recipient, all taken in one order,
    so two writers (the sink's, retention's) cannot deadlock and never interleave for one person;
    nothing on SQLite, which lets one writer in at a time."""
    if connection.dialect.name != "postgresql":
        return
    keys = sorted({_chain_lock_key(key) for key in recipient_keys})
    if keys:
        connection.execute(_LOCK_CHAIN, [{"space": _CHAIN_LOCK_SPACE, "key": k} for k in keys])


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
    elif content_digest(earlier, columns := entry.content_of(earlier)) != content_digest(
        pending.row, columns
    ):
        differ = differing_columns(earlier, pending.row, columns)
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
