"""Retention on the real PostgreSQL, driven by a moved clock. Consent events and decisions stored
at T by the ledger's writer: `sendgate ledger retention`, on a clock file set to three years less
a day after T, deletes nothing; moved to a day after three years, it takes the person's IP
address, user agent and form id out of every row (none of them is anywhere in a `pg_dump`),
deletes the decisions of T, and the consent chain left still verifies through the proof, while a
person whose relationship with the account is recent keeps everything. The same through Kafka
and the ledger sink, whose own schedule runs the job on its clock file.

The tests have a database of their own, not the session's: the moved clock would otherwise expire
other tests' rows. Values are unique to the run; the kept person's values must still be in the
dump, so the search is shown to find what is there.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import SecretStr
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from streams.cli import app
from streams.core.clock import FileClock, FrozenClock
from streams.core.recipient import RecipientKeyer
from streams.core.records import Record, SendDecision
from streams.core.settings import Settings
from streams.edges.ledger import (
    LEDGER_TOPICS,
    ConsentEventRow,
    LedgerItem,
    LedgerWriter,
    make_engine,
    run_ledger_sink,
    upgrade,
)
from streams.edges.ledger.models import SendDecisionRow
from streams.edges.ledger.proof import prove_consent
from streams.policy import load_policy
from streams.topics import CONSENT_EVENTS, SEND_DECISIONS, default_codec
from tests.support.factory import consent_event
from tests.support.postgres import pg_dump, scratch_database

pytestmark = pytest.mark.integration

T = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
THREE_YEARS_ON = datetime(2028, 6, 2, 8, 0, tzinfo=UTC)
"""T plus the policy's three years (CASL's limitation), spelled out."""
DAY = timedelta(days=1)
RECENT = T + timedelta(days=700)
GROUP = "sendgate-ledger"


@pytest.fixture
def own_database(database_url: str) -> Iterator[str]:
    with scratch_database(database_url, prefix="sendgate_retention") as url:
        upgrade(url)
        yield url


@pytest.fixture
def engine(own_database: str) -> Iterator[Engine]:
    engine = make_engine(own_database)
    yield engine
    engine.dispose()


def person(run: str, name: str, host: int) -> dict[str, str]:
    """A person's values, unique to the run (and `host` apart from the others')."""
    return {
        "ip": f"198.{random.randint(0, 255)}.{random.randint(0, 255)}.{host}",
        "user_agent": f"Mozilla/5.0 ({name}-{run})",
        "source_id": f"form-{name}-{run}",
    }


def signup(key: str, n: int, values: dict[str, str], account: str, at: datetime) -> Any:
    return consent_event(
        event_id=f"evt-{key[:8]}-{n}",
        recipient_key=key,
        account_id=account,
        lists=("news",),
        occurred_at=at,
        **values,
    )


def allowed(n: int, key: str, at: datetime) -> SendDecision:
    return SendDecision(
        request_id=f"send-{n}",
        account_id="acme",
        recipient_key=key,
        verdict="allow",
        policy_version="p1",
        decided_at=at,
        request_offset=f"send-requests/0/{n}",
    )


def retention(database_url: str, clock_file: Path) -> Any:
    settings = Settings(database_url=SecretStr(database_url), clock_file=clock_file)
    result = CliRunner().invoke(app, ["ledger", "retention"], obj=settings, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result


def counts(output: str) -> dict[str, str]:
    cells = [line.split("│") for line in output.splitlines() if line.count("│") == 5]
    return {f"{c[1].strip()}/{c[2].strip()}": c[3].strip() for c in cells}


def test_retention_with_a_moved_clock(own_database: str, engine: Engine, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    keyer = RecipientKeyer(f"retention-{run}".encode())
    ana, bo = keyer.key(f"ana-{run}@example.com"), keyer.key(f"bo-{run}@example.com")
    ana_values, maple_values, bo_values = (
        person(run, "ana", 11),
        person(run, "ana-maple", 22),
        person(run, "bo", 33),
    )
    # Ana: acme at T (and acme mailed her at T), maple two years on. Bo: acme at T, and acme
    # mailed him two years on: a recent relationship.
    items = [
        LedgerItem("consent-events", 0, 0, signup(ana, 0, ana_values, "acme", T)),
        LedgerItem("consent-events", 0, 1, signup(ana, 1, maple_values, "maple", RECENT)),
        LedgerItem("consent-events", 1, 0, signup(bo, 0, bo_values, "acme", T)),
        LedgerItem("send-decisions", 0, 0, allowed(1, ana, T)),
        LedgerItem("send-decisions", 1, 0, allowed(2, bo, T)),
        LedgerItem("send-decisions", 1, 1, allowed(3, bo, RECENT)),
    ]
    LedgerWriter(engine, clock=FrozenClock(T)).write_batch(GROUP, items)
    clock_file = tmp_path / "clock"

    FileClock.write(clock_file, THREE_YEARS_ON - DAY)
    early = retention(own_database, clock_file)

    assert set(counts(early.output).values()) == {"0"}, early.output
    dump = pg_dump(own_database)
    assert all(value in dump for value in (*ana_values.values(), *bo_values.values()))

    FileClock.write(clock_file, THREE_YEARS_ON + DAY)
    late = retention(own_database, clock_file)

    assert counts(late.output) == {
        "consent_events/redacted": "1",
        "consent_events/deleted": "0",
        "send_decisions/deleted": "2",
        "send_decision_repeats/deleted": "0",
    }, late.output
    dump = pg_dump(own_database)
    for value in ana_values.values():
        assert value not in dump
    for value in (*maple_values.values(), *bo_values.values()):
        assert value in dump
    with engine.connect() as connection:
        kept = connection.execute(select(SendDecisionRow.request_id)).scalars().all()
        ana_rows = connection.execute(
            select(ConsentEventRow.account_id, ConsentEventRow.erased_at)
            .where(ConsentEventRow.recipient_key == ana)
            .order_by(ConsentEventRow.chain_seq)
        ).all()
    assert kept == ["send-3"]
    assert [tuple(r) for r in ana_rows] == [("acme", THREE_YEARS_ON + DAY), ("maple", None)]
    policy = load_policy()
    for key, account in ((ana, "maple"), (ana, "acme"), (bo, "acme")):
        proof = prove_consent(
            engine, key, account, list_id="news", at=THREE_YEARS_ON + DAY, policy=policy
        )
        assert proof.chain.verified, (account, proof.chain)

    again = retention(own_database, clock_file)
    assert set(counts(again.output).values()) == {"0"}, again.output


async def publish(bootstrap: str, topic: str, records: list[Record]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for record in records:
            key = record.recipient_key.encode()  # type: ignore[attr-defined]
            await producer.send_and_wait(topic, default_codec().encode(record), key=key)
    finally:
        await producer.stop()


async def test_the_sink_runs_retention_on_its_clock_file(
    kafka_bootstrap: str, own_database: str, engine: Engine, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:10]
    keyer = RecipientKeyer(f"retention-sink-{run}".encode())
    ana, bo = keyer.key(f"ana-{run}@example.com"), keyer.key(f"bo-{run}@example.com")
    ana_values, bo_values = person(run, "ana", 44), person(run, "bo", 55)
    clock_file = tmp_path / "clock"
    FileClock.write(clock_file, THREE_YEARS_ON - DAY)
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{run}-",
        database_url=SecretStr(own_database),
        clock_file=clock_file,
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(entry.topic.full_name(settings), num_partitions=2, replication_factor=1)
                for entry in LEDGER_TOPICS
            ]
        )
    finally:
        await admin.close()
    await publish(
        kafka_bootstrap,
        CONSENT_EVENTS.full_name(settings),
        [signup(ana, 0, ana_values, "acme", T), signup(bo, 0, bo_values, "acme", T)],
    )
    await publish(
        kafka_bootstrap,
        SEND_DECISIONS.full_name(settings),
        [allowed(1, ana, T), allowed(2, bo, T), allowed(3, bo, RECENT)],
    )

    copied = await run_ledger_sink(settings, idle_exit_s=3)

    assert copied.rows_inserted == 5
    dump = pg_dump(own_database)
    assert all(value in dump for value in (*ana_values.values(), *bo_values.values()))

    FileClock.write(clock_file, THREE_YEARS_ON + DAY)
    await run_ledger_sink(settings, idle_exit_s=2)

    dump = pg_dump(own_database)
    for value in ana_values.values():
        assert value not in dump
    for value in bo_values.values():
        assert value in dump
    with engine.connect() as connection:
        assert connection.execute(select(SendDecisionRow.request_id)).scalars().all() == ["send-3"]
        assert (
            connection.execute(
                select(ConsentEventRow.id).where(ConsentEventRow.recipient_key == ana)
            ).all()
            == []
        )
    proof = prove_consent(
        engine, bo, "acme", list_id="news", at=THREE_YEARS_ON + DAY, policy=load_policy()
    )
    assert proof.chain.verified
    assert proof.consent_events == 1
