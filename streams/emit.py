"""Where agents send what they produce, so agent tests can watch it without a broker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import faust

__all__ = ["CollectingEmitter", "Emitted", "Emitter", "ProducerEmitter"]


class Emitter(Protocol):
    async def emit(self, topic: str, key: bytes | None, value: bytes) -> None: ...


class ProducerEmitter:
    """Hands records to the faust app's producer (batched by aiokafka; flushed before commit).

    faust flushes its producer before it commits consumer offsets, so a record emitted while an
    event is processed is on the broker before that event's offset is committed: at-least-once.
    """

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def emit(self, topic: str, key: bytes | None, value: bytes) -> None:
        await self._app.producer.send(topic, key, value, None, None, None)


@dataclass(frozen=True)
class Emitted:
    topic: str
    key: bytes | None
    value: bytes


@dataclass
class CollectingEmitter:
    """Keeps what was emitted in a list (agent tests)."""

    emitted: list[Emitted] = field(default_factory=list)

    async def emit(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.emitted.append(Emitted(topic, key, value))

    def on(self, topic: str) -> list[Emitted]:
        return [item for item in self.emitted if item.topic == topic]
