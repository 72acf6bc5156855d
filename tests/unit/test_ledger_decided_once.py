"""Every request decided once in the ledger (SQLite, through the same SQLAlchemy code as
PostgreSQL): a request's first decision is its row in `send_decisions`, every later decision of it
a row in `send_decision_repeats`, so the two tables together hold each record of the topic once."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, Table, inspect, select
from sqlalchemy.exc import IntegrityError

from streams.core.records import DeadLetter, RuleFailure, SendDecision
from streams.edges.ledger import (
    LEDGER_TOPICS,
    LedgerConflict,
    LedgerItem,
    LedgerTopic,
    LedgerWriter,
    SendDecisionRepeatRow,
    SendDecisionRow,
    ledger_counts,
    make_engine,
    read_offsets,
    upgrade,
    writer,
)
from streams.edges.ledger.catalogue import Repeats
from streams.edges.ledger.migrate import alembic_config
from streams.edges.ledger.models import ConsentEventRow
from streams.edges.ledger.rows import decision_row, same_decision
from streams.edges.ledger.sink import _copy
from streams.topics import SEND_DECISIONS, default_codec

DECISIONS = "send-decisions"
OTHER_DEPLOYMENT = "staging-send-decisions"
GROUP = "sendgate-ledger"
AT = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
UNSUBSCRIBED = RuleFailure(
    rule="list-unsubscribed", law="CAN-SPAM", explanation="Unsubscribed from news."
)
NO_ADDRESS = RuleFailure(rule="postal-address-missing", law="CAN-SPAM", explanation="No address.")
VOLUME = RuleFailure(rule="volume-spike", law="platform", explanation="12 sends in 1 hour.")


def recipient_key(request_id: str) -> str:
    return hashlib.sha256(f"{request_id}@example.com".encode()).hexdigest()


def decision(
    request_id: str,
    *,
    account_id: str = "acct-1",
    failures: tuple[RuleFailure, ...] = (),
    flags: tuple[RuleFailure, ...] = (),
    seconds: int = 0,
) -> SendDecision:
    """A decision of `request_id`, made `seconds` after AT; each call carries fresh list-header
    tokens, as each decision of the gate does."""
    return SendDecision(
        request_id=request_id,
        account_id=account_id,
        recipient_key=recipient_key(request_id),
        verdict="deny" if failures else "allow",
        failures=failures,
        flags=flags,
        policy_version="2025.2+def456",
        decided_at=AT + timedelta(seconds=seconds),
        request_offset=f"send-requests/0/{request_id}",
        state_offsets={"suppressions": seconds},
        headers={"List-Unsubscribe": f"<https://u.example/t/{request_id}-{seconds}>"},
    )


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


class Collected:
    """An `on_conflicts` handler that keeps what it was given."""

    def __init__(self) -> None:
        self.conflicts: list[LedgerConflict] = []

    def __call__(self, conflicts: Sequence[LedgerConflict]) -> None:
        self.conflicts += conflicts


def kept(engine: Engine) -> list[tuple[str, str, int, str]]:
    """send_decisions as (topic, request id, offset, verdict), in offset order."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                SendDecisionRow.kafka_topic,
                SendDecisionRow.request_id,
                SendDecisionRow.kafka_offset,
                SendDecisionRow.verdict,
            ).order_by(SendDecisionRow.kafka_topic, SendDecisionRow.kafka_offset)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def repeated(engine: Engine) -> list[tuple[str, int, str, bool]]:
    """send_decision_repeats as (request id, offset, verdict, same_decision), in offset order."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                SendDecisionRepeatRow.request_id,
                SendDecisionRepeatRow.kafka_offset,
                SendDecisionRepeatRow.verdict,
                SendDecisionRepeatRow.same_decision,
            ).order_by(SendDecisionRepeatRow.kafka_offset)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


# --- a request decided again ----------------------------------------------------------------------


def test_a_later_decision_of_a_request_is_a_repeat_not_a_second_decision(engine: Engine) -> None:
    """req-1 decided at offset 2 and again at offset 9 (a later batch): one decision, one repeat,
    no conflict; both records are stored, so both count as rows added."""
    ledger = LedgerWriter(engine)
    conflicts = Collected()
    first = LedgerItem(DECISIONS, 0, 2, decision("req-1", seconds=1))
    other = LedgerItem(DECISIONS, 0, 3, decision("req-2", seconds=1))
    again = LedgerItem(DECISIONS, 0, 9, decision("req-1", seconds=40))

    assert ledger.write_batch(GROUP, [first, other], on_conflicts=conflicts) == 2
    assert ledger.write_batch(GROUP, [again], on_conflicts=conflicts) == 1

    assert conflicts.conflicts == []
    assert kept(engine) == [
        (DECISIONS, "req-1", 2, "allow"),
        (DECISIONS, "req-2", 3, "allow"),
    ]
    assert repeated(engine) == [("req-1", 9, "allow", True)]
    assert read_offsets(engine, GROUP) == {(DECISIONS, 0): 10}


def test_a_repeat_is_kept_whole(engine: Engine) -> None:
    """The repeat's row has the repeat's own values (time, tokens, state), not the first's."""
    ledger = LedgerWriter(engine)
    again = decision("req-1", seconds=40)
    ledger.write_batch(GROUP, [LedgerItem(DECISIONS, 1, 0, decision("req-1", seconds=1))])
    ledger.write_batch(GROUP, [LedgerItem(DECISIONS, 1, 1, again)])

    with engine.connect() as connection:
        row = connection.execute(select(SendDecisionRepeatRow)).one()
    assert row.decided_at == AT + timedelta(seconds=40)
    assert row.state_offsets == {"suppressions": 40}
    assert (row.kafka_topic, row.kafka_partition, row.kafka_offset) == (DECISIONS, 1, 1)
    assert (row.account_id, row.recipient_key) == ("acct-1", recipient_key("req-1"))
    assert row.same_decision is True


