"""PostgreSQL stopped for 30 s while the ledger sink runs: the sink stays up, backs off, says so
once, shows it in its metrics, and the ledger is complete afterwards (rows equal records), with
no restart of the sink.

The database is the one `scripts/services` runs (a Docker-run PostgreSQL cannot be stopped from
here: the test then fails and says so, it never skips).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr
from sqlalchemy import func, select

from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.edges.admin import create_topics, delete_topics
from streams.edges.ledger import (
    SendDecisionRepeatRow,
    SendDecisionRow,
    make_engine,
    run_ledger_sink,
)
from streams.edges.ledger import sink as sink_module
from streams.topics import SEND_DECISIONS, TOPICS, default_codec

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SERVICES = Path(__file__).resolve().parents[2] / "scripts" / "services"
BEFORE, DURING = 200, 300
OUTAGE_S = 30


def services(*args: str) -> str:
    done = subprocess.run(
        [str(SERVICES), *args], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"scripts/services {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def decision(n: int) -> SendDecision:
    return SendDecision(
        request_id=f"outage-{n}",
        account_id="acme",
        recipient_key=hashlib.sha256(f"r{n}".encode()).hexdigest(),
        verdict="allow",
        failures=(),
        policy_version="test",
        decided_at=datetime(2026, 12, 7, tzinfo=UTC) + timedelta(milliseconds=n),
        request_offset=f"send-requests/0/{n}",
    )


async def produce(settings: Settings, numbers: range) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        codec = default_codec()
        for n in numbers:
            record = decision(n)
            await producer.send(
                SEND_DECISIONS.full_name(settings),
                codec.encode(record),
                key=record.recipient_key.encode(),
            )
        await producer.flush()
    finally:
        await producer.stop()


async def test_the_sink_rides_out_a_database_outage(
    kafka_bootstrap: str,
    ledger_database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    status = subprocess.run([str(SERVICES), "status", "postgres"], capture_output=True, text=True)
    assert status.returncode == 0, (
        "this fault test stops and starts the PostgreSQL that scripts/services runs; "
        f"it is not running: {status.stdout}{status.stderr}"
    )
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}-",
        topic_partitions=2,
        database_url=SecretStr(ledger_database_url),
    )
    await create_topics(settings)
    engine = make_engine(ledger_database_url)
    topic = SEND_DECISIONS.full_name(settings)

    def rows() -> int:
        """Rows of this topic's records: decisions, and repeats if a request came twice."""
        with engine.connect() as connection:
            return sum(
                connection.execute(
                    select(func.count()).where(model.kafka_topic == topic)
                ).scalar_one()
                for model in (SendDecisionRow, SendDecisionRepeatRow)
            )

    stop = asyncio.Event()
    sink = asyncio.create_task(run_ledger_sink(settings, stop=stop))
    retries_before = sink_module.OUTAGE_RETRIES._value.get()
    stopped = False
    try:
        with caplog.at_level(logging.WARNING, logger=sink_module.log.name):
            await produce(settings, range(BEFORE))
            await _until(lambda: rows() == BEFORE, 60, f"{BEFORE} rows before the outage")
            await asyncio.to_thread(services, "stop", "postgres")
            stopped = True
            await produce(settings, range(BEFORE, BEFORE + DURING))
            await asyncio.sleep(OUTAGE_S)
            assert not sink.done(), "the sink exited during the outage"
            assert sink_module.DATABASE_UP._value.get() == 0
            await asyncio.to_thread(services, "start", "postgres")
            stopped = False
            await _until(lambda: rows() == BEFORE + DURING, 120, "every row after the outage")
        assert not sink.done(), "the sink exited after the outage"
        assert sink_module.DATABASE_UP._value.get() == 1
        assert sink_module.OUTAGE_RETRIES._value.get() > retries_before
        said = [r.getMessage() for r in caplog.records if r.name == sink_module.log.name]
        assert sum("did not answer" in message for message in said) == 1, said
        assert sum("storing again" in message for message in said) == 1, said
    finally:
        if stopped:
            services("start", "postgres")
        stop.set()
        await asyncio.wait_for(sink, 60)
        engine.dispose()
        await delete_topics(settings, TOPICS)


async def _until(condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            if await asyncio.to_thread(condition):
                return
        except Exception:  # the database may still be coming back
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.5)
