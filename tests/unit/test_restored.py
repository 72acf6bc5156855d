"""The restore fence (streams.gate.restored): no decision on a table partition restored short."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest
from faust.types import TP

from streams.gate.fence import FenceTimeoutError
from streams.gate.restored import RestoreFence


class ChangelogTopic:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name


class StandInTable:
    """A table's changelog name and the offsets its local store says it has applied."""

    def __init__(self, name: str) -> None:
        self.changelog_topic = ChangelogTopic(f"{name}-changelog")
        self.persisted: dict[int, int] = {}

    def persisted_offset(self, tp: TP) -> int | None:
        return self.persisted.get(tp.partition)


class Ends:
    def __init__(self, ends: dict[tuple[str, int], int]) -> None:
        self.ends = ends

    async def end_offsets_of(self, tps: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return {tp: self.ends.get(tp, 0) for tp in tps}


async def test_a_partition_waits_until_every_table_reached_its_changelog_end() -> None:
    suppressions, consents = StandInTable("suppressions"), StandInTable("consents")
    ends = Ends({("suppressions-changelog", 0): 500, ("consents-changelog", 0): 20})
    fence = RestoreFence((suppressions, consents), ends, timeout_s=5)
    await fence.on_assigned(p for p in (0, 1))  # any iterable, read once: the worker passes one
    suppressions.persisted[0] = 498  # one record short of offset 499
    consents.persisted[0] = 18
    assert fence.short([0]) == [
        "suppressions-changelog/0 at 498 of 499",
        "consents-changelog/0 at 18 of 19",
    ]
    waiting = asyncio.create_task(fence.wait([0, 1]))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    suppressions.persisted[0] = 499
    await asyncio.sleep(0.1)
    assert not waiting.done()  # the consents are still short
    consents.persisted[0] = 19
    await asyncio.wait_for(waiting, 1)
    assert fence.short([0, 1]) == []


async def test_a_table_restored_short_fails_the_batch_closed() -> None:
    suppressions = StandInTable("suppressions")
    fence = RestoreFence((suppressions,), Ends({("suppressions-changelog", 3): 946}), timeout_s=0.2)
    await fence.on_assigned([3])
    with pytest.raises(FenceTimeoutError, match="suppressions-changelog/3 at None of 945"):
        await fence.wait([3])


async def test_an_empty_changelog_and_an_unassigned_partition_need_nothing() -> None:
    suppressions = StandInTable("suppressions")
    fence = RestoreFence((suppressions,), Ends({}), timeout_s=0.2)
    await fence.on_assigned([0])
    await fence.wait([0, 5])
    assert fence.short([0, 5]) == []
