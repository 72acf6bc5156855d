"""The enforcement run's figures: each probe's latencies from its complaint's acknowledgement
(to the strike, to the first denied broadcast, per stage of the chain) and its checks, and their
percentiles over all probes beside the one-hop baseline.

Latencies use the output records' CreateTime, stamped by the worker's producer on the same
machine and clock, minus t0 (the complaint's acknowledgement); the `_received` figures use this
process's receive time instead.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from harness.stats import latency_summary, percentile

from enforcement.chain import DENY_RULE, Probe

__all__ = ["probe_row", "summarise"]


def probe_row(probe: Probe) -> dict[str, Any]:
    """One probe's latencies (ms from the complaint's acknowledgement) and checks."""
    t0_ms = probe.complaint_ack * 1000
    strike_ms = probe.strike_ms or math.nan
    first_deny_ms = probe.first_deny_ms or math.nan
    decided = {seen.request_id: seen for seen in probe.decisions}
    before_t0 = [rid for rid, at in probe.sent.items() if at < probe.complaint_send]
    # A request sent before the complaint may still be decided after the account was struck (it
    # waited in the gate's queue): denied then, rightly. Denied before the strike is a mistake.
    sent_before_t0_denied = [
        rid for rid in before_t0 if rid in decided and decided[rid].verdict != "allow"
    ]
    denied_before_strike = [
        f"{seen.request_id}: {seen.rules}"
        for seen in decided.values()
        if seen.verdict != "allow" and seen.created_ms < strike_ms
    ]
    allowed = [seen for seen in decided.values() if seen.verdict == "allow"]
    allowed_after_strike = [seen for seen in allowed if seen.created_ms > strike_ms]
    requested_after_strike = [
        seen for seen in allowed if probe.sent[seen.request_id] * 1000 > strike_ms
    ]
    allowed_after_deny = [seen for seen in allowed if seen.created_ms > first_deny_ms]
    # The gate's own latency at this load: a probe request's send -> its decision's CreateTime.
    gate_lags = [seen.created_ms - probe.sent[seen.request_id] * 1000 for seen in decided.values()]
    first_denied = min(
        (seen for seen in decided.values() if seen.verdict != "allow"),
        key=lambda seen: seen.created_ms,
        default=None,
    )
    other_denials = Counter(
        rule
        for seen in decided.values()
        if seen.verdict != "allow" and DENY_RULE not in seen.rules
        for rule in seen.rules
    )
    return {
        "probe": probe.number,
        "account": probe.account,
        "requests": len(probe.sent),
        "requests_before_t0": len(before_t0),
        "complaint_send_to_ack_ms": (probe.complaint_ack - probe.complaint_send) * 1000,
        "complaint_create_to_ack_ms": (
            t0_ms - probe.complaint_created_ms if probe.complaint_created_ms else None
        ),
        "enforcement_ms": strike_ms - t0_ms,
        "enforcement_received_ms": (probe.strike_received or math.nan) * 1000 - t0_ms,
        "enforcement_from_send_ms": strike_ms - probe.complaint_send * 1000,
        "first_deny_ms": first_deny_ms - t0_ms,
        "first_deny_received_ms": (probe.first_deny_received or math.nan) * 1000 - t0_ms,
        "stage_feedback_to_rate_event_ms": (probe.rate_event_ms or math.nan) - t0_ms,
        "stage_rate_event_to_breach_ms": (probe.breach_ms or math.nan)
        - (probe.rate_event_ms or math.nan),
        "stage_breach_to_enforcement_ms": strike_ms - (probe.breach_ms or math.nan),
        "stage_enforcement_to_first_deny_ms": first_deny_ms - strike_ms,
        "gate_lags_ms": gate_lags,
        "gate_lag_p50_ms": percentile(gate_lags, 50),
        "gate_lag_max_ms": max(gate_lags, default=math.nan),
        "first_denied_request_sent_ms": (
            probe.sent[first_denied.request_id] * 1000 - t0_ms if first_denied else math.nan
        ),
        "breach": probe.breach,
        "strike_number": probe.strike_number,
        "enforcement_actions": probe.enforcement_actions,
        "sent_before_t0_denied_after_strike": len(sent_before_t0_denied),
        "denied_before_strike_record": denied_before_strike,
        "allowed_after_strike_record": len(allowed_after_strike),
        "allowed_requested_after_strike_record": len(requested_after_strike),
        "allowed_after_first_deny": len(allowed_after_deny),
        "denied_for_other_rules": dict(other_denials),
    }


def summarise(measured: dict[str, Any]) -> dict[str, Any]:
    rows, hops = measured["probes"], measured["hops"]

    def of(name: str) -> dict[str, float]:
        return latency_summary([row[name] for row in rows])

    summary = {
        "complaint_to_enforcement_event": of("enforcement_ms"),
        "complaint_to_enforcement_event_received": of("enforcement_received_ms"),
        "complaint_to_first_denied_broadcast": of("first_deny_ms"),
        "complaint_to_first_denied_broadcast_received": of("first_deny_received_ms"),
        "baseline_one_hop_ack_to_receive": latency_summary([h["ack_to_receive_ms"] for h in hops]),
        "baseline_one_hop_send_to_receive": latency_summary(
            [h["send_to_receive_ms"] for h in hops]
        ),
        "baseline_produce_send_to_ack": latency_summary([h["send_to_ack_ms"] for h in hops]),
        "gate_request_to_decision": latency_summary(
            [lag for row in rows for lag in row["gate_lags_ms"]]
        ),
        "first_denied_request_sent": of("first_denied_request_sent_ms"),
        "stages": {
            name: of(name)
            for name in (
                "stage_feedback_to_rate_event_ms",
                "stage_rate_event_to_breach_ms",
                "stage_breach_to_enforcement_ms",
                "stage_enforcement_to_first_deny_ms",
            )
        },
    }
    p99 = summary["complaint_to_enforcement_event"]["p99_ms"]
    summary["target"] = {
        "what": "p99 complaint -> enforcement event < 1000 ms",
        "p99_ms": p99,
        "met": bool(p99 < 1000),
    }
    summary["checks"] = {
        "sent_before_t0_denied_after_strike": sum(
            row["sent_before_t0_denied_after_strike"] for row in rows
        ),
        "denied_before_strike_record": sum(len(row["denied_before_strike_record"]) for row in rows),
        "allowed_after_strike_record": sum(row["allowed_after_strike_record"] for row in rows),
        "allowed_requested_after_strike_record": sum(
            row["allowed_requested_after_strike_record"] for row in rows
        ),
        "allowed_after_first_deny": sum(row["allowed_after_first_deny"] for row in rows),
        "probe_requests": sum(row["requests"] for row in rows),
        "probe_requests_before_t0": sum(row["requests_before_t0"] for row in rows),
        "denied_for_other_rules": dict(
            sum((Counter(row["denied_for_other_rules"]) for row in rows), Counter())
        ),
        "strikes_other_than_1": [row["probe"] for row in rows if row["strike_number"] != 1],
    }
    return summary
