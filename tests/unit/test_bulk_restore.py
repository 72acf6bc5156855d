"""The bulk restore writes a table partition exactly as faust's own recovery would.

faust's `Store.apply_changelog_batch` is the reference: the same changelog records written by it
into one partition and by `write_records` into another must leave the two partitions' databases
holding the same keys, values and persisted offset. Reading the changelog from Kafka is the
fault tests' and the large-state benchmark's part (`tests/faults/test_worker_kill.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from faust.types import TP

from streams.core.settings import Settings
from streams.gate.app import new_faust_app
from streams.gate.bulk_restore import BULK_FROM, behind_enough, write_records


@dataclass(frozen=True)
class Record:
    """What both writers read of a changelog record (aiokafka's and faust's messages alike)."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes | None

    @property
    def tp(self) -> TP:
        return TP(self.topic, self.partition)


@dataclass(frozen=True)
class Event:
    message: Record


@pytest.fixture
def store(tmp_path: Path) -> Any:
    app = new_faust_app(Settings(), "bulk-restore-test", store="rocksdb://", datadir=tmp_path)
    return app.Table("suppressions", key_type=bytes, value_type=bytes, partitions=2).data


def changelog(partition: int) -> list[Record]:
    """Puts, an overwrite and a tombstone, the way a compacted changelog may still hold them."""
    topic = "gate-suppressions-changelog"
    return [
        Record(topic, partition, 10, b"alice", b"v1"),
        Record(topic, partition, 11, b"bob", b"v2"),
        Record(topic, partition, 12, b"alice", b"v3"),
        Record(topic, partition, 14, b"carol", b"v4"),
        Record(topic, partition, 15, b"bob", None),
    ]


def contents(store: Any, partition: int) -> dict[bytes, bytes]:
    return dict(store._db_for_partition(partition).items())


def test_written_like_faust_applies_a_changelog_batch(store: Any) -> None:
    store.apply_changelog_batch([Event(r) for r in changelog(0)], to_key=None, to_value=None)
    last = write_records(store, TP("gate-suppressions-changelog", 1), changelog(1))

    assert last == 15
    assert contents(store, 1) == contents(store, 0)
    assert store.persisted_offset(TP("gate-suppressions-changelog", 1)) == 15
    assert store._db_for_partition(1).get(b"alice") == b"v3"
    assert store._db_for_partition(1).get(b"bob") is None


def test_nothing_to_write_leaves_the_offset_alone(store: Any) -> None:
    tp = TP("gate-suppressions-changelog", 0)
    store.set_persisted_offset(tp, 7)

    assert write_records(store, tp, []) is None
    assert store.persisted_offset(tp) == 7


def test_only_partitions_far_behind_are_restored_in_bulk(store: Any) -> None:
    far, near, fresh, memory = (TP("changelog", p) for p in range(4))
    stores = {far: store, near: store, fresh: store, memory: object()}
    applied = {far: 100, near: 100, fresh: None, memory: -1}
    last = {far: 100 + BULK_FROM, near: 100 + BULK_FROM - 1, fresh: BULK_FROM - 1, memory: 10**6}

    assert behind_enough(stores, applied, last) == {far: 100, fresh: -1}
