"""A fix for faust-streaming 0.15.3 (with mode-streaming 0.7.1) that loses records at start-up.

What goes wrong: at the end of table recovery faust resumes the stream partitions, seeks them to
their committed offsets and restarts the fetcher, then calls `app.flow_control.resume()`, whose
`FlowControlEvent.resume()` empties every stream buffer. When flow was already running (recovery
can reach that call twice, and a worker that starts on a backlog has records in its buffers by
then), records that were fetched and buffered are thrown away; the fetch position is already past
them, and faust later commits over the hole as a "gap". For the gate that means send requests
never decided and, worse, unsubscribe clicks never applied.

The fix: empty the buffers on resume only when flow was suspended (after a revoke, the case the
clearing exists for: those records are fetched again from the committed offsets). Records that
arrived while flow was running are kept. What faust then re-delivers after its seek shows up as
duplicates, which at-least-once processing with idempotent effects allows.

`tests/integration/test_backlog.py` starts a worker on a backlog and checks that every record is
decided; `benchmarks/gate_throughput.py --no-faust-startup-fix` shows the loss without the fix.
Applied once, on import of `streams.app`, before any faust App exists.
"""

from __future__ import annotations

import mode.utils.queues

__all__ = ["apply_faust_fixes", "resume_clearing_only_after_suspend"]


def resume_clearing_only_after_suspend(self: mode.utils.queues.FlowControlEvent) -> None:
    """`FlowControlEvent.resume`, but buffers are emptied only if flow had been suspended."""
    was_suspended = self._suspend.is_set()
    self._suspend.clear()
    self._resume.set()
    if was_suspended:
        self.clear()


def apply_faust_fixes() -> None:
    mode.utils.queues.FlowControlEvent.resume = resume_clearing_only_after_suspend  # type: ignore[method-assign]
