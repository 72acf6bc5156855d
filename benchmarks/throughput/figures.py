"""The throughput run's figures: each contender's rate and ratio to (a), the keepers' rates
beside raw aiokafka over their input, the headline JSON line, and the check of the gate's
decisions against the workload's own reckoning.

Every rate is records over the CreateTime span of the output (`harness.consuming.TopicWindow`),
the same method for every contender, so the ratios compare like with like.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from harness.consuming import TopicWindow, read_topic
from harness.stats import json_safe

from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.topics import SEND_DECISIONS, default_codec
from throughput.workload import TARGETED_RULES

__all__ = [
    "Contender",
    "Keeper",
    "check_decisions",
    "keeper_figures",
    "summary_line",
    "throughput_figures",
]


@dataclass
class Contender:
    label: str
    window: TopicWindow
    wall_s: float
    cpu: dict[str, float]
    kind: str
    """raw, forward, gate or personalised: how the summary finds the row."""


@dataclass
class Keeper:
    """A state keeper's fold, timed by its output records, beside raw aiokafka over its input."""

    label: str
    kind: str
    events: int
    window: TopicWindow
    raw: TopicWindow | None = None


def throughput_figures(contenders: list[Contender]) -> list[dict[str, Any]]:
    baseline = contenders[0].window.per_second
    return [
        {
            "contender": contender.label,
            "kind": contender.kind,
            "records": contender.window.records,
            "seconds": contender.window.seconds,
            "records_per_s": contender.window.per_second,
            "ratio_to_a": contender.window.per_second / baseline,
            "phase_wall_s_with_startup": contender.wall_s,
            "contender_cpu_cores": contender.cpu.get("contender"),
            "broker_cpu_cores": contender.cpu.get("broker"),
        }
        for contender in contenders
    ]


def keeper_figures(keepers: list[Keeper], ceiling: TopicWindow | None = None) -> dict[str, Any]:
    """Per keeper and both together: output records over their timestamp span, as for the
    contenders, beside raw aiokafka over the same input. Together is all records over the sum
    of the spans: the rate of a worker that folded both kinds one after the other."""

    def rate(records: int, seconds: float) -> float:
        return records / seconds if seconds > 0 else float("nan")

    rows = []
    for keeper in keepers:
        raw = keeper.raw
        raw_per_s = raw.per_second if raw else float("nan")
        rows.append(
            {
                "keeper": keeper.label,
                "kind": keeper.kind,
                "events": keeper.events,
                "records": keeper.window.records,
                "seconds": keeper.window.seconds,
                "per_s": keeper.window.per_second,
                "raw_records": raw.records if raw else None,
                "raw_seconds": raw.seconds if raw else None,
                "raw_per_s": raw_per_s,
                "ratio_to_raw": keeper.window.per_second / raw_per_s,
            }
        )
    records = sum(keeper.window.records for keeper in keepers)
    seconds = sum(keeper.window.seconds for keeper in keepers)
    raws = [keeper.raw for keeper in keepers if keeper.raw is not None]
    raw_per_s = (
        rate(sum(raw.records for raw in raws), sum(raw.seconds for raw in raws))
        if len(raws) == len(keepers)
        else float("nan")
    )
    combined = {
        "keeper": "both keepers: events folded",
        "kind": "keepers",
        "events": sum(keeper.events for keeper in keepers),
        "records": records,
        "seconds": seconds,
        "per_s": rate(records, seconds),
        "raw_records": sum(raw.records for raw in raws),
        "raw_seconds": sum(raw.seconds for raw in raws),
        "raw_per_s": raw_per_s,
        "ratio_to_raw": rate(records, seconds) / raw_per_s,
    }
    consents_raw = next((k.raw for k in keepers if k.kind == "consents" and k.raw), None)
    forward = None
    if ceiling is not None and consents_raw is not None:
        forward = {
            "per_s": ceiling.per_second,
            "raw_per_s": consents_raw.per_second,
            "ratio_to_raw": ceiling.per_second / consents_raw.per_second,
        }
    return {"rows": rows, "combined": combined, "faust_forward_consents": forward}


