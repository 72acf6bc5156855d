"""The worker's Prometheus metrics, and its health: what an operator graphs and alerts on.

Names follow Prometheus conventions: `sendgate_` prefix, base units (seconds), counters exposed
with `_total`. Every label has a bounded set of values (verdicts, rule names, classifications,
topic names, partitions, error kinds, enforcement actions, table names); no address, recipient
key, account or IP is ever a label, so a scrape can be shared with anyone who runs the platform.

Counters and histograms are updated where the work happens (the decider, the fence, the
dead-letter path, the enforcer). Gauges that describe state (consumer lag per topic and
partition, table sizes, assigned partitions, recovery) are read at scrape time from the faust app
by `WorkerCollector`, so they cost nothing between scrapes.

Health: `/healthz` answers 200 while the process runs; `/readyz` answers 200 only when the
worker's tables are recovered, it holds partitions, and the broker answered recently (see
`readiness`), else 503 with the reasons; the demo and the tests wait on it instead of polling
topics.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = [
    "DEAD_LETTERS",
    "DECISIONS",
    "DECISION_LATENCY",
    "ENFORCEMENT_EVENTS",
    "ESP_DISAGREEMENTS",
    "ESP_EVENTS",
    "FENCE_READ_AHEAD",
    "FENCE_WAITS",
    "FENCE_WAIT_SECONDS",
    "REBALANCES",
    "RULE_FAILURES",
    "Readiness",
    "WorkerCollector",
    "assigned_partitions",
    "count_decision",
    "readiness",
]

DECISIONS = Counter(
    "sendgate_decisions",
    "Send decisions, by verdict and by the request's classification.",
    ["verdict", "classification"],
)
RULE_FAILURES = Counter(
    "sendgate_decision_rule_failures",
    "Rules that failed in a decision (a decision names every one), by rule and by what the "
    "failure did: deny, or flag (an allowed send that a flag-only rule would have denied).",
    ["rule", "effect"],
)
DECISION_LATENCY = Histogram(
    "sendgate_decision_latency_seconds",
    "From the send request's own timestamp to its decision being produced.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
FENCE_WAITS = Counter(
    "sendgate_fence_waits",
    "Times a batch of sends waited for the suppression state to be current (the state fence).",
)
FENCE_WAIT_SECONDS = Histogram(
    "sendgate_fence_wait_seconds",
    "How long one state-fence wait took.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0),
)
FENCE_READ_AHEAD = Counter(
    "sendgate_fence_read_ahead_clicks",
    "Unsubscribe-click records the fence read ahead of the suppression keeper.",
)
DEAD_LETTERS = Counter(
    "sendgate_dead_letters",
    "Records set aside on dead-letters, by the topic they came from and the kind of error.",
    ["topic", "error_kind"],
)
ENFORCEMENT_EVENTS = Counter(
    "sendgate_enforcement_events",
    "Enforcement events emitted, by action (strike_issued, provider_paused, ...).",
    ["action"],
)
ESP_EVENTS = Counter(
    "sendgate_esp_events",
    "Events read from ESP webhooks, by provider and by what became of them: delivered, "
    "deferred, bounced, complaint, unsubscribe, ignored, or rejected (dead-lettered).",
    ["esp", "outcome"],
)
ESP_DISAGREEMENTS = Counter(
    "sendgate_esp_classification_disagreements",
    "Bounces an ESP classed otherwise than sendgate did (ours decides; both are recorded), by "
    "provider, the ESP's class and ours.",
    ["esp", "esp_class", "our_class"],
)
REBALANCES = Counter(
    "sendgate_rebalances",
    "Partition assignments this worker received (each rebalance assigns once).",
)


def count_decision(
    decision: dict[str, Any], *, classification: str, now: datetime, requested_at: datetime
) -> None:
    """Record one decision (the fields `gate_step` produced) in the counters and the latency."""
    DECISIONS.labels(decision["verdict"], classification).inc()
    effect = "deny" if decision["verdict"] == "deny" else "flag"
    for failure in decision.get("failures") or ():
        RULE_FAILURES.labels(failure["rule"], effect).inc()
    for flag in decision.get("flags") or ():
        RULE_FAILURES.labels(flag["rule"], "flag").inc()
    DECISION_LATENCY.observe(max(0.0, (now - requested_at).total_seconds()))


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reasons: tuple[str, ...]
    """Why the worker is not ready (empty when it is)."""


def readiness(
    *, recovered: bool, assigned: int, broker_seen_s: float | None, broker_window_s: float = 30.0
) -> Readiness:
    """Ready when the tables are recovered, the worker holds at least one partition, and the
    broker answered within `broker_window_s`; otherwise the reasons, in that order."""
    reasons = []
    if not recovered:
        reasons.append("tables are still recovering")
    if assigned == 0:
        reasons.append("no partitions assigned")
    if broker_seen_s is None or broker_seen_s > broker_window_s:
        reasons.append("the broker has not answered recently")
    return Readiness(not reasons, tuple(reasons))


class WorkerCollector(Collector):
    """Gauges read from the faust app at scrape time: consumer lag per topic and partition,
    table sizes, assigned partitions, whether recovery is done."""

    def __init__(self, app: Any, tables: Iterable[Any], decider: Any = None) -> None:
        self._app = app
        self._tables = tuple(tables)
        self._decider = decider
        """The batch decider reads send-requests with a consumer of its own: its lag is its."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "sendgate_consumer_lag",
            "Records on the broker this worker has not consumed yet (highwater - position).",
            labels=["topic", "partition"],
        )
        assigned = GaugeMetricFamily(
            "sendgate_assigned_partitions", "Partitions assigned to this worker."
        )
        sizes = GaugeMetricFamily(
            "sendgate_table_entries", "Keys held in each table on this worker.", labels=["table"]
        )
        recovered = GaugeMetricFamily(
            "sendgate_tables_recovered", "1 once every table has been recovered, else 0."
        )
        remaining = GaugeMetricFamily(
            "sendgate_recovery_remaining_records",
            "Changelog records still to restore: for the partitions this worker decides "
            "(active) and for the copies it keeps for a fast takeover (standby).",
            labels=["kind"],
        )
        consumer = self._app.consumer if _started(self._app) else None
        partitions = assigned_partitions(self._app)
        assigned.add_metric([], len(partitions))
        for tp in partitions:
            behind = _lag(consumer, tp)
            if behind is not None:
                lag.add_metric([tp.topic, str(tp.partition)], behind)
        if self._decider is not None:
            for (topic, partition), behind in sorted(self._decider.lag().items()):
                lag.add_metric([topic, str(partition)], behind)
        for table in self._tables:
            entries = table_entries(table)
            if entries is not None:
                sizes.add_metric([table.name], entries)
        recovered.add_metric([], 1.0 if is_recovered(self._app) else 0.0)
        for kind, records in recovery_remaining(self._app).items():
            remaining.add_metric([kind], records)
        yield lag
        yield assigned
        yield sizes
        yield recovered
        yield remaining


