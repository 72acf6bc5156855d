"""Erasure in the ledger (SQLite): a request redacts the person's rows in its own transaction and
reports its step before the commit; late rows are stored erased; replays change nothing; the chain
still verifies; rows from before the commitment format are handled; the proof shows erased rows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from alembic import command
from pydantic import SecretStr
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from streams.cli import app
from streams.core.clock import FrozenClock
from streams.core.errors import ServiceUnavailableError
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    DeadLetter,
    ErasedPlace,
    ErasureEvent,
    ErasureRequest,
    Record,
    SendDecision,
)
from streams.core.settings import Settings
from streams.edges.ledger import (
    LEDGER_TOPICS,
    ConsentEventRow,
    FeedbackReportRow,
    LedgerConflict,
    LedgerItem,
    LedgerWriter,
    make_engine,
    metadata,
    upgrade,
)
from streams.edges.ledger.chain import GENESIS_HASH, commit_personal, link, verify_chain
from streams.edges.ledger.erasures import completions_due, erasure_status
from streams.edges.ledger.migrate import alembic_config
from streams.edges.ledger.models import ErasureRow
from streams.edges.ledger.proof import prove_consent
from streams.edges.ledger.redaction import KEPT_TABLES
from streams.edges.ledger.sink import _copy
from streams.edges.ledger.writer import LedgerErasureError
from streams.policy import load_policy
from streams.topics import default_codec
from tests.support.factory import consent_event, feedback_report

SECRET = "ledger-erasure-unit-secret-0123456789"
ADDRESS = "erin.erased@example.com"
KEYER = RecipientKeyer(SECRET.encode())
KEY = KEYER.key(ADDRESS)
OTHER = KEYER.key("kim.kept@example.org")
CONSENTS = "consent-events"
REPORTS = "feedback-reports"
DECISIONS = "send-decisions"
REQUESTS = "erasure-requests"
STEPS = "erasure-events"
GROUP = "sendgate-ledger"
T0 = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
ASKED = T0 + timedelta(days=10)
NOW = T0 + timedelta(days=11)
IP, AGENT, SOURCE = "198.51.100.77", "Mozilla/5.0 (Erin's phone)", "spring-signup-form"
MESSAGE_ID = "<erin.erased=example.com@mail.acme.example>"


def signup(n: int, key: str = KEY, at: datetime | None = None, **fields: Any) -> Any:
    """The n-th sign-up of the person to acme's news, from their phone, n hours after T0."""
    return consent_event(
        event_id=f"evt-{key[:4]}-{n}",
        recipient_key=key,
        lists=("news",),
        source_id=SOURCE,
        ip=IP,
        user_agent=AGENT,
        occurred_at=at or T0 + timedelta(hours=n),
        **fields,
    )


def request(request_id: str = "req-1", key: str = KEY, at: datetime = ASKED) -> ErasureRequest:
    return ErasureRequest(
        request_id=request_id, recipient_key=key, requested_by="dpo-desk", requested_at=at
    )


def decision(n: int, key: str = KEY) -> SendDecision:
    return SendDecision(
        request_id=f"send-{n}",
        account_id="acme",
        recipient_key=key,
        verdict="allow",
        policy_version="p1",
        decided_at=T0,
        request_offset=f"send-requests/0/{n}",
    )


class Steps:
    """An `on_erasures` handler that keeps what it was given."""

    def __init__(self) -> None:
        self.steps: list[ErasureEvent] = []
        self.calls = 0

    def __call__(self, steps: Sequence[ErasureEvent]) -> None:
        self.calls += 1
        self.steps.extend(steps)


class Conflicts:
    def __init__(self) -> None:
        self.conflicts: list[LedgerConflict] = []

    def __call__(self, conflicts: Sequence[LedgerConflict]) -> None:
        self.conflicts.extend(conflicts)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def writer(engine: Engine) -> LedgerWriter:
    return LedgerWriter(engine, clock=FrozenClock(NOW))


def consent_rows(engine: Engine, key: str = KEY) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(ConsentEventRow.__table__)
            .where(ConsentEventRow.recipient_key == key)
            .order_by(ConsentEventRow.chain_seq)
        ).mappings()
        return [dict(row) for row in rows]


