"""Where agents send what they produce, so agent tests can watch it without a broker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import faust

__all__ = ["CollectingEmitter", "Emitted", "Emitter", "ProducerEmitter"]


class Emitter(Protocol):
    async def emit(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> None:
        """Send `value` to `topic`; to `partition` when given, else where the key hashes to.

        A caller names the partition only when it knows the key's partition already: a record
        keyed like the one it answers, on a topic co-partitioned with that one's (same key, same
        partition count), goes to the same partition number, and the producer's key hashing
        (pure Python murmur2 in aiokafka) is work done twice.
        """
        ...

    async def flush(self) -> None:
        """Wait until everything emitted so far is on the broker: for an agent whose effects on
        two partitions must land in an order (`streams.gate.keepers.act_on_address_correction`)."""
        ...


class ProducerEmitter:
    """Hands records to the faust app's producer (batched by aiokafka; flushed before commit).

    faust flushes its producer before it commits consumer offsets, so a record emitted while an
    event is processed is on the broker before that event's offset is committed: at-least-once.
    """

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def emit(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> None:
        await self._app.producer.send(topic, key, value, partition, None, None)

    async def flush(self) -> None:
        await self._app.producer.flush()


@dataclass(frozen=True)
class Emitted:
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None
    """The partition the emitter was told to use; None: the key's (the producer hashes it)."""


@dataclass
class CollectingEmitter:
    """Keeps what was emitted in a list (agent tests)."""

    emitted: list[Emitted] = field(default_factory=list)
    flushed_after: list[int] = field(default_factory=list)
    """How many records had been emitted at each flush."""

    async def emit(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> None:
        self.emitted.append(Emitted(topic, key, value, partition))

    async def flush(self) -> None:
        self.flushed_after.append(len(self.emitted))

    def on(self, topic: str) -> list[Emitted]:
        return [item for item in self.emitted if item.topic == topic]
