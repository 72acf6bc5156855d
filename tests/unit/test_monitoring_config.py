"""The Grafana dashboard and the Prometheus configuration in the repository match the metrics the
code exposes: every query names metrics that exist, and every process with metrics is scraped."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import streams.edges.intake
import streams.edges.ledger.sink
import streams.edges.web.app
import streams.gate.metrics  # noqa: F401  (registers the worker's metrics)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "monitoring" / "grafana" / "dashboards" / "sendgate.json"
PROMETHEUS = ROOT / "monitoring" / "prometheus.yml"
COMPOSE = ROOT / "docker-compose.yml"
# Gauges read at scrape time by the worker's collector (registered when a worker starts).
COLLECTED = {
    "sendgate_consumer_lag",
    "sendgate_assigned_partitions",
    "sendgate_table_entries",
    "sendgate_tables_recovered",
    "sendgate_recovery_remaining_records",
}


def _exposed() -> set[str]:
    names = set(COLLECTED)
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            names.add(sample.name)
        names.add(metric.name)
        names.add(metric.name + "_total")
    return names


def test_every_dashboard_query_names_metrics_the_code_exposes() -> None:
    dashboard = json.loads(DASHBOARD.read_text("utf-8"))
    exposed = _exposed()
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert exprs
    for expr in exprs:
        for name in re.findall(r"\b(sendgate_[a-z_]+)", expr):
            assert name in exposed, f"{name} in {expr!r} is not a metric sendgate exposes"


def test_prometheus_scrapes_every_process_with_metrics() -> None:
    """(No YAML parser among the dependencies: the job names are read line by line.)"""
    jobs = set(re.findall(r"^\s*- job_name:\s*(\S+)\s*$", PROMETHEUS.read_text("utf-8"), re.M))
    assert jobs == {
        "sendgate-worker",
        "sendgate-intake",
        "sendgate-ledger",
        "sendgate-web",
        "sendgate-notify",
    }


def _services(text: str) -> dict[str, str]:
    """Each top-level service's block of the compose file (two-space indented names)."""
    blocks: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        if re.match(r"^\S", line):
            name = None
        match = re.match(r"^  ([a-z]+):\s*$", line)
        if match:
            name = match.group(1)
            blocks[name] = ""
        elif name is not None:
            blocks[name] += line + "\n"
    return blocks


def test_compose_runs_prometheus_and_grafana_on_request() -> None:
    services = _services(COMPOSE.read_text("utf-8"))
    for name in ("prometheus", "grafana"):
        assert 'profiles: ["monitoring"]' in services[name], name
    for name in ("kafka", "postgres"):
        assert "profiles:" not in services[name], name