def report_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(FeedbackReportRow.__table__).order_by(FeedbackReportRow.id)
        ).mappings()
        return [dict(row) for row in rows]


def everything(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every ledger table, for before/after comparisons."""
    with engine.connect() as connection:
        return {
            name: [dict(row) for row in connection.execute(select(table)).mappings()]
            for name, table in sorted(metadata.tables.items())
        }


def story() -> list[LedgerItem]:
    """Three sign-ups of the person (and one of someone else), two decisions and a report."""
    return [
        LedgerItem(CONSENTS, 0, 0, signup(0)),
        LedgerItem(CONSENTS, 0, 1, signup(1, kind="confirm", basis=None)),
        LedgerItem(CONSENTS, 0, 2, signup(2)),
        LedgerItem(CONSENTS, 1, 0, signup(0, key=OTHER)),
        LedgerItem(DECISIONS, 0, 0, decision(1)),
        LedgerItem(DECISIONS, 0, 1, decision(2)),
        LedgerItem(
            REPORTS,
            0,
            0,
            feedback_report(
                report_id="rep-1",
                recipient_key=KEY,
                original_message_id=MESSAGE_ID,
                received_at=T0 + timedelta(days=2),
            ),
        ),
    ]


# --- carrying a request out -----------------------------------------------------------------------


def test_a_request_erases_the_persons_personal_fields_and_the_chain_still_verifies(
    engine: Engine, writer: LedgerWriter
) -> None:
    """IP address, user agent, source id and salt NULL, `erased_at` the writer's time; every hash
    as it was; the other person untouched; one `ledger_erased` step handed over."""
    writer.write_batch(GROUP, story())
    before = consent_rows(engine)
    other_before = consent_rows(engine, OTHER)
    steps = Steps()

    assert (
        writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=steps) == 1
    )

    after = consent_rows(engine)
    assert [(r["ip"], r["user_agent"], r["source_id"], r["personal_salt"]) for r in after] == [
        (None, None, None, None)
    ] * 3
    assert [r["erased_at"] for r in after] == [NOW] * 3
    unchanged = ("entry_hash", "prev_hash", "chain_seq", "personal_commitment", "kind", "lists")
    assert [{c: r[c] for c in unchanged} for r in after] == [
        {c: r[c] for c in unchanged} for r in before
    ]
    verdict = verify_chain(after)
    assert verdict.verified
    assert (verdict.erased, verdict.unchecked) == ((1, 2, 3), ())
    assert verdict.head_hash == before[-1]["entry_hash"]
    assert consent_rows(engine, OTHER) == other_before
    assert [r["original_message_id"] for r in report_rows(engine)] == [None]
    assert steps.calls == 1
    [step] = steps.steps
    assert (step.event_id, step.request_id, step.recipient_key, step.kind, step.at) == (
        "req-1/ledger_erased",
        "req-1",
        KEY,
        "ledger_erased",
        NOW,
    )


def test_the_step_lists_every_ledger_place_with_counts_and_honest_notes(
    engine: Engine, writer: LedgerWriter
) -> None:
    """Personal tables `redacted`, every other table with the key `kept`, saying it holds the
    keyed hash (pseudonymous), not that the person is gone from there."""
    writer.write_batch(GROUP, story())
    steps = Steps()
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=steps)

    places = {place.place: place for place in steps.steps[0].places}
    assert {name: (p.action, p.count) for name, p in places.items()} == {
        "ledger.consent_events": ("redacted", 3),
        "ledger.feedback_reports": ("redacted", 1),
        "ledger.bounce_changes": ("kept", 0),
        "ledger.send_decision_repeats": ("kept", 0),
        "ledger.send_decisions": ("kept", 2),
        "ledger.suppression_changes": ("kept", 0),
    }
    assert all(place.done_by == NOW for place in places.values())
    consent_note = places["ledger.consent_events"].note or ""
    assert "IP address, user agent and source id" in consent_note
    assert "chain verified" in consent_note
    kept_note = places["ledger.send_decisions"].note or ""
    assert "keyed hash" in kept_note
    assert "pseudonymous" in kept_note
    with engine.connect() as connection:
        stored = connection.execute(select(ErasureRow.__table__)).mappings().one()
    assert (stored["processed_at"], stored["chain_before"], stored["requested_by"]) == (
        NOW,
        "verified",
        "dpo-desk",
    )


def test_every_table_holding_the_recipient_key_is_accounted_for() -> None:
    """A table added later with the key must be redacted or reported kept, not forgotten."""
    personal = {entry.table.name for entry in LEDGER_TOPICS if entry.personal is not None}
    own = {"erasures", "erasure_steps"}
    keyed = {name for name, table in metadata.tables.items() if "recipient_key" in table.c}
    assert keyed == personal | own | {table.name for table in KEPT_TABLES}
    assert personal == {"consent_events", "feedback_reports"}


def test_a_request_in_the_batch_of_the_rows_erases_them_too(
    engine: Engine, writer: LedgerWriter
) -> None:
    """The catalogue stores requests after the personal tables, whatever the batch's order."""
    steps = Steps()
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request()), *story()], on_erasures=steps)

    assert [r["ip"] for r in consent_rows(engine)] == [None] * 3
    assert [r["ip"] for r in consent_rows(engine, OTHER)] == [IP]
    assert verify_chain(consent_rows(engine)).verified


