"""The producer senders use: each record to its topic, keyed the way the gate reads it.

`SendgateProducer` finds a record's topic and key in the catalogue (`streams.topics`): the
recipient key as ASCII bytes for a record about a person, never the address, and the account
id for an account's sending domains. It encodes the record with our Avro codec and waits for
every in-sync replica (`acks="all"`, idempotent, so a retried batch is not written twice).

A broker that does not answer is waited for: starting and every publish retry with exponential
backoff (`backoff_delays`) until `Settings.publish_retry_s` (90 s) passed without an
acknowledgement, so a broker restart of a minute costs a sender nothing. Then the error says
which failure it was: timed out, could not be reached, or refused.
Records come from senders' rows (`streams.edges.rows`) or from the platform's own services (the
mail infrastructure: deliveries and feedback-loop reports).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from aiokafka.structs import RecordMetadata

from streams.core.codec import Codec
from streams.core.errors import SendgateError, ServiceUnavailableError
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    ConsentEvent,
    ErasureRequest,
    Record,
    SendRequest,
    UnsubscribeClick,
)
from streams.core.settings import Settings
from streams.privacy.erasure import erasure_click
from streams.topics import (
    ADDRESS_CORRECTIONS,
    CONSENT_EVENTS,
    DELIVERY_EVENTS,
    ERASURE_REQUESTS,
    ESP_WEBHOOKS,
    FEEDBACK_REPORTS,
    SEND_REQUESTS,
    SENDER_DOMAINS,
    UNSUBSCRIBE_CLICKS,
    TopicSpec,
    default_codec,
)

__all__ = ["PUBLISHED_TOPICS", "PublishCounts", "SendgateProducer", "backoff_delays"]

PUBLISHED_TOPICS: tuple[TopicSpec, ...] = (
    SEND_REQUESTS,
    UNSUBSCRIBE_CLICKS,
    CONSENT_EVENTS,
    DELIVERY_EVENTS,
    FEEDBACK_REPORTS,
    SENDER_DOMAINS,
    ERASURE_REQUESTS,
    ADDRESS_CORRECTIONS,
    ESP_WEBHOOKS,
)
"""The topics senders, the platform's mail infrastructure, its data-protection tools and the ESP
webhook service publish to through this producer; the gate, the SMTP intake and `sendgate
accounts` write the others with producers of their own."""

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
RetryCallback = Callable[[float], None]
"""Told the seconds left before the producer gives up, whenever it waits for the broker."""
ClientFactory = Callable[..., Any]
"""Makes the underlying client (`AIOKafkaProducer` by default) from its keyword arguments."""

_FIRST_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 8.0
"""The cap keeps the last try close to the broker's return: after a minute's outage the client
finds it within 8 s, not after one more doubling."""
_STALL_NOTICE_S = 1.0
"""How often a publish that waits for acknowledgements says how long it will still wait."""
_CLOSE_GRACE_S = 5.0
"""How long closing may flush after a failure before what is still buffered is dropped."""


def backoff_delays(
    first_s: float = _FIRST_BACKOFF_S, cap_s: float = _MAX_BACKOFF_S
) -> Iterator[float]:
    """The waits between tries: doubling, so a long outage is not hammered, and capped."""
    delay = first_s
    while True:
        yield delay
        delay = min(delay * 2, cap_s)


def _retriable(exc: BaseException | None) -> bool:
    """Whether trying again can help: the broker was slow, away, or moving a leader."""
    return isinstance(exc, KafkaTimeoutError | TimeoutError | OSError | KafkaConnectionError) or (
        getattr(exc, "retriable", False) is True
    )


class _Patience:
    """The retry budget: `retry_for_s` from the last progress, with its own backoff sequence.

    Counted from progress rather than from the call, so a long file is never cut short while
    the broker keeps acknowledging, and an outage gets the whole budget whenever it starts."""

    def __init__(self, retry_for_s: float, monotonic: Callable[[], float]) -> None:
        self._retry_for_s = retry_for_s
        self._monotonic = monotonic
        self.restart()

    def restart(self) -> None:
        self._deadline = self._monotonic() + self._retry_for_s
        self.delays = backoff_delays()

    def left(self) -> float:
        return max(0.0, self._deadline - self._monotonic())


@dataclass(frozen=True, slots=True)
class _Item:
    index: int
    topic_spec: TopicSpec
    key: bytes | None
    value: bytes


def _still_to_send(items: Sequence[_Item], acknowledged: set[int]) -> list[_Item]:
    """What a retry sends, in the original order: every record not acknowledged and, for a key
    one of whose records failed, every later record of that key too, acknowledged or not.

    aiokafka can fail a batch that never found its partition's leader while a later batch of the
    same partition got through; sending only the failed record would put it after the later one.
    Sending the key's tail again costs duplicates but leaves the key's records in their order at
    the end of the partition, which is what the gate folds last."""
    first_failure: dict[bytes | None, int] = {}
    again: list[_Item] = []
    for item in items:
        if item.index not in acknowledged:
            first_failure.setdefault(item.key, item.index)
        if item.key in first_failure:
            again.append(item)
    return again


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

    Starting and publishing ride out a broker that is away for less than `retry_for_s`
    (default `Settings.publish_retry_s`): retriable failures are tried again after a growing
    wait, and `on_retry` hears how long is left each time the producer waits. `client_factory`,
    `sleep` and `monotonic` are for tests (a fake client, time that does not pass).

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
        retry_for_s: float | None = None,
        on_retry: RetryCallback | None = None,
        client_factory: ClientFactory = AIOKafkaProducer,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
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
        self._retry_for_s = settings.publish_retry_s if retry_for_s is None else retry_for_s
        self.on_retry = on_retry
        self._client_factory = client_factory
        self._sleep = sleep
        self._monotonic = monotonic
        self._producer: Any = None
        self._idempotent = idempotent
        self._known_topics: set[str] = set()

    @property
    def retry_for_s(self) -> float:
        return self._retry_for_s

    def _patience(self) -> _Patience:
        return _Patience(self._retry_for_s, self._monotonic)

    async def _pause(self, patience: _Patience) -> bool:
        """Wait the next backoff before trying again; False once the budget is spent."""
        left = patience.left()
        if left <= 0:
            return False
        self._notify(left)
        await self._sleep(min(next(patience.delays), left))
        return True

    def _notify(self, left: float) -> None:
        if self.on_retry is not None:
            self.on_retry(left)

    async def __aenter__(self) -> Self:
        patience = self._patience()
        attempt_s = self._connect_timeout_s
        while True:
            producer = self._client_factory(
                bootstrap_servers=self._settings.kafka_bootstrap_servers,
                client_id="sendgate-producer",
                acks="all",
                enable_idempotence=self._idempotent,
                linger_ms=5,
                request_timeout_ms=self._request_timeout_ms,
            )
            try:
                await asyncio.wait_for(producer.start(), attempt_s)
            except (KafkaError, OSError, TimeoutError) as exc:
                await producer.stop()
                if _retriable(exc) and await self._pause(patience):
                    # A retry's try ends with the budget (a second at least), not 10 s past it.
                    attempt_s = min(self._connect_timeout_s, max(patience.left(), 1.0))
                    continue
                raise self._start_failure(exc) from None
            self._producer = producer
            return self

    def _start_failure(self, exc: BaseException) -> SendgateError:
        if not _retriable(exc):
            return _kafka_failure(self._settings, "connecting", exc)
        refused = isinstance(exc, KafkaConnectionError | OSError) and not isinstance(
            exc, TimeoutError
        )
        reason = "connection failed" if refused else "no answer in time"
        return ServiceUnavailableError(
            f"Kafka broker at {self._settings.kafka_bootstrap_servers} is not reachable: "
            f"{reason} (retried for {self._retry_for_s:g} s); start it with scripts/services start"
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        if exc is None:
            await producer.stop()  # flushes what is still buffered
        else:
            await _close_after_failure(producer)

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
        await self._require_topics(topic_specs, self._patience())

    async def _require_topics(self, topic_specs: Iterable[TopicSpec], patience: _Patience) -> None:
        producer = self._started()
        names = {spec.full_name(self._settings) for spec in topic_specs} - self._known_topics
        if not names:
            return
        missing = sorted(names)
        deadline = self._monotonic() + _TOPIC_GRACE_S
        while missing:
            try:
                metadata = await producer.client.fetch_all_metadata()
            except (KafkaError, OSError, TimeoutError) as exc:
                if type(exc) is KafkaError:
                    # aiokafka's "Unable to get cluster metadata over all known brokers": none
                    # of them answered, which is no refusal.
                    exc = KafkaConnectionError(str(exc))
                if _retriable(exc) and await self._pause(patience):
                    deadline = self._monotonic() + _TOPIC_GRACE_S
                    continue
                raise _kafka_failure(self._settings, "reading topic metadata", exc) from None
            missing = sorted(names - metadata.topics())
            if not missing or self._monotonic() >= deadline:
                break
            await self._sleep(0.2)  # a topic created a moment ago may not be served yet
        if missing:
            raise SendgateError(
                f"topic '{missing[0]}' does not exist on {self._settings.kafka_bootstrap_servers};"
                " create it with: sendgate topics create"
            )
        self._known_topics |= names

    def _started(self) -> Any:
        if self._producer is None:
            raise RuntimeError("use SendgateProducer as 'async with SendgateProducer(...)'")
        return self._producer

    async def _enqueue(
        self, topic_spec: TopicSpec, key: bytes | None, value: bytes, patience: _Patience
    ) -> asyncio.Future[RecordMetadata]:
        """Hand a record to the client's buffer; the future resolves on acknowledgement.

        A full buffer makes the client wait; that wait is bounded by the budget too (a record
        whose wait is cut short was never buffered)."""
        producer = self._started()
        await self._require_topics([topic_spec], patience)
        topic = topic_spec.full_name(self._settings)
        future: asyncio.Future[RecordMetadata] = await asyncio.wait_for(
            producer.send(topic, value=value, key=key), max(patience.left(), 0.001)
        )
        return future

    async def _wait_for_acknowledgements(
        self, futures: Sequence[asyncio.Future[RecordMetadata]], patience: _Patience
    ) -> None:
        """Wait until every future is settled or the budget is spent, saying how long is left
        each second nothing is acknowledged. The futures are never cancelled: the client keeps
        retrying an idempotent batch with its sequence number, and a late acknowledgement still
        counts."""
        pending = {future for future in futures if not future.done()}
        while pending:
            left = patience.left()
            if left <= 0:
                return
            settled, pending = await asyncio.wait(pending, timeout=min(left, _STALL_NOTICE_S))
            if pending and not settled and patience.left() > 0:
                self._notify(patience.left())

    async def send(self, topic_spec: TopicSpec, key: bytes | None, value: bytes) -> RecordMetadata:
        """Publish already-encoded bytes and wait for the acknowledgement, retrying within the
        budget. A try that timed out may have been written, so a retry may write the record
        twice (the gate's handling of a repeated request is in the README)."""
        patience = self._patience()
        topic = topic_spec.full_name(self._settings)
        while True:
            try:
                future = await self._enqueue(topic_spec, key, value, patience)
                await self._wait_for_acknowledgements([future], patience)
                if not future.done():
                    raise KafkaTimeoutError()
                return future.result()
            except (KafkaError, OSError, TimeoutError) as exc:
                if _retriable(exc) and await self._pause(patience):
                    continue
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

    async def publish_erasure(self, request: ErasureRequest) -> RecordMetadata:
        """Publish an erasure request the way that stops mail at once: first its platform
        suppression, on the topic the state fence watches, then the request. Once this returns,
        no send decided after it is allowed; the erasure itself follows within seconds. (A
        request published alone is suppressed when the worker reads it: a little later.)"""
        await self.publish(erasure_click(request))
        return await self.publish(request)

    async def publish_many(
        self,
        records: Iterable[Record],
        on_progress: ProgressCallback | None = None,
        *,
        acknowledged: set[int] | None = None,
    ) -> PublishCounts:
        """Publish records in order, many in flight at once; `on_progress(1)` per record
        acknowledged (once, even if a retry writes it again), and each acknowledged record's
        position in `records` added to `acknowledged`, so a caller that gives up knows which to
        publish again.

        Order per key (one recipient) holds across retries. The client is aiokafka's idempotent
        producer: it sends one batch per partition at a time (the partition is muted while its
        batch is in flight, in effect `max.in.flight.requests.per.connection=1`) and retries a
        batch in flight with its producer id and sequence number until the broker answers, so the
        broker writes it once and in order however often the connection breaks. What it hands
        back as failed never reached the broker in that session (a full buffer, a partition
        without a leader past `request_timeout_ms`) or may have (a batch expired after a try
        without an answer). Records go in windows of `_PIPELINE_DEPTH`; after a failure the
        producer stops handing records over, lets the window's records in flight settle, and
        sends again, in their order, the ones not acknowledged and, for a key with a failed
        record, the key's later records (`_still_to_send`). A window is finished before the next
        begins, so nothing of a later window overtakes it. Giving up (`retry_for_s` without an
        acknowledgement) raises the accurate error; the rest may or may not have been written.
        """
        counts: Counter[str] = Counter()
        done: set[int] = acknowledged if acknowledged is not None else set()
        patience = self._patience()

        def acknowledge(item: _Item, future: asyncio.Future[RecordMetadata]) -> None:
            if future.cancelled() or future.exception() is not None or item.index in done:
                return
            done.add(item.index)
            counts[future.result().topic] += 1
            patience.restart()
            if on_progress is not None:
                on_progress(1)

        async def publish_window(window: list[_Item]) -> None:
            todo = window
            while todo:
                failure: BaseException | None = None
                handed: list[tuple[_Item, asyncio.Future[RecordMetadata]]] = []
                for item in todo:
                    try:
                        future = await self._enqueue(
                            item.topic_spec, item.key, item.value, patience
                        )
                    except (KafkaError, OSError, TimeoutError) as exc:
                        failure = exc
                        break
                    future.add_done_callback(partial(acknowledge, item))
                    handed.append((item, future))
                await self._wait_for_acknowledgements([f for _, f in handed], patience)
                for item, future in handed:
                    if future.done():
                        acknowledge(item, future)  # its callback may not have run yet
                    if not future.done():
                        failure = failure or KafkaTimeoutError()
                    elif not future.cancelled() and future.exception() is not None:
                        error = future.exception()
                        if failure is None or (_retriable(failure) and not _retriable(error)):
                            failure = error
                todo = _still_to_send(todo, done)
                if not todo:
                    return
                if _retriable(failure) and await self._pause(patience):
                    continue
                raise _kafka_failure(
                    self._settings,
                    f"publishing (after {len(done)} records were acknowledged)",
                    failure or KafkaTimeoutError(),
                ) from None

        window: list[_Item] = []
        for index, record in enumerate(records):
            spec = self.topic_of(record)
            window.append(_Item(index, spec, self.key_of(record), self._codec.encode(record)))
            if len(window) >= _PIPELINE_DEPTH:
                await publish_window(window)
                window = []
        await publish_window(window)
        return PublishCounts(total=counts.total(), by_topic=dict(counts))


async def _close_after_failure(producer: Any) -> None:
    """Stop a client after a failure without waiting on the broker for long.

    aiokafka's `stop()` flushes, and an idempotent batch is retried until the broker answers:
    after giving up on a broker that is away, that would never return. Past a grace period the
    client's sender task is cancelled (there is no public way) and what it still held is lost,
    which the error already said may or may not have been written."""
    stopping = asyncio.ensure_future(producer.stop())
    finished, _ = await asyncio.wait({stopping}, timeout=_CLOSE_GRACE_S)
    if not finished:
        sender_task = getattr(getattr(producer, "_sender", None), "sender_task", None)
        if sender_task is not None:
            sender_task.cancel()
        await asyncio.wait({stopping}, timeout=_CLOSE_GRACE_S)
    if stopping.done():
        with suppress(Exception, asyncio.CancelledError):
            stopping.result()
    else:
        stopping.cancel()
