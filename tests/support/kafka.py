"""Small real-broker helpers for integration tests: topics, producing, reading decisions."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.admin import create_topics, delete_topics
from streams.codec import default_codec
from streams.recipient import RecipientKeyer
from streams.records import Record, SendRequest, UnsubscribeClick
from streams.settings import Settings
from streams.topics import TOPICS

__all__ = [
    "TopicReader",
    "click_for",
    "create_all_topics",
    "delete_all_topics",
    "send_for",
]

R = TypeVar("R", bound=Record)


async def create_all_topics(settings: Settings) -> None:
    await create_topics(settings)


async def delete_all_topics(settings: Settings) -> None:
    await delete_topics(settings, TOPICS)


def send_for(
    address: str,
    request_id: str,
    *,
    account: str = "acme",
    list_id: str | None = "news",
    classification: str = "commercial",
) -> SendRequest:
    return SendRequest(
        request_id=request_id,
        account_id=account,
        list_id=list_id,
        recipient=address,
        classification=classification,
        from_address="news@acme.example",
        subject="Autumn offers",
        requested_at=datetime.now(UTC),
    )


def click_for(
    keyer: RecipientKeyer,
    address: str,
    click_id: str,
    *,
    scope: str = "list",
    account: str = "acme",
    list_id: str | None = "news",
) -> UnsubscribeClick:
    return UnsubscribeClick(
        click_id=click_id,
        recipient_key=keyer.key(address),
        scope=scope,
        account_id=account if scope != "platform" else None,
        list_id=list_id if scope == "list" else None,
        method="one_click",
        clicked_at=datetime.now(UTC),
    )


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