def test_the_same_decision_at_new_coordinates_is_a_repeat_too(engine: Engine) -> None:
    """Other tables take the same event at other coordinates for a replay and add nothing; a
    decision at other coordinates is the gate deciding again, so it is stored, as a repeat."""
    ledger = LedgerWriter(engine)
    same = decision("req-1", seconds=1)

    assert ledger.write_batch(GROUP, [LedgerItem(DECISIONS, 0, 0, same)]) == 1
    assert ledger.write_batch(GROUP, [LedgerItem(DECISIONS, 0, 1, same)]) == 1

    assert ledger_counts(engine)["send_decisions"] == 1
    assert repeated(engine) == [("req-1", 1, "allow", True)]


def test_one_request_id_in_two_accounts_or_deployments_is_two_requests(engine: Engine) -> None:
    """Request ids are the senders': acct-2's req-1, and req-1 on another deployment's topic
    sharing the database, are requests of their own, each with its decision."""
    items = [
        LedgerItem(DECISIONS, 0, 0, decision("req-1")),
        LedgerItem(DECISIONS, 0, 1, decision("req-1", account_id="acct-2")),
        LedgerItem(OTHER_DEPLOYMENT, 0, 0, decision("req-1")),
    ]

    assert LedgerWriter(engine).write_batch(GROUP, items) == 3

    assert ledger_counts(engine)["send_decisions"] == 3
    assert repeated(engine) == []


# --- replays add nothing, anywhere ----------------------------------------------------------------


