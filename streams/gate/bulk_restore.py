"""Restore a table partition that is far behind its changelog in bulk, before faust's recovery.

faust restores a table one changelog record at a time: each record becomes an event on a queue,
and the recovery loop takes it off with its own `asyncio.wait_for`, recomputes how much every
partition still lacks, and buffers it. A worker restores about 4,000 records a second that way
on our 2-core machines, while a bare aiokafka consumer reads the same changelogs at over
300,000 a second. A brand-new worker taking over a million suppressions and a million consents
would spend minutes restoring; until it has, the restore fence (`gate/restored.py`) holds its
partitions, and their sends wait.

So, once faust knows where each newly assigned active partition's store stands (its persisted
offset) and where its changelog ends (the highwater it read a moment before), a partition more
than `BULK_FROM` records behind is read here with a consumer of its own (no group, nothing
committed) and written straight into the partition's RocksDB database, a write batch per fetch.
Each batch also carries the partition's new persisted offset, so data and offset land together;
faust's recovery then starts from that offset and reads only what was written since.

What is written is exactly what faust's `apply_changelog_batch` writes (the record's key and value
bytes, a delete for a tombstone, the last offset), so the store cannot tell the two apart, and the
restore fence still checks the result before any decision. The bulk read is bounded by
`TIME_BUDGET_S`, inside faust's own timeout for that step; whatever it has not reached by then,
and any store that is not RocksDB through rocksdict, is left to faust.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import rocksdict
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TP

__all__ = ["BULK_FROM", "TIME_BUDGET_S", "restore_in_bulk"]

log = logging.getLogger(__name__)

BULK_FROM = 5_000
"""Records behind below which faust's own recovery is quick enough (a second or two)."""
TIME_BUDGET_S = 60.0
"""Longest one bulk restore runs; faust gives the step it runs in 90 s (broker_request_timeout)."""
FETCH_RECORDS = 5_000
"""Records written per batch. The worker's event loop also runs its group heartbeats, and aiokafka
parses a whole fetch response in one go: small fetches and batches keep each step short (a 32 MB
fetch held the loop over a second, and the worker lost its place in the group)."""


def bootstrap_servers(app: Any) -> str:
    """The brokers faust's own consumer talks to, as aiokafka wants them."""
    return ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker_consumer)


def behind_enough(
    stores: Mapping[TP, Any], applied: Mapping[TP, int | None], last: Mapping[TP, int | None]
) -> dict[TP, int]:
    """The partitions worth restoring in bulk: a rocksdict-backed RocksDB store, at least
    `BULK_FROM` records between the last applied offset and the changelog's last one. Values
    are the last applied offset (-1: none)."""
    chosen = {}
    for tp, store in stores.items():
        if not isinstance(store, RocksDBStore) or not store.use_rocksdict:
            continue
        done = applied.get(tp)
        done = -1 if done is None else done
        end = last.get(tp)
        if end is not None and end - done >= BULK_FROM:
            chosen[tp] = done
    return chosen


def write_records(store: RocksDBStore, tp: TP, records: Iterable[ConsumerRecord]) -> int | None:
    """Write changelog records into the partition's database in one batch, with the offset of
    the last as the persisted offset; that offset, or None when there were none."""
    batch = rocksdict.WriteBatch(raw_mode=True)
    last = None
    for record in records:
        if record.value is None:
            batch.delete(record.key)
        else:
            batch.put(record.key, record.value)
        last = record.offset
    if last is None:
        return None
    batch.put(store.offset_key, str(last).encode())
    store._db_for_partition(tp.partition).write(batch)
    return last


async def restore_in_bulk(
    bootstrap: str,
    stores: Mapping[TP, Any],
    applied: MutableMapping[TP, int],
    last: Mapping[TP, int],
    *,
    time_budget_s: float = TIME_BUDGET_S,
) -> int:
    """Bring the stores of partitions far behind up to their changelog's `last` offset; move
    `applied` (faust's per-partition offsets to restore from) to where each got. Returns the
    records written."""
    behind = behind_enough(stores, applied, last)
    if not behind:
        return 0
    started = time.monotonic()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=1024 * 1024,
        fetch_max_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    written = 0
    try:
        partitions = {TopicPartition(tp.topic, tp.partition): tp for tp in behind}
        consumer.assign(list(partitions))
        for kafka_tp, tp in partitions.items():
            consumer.seek(kafka_tp, behind[tp] + 1)
        pending = set(partitions)
        while pending and time.monotonic() - started < time_budget_s:
            fetched = await consumer.getmany(*pending, timeout_ms=500, max_records=FETCH_RECORDS)
            for kafka_tp, records in fetched.items():
                tp = partitions[kafka_tp]
                end = last[tp]
                wanted = [record for record in records if record.offset <= end]
                reached = write_records(stores[tp], tp, wanted)
                if reached is not None:
                    applied[tp] = reached
                    written += len(wanted)
                await asyncio.sleep(0)  # let heartbeats and health checks in between batches
            for kafka_tp in list(pending):
                tp = partitions[kafka_tp]
                if applied[tp] < last[tp] and await consumer.position(kafka_tp) > last[tp]:
                    # Read past the end, and the last offsets were compacted away: the store
                    # holds everything up to the end.
                    stores[tp].set_persisted_offset(tp, last[tp])
                    applied[tp] = last[tp]
                if applied[tp] >= last[tp]:
                    pending.discard(kafka_tp)
    finally:
        await consumer.stop()
    log.info(
        "bulk restore: %d records into %d table partitions in %.1f s%s",
        written,
        len(behind),
        time.monotonic() - started,
        f"; {len(pending)} left to faust's recovery" if pending else "",
    )
    return written
