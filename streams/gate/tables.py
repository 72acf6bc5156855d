"""The gate's tables as records: handlers read and write typed values, never bytes.

faust holds every table value as raw bytes (`streams.gate.app`: an undecodable value must reach
our code, not faust's error handler), so each read decodes and each write encodes through the
codec. `RecordTable` does both for one table and one record type, and writes nothing when a fold
left the value as it was: a replayed record then changes no table and no changelog.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from faust.stores.rocksdb import Store as RocksDBStore

from streams.core.codec import Codec
from streams.core.records import Record

__all__ = ["RecordTable", "stored"]

R = TypeVar("R", bound=Record)


def stored(table: Any, key: bytes) -> bytes | None:
    """A table's value for `key`, or None, in one read of its store.

    `Table.get` asks the store twice for a key it holds (`key in data`, then `data[key]`, as
    the table has a default for missing keys), and each time passes the key and the value
    through faust's serializer registry; the gate reads three tables per send. The gate's
    tables hold raw bytes, so a RocksDB store is read directly, once; any other store (the
    in-memory one of the agent tests) through its own `get`."""
    store = table.data
    value: bytes | None = store._get(key) if isinstance(store, RocksDBStore) else store.get(key)
    return value


class RecordTable(Generic[R]):
    """One faust table whose values are records of one type.

    `trusted` tables are written only by sendgate's own agents, so their values are decoded
    through the codec's cache (`Codec.decode_trusted`): the gate reads them at every send.
    """

    __slots__ = ("_codec", "_decode", "record_type", "table")

    def __init__(
        self, table: Any, codec: Codec, record_type: type[R], *, trusted: bool = True
    ) -> None:
        self.table = table
        """The faust table itself, for what only faust does with it (changelog, recovery)."""
        self.record_type = record_type
        self._codec = codec
        self._decode = codec.decode_trusted if trusted else codec.decode

    def get(self, key: bytes) -> R | None:
        raw = stored(self.table, key)
        return None if raw is None else self._decode(raw, self.record_type)

    def put(self, key: bytes, value: R) -> None:
        self.table[key] = self._codec.encode(value)

    def update(self, key: bytes, before: R | None, after: R | None) -> None:
        """Write `after` unless the fold left `before` as it was (None: nothing to keep)."""
        if after is not None and after != before:
            self.put(key, after)

    def delete(self, key: bytes) -> int:
        """Delete the entry of `key` (a tombstone on the changelog, which compaction then uses
        to drop its old values); 1 if there was one, 0 if not (nothing is written then)."""
        if stored(self.table, key) is None:
            return 0
        del self.table[key]
        return 1

    def tombstone_again(self, key: bytes) -> bool:
        """Write one more tombstone for a key this table does not hold (nothing if it holds one
        again, say after a new sign-up). Kafka rolls a changelog's segment only when something is
        written to it, and never compacts the segment being written: the erasure's sweep uses
        this so that the values its first tombstones replaced can be compacted away."""
        if stored(self.table, key) is not None:
            return False
        self.table.on_key_del(key)
        return True

    def keys(self) -> list[bytes]:
        """Every key this worker holds (a scan: for timers, never for the hot path)."""
        return list(self.table.keys())