def summary_line(results: dict[str, Any]) -> dict[str, Any]:
    """The run's headline figures, flat: what scripts and people compare between runs. Keys are
    only ever added, so older readers keep working; a figure not measured is null."""
    rows = {row["kind"]: row for row in results.get("throughput", ())}
    keepers = results.get("keepers") or {"rows": [], "combined": {}}
    by_kind = {row["kind"]: row for row in keepers["rows"]}
    latency = results.get("latency") or {}
    checks = [results.get("gate_decisions"), results.get("personalised_decisions")]

    def figure(kind: str, key: str) -> Any:
        return rows.get(kind, {}).get(key)

    forward_consents = keepers.get("faust_forward_consents") or {}

    return json_safe(
        {
            "raw_per_s": figure("raw", "records_per_s"),
            "forward_per_s": figure("forward", "records_per_s"),
            "forward_ratio_to_raw": figure("forward", "ratio_to_a"),
            "gate_per_s": figure("gate", "records_per_s"),
            "gate_ratio_to_raw": figure("gate", "ratio_to_a"),
            "personalised_gate_per_s": figure("personalised", "records_per_s"),
            "personalised_ratio_to_raw": figure("personalised", "ratio_to_a"),
            "keepers_per_s": keepers["combined"].get("per_s"),
            "keepers_ratio_to_raw": keepers["combined"].get("ratio_to_raw"),
            "raw_keepers_per_s": keepers["combined"].get("raw_per_s"),
            "consent_keeper_per_s": by_kind.get("consents", {}).get("per_s"),
            "consent_keeper_ratio_to_raw": by_kind.get("consents", {}).get("ratio_to_raw"),
            "raw_consents_per_s": by_kind.get("consents", {}).get("raw_per_s"),
            "suppression_keeper_per_s": by_kind.get("clicks", {}).get("per_s"),
            "suppression_keeper_ratio_to_raw": by_kind.get("clicks", {}).get("ratio_to_raw"),
            "raw_clicks_per_s": by_kind.get("clicks", {}).get("raw_per_s"),
            "faust_forward_consents_per_s": forward_consents.get("per_s"),
            "faust_forward_consents_ratio_to_raw": forward_consents.get("ratio_to_raw"),
            "click_p50_ms": latency.get("p50_ms"),
            "click_p99_ms": latency.get("p99_ms"),
            "click_background_per_s": latency.get("background_achieved_per_s"),
            "click_allowed": latency.get("violations_allowed"),
            "decision_problems": sum(len(check["problems"]) for check in checks if check),
            "sends": results.get("workload", {}).get("sends"),
            "partitions": results.get("options", {}).get("partitions"),
        }
    )


async def check_decisions(
    settings: Settings,
    end: dict[int, int],
    records: int,
    expected_denials: int,
    *,
    start: dict[int, int] | None = None,
) -> dict[str, Any]:
    """Read the gate's decisions between two offsets (default: from the beginning) for
    `records` requests: one per request, denials as expected."""
    codec = default_codec()
    rows = await read_topic(
        settings.kafka_bootstrap_servers,
        settings.topic(SEND_DECISIONS.name),
        start=start,
        end=end,
    )
    by_request: dict[str, SendDecision] = {}
    disagreements = 0
    for _, _, value, _ in rows:
        decision = codec.decode(value or b"", SendDecision)
        earlier = by_request.setdefault(decision.request_id, decision)
        disagreements += earlier.failures != decision.failures
    verdicts = Counter(decision.verdict for decision in by_request.values())
    rules = Counter(
        failure.rule for decision in by_request.values() for failure in decision.failures
    )
    unexpected = {rule: count for rule, count in rules.items() if rule not in TARGETED_RULES}
    checks = {
        "decisions": len(rows),
        "distinct_request_ids": len(by_request),
        "duplicates": len(rows) - len(by_request),
        "duplicates_that_disagree": disagreements,
        "allow": verdicts["allow"],
        "deny": verdicts["deny"],
        "expected_denials": expected_denials,
        "failed_rules": dict(rules.most_common()),
        "unexpected_rules": unexpected,
    }
    problems = []
    if len(by_request) != records:
        problems.append(f"decisions for {len(by_request):,} of {records:,} requests")
    if disagreements:
        problems.append(f"{disagreements} re-delivered requests were decided differently")
    if verdicts["deny"] == 0:
        problems.append("no denials at all")
    if verdicts["deny"] != expected_denials:
        problems.append(f"{verdicts['deny']:,} denials, the workload expects {expected_denials:,}")
    if unexpected:
        problems.append(f"denials by rules the workload does not target: {unexpected}")
    checks["problems"] = problems
    return checks