def _started(app: Any) -> bool:
    """Whether the app has built its consumer (reading `app.consumer` earlier would build it)."""
    return getattr(app, "_consumer", None) is not None


def assigned_partitions(app: Any) -> list[Any]:
    """The partitions faust has assigned this worker, in order; none before its consumer is
    built (reading `app.consumer` earlier would build it) or while it is being rebuilt."""
    if not _started(app):
        return []
    try:
        return sorted(app.consumer.assignment(), key=lambda tp: (tp.topic, tp.partition))
    except Exception:
        return []


def _lag(consumer: Any, tp: Any) -> int | None:
    """Highwater (the next offset the broker will write) minus the next offset this worker
    will read: the last read one plus one, or the committed offset before it read any."""
    try:
        highwater = consumer.highwater(tp)
        read = consumer._read_offset.get(tp)
        committed = consumer._committed_offset.get(tp)
    except Exception:  # the consumer is being rebuilt (rebalance, stop): no figure this scrape
        return None
    at = read + 1 if read is not None else committed
    if highwater is None or at is None:
        return None
    return max(0, int(highwater) - int(at))


def table_entries(table: Any) -> int | None:
    """Keys in a table: RocksDB's own estimate for a RocksDB store (counting its keys would read
    every one of them at each scrape, a second or more for a million suppressions, on the
    worker's event loop), the exact count for an in-memory one; None while it cannot be read."""
    if getattr(table, "_data", True) is None:
        return None  # no store yet (the app has not started): reading `data` would make one
    try:
        store = table.data
        databases = getattr(store, "_dbs", None)
        if databases is None:
            return len(store)
        return sum(
            int(db.property_int_value("rocksdb.estimate-num-keys") or 0)
            for db in list(databases.values())
        )
    except Exception:  # a table being rebuilt mid-scrape is left out of this scrape
        return None


def recovery_remaining(app: Any) -> dict[str, int]:
    """Changelog records faust has yet to restore, active and standby; none while its recovery
    is not built or is being rebuilt (a rebalance)."""
    try:
        recovery = app.tables.recovery
        return {
            "active": int(recovery.active_remaining_total()),
            "standby": int(recovery.standby_remaining_total()),
        }
    except Exception:
        return {}


def is_recovered(app: Any) -> bool:
    """Whether faust finished recovering every table (standbys keep syncing afterwards)."""
    try:
        return bool(app.tables.recovery.completed.is_set())
    except Exception:
        return False
