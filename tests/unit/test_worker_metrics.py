"""The worker's metrics and readiness, without a broker: counters move as decisions are made,
gauges are read from the app at scrape time, and readiness says why it is not ready."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import NamedTuple

import rocksdict
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from streams.gate.metrics import WorkerCollector, count_decision, readiness, table_entries

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_denial_counts_its_verdict_each_failed_rule_and_its_latency() -> None:
    """One denial with two failed rules: one decision, two rule failures, one latency sample."""
    before = sample("sendgate_decisions_total", verdict="deny", classification="commercial")
    rule_before = sample(
        "sendgate_decision_rule_failures_total", rule="platform-suppressed", effect="deny"
    )
    latency_before = sample("sendgate_decision_latency_seconds_count")
    decision = {
        "verdict": "deny",
        "failures": ({"rule": "platform-suppressed"}, {"rule": "consent-missing"}),
        "flags": (),
    }
    count_decision(
        decision, classification="commercial", now=NOW, requested_at=NOW - timedelta(seconds=2)
    )
    assert sample("sendgate_decisions_total", verdict="deny", classification="commercial") == (
        before + 1
    )
    assert sample(
        "sendgate_decision_rule_failures_total", rule="platform-suppressed", effect="deny"
    ) == (rule_before + 1)
    assert sample("sendgate_decision_latency_seconds_count") == latency_before + 1


def test_an_allowed_send_with_a_flag_counts_the_flag() -> None:
    before = sample(
        "sendgate_decision_rule_failures_total", rule="frequency-cap-exceeded", effect="flag"
    )
    count_decision(
        {"verdict": "allow", "failures": (), "flags": ({"rule": "frequency-cap-exceeded"},)},
        classification="commercial",
        now=NOW,
        requested_at=NOW,
    )
    assert (
        sample(
            "sendgate_decision_rule_failures_total", rule="frequency-cap-exceeded", effect="flag"
        )
        == before + 1
    )


def test_readiness_names_every_reason() -> None:
    assert readiness(recovered=True, assigned=4, broker_seen_s=1.0).ready
    verdict = readiness(recovered=False, assigned=0, broker_seen_s=None)
    assert not verdict.ready
    assert verdict.reasons == (
        "tables are still recovering",
        "no partitions assigned",
        "the broker has not answered recently",
    )
    assert readiness(recovered=True, assigned=1, broker_seen_s=31.0).reasons == (
        "the broker has not answered recently",
    )


class TP(NamedTuple):
    topic: str
    partition: int


class _Consumer:
    def __init__(self) -> None:
        self.tps = [TP("p-send-requests", p) for p in (0, 1)]
        self._read_offset = {self.tps[0]: 99}
        self._committed_offset = {self.tps[1]: 40}

    def assignment(self) -> list:
        return self.tps

    def highwater(self, tp: TP) -> int:
        return 150 if tp.partition == 0 else 45


def test_lag_assignment_and_table_sizes_are_read_at_scrape_time() -> None:
    """Lag is highwater minus the next offset to read: 150 - (99 + 1) = 50 where it has read,
    45 - 40 = 5 where it has only its committed offset; table sizes come from the stores."""
    memory_table = SimpleNamespace(name="suppressions", data={b"a": 1, b"b": 2, b"c": 3})
    app = SimpleNamespace(
        _consumer=_Consumer(),
        tables=SimpleNamespace(
            recovery=SimpleNamespace(completed=SimpleNamespace(is_set=lambda: True))
        ),
    )
    app.consumer = app._consumer
    registry = CollectorRegistry()
    registry.register(WorkerCollector(app, [memory_table]))
    text = generate_latest(registry).decode()
    assert 'sendgate_consumer_lag{partition="0",topic="p-send-requests"} 50.0' in text
    assert 'sendgate_consumer_lag{partition="1",topic="p-send-requests"} 5.0' in text
    assert "sendgate_assigned_partitions 2.0" in text
    assert 'sendgate_table_entries{table="suppressions"} 3.0' in text
    assert "sendgate_tables_recovered 1.0" in text


def test_a_rocksdb_table_is_sized_by_its_estimate_without_reading_its_keys() -> None:
    database = rocksdict.Rdict(tempfile.mkdtemp())
    for n in range(500):
        database[f"k{n}"] = b"v"
    table = SimpleNamespace(name="consents", data=SimpleNamespace(_dbs={0: database}))
    assert table_entries(table) == 500
    database.close()


def test_no_label_can_carry_personal_data() -> None:
    """Every label name of the worker's metrics is from a bounded, non-personal set."""
    allowed = {
        "verdict",
        "classification",
        "rule",
        "effect",
        "topic",
        "error_kind",
        "action",
        "partition",
        "table",
        "le",
    }
    ours = (
        "sendgate_decision",
        "sendgate_fence",
        "sendgate_dead_letters",
        "sendgate_enforcement",
        "sendgate_rebalances",
        "sendgate_consumer_lag",
        "sendgate_table",
    )
    text = generate_latest(REGISTRY).decode()
    for line in text.splitlines():
        if line.startswith(ours) and "{" in line:
            labels = line[line.index("{") + 1 : line.index("}")]
            names = {pair.split("=", 1)[0] for pair in labels.split(",") if pair}
            assert names <= allowed, line
