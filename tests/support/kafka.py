"""Small real-broker helpers for integration tests: topics, producing, reading decisions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.core.records import ConsentEvent, Record
from streams.core.settings import Settings
from streams.edges.admin import consumed_by_group, create_topics, delete_topics
from streams.topics import TOPICS, default_codec
from tests.support.factory import sender_domains

__all__ = [
    "TopicReader",
    "create_all_topics",
    "delete_all_topics",
    "publish_consents",
    "wait_until_consumed",
]

R = TypeVar("R", bound=Record)


TEST_ACCOUNTS = ("acme", "maple", "blastmail", "globex", "initech")
"""Accounts whose domain `<account>.example` the platform has verified in every integration test."""


async def create_all_topics(settings: Settings) -> None:
    """The test's topics, with the test accounts' verified domains already on `sender-domains`
    (`publish_consents` waits until the worker has them, as it does for the consents)."""
    await create_topics(settings)
    producer = await new_producer(settings)
    codec = default_codec()
    try:
        for account in TEST_ACCOUNTS:
            record = sender_domains(account_id=account, changed_at=datetime.now(UTC))
            await producer.send(
                settings.topic("sender-domains"), codec.encode(record), key=account.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()


async def delete_all_topics(settings: Settings) -> None:
    await delete_topics(settings, TOPICS)


async def publish_consents(
    settings: Settings, events: list[ConsentEvent], *, timeout_s: float = 60.0
) -> None:
    """Publish consent events and wait until the gate's consent keeper has applied them all.

    Kafka orders nothing across topics, and the state fence covers unsubscribes only, so a test
    that wants a grant in force before its sends waits for the keeper's committed offsets.
    """
    producer = await new_producer(settings)
    codec = default_codec()
    topic = settings.topic("consent-events")
    try:
        for event in events:
            await producer.send(topic, codec.encode(event), key=event.recipient_key.encode())
        await producer.flush()
    finally:
        await producer.stop()
    await wait_until_consumed(settings, settings.app_id, topic, timeout_s=timeout_s)
    await wait_until_consumed(
        settings, settings.app_id, settings.topic("sender-domains"), timeout_s=timeout_s
    )


async def wait_until_consumed(
    settings: Settings, group: str, topic: str, *, timeout_s: float = 60.0
) -> None:
    """Until `group` has committed the end offset of every partition of `topic`."""
    deadline = time.monotonic() + timeout_s
    while True:
        done, total = await consumed_by_group(settings, group, topic)
        if done >= total:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{group} consumed {done} of {total} records of {topic}")
        await asyncio.sleep(0.25)


class TopicReader:
    """Reads one topic from the beginning, decoding values into one record type."""

    def __init__(self, settings: Settings, topic: str, record_type: type[R]) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self._type = record_type
        self.records: list = []

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def read_until(
        self, done: Callable[[list], bool], timeout_s: float, describe: str = ""
    ) -> list:
        codec = default_codec()
        deadline = time.monotonic() + timeout_s
        while not done(self.records):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout_s}s waiting for {describe or 'records'}; "
                    f"have {len(self.records)}"
                )
            batch = await self._consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                self.records.extend(codec.decode(m.value, self._type) for m in messages)
        return self.records


async def new_producer(settings: Settings) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
    )
    await producer.start()
    return producer
