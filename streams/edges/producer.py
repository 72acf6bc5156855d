"""The producer senders use: each record to its topic, keyed the way the gate reads it.

`SendgateProducer` finds a record's topic and key in the catalogue (`streams.topics`): the
recipient key as ASCII bytes for a record about a person, never the address, and the account
id for an account's sending domains. It encodes the record with our Avro codec and waits for
every in-sync replica (`acks="all"`, idempotent, so a retried batch is not written twice).
Records come from senders' rows (`streams.edges.rows`) or from the platform's own services (the
mail infrastructure: deliveries and feedback-loop reports).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from aiokafka.structs import RecordMetadata

from streams.core.codec import Codec
from streams.core.errors import SendgateError, ServiceUnavailableError
from streams.core.recipient import RecipientKeyer
from streams.core.records import ConsentEvent, Record, SendRequest, UnsubscribeClick
from streams.core.settings import Settings
from streams.topics import (
    CONSENT_EVENTS,
    DELIVERY_EVENTS,
    FEEDBACK_REPORTS,
    SEND_REQUESTS,
    SENDER_DOMAINS,
    UNSUBSCRIBE_CLICKS,
    TopicSpec,
    default_codec,
)

__all__ = ["PUBLISHED_TOPICS", "PublishCounts", "SendgateProducer"]

PUBLISHED_TOPICS: tuple[TopicSpec, ...] = (
    SEND_REQUESTS,
    UNSUBSCRIBE_CLICKS,
    CONSENT_EVENTS,
    DELIVERY_EVENTS,
    FEEDBACK_REPORTS,
    SENDER_DOMAINS,
)
"""The topics senders and the platform's mail infrastructure publish to through this producer;
the gate, the SMTP intake and `sendgate accounts` write the others with producers of their own."""

_TOPIC_OF_RECORD: dict[type[Record], TopicSpec] = {
    spec.record: spec for spec in PUBLISHED_TOPICS if spec.record is not None
}

_TOPIC_GRACE_S = 2.0
"""How long a topic that is not (yet) in the metadata is looked for before it counts as missing."""
_PIPELINE_DEPTH = 1000
"""Records in flight before `publish_many` waits for their acknowledgements."""


@dataclass(frozen=True)
class PublishCounts:
    """How many records Kafka acknowledged, in total and per full topic name."""

    total: int
    by_topic: Mapping[str, int]


ProgressCallback = Callable[[int], None]


def _kafka_failure(settings: Settings, action: str, exc: BaseException) -> SendgateError:
    """A Kafka client error as ours: retriable ones say the broker is unavailable."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, KafkaTimeoutError | TimeoutError):
        # The broker never answered in time: not a refusal, and worth saying apart from one.
        return ServiceUnavailableError(
            f"Kafka broker at {settings.kafka_bootstrap_servers} timed out while {action} (no "
            f"acknowledgement in time; the record may or may not be written); is it running? "
            "(scripts/services status)"
        )
    if isinstance(exc, OSError | KafkaConnectionError) or getattr(exc, "retriable", False):
        return ServiceUnavailableError(
            f"Kafka broker at {settings.kafka_bootstrap_servers} could not be reached while "
            f"{action}: {detail}; is it running? (scripts/services status)"
        )
    return SendgateError(f"Kafka refused {action}: {detail}")


