"""The replay run's figures: the live gate, the replay and the raw read of the same run side by
side with their ratios, the verify's check, the what-ifs, and the one JSON line.

Every rate is decisions per second. The live gate's is its output's CreateTime span, as
`gate_throughput.py`'s contender (c); the replay's and the raw read's are their own clocks in
this process, since neither writes anything to time it by.
"""

from __future__ import annotations

from typing import Any

from harness.stats import json_safe

from streams.replay.runs import VerifyReport, WhatIfReport

__all__ = [
    "SUMMARY_KEYS",
    "TARGET_RATIO_TO_GATE",
    "summary_line",
    "verify_figures",
    "verify_problems",
    "what_if_figures",
]

TARGET_RATIO_TO_GATE = 5.0
"""The replay should decide again at least this many times as fast as the live gate decides."""

SUMMARY_KEYS = (
    "gate_per_s",
    "replay_per_s",
    "replay_ratio_to_gate",
    "raw_read_per_s",
    "replay_ratio_to_raw",
    "raw_read_records_per_s",
    "replay_seconds",
    "replay_decisions",
    "replay_matched",
    "replay_mismatches",
    "replay_not_replayed",
    "replay_set_aside",
    "replay_signed_compared",
    "what_if_default_per_s",
    "what_if_default_flips",
    "what_if_stricter_per_s",
    "what_if_stricter_flips",
    "target_met",
    "verify_problems",
    "decision_problems",
    "sends",
    "partitions",
    "replay_processes",
    "replay_one_process_per_s",
    "replay_one_process_ratio_to_gate",
)
"""The JSON line's keys, in order; only ever added to."""


def verify_problems(
    report: VerifyReport, *, requests: int, decisions: int, dead_letters: int
) -> list[str]:
    """Why the verify is not 100 % identical: every one of the `requests` sent and `decisions`
    recorded decided again and the same, the signed fields compared too, and nothing set aside
    but what the gate dead-lettered."""
    problems = []
    if report.mismatches:
        fields = sorted({d.field for m in report.mismatches[:100] for d in m.differences})
        problems.append(f"{len(report.mismatches):,} decisions came out different ({fields})")
    if report.not_replayed:
        kinds = dict(report.not_replayed_by_kind)
        problems.append(f"{len(report.not_replayed):,} requests not replayed: {kinds}")
    if report.decisions != decisions:
        problems.append(f"{report.decisions:,} decisions replayed of {decisions:,} recorded")
    if report.matched != report.decisions:
        problems.append(f"{report.matched:,} of {report.decisions:,} decisions matched")
    if report.requests != requests:
        problems.append(f"{report.requests:,} requests seen of {requests:,} sent")
    if len(report.set_aside) != dead_letters:
        problems.append(
            f"{len(report.set_aside):,} requests set aside as invalid, the gate dead-lettered "
            f"{dead_letters:,}"
        )
    if not report.signed_compared:
        problems.append("the signing keys were not found: signed fields were not compared")
    return problems


def verify_figures(report: VerifyReport) -> dict[str, Any]:
    return {
        "requests": report.requests,
        "decisions": report.decisions,
        "matched": report.matched,
        "mismatches": len(report.mismatches),
        "not_replayed": len(report.not_replayed),
        "not_replayed_by_kind": dict(report.not_replayed_by_kind),
        "set_aside": len(report.set_aside),
        "signed_compared": report.signed_compared,
        "seconds": report.seconds,
        "per_s": report.per_second,
    }


def what_if_figures(report: WhatIfReport, policy_file: str) -> dict[str, Any]:
    """A what-if's rate: requests decided again (a request decided twice counts once) over its
    own clock."""
    tally = report.tally
    flips = tally.flips
    return {
        "policy_file": policy_file,
        "policy_version": report.policy_version,
        "requests": tally.requests,
        "seconds": report.seconds,
        "per_s": tally.requests / report.seconds if report.seconds > 0 else float("nan"),
        "allowed_before": tally.allowed_before,
        "allowed_after": tally.allowed_after,
        "newly_denied": flips.newly_denied,
        "newly_allowed": flips.newly_allowed,
        "flips": flips.total,
        "by_rule": {rule: counts.total for rule, counts in tally.rules_by_flips()},
        "not_replayed": len(report.not_replayed),
    }


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def summary_line(results: dict[str, Any]) -> dict[str, Any]:
    """The run's headline figures, flat (a figure not measured is null); keys in
    `SUMMARY_KEYS`'s order."""
    gate = (results.get("gate") or {}).get("per_s")
    replay = results.get("verify") or {}
    alone = results.get("verify_one_process") or {}
    raw = results.get("raw_read") or {}
    what_ifs = results.get("what_if") or {}
    default, stricter = what_ifs.get("default") or {}, what_ifs.get("stricter") or {}
    ratio = _ratio(replay.get("per_s"), gate)
    checks = results.get("gate_decisions")
    line = {
        "gate_per_s": gate,
        "replay_per_s": replay.get("per_s"),
        "replay_ratio_to_gate": ratio,
        "raw_read_per_s": raw.get("per_s"),
        "replay_ratio_to_raw": _ratio(replay.get("per_s"), raw.get("per_s")),
        "raw_read_records_per_s": raw.get("records_per_s"),
        "replay_seconds": replay.get("seconds"),
        "replay_decisions": replay.get("decisions"),
        "replay_matched": replay.get("matched"),
        "replay_mismatches": replay.get("mismatches"),
        "replay_not_replayed": replay.get("not_replayed"),
        "replay_set_aside": replay.get("set_aside"),
        "replay_signed_compared": replay.get("signed_compared"),
        "what_if_default_per_s": default.get("per_s"),
        "what_if_default_flips": default.get("flips"),
        "what_if_stricter_per_s": stricter.get("per_s"),
        "what_if_stricter_flips": stricter.get("flips"),
        "target_met": None if ratio is None else ratio >= TARGET_RATIO_TO_GATE,
        "verify_problems": None if not replay else len(results.get("verify_problems", ())),
        "decision_problems": None if checks is None else len(checks["problems"]),
        "sends": (results.get("workload") or {}).get("sends"),
        "partitions": (results.get("options") or {}).get("partitions"),
        "replay_processes": replay.get("processes"),
        "replay_one_process_per_s": alone.get("per_s"),
        "replay_one_process_ratio_to_gate": _ratio(alone.get("per_s"), gate),
    }
    return json_safe({key: line[key] for key in SUMMARY_KEYS})
