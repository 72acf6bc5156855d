"""The notifier's loop: read enforcement events in a consumer group, POST each to every
receiver, and commit its offset only when every receiver has it or has its dead letter.

**At least once.** An event's offset is committed after each configured receiver answered it
with 2xx, or the event was set aside for that receiver on `dead-letters` (acknowledged by every
in-sync replica) after the retry policy's last try or a refusal (`answers`). A notifier stopped,
killed or moved off the partition before that commit leaves the offset where it was, and the
next owner delivers the event again, with the same id: receivers dedupe on it.

**Order.** Events are keyed by account, so one account's events are one partition's, in order.
Each partition's fetched records go to one task that delivers them one after the other (every
receiver of one event before the next event), and the partition is paused meanwhile, so nothing
of it is fetched again until that task is done. Partitions are independent: a receiver failing
for one account's event holds up that partition only. The loop keeps fetching (the other
partitions) all the while, so the group never takes a partition in a long backoff for a dead
consumer.

**Rebalances.** When the group takes partitions away, their tasks are cancelled before the
group moves on (`ConsumerRebalanceListener.on_partitions_revoked`); an event cut short there
was not committed, so its new owner starts from it. A partition given back starts from the
group's committed offset.

**Dead letters** are `DeadLetter` records with the event's origin (topic, partition, offset),
its key and bytes, agent `notify`, error kind `invalid` (the schema has no kind for a receiver
that would not take a record; the reason says what happened, naming the receiver by
`scheme://host:port/path` only) and, for a record that could not be decoded, the codec's own
kind. One per receiver that did not take the event: a receiver that took it is not asked again
when the dead letter is published back to `enforcement-events`, unless the whole event is.
While Kafka does not take a dead letter the notifier waits and tries again; the offset stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import aiohttp
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from streams.core.clock import Clock, FileClock, SystemClock
from streams.core.codec import Codec
from streams.core.errors import (
    CodecError,
    InvalidRecordError,
    ServiceUnavailableError,
)
from streams.core.logs import where
from streams.core.records import ConsentNotice, DeadLetter, DeadLetterKind, Record
from streams.core.settings import Settings
from streams.edges.admin import required_partitions
from streams.edges.notify import metrics
from streams.edges.notify.config import NotifyConfig, notify_config
from streams.edges.notify.courier import CourierResult, FailedAttempt, carry
from streams.edges.notify.payload import (
    Notification,
    consent_notice_notification,
    enforcement_notification,
)
from streams.edges.notify.receivers import Receiver
from streams.reputation.standing import EnforcementEvent
from streams.topics import CONSENT_NOTICES, DEAD_LETTERS, ENFORCEMENT_EVENTS, default_codec

__all__ = [
    "DEAD_LETTER_AGENT",
    "Delivery",
    "FailedTry",
    "NotifyTotals",
    "run_notifier",
]

log = logging.getLogger(__name__)

FETCH_TIMEOUT_MS = 500
"""How long one fetch waits for records; also how quickly the loop notices `stop`."""
FETCH_MAX_RECORDS = 500
ENDS_REFRESH_S = 5.0
"""How often the end offsets behind the lag metric are asked of the broker (a paused
partition's own fetches, which carry them otherwise, stop while it waits to retry)."""
DEAD_LETTER_AGENT = "notify"
PUBLISH_RETRY_FIRST_S = 1.0
PUBLISH_RETRY_MAX_S = 30.0
"""Waits while Kafka does not take a dead letter: 1 s, doubling, at most 30 s."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one event at one receiver, as `on_delivered` hears it."""

    event_id: str
    event_type: str
    receiver: str
    """`scheme://host:port/path`: never the query or a password."""
    outcome: Literal["delivered", "dead_lettered"]
    attempts: int
    waits_s: tuple[float, ...]
    """The backoff before each retry, in order."""
    reason: str | None
    """Why it was dead-lettered (the dead letter's reason); None when delivered."""
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class FailedTry:
    """One POST that did not deliver, as `on_failed_try` hears it (the terminal shows it)."""

    event_id: str
    event_type: str
    receiver: str
    """`scheme://host:port/path`."""
    attempt: int
    tries: int
    """The policy's tries: the event is dead-lettered after try `tries`."""
    said: str
    """`503 Service Unavailable`, `could not connect`, `no answer within 10 s` ..."""
    next_wait_s: float | None
    """The wait before the next try; None when there is none (refused, or the last try)."""
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class NotifyTotals:
    """What one run did, returned when it stops."""

    events: int = 0
    """Events finished with (every receiver delivered or dead-lettered) and committed."""
    delivered: int = 0
    dead_lettered: int = 0


OnDelivered = Callable[[Delivery], None]
OnFailedTry = Callable[[FailedTry], None]


@dataclass(frozen=True, slots=True)
class _Notified:
    """A topic the notifier reads: the record on it and the notification made of one."""

    record: type[Record]
    notification: Callable[[Any], Notification]


async def run_notifier(
    settings: Settings,
    *,
    stop: asyncio.Event,
    on_delivered: OnDelivered | None = None,
    on_failed_try: OnFailedTry | None = None,
    clock: Clock | None = None,
) -> NotifyTotals:
    """POST every enforcement event to every receiver in `settings` until `stop` is set.

    The configuration is checked first (`SendgateError` naming what to set); the topics must
    exist (`sendgate topics create`). `on_delivered` hears of each event at each receiver once
    the notifier is done with the event (every receiver delivered or dead-lettered, the offset
    committed), on the event loop: keep it quick; `on_failed_try` of each POST that did not
    deliver, as it happens. `clock` stamps dead letters
    (default: `Settings.clock_file`, else the wall clock); signatures always carry the wall
    clock, which is what receivers compare them with. Serves no metrics: the caller does
    (`sendgate notify --metrics-port`).
    """
    config = notify_config(settings)
    clock = clock or (FileClock(settings.clock_file) if settings.clock_file else SystemClock())
    notified = {
        ENFORCEMENT_EVENTS.full_name(settings): _Notified(
            EnforcementEvent, enforcement_notification
        )
    }
    if config.consent_notices:
        notified[CONSENT_NOTICES.full_name(settings)] = _Notified(
            ConsentNotice, consent_notice_notification
        )
    dead_letters = DEAD_LETTERS.full_name(settings)
    # Every topic it reads or writes: a consumer subscribed to a missing one waits in silence.
    await required_partitions(
        settings.kafka_bootstrap_servers, [*notified, dead_letters], client_id="sendgate-notify"
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="sendgate-notify",
        group_id=config.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="sendgate-notify",
        acks="all",
        enable_idempotence=True,
    )
    try:
        try:
            await consumer.start()
            await producer.start()
        except KafkaError as exc:
            raise ServiceUnavailableError(f"Kafka did not answer: {exc!r}") from exc
        async with aiohttp.ClientSession(trust_env=False) as session:
            notifier = _Notifier(
                consumer=consumer,
                producer=producer,
                session=session,
                config=config,
                notified=notified,
                dead_letters_topic=dead_letters,
                clock=clock,
                on_delivered=on_delivered,
                on_failed_try=on_failed_try,
            )
            consumer.subscribe(list(notified), listener=_Rebalance(notifier))
            return await notifier.run(stop)
    finally:
        await consumer.stop()
        await producer.stop()


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, notifier: _Notifier) -> None:
        self._notifier = notifier

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._notifier.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        pass