def test_replaying_a_request_changes_nothing_and_reports_nothing(
    engine: Engine, writer: LedgerWriter
) -> None:
    """The same record again, and the same request at new coordinates: no row, no step."""
    writer.write_batch(GROUP, story())
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=Steps())
    before = everything(engine)
    later = LedgerWriter(engine, clock=FrozenClock(NOW + timedelta(days=1)))
    steps = Steps()

    assert later.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=steps) == 0
    assert later.write_batch(GROUP, [LedgerItem(REQUESTS, 2, 9, request())], on_erasures=steps) == 0

    assert steps.calls == 0
    after = everything(engine)
    after.pop("consumer_offsets")
    before.pop("consumer_offsets")
    assert after == before


def test_replayed_consent_events_of_erased_rows_are_replays_not_conflicts(
    engine: Engine, writer: LedgerWriter
) -> None:
    """The stored row lost its personal fields; the record read again still has them. It is
    the same event, so nothing is added and nothing goes to dead letters (which would put the
    person's IP address back on a topic)."""
    writer.write_batch(GROUP, story())
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=Steps())
    before = consent_rows(engine)
    conflicts = Conflicts()

    again = [item for item in story() if item.topic in (CONSENTS, REPORTS)]
    moved = [LedgerItem(item.topic, 5, item.offset + 100, item.record) for item in again]
    assert writer.write_batch(GROUP, again + moved, on_conflicts=conflicts) == 0

    assert conflicts.conflicts == []
    assert consent_rows(engine) == before


def test_an_erased_event_sent_again_with_other_content_is_still_a_conflict(
    engine: Engine, writer: LedgerWriter
) -> None:
    """Only the erased columns leave the comparison: another kind under the same id is still
    set aside, and its reason names no value."""
    writer.write_batch(GROUP, story())
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=Steps())
    conflicts = Conflicts()

    changed = signup(0, kind="withdraw", basis=None)
    writer.write_batch(GROUP, [LedgerItem(CONSENTS, 3, 0, changed)], on_conflicts=conflicts)

    [conflict] = conflicts.conflicts
    assert "kind" in conflict.reason
    assert IP not in conflict.reason


def test_a_late_event_from_before_the_erasure_is_stored_erased_and_a_later_one_is_kept(
    engine: Engine, writer: LedgerWriter
) -> None:
    """Read after the request: a sign-up that happened at or before `requested_at` is stored
    without its personal fields (its commitment taken first, so the chain is as if erased
    later); a new sign-up after the erasure is new data, stored whole."""
    writer.write_batch(GROUP, story()[:3])
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=Steps())

    late = [
        LedgerItem(CONSENTS, 0, 3, signup(3, at=ASKED)),
        LedgerItem(CONSENTS, 0, 4, signup(4, at=ASKED + timedelta(milliseconds=1))),
    ]
    steps = Steps()
    assert writer.write_batch(GROUP, late, on_erasures=steps) == 2

    assert steps.calls == 0
    rows = consent_rows(engine)
    assert [(r["ip"], r["user_agent"], r["source_id"]) for r in rows[3:]] == [
        (None, None, None),
        (IP, AGENT, SOURCE),
    ]
    assert [r["erased_at"] for r in rows[3:]] == [NOW, None]
    assert all(r["chain_format"] == 2 and r["personal_commitment"] for r in rows)
    assert rows[4]["personal_commitment"] == commit_personal(rows[4], rows[4]["personal_salt"])
    verdict = verify_chain(rows)
    assert verdict.verified
    assert verdict.erased == (1, 2, 3, 4)


