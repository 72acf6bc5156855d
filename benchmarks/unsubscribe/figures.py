"""The unsubscribe run's figures: each probe's latencies from t0 (the one-click POST's 200) and
its checks, their percentiles per group of probes, the target check and the endpoint's rates.

Latency to the first denied send uses that decision's CreateTime (stamped by the worker's
producer, same machine and clock) minus t0; the `_received` figure uses this process's receive
time instead.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from harness.stats import latency_summary, percentile

from unsubscribe.probes import DENY_RULE, Probe

__all__ = ["TARGET_P99_MS", "probe_row", "summarise"]

TARGET_P99_MS = 250.0


def probe_row(probe: Probe) -> dict[str, Any]:
    """One probe's latencies (ms from t0, the POST's 200) and checks."""
    t0_ms = probe.t0 * 1000
    first = probe.first_deny
    decided = probe.decisions
    allowed_after_t0 = sorted(rid for rid, seen in decided.items() if seen.verdict == "allow")
    other_denials = Counter(
        rule
        for seen in decided.values()
        if seen.verdict != "allow" and DENY_RULE not in seen.rules
        for rule in seen.rules
    )
    gate_lags = [seen.created_ms - probe.sent[rid] * 1000 for rid, seen in decided.items()]
    first_sent = min(probe.sent, key=probe.sent.__getitem__, default=None)
    return {
        "probe": probe.number,
        "requests_after_t0": len(probe.sent),
        "effective_ms": (first.created_ms - t0_ms) if first else math.nan,
        "effective_received_ms": (first.received_at * 1000 - t0_ms) if first else math.nan,
        "first_denied_request_sent_ms": (
            probe.sent[first.request_id] * 1000 - t0_ms if first else math.nan
        ),
        "first_request_denied": bool(first and first.request_id == first_sent),
        "first_denied_gate_lag_ms": (
            first.created_ms - probe.sent[first.request_id] * 1000 if first else math.nan
        ),
        "post_round_trip_ms": (probe.t0 - probe.post_sent) * 1000,
        "post_to_click_record_ms": (
            probe.click_created_ms - probe.post_sent * 1000 if probe.click_created_ms else math.nan
        ),
        "click_record_to_200_ms": (
            t0_ms - probe.click_created_ms if probe.click_created_ms else math.nan
        ),
        "keeper_applied_ms": (
            probe.suppression_ms - t0_ms if probe.suppression_ms is not None else math.nan
        ),
        "keeper_outcome": probe.suppression_outcome,
        "gate_lag_p50_ms": percentile(gate_lags, 50),
        "gate_lag_max_ms": max(gate_lags, default=math.nan),
        "gate_lags_ms": gate_lags,
        "allowed_after_t0": allowed_after_t0,
        "denied_for_other_rules": dict(other_denials),
    }


# --- summary --------------------------------------------------------------------------------------


def _endpoint_row(result: dict[str, Any]) -> dict[str, Any]:
    latencies = result["latencies_ms"]
    return {
        "requests": result["requests"],
        "ok": len(latencies),
        "statuses": result["statuses"],
        "errors": result.get("errors", {}),
        "seconds": result["seconds"],
        "per_second": result["requests"] / max(result["seconds"], 1e-9),
        **latency_summary(latencies),
    }


def summarise_probes(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Percentiles of one group of probes, and its checks."""

    def of(name: str) -> dict[str, float]:
        return latency_summary([row[name] for row in rows])

    summary: dict[str, Any] = {
        "click_to_effective": of("effective_ms"),
        "click_to_effective_received": of("effective_received_ms"),
        "gate_request_to_decision": latency_summary(
            [lag for row in rows for lag in row["gate_lags_ms"]]
        ),
        "first_denied_gate_lag": of("first_denied_gate_lag_ms"),
        "first_denied_request_sent": of("first_denied_request_sent_ms"),
        "post_round_trip": of("post_round_trip_ms"),
        "post_to_click_record": of("post_to_click_record_ms"),
        "click_record_to_200": of("click_record_to_200_ms"),
        "keeper_applied": of("keeper_applied_ms"),
    }
    summary["checks"] = {
        "probes": len(rows),
        "probe_requests_after_t0": sum(row["requests_after_t0"] for row in rows),
        "allowed_after_t0": sum(len(row["allowed_after_t0"]) for row in rows),
        "probes_with_an_allow_after_t0": [row["probe"] for row in rows if row["allowed_after_t0"]],
        "denied_for_other_rules": dict(
            sum((Counter(row["denied_for_other_rules"]) for row in rows), Counter())
        ),
        "first_request_after_t0_denied": sum(row["first_request_denied"] for row in rows),
        "keeper_applied_after_first_deny": sum(
            1 for row in rows if row["keeper_applied_ms"] > row["effective_ms"]
        ),
        "keeper_outcomes": dict(Counter(str(row["keeper_outcome"]) for row in rows)),
    }
    return summary


def summarise(measured: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {"at_load": summarise_probes(measured["probes"])}
    if measured["idle_probes"]:
        summary["no_load"] = summarise_probes(measured["idle_probes"])
    p99 = summary["at_load"]["click_to_effective"]["p99_ms"]
    summary["target"] = {
        "what": (
            f"p99 click (200) -> first denied send (CreateTime) < {TARGET_P99_MS:.0f} ms, "
            "with the gate at load"
        ),
        "p99_ms": p99,
        "met": bool(p99 < TARGET_P99_MS),
    }
    endpoint = measured.get("endpoint")
    if endpoint:
        summary["endpoint"] = {
            name: _endpoint_row(endpoint[name])
            for name in (
                "service",
                "trivial",
                "raw_produce_linger_5",
                "raw_produce_linger_0",
                "single_source",
            )
        }
    return summary
