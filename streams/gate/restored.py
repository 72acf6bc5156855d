"""The restore fence: a partition is decided only on tables restored as far as their changelogs.

When a worker is given a partition (at start, on a rebalance, or taking over from a dead worker),
faust restores the partition's table entries from their changelogs before it resumes the
partition's streams. The gate trusts that restore with everything it promises: a suppressions
table restored short would let mail through to people who unsubscribed. faust has open bugs in
exactly this machinery (faust-streaming#596, recovery racing the stream buffers; #283, changelog
partitions paused and never resumed), and one run of the scale-out test once allowed 946 sends to
suppressed recipients after a takeover, about one partition's worth, for a cause never found. So
the gate checks instead of trusting:

1. When a partition is assigned, the changelog partitions of the tables the gate
   reads (suppressions, consents, send history) are asked for their end offsets. Whoever wrote
   them before has stopped writing by then (faust flushes on revoke; a dead worker writes no more).
2. Before deciding the partition's first batch, each table's persisted offset for that partition
   (the last changelog offset applied to the local store, which faust keeps in the store itself)
   must have reached the last of those records. Once it has, the partition needs no more checks
   until its next assignment.
3. If it does not within the fence timeout, the batch fails closed like every other fence, and
   the log says which table and partition fell short.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from faust.types import TP

from streams.gate.fence import FenceTimeoutError, OffsetSource

__all__ = ["RestoreFence"]

log = logging.getLogger(__name__)

RECHECK_S = 0.05


class RestoreFence:
    """Per assigned partition, the changelog offset each table must hold before any decision."""

    def __init__(self, tables: Sequence[Any], offsets: OffsetSource, *, timeout_s: float) -> None:
        self._tables = tables
        self._offsets = offsets
        self._timeout_s = timeout_s
        self._due: dict[tuple[str, int], int] = {}

    async def on_assigned(self, partitions: Iterable[int]) -> None:
        """Note where each table's changelog ends for the newly assigned partitions."""
        partitions = list(partitions)  # read once per table
        wanted = [
            (table.changelog_topic.get_topic_name(), partition)
            for table in self._tables
            for partition in partitions
        ]
        if not wanted:
            return
        for tp, end in (await self._offsets.end_offsets_of(wanted)).items():
            if end > 0:
                self._due[tp] = end - 1
            else:
                self._due.pop(tp, None)

    def short(self, partitions: Iterable[int]) -> list[str]:
        """The table partitions not yet restored to their due offset (checked ones are dropped)."""
        missing = []
        for table in self._tables:
            topic = table.changelog_topic.get_topic_name()
            for partition in partitions:
                due = self._due.get((topic, partition))
                if due is None:
                    continue
                persisted = table.persisted_offset(TP(topic, partition))
                if persisted is not None and persisted >= due:
                    del self._due[(topic, partition)]
                    log.info("restore fence: %s/%s restored to %s", topic, partition, persisted)
                else:
                    missing.append(f"{topic}/{partition} at {persisted} of {due}")
        return missing

    def is_restored(self, partition: int) -> bool:
        """Whether the partition's tables are restored as far as their changelogs ended."""
        return not self.short((partition,))

    async def wait(self, partitions: Iterable[int]) -> None:
        """Return once the partitions' tables are restored; `FenceTimeoutError` if not in time."""
        wanted = sorted(set(partitions))
        if not self._due:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        while missing := self.short(wanted):
            if loop.time() > deadline:
                log.error("restore fence: tables short of their changelogs: %s", missing)
                raise FenceTimeoutError(
                    f"tables not restored to their changelogs' end within {self._timeout_s}s: "
                    + "; ".join(missing)
                )
            await asyncio.sleep(RECHECK_S)