def test_a_late_feedback_report_about_earlier_mail_loses_its_message_id(
    engine: Engine, writer: LedgerWriter
) -> None:
    """A report's moment is when the reported mail arrived (else when the report came): a
    report received after the erasure about mail from before it is stored without the ID."""
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=Steps())
    reports = [
        feedback_report(
            report_id="rep-late",
            recipient_key=KEY,
            original_message_id=MESSAGE_ID,
            arrival_date=ASKED - timedelta(days=1),
            received_at=NOW,
        ),
        feedback_report(
            report_id="rep-new",
            recipient_key=KEY,
            original_message_id="<new@mail.acme.example>",
            received_at=NOW,
        ),
    ]
    writer.write_batch(GROUP, [LedgerItem(REPORTS, 0, n, r) for n, r in enumerate(reports)])

    stored = {r["report_id"]: r for r in report_rows(engine)}
    assert (stored["rep-late"]["original_message_id"], stored["rep-late"]["erased_at"]) == (
        None,
        NOW,
    )
    assert stored["rep-late"]["reporter"] == "fbl.example.net"
    assert stored["rep-new"]["original_message_id"] == "<new@mail.acme.example>"


def test_a_second_request_erases_what_came_since_and_reports_every_erased_row(
    engine: Engine, writer: LedgerWriter
) -> None:
    """The person asks again after signing up again: the new row goes, and the count is all
    of the person's erased rows, the note saying some were erased before."""
    writer.write_batch(GROUP, story()[:3])
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=Steps())
    writer.write_batch(GROUP, [LedgerItem(CONSENTS, 0, 3, signup(3, at=NOW))])
    steps = Steps()

    second = request("req-2", at=NOW + timedelta(days=1))
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 1, second)], on_erasures=steps)

    assert [r["ip"] for r in consent_rows(engine)] == [None] * 4
    consent = next(p for p in steps.steps[0].places if p.place == "ledger.consent_events")
    assert consent.count == 4
    assert "3 of the rows already by an earlier request" in (consent.note or "")


def test_without_an_erasure_handler_nothing_of_the_batch_is_committed(
    engine: Engine, writer: LedgerWriter
) -> None:
    """An erasure is never done without its step on record: no handler, no commit."""
    writer.write_batch(GROUP, story())
    before = everything(engine)

    with pytest.raises(LedgerErasureError):
        writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())])

    assert everything(engine) == before


def test_a_failing_handler_rolls_the_erasure_back_and_the_retry_does_it_once(
    engine: Engine, writer: LedgerWriter
) -> None:
    """Kafka refusing the step leaves the rows as they were; the retry erases and reports."""
    writer.write_batch(GROUP, story())
    before = everything(engine)

    def refuse(steps: Sequence[ErasureEvent]) -> None:
        raise ServiceUnavailableError("Kafka did not take the ledger's erasure steps")

    with pytest.raises(ServiceUnavailableError):
        writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=refuse)
    assert everything(engine) == before

    steps = Steps()
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=steps)
    assert [step.event_id for step in steps.steps] == ["req-1/ledger_erased"]
    assert [r["ip"] for r in consent_rows(engine)] == [None] * 3


# --- chains from before the commitment format -----------------------------------------------------


