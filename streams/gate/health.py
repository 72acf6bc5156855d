"""The worker's HTTP face for operators: `/metrics` (Prometheus), `/healthz` and `/readyz`.

A small aiohttp server in the worker's own event loop, on `worker_metrics_port` (0: none), not
faust's web server: faust's also serves table views and its own pages, which an operator does not
need and a scrape should not be able to reach. The gauges are read at scrape time
(`streams.gate.metrics.WorkerCollector`); readiness combines recovery, the assignment and the
last time the broker answered a cheap request, checked every `BROKER_CHECK_INTERVAL_S`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from streams.gate.app import Gate
from streams.gate.metrics import (
    REBALANCES,
    WorkerCollector,
    assigned_partitions,
    is_recovered,
    readiness,
)

__all__ = ["BROKER_CHECK_INTERVAL_S", "Health", "HealthServer", "register_health"]

log = logging.getLogger(__name__)

BROKER_CHECK_INTERVAL_S = 5.0


class Health:
    """What `/readyz` reads: the app's recovery and assignment, and when the broker last
    answered."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self.broker_seen_at: float | None = None

    def broker_answered(self) -> None:
        self.broker_seen_at = time.monotonic()

    def state(self) -> tuple[bool, dict[str, Any]]:
        app = self._gate.app
        assigned = len(assigned_partitions(app))
        seen = None if self.broker_seen_at is None else time.monotonic() - self.broker_seen_at
        verdict = readiness(recovered=is_recovered(app), assigned=assigned, broker_seen_s=seen)
        return verdict.ready, {
            "ready": verdict.ready,
            "reasons": list(verdict.reasons),
            "assigned_partitions": assigned,
            "broker_seen_s_ago": None if seen is None else round(seen, 1),
        }


def make_web_app(health: Health) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def readyz(_: web.Request) -> web.Response:
        ready, body = health.state()
        return web.Response(
            status=200 if ready else 503,
            text=json.dumps(body),
            content_type="application/json",
        )

    application = web.Application()
    application.router.add_get("/metrics", metrics)
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/readyz", readyz)
    return application


_COLLECTORS: dict[int, WorkerCollector] = {}


def register_health(gate: Gate) -> Health:
    """Count rebalances, watch the broker and register the worker's gauges; `HealthServer`
    serves them."""
    app = gate.app
    health = Health(gate)
    collector = WorkerCollector(app, gate.app.tables.values(), getattr(gate, "decider", None))
    previous = _COLLECTORS.pop(id(app), None)
    if previous is not None:
        REGISTRY.unregister(previous)
    REGISTRY.register(collector)
    _COLLECTORS[id(app)] = collector

    @app.on_partitions_assigned.connect
    async def count_rebalance(app: Any, assigned: Any, **kwargs: Any) -> None:
        REBALANCES.inc()
        health.broker_answered()

    @app.timer(interval=BROKER_CHECK_INTERVAL_S)
    async def check_broker() -> None:
        """A cheap request (the end offset of one partition of the clicks topic): an answer
        means the broker is reachable from this worker now."""
        try:
            await gate.offsets.end_offsets_of([(gate.fence.state_topic, 0)])
        except Exception as exc:
            log.debug("broker check failed: %s", type(exc).__name__)
            return
        health.broker_answered()

    return health


class HealthServer:
    """The three paths on one port, served from before the app starts until it stops.

    faust starts an app's tasks only once its tables are recovered, and a long restore is
    exactly when an operator wants `/readyz` saying "recovering" and `/metrics` showing how
    many records are left; so the worker starts this itself, before the app
    (`streams.gate.worker`)."""

    def __init__(self, health: Health, port: int, host: str = "127.0.0.1") -> None:
        self._health = health
        self._port = port
        self._host = host
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        runner = web.AppRunner(make_web_app(self._health), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError as exc:  # a worker without its endpoints still decides sends
            await runner.cleanup()
            log.error(
                "cannot serve metrics and health on %s port %s: %s; give each worker on "
                "one machine its own --metrics-port",
                self._host,
                self._port,
                exc.strerror or exc,
            )
            return
        self._runner = runner
        log.info("metrics and health on http://%s:%s", self._host, self._port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