@dataclass
class _Notifier:
    consumer: AIOKafkaConsumer
    producer: AIOKafkaProducer
    session: aiohttp.ClientSession
    config: NotifyConfig
    notified: dict[str, _Notified]
    dead_letters_topic: str
    clock: Clock
    on_delivered: OnDelivered | None
    on_failed_try: OnFailedTry | None
    codec: Codec = field(default_factory=default_codec)
    totals: NotifyTotals = NotifyTotals()
    _tasks: dict[TopicPartition, asyncio.Task[int | None]] = field(default_factory=dict)
    _committed: dict[TopicPartition, int] = field(default_factory=dict)
    """The group's committed offset of each assigned partition, as this notifier knows it."""
    _ends: dict[TopicPartition, int] = field(default_factory=dict)
    _ends_at: float | None = None
    _generation: int = 0
    """Bumped at every revocation: a task of an earlier generation no longer owns its partition."""
    _failures: list[BaseException] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> NotifyTotals:
        try:
            while not stop.is_set():
                fetched = await self.consumer.getmany(
                    timeout_ms=FETCH_TIMEOUT_MS, max_records=FETCH_MAX_RECORDS
                )
                for tp, messages in fetched.items():
                    if messages:
                        self._start(tp, messages)
                await self._measure_lag()
                if self._failures:
                    raise self._failures[0]
        finally:
            await self._cancel(list(self._tasks.values()))
        return self.totals

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """Cancel what is in flight on partitions the group takes away: nothing of theirs is
        committed here after this, and their new owner starts from the last commit."""
        self._generation += 1
        await self._cancel([self._tasks.pop(tp) for tp in partitions if tp in self._tasks])
        for tp in partitions:
            self._committed.pop(tp, None)
            self._ends.pop(tp, None)
            with contextlib.suppress(KeyError):
                metrics.LAG.remove(tp.topic, str(tp.partition))

    def _start(self, tp: TopicPartition, messages: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Hand a partition's fetched records to one task, the partition paused until it is
        done, so that partition's next records come only after these are committed."""
        self.consumer.pause(tp)
        self._committed.setdefault(tp, messages[0].offset)
        task = asyncio.create_task(self._deliver_in_order(tp, messages))
        self._tasks[tp] = task
        task.add_done_callback(partial(self._done, tp, self._generation))

    def _done(self, tp: TopicPartition, generation: int, task: asyncio.Task[int | None]) -> None:
        if self._tasks.get(tp) is task:
            del self._tasks[tp]
        if task.cancelled() or generation != self._generation:
            return
        if (error := task.exception()) is not None:
            self._failures.append(error)
            return
        if tp not in self.consumer.assignment():
            return
        resume_at = task.result()
        try:
            if resume_at is not None:
                self.consumer.seek(tp, resume_at)
            self.consumer.resume(tp)
        except IllegalStateError:  # no longer ours: its next owner starts from the commit
            pass

    async def _deliver_in_order(
        self, tp: TopicPartition, messages: Sequence[ConsumerRecord[bytes, bytes]]
    ) -> int | None:
        """Each record to every receiver, then its commit, then `on_delivered` for each receiver
        (so a caller that stops on hearing of an event finds it committed); the offset to read
        on from when a commit was refused (the partition is moving), else None."""
        for message in messages:
            deliveries = await self._notify(message)
            try:
                await self.consumer.commit({tp: message.offset + 1})
            except (CommitFailedError, IllegalStateError) as exc:
                log.warning(
                    "notify: offset %s/%d/%d not committed (%s); the partition is moving and "
                    "its next owner delivers from the last commit",
                    message.topic,
                    message.partition,
                    message.offset,
                    type(exc).__name__,
                    extra=where(message),
                )
                self._tell(deliveries)
                return message.offset + 1
            except KafkaError as exc:  # a later commit covers this one
                log.warning(
                    "notify: offset %s/%d/%d not committed yet (%s)",
                    message.topic,
                    message.partition,
                    message.offset,
                    type(exc).__name__,
                    extra=where(message),
                )
            else:
                self._committed[tp] = message.offset + 1
                self.totals = _add(self.totals, events=1)
                self._show_lag(tp)
            self._tell(deliveries)
        return None

    async def _notify(self, message: ConsumerRecord[bytes, bytes]) -> list[Delivery]:
        """Every receiver delivered or dead-lettered for one record; what became of it at each."""
        notified = self.notified[message.topic]
        try:
            record = self.codec.decode(message.value or b"", notified.record)
        except (CodecError, InvalidRecordError) as exc:
            kind: DeadLetterKind = exc.error_kind
            await self._publish([self._letter(message, kind, str(exc))])
            metrics.DEAD_LETTERS.labels(kind).inc()
            self.totals = _add(self.totals, dead_lettered=1)
            log.warning(
                "notify: dead-lettered %s/%d/%d (%s): no receiver was sent it",
                message.topic,
                message.partition,
                message.offset,
                kind,
                extra=where(message),
            )
            return []
        notification = notified.notification(record)
        receivers = self.config.receivers
        async with asyncio.TaskGroup() as group:  # one receiver's bug stops the others too
            carried = [
                group.create_task(self._carry(receiver, notification, message))
                for receiver in receivers
            ]
        results = [task.result() for task in carried]
        deliveries = [
            self._delivery(notification, receiver, result, message, None)
            for receiver, result in zip(receivers, results, strict=True)
            if result.delivered
        ]
        failed = [
            (receiver, result)
            for receiver, result in zip(receivers, results, strict=True)
            if not result.delivered
        ]
        if not failed:
            return deliveries
        letters = [self._letter(message, "invalid", result.reason(r)) for r, result in failed]
        await self._publish(letters)
        for (receiver, result), letter in zip(failed, letters, strict=True):
            cause = "refused" if result.outcome == "refused" else "retries_exhausted"
            metrics.DEAD_LETTERS.labels(cause).inc()
            metrics.DELIVERIES.labels(receiver.host, "dead_lettered").inc()
            self.totals = _add(self.totals, dead_lettered=1)
            log.warning(
                "notify: dead-lettered %s/%d/%d for %s (%s after %d tries)",
                message.topic,
                message.partition,
                message.offset,
                receiver.shown,
                cause,
                result.attempts,
                extra=where(message),
            )
            deliveries.append(
                self._delivery(notification, receiver, result, message, letter.reason)
            )
        return deliveries

    async def _carry(
        self,
        receiver: Receiver,
        notification: Notification,
        message: ConsumerRecord[bytes, bytes],
    ) -> CourierResult:
        def failed(attempt: int, failure: FailedAttempt, wait: float | None) -> None:
            then = f"next try in {wait:.1f} s" if wait is not None else "no further try"
            log.info(
                "notify: %s/%d/%d to %s, try %d of %d: %s; %s",
                message.topic,
                message.partition,
                message.offset,
                receiver.shown,
                attempt,
                self.config.policy.tries,
                failure.said,
                then,
                extra=where(message),
            )
            if self.on_failed_try is not None:
                self.on_failed_try(
                    FailedTry(
                        event_id=notification.id,
                        event_type=notification.type,
                        receiver=receiver.shown,
                        attempt=attempt,
                        tries=self.config.policy.tries,
                        said=failure.said,
                        next_wait_s=wait,
                        topic=message.topic,
                        partition=message.partition,
                        offset=message.offset,
                    )
                )

        result = await carry(
            self.session,
            receiver,
            notification,
            secrets=self.config.secrets,
            policy=self.config.policy,
            on_failure=failed,
        )
        if result.delivered:
            metrics.DELIVERIES.labels(receiver.host, "delivered").inc()
            metrics.LAST_DELIVERY.labels(receiver.host).set_to_current_time()
            self.totals = _add(self.totals, delivered=1)
            log.info(
                "notify: %s/%d/%d delivered to %s (%d tries)",
                message.topic,
                message.partition,
                message.offset,
                receiver.shown,
                result.attempts,
                extra=where(message),
            )
        return result

    def _tell(self, deliveries: list[Delivery]) -> None:
        if self.on_delivered is not None:
            for delivery in deliveries:
                self.on_delivered(delivery)

    @staticmethod
    def _delivery(
        notification: Notification,
        receiver: Receiver,
        result: CourierResult,
        message: ConsumerRecord[bytes, bytes],
        reason: str | None,
    ) -> Delivery:
        return Delivery(
            event_id=notification.id,
            event_type=notification.type,
            receiver=receiver.shown,
            outcome="delivered" if reason is None else "dead_lettered",
            attempts=result.attempts,
            waits_s=result.waits_s,
            reason=reason,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )

    def _letter(
        self, message: ConsumerRecord[bytes, bytes], kind: DeadLetterKind, reason: str
    ) -> DeadLetter:
        return DeadLetter(
            origin_topic=message.topic,
            origin_partition=message.partition,
            origin_offset=message.offset,
            original_key=message.key,
            original_value=message.value,
            error_kind=kind,
            reason=reason,
            agent=DEAD_LETTER_AGENT,
            failed_at=self.clock.now(),
        )

    async def _publish(self, letters: Sequence[DeadLetter]) -> None:
        """Until Kafka has acknowledged every letter (acks=all): the offset waits for them."""
        delay = PUBLISH_RETRY_FIRST_S
        while True:
            try:
                sent = [
                    await self.producer.send(
                        self.dead_letters_topic, self.codec.encode(letter), key=letter.original_key
                    )
                    for letter in letters
                ]
                await asyncio.gather(*sent)
                return
            except KafkaError as exc:
                log.error(
                    "notify: Kafka did not take %d dead letter(s) (%s); trying again in %.0f s, "
                    "the offset stays until it does",
                    len(letters),
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, PUBLISH_RETRY_MAX_S)

    async def _measure_lag(self) -> None:
        """The lag gauge of every assigned partition: end offset minus committed offset."""
        assigned = self.consumer.assignment()
        generation = self._generation
        for tp in assigned - self._committed.keys():
            try:
                committed = await self.consumer.committed(tp)
                if committed is None:
                    committed = (await self.consumer.beginning_offsets([tp]))[tp]
            except (KafkaError, IllegalStateError):
                continue
            if generation != self._generation:
                return
            self._committed.setdefault(tp, committed)
        loop = asyncio.get_running_loop()
        if assigned and (self._ends_at is None or loop.time() - self._ends_at >= ENDS_REFRESH_S):
            try:
                ends = await self.consumer.end_offsets(list(assigned))
            except (KafkaError, IllegalStateError):
                ends = {}
            if generation != self._generation:
                return
            self._ends.update(ends)
            self._ends_at = loop.time()
        for tp in assigned:
            self._show_lag(tp)

    def _show_lag(self, tp: TopicPartition) -> None:
        committed = self._committed.get(tp)
        try:
            highwater = self.consumer.highwater(tp)
        except IllegalStateError:
            return
        end = max(highwater if highwater is not None else -1, self._ends.get(tp, -1))
        if committed is None or end < 0:
            return
        self._ends[tp] = end
        metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(0, end - committed))

    @staticmethod
    async def _cancel(tasks: list[asyncio.Task[int | None]]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _add(
    totals: NotifyTotals, *, events: int = 0, delivered: int = 0, dead_lettered: int = 0
) -> NotifyTotals:
    return NotifyTotals(
        events=totals.events + events,
        delivered=totals.delivered + delivered,
        dead_lettered=totals.dead_lettered + dead_lettered,
    )