def test_replaying_the_topic_adds_nothing_to_either_table(engine: Engine) -> None:
    """The same records read again (a sink restarted before its commit, or a deliberate replay),
    in one batch or split differently: no row in send_decisions, none in the repeats."""
    ledger = LedgerWriter(engine)
    conflicts = Collected()
    items = [
        LedgerItem(DECISIONS, 0, 0, decision("req-1", seconds=1)),
        LedgerItem(DECISIONS, 0, 1, decision("req-2", seconds=1)),
        LedgerItem(DECISIONS, 0, 2, decision("req-1", failures=(UNSUBSCRIBED,), seconds=30)),
        LedgerItem(DECISIONS, 0, 3, decision("req-1", seconds=60)),
    ]
    assert ledger.write_batch(GROUP, items, on_conflicts=conflicts) == 4
    before = (kept(engine), repeated(engine))

    assert ledger.write_batch(GROUP, items, on_conflicts=conflicts) == 0
    assert ledger.write_batch(GROUP, items[2:], on_conflicts=conflicts) == 0
    assert ledger.write_batch(GROUP, [items[3], items[0]], on_conflicts=conflicts) == 0
    assert ledger.write_batch(GROUP, items + items, on_conflicts=conflicts) == 0

    assert conflicts.conflicts == []
    assert (kept(engine), repeated(engine)) == before
    counts = ledger_counts(engine)
    assert (counts["send_decisions"], counts["send_decision_repeats"]) == (2, 2)


# --- whether a repeat agrees with the first -------------------------------------------------------


def test_a_repeat_with_another_verdict_is_marked_as_differing(engine: Engine) -> None:
    """Allowed first, then denied after an unsubscribe came in between: the repeat says so."""
    ledger = LedgerWriter(engine)
    ledger.write_batch(GROUP, [LedgerItem(DECISIONS, 0, 0, decision("req-1"))])
    denied = decision("req-1", failures=(UNSUBSCRIBED,), seconds=5)

    assert ledger.write_batch(GROUP, [LedgerItem(DECISIONS, 0, 1, denied)]) == 1

    assert kept(engine) == [(DECISIONS, "req-1", 0, "allow")]
    assert repeated(engine) == [("req-1", 1, "deny", False)]


def test_what_counts_as_the_same_decision(engine: Engine) -> None:
    """Verdict, failed rules and flagged rules must match the first; explanations, times and
    tokens may differ. Each repeat is set beside the first decision, not the one before it."""
    first = decision("req-1", failures=(UNSUBSCRIBED,), flags=(NO_ADDRESS,))
    reworded = RuleFailure(rule="list-unsubscribed", law="CAN-SPAM", explanation="Gone since May.")
    repeats = [
        decision("req-1", failures=(reworded,), flags=(NO_ADDRESS,), seconds=9),  # same
        decision("req-1", failures=(UNSUBSCRIBED, VOLUME), flags=(NO_ADDRESS,), seconds=10),
        decision("req-1", failures=(UNSUBSCRIBED,), seconds=11),  # the flag went away
        decision("req-1", failures=(UNSUBSCRIBED,), flags=(NO_ADDRESS, VOLUME), seconds=12),
        decision("req-1", failures=(UNSUBSCRIBED,), flags=(NO_ADDRESS,), seconds=13),  # same
    ]
    items = [LedgerItem(DECISIONS, 0, 0, first)]
    items += [LedgerItem(DECISIONS, 0, n, record) for n, record in enumerate(repeats, start=1)]

    assert LedgerWriter(engine).write_batch(GROUP, items) == 6

    assert [same for _, _, _, same in repeated(engine)] == [True, False, False, False, True]


def test_no_flags_and_flags_stored_as_null_are_the_same() -> None:
    """Rows written before decisions had flags hold NULL; a repeat with none agrees with them."""
    before_flags = {"verdict": "allow", "failed_rules": "", "flags": None}
    repeat = decision_row(decision("req-1"), DECISIONS, 0, 5)

    assert repeat["flags"] is None or repeat["flags"] == []
    assert same_decision(before_flags, repeat)
    assert same_decision(before_flags, {**repeat, "flags": []})
    assert not same_decision(
        before_flags, decision_row(decision("req-1", flags=(NO_ADDRESS,)), DECISIONS, 0, 6)
    )


# --- copies within one batch ----------------------------------------------------------------------


