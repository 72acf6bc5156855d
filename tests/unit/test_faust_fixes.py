"""The fetch loop's per-record race, decided inline (streams.faust_fixes.deliver_inline_first).

The consumer here is a stand-in with the three events mode's `wait_first` reads; the real fetch
loop runs it in every integration test (the backlog and scale-out tests watch for lost records).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams import faust_fixes
from streams.faust_fixes import deliver_inline_first


class StandInConsumer:
    def __init__(self) -> None:
        self.suspend_flow = asyncio.Event()
        self._stopped = asyncio.Event()
        self._crashed = asyncio.Event()
        self.loop = asyncio.get_running_loop()


@pytest.fixture
def mode_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the calls that went to mode's own `wait_first` (each creates a task per argument)."""
    calls: list[int] = []
    original = faust_fixes._mode_wait_first

    async def counting(self: Any, *coros: Any, timeout: Any = None) -> Any:
        calls.append(len(coros))
        return await original(self, *coros, timeout=timeout)

    monkeypatch.setattr(faust_fixes, "_mode_wait_first", counting)
    return calls


async def test_a_delivery_that_does_not_block_completes_inline(mode_calls: list[int]) -> None:
    consumer = StandInConsumer()
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)

    async def deliver() -> str:
        await queue.put("event")
        return "delivered"

    result = await deliver_inline_first(consumer, deliver(), consumer.suspend_flow.wait())

    assert len(result.done) == 1  # one winner: the delivery
    assert result.results == ["delivered"]
    assert result.stopped is False
    assert queue.get_nowait() == "event"
    assert mode_calls == []


async def test_a_blocked_delivery_finishes_when_the_queue_has_room(mode_calls: list[int]) -> None:
    consumer = StandInConsumer()
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
    queue.put_nowait("earlier")

    async def deliver() -> str:
        await queue.put("event")
        return "delivered"

    racing = asyncio.ensure_future(
        deliver_inline_first(consumer, deliver(), consumer.suspend_flow.wait())
    )
    await asyncio.sleep(0.01)
    assert not racing.done()
    assert queue.get_nowait() == "earlier"

    result = await asyncio.wait_for(racing, 1)

    assert result.results == ["delivered"]
    assert queue.get_nowait() == "event"
    assert mode_calls == [2]  # the rest of the delivery was raced against the flow


async def test_a_blocked_delivery_is_abandoned_when_flow_is_suspended(
    mode_calls: list[int],
) -> None:
    consumer = StandInConsumer()
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
    queue.put_nowait("earlier")
    cancelled = asyncio.Event()

    async def deliver() -> str:
        try:
            await queue.put("event")
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "delivered"

    racing = asyncio.ensure_future(
        deliver_inline_first(consumer, deliver(), consumer.suspend_flow.wait())
    )
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()  # a rebalance

    result = await asyncio.wait_for(racing, 1)

    assert result.results == [True]  # the flow event won
    await asyncio.wait_for(cancelled.wait(), 1)
    assert queue.get_nowait() == "earlier"
    assert queue.empty()  # the abandoned event never reached the stream


async def test_an_error_in_the_delivery_propagates_inline_and_after_blocking() -> None:
    consumer = StandInConsumer()

    async def fails_at_once() -> None:
        raise ValueError("undecodable")

    with pytest.raises(ValueError, match="undecodable"):
        await deliver_inline_first(consumer, fails_at_once(), consumer.suspend_flow.wait())

    async def fails_later() -> None:
        await asyncio.sleep(0.001)
        raise ValueError("later")

    with pytest.raises(ValueError, match="later"):
        await deliver_inline_first(consumer, fails_later(), consumer.suspend_flow.wait())


async def test_a_suspended_flow_or_any_other_call_goes_to_mode(mode_calls: list[int]) -> None:
    consumer = StandInConsumer()

    async def deliver() -> str:
        return "delivered"

    consumer.suspend_flow.set()
    await deliver_inline_first(consumer, deliver(), consumer.suspend_flow.wait())
    consumer.suspend_flow.clear()
    other = asyncio.Event()
    other.set()
    await deliver_inline_first(consumer, deliver(), other.wait())  # not the flow event
    await deliver_inline_first(consumer, deliver(), timeout=1.0)

    assert mode_calls == [2, 2, 1]
