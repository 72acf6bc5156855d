"""Run real gate workers as subprocesses, the way an operator would, for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from streams.settings import Settings

__all__ = ["GateWorker", "worker_env"]


def worker_env(settings: Settings) -> dict[str, str]:
    """The SENDGATE_* environment that makes a worker process see `settings`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SENDGATE_")}
    secret = settings.recipient_key_secret
    env.update(
        {
            "SENDGATE_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "SENDGATE_TOPIC_PREFIX": settings.topic_prefix,
            "SENDGATE_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "SENDGATE_DATA_DIR": str(settings.data_dir),
            "SENDGATE_DATABASE_URL": settings.database_url.get_secret_value(),
            "SENDGATE_WORKER_SESSION_TIMEOUT_S": str(settings.worker_session_timeout_s),
            "SENDGATE_STATE_FENCE_TIMEOUT_S": str(settings.state_fence_timeout_s),
            "SENDGATE_UNSUBSCRIBE_BASE_URL": settings.unsubscribe_base_url,
        }
    )
    if secret is not None:
        env["SENDGATE_RECIPIENT_KEY_SECRET"] = secret.get_secret_value()
    if settings.clock_file is not None:
        env["SENDGATE_CLOCK_FILE"] = str(settings.clock_file)
    if settings.policy_file is not None:
        env["SENDGATE_POLICY_FILE"] = str(settings.policy_file)
    env["SENDGATE_CONSENT_TIMER_INTERVAL_S"] = str(settings.consent_timer_interval_s)
    return env


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
