"""Which recipients have a consent notice coming due, so the consent timer need not scan the table.

faust cannot write a table from a timer (only from an agent's stream), and a table scan per tick
would not scale. So the timer keeps this in-memory index of (due time, recipient key); when a
deadline passes it publishes a `ConsentDeadline` nudge on the recipient's partition, and the
consent agent, in stream context, decides from the table what is actually due and emits it.

The index is rebuilt from the table after every recovery (a restart, a rebalance), so a worker
that was down when a consent lapsed still says so once it is back. It may hold stale or
duplicate deadlines: a nudge is only a request to look, and looking twice emits nothing twice.
"""

from __future__ import annotations

import heapq
from datetime import datetime

__all__ = ["DeadlineIndex"]


class DeadlineIndex:
    """Recipient keys by the next moment one of their consent notices falls due."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, bytes]] = []
        self._next: dict[bytes, datetime] = {}
        self.needs_scan = True
        """Set after a recovery: the timer reads the whole table into the index again."""

    def __len__(self) -> int:
        return len(self._next)

    def watch(self, key: bytes, due: datetime | None) -> None:
        """Remember the recipient's next deadline (None: it has none any more)."""
        if due is None:
            self._next.pop(key, None)
            return
        if self._next.get(key) == due:
            return
        self._next[key] = due
        heapq.heappush(self._heap, (due, key))

    def pop_due(self, now: datetime, *, limit: int = 10_000) -> list[bytes]:
        """Keys whose deadline is at or before `now`, each once; they leave the index until the
        consent agent watches them again."""
        due: list[bytes] = []
        while self._heap and self._heap[0][0] <= now and len(due) < limit:
            moment, key = heapq.heappop(self._heap)
            if self._next.get(key) != moment:
                continue  # superseded by a later watch
            del self._next[key]
            due.append(key)
        return due

    def reset(self) -> None:
        self._heap.clear()
        self._next.clear()
        self.needs_scan = True
