"""Read what the gate wrote during one demo run: decisions, dead letters, suppression changes.

A reader without a consumer group, assigned every partition of the three output topics from the
beginning, runs as a background task while the demo publishes. At-least-once processing may write
a record twice, so everything is kept by identity: decisions by request id, dead letters by their
origin coordinates, applied clicks by the coordinates of the click.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streams.core.errors import CodecError, InvalidRecordError, ServiceUnavailableError
from streams.core.records import DeadLetter, SendDecision, SuppressionChange
from streams.core.settings import Settings
from streams.reputation.standing import EnforcementEvent
from streams.topics import (
    DEAD_LETTERS,
    ENFORCEMENT_EVENTS,
    SEND_DECISIONS,
    SUPPRESSION_CHANGES,
    default_codec,
)

__all__ = ["GateOutput"]

_FETCH_TIMEOUT_MS = 200


@dataclass
class GateOutput:
    """The gate's output so far; `start` begins reading, `stop` ends it."""

    settings: Settings
    decisions: dict[str, SendDecision] = field(default_factory=dict)
    dead_letters: dict[tuple[str, int, int], DeadLetter] = field(default_factory=dict)
    applied_clicks: set[str] = field(default_factory=set)
    enforcement: dict[str, EnforcementEvent] = field(default_factory=dict)
    unreadable: int = 0
    first_decision: asyncio.Event = field(default_factory=asyncio.Event)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            client_id="sendgate-demo",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        try:
            await consumer.start()
        except (KafkaError, OSError) as exc:
            await consumer.stop()
            raise ServiceUnavailableError(
                f"Kafka did not answer the demo's reader: {exc}"
            ) from None
        consumer.assign(
            [
                TopicPartition(spec.full_name(self.settings), partition)
                for spec in (SEND_DECISIONS, DEAD_LETTERS, SUPPRESSION_CHANGES, ENFORCEMENT_EVENTS)
                for partition in range(self.settings.topic_partitions)
            ]
        )
        self._consumer = consumer
        self._task = asyncio.create_task(self._read(consumer), name="demo-gate-output")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    def check_reading(self) -> None:
        """Raise if the reader has died (the broker went away, say)."""
        if self._task is not None and self._task.done() and not self._task.cancelled():
            exc = self._task.exception()
            raise ServiceUnavailableError(f"reading the gate's output failed: {exc!r}") from exc

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        decisions = SEND_DECISIONS.full_name(self.settings)
        letters = DEAD_LETTERS.full_name(self.settings)
        enforcement = ENFORCEMENT_EVENTS.full_name(self.settings)
        while True:
            fetched = await consumer.getmany(timeout_ms=_FETCH_TIMEOUT_MS)
            for messages in fetched.values():
                for message in messages:
                    try:
                        if message.topic == enforcement:
                            event = default_codec().decode(message.value or b"", EnforcementEvent)
                            self.enforcement[event.event_id] = event
                            continue
                        self._keep(message.topic, message.value or b"", decisions, letters)
                    except (CodecError, InvalidRecordError):
                        self.unreadable += 1

    def _keep(self, topic: str, value: bytes, decisions: str, letters: str) -> None:
        codec = default_codec()
        if topic == decisions:
            decision = codec.decode(value, SendDecision)
            self.decisions[decision.request_id] = decision
            self.first_decision.set()
        elif topic == letters:
            letter = codec.decode(value, DeadLetter)
            origin = (letter.origin_topic, letter.origin_partition, letter.origin_offset)
            self.dead_letters[origin] = letter
        else:
            change = codec.decode(value, SuppressionChange)
            self.applied_clicks.add(change.entry.source)
