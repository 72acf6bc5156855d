"""The replay run's tables: the live gate, the replay and the raw read side by side with the
replay's ratio to each, the verify's outcome, the what-ifs, and where the replay's time went."""

from __future__ import annotations

from typing import Any

from harness.report import console, print_machine
from rich.table import Table

from replaying.figures import TARGET_RATIO_TO_GATE, summary_line

__all__ = ["print_results", "speed_rows"]


def speed_rows(results: dict[str, Any]) -> list[tuple[str, int | None, float | None, float | None]]:
    """(what, decisions, seconds, decisions/s) of the live gate, the replay and the raw read, in
    the table's order; a figure not measured is None."""
    gate = results.get("gate") or {}
    replay = results.get("verify") or {}
    alone = results.get("verify_one_process") or {}
    raw = results.get("raw_read") or {}
    return [
        (
            "live gate: decide (worker, CreateTime span of its decisions)",
            gate.get("decisions"),
            gate.get("seconds"),
            gate.get("per_s"),
        ),
        (
            f"replay: verify as the CLI runs it ({replay.get('processes', '?')} processes: "
            "read both topics, decide again, compare bytes)",
            replay.get("decisions"),
            replay.get("seconds"),
            replay.get("per_s"),
        ),
        (
            "replay: verify in one process",
            alone.get("decisions"),
            alone.get("seconds"),
            alone.get("per_s"),
        ),
        (
            "raw aiokafka: read both topics, decode (no group)",
            raw.get("decisions"),
            raw.get("seconds"),
            raw.get("per_s"),
        ),
    ]


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _cores(shares: dict[str, float]) -> str:
    """Cores busy (1.00 = one core): the replay's own process, the broker, everybody else."""
    return ", ".join(f"{name} {value:.2f}" for name, value in shares.items())


