"""Three changes to faust-streaming 0.15.3 (with mode-streaming 0.7.1): one fix, two speed-ups.

**Records lost at start-up (the fix).** At the end of table recovery faust resumes the stream
partitions, seeks them to their committed offsets and restarts the fetcher, then calls
`app.flow_control.resume()`, whose `FlowControlEvent.resume()` empties every stream buffer. When
flow was already running (recovery can reach that call twice, and a worker that starts on a
backlog has records in its buffers by then), records that were fetched and buffered are thrown
away; the fetch position is already past them, and faust later commits over the hole as a "gap".
For the gate that means send requests never decided and, worse, unsubscribe clicks never applied.
We empty the buffers on resume only when flow was suspended (after a revoke, the case the clearing
exists for: those records are fetched again from the committed offsets). Records that arrived while
flow was running are kept. What faust then re-delivers after its seek shows up as duplicates, which
at-least-once processing with idempotent effects allows. `tests/integration/test_backlog.py` starts
a worker on a backlog and checks that every record is decided; benchmarks/README.md ("faust start-up
loses records") tells how often records were lost before the fix.

**Four tasks per record (the speed-up).** faust's fetch loop hands each record to the conductor
with `await self.wait_first(callback(message), self.suspend_flow.wait())`, so that a rebalance
(which sets `suspend_flow`) can abandon a delivery blocked on a full stream buffer. mode's
`wait_first` wraps both awaitables, plus the service's `stopped` and `crashed` events, in tasks and
waits on all four: four tasks, about a dozen `call_soon`s and an `asyncio.wait` per record, even
though the delivery almost never blocks (it only puts the event on a queue with room). We run the
delivery first, inline, up to its first suspension; when it completes there (the usual case) the
race was already decided and nothing else is created. When it does block, the rest of it is raced
against `suspend_flow`, `stopped` and `crashed` exactly as before. This raised the gate by about a
quarter in paired benchmark runs (benchmarks/README.md). `tests/unit/test_faust_fixes.py` covers
both paths.

**A table restored a record at a time (the second speed-up).** Once faust's recovery knows where
each newly assigned active partition's store stands and where its changelog ends, partitions far
behind are first read and written in bulk (`streams.gate.bulk_restore`), and faust reads only the
rest: a brand-new worker restores a million entries in seconds instead of minutes. It wraps
`Recovery._build_offsets` for the active partitions only: standby copies catch up in the
background, and restoring them in bulk at that point would hold back the worker's first decisions.

The patches replace private behaviour of exactly these versions, so `apply_faust_fixes` refuses
any other: after an upgrade the patches could silently stop fixing anything, or break faust, and
the loss they prevent would go unnoticed until unsubscribes went missing. They are applied by
`streams.gate.app.new_faust_app`, which builds every faust App the project runs, not on import:
importing `streams.gate.app` (tests and CLI commands that never run a worker do) leaves faust as
shipped, and a refused version stops only what would run faust. Applying twice is harmless.
"""

from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import mode.utils.queues
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from mode.services import WaitResults

from streams.gate.bulk_restore import bootstrap_servers, restore_in_bulk

__all__ = [
    "PATCHED_VERSIONS",
    "UnsupportedFaustVersionError",
    "apply_faust_fixes",
    "build_offsets_restoring_in_bulk",
    "check_faust_versions",
    "deliver_inline_first",
    "resume_clearing_only_after_suspend",
]

PATCHED_VERSIONS = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1"}
"""The versions the patches were read against (pinned in constraints.txt)."""

# mode's own, taken before `apply_faust_fixes` can run (it lives in this module), so re-applying
# never wraps a patch in itself; tests restore them to show that each patch is what does the fix.
_mode_wait_first = Consumer.wait_first
_mode_resume = mode.utils.queues.FlowControlEvent.resume
_faust_build_offsets = Recovery._build_offsets


