"""Run one gate worker: the faust app with its agents, until SIGINT or SIGTERM.

Start as many as you like with the same settings: they form one consumer group and share the
partitions; the one that survives a crash takes the dead one's partitions, tables and all.
"""

from __future__ import annotations

import logging

import faust

from streams.core.logs import configure_process_logging
from streams.core.settings import Settings
from streams.gate.agents import register_agents
from streams.gate.app import build_gate
from streams.gate.health import register_health

__all__ = ["run_worker"]


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
    register_health(gate, port, host=settings.metrics_host)
    logging.getLogger("streams").setLevel(loglevel.upper())
    # faust (mode) would replace the root logger's handlers with its own coloured ones; the
    # handler configured above is the one every process writes through (text or JSON lines,
    # repeated client errors throttled), so faust leaves logging alone.
    worker = faust.Worker(gate.app, loglevel=loglevel, quiet=True, override_logging=False)
    # faust's terminal spinner sets the root logger to DEBUG so it can spin on log records;
    # aiokafka then builds a debug record (with record bytes, i.e. addresses) for every send.
    worker.spinner = None
    worker.execute_from_commandline()
