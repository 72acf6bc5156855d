"""The patches of faust and mode in streams.gate.faust_fixes, and the version check that guards
them.

The consumer here is a stand-in with the three events mode's `wait_first` reads; the real fetch
loop runs it in every integration test (the backlog and scale-out tests watch for lost records).
The tests that call faust's and mode's own classes start from them as shipped (the `unpatched`
fixture), so they fail if `apply_faust_fixes` stops installing a patch.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.types import TP
from mode.utils.queues import FlowControlEvent, ThrowableQueue
from yarl import URL

from streams.cli import EXIT_SENDGATE_ERROR, main
from streams.gate import faust_fixes
from streams.gate.faust_fixes import (
    PATCHED_VERSIONS,
    UnsupportedFaustVersionError,
    apply_faust_fixes,
    deliver_inline_first,
    resume_clearing_only_after_suspend,
)


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


# --- the patches as installed on faust's and mode's classes ---------------------------------------


@pytest.fixture
def unpatched(monkeypatch: pytest.MonkeyPatch) -> None:
    """faust and mode as shipped, whatever an earlier test applied; put back afterwards."""
    monkeypatch.setattr(FlowControlEvent, "resume", faust_fixes._mode_resume)
    monkeypatch.setattr(Consumer, "wait_first", faust_fixes._mode_wait_first)
    monkeypatch.setattr(Recovery, "_build_offsets", faust_fixes._faust_build_offsets)


async def test_resume_keeps_buffered_records_unless_flow_was_suspended(unpatched: None) -> None:
    apply_faust_fixes()
    flow = FlowControlEvent(initially_suspended=False)
    buffer: ThrowableQueue[str] = ThrowableQueue(
        maxsize=10, flow_control=flow, clear_on_resume=True
    )
    await buffer.put("fetched while flow was running")

    flow.resume()  # recovery's resume, flow never suspended

    assert buffer.qsize() == 1

    flow.suspend()  # a revoke
    flow.resume()

    assert buffer.empty()  # those records are fetched again from the committed offsets


async def test_the_consumer_delivers_inline_without_creating_tasks(
    unpatched: None, mode_calls: list[int]
) -> None:
    apply_faust_fixes()
    consumer = StandInConsumer()
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)

    async def deliver() -> str:
        await queue.put("event")
        return "delivered"

    loop = asyncio.get_running_loop()
    previous_factory = loop.get_task_factory()
    tasks: list[Any] = []

    def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        tasks.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting_factory)
    try:
        result = await Consumer.wait_first(consumer, deliver(), consumer.suspend_flow.wait())  # type: ignore[arg-type]
    finally:
        loop.set_task_factory(previous_factory)

    assert result.results == ["delivered"]
    assert queue.get_nowait() == "event"
    assert tasks == []
    assert mode_calls == []


async def test_applying_twice_is_harmless(unpatched: None, mode_calls: list[int]) -> None:
    apply_faust_fixes()
    apply_faust_fixes()

    assert FlowControlEvent.resume is resume_clearing_only_after_suspend
    assert Consumer.wait_first is deliver_inline_first
    consumer = StandInConsumer()

    async def deliver() -> str:
        return "delivered"

    result = await Consumer.wait_first(consumer, deliver(), consumer.suspend_flow.wait())  # type: ignore[arg-type]
    assert result.results == ["delivered"]
    assert mode_calls == []


# --- the version check ----------------------------------------------------------------------------


def _installed_versions(monkeypatch: pytest.MonkeyPatch, package: str, installed: str) -> None:
    versions = {**PATCHED_VERSIONS, package: installed}
    monkeypatch.setattr(faust_fixes, "version", versions.__getitem__)


@pytest.mark.parametrize(
    ("package", "installed", "message"),
    [
        (
            "faust-streaming",
            "0.16.0",
            "installed faust-streaming 0.16.0, mode-streaming 0.7.1, but the patches in "
            "streams/gate/faust_fixes.py were written for faust-streaming 0.15.3, "
            "mode-streaming 0.7.1; "
            "they must be re-checked against the installed version before the worker may run",
        ),
        (
            "mode-streaming",
            "0.8.0",
            "installed faust-streaming 0.15.3, mode-streaming 0.8.0, but the patches in "
            "streams/gate/faust_fixes.py were written for faust-streaming 0.15.3, "
            "mode-streaming 0.7.1; "
            "they must be re-checked against the installed version before the worker may run",
        ),
    ],
)
def test_other_versions_are_refused_and_nothing_is_patched(
    unpatched: None, monkeypatch: pytest.MonkeyPatch, package: str, installed: str, message: str
) -> None:
    _installed_versions(monkeypatch, package, installed)

    with pytest.raises(UnsupportedFaustVersionError) as refusal:
        apply_faust_fixes()

    assert isinstance(refusal.value, RuntimeError)
    assert str(refusal.value) == message
    assert FlowControlEvent.resume is faust_fixes._mode_resume
    assert Consumer.wait_first is faust_fixes._mode_wait_first


def test_the_pinned_versions_are_the_patched_ones() -> None:
    """constraints.txt and the check must not drift apart (an upgrade changes both, on purpose)."""
    constraints = Path(__file__).resolve().parents[2] / "constraints.txt"
    pins = dict(
        line.split("==", 1)
        for line in constraints.read_text().splitlines()
        if line.split("==", 1)[0] in PATCHED_VERSIONS
    )
    assert pins == PATCHED_VERSIONS


def test_the_worker_command_refuses_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _installed_versions(monkeypatch, "faust-streaming", "0.16.0")

    def no_broker(*args: object, **kwargs: object) -> None:
        raise AssertionError("the version is checked before the broker is contacted")

    # `streams.cli.worker` the attribute is the command; the module is what holds wait_for_broker
    worker_module = importlib.import_module("streams.cli.worker")
    monkeypatch.setattr(worker_module, "wait_for_broker", no_broker)

    with pytest.raises(SystemExit) as exit_info:
        main(["worker"])

    captured = capsys.readouterr()
    assert exit_info.value.code == EXIT_SENDGATE_ERROR
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert "faust-streaming 0.16.0" in lines[0]
    assert "faust-streaming 0.15.3" in lines[0]


async def test_recovery_restores_active_partitions_in_bulk_only(
    unpatched: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After faust built a partition's offsets to restore from, an active one (never a standby)
    goes to the bulk restore with its table's store, the offsets to move, and the changelog's
    last offsets, read through the brokers faust's consumer uses."""
    apply_faust_fixes()
    built: list[str] = []
    bulk: list[tuple[Any, ...]] = []

    async def faust_builds(
        self: Any, consumer: Any, tps: Any, destination: Any, title: str
    ) -> None:
        built.append(title)
        destination.update({tp: -1 for tp in tps})

    async def restore(bootstrap: str, stores: Any, applied: Any, last: Any) -> int:
        bulk.append((bootstrap, stores, dict(applied), last))
        return 0

    monkeypatch.setattr(faust_fixes, "_faust_build_offsets", faust_builds)
    monkeypatch.setattr(faust_fixes, "restore_in_bulk", restore)
    tp = TP("gate-suppressions-changelog", 3)

    class Table:
        data = object()

    recovery = SimpleNamespace(
        app=SimpleNamespace(conf=SimpleNamespace(broker_consumer=[URL("kafka://k1:9093")])),
        tp_to_table={tp: Table},
        active_highwaters={tp: 99_999},
    )
    await Recovery._build_offsets(recovery, None, {tp}, {}, "standby")  # type: ignore[arg-type]
    await Recovery._build_offsets(recovery, None, {tp}, {}, "active")  # type: ignore[arg-type]

    assert built == ["standby", "active"]
    assert bulk == [("k1:9093", {tp: Table.data}, {tp: -1}, {tp: 99_999})]
