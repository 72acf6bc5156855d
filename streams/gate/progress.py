"""Which offsets of each input partition the agents have processed, without holes.

faust-streaming can drop records it has already fetched (at the end of table recovery, and when
flow is suspended mid-delivery) and then commits over the hole as if it were a compaction gap
(`streams.gate.faust_fixes` closes one such path; this module is the safety net for all of them).
For the gate a lost unsubscribe click is a compliance failure, so progress here is contiguous: an
offset counts only when every offset before it (from the floor set at assignment, the group's
committed offset) has been processed. Two things follow:

- the state fence waits for the contiguous progress of the clicks partition, so a send is never
  decided past a click that was skipped, and
- `stalled()` names the partitions that have records waiting beyond their contiguous progress
  and have not moved for a while; the worker then seeks them back, and the lost records are
  fetched again (processing them twice is harmless: every effect is idempotent).

"Has not moved for a while" counts only time in which the partition could have moved. While the
broker is away nothing is fetched, so every partition with records beyond its progress looks
stalled the moment the broker answers again, though nothing was skipped: a check the broker did
not answer (`lost_sight`), or answered only after the stall limit, restarts every partition's
clock, and a partition is named only after a full stall limit with the broker in sight. A record
faust really dropped is still named then, at most one stall limit later than without the outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

__all__ = ["PartitionProgress", "TopicPartitionKey"]

TopicPartitionKey = tuple[str, int]
MAX_PENDING = 1_000_000
"""Offsets remembered beyond a hole; a hole this wide is re-read from the floor anyway."""


class PartitionProgress:
    """Contiguous processed offsets per (topic, partition), and when each last moved."""

    def __init__(self) -> None:
        self._next: dict[TopicPartitionKey, int] = {}
        self._pending: dict[TopicPartitionKey, set[int]] = {}
        self._moved_at: dict[TopicPartitionKey, float] = {}
        self._change: asyncio.Future[None] | None = None
        self._blind = False

    def set_floor(self, tp: TopicPartitionKey, floor: int, now: float) -> None:
        """Start counting at `floor` (the committed offset at assignment); forgets the rest."""
        self._next[tp] = floor
        self._pending.pop(tp, None)
        self._moved_at[tp] = now
        self._notify()

    def raise_floor(self, tp: TopicPartitionKey, floor: int, now: float) -> None:
        """Everything below `floor` is known to be done (never lowers the count)."""
        if floor > self._next.get(tp, 0):
            self._next[tp] = floor
            self._absorb(tp)
            self._moved_at[tp] = now
            self._notify()

    def record(self, tp: TopicPartitionKey, offset: int, now: float) -> None:
        """The record at `offset` has been processed."""
        expected = self._next.get(tp)
        if expected is None:
            # No floor yet (no assignment seen): trust the first record.
            self._next[tp] = offset + 1
        elif offset == expected:
            self._next[tp] = offset + 1
            self._absorb(tp)
        elif offset > expected:
            pending = self._pending.setdefault(tp, set())
            if len(pending) < MAX_PENDING:
                pending.add(offset)
            return  # a hole: the contiguous count has not moved
        else:
            # A record processed again (at-least-once, a replay after the group moved back to
            # its committed offsets): nothing new, but records are flowing toward the progress.
            self._moved_at[tp] = now
            return
        self._moved_at[tp] = now
        self._notify()

    def next_offset(self, tp: TopicPartitionKey) -> int | None:
        """The first offset not yet processed (everything below it is), or None if unknown."""
        return self._next.get(tp)

    def lost_sight(self) -> None:
        """The broker could not be asked: until it answers, no partition can be judged stalled
        (nothing could be fetched either)."""
        self._blind = True

    def stalled(
        self,
        end_offsets: Mapping[TopicPartitionKey, int],
        now: float,
        after_s: float,
        *,
        asked_at: float | None = None,
    ) -> dict[TopicPartitionKey, int]:
        """Partitions with records beyond their progress that have not moved for `after_s`,
        each with the offset to seek back to. `end_offsets` is the broker's answer to a question
        asked at `asked_at`; an answer that took `after_s` or longer, or the first after
        `lost_sight`, ends a time the broker was away: the clocks restart and none is named."""
        if self._blind or (asked_at is not None and now - asked_at >= after_s):
            self._blind = False
            for tp in {*self._moved_at, *end_offsets}:
                self._moved_at[tp] = now
            return {}
        stuck = {}
        for tp, end in end_offsets.items():
            expected = self._next.get(tp)
            if expected is None or end <= expected:
                continue
            if now - self._moved_at.get(tp, now) >= after_s:
                stuck[tp] = expected
        return stuck

    def touch(self, tp: TopicPartitionKey, now: float) -> None:
        """Restart the stall clock (after a seek back, give the records time to come)."""
        self._moved_at[tp] = now

    async def changed(self) -> None:
        """Return at the next change (every waiter wakes)."""
        if self._change is None:
            self._change = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._change)

    def _absorb(self, tp: TopicPartitionKey) -> None:
        pending = self._pending.get(tp)
        while pending and self._next[tp] in pending:
            pending.discard(self._next[tp])
            self._next[tp] += 1
        if pending is not None:
            for offset in [o for o in pending if o < self._next[tp]]:
                pending.discard(offset)

    def _notify(self) -> None:
        if self._change is not None and not self._change.done():
            self._change.set_result(None)
        self._change = None
