"""The unsubscribe run's tables: click-to-effective latency beside its baselines, the checks,
the endpoint's rates beside a trivial handler and raw produce acks, the worker log, the machine.
"""

from __future__ import annotations

from typing import Any

from harness.report import console, latency_cells, ms, print_machine, print_worker_log
from rich.table import Table

from unsubscribe.figures import TARGET_P99_MS
from unsubscribe.probes import Reader

__all__ = ["print_results"]


def _cores(shares: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in shares.items()) or "-"


def _print_checks(name: str, checks: dict[str, Any]) -> None:
    colour = "red" if checks["allowed_after_t0"] else "green"
    console.print(
        f"[bold]{name}:[/] [{colour}]sends requested after t0: "
        f"{checks['probe_requests_after_t0']:,}, allowed {checks['allowed_after_t0']} "
        "(violations of 'every later send is denied')[/]"
        + (
            f"[red] in probes {checks['probes_with_an_allow_after_t0'][:20]}[/]"
            if checks["allowed_after_t0"]
            else ""
        )
        + f"; denied for other rules: {checks['denied_for_other_rules'] or 'none'}. "
        "The first request after t0 was the first denied in "
        f"{checks['first_request_after_t0_denied']} of {checks['probes']} probes; the keeper's "
        "change record came after that first denial in "
        f"{checks['keeper_applied_after_first_deny']} (the gate's fence read the click itself); "
        f"keeper outcomes {checks['keeper_outcomes']}."
    )


