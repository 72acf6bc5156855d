"""Run one gate worker: the faust app with its agents, until SIGINT or SIGTERM.

Start as many as you like with the same settings: they form one consumer group and share the
partitions; the one that survives a crash takes the dead one's partitions, tables and all.
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from streams.core.logs import configure_process_logging
from streams.core.settings import Settings
from streams.gate.agents import register_agents
from streams.gate.app import build_gate
from streams.gate.health import HealthServer, register_health

__all__ = ["run_worker"]


class _Worker(faust.Worker):
    """faust's worker, serving the health endpoints from before the app starts (so during table
    recovery too) until it has stopped."""

    def __init__(self, *args: Any, health_server: HealthServer | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._health_server = health_server

    async def on_start(self) -> None:
        if self._health_server is not None:
            await self._health_server.start()
        await super().on_start()

    async def on_stop(self) -> None:
        await super().on_stop()
        if self._health_server is not None:
            await self._health_server.stop()


def run_worker(
    settings: Settings,
    *,
    worker_name: str = "worker-1",
    loglevel: str = "warning",
    metrics_port: int | None = None,
) -> None:
    """Block running a worker; returns (via SystemExit from faust) when it is stopped.
    `metrics_port` serves /metrics, /healthz and /readyz (None: the setting; 0: none)."""
    configure_process_logging(settings, service="worker", worker=worker_name, level=loglevel)
    gate = build_gate(settings, worker_name=worker_name)
    register_agents(gate)
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    health = register_health(gate)
    server = HealthServer(health, port, host=settings.metrics_host) if port else None
    logging.getLogger("streams").setLevel(loglevel.upper())
    # faust (mode) would replace the root logger's handlers with its own coloured ones; the
    # handler configured above is the one every process writes through (text or JSON lines,
    # repeated client errors throttled), so faust leaves logging alone.
    worker = _Worker(
        gate.app, loglevel=loglevel, quiet=True, override_logging=False, health_server=server
    )
    # faust's terminal spinner sets the root logger to DEBUG so it can spin on log records;
    # aiokafka then builds a debug record (with record bytes, i.e. addresses) for every send.
    worker.spinner = None
    worker.execute_from_commandline()
