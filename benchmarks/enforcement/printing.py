"""The enforcement run's tables: complaint to strike and to the first denied broadcast beside
the one-hop baseline, where the time goes along the chain, the checks, and the machine.
"""

from __future__ import annotations

import math
from typing import Any

from harness.report import console, latency_cells, ms, print_machine, print_worker_log
from rich.markup import escape
from rich.table import Table

from enforcement.chain import CHAIN, HOPS_TO_ENFORCEMENT, HOPS_TO_TABLE

__all__ = ["print_results"]


def print_results(results: dict[str, Any]) -> None:
    summary = results["summary"]
    background = results["background"]
    table = Table(
        title=(
            "Complaint-to-enforcement latency, from the threshold-crossing complaint's "
            f"acknowledged produce (gate at {background['achieved_per_s']:,.0f} background "
            "sends/s, act_at_once = true)"
        )
    )
    for column in ("measure", "hops", "probes", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    rows = (
        (
            "complaint -> enforcement event (its CreateTime)",
            str(HOPS_TO_ENFORCEMENT),
            "complaint_to_enforcement_event",
        ),
        (
            "complaint -> enforcement event (read here)",
            str(HOPS_TO_ENFORCEMENT),
            "complaint_to_enforcement_event_received",
        ),
        (
            "complaint -> first denied broadcast (its CreateTime)",
            f"{HOPS_TO_TABLE} + gate",
            "complaint_to_first_denied_broadcast",
        ),
        (
            "complaint -> first denied broadcast (read here)",
            f"{HOPS_TO_TABLE} + gate",
            "complaint_to_first_denied_broadcast_received",
        ),
        (
            "baseline: raw aiokafka, produce ack -> consumer reads",
            "1",
            "baseline_one_hop_ack_to_receive",
        ),
        (
            "baseline: raw aiokafka, produce send -> consumer reads",
            "1",
            "baseline_one_hop_send_to_receive",
        ),
        (
            "the gate itself: probe request sent -> its decision (CreateTime)",
            "1 + gate",
            "gate_request_to_decision",
        ),
    )
    for label, hops, key in rows:
        figures = summary[key]
        table.add_row(label, hops, *latency_cells(figures))
    console.print(table)

    stages = Table(title="Where the time goes (CreateTime of each stage's output record)")
    for column in ("stage", "p50 ms", "p99 ms", "max ms"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    labels = {
        "stage_feedback_to_rate_event_ms": "complaint ack -> rate event (act_on_feedback)",
        "stage_rate_event_to_breach_ms": "rate event -> breach report (keep_rates)",
        "stage_breach_to_enforcement_ms": "breach report -> strike_issued (enforce_accounts)",
        "stage_enforcement_to_first_deny_ms": (
            "strike_issued -> first denied decision (the copy, next request, decide_sends)"
        ),
    }
    for key, label in labels.items():
        figures = summary["stages"][key]
        stages.add_row(label, ms(figures["p50_ms"]), ms(figures["p99_ms"]), ms(figures["max_ms"]))
    console.print(stages)
    first_sent = summary["first_denied_request_sent"]
    console.print(
        "The first denied broadcast's request was sent "
        f"{ms(first_sent['p50_ms'])} ms after the complaint's acknowledgement (p50; max "
        f"{ms(first_sent['max_ms'])} ms; negative: sent before the complaint, and still waiting "
        "in the gate's queue when the account was struck). Each request counted in 'the gate "
        "itself' waited in the same queue as the background load."
    )
    console.print(f"The chain: {escape(CHAIN)}.")
    console.print(
        f"{HOPS_TO_ENFORCEMENT} Kafka hops (produce -> consume) to the enforcement event, "
        f"{HOPS_TO_TABLE} to every worker's copy of the enforcement events. "
        f"A denied broadcast also waits for the next request (one every "
        f"{results['options']['request_interval_ms']:g} ms) and the gate's own decision hop."
    )
    n = summary["complaint_to_enforcement_event"]["n"]
    if n < 100:
        console.print(
            f"[dim]With {n} probes the p99 by nearest rank is the slowest probe "
            f"(p95: rank {math.ceil(0.95 * n)}).[/]"
        )
    target = summary["target"]
    verdict = "[green]met[/]" if target["met"] else "[red]NOT met[/]"
    console.print(
        f"Target p99 complaint -> enforcement event < 1000 ms: {ms(target['p99_ms'])} ms, {verdict}"
    )

    checks = summary["checks"]
    console.print(
        f"Probe requests: {checks['probe_requests']:,} ({checks['probe_requests_before_t0']:,} "
        f"sent before the complaint, of them {checks['sent_before_t0_denied_after_strike']} "
        "denied because the gate decided them after the strike); denied before the strike "
        f"record: {checks['denied_before_strike_record']}; "
        f"allowed after the strike record (by decision time): "
        f"{checks['allowed_after_strike_record']}, of them requested after the strike record: "
        f"{checks['allowed_requested_after_strike_record']}; allowed after the first denial: "
        f"{checks['allowed_after_first_deny']}; denied for other rules: "
        f"{checks['denied_for_other_rules'] or 'none'}; strikes other than strike 1: "
        f"{checks['strikes_other_than_1'] or 'none'}."
    )
    if checks["allowed_after_strike_record"]:
        console.print(
            "[yellow]Allowed after the strike record (by decision time): requests made before "
            "the strike record was acknowledged are judged on the state before it; one requested "
            "after it and allowed breaks the broadcast fence (see the count above).[/]"
        )
    if checks["denied_before_strike_record"] or checks["allowed_after_first_deny"]:
        console.print("[red]problem: a probe's decisions contradict the enforcement order[/]")
    cpu = results.get("cpu_cores_during_probes") or {}
    console.print(
        f"Background: {background['sent']:,} requests in {background['seconds']:.1f}s "
        f"({background['achieved_per_s']:,.0f}/s, target {background['target_per_s']:,.0f}/s); "
        f"decided {background['decisions']:,}: {background['allowed']:,} allowed, "
        f"{background['denied']:,} denied {background['denied_rules'] or ''}. "
        "CPU while probing (cores): "
        + ", ".join(f"{name} {value:.2f}" for name, value in cpu.items())
    )
    print_worker_log(
        f"Dead letters: {results['dead_letters']}. The warm-up request was decided "
        f"{results['warm_up_decisions']} time(s). Enforcement events: "
        f"{results['enforcement_events']}. ",
        results["worker_exit_code"],
        results["worker_log"],
    )
    print_machine(results["machine"])
