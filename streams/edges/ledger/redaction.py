"""Carry an erasure request out in the ledger: the person's data in clear goes, the rest stays.

The writer calls these inside the transaction that stores the request (`LedgerWriter`), so the
request's row, the redaction and the ledger's offsets are committed together or not at all:
- `erased_until`: the latest erasure of each recipient, so a row that arrives after its person's
  erasure but happened before it is stored erased (`as_stored`);
- `carry_out`: for a request just stored, check the person's consent chain (and record what it
  said: erasing removes what some checks need), set every personal column of the person's rows
  to NULL with `erased_at`, and count what every other ledger table keeps of them;
- `ledger_erased_event`: the step the ledger reports on `erasure-events`, place by place.

Personal columns are the catalogue's (`LedgerTopic.personal`): a consent event's IP address, user
agent and source id (with the salt of their commitment, so the chain still verifies:
`streams.edges.ledger.chain`), and a feedback report's Message-ID, which a sender may build from
the address and which names one message to the person either way. Every other table holds the
recipient key only: a keyed hash of the address, so no one without the platform's secret can
tell whose it is, but pseudonymous data all the same (it singles one person out). It stays, as
the record of what the gate did for the person; the erasure's report says so ("kept"), place by
place, rather than claim the person is gone from there.

Retention (`retention`) takes the personal columns out of consent evidence past its period by
the same `redact`, so there is one redaction, whatever asked for it.

A row is never deleted here: the chain would break, and the ledger's rows are the proof that the
platform kept the rules. A second request for the same person erases what arrived since, and
reports every row erased so far.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, func, select, update

from streams.core.records import ErasedPlace, ErasureEvent
from streams.edges.ledger.catalogue import LEDGER_TOPICS, LedgerTopic
from streams.edges.ledger.chain import verify_chain
from streams.edges.ledger.models import ConsentEventRow, ErasureRow, ErasureStepRow, metadata

__all__ = [
    "ERASED_PLACE_PREFIX",
    "KEPT_TABLES",
    "Redacted",
    "as_stored",
    "carry_out",
    "erased_until",
    "ledger_erased_event",
    "place_name",
    "redact",
    "step_event_id",
]

ERASED_PLACE_PREFIX = "ledger."
"""A ledger table's place in an erasure's report: `ledger.consent_events`."""
_PERSONAL: tuple[LedgerTopic[Any], ...] = tuple(e for e in LEDGER_TOPICS if e.personal is not None)
_ERASURES = metadata.tables[ErasureRow.__tablename__]
_CONSENT_EVENTS = metadata.tables[ConsentEventRow.__tablename__]
KEPT_TABLES: tuple[Table, ...] = tuple(
    table
    for name, table in sorted(metadata.tables.items())
    if "recipient_key" in table.c
    and name not in {entry.table.name for entry in _PERSONAL}
    and name not in {ErasureRow.__tablename__, ErasureStepRow.__tablename__}
)
"""The ledger tables that hold the recipient key and nothing else of the person (the erasure's
own records aside)."""
_KEPT_NOTE = (
    "Holds the recipient key only (a keyed hash of the address, never the address): "
    "pseudonymous data, kept as the record of what the gate did for this person."
)


@dataclass(frozen=True, slots=True)
class Redacted:
    """What `carry_out` did in one table with personal columns."""

    entry: LedgerTopic[Any]
    now: int
    """Rows erased by this request."""
    total: int
    """The person's rows erased in the table, by this request or an earlier one."""


def place_name(table: Table) -> str:
    return ERASED_PLACE_PREFIX + table.name


def step_event_id(request_id: str, kind: str) -> str:
    """An erasure step's event id: `<request_id>/<kind>`, one per request and kind."""
    return f"{request_id}/{kind}"


def erased_until(connection: Connection, recipient_keys: Iterable[str]) -> dict[str, datetime]:
    """The latest `requested_at` of the stored erasures of each recipient that has one."""
    keys = set(recipient_keys)
    if not keys:
        return {}
    query = (
        select(_ERASURES.c.recipient_key, func.max(_ERASURES.c.requested_at))
        .where(_ERASURES.c.recipient_key.in_(keys))
        .group_by(_ERASURES.c.recipient_key)
    )
    return {key: moment for key, moment in connection.execute(query)}


