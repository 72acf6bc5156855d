"""A whole topic's latest value per key, kept by every worker for itself.

Some state every gate worker must see whole, whichever partitions it was assigned: an account's
verified sending domains are read by every decision of that account, and the decisions are
spread by recipient. faust's GlobalTable is meant for this, but in faust (and faust-streaming,
issues robinhood/faust#541 and #716) a GlobalTable written by an agent on one worker does not
reliably reach the others: with two workers, `tests/integration/test_scale_out.py` saw sends
denied for an unverified domain on the worker that did not own the record's partition. So each
worker reads the topic itself: one consumer outside any group, assigned every partition, from the
beginning, for as long as the worker runs, keeping the latest value per key (the records carry
the whole state of their key, so a copy needs no earlier value).

`ready` is set once the copy has read everything the topic held when the worker started; the
gate waits for it (bounded) before its first decision, so a restart does not deny mail for want
of a domain the platform verified long ago. A record published later reaches the copy within a
poll (a hundred milliseconds or so): like enforcement, one hop after it is acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.errors import CodecError, InvalidRecordError

__all__ = ["TopicCopy"]

V = TypeVar("V")
log = logging.getLogger(__name__)

POLL_MS = 100
RETRY_S = 1.0


class TopicCopy(Generic[V]):
    """The latest value of each key of `topic`, as `read` makes it of a record's bytes."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        partitions: int,
        read: Callable[[bytes, bytes], V],
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._partitions = partitions
        self._read = read
        self._values: dict[bytes, V] = {}
        self.ready = asyncio.Event()

    def get(self, key: bytes) -> V | None:
        return self._values.get(key)

    def put(self, key: bytes, value: V) -> None:
        """Set a value directly (agent tests, which run without a broker)."""
        self._values[key] = value

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record: its value becomes the key's, unless it cannot be read (the topic's agent
        dead-letters those; here they change nothing)."""
        if key is None or value is None:
            return
        try:
            self._values[key] = self._read(key, value)
        except (CodecError, InvalidRecordError) as exc:
            log.warning("%s: a record the copy cannot use is left out: %s", self._topic, exc)

    async def run(self) -> None:
        """Read the topic until cancelled; set `ready` once caught up with the start."""
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
                # Every topic has the settings' partition count (streams.topics); a consumer
                # outside a group learns no topic's metadata until it is assigned one.
                assigned = [TopicPartition(self._topic, p) for p in range(self._partitions)]
                consumer.assign(assigned)
                await consumer.seek_to_beginning(*assigned)
                ends = await consumer.end_offsets(assigned)
                while True:
                    batches = await consumer.getmany(timeout_ms=POLL_MS)
                    for records in batches.values():
                        for record in records:
                            self.apply(record.key, record.value)
                    if not self.ready.is_set() and all(
                        await asyncio.gather(*(self._reached(consumer, tp, ends) for tp in ends))
                    ):
                        self.ready.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broker hiccup: start over, the copy is idempotent
                log.warning("%s: reading the copy failed, starting over: %s", self._topic, exc)
                await asyncio.sleep(RETRY_S)
            finally:
                await consumer.stop()

    @staticmethod
    async def _reached(
        consumer: AIOKafkaConsumer, tp: TopicPartition, ends: dict[TopicPartition, int]
    ) -> bool:
        return await consumer.position(tp) >= ends[tp]
