"""A verify shared among processes, one share of the partitions each.

Deciding again is pure Python and holds one core; a replay has no order to keep across
partitions (each request's state is in its decision), so the partitions are dealt out to
`processes` workers and their reports merged. Each worker is a fresh interpreter (`spawn`: no
event loop or Kafka client is inherited half-open) that reads its partitions with its own
group-less consumers; they tell the parent how far they are through shared memory, which the
parent turns into progress.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from streams.core.settings import Settings
from streams.edges.admin import partition_counts
from streams.replay.policies import PolicyBook
from streams.replay.recorded import ReplayScope
from streams.replay.runs import VerifyReport, merged, verify
from streams.topics import SEND_REQUESTS

__all__ = ["default_processes", "verify_in_processes"]

_decided: Any = None
"""This worker's slot in the shared counters (set by `_start`)."""


def default_processes() -> int:
    """One process per core this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


def _start(counters: Any, slot_of: dict[int, int]) -> None:
    global _decided
    _decided = (counters, slot_of)


def _verify_share(
    settings: Settings, scope: ReplayScope, policies: PolicyBook, partitions: list[int]
) -> VerifyReport:
    counters, slot_of = _decided
    slot = slot_of[min(partitions)]

    def decided(count: int) -> None:
        counters[slot] = count

    return asyncio.run(verify(settings, scope, policies, partitions=partitions, on_decided=decided))


async def verify_in_processes(
    settings: Settings,
    scope: ReplayScope,
    policies: PolicyBook,
    *,
    processes: int,
    on_decided: Callable[[int], None] | None = None,
) -> VerifyReport:
    """`verify`, the partitions dealt out round-robin to `processes` worker processes."""
    topic = SEND_REQUESTS.full_name(settings)
    count = (await partition_counts(settings, [topic])).get(topic) or 0
    shares = [list(range(n, count, processes)) for n in range(min(processes, count))]
    if len(shares) <= 1:
        return await verify(settings, scope, policies, on_decided=on_decided)
    context = multiprocessing.get_context("spawn")
    counters = context.Array("q", len(shares), lock=False)
    slot_of = {min(share): n for n, share in enumerate(shares)}
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(
        len(shares), mp_context=context, initializer=_start, initargs=(counters, slot_of)
    ) as pool:
        running = [
            loop.run_in_executor(pool, _verify_share, settings, scope, policies, share)
            for share in shares
        ]
        while not all(task.done() for task in running):
            if on_decided is not None:
                on_decided(sum(counters))
            await asyncio.wait(running, timeout=0.25)
        reports = [task.result() for task in running]
    whole = merged(reports, time.perf_counter() - started)
    if on_decided is not None:
        on_decided(whole.decisions)
    return whole