def resume_clearing_only_after_suspend(self: mode.utils.queues.FlowControlEvent) -> None:
    """`FlowControlEvent.resume`, but buffers are emptied only if flow had been suspended."""
    was_suspended = self._suspend.is_set()
    self._suspend.clear()
    self._resume.set()
    if was_suspended:
        self.clear()


@types.coroutine
def _continue(coro: Coroutine[Any, Any, Any], pending: Any) -> Generator[Any, Any, Any]:
    """Drive the rest of a coroutine that already ran to its first suspension, which yielded
    `pending` (PEP 380 delegation by hand: values and exceptions, cancellation included, go in;
    what it yields goes out to the task)."""
    while True:
        try:
            sent = yield pending
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # CancelledError too: it must reach the delivery
            try:
                pending = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                pending = coro.send(sent)
            except StopIteration as stop:
                return stop.value


async def _rest_of(coro: Coroutine[Any, Any, Any], pending: Any) -> Any:
    return await _continue(coro, pending)


async def deliver_inline_first(self: Consumer, *coros: Any, timeout: Any = None) -> WaitResults:
    """`Consumer.wait_first`, with the fetch loop's per-record race decided inline when it can be.

    Only the fetch loop's call, `wait_first(callback(message), self.suspend_flow.wait())`, takes
    the inline path, and only while flow, `stopped` and `crashed` are all clear (otherwise mode's
    race would not have let the delivery win either); every other call is mode's own.
    """
    if not (
        timeout is None
        and len(coros) == 2
        and isinstance(coros[0], types.CoroutineType)
        and isinstance(coros[1], types.CoroutineType)
        and coros[1].cr_frame is not None
        and coros[1].cr_frame.f_locals.get("self") is self.suspend_flow
        and not self.suspend_flow.is_set()
        and not self._stopped.is_set()
        and not self._crashed.is_set()
    ):
        return await _mode_wait_first(self, *coros, timeout=timeout)
    delivery, flow_suspended = coros
    try:
        pending = delivery.send(None)
    except StopIteration as stop:
        flow_suspended.close()
        return WaitResults([delivery], [stop.value], False)
    except BaseException:
        flow_suspended.close()
        raise
    return await _mode_wait_first(self, _rest_of(delivery, pending), flow_suspended)


async def build_offsets_restoring_in_bulk(
    self: Recovery, consumer: Any, tps: Any, destination: Any, title: str
) -> None:
    """`Recovery._build_offsets`, then, for the active partitions, the ones far behind their
    changelog restored in bulk and their offsets to restore from moved past what was written."""
    await _faust_build_offsets(self, consumer, tps, destination, title)
    if title != "active":
        return
    stores = {tp: self.tp_to_table[tp].data for tp in tps if tp in self.tp_to_table}
    await restore_in_bulk(bootstrap_servers(self.app), stores, destination, self.active_highwaters)


class UnsupportedFaustVersionError(RuntimeError):
    """faust-streaming or mode-streaming is not a version the patches were written for."""


def _installed(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "(not installed)"


def check_faust_versions() -> None:
    """The check on its own, so `sendgate worker` can refuse before it touches the broker."""
    installed = {name: _installed(name) for name in PATCHED_VERSIONS}
    if installed == PATCHED_VERSIONS:
        return
    have = ", ".join(f"{name} {installed[name]}" for name in PATCHED_VERSIONS)
    expected = ", ".join(f"{name} {wanted}" for name, wanted in PATCHED_VERSIONS.items())
    raise UnsupportedFaustVersionError(
        f"installed {have}, but the patches in streams/gate/faust_fixes.py were written for "
        f"{expected}; they must be re-checked against the installed version before the worker "
        "may run"
    )


def apply_faust_fixes() -> None:
    """Run by every App build; installing the same functions again changes nothing."""
    check_faust_versions()
    mode.utils.queues.FlowControlEvent.resume = resume_clearing_only_after_suspend  # type: ignore[method-assign]
    Consumer.wait_first = deliver_inline_first  # type: ignore[method-assign]
    Recovery._build_offsets = build_offsets_restoring_in_bulk  # type: ignore[method-assign]