def print_results(results: dict[str, Any]) -> None:
    summary = results["summary"]
    background = results["background"]
    table = Table(
        title=(
            "Click-to-effective latency, from the one-click POST's 200 (t0), gate at "
            f"{background['achieved_per_s']:,.0f} background sends/s"
        )
    )
    for column in ("measure", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms"):
        table.add_column(column, justify="left" if column == "measure" else "right")

    def add(label: str, figures: dict[str, float], style: str | None = None) -> None:
        table.add_row(label, *latency_cells(figures), style=style)

    at_load = summary["at_load"]
    rows = (
        ("t0 -> first denied send (its CreateTime)", "click_to_effective"),
        ("t0 -> first denied send (read here)", "click_to_effective_received"),
        ("  the first denied request was sent at t0 +", "first_denied_request_sent"),
        ("  its own request -> decision (CreateTime)", "first_denied_gate_lag"),
        ("the gate itself: every probe request -> decision", "gate_request_to_decision"),
        ("POST sent -> 200 (round trip)", "post_round_trip"),
        ("POST sent -> click record (its CreateTime)", "post_to_click_record"),
        ("click record -> 200 read here (ack + answer)", "click_record_to_200"),
        ("t0 -> keeper's suppression change (CreateTime)", "keeper_applied"),
    )
    for label, key in rows:
        add(label, at_load[key])
    no_load = summary.get("no_load")
    if no_load:
        for label, key in (
            ("baseline, no background: t0 -> first denied send", "click_to_effective"),
            ("baseline, no background: the gate itself", "gate_request_to_decision"),
            ("baseline, no background: POST round trip", "post_round_trip"),
        ):
            add(label, no_load[key], style="dim")
    add(
        "the link sends, all at once before the load: request -> decision",
        results["link_request_to_decision"],
        style="dim",
    )
    console.print(table)
    n = at_load["click_to_effective"]["n"]
    if n < 100:
        console.print(f"[dim]With {n} probes the p99 by nearest rank is the slowest probe.[/]")
    target = summary["target"]
    verdict = "[green]met[/]" if target["met"] else "[red]NOT met[/]"
    console.print(
        f"Target p99 t0 -> first denied send < {TARGET_P99_MS:.0f} ms at load: "
        f"{ms(target['p99_ms'])} ms, {verdict}"
    )
    _print_checks("at load", at_load["checks"])
    if no_load:
        _print_checks("no background", no_load["checks"])
    console.print(
        f"Background: {background['sent']:,} requests in {background['seconds']:.1f}s "
        f"({background['achieved_per_s']:,.0f}/s, target {background['target_per_s']:,.0f}/s); "
        f"1 in {Reader.SAMPLE_EVERY} decisions read during the probes decoded: "
        f"{background['sampled_verdicts']} {background['sampled_denial_rules'] or ''}. "
        "The probes' own sends added "
        f"{results['probe_requests_per_s_during_probes']:,.0f}/s while probing. "
        f"CPU while probing (cores): {_cores(results.get('cpu_cores_during_probes') or {})}."
    )

    endpoint = summary.get("endpoint")
    if endpoint:
        raw = results["endpoint"]
        options = results["options"]
        load = (
            f"gate at {options['background_rate']:,.0f} background sends/s"
            if options["endpoint_load"]
            else "no background load"
        )
        table = Table(
            title=(
                f"One-click endpoint on loopback: {options['rps_requests']:,} POSTs at concurrency "
                f"{options['concurrency']} (after {raw['warmup']} warm-up), aiohttp client in its "
                f"own process, {load}"
            )
        )
        for column in ("contender", "requests", "answers", "s", "req/s", "p50 ms", "p99 ms"):
            table.add_column(column, justify="left" if column == "contender" else "right")
        table.add_column("max ms", justify="right")
        labels = {
            "service": "sendgate one-click (verify token, publish, Kafka ack)",
            "trivial": "baseline: trivial aiohttp handler (200, no Kafka)",
            "raw_produce_linger_5": (
                "baseline: raw aiokafka produce -> ack (linger 5 ms, as the service)"
            ),
            "raw_produce_linger_0": "baseline: raw aiokafka produce -> ack (linger 0)",
        }
        for name, label in labels.items():
            row = endpoint[name]
            answers = ", ".join(f"{status}: {count:,}" for status, count in row["statuses"].items())
            if row["errors"]:
                answers += f"; errors {row['errors']}"
            table.add_row(
                label,
                f"{row['requests']:,}",
                answers,
                f"{row['seconds']:.2f}",
                f"{row['per_second']:,.0f}",
                ms(row["p50_ms"]),
                ms(row["p99_ms"]),
                ms(row["max_ms"]),
            )
        console.print(table)
        service, trivial = endpoint["service"], endpoint["trivial"]
        ratio = service["per_second"] / max(trivial["per_second"], 1e-9)
        console.print(
            f"The service answers at {ratio:.2f}x the trivial handler's rate; its p50 is "
            f"{ms(service['p50_ms'] - trivial['p50_ms'])} ms "
            "above it (token check, click record, producer and the Kafka ack). Click record: "
            f"{raw['click_record_bytes']} bytes."
        )
        for name in ("service", "trivial"):
            console.print(f"CPU during '{name}' (cores): {_cores(raw[name]['cpu_cores'])}.")
        for name in ("raw_produce_linger_5", "raw_produce_linger_0"):
            console.print(
                f"CPU of this process during '{name}': {raw[name]['bench_cpu_cores']:.2f} cores."
            )
        single = endpoint["single_source"]
        console.print(
            f"Per-client limit: {single['requests']} POSTs from one source address (concurrency 4) "
            f"got {single['statuses']}"
            + (f", errors {single['errors']}" if single["errors"] else "")
            + " (the service allows 60 a minute per client address; a mailbox provider's one-click "
            "POSTs come from its own few servers)."
        )

    print_worker_log(
        f"Dead letters: {results['dead_letters']}. ",
        results["worker_exit_code"],
        results["worker_log"],
    )
    loads = {
        "at start": results.get("load_average_at_start"),
        "before probes": results.get("load_average_before_probes"),
        "after probes": results.get("load_average_after_probes"),
        "at end": results.get("load_average_at_end"),
    }
    console.print(
        "Load average (1/5/15 min): "
        + "; ".join(
            f"{when} {' '.join(f'{v:.2f}' for v in value)}"
            for when, value in loads.items()
            if value
        )
    )
    print_machine(results["machine"])
