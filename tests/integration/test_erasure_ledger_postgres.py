"""Erasure on the real services: consent events with a person's IP address, user agent and source
id, a feedback report whose Message-ID carries their address, and their erasure request go through
Kafka into the PostgreSQL ledger; afterwards none of those values is anywhere in a full `pg_dump`
of the database, the consent chain still verifies, the ledger's `ledger_erased` step is on
`erasure-events` and the status reads it back. Replaying every topic changes nothing, and a
consent event from before the erasure read only now is stored erased.

Values are unique to the run, so the session's shared database (other tests' rows) cannot hide a
leak or fake one; another person's IP address, stored in the same run, must still be in the dump,
so the search is shown to find what is there.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import SecretStr
from sqlalchemy import Engine, delete

from streams.core.records import ErasureEvent, ErasureRequest, Record
from streams.core.settings import Settings
from streams.edges.ledger import (
    LEDGER_TOPICS,
    ConsumerOffset,
    ledger_consumer_group,
    make_engine,
    run_ledger_sink,
)
from streams.edges.ledger.erasures import erasure_status
from streams.edges.ledger.proof import prove_consent
from streams.policy import load_policy
from streams.topics import (
    CONSENT_EVENTS,
    ERASURE_EVENTS,
    ERASURE_REQUESTS,
    FEEDBACK_REPORTS,
    default_codec,
)
from tests.support.factory import consent_event, feedback_report
from tests.support.postgres import pg_dump

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
ASKED = T0 + timedelta(days=3)
PARTITIONS = 3


@pytest.fixture
def engine(ledger_database_url: str) -> Iterator[Engine]:
    engine = make_engine(ledger_database_url)
    yield engine
    engine.dispose()


async def publish(bootstrap: str, topic: str, records: list[Record]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        codec = default_codec()
        for record in records:
            key = record.recipient_key.encode()  # type: ignore[attr-defined]
            await producer.send_and_wait(topic, codec.encode(record), key=key)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, ErasureEvent]]:
    """Every erasure event on the topic, from the beginning, with its key."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[tuple[bytes | None, ErasureEvent]] = []
    try:
        empty = 0
        while empty < 3:
            batch = await consumer.getmany(timeout_ms=1000)
            messages = [message for messages in batch.values() for message in messages]
            empty = 0 if messages else empty + 1
            found += [
                (message.key, default_codec().decode(message.value, ErasureEvent))
                for message in messages
                if message.value is not None
            ]
    finally:
        await consumer.stop()
    return found


async def test_after_erasure_no_personal_value_is_in_a_pg_dump_and_the_chain_verifies(
    kafka_bootstrap: str, ledger_database_url: str, engine: Engine
) -> None:
    run = uuid.uuid4().hex[:12]
    rng = random.Random(run)
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{run[:10]}-",
        database_url=SecretStr(ledger_database_url),
    )
    address = f"erasable-{run}@example.org"
    key = hashlib.sha256(address.encode()).hexdigest()
    other_key = hashlib.sha256(f"kept-{run}@example.org".encode()).hexdigest()
    ip = f"198.18.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    other_ip = f"198.19.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    agent, late_agent = f"ErasureTest/{run} (phone)", f"LateErasureTest/{run}"
    source = f"form-{run}"
    message_id = f"<{address}.{run}@mail.acme.example>"
    request_id = f"erase-{run}"

    def event(n: int, who: str, **fields: Any) -> Record:
        return consent_event(
            event_id=f"{run}-evt-{n}",
            recipient_key=who,
            lists=("news",),
            **{
                "ip": ip,
                "user_agent": agent,
                "source_id": source,
                "occurred_at": T0 + timedelta(hours=n),
                **fields,
            },
        )

    names = [entry.topic.full_name(settings) for entry in LEDGER_TOPICS]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1) for name in names]
        )
    finally:
        await admin.close()
    consents = CONSENT_EVENTS.full_name(settings)
    steps_topic = ERASURE_EVENTS.full_name(settings)
    try:
        await publish(
            kafka_bootstrap,
            consents,
            [
                event(0, key),
                event(1, key, kind="confirm", basis=None),
                event(2, key),
                event(3, other_key, ip=other_ip, user_agent="Mozilla/5.0", source_id="kept"),
            ],
        )
        report = feedback_report(
            report_id=f"{run}-report",
            recipient_key=key,
            original_message_id=message_id,
            received_at=T0 + timedelta(days=1),
        )
        await publish(kafka_bootstrap, FEEDBACK_REPORTS.full_name(settings), [report])
        before = await run_ledger_sink(settings, idle_exit_s=3)
        assert before.rows_inserted == 5
        dump = pg_dump(ledger_database_url)
        for value in (ip, agent, source, message_id, other_ip):
            assert value in dump  # the search finds what is there

        erasure = ErasureRequest(
            request_id=request_id, recipient_key=key, requested_by="dpo", requested_at=ASKED
        )
        await publish(kafka_bootstrap, ERASURE_REQUESTS.full_name(settings), [erasure])
        erased = await run_ledger_sink(settings, idle_exit_s=5)
        assert erased.dead_lettered == 0

        dump = pg_dump(ledger_database_url)
        for value in (ip, agent, source, message_id, address):
            assert value not in dump
        assert other_ip in dump

        proof = prove_consent(
            engine, key, "acme", list_id="news", at=T0 + timedelta(days=1), policy=load_policy()
        )
        assert proof.chain.verified
        assert (proof.chain.entries, proof.chain.erased, proof.chain.unchecked) == (
            3,
            (1, 2, 3),
            (),
        )
        assert proof.verdict.permitted
        assert all(line.erased_at is not None for line in proof.history)

        steps = await read_all(kafka_bootstrap, steps_topic)
        assert [(k, step.event_id) for k, step in steps] == [
            (key.encode(), f"{request_id}/ledger_erased")
        ]
        [(_, step)] = steps
        places = {place.place: (place.action, place.count) for place in step.places}
        assert places["ledger.consent_events"] == ("redacted", 3)
        assert places["ledger.feedback_reports"] == ("redacted", 1)

        status = erasure_status(engine, request_id)
        assert status is not None
        assert (status.recipient_key, status.requested_at, status.chain_before) == (
            key,
            ASKED,
            "verified",
        )
        ledger_step = status.step("ledger_erased")
        assert ledger_step is not None
        assert ledger_step.places == step.places
        assert status.completed_at is None
        assert status.awaited == ("suppressed", "state_erased", "completed")

        # A consent event from before the erasure, read only now, and every topic read again.
        await publish(
            kafka_bootstrap,
            consents,
            [event(4, key, user_agent=late_agent, occurred_at=ASKED - timedelta(minutes=1))],
        )
        with engine.begin() as connection:
            connection.execute(
                delete(ConsumerOffset).where(
                    ConsumerOffset.consumer_group == ledger_consumer_group(settings)
                )
            )
        replay = await run_ledger_sink(settings, idle_exit_s=3)

        assert replay.rows_inserted == 1
        assert replay.dead_lettered == 0
        dump = pg_dump(ledger_database_url)
        for value in (ip, agent, late_agent, source, message_id, address):
            assert value not in dump
        assert [step.event_id for _, step in await read_all(kafka_bootstrap, steps_topic)] == [
            f"{request_id}/ledger_erased"
        ]
        chain = prove_consent(engine, key, "acme", at=ASKED, policy=load_policy()).chain
        assert chain.verified
        assert chain.erased == (1, 2, 3, 4)
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics(names)
        finally:
            await admin.close()
