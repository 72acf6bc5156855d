"""The soak's figures from what it measured: memory per worker, whether the gate kept up, the
checks the run passes or fails on, and the one JSON line. Pure, so they are tested without a
broker.

Kept up: the load is steady, so a gate that keeps up holds a lag that comes and goes with its
batches; one that does not falls further behind every second, without bound. The soak calls it
kept up when, as the load stops, the decider is at most `max_lag_s` seconds of the offered load
behind; when its lag was not growing over the soak's second half (least-squares slope) at a pace
that, for the soak's whole length, would come to more than that; and when the backlog drains
once the load stops. Both measure against the same yardstick, `max_lag_s` of load over the soak:
over 30 minutes and 10 s, a shortfall of 0.6 % of the rate; over a 2-minute smoke, 8 %, so a
minute in which someone else's process took the cores does not fail it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.stats import json_safe

__all__ = [
    "check_rows",
    "failed_checks",
    "falling_behind",
    "kept_up",
    "rss_figures",
    "second_half_slope",
    "summary_line",
]

_MIB = 1024 * 1024


def rss_figures(samples: Mapping[str, Sequence[tuple[float, int]]]) -> dict[str, dict[str, float]]:
    """Per worker, from (seconds, bytes) samples: the first (start), the last (end), the largest,
    the growth in MiB and per minute, and the growth per minute over the second half alone (the
    first minutes include the caches filling; a leak keeps growing after them)."""
    figures: dict[str, dict[str, float]] = {}
    for name, series in samples.items():
        if not series:
            continue
        (t0, start), (t1, end) = series[0], series[-1]
        growth = (end - start) / _MIB
        figures[name] = {
            "start_mib": start / _MIB,
            "end_mib": end / _MIB,
            "max_mib": max(value for _, value in series) / _MIB,
            "growth_mib": growth,
            "growth_mib_per_min": growth / ((t1 - t0) / 60) if t1 > t0 else float("nan"),
            "second_half_mib_per_min": second_half_slope(series) * 60 / _MIB,
            "minutes": (t1 - t0) / 60,
        }
    return figures


def second_half_slope(samples: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of (seconds, value) samples over their second half, per second
    (NaN with fewer than three): near 0 for a figure that holds steady."""
    half = list(samples[len(samples) // 2 :])
    if len(half) < 3:
        return float("nan")
    n = len(half)
    mean_t = sum(t for t, _ in half) / n
    mean_value = sum(value for _, value in half) / n
    spread = sum((t - mean_t) ** 2 for t, _ in half)
    if spread == 0:
        return float("nan")
    return sum((t - mean_t) * (value - mean_value) for t, value in half) / spread


def kept_up(
    lag_at_end: int,
    lag_slope_per_s: float,
    offered_per_s: float,
    max_lag_s: float,
    soak_s: float,
    drained: bool,
) -> bool:
    """Drained after the load stopped, at most `max_lag_s` seconds of the offered load behind
    as it stopped, and not falling behind (see the module's docstring)."""
    return (
        drained
        and lag_at_end <= offered_per_s * max_lag_s
        and not falling_behind(lag_slope_per_s, offered_per_s, max_lag_s, soak_s)
    )


def falling_behind(
    lag_slope_per_s: float, offered_per_s: float, max_lag_s: float, soak_s: float
) -> bool:
    """The lag grew over the soak's second half at a pace that, kept up for the soak's whole
    length, would leave the gate more than `max_lag_s` seconds of load behind."""
    if math.isnan(lag_slope_per_s):
        return False
    return lag_slope_per_s * soak_s > max_lag_s * offered_per_s


def check_rows(results: Mapping[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(check, measured, required, passed) for every check the soak fails on."""
    checks = results["checks"]
    end = results["end"]
    soak = results["soak"]
    limit = soak["offered_per_s"] * results["options"]["max_lag_s"]
    soak_s = soak["minutes"] * 60
    drain = end["drain_s"]
    return [
        (
            "allowed suppressed sends (requested after the suppression was on the broker)",
            f"{checks['allowed_suppressed']:,}",
            "0",
            checks["allowed_suppressed"] == 0,
        ),
        (
            "broadcasts allowed after the account's block was read",
            f"{checks['allowed_after_block']:,}",
            "0",
            checks["allowed_after_block"] == 0,
        ),
        (
            "send requests never decided",
            f"{end['undecided']:,}",
            "0",
            end["undecided"] == 0,
        ),
        ("dead letters", f"{end['dead_letters']:,}", "0", end["dead_letters"] == 0),
        (
            "decider lag as the load stopped",
            f"{end['decider_lag_at_end']:,}",
            f"<= {limit:,.0f} ({results['options']['max_lag_s']:g} s of load)",
            end["decider_lag_at_end"] <= limit,
        ),
        (
            "decider lag's growth over the soak's second half",
            _per_s(soak["lag_slope_per_s"]),
            f"<= {limit / soak_s:,.0f}/s (that, for the whole soak, is "
            f"{results['options']['max_lag_s']:g} s of load)",
            not falling_behind(
                soak["lag_slope_per_s"],
                soak["offered_per_s"],
                results["options"]["max_lag_s"],
                soak_s,
            ),
        ),
        (
            "drained after the load stopped",
            "-" if drain is None else f"{drain:.1f} s",
            f"within {end['drain_timeout_s']:.0f} s",
            drain is not None,
        ),
    ]


def _per_s(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:+,.0f}/s"


def failed_checks(results: Mapping[str, Any]) -> list[str]:
    return [name for name, _, _, passed in check_rows(results) if not passed]


def summary_line(results: Mapping[str, Any]) -> dict[str, Any]:
    """The soak's headline figures, flat, for scripts; keys are only ever added, a figure not
    measured is null."""
    calibration = results.get("calibration") or {}
    fed = results.get("fed") or {}
    soak = results.get("soak") or {}
    checks = results.get("checks") or {}
    mix = results.get("mix") or {}
    end = results.get("end") or {}
    rss = results.get("rss") or {}
    options = results.get("options") or {}
    verdicts = checks.get("verdicts") or {}
    latency = checks.get("probe_latency") or {}
    enforcement = checks.get("enforcement") or {}

    def per_worker(key: str) -> dict[str, float] | None:
        return {name: round(figures[key], 1) for name, figures in rss.items()} or None

    return json_safe(
        {
            "calibration_per_s": calibration.get("per_s"),
            "fed_per_s": fed.get("per_s"),
            "load": options.get("load"),
            "offered_per_s": soak.get("offered_per_s"),
            "achieved_per_s": soak.get("achieved_per_s"),
            "soak_decided_per_s": soak.get("decided_per_s"),
            "minutes": soak.get("minutes"),
            "sends": end.get("sends"),
            "soak_sends": soak.get("sends"),
            "decisions": checks.get("decided"),
            "allowed": verdicts.get("allow"),
            "denied": verdicts.get("deny"),
            "allowed_suppressed": checks.get("allowed_suppressed"),
            "allowed_after_block": checks.get("allowed_after_block"),
            "allowed_after_withdrawal": checks.get("allowed_after_withdrawal"),
            "probes": checks.get("probes"),
            "probe_decisions": checks.get("probe_decisions"),
            "probe_allowed": checks.get("probe_allowed"),
            "probe_p50_ms": latency.get("p50_ms"),
            "probe_p99_ms": latency.get("p99_ms"),
            "clicks": sum((mix.get("clicks") or {}).values()) if mix else None,
            "consent_grants": mix.get("grants"),
            "consent_withdrawals": mix.get("withdrawals"),
            "complaints": mix.get("complaints"),
            "complaint_suppressions": checks.get("complaint_suppressions"),
            "strikes": sum(
                count for name, count in enforcement.items() if name.endswith(": strike_issued")
            )
            if checks
            else None,
            "rss_start_mib": per_worker("start_mib"),
            "rss_end_mib": per_worker("end_mib"),
            "rss_max_mib": per_worker("max_mib"),
            "rss_growth_mib": per_worker("growth_mib"),
            "rss_second_half_mib_per_min": per_worker("second_half_mib_per_min"),
            "decider_lag_at_end": end.get("decider_lag_at_end"),
            "keepers_lag_at_end": end.get("keepers_lag_at_end"),
            "lag_max": soak.get("lag_max"),
            "lag_second_half_per_s": soak.get("lag_slope_per_s"),
            "drain_s": end.get("drain_s"),
            "keepers_drain_s": end.get("keepers_drain_s"),
            "dead_letters": end.get("dead_letters"),
            "undecided": end.get("undecided"),
            "duplicates": checks.get("duplicates"),
            "rebalances": results.get("rebalances"),
            "kept_up": results.get("kept_up"),
            "passed": results.get("passed"),
            "workers": options.get("workers"),
            "partitions": options.get("partitions"),
        }
    )