def test_copies_of_a_request_in_one_batch(engine: Engine) -> None:
    """Three decisions of req-1 and two of req-2 interleaved in one batch, handed over out of
    order: the lowest offset of each is its decision, the others repeats."""
    items = [
        LedgerItem(DECISIONS, 0, 7, decision("req-1", seconds=7)),
        LedgerItem(DECISIONS, 0, 5, decision("req-2", failures=(UNSUBSCRIBED,), seconds=5)),
        LedgerItem(DECISIONS, 0, 3, decision("req-1", seconds=3)),
        LedgerItem(DECISIONS, 0, 6, decision("req-2", seconds=6)),
        LedgerItem(DECISIONS, 0, 4, decision("req-1", failures=(UNSUBSCRIBED,), seconds=4)),
    ]
    conflicts = Collected()

    assert LedgerWriter(engine).write_batch(GROUP, items, on_conflicts=conflicts) == 5

    assert conflicts.conflicts == []
    assert kept(engine) == [
        (DECISIONS, "req-1", 3, "allow"),
        (DECISIONS, "req-2", 5, "deny"),
    ]
    assert repeated(engine) == [
        ("req-1", 4, "deny", False),
        ("req-2", 6, "allow", False),
        ("req-1", 7, "allow", True),
    ]


def test_copies_in_one_batch_with_the_first_stored_before(engine: Engine) -> None:
    """The first was stored by an earlier batch: every copy of this batch is a repeat."""
    ledger = LedgerWriter(engine)
    ledger.write_batch(GROUP, [LedgerItem(DECISIONS, 2, 0, decision("req-1"))])
    items = [
        LedgerItem(DECISIONS, 2, 1, decision("req-1", seconds=1)),
        LedgerItem(DECISIONS, 2, 2, decision("req-1", failures=(UNSUBSCRIBED,), seconds=2)),
    ]

    assert ledger.write_batch(GROUP, items) == 2

    assert kept(engine) == [(DECISIONS, "req-1", 0, "allow")]
    assert repeated(engine) == [("req-1", 1, "allow", True), ("req-1", 2, "deny", False)]


# --- reused coordinates are still conflicts -------------------------------------------------------


def test_another_record_at_stored_coordinates_is_a_conflict_in_either_table(
    engine: Engine,
) -> None:
    """A topic deleted and created again hands its offsets out anew. Another request at the
    coordinates of a stored decision, or of a stored repeat, is not a replay; nor is a repeat of
    a stored request at the coordinates of another request's decision."""
    ledger = LedgerWriter(engine)
    ledger.write_batch(
        GROUP,
        [
            LedgerItem(DECISIONS, 0, 0, decision("req-1")),
            LedgerItem(DECISIONS, 0, 1, decision("req-2")),
            LedgerItem(DECISIONS, 0, 2, decision("req-1", seconds=2)),
        ],
    )
    before = (kept(engine), repeated(engine))
    conflicts = Collected()
    reused = [
        LedgerItem(DECISIONS, 0, 0, decision("req-7")),  # a decision's coordinates
        LedgerItem(DECISIONS, 0, 1, decision("req-1", seconds=5)),  # req-2's, as a repeat
        LedgerItem(DECISIONS, 0, 2, decision("req-8")),  # a repeat's coordinates
    ]

    assert ledger.write_batch(GROUP, reused, on_conflicts=conflicts) == 0

    assert [
        (conflict.item.offset, conflict.reason.split(" (")[0]) for conflict in conflicts.conflicts
    ] == [
        (
            0,
            f"{DECISIONS}/0/0 already recorded as send decision acct-1/req-1/{DECISIONS}, "
            f"not send decision acct-1/req-7/{DECISIONS}",
        ),
        (
            1,
            f"{DECISIONS}/0/1 already recorded as send decision acct-1/req-2/{DECISIONS}, "
            f"not send decision acct-1/req-1/{DECISIONS}",
        ),
        (
            2,
            f"{DECISIONS}/0/2 already recorded as send decision acct-1/req-1/{DECISIONS}, "
            f"not send decision acct-1/req-8/{DECISIONS}",
        ),
    ]
    assert (kept(engine), repeated(engine)) == before


