"""Start and stop a gate worker as a subprocess whose output goes to a log file.

The worker is `streams.gate.worker.run_worker` in a fresh interpreter. Its `Settings()` come from
`SENDGATE_*` variables made from the caller's settings (`worker_environment`), so the two agree
on broker, topic prefix, partitions and recipient-key secret without a settings file. It runs in a
session of its own: a Ctrl-C at the terminal reaches only the caller, which then stops the worker
the orderly way (SIGTERM, and SIGKILL only after a bounded wait). faust logs a lot at start-up;
all of it goes to the log file, none to the terminal.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from streams.core.errors import SendgateError
from streams.core.settings import PROJECT_ROOT, Settings, settings_environment

__all__ = ["WorkerProcess", "display_path", "start_worker", "worker_environment"]

_WORKER_CODE = (
    "from streams.core.settings import Settings\n"
    "from streams.gate.worker import run_worker\n"
    "run_worker(Settings(), worker_name='demo-worker', loglevel='info')\n"
)
_NOT_FOR_THE_WORKER = frozenset({"database_url"})
"""Settings the worker does not use, so it is not handed them (a URL may hold a password)."""


def display_path(path: Path) -> str:
    """A path as the user would type it from the current folder, when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def worker_environment(settings: Settings, data_dir: Path) -> dict[str, str]:
    """The environment that makes `Settings()` in the worker equal `settings` (bar the ledger),
    with its own data folder."""
    environment = settings_environment(settings, leave_out=_NOT_FOR_THE_WORKER)
    environment["SENDGATE_DATA_DIR"] = str(data_dir)
    return environment


@dataclass
class WorkerProcess:
    """A running gate worker and the log file its output goes to."""

    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def check_alive(self, waiting_for: str) -> None:
        """Raise, pointing at the log, if the worker has exited."""
        code = self.process.poll()
        if code is not None:
            raise SendgateError(
                f"the gate worker exited (code {code}) while the demo waited for {waiting_for}; "
                f"see its log: {display_path(self.log_path)}"
            )

    async def stop(self, timeout_s: float) -> int | None:
        """SIGTERM, wait up to `timeout_s`, then SIGKILL; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while self.process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if self.process.poll() is None:
                self.process.kill()
                await asyncio.to_thread(self.process.wait)
        self.log_file.close()
        return self.process.returncode


def start_worker(settings: Settings, data_dir: Path) -> WorkerProcess:
    """Start a worker with `settings`, its state and `worker.log` in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "worker.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", _WORKER_CODE],
        env=worker_environment(settings, data_dir),
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return WorkerProcess(process, log_path, log_file)
