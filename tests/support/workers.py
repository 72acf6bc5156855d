"""Run real gate workers as subprocesses, the way an operator would, for integration tests."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from streams.settings import Settings, settings_environment

__all__ = ["GateWorker", "worker_env"]


def worker_env(settings: Settings) -> dict[str, str]:
    """The SENDGATE_* environment that makes a worker process see `settings`, every setting."""
    return settings_environment(settings)


class GateWorker:
    """One `sendgate worker` process; its output goes to a log file in the test's folder."""

    def __init__(self, settings: Settings, name: str, log_dir: Path) -> None:
        self.settings = settings
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> GateWorker:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker", "--name", self.name, "--loglevel", "info"],
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
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

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
