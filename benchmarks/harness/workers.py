"""Worker subprocesses: started with the run's settings, checked while the run waits on them,
stopped cleanly at the end, and what their logs say.

A worker runs in a process of its own, as in production, so its CPU can be measured apart from
the benchmark's, and a crash in it ends the phase that waits on it with the log's last lines.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.errors import BenchError
from harness.report import console
from streams.core.settings import PROJECT_ROOT, Settings, settings_environment

__all__ = [
    "WorkerProcess",
    "cli_worker_code",
    "group_joins",
    "keep_worker_log",
    "start_worker",
    "worker_env",
    "worker_log_findings",
]

_LOG_PROBLEM = re.compile(r"\b(Traceback|ERROR|CRITICAL|WARNING|Exception)\b")
_LOG_PREFIX = re.compile(r"^\[[^\]]*\]\s*\[\d+\]\s*")
_LOG_STAMP = re.compile(r"^\[?(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})")
_JOINED = re.compile(r"Joined group '[^']*' \(generation (\d+)\)")


def cli_worker_code(name: str, loglevel: str = "warning") -> str:
    """The code of a gate worker started as `sendgate worker` starts it (topics made already)."""
    return (
        "from streams.cli import main\n"
        f"main(['worker', '--name', {name!r}, '--loglevel', {loglevel!r}, '--no-create-topics'])\n"
    )


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment a worker subprocess reads the run's settings from: every one of them
    (`streams.core.settings.settings_environment`), and no other SENDGATE_* of this process."""
    if settings.recipient_key_secret is None:
        raise BenchError("benchmark settings need an explicit recipient key secret")
    return settings_environment(settings, leave_out=frozenset({"database_url"}))


class WorkerProcess:
    """A Python subprocess (a faust worker) with its output in a log file.

    `stop()` sends SIGTERM, which faust answers by shutting down cleanly (flush, commit, exit);
    after `stop_timeout_s` it is killed. Every started worker is stopped by `stop_all()`.
    """

    _running: list[WorkerProcess] = []  # noqa: RUF012 - process-wide registry on purpose

    patches: tuple[Path, ...] = ()
    """Python files every worker runs before it starts (`--worker-patch`): try a change to the
    gate or to faust without editing `streams/`."""

    def __init__(self, name: str, code: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        prelude = [
            f"exec(compile(open({str(path)!r}).read(), {str(path)!r}, 'exec'))\n"
            for path in WorkerProcess.patches
        ]
        code = "".join(prelude) + code
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C at the terminal reaches us, we stop it
        )
        self.started_at = time.monotonic()
        WorkerProcess._running.append(self)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if not self.alive:
            raise BenchError(
                f"worker {self.name} exited with code {self.process.returncode}; "
                f"last lines of {self.log_path}:\n{self.tail()}"
            )

    def stop(self, stop_timeout_s: float = 60.0) -> int:
        """SIGTERM, wait, SIGKILL if needed; returns the exit code."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(stop_timeout_s)
            except subprocess.TimeoutExpired:
                console.print(f"[yellow]worker {self.name} ignored SIGTERM; killing it[/]")
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        if self in WorkerProcess._running:
            WorkerProcess._running.remove(self)
        return self.process.returncode

    @classmethod
    def stop_all(cls) -> None:
        for worker in list(cls._running):
            worker.stop(stop_timeout_s=30.0)


def worker_log_findings(
    path: Path, *, between: tuple[datetime, datetime] | None = None
) -> dict[str, Any]:
    """Tracebacks, errors and warnings in the worker's log, grouped by their text with the numbers
    taken out, most frequent first.

    With `between` (local wall clock, as the log stamps its lines), only the lines stamped in that
    span, a line without a stamp (a traceback's) going with the stamped line before it: what the
    worker said during one phase, apart from its start-up and set-up."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {"read": False}
    if between is not None:
        lines = _lines_between(lines, *between)
    hits = [line for line in lines if _LOG_PROBLEM.search(line)]
    kinds = Counter(re.sub(r"\d+", "N", _LOG_PREFIX.sub("", line)).strip()[:160] for line in hits)
    return {
        "read": True,
        "lines": len(lines),
        "tracebacks": sum("Traceback" in line for line in lines),
        "problem_lines": len(hits),
        "problem_kinds": dict(kinds.most_common(15)),
    }


def _lines_between(lines: list[str], start: datetime, end: datetime) -> list[str]:
    first, last = start.replace(microsecond=0), end
    kept: list[str] = []
    stamp: datetime | None = None
    for line in lines:
        found = _LOG_STAMP.match(line)
        if found:
            stamp = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S")
        if stamp is not None and first <= stamp <= last:
            kept.append(line)
    return kept


def group_joins(worker: WorkerProcess) -> int:
    """How often the worker has joined its consumer group so far: once at start, once more for
    every rebalance it took part in. Counted from its log's "Joined group" lines, which faust
    writes at loglevel info (`cli_worker_code(..., loglevel="info")`)."""
    try:
        return len(_JOINED.findall(worker.log_path.read_text(errors="replace")))
    except OSError:
        return 0


def keep_worker_log(worker: WorkerProcess, settings: Settings) -> dict[str, Any]:
    """Copy the worker's log out of the run's data folder (removed after a good run) and say
    where it is and what it holds."""
    kept = Path(tempfile.gettempdir()) / f"{settings.topic_prefix}worker-{worker.name}.log"
    shutil.copy(worker.log_path, kept)
    return {"path": str(kept), **worker_log_findings(kept)}


def start_worker(settings: Settings, data_dir: Path, name: str, code: str) -> WorkerProcess:
    """Start `code` as worker `name` with the run's settings, its log `worker-<name>.log` in the
    run's data folder."""
    return WorkerProcess(name, code, worker_env(settings), data_dir / f"worker-{name}.log")