class SendgateProducer:
    """Publishes sendgate records to their topics, keyed as the catalogue says; use as
    `async with`.

    Nothing here logs a record, a key or an address.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        keyer: RecipientKeyer | None = None,
        codec: Codec | None = None,
        connect_timeout_s: float = 10.0,
        request_timeout_ms: int = 30_000,
        idempotent: bool = True,
    ) -> None:
        """`idempotent=False` is for a caller that must be able to say "not written": the
        idempotent producer retries a batch until the broker takes it, so a publish given up on
        during an outage still lands once the broker is back; without idempotence a batch the
        broker never got fails after `request_timeout_ms` and is dropped. Its retries may write a
        record twice, so only records whose ids make a second copy harmless go that way."""
        self._settings = settings
        self._keyer = keyer or RecipientKeyer(settings.recipient_secret())
        self._codec = codec or default_codec()
        self._connect_timeout_s = connect_timeout_s
        self._request_timeout_ms = request_timeout_ms
        self._idempotent = idempotent
        self._producer: AIOKafkaProducer | None = None
        self._known_topics: set[str] = set()

    async def __aenter__(self) -> Self:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            client_id="sendgate-producer",
            acks="all",
            enable_idempotence=self._idempotent,
            linger_ms=5,
            request_timeout_ms=self._request_timeout_ms,
        )
        try:
            await asyncio.wait_for(producer.start(), self._connect_timeout_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            await producer.stop()
            refused = isinstance(exc, KafkaConnectionError)
            reason = "connection failed" if refused else "no answer in time"
            raise ServiceUnavailableError(
                f"Kafka broker at {self._settings.kafka_bootstrap_servers} is not reachable: "
                f"{reason}; start it with scripts/services start"
            ) from None
        self._producer = producer
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()  # flushes what is still buffered

    def key_of(self, record: Record) -> bytes | None:
        """The Kafka key of a record on its topic, as the catalogue keys it."""
        return self.topic_of(record).key_of(record, self._keyer)

    @staticmethod
    def topic_of(record: Record) -> TopicSpec:
        """The published topic that carries the record's type (`PUBLISHED_TOPICS`)."""
        for record_type in type(record).__mro__:
            spec = _TOPIC_OF_RECORD.get(record_type)
            if spec is not None:
                return spec
        raise TypeError(f"senders do not publish {type(record).__name__} records")

    async def require_topics(self, topic_specs: Iterable[TopicSpec]) -> None:
        """Fail at once on a missing topic (auto-creation is off) rather than after a timeout."""
        producer = self._started()
        names = {spec.full_name(self._settings) for spec in topic_specs} - self._known_topics
        if not names:
            return
        missing = sorted(names)
        deadline = asyncio.get_running_loop().time() + _TOPIC_GRACE_S
        while missing:
            try:
                metadata = await producer.client.fetch_all_metadata()
            except (KafkaError, OSError, TimeoutError) as exc:
                # aiokafka says "no broker answered" with a plain, non-retriable KafkaError.
                raise ServiceUnavailableError(
                    f"Kafka broker at {self._settings.kafka_bootstrap_servers} could not be "
                    f"reached while reading topic metadata: {str(exc) or type(exc).__name__}; "
                    "is it running? (scripts/services status)"
                ) from None
            missing = sorted(names - metadata.topics())
            if not missing or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.2)  # a topic created a moment ago may not be served yet
        if missing:
            raise SendgateError(
                f"topic '{missing[0]}' does not exist on {self._settings.kafka_bootstrap_servers};"
                " create it with: sendgate topics create"
            )
        self._known_topics |= names

    def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("use SendgateProducer as 'async with SendgateProducer(...)'")
        return self._producer

    async def _enqueue(
        self, topic_spec: TopicSpec, key: bytes | None, value: bytes
    ) -> asyncio.Future[RecordMetadata]:
        """Hand a record to the producer's buffer; the future resolves on acknowledgement."""
        producer = self._started()
        await self.require_topics([topic_spec])
        topic = topic_spec.full_name(self._settings)
        try:
            return await producer.send(topic, value=value, key=key)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise _kafka_failure(self._settings, f"publishing to '{topic}'", exc) from None

    async def send(self, topic_spec: TopicSpec, key: bytes | None, value: bytes) -> RecordMetadata:
        """Publish already-encoded bytes and wait for the acknowledgement."""
        future = await self._enqueue(topic_spec, key, value)
        try:
            return await future
        except (KafkaError, OSError, TimeoutError) as exc:
            topic = topic_spec.full_name(self._settings)
            raise _kafka_failure(self._settings, f"publishing to '{topic}'", exc) from None

    async def publish(self, record: Record) -> RecordMetadata:
        """Publish one record to its topic, keyed as the catalogue says."""
        value = self._codec.encode(record)
        return await self.send(self.topic_of(record), self.key_of(record), value)

    async def publish_send_request(self, request: SendRequest) -> RecordMetadata:
        return await self.publish(request)

    async def publish_unsubscribe(self, click: UnsubscribeClick) -> RecordMetadata:
        return await self.publish(click)

    async def publish_consent(self, event: ConsentEvent) -> RecordMetadata:
        return await self.publish(event)

    async def publish_many(
        self,
        records: Iterable[Record],
        on_progress: ProgressCallback | None = None,
    ) -> PublishCounts:
        """Publish records in order, many in flight at once; `on_progress(1)` per acknowledgement.

        Records for one recipient keep their order (same key, same partition, idempotent
        producer). If Kafka fails, the error says how many records were acknowledged before it;
        the rest may or may not have been written.
        """
        counts: Counter[str] = Counter()
        in_flight: list[asyncio.Future[RecordMetadata]] = []

        def report(future: asyncio.Future[RecordMetadata]) -> None:
            if on_progress is not None and not future.cancelled() and future.exception() is None:
                on_progress(1)

        async def settle() -> None:
            results = await asyncio.gather(*in_flight, return_exceptions=True)
            in_flight.clear()
            counts.update(result.topic for result in results if isinstance(result, RecordMetadata))
            failures = [result for result in results if isinstance(result, BaseException)]
            if failures:
                raise _kafka_failure(
                    self._settings,
                    f"publishing (after {counts.total()} records were acknowledged)",
                    failures[0],
                )

        for record in records:
            topic_spec, key = self.topic_of(record), self.key_of(record)
            future = await self._enqueue(topic_spec, key, self._codec.encode(record))
            future.add_done_callback(report)
            in_flight.append(future)
            if len(in_flight) >= _PIPELINE_DEPTH:
                await settle()
        await settle()
        return PublishCounts(total=counts.total(), by_topic=dict(counts))
