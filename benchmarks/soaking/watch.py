"""The soak's watch over the gate while the load runs: each worker's resident memory and the
decider's lag every few seconds, a progress line every minute, and an end to the run as soon as a
worker dies or the load or the mix fails.

The lag is the decider's group on `send-requests` (`Settings.decided_group`): the records the gate
has not decided and committed yet, the backlog the load builds when the gate cannot keep up. The
minute's line also shows the keepers' group and the gate's decisions in the last minute, as
`sendgate status` computes them (`streams.edges.status.read_status`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiokafka.errors import KafkaError
from harness.consuming import OffsetWatcher
from harness.errors import BenchError
from harness.report import console
from harness.system import process_rss_bytes
from harness.workers import WorkerProcess

from soaking.checks import Checker
from soaking.mix import Mix
from streams.core.settings import Settings
from streams.edges.status import StatusReport, read_status
from streams.topics import SEND_REQUESTS

__all__ = ["MIB", "TICK_S", "Watch", "group_lags"]

TICK_S = 5.0
MIB = 1024 * 1024


def group_lags(report: StatusReport) -> dict[str, int]:
    """Each consumer group's lag in a status report, by group id."""
    return {group.group: group.lag for group in report.groups}


@dataclass
class Watch:
    settings: Settings
    workers: list[WorkerProcess]
    watcher: OffsetWatcher
    checker: Checker
    mix: Mix
    worker_urls: tuple[str, ...] = ()
    """Each worker's metrics and health base URL, for the minute's `/readyz`."""
    progress_s: float = 60.0
    rss: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    """Per worker: (seconds into the soak, resident bytes)."""
    lags: list[tuple[float, int]] = field(default_factory=list)
    """(seconds into the soak, the decider's lag)."""
    lines: list[dict[str, object]] = field(default_factory=list)

    def sample_rss(self, elapsed: float) -> dict[str, int]:
        """Every worker's resident memory now, kept; a worker that has exited ends the run."""
        now: dict[str, int] = {}
        for worker in self.workers:
            worker.check_alive()
            rss = process_rss_bytes(worker.process.pid)
            if rss is None:
                worker.check_alive()  # it exited between the two reads
                continue
            self.rss.setdefault(worker.name, []).append((elapsed, rss))
            now[worker.name] = rss
        return now

    def _check(self, tasks: Mapping[str, asyncio.Task[None]]) -> None:
        for name, task in tasks.items():
            if task.done():
                error = None if task.cancelled() else task.exception()
                raise BenchError(f"the {name} stopped during the soak: {error!r}")
        if self.mix.errors:
            raise BenchError(f"a probe's send failed: {self.mix.errors[0]!r}")

    async def run(self, seconds: float, tasks: Mapping[str, asyncio.Task[None]]) -> None:
        """Watch for `seconds`; returns then, or raises `BenchError` on the first failure."""
        started = time.monotonic()
        next_line = self.progress_s
        sends_topic = SEND_REQUESTS.full_name(self.settings)
        with console.status("soak: starting") as status:
            while True:
                elapsed = time.monotonic() - started
                rss = self.sample_rss(elapsed)
                self._check(tasks)
                lag = await self.watcher.lag(self.settings.decided_group, sends_topic)
                self.lags.append((elapsed, lag))
                memory = ", ".join(f"{name} {value / MIB:,.0f}" for name, value in rss.items())
                status.update(
                    f"soak {elapsed / 60:4.1f}/{seconds / 60:.1f} min: sent "
                    f"{len(self.checker.sends):,}, decided {self.checker.distinct:,}, "
                    f"lag {lag:,}, RSS MiB {memory}"
                )
                if elapsed >= next_line or elapsed >= seconds:
                    await self._progress_line(elapsed, lag, rss)
                    next_line += self.progress_s
                if elapsed >= seconds:
                    return
                wait = min(TICK_S, seconds - (time.monotonic() - started))
                await asyncio.sleep(max(wait, 0.0))

    async def _progress_line(self, elapsed: float, lag: int, rss: Mapping[str, int]) -> None:
        keepers: int | None = None
        rate: float | None = None
        ready: int | None = None
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            report = await asyncio.wait_for(read_status(self.settings, self.worker_urls), 30)
            keepers = group_lags(report).get(self.settings.app_id)
            rate = report.decisions_per_second
            ready = sum(bool(worker.ready) for worker in report.workers)
        line = {
            "minute": round(elapsed / 60, 2),
            "sent": len(self.checker.sends),
            "decided": self.checker.distinct,
            "decider_lag": lag,
            "keepers_lag": keepers,
            "decisions_per_s_last_minute": rate,
            "workers_ready": ready,
            "rss_mib": {name: round(value / MIB, 1) for name, value in rss.items()},
            "allowed_suppressed": sum(self.checker.allowed_suppressed.values()),
        }
        self.lines.append(line)

        def figure(value: float | None) -> str:
            return "-" if value is None else f"{value:,.0f}"

        memory = ", ".join(f"{name} {value / MIB:,.0f}" for name, value in rss.items())
        console.print(
            f"{elapsed / 60:5.1f} min  sent {line['sent']:>9,}  decided {line['decided']:>9,}  "
            f"lag {lag:>6,} (keepers {figure(keepers)})  {figure(rate)} decisions/s last min  "
            f"ready {figure(ready)}/{len(self.workers)}  RSS MiB {memory}  "
            f"allowed suppressed {line['allowed_suppressed']}"
        )