def test_a_repeat_whose_first_was_a_conflict_becomes_the_decision(engine: Engine) -> None:
    """In one batch: req-9 at coordinates a stored req-1 holds (a conflict, not stored), then req-9
    again at new coordinates. That second record is the first of req-9 the ledger stores."""
    ledger = LedgerWriter(engine)
    ledger.write_batch(GROUP, [LedgerItem(DECISIONS, 0, 0, decision("req-1"))])
    conflicts = Collected()
    items = [
        LedgerItem(DECISIONS, 0, 0, decision("req-9", seconds=1)),
        LedgerItem(DECISIONS, 0, 1, decision("req-9", seconds=2)),
    ]

    assert ledger.write_batch(GROUP, items, on_conflicts=conflicts) == 1

    assert [conflict.item.offset for conflict in conflicts.conflicts] == [0]
    assert kept(engine) == [(DECISIONS, "req-1", 0, "allow"), (DECISIONS, "req-9", 1, "allow")]
    assert repeated(engine) == []


# --- another writer storing meanwhile -------------------------------------------------------------


def blind_for(
    monkeypatch: pytest.MonkeyPatch, name: str, calls: int
) -> Callable[..., dict[Any, Any]]:
    """Make the writer's look-up `name` find nothing for its first `calls` calls: what a writer
    sees when another one stores the same rows after it looked and before it inserts."""
    real = getattr(writer, name)
    made = 0

    def look_up(*args: Any, **kwargs: Any) -> dict[Any, Any]:
        nonlocal made
        made += 1
        return {} if made <= calls else real(*args, **kwargs)

    monkeypatch.setattr(writer, name, look_up)
    return look_up


