"""Run real gate workers as subprocesses, the way an operator would, for integration tests."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

from streams.core.settings import Settings, settings_environment
from streams.edges.admin import stable_group_members
from tests.support.personal_data.collected import SESSION

__all__ = ["GateWorker", "http_get", "members_are", "wait_for", "worker_env"]


def worker_env(settings: Settings) -> dict[str, str]:
    """The SENDGATE_* environment that makes a worker process see `settings`, every setting."""
    return settings_environment(settings)


def http_get(port: int, path: str, timeout_s: float = 5.0) -> tuple[int, str]:
    """(status, body) of a GET on localhost; (0, "") when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


class GateWorker:
    """One `sendgate worker` process; its output goes to a log file in the test's folder, and
    its log and last /metrics scrape to the personal-data scan."""

    def __init__(
        self, settings: Settings, name: str, log_dir: Path, *, metrics_port: int = 0
    ) -> None:
        self.settings = settings
        self.name = name
        self.metrics_port = metrics_port
        """Where the worker serves /metrics, /healthz and /readyz; 0: nowhere (several workers
        of one test would otherwise ask for the same port)."""
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> GateWorker:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")  # a restarted worker adds to its log
        SESSION.add_file(self.log_path)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streams",
                "worker",
                "--name",
                self.name,
                "--loglevel",
                "info",
                "--metrics-port",
                str(self.metrics_port),
            ],
            env=worker_env(self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no goodbye, no commit, no flush."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self._scrape_metrics()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def _scrape_metrics(self) -> None:
        """What the worker exposed, for the scan (labels and help must name no person)."""
        if self.metrics_port:
            status, body = http_get(self.metrics_port, "/metrics")
            if status == 200:
                SESSION.add_output(f"/metrics of worker {self.name}", "metrics", body)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> GateWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.25)


async def members_are(settings: Settings, count: int) -> bool:
    return await stable_group_members(settings, settings.app_id) == count