def as_stored(
    entry: LedgerTopic[Any],
    row: Mapping[str, Any],
    until: Mapping[str, datetime],
    now: datetime,
) -> dict[str, Any]:
    """The row as the ledger stores it: erased (personal columns NULL, `erased_at` now) when its
    person was erased at or after the moment it records, else as it is with `erased_at` NULL
    (every row of a table has the same columns, so they are inserted as one statement). Pure."""
    personal = entry.personal
    if personal is None:
        return dict(row)
    erased_at = until.get(row["recipient_key"])
    if erased_at is None or personal.moment(row) > erased_at:
        return {**row, "erased_at": None}
    return {**row, **dict.fromkeys(personal.erased), "erased_at": now}


def carry_out(
    connection: Connection, request: Mapping[str, Any], now: datetime
) -> tuple[list[Redacted], dict[str, int], str]:
    """Erase the personal columns of the request's person in every table that has them; return
    what was erased per table, the rows each other table keeps of the person, and what the
    person's consent chain said just before (also stored in the request's `chain_before`)."""
    key = request["recipient_key"]
    chain_rows = connection.execute(
        select(_CONSENT_EVENTS).where(_CONSENT_EVENTS.c.recipient_key == key)
    ).mappings()
    verdict = verify_chain([dict(row) for row in chain_rows])
    chain_before = "verified" if verdict.verified else verdict.explanation
    redacted = []
    for entry in _PERSONAL:
        table = entry.table
        erased = redact(connection, entry, table.c.recipient_key == key, now)
        total = connection.execute(
            select(func.count())
            .select_from(table)
            .where(table.c.recipient_key == key, table.c.erased_at.is_not(None))
        ).scalar_one()
        redacted.append(Redacted(entry, erased, total))
    kept = {
        table.name: connection.execute(
            select(func.count()).select_from(table).where(table.c.recipient_key == key)
        ).scalar_one()
        for table in KEPT_TABLES
    }
    connection.execute(
        update(_ERASURES)
        .where(_ERASURES.c.request_id == request["request_id"])
        .values(chain_before=chain_before)
    )
    return redacted, kept, chain_before


def redact(
    connection: Connection, entry: LedgerTopic[Any], where: ColumnElement[bool], now: datetime
) -> int:
    """Set the personal columns of the entry's rows matching `where` to NULL, with `erased_at`
    `now`, where not done already; return how many rows it erased. The one way the ledger takes a
    person's data in clear out of a row, for an erasure request and for retention alike (the
    chain's commitment stays, so a consent chain verifies after either)."""
    personal = entry.personal
    if personal is None:
        raise ValueError(f"{entry.table.name} has no personal columns")
    table = entry.table
    return connection.execute(
        update(table)
        .where(where, table.c.erased_at.is_(None))
        .values({**dict.fromkeys(personal.erased), "erased_at": now})
    ).rowcount


def ledger_erased_event(
    request: Mapping[str, Any],
    redacted: Sequence[Redacted],
    kept: Mapping[str, int],
    chain_before: str,
    now: datetime,
) -> ErasureEvent:
    """The ledger's step of the erasure: each table with personal columns `redacted`, each other
    table holding the person's key `kept`, with counts and a note. Pure."""
    places = [_redacted_place(done, chain_before, now) for done in redacted]
    places += [
        ErasedPlace(
            place=ERASED_PLACE_PREFIX + name,
            action="kept",
            count=count,
            done_by=now,
            note=_KEPT_NOTE,
        )
        for name, count in sorted(kept.items())
    ]
    return ErasureEvent(
        event_id=step_event_id(request["request_id"], "ledger_erased"),
        request_id=request["request_id"],
        recipient_key=request["recipient_key"],
        kind="ledger_erased",
        places=tuple(places),
        at=now,
    )


def _redacted_place(done: Redacted, chain_before: str, now: datetime) -> ErasedPlace:
    personal = done.entry.personal
    assert personal is not None
    earlier = done.total - done.now
    note = (
        f"Set to NULL: {personal.what}"
        + (f"; {earlier} of the rows already by an earlier request" if earlier else "")
        + ". The rows stay, under the recipient key (a keyed hash: pseudonymous)."
    )
    if done.entry.chained:
        chain = "verified" if chain_before == "verified" else f"did NOT verify ({chain_before})"
        note += f" The person's consent chain {chain} just before."
    return ErasedPlace(
        place=place_name(done.entry.table),
        action="redacted",
        count=done.total,
        done_by=now,
        note=note[:500],
    )