def test_a_first_that_lost_the_race_becomes_a_repeat(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer stored req-1's decision (denied, offset 0) after this one looked: the
    insert is refused by the request's unique index, and both of this batch's copies become
    repeats of the stored decision, each set beside it, not beside the refused one."""
    ledger = LedgerWriter(engine)
    ledger.write_batch(GROUP, [LedgerItem(DECISIONS, 0, 0, decision("req-1", failures=(VOLUME,)))])
    blind_for(monkeypatch, "_stored_by_identity", calls=1)
    conflicts = Collected()
    items = [
        LedgerItem(DECISIONS, 0, 5, decision("req-1", seconds=5)),
        LedgerItem(DECISIONS, 0, 6, decision("req-1", seconds=6)),
        LedgerItem(DECISIONS, 0, 7, decision("req-3", seconds=7)),
    ]

    assert ledger.write_batch(GROUP, items, on_conflicts=conflicts) == 3

    assert conflicts.conflicts == []
    assert kept(engine) == [(DECISIONS, "req-1", 0, "deny"), (DECISIONS, "req-3", 7, "allow")]
    assert repeated(engine) == [("req-1", 5, "allow", False), ("req-1", 6, "allow", False)]


def test_a_first_another_writer_stored_at_its_coordinates_is_a_replay(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other writer stored the very record: refused by its coordinates, it adds nothing,
    and its later copy in the batch is a repeat of it."""
    ledger = LedgerWriter(engine)
    ledger.write_batch(GROUP, [LedgerItem(DECISIONS, 0, 5, decision("req-1", seconds=5))])
    blind_for(monkeypatch, "_stored_by_identity", calls=1)
    blind_for(monkeypatch, "_stored_by_coordinates", calls=2)  # both tables, first round
    items = [
        LedgerItem(DECISIONS, 0, 5, decision("req-1", seconds=5)),
        LedgerItem(DECISIONS, 0, 6, decision("req-1", failures=(UNSUBSCRIBED,), seconds=6)),
    ]

    assert ledger.write_batch(GROUP, items) == 1

    assert kept(engine) == [(DECISIONS, "req-1", 5, "allow")]
    assert repeated(engine) == [("req-1", 6, "deny", False)]


def test_a_repeat_another_writer_stored_meanwhile_is_a_replay(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused by the repeats table's coordinates: the stored repeat is this record, so the
    batch adds nothing and reports no conflict."""
    ledger = LedgerWriter(engine)
    ledger.write_batch(
        GROUP,
        [
            LedgerItem(DECISIONS, 0, 0, decision("req-1")),
            LedgerItem(DECISIONS, 0, 1, decision("req-1", seconds=1)),
        ],
    )
    before = (kept(engine), repeated(engine))
    blind_for(monkeypatch, "_stored_by_coordinates", calls=2)
    conflicts = Collected()

    added = ledger.write_batch(
        GROUP, [LedgerItem(DECISIONS, 0, 1, decision("req-1", seconds=1))], on_conflicts=conflicts
    )

    assert added == 0
    assert conflicts.conflicts == []
    assert (kept(engine), repeated(engine)) == before


# --- the sink -------------------------------------------------------------------------------------


class FakeConsumer:
    """Hands out the given fetches one by one, then nothing."""

    def __init__(self, fetches: list[list[SimpleNamespace]]) -> None:
        self._fetches = fetches

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[str, list[SimpleNamespace]]:
        if not self._fetches:
            return {}
        return {"any": self._fetches.pop(0)}


def message(offset: int, record: SendDecision) -> SimpleNamespace:
    return SimpleNamespace(
        topic=DECISIONS,
        partition=0,
        offset=offset,
        key=record.recipient_key.encode(),
        value=default_codec().encode(record),
    )


async def test_the_sink_counts_repeats_as_rows_and_dead_letters_none(engine: Engine) -> None:
    """Rows written equal records read: the repeats are rows too, and none is a dead letter."""
    fetches = [
        [message(0, decision("req-1")), message(1, decision("req-2"))],
        [message(2, decision("req-1", failures=(UNSUBSCRIBED,), seconds=3))],
    ]
    published: list[DeadLetter] = []

    async def publish(letters: Sequence[DeadLetter]) -> None:
        await asyncio.sleep(0)
        published.extend(letters)

    totals = await _copy(
        FakeConsumer(fetches),  # type: ignore[arg-type]
        LedgerWriter(engine),
        GROUP,
        {entry.topic.name: entry.record_type for entry in LEDGER_TOPICS},
        publish=publish,
        stop=asyncio.Event(),
        on_progress=None,
        idle_exit_s=0,
    )

    assert (totals.records_read, totals.rows_inserted, totals.dead_lettered) == (3, 3, 0)
    assert published == []
    counts = ledger_counts(engine)
    assert (counts["send_decisions"], counts["send_decision_repeats"]) == (2, 1)


# --- the catalogue --------------------------------------------------------------------------------


def test_repeats_need_an_identity_and_a_table_that_holds_the_rows() -> None:
    """An entry that could never find a repeat, or a repeats table that could not hold one, is
    refused when the catalogue is built, not on the first repeat months later."""
    repeats = Repeats(SendDecisionRepeatRow, same_decision, agrees="same_decision")
    [entry] = [entry for entry in LEDGER_TOPICS if entry.topic is SEND_DECISIONS]
    assert entry.repeats is not None

    with pytest.raises(ValueError, match="identity"):
        LedgerTopic(SEND_DECISIONS, SendDecisionRow, decision_row, repeats=repeats)
    with pytest.raises(ValueError, match="consent_events has no column"):
        LedgerTopic(
            SEND_DECISIONS,
            SendDecisionRow,
            decision_row,
            identity=("account_id", "request_id"),
            repeats=Repeats(ConsentEventRow, same_decision, agrees="chain_seq"),
        )
    with pytest.raises(ValueError, match="no column agreed"):
        LedgerTopic(
            SEND_DECISIONS,
            SendDecisionRow,
            decision_row,
            identity=("account_id", "request_id"),
            repeats=Repeats(SendDecisionRepeatRow, same_decision, agrees="agreed"),
        )


# --- the migration --------------------------------------------------------------------------------


def test_0007_moves_the_decisions_a_ledger_already_holds_twice(database_url: str) -> None:
    """A 0006 ledger holding req-1 three times, req-2 twice (flags differing only), req-3 once,
    and req-1 of another account and of another deployment: after the upgrade send_decisions
    holds the first of each request (the lowest id), the repeats table the others, marked; no
    row is lost, the unique index stands, and the writer goes on from there."""
    upgrade(database_url, "0006")
    engine = make_engine(database_url)
    try:
        old = Table("send_decisions", MetaData(), autoload_with=engine)
        records = [
            (DECISIONS, 0, decision("req-1")),
            (DECISIONS, 1, decision("req-2", flags=(NO_ADDRESS,))),
            (DECISIONS, 2, decision("req-1", failures=(UNSUBSCRIBED,), seconds=2)),
            (DECISIONS, 3, decision("req-3")),
            (DECISIONS, 4, decision("req-2", seconds=4)),
            (DECISIONS, 5, decision("req-1", seconds=5)),
            (DECISIONS, 6, decision("req-1", account_id="acct-2")),
            (OTHER_DEPLOYMENT, 0, decision("req-1")),
        ]
        with engine.begin() as connection:
            for topic, offset, record in records:
                connection.execute(old.insert().values(decision_row(record, topic, 0, offset)))

        upgrade(database_url)

        assert kept(engine) == [
            (DECISIONS, "req-1", 0, "allow"),
            (DECISIONS, "req-2", 1, "allow"),
            (DECISIONS, "req-3", 3, "allow"),
            (DECISIONS, "req-1", 6, "allow"),
            (OTHER_DEPLOYMENT, "req-1", 0, "allow"),
        ]
        assert repeated(engine) == [
            ("req-1", 2, "deny", False),
            ("req-2", 4, "allow", False),
            ("req-1", 5, "allow", True),
        ]
        with engine.connect() as connection:
            moved = connection.execute(
                select(SendDecisionRepeatRow).where(SendDecisionRepeatRow.kafka_offset == 2)
            ).one()
        assert moved.decided_at == AT + timedelta(seconds=2)
        assert moved.failed_rules == "list-unsubscribed"
        assert moved.failures[0]["explanation"] == "Unsubscribed from news."
        unique = {
            ix["name"]: ix["column_names"]
            for ix in inspect(engine).get_indexes("send_decisions")
            if ix["unique"]
        }
        assert unique["uq_send_decisions_request"] == ["account_id", "request_id", "kafka_topic"]
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                old.insert().values(decision_row(decision("req-3"), DECISIONS, 0, 50))
            )

        assert (
            LedgerWriter(engine).write_batch(
                GROUP, [LedgerItem(DECISIONS, 0, 8, decision("req-3", seconds=8))]
            )
            == 1
        )
        assert repeated(engine)[-1] == ("req-3", 8, "allow", True)
    finally:
        engine.dispose()


def test_0007_downgrades_with_the_repeats_back_among_the_decisions(database_url: str) -> None:
    """Going down loses no decision: the repeats return to send_decisions, and the upgrade then
    sorts them out again the same way."""
    upgrade(database_url)
    engine = make_engine(database_url)

    def migrate(revision: str) -> None:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            if revision == "head":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)

    try:
        LedgerWriter(engine).write_batch(
            GROUP,
            [
                LedgerItem(DECISIONS, 0, 0, decision("req-1")),
                LedgerItem(DECISIONS, 0, 1, decision("req-1", failures=(VOLUME,), seconds=1)),
                LedgerItem(DECISIONS, 0, 2, decision("req-2")),
            ],
        )
        migrate("0006")
        assert "send_decision_repeats" not in inspect(engine).get_table_names()
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    SendDecisionRow.request_id,
                    SendDecisionRow.kafka_offset,
                    SendDecisionRow.failures,
                ).order_by(SendDecisionRow.kafka_offset)
            ).all()
        assert [(request_id, offset) for request_id, offset, _ in rows] == [
            ("req-1", 0),
            ("req-1", 1),
            ("req-2", 2),
        ]
        assert rows[1].failures[0]["rule"] == "volume-spike"

        migrate("head")
        assert kept(engine) == [(DECISIONS, "req-1", 0, "allow"), (DECISIONS, "req-2", 2, "allow")]
        assert repeated(engine) == [("req-1", 1, "deny", False)]
    finally:
        engine.dispose()
