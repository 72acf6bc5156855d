"""The worker writes through sendgate's handler, not faust's: faust (mode) would otherwise clear
the root logger's handlers and put its own coloured ones there."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from streams.core.logs import JsonLineFormatter, RepeatThrottle
from streams.core.settings import Settings
from streams.gate import worker as worker_module


@pytest.fixture
def root_handlers() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    streams_level = logging.getLogger("streams").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("streams").setLevel(streams_level)


def test_run_worker_logs_json_lines_through_one_throttled_handler(
    monkeypatch: pytest.MonkeyPatch, root_handlers: None
) -> None:
    started: dict[str, Any] = {}

    class FakeWorker:
        def __init__(self, app: Any, **options: Any) -> None:
            started.update(options)

        def execute_from_commandline(self) -> None:
            started["ran"] = True

    class FakeGate:
        app = object()

    monkeypatch.setattr(worker_module, "build_gate", lambda settings, worker_name: FakeGate())
    monkeypatch.setattr(worker_module, "register_agents", lambda gate: None)
    monkeypatch.setattr(worker_module, "register_health", lambda gate: None)
    monkeypatch.setattr(worker_module, "_Worker", FakeWorker)
    worker_module.run_worker(Settings(log_format="json"), worker_name="worker-3", loglevel="info")
    assert started["ran"]
    assert started["override_logging"] is False
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonLineFormatter)]
    assert len(ours) == 1
    assert any(isinstance(f, RepeatThrottle) for f in ours[0].filters)
    stamped = logging.LogRecord("faust.transport.consumer", logging.ERROR, "", 1, "x", None, None)
    ours[0].filter(stamped)
    assert (stamped.service, stamped.worker) == ("worker", "worker-3")