def test_rows_from_before_the_migration_verify_and_are_erased_honestly(database_url: str) -> None:
    """Rows chained in format 1 (at revision 0007) become `chain_format` 1 on upgrade and still
    verify; new rows continue the chain in format 2; after erasure the old rows are named
    unchecked and the chain verifies; the ledger recorded that it verified just before."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0007")
        old = [
            {
                name: value
                for name, value in {
                    **signup(n).model_dump(),
                    "lists": ["news"],
                    "kafka_topic": CONSENTS,
                    "kafka_partition": 0,
                    "kafka_offset": n,
                }.items()
                if name in {c.name for c in ConsentEventRow.__table__.columns}
            }
            for n in range(2)
        ]
        head = None
        with engine.begin() as connection:
            for row in old:
                head = link(row, head)
                connection.execute(
                    text(
                        "INSERT INTO consent_events (event_id, recipient_key, kind, account_id, "
                        "lists, cadence, basis, requires_confirmation, jurisdiction, "
                        "source_kind, source_id, wording_hash, wording_version, ip, user_agent, "
                        "occurred_at, kafka_topic, kafka_partition, kafka_offset, chain_seq, "
                        "prev_hash, entry_hash) VALUES (:event_id, :recipient_key, :kind, "
                        ":account_id, :lists, :cadence, :basis, :requires_confirmation, "
                        ":jurisdiction, :source_kind, :source_id, :wording_hash, "
                        ":wording_version, :ip, :user_agent, :occurred_at, :kafka_topic, "
                        ":kafka_partition, :kafka_offset, :chain_seq, :prev_hash, :entry_hash)"
                    ),
                    {
                        **row,
                        "lists": json.dumps(row["lists"]),
                        "occurred_at": row["occurred_at"].replace(tzinfo=None),
                        "chain_seq": head.chain_seq,
                        "prev_hash": head.prev_hash,
                        "entry_hash": head.entry_hash,
                    },
                )
        upgrade(database_url)
        writer = LedgerWriter(engine, clock=FrozenClock(NOW))

        rows = consent_rows(engine)
        assert [(r["chain_format"], r["personal_commitment"]) for r in rows] == [(1, None)] * 2
        assert rows[0]["prev_hash"] == GENESIS_HASH
        assert verify_chain(rows).verified

        writer.write_batch(GROUP, [LedgerItem(CONSENTS, 0, 2, signup(2))])
        mixed = consent_rows(engine)
        assert [r["chain_format"] for r in mixed] == [1, 1, 2]
        assert mixed[2]["prev_hash"] == mixed[1]["entry_hash"]
        assert verify_chain(mixed).verified

        steps = Steps()
        writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=steps)
        erased = consent_rows(engine)
        assert [r["ip"] for r in erased] == [None] * 3
        verdict = verify_chain(erased)
        assert verdict.verified
        assert (verdict.erased, verdict.unchecked) == ((1, 2, 3), (1, 2))
        assert [r["entry_hash"] for r in erased] == [r["entry_hash"] for r in mixed]
        assert erasure_status(engine, "req-1").chain_before == "verified"  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_a_chain_already_broken_is_recorded_before_the_erasure_hides_it(
    engine: Engine, writer: LedgerWriter
) -> None:
    """Erasing removes what some checks need (a format-1 row's fields): the ledger writes down
    what the chain said first, in the request's row and the step's note."""
    writer.write_batch(GROUP, story())
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE consent_events SET ip = '203.0.113.1' WHERE event_id = :id"),
            {"id": f"evt-{KEY[:4]}-1"},
        )
    steps = Steps()
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=steps)

    status = erasure_status(engine, "req-1")
    assert status is not None
    assert status.chain_before is not None
    assert "entry 2" in status.chain_before
    consent = next(p for p in steps.steps[0].places if p.place == "ledger.consent_events")
    assert "did NOT verify" in (consent.note or "")


# --- status ---------------------------------------------------------------------------------------


def step_event(kind: str, at: datetime, *places: ErasedPlace) -> ErasureEvent:
    return ErasureEvent(
        event_id=f"req-1/{kind}",
        request_id="req-1",
        recipient_key=KEY,
        kind=kind,  # type: ignore[arg-type]
        places=places,
        at=at,
    )


def test_the_status_follows_the_steps_until_completed(engine: Engine, writer: LedgerWriter) -> None:
    """Request, then the steps as they are read from erasure-events; `completed_at` stays None
    until the `completed` step, whose places are then the table."""
    assert erasure_status(engine, "req-1") is None
    writer.write_batch(GROUP, story())
    steps = Steps()
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=steps)

    status = erasure_status(engine, "req-1")
    assert status is not None
    assert (status.requested_by, status.requested_at, status.recipient_key) == (
        "dpo-desk",
        ASKED,
        KEY,
    )
    assert (status.ledger_processed_at, status.steps, status.completed_at) == (NOW, (), None)
    assert status.awaited == ("suppressed", "state_erased", "ledger_erased", "completed")

    suppressed = step_event(
        "suppressed",
        ASKED + timedelta(seconds=1),
        ErasedPlace(place="suppressions", action="kept", count=1, done_by=ASKED),
    )
    expires = ASKED + timedelta(days=27)
    topic = ErasedPlace(place="topic consent-events", action="expires", count=3, done_by=expires)
    items = [
        LedgerItem(STEPS, 0, 0, suppressed),
        LedgerItem(STEPS, 0, 1, steps.steps[0]),
    ]
    writer.write_batch(GROUP, items)
    status = erasure_status(engine, "req-1")
    assert status is not None
    assert [step.kind for step in status.steps] == ["suppressed", "ledger_erased"]
    assert status.awaited == ("state_erased", "completed")
    assert status.completed_at is None
    assert [line.step for line in status.places][:2] == ["suppressed", "ledger_erased"]
    assert "ledger.consent_events" in {line.place for line in status.places}
    assert status.gone_by == NOW

    done_at = NOW + timedelta(hours=1)
    all_places = (*suppressed.places, *steps.steps[0].places, topic)
    writer.write_batch(
        GROUP,
        [
            LedgerItem(STEPS, 0, 2, step_event("state_erased", NOW)),
            LedgerItem(STEPS, 0, 3, step_event("completed", done_at, *all_places)),
        ],
    )
    status = erasure_status(engine, "req-1")
    assert status is not None
    assert status.completed_at == done_at
    assert status.awaited == ()
    assert {line.step for line in status.places} == {"completed"}
    assert len(status.places) == len(all_places)
    assert status.gone_by == expires
    ledger = status.step("ledger_erased")
    assert ledger is not None
    assert ledger.event_id == "req-1/ledger_erased"


def test_a_step_published_twice_is_stored_once(engine: Engine, writer: LedgerWriter) -> None:
    """At least once: the ledger's step sent again after a failed commit carries new times; the
    first read stands and the copy is a replay, not a conflict."""
    first = step_event("suppressed", ASKED)
    again = step_event(
        "suppressed",
        ASKED + timedelta(minutes=1),
        ErasedPlace(place="suppressions", action="kept", count=1, done_by=ASKED),
    )
    conflicts = Conflicts()
    writer.write_batch(
        GROUP,
        [LedgerItem(STEPS, 0, 0, first), LedgerItem(STEPS, 0, 1, again)],
        on_conflicts=conflicts,
    )

    status = erasure_status(engine, "req-1")
    assert conflicts.conflicts == []
    assert status is not None
    assert status.requested_at is None
    assert [(step.at, step.places) for step in status.steps] == [(ASKED, ())]


def test_the_status_reads_through_a_connection_too(engine: Engine, writer: LedgerWriter) -> None:
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=Steps())
    with engine.connect() as connection:
        status = erasure_status(connection, "req-1")
    assert status is not None
    assert status.request_id == "req-1"
    assert erasure_status(engine, "req-2") is None


# --- the proof ------------------------------------------------------------------------------------


def settings_for(database_url: str) -> Settings:
    return Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        recipient_key_secret=SecretStr(SECRET),
        database_url=SecretStr(database_url),
    )


def test_the_proof_shows_erased_rows_as_erased_and_the_chain_verified(
    engine: Engine, writer: LedgerWriter, database_url: str
) -> None:
    """The history still holds the erased sign-ups (what they did to the consent is kept), each
    marked erased with its date; the chain verifies; none of the personal values is printed."""
    writer.write_batch(GROUP, story())
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=Steps())
    invoke = partial(
        CliRunner().invoke, app, obj=settings_for(database_url), env={"COLUMNS": "200"}
    )
    args = ["consent", "proof", ADDRESS, "--account", "acme", "--list", "news"]
    args += ["--at", "2025-04-05T00:00Z"]

    table = invoke(args)
    exported = invoke([*args, "--json"])

    assert table.exit_code == 0, table.output
    assert "form (source erased on 2025-04-12)" in table.output
    assert "Chain: verified (3 entries" in table.output
    assert "Erased: entries 1, 2, 3" in table.output
    assert "bulk commercial mail PERMITTED" in table.output
    for value in (IP, AGENT, SOURCE):
        assert value not in table.output
        assert value not in exported.stdout
    document = json.loads(exported.stdout)
    assert document["chain"]["verified"] is True
    assert document["chain"]["erased"] == [1, 2, 3]
    assert [line["erased_at"] for line in document["history"]] == ["2025-04-12T09:00:00.000Z"] * 3
    assert document["history"][0]["stored"]["ip"] is None


def test_an_erased_import_still_folds(engine: Engine, writer: LedgerWriter) -> None:
    """An import needs a source id to be a valid event; erased, it reads with a stand-in and
    still grants, rather than turning unreadable."""
    imported = consent_event(
        event_id="imp-1",
        recipient_key=KEY,
        kind="import",
        source_id="crm-export-7",
        occurred_at=T0,
    )
    writer.write_batch(GROUP, [LedgerItem(CONSENTS, 0, 0, imported)])
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=Steps())

    proof = prove_consent(engine, KEY, "acme", at=NOW, policy=load_policy())

    [line] = proof.history
    assert line.outcome != "unreadable"
    assert line.erased_at == NOW
    assert "crm-export-7" not in line.source
    assert proof.chain.verified


# --- the sink -------------------------------------------------------------------------------------


class FakeConsumer:
    """Hands out the given fetches one by one, then nothing."""

    def __init__(self, fetches: list[list[SimpleNamespace]]) -> None:
        self._fetches = fetches

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[str, list[SimpleNamespace]]:
        if not self._fetches:
            return {}
        return {"any": self._fetches.pop(0)}


def message(topic: str, offset: int, record: Record, key: str = KEY) -> SimpleNamespace:
    return SimpleNamespace(
        topic=topic,
        partition=0,
        offset=offset,
        key=key.encode(),
        value=default_codec().encode(record),
    )


async def copy(engine: Engine, fetches: list[list[SimpleNamespace]], publish_steps: Any) -> Any:
    async def publish(letters: Sequence[DeadLetter]) -> None:
        raise AssertionError("no dead letter expected")

    return await _copy(
        FakeConsumer(fetches),  # type: ignore[arg-type]
        LedgerWriter(engine, clock=FrozenClock(NOW)),
        GROUP,
        {entry.topic.name: entry.record_type for entry in LEDGER_TOPICS},
        publish=publish,
        publish_steps=publish_steps,
        stop=asyncio.Event(),
        on_progress=None,
        idle_exit_s=0,
    )


async def test_the_sink_publishes_the_step_before_the_erasure_commits(engine: Engine) -> None:
    """The step is acknowledged while the transaction is open: at that moment the database,
    read from another connection, still holds the person's IP address."""
    seen: list[tuple[str, str | None]] = []

    async def publish_steps(steps: Sequence[ErasureEvent]) -> None:
        await asyncio.sleep(0)
        with engine.connect() as connection:
            ip = connection.execute(
                select(ConsentEventRow.ip).where(ConsentEventRow.kafka_offset == 0)
            ).scalar_one()
        seen.extend((step.event_id, ip) for step in steps)

    fetches = [
        [message(CONSENTS, 0, signup(0))],
        [message(REQUESTS, 0, request())],
    ]
    totals = await copy(engine, fetches, publish_steps)

    assert totals.records_read == 2
    assert seen == [("req-1/ledger_erased", IP)]
    assert [r["ip"] for r in consent_rows(engine)] == [None]


async def test_kafka_refusing_the_step_commits_nothing(engine: Engine) -> None:
    """No acknowledgement, no erasure: the batch is an outage, read and done again later."""

    async def publish_steps(steps: Sequence[ErasureEvent]) -> None:
        raise KafkaConnectionError("broker gone")

    stop = asyncio.Event()
    fetches = [[message(CONSENTS, 0, signup(0)), message(REQUESTS, 0, request())]]

    async def stop_soon() -> None:
        await asyncio.sleep(0.5)
        stop.set()

    async def publish(letters: Sequence[DeadLetter]) -> None:
        raise AssertionError("no dead letter expected")

    stopper = asyncio.create_task(stop_soon())
    totals = await _copy(
        FakeConsumer(fetches),  # type: ignore[arg-type]
        LedgerWriter(engine, clock=FrozenClock(NOW)),
        GROUP,
        {entry.topic.name: entry.record_type for entry in LEDGER_TOPICS},
        publish=publish,
        publish_steps=publish_steps,
        stop=stop,
        on_progress=None,
        idle_exit_s=None,
    )
    await stopper

    assert totals.batches == 0
    assert consent_rows(engine) == []
    assert erasure_status(engine, "req-1") is None


# --- completion ---------------------------------------------------------------------------------

HORIZONS = {"topic send-requests": 86_400.0}


def test_an_erasure_is_due_complete_once_both_steps_are_stored_and_the_topics_are_past(
    engine: Engine, writer: LedgerWriter
) -> None:
    writer.write_batch(GROUP, story())
    steps = Steps()
    writer.write_batch(GROUP, [LedgerItem(REQUESTS, 0, 0, request())], on_erasures=steps)
    day_later = ASKED + timedelta(days=1)
    assert completions_due(engine, HORIZONS, day_later) == []  # the worker has not reported
    writer.write_batch(
        GROUP,
        [
            LedgerItem(STEPS, 0, 0, steps.steps[0]),
            LedgerItem(STEPS, 0, 1, step_event("state_erased", ASKED + timedelta(seconds=2))),
        ],
    )
    assert completions_due(engine, HORIZONS, day_later - timedelta(milliseconds=1)) == []
    [done] = completions_due(engine, HORIZONS, day_later)
    assert (done.event_id, done.kind, done.recipient_key) == ("req-1/completed", "completed", KEY)
    places = {place.place: place.action for place in done.places}
    assert places["ledger.consent_events"] == "redacted"
    assert places["topic send-requests"] == "expires"
    writer.write_batch(GROUP, [LedgerItem(STEPS, 0, 2, done)])
    assert completions_due(engine, HORIZONS, day_later + timedelta(days=1)) == []
    status = erasure_status(engine, "req-1")
    assert status is not None
    assert status.completed_at == day_later


async def test_the_sink_publishes_an_erasure_complete_before_an_idle_exit(engine: Engine) -> None:
    published: list[ErasureEvent] = []

    async def publish_steps(steps: Sequence[ErasureEvent]) -> None:
        published.extend(steps)

    async def complete_erasures(now: datetime) -> int:
        due = completions_due(engine, HORIZONS, now)
        await publish_steps(due)
        return len(due)

    async def publish(letters: Sequence[DeadLetter]) -> None:
        raise AssertionError("no dead letter expected")

    fetches = [
        [message(CONSENTS, 0, signup(0))],
        [message(REQUESTS, 0, request())],
        [message(STEPS, 0, step_event("state_erased", ASKED))],
    ]
    await _copy(
        FakeConsumer(fetches),  # type: ignore[arg-type]
        LedgerWriter(engine, clock=FrozenClock(NOW)),
        GROUP,
        {entry.topic.name: entry.record_type for entry in LEDGER_TOPICS},
        publish=publish,
        publish_steps=publish_steps,
        complete_erasures=complete_erasures,
        clock=FrozenClock(NOW),
        stop=asyncio.Event(),
        on_progress=None,
        idle_exit_s=0,
    )
    # the ledger's own step was published, but not read back: not complete yet
    assert [step.kind for step in published] == ["ledger_erased"]
    ledger_step = published[0]
    await _copy(
        FakeConsumer([[message(STEPS, 1, ledger_step)]]),  # type: ignore[arg-type]
        LedgerWriter(engine, clock=FrozenClock(NOW)),
        GROUP,
        {entry.topic.name: entry.record_type for entry in LEDGER_TOPICS},
        publish=publish,
        publish_steps=publish_steps,
        complete_erasures=complete_erasures,
        clock=FrozenClock(NOW),
        stop=asyncio.Event(),
        on_progress=None,
        idle_exit_s=0,
    )
    assert [step.kind for step in published] == ["ledger_erased", "completed"]
