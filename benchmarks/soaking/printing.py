"""The soak's tables: throughput beside the calibration, memory per worker, the checks, the mix,
the decisions, the lag at the end, the machine and the workers' logs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from harness.report import console, ms, print_machine, print_worker_log
from rich.markup import escape
from rich.table import Table

from soaking.figures import check_rows

__all__ = ["print_results"]


def _number(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    return table


def print_results(results: Mapping[str, Any]) -> None:
    _throughput(results)
    _memory(results["rss"])
    _checks(results)
    _mix(results)
    _decisions(results["checks"], results["end"]["sends"])
    _lag(results["end"])
    print_machine(results["machine"])
    for name, worker in results["workers"].items():
        print_worker_log(f"{name}: ", worker["exit_code"], worker["log"])
        during = worker["log_during_soak"]
        console.print(
            f"  of which during the soak: {during.get('tracebacks', '?')} tracebacks, "
            f"{during.get('problem_lines', '?')} lines with warnings or errors"
        )
        for text, count in during.get("problem_kinds", {}).items():
            console.print(f"  [dim]{count:>5} x {escape(text)}[/]")
    verdict = (
        "[green bold]passed[/]"
        if results["passed"]
        else f"[red bold]failed:[/] {escape('; '.join(results['failed_checks']))}"
    )
    console.print(f"soak {verdict}")


def _throughput(results: Mapping[str, Any]) -> None:
    calibration, fed, soak = results["calibration"], results["fed"], results["soak"]
    base, basis = calibration.get("per_s"), fed.get("per_s")

    def ratio(value: float | None, to: float | None) -> str:
        return "-" if not to or value is None else f"{value / to:.2f}x"

    table = _table(
        f"Throughput: the soak beside the calibration ({results['options']['workers']} workers, "
        f"{results['options']['partitions']} partitions)",
        ("", "records", "seconds", "per second", "vs backlog", "vs fed"),
    )
    if base:
        table.add_row(
            "calibration: the gate's decisions over a backlog (the baseline)",
            _number(calibration["measured_decisions"]),
            _number(calibration["seconds"], 1),
            _number(base),
            "1.00x",
            ratio(base, basis),
        )
    if basis:
        table.add_row(
            "calibration, fed: its decisions while this process fed it (the soak's basis)",
            _number(fed["decisions"]),
            _number(fed["seconds"], 1),
            _number(basis),
            ratio(basis, base),
            "1.00x",
        )
    seconds = soak["minutes"] * 60
    rows = (
        ("soak: sends offered (the target)", None, soak["offered_per_s"]),
        ("soak: load sent (paced)", soak["load_sends"], soak["achieved_per_s"]),
        (
            "soak: the gate's decisions",
            soak["decided_per_s"] * seconds,
            soak["decided_per_s"],
        ),
    )
    for label, records, per_s in rows:
        table.add_row(
            label,
            _number(records),
            _number(seconds, 1),
            _number(per_s),
            ratio(per_s, base),
            ratio(per_s, basis),
        )
    console.print(table)
    for what, cores in (
        ("the fed calibration", fed.get("cpu_cores")),
        ("the soak", soak["cpu_cores"]),
    ):
        if cores:
            shares = ", ".join(f"{name} {share:.2f}" for name, share in cores.items())
            console.print(f"CPU during {what}, in cores: {shares}")
    slope = soak["lag_slope_per_s"]
    console.print(
        f"decider lag during the soak: max {_number(soak['lag_max'])}, over the second half "
        f"{'-' if math.isnan(slope) else f'{slope:+,.0f}'} records/s"
    )


def _memory(rss: Mapping[str, Mapping[str, float]]) -> None:
    table = _table(
        "Resident memory per worker (VmRSS; start: as the soak's load began, after the "
        "calibration)",
        (
            "worker",
            "start MiB",
            "end MiB",
            "max MiB",
            "growth MiB",
            "MiB per minute",
            "second half: MiB per minute",
        ),
    )

    def signed(value: float, digits: int) -> str:
        return "-" if math.isnan(value) else f"{value:+,.{digits}f}"

    for name, figures in rss.items():
        table.add_row(
            name,
            _number(figures["start_mib"], 1),
            _number(figures["end_mib"], 1),
            _number(figures["max_mib"], 1),
            signed(figures["growth_mib"], 1),
            signed(figures["growth_mib_per_min"], 2),
            signed(figures["second_half_mib_per_min"], 2),
        )
    console.print(table)


def _checks(results: Mapping[str, Any]) -> None:
    table = _table("Checks", ("check", "measured", "required", "passed"))
    for name, measured, required, passed in check_rows(results):
        table.add_row(name, measured, required, "[green]yes[/]" if passed else "[red]NO[/]")
    table.add_row(
        "rebalances during the soak (workers' 'Joined group' lines)",
        _number(results["rebalances"]),
        "(shown)",
        "-",
    )
    console.print(table)
    for sample in results["checks"]["violation_samples"]:
        console.print(f"  [red]{escape(str(sample))}[/]")


def _mix(results: Mapping[str, Any]) -> None:
    mix, checks = results["mix"], results["checks"]
    latency = checks["probe_latency"]
    table = _table("What was mixed in, and what it did", ("", "count", "what it did"))
    clicks = mix["clicks"]
    table.add_row(
        "unsubscribe clicks",
        _number(sum(clicks.values())),
        ", ".join(f"{scope} {count:,}" for scope, count in sorted(clicks.items())),
    )
    table.add_row(
        "consent events",
        _number(mix["grants"] + mix["withdrawals"]),
        f"{mix['grants']:,} sign-ups (joined the pool: {mix['pool_at_end']:,} at the end), "
        f"{mix['withdrawals']:,} withdrawals; sends allowed after a withdrawal's "
        f"acknowledgement (not fenced): {checks['allowed_after_withdrawal']:,}, the last "
        f"{checks['withdrawal_lag_s'] * 1000:,.0f} ms after it",
    )
    table.add_row(
        "complaints",
        _number(mix["complaints"]),
        f"{mix['flagged_complaints']:,} about the flagged account; "
        f"{checks['complaint_suppressions']:,} suppressions written by the gate",
    )
    enforcement = checks["enforcement"]
    table.add_row(
        "enforcement events",
        _number(sum(enforcement.values())),
        ", ".join(f"{name} {count:,}" for name, count in sorted(enforcement.items())) or "none",
    )
    table.add_row(
        "probes (a click, then 10 sends at once)",
        _number(checks["probes"]),
        f"{checks['probe_decisions']:,} later sends decided, {checks['probe_allowed']:,} "
        f"allowed; click ack -> first deny p50 {ms(latency['p50_ms'])} ms, p99 "
        f"{ms(latency['p99_ms'])} ms, max {ms(latency['max_ms'])} ms",
    )
    missing = mix["not_acknowledged"]
    table.add_row(
        "not acknowledged in time (503)",
        _number(sum(missing.values())),
        ", ".join(f"{kind} {count:,}" for kind, count in sorted(missing.items())) or "none",
    )
    console.print(table)


def _decisions(checks: Mapping[str, Any], sends: int) -> None:
    verdicts = checks["verdicts"]
    table = _table("Decisions read and checked", ("", "count"))
    table.add_row("send requests of the run (calibration, load, probes)", _number(sends))
    table.add_row("send requests decided (distinct)", _number(checks["decided"]))
    table.add_row("allow", _number(verdicts.get("allow", 0)))
    table.add_row("deny", _number(verdicts.get("deny", 0)))
    for rule, count in checks["deny_rules"].items():
        table.add_row(f"  naming {rule} (a denial may name more than one)", _number(count))
    table.add_row("decided more than once (at-least-once)", _number(checks["duplicates"]))
    table.add_row("decisions of other requests (the warm-up)", _number(checks["other_decisions"]))
    console.print(table)


def _lag(end: Mapping[str, Any]) -> None:
    table = _table(
        "Lag as the load stopped (as `sendgate status` computes it) and the drain",
        ("group", "members", "lag at end", "drained after"),
    )
    for group in end["groups"]:
        drained = group["drained_after_s"]
        table.add_row(
            f"{group['name']}: {group['group']}",
            _number(group["members"]),
            _number(group["lag_at_end"]),
            "-" if drained is None else f"{drained:.1f} s",
        )
    console.print(table)
    for health in end["workers_health"]:
        state = {True: "ready", False: "not ready", None: "no answer"}[health["ready"]]
        reasons = f" ({'; '.join(health['reasons'])})" if health["reasons"] else ""
        console.print(
            f"{health['url']}/readyz as the load stopped: {state}, "
            f"{_number(health['assigned_partitions'])} partitions assigned{escape(reasons)}"
        )