def print_results(results: dict[str, Any], machine: dict[str, str]) -> None:
    summary = summary_line(results)
    replay_per_s = summary["replay_per_s"]
    table = Table(title="Decisions per second (same run, same topics and partitions)")
    for column in ("", "decisions", "seconds", "decisions/s", "replay / this"):
        table.add_column(column, justify="left" if not column else "right")
    for label, decisions, seconds, per_s in speed_rows(results):
        ratio = None if replay_per_s is None or not per_s else replay_per_s / per_s
        table.add_row(
            label,
            _number(decisions, ","),
            _number(seconds, ".2f"),
            _number(per_s, ",.0f"),
            "-" if ratio is None else f"{ratio:.2f}x",
        )
    console.print(table)
    raw = results.get("raw_read") or {}
    console.print(
        "Live gate: records on send-decisions / (last - first CreateTime), as "
        "gate_throughput.py's (c); start-up and restore outside. Replay: verify's own clock, "
        "from its first metadata call (a consumer started per partition and topic; with "
        "several processes, from before they start) to its last comparison: reading both "
        "topics, decoding requests, decisions and their inputs, the recipient keys checked, "
        "gate_step (rules, signing), encoding and comparing bytes. The content rules' findings "
        "are remembered per message content, as the CLI's replay does. "
        "Raw: one consumer per topic over every partition, decoding each "
        "value once, nothing more"
        + (f" ({raw['records']:,} records, {raw['records_per_s']:,.0f} records/s)." if raw else ".")
    )
    for what, figures in (
        ("raw read", raw),
        ("verify", results.get("verify") or {}),
        ("verify, one process", results.get("verify_one_process") or {}),
        *((f"what-if {key}", figures) for key, figures in (results.get("what_if") or {}).items()),
    ):
        cores = figures.get("cpu_cores")
        if cores:
            console.print(f"CPU while timed, {what}: {_cores(cores)}")
    ratio = summary["replay_ratio_to_gate"]
    if ratio is not None:
        verdict = "[green]met[/]" if ratio >= TARGET_RATIO_TO_GATE else "[red]NOT met[/]"
        console.print(
            f"Target replay >= {TARGET_RATIO_TO_GATE:g}x the live gate: {ratio:.2f}x, {verdict}"
        )

    replay = results.get("verify")
    if replay:
        console.print(
            f"Verify: {replay['requests']:,} requests, {replay['decisions']:,} decisions, "
            f"{replay['matched']:,} identical, {replay['mismatches']:,} different, "
            f"{replay['not_replayed']:,} not replayed"
            f"{' ' + str(replay['not_replayed_by_kind']) if replay['not_replayed'] else ''}, "
            f"{replay['set_aside']:,} set aside as dead letters; signed fields compared: "
            f"{replay['signed_compared']}"
        )
    for problem in results.get("verify_problems", ()):
        console.print(f"[red bold]verify problem: {problem}[/]")
    checks = results.get("gate_decisions")
    if checks:
        console.print(
            f"Live gate's decisions: {checks['decisions']:,} for "
            f"{checks['distinct_request_ids']:,} requests; allow {checks['allow']:,}, deny "
            f"{checks['deny']:,} (workload expects {checks['expected_denials']:,}); dead "
            f"letters {checks['dead_letters']}"
        )
        for problem in checks["problems"]:
            console.print(f"[red]problem: {problem}[/]")

    what_ifs = results.get("what_if") or {}
    if what_ifs:
        table = Table(title="What-if over the same range: requests decided again per second")
        for column in ("policy", "requests", "seconds", "requests/s", "flips", "by rule"):
            table.add_column(column, justify="left" if column in ("policy", "by rule") else "right")
        for figures in what_ifs.values():
            table.add_row(
                figures["policy_version"],
                f"{figures['requests']:,}",
                f"{figures['seconds']:.2f}",
                f"{figures['per_s']:,.0f}",
                f"{figures['flips']:,} (+{figures['newly_denied']:,} deny, "
                f"+{figures['newly_allowed']:,} allow)",
                str(figures["by_rule"] or "-"),
            )
        console.print(table)

    profile = results.get("profile")
    if profile:
        _print_profile(profile)
    print_machine(machine)


def _print_profile(profile: dict[str, Any]) -> None:
    stages = profile["stages"]
    total = stages["verify_cumulative_s"]
    table = Table(
        title=(
            f"Verify under cProfile: {profile['decisions']:,} decisions, "
            f"{profile['per_s']:,.0f}/s with the profiler, verify {total:.1f}s cumulative"
        )
    )
    for column in ("stage", "s", "share of verify"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for label, seconds in stages["stages_s"].items():
        table.add_row(label, f"{seconds:.2f}", f"{seconds / total:.1%}" if total else "-")
    table.add_row(
        "rest (loop, generators, bookkeeping)",
        f"{stages['rest_s']:.2f}",
        f"{stages['rest_s'] / total:.1%}" if total else "-",
    )
    table.add_row(
        "waiting for the broker (epoll, outside verify)", f"{stages['broker_wait_s']:.2f}", ""
    )
    console.print(table)
    families = Table(title="Self time by code")
    for column in ("code", "self s", "share"):
        families.add_column(column, justify="left" if column == "code" else "right")
    summary = profile["by_code"]
    for family, seconds in summary["by_family"].items():
        families.add_row(family, f"{seconds:.2f}", f"{seconds / summary['total_s']:.1%}")
    console.print(families)
    top = Table(title="Top 15 functions by self time")
    for column in ("code", "function", "calls", "tottime s", "cumtime s"):
        top.add_column(column, justify="right" if column.endswith(("s", "calls")) else "left")
    for row in summary["top_tottime"]:
        top.add_row(
            row.family, row.function, f"{row.calls:,}", f"{row.tottime:.2f}", f"{row.cumtime:.2f}"
        )
    console.print(top)
    console.print(f"profile kept at {profile['path']} (python -m pstats FILE, or snakeviz)")
