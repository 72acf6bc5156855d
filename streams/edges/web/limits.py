"""The unsubscribe service's in-memory limits (`streams.edges.web.app`): requests per client,
confirmation mails per recipient key and for the whole service.

Kept apart from the routes so the arithmetic can be read on its own. Both limits live in this
process's memory only, bounded in size (the oldest entries go first), and never logged: they hold
peer addresses and recipient keys, never email addresses. Losing them on a restart only resets
the limits, which is harmless. Time is the monotonic clock: a limit must not jump with the wall
clock, and it has nothing to do with the injected clock that stamps records.
"""

from __future__ import annotations

import time
from collections import OrderedDict

__all__ = ["REMEMBERED_CONFIRMATIONS", "OncePer", "TokenBuckets"]

REMEMBERED_CONFIRMATIONS = 100_000


class TokenBuckets:
    """Token buckets per client, bounded; only in memory.

    A bucket holds up to `per_minute` requests and refills at `per_minute` a minute, so a burst
    the size of a minute's allowance passes and a steady stream is held to the rate. With
    `clients=1` and a single client name it is a limit for the whole service."""

    def __init__(self, per_minute: int, clients: int = 10_000) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(per_minute)
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._clients = clients

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        tokens, last = self._state.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        allowed = tokens >= 1.0
        self._state[client] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._state) > self._clients:
            self._state.popitem(last=False)
        return allowed


class OncePer:
    """At most one confirmation per recipient key per interval; bounded, only in memory.

    Keys are kept in the order they were allowed, so the expired ones are always at the front."""

    def __init__(self, interval_s: float, keys: int = REMEMBERED_CONFIRMATIONS) -> None:
        self._interval_s = interval_s
        self._last: OrderedDict[str, float] = OrderedDict()
        self._keys = keys

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        while self._last and next(iter(self._last.values())) <= now - self._interval_s:
            self._last.popitem(last=False)
        if key in self._last:
            return False
        self._last[key] = now
        while len(self._last) > self._keys:
            self._last.popitem(last=False)
        return True
