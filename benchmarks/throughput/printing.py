"""The throughput run's tables: the contenders, the keepers, the click latency, the profile and
the headline, side by side with each one's raw aiokafka baseline.
"""

from __future__ import annotations

from typing import Any

from harness.report import console, print_machine
from rich.table import Table

from throughput.figures import summary_line

__all__ = ["print_results"]


def print_results(results: dict[str, Any], machine: dict[str, str]) -> None:
    table = Table(title="Decisions per second (same run, same topics and partitions)")
    columns = (
        "contender",
        "records",
        "seconds",
        "records/s",
        "ratio to (a)",
        "phase wall s",
        "its CPU",
        "broker CPU",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "contender" else "right")
    for row in results["throughput"]:
        table.add_row(
            row["contender"],
            f"{row['records']:,}",
            f"{row['seconds']:.2f}",
            f"{row['records_per_s']:,.0f}",
            f"{row['ratio_to_a']:.2f}x",
            f"{row['phase_wall_s_with_startup']:.1f}",
            _cores(row["contender_cpu_cores"]),
            _cores(row["broker_cpu_cores"]),
        )
    console.print(table)
    console.print(
        "Each figure: records on the contender's output topic / (last - first CreateTime "
        "timestamp), the same method for (a) to (d); start-up, group join and table "
        "restore are outside the window ('phase wall s' includes them). CPU: cores busy "
        "while the contender ran (1.00 = one core), sampled from /proc. (d) decides a twin "
        "of every request of (c) whose subject, text and links differ per recipient."
    )
    options = results["options"]
    console.print(
        "Worker processes ran with: streams.gate.faust_fixes (always, applied when "
        "streams.gate.app.new_faust_app builds the app)"
        + "".join(f", {patch}" for patch in options["worker_patches"])
    )
    rows = {row["kind"]: row for row in results["throughput"]}
    gate_ratio = rows["gate"]["ratio_to_a"]
    verdict = "[green]met[/]" if gate_ratio >= 0.3 else "[red]NOT met[/]"
    console.print(f"Target gate >= 0.3x of (a): {gate_ratio:.2f}x, {verdict}")
    if "personalised" in rows:
        ratio = rows["personalised"]["records_per_s"] / rows["gate"]["records_per_s"]
        console.print(
            f"Personalised bodies: {rows['personalised']['ratio_to_a']:.2f}x of (a), "
            f"{ratio:.2f}x of (c) with the plain template bodies"
        )

    for title, key in (
        ("Gate decisions", "gate_decisions"),
        ("(d) decisions", "personalised_decisions"),
    ):
        checks = results.get(key)
        if not checks:
            continue
        console.print(
            f"{title}: {checks['decisions']:,} for {checks['distinct_request_ids']:,} "
            f"requests ({checks['duplicates']:,} re-delivered at start-up); "
            f"allow {checks['allow']:,}, deny {checks['deny']:,} (workload expects "
            f"{checks['expected_denials']:,}); failed rules {checks['failed_rules']}; "
            f"dead letters {checks['dead_letters']}"
        )
        for problem in checks["problems"]:
            console.print(f"[red]problem: {problem}[/]")

    keepers = results.get("keepers")
    if keepers:
        _print_keepers(keepers)

    latency = results.get("latency")
    if latency:
        table = Table(
            title=(
                "Click-to-effective latency: click acknowledged -> deny of the next send read "
                f"(gate at {latency['background_achieved_per_s']:,.0f} background sends/s)"
            )
        )
        for column in ("probes", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms", "allowed"):
            table.add_column(column, justify="right")
        table.add_row(
            str(latency["probes"]),
            f"{latency['p50_ms']:.1f}",
            f"{latency['p95_ms']:.1f}",
            f"{latency['p99_ms']:.1f}",
            f"{latency['max_ms']:.1f}",
            f"{latency['mean_ms']:.1f}",
            f"{latency['violations_allowed']}",
        )
        console.print(table)
        if latency["violations_allowed"] or latency["denied_for_another_reason"]:
            console.print(
                f"[red]{latency['violations_allowed']} probes allowed, "
                f"{latency['denied_for_another_reason']} denied without list-unsubscribed[/]"
            )

    profile = results.get("profile")
    if profile:
        _print_profile(profile)

    _print_headline(results)
    print_machine(machine)


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _print_keepers(keepers: dict[str, Any]) -> None:
    table = Table(
        title="State keepers: events folded per second, beside raw aiokafka over the same topic"
    )
    for column in (
        "keeper",
        "events",
        "output records",
        "seconds",
        "records/s",
        "raw aiokafka/s",
        "ratio to raw",
    ):
        table.add_column(column, justify="left" if column == "keeper" else "right")
    for row in [*keepers["rows"], keepers["combined"]]:
        table.add_row(
            row["keeper"],
            f"{row['events']:,}",
            f"{row['records']:,}",
            f"{row['seconds']:.2f}",
            f"{row['per_s']:,.0f}",
            f"{row['raw_per_s']:,.0f}",
            f"{row['ratio_to_raw']:.2f}x",
        )
    console.print(table)
    console.print(
        "Output records: the consents table's changelog (one write per fold) and "
        "suppression-changes (one per click), over their CreateTime span; both keepers started "
        "on a backlog, so start-up and restore are outside the window. Raw aiokafka: consume, "
        "decode with our codec, produce the same bytes. Both keepers: all records over the sum "
        "of the two spans."
    )
    forward = keepers.get("faust_forward_consents")
    if forward:
        console.print(
            f"Ceiling for any faust agent over the consent events: a faust agent that only "
            f"forwards them ran at {forward['per_s']:,.0f}/s, {forward['ratio_to_raw']:.2f}x of "
            f"raw aiokafka over them ({forward['raw_per_s']:,.0f}/s)."
        )


def _print_headline(results: dict[str, Any]) -> None:
    """The figures people compare, side by side, each with its own raw baseline."""
    summary = summary_line(results)
    table = Table(title="Headline: per second, and ratio to raw aiokafka over the same topics")
    for column in ("raw sends", "forward", "gate", "gate, personalised", "keepers", "raw keepers"):
        table.add_column(column, justify="right")

    def cell(value: float | None, ratio: float | None = None) -> str:
        if value is None:
            return "-"
        return f"{value:,.0f}" + ("" if ratio is None else f" ({ratio:.2f}x)")

    table.add_row(
        cell(summary["raw_per_s"]),
        cell(summary["forward_per_s"], summary["forward_ratio_to_raw"]),
        cell(summary["gate_per_s"], summary["gate_ratio_to_raw"]),
        cell(summary["personalised_gate_per_s"], summary["personalised_ratio_to_raw"]),
        cell(summary["keepers_per_s"], summary["keepers_ratio_to_raw"]),
        cell(summary["raw_keepers_per_s"]),
    )
    console.print(table)


def _print_profile(profile: dict[str, Any]) -> None:
    console.print(
        f"[bold]Gate under cProfile[/]: {profile['records']:,} decisions at "
        f"{profile['decisions_per_s_under_profiler']:,.0f}/s (profiler overhead included), "
        f"worker CPU {_cores(profile['worker_cpu_cores_under_profiler'])} cores, "
        f"{profile['wall_s_with_startup']:.1f}s wall incl. start-up"
    )
    for thread, summary in profile["threads"].items():
        total = summary["total_s"]
        table = Table(title=f"Thread {thread}: self time by code ({total:.1f}s profiled)")
        for column in ("code", "self s", "share"):
            table.add_column(column, justify="left" if column == "code" else "right")
        for family, seconds in summary["by_family"].items():
            table.add_row(family, f"{seconds:.2f}", f"{seconds / total:.1%}")
        console.print(table)
        sections = [("top_tottime", "top 15 functions by self time (tottime)")]
        if thread.startswith("main"):
            sections += [
                ("top_cumtime_ours", "top 15 of our functions (streams/) by cumulative time"),
                ("top_cumtime_libraries", "top 15 library functions by cumulative time"),
            ]
        for key, title in sections:
            table = Table(title=f"Thread {thread}: {title}")
            for column in ("code", "function", "calls", "tottime s", "cumtime s"):
                table.add_column(
                    column, justify="right" if column.endswith(("s", "calls")) else "left"
                )
            for row in summary[key]:
                table.add_row(
                    row.family,
                    row.function,
                    f"{row.calls:,}",
                    f"{row.tottime:.2f}",
                    f"{row.cumtime:.2f}",
                )
            console.print(table)
    console.print(
        f"profiles kept in {profile['profile_dir']} "
        "(python -m pstats FILE, or snakeviz, to explore)"
    )
