"""`sendgate status`: the deployment at a glance, one table per group of workers.

Read from the broker (lag per topic, decisions in the last minute, the last decision's age, dead
letters of the last hour) and, for each `--worker` URL, from that worker's `/readyz`. Exit 0
when the broker answers and every worker named is ready, 1 otherwise, so a script can wait on it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from streams.cli.terminal import NameCell, quiet_kafka_client, stdout_console
from streams.core.errors import SendgateError
from streams.core.settings import Settings
from streams.edges.admin import check_broker
from streams.edges.status import StatusReport, read_status

__all__ = ["status"]


def status(
    ctx: typer.Context,
    workers: Annotated[
        list[str] | None,
        typer.Option(
            "--worker",
            help="A worker's metrics base URL (http://HOST:PORT, its --metrics-port); repeat "
            "for each worker.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
    timeout_s: Annotated[
        float, typer.Option("--timeout", min=0.5, help="Seconds to wait for the broker.")
    ] = 10.0,
) -> None:
    """Show lag, decision rate, last decision and dead letters per group of workers."""
    settings = ctx.ensure_object(Settings)
    quiet_kafka_client()
    asyncio.run(check_broker(settings, timeout_s=timeout_s))
    try:
        report = asyncio.run(read_status(settings, workers or ()))
    except Exception as exc:  # the broker went away between the check and the read
        raise SendgateError(f"the broker stopped answering ({type(exc).__name__})") from None
    if as_json:
        print(json.dumps(status_document(report), indent=2))
    else:
        render(report)
    if any(worker.ready is not True for worker in report.workers):
        raise typer.Exit(1)


def _age(age: timedelta | None) -> str:
    if age is None:
        return "never"
    seconds = max(0, int(age.total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def render(report: StatusReport) -> None:
    console = stdout_console()
    console.print(f"[bold]sendgate status[/] at {report.at:%Y-%m-%d %H:%M:%S} UTC")
    for group in report.groups:
        members = "?" if group.members is None else str(group.members)
        table = Table(title=f"{group.name}: group {group.group}, {members} member(s)")
        table.add_column("topic", overflow="fold")
        table.add_column("partitions", justify="right")
        table.add_column("lag", justify="right")
        for topic in group.topics:
            table.add_row(NameCell(topic.topic), str(topic.partitions), f"{topic.lag:,}")
        if not group.topics:
            table.add_row("(nothing committed yet)", "", "")
        table.add_row("[bold]all[/]", "", f"[bold]{group.lag:,}[/]", end_section=True)
        console.print(table)
    console.print(
        f"Decisions: {report.decisions_last_minute:,} in the last minute "
        f"({report.decisions_per_second:.1f}/s); the last {_age(report.last_decision_age)}."
    )
    letters = Table(title="dead letters in the last hour")
    letters.add_column("from topic", overflow="fold")
    letters.add_column("error kind", overflow="fold")
    letters.add_column("records", justify="right")
    for (topic, kind), count in sorted(report.dead_letters.by_origin.items()):
        letters.add_row(NameCell(topic), kind, f"{count:,}")
    if not report.dead_letters.by_origin:
        letters.add_row("none", "", "0")
    console.print(letters)
    if report.workers:
        health = Table(title="workers")
        health.add_column("worker", overflow="fold")
        health.add_column("ready")
        health.add_column("partitions", justify="right")
        health.add_column("why not", overflow="fold")
        for worker in report.workers:
            ready = {True: "yes", False: "[yellow]no[/]", None: "[red]no answer[/]"}[worker.ready]
            assigned = "" if worker.assigned_partitions is None else str(worker.assigned_partitions)
            health.add_row(worker.url, ready, assigned, "; ".join(worker.reasons))
        console.print(health)


def status_document(report: StatusReport) -> dict[str, Any]:
    age = report.last_decision_age
    return {
        "at": report.at.isoformat(),
        "groups": [
            {
                "name": group.name,
                "group": group.group,
                "members": group.members,
                "lag": group.lag,
                "topics": [
                    {"topic": t.topic, "partitions": t.partitions, "lag": t.lag}
                    for t in group.topics
                ],
            }
            for group in report.groups
        ],
        "decisions_last_minute": report.decisions_last_minute,
        "decisions_per_second": round(report.decisions_per_second, 3),
        "last_decision_at": report.last_decision_at.isoformat()
        if report.last_decision_at
        else None,
        "last_decision_age_s": None if age is None else round(age.total_seconds(), 1),
        "dead_letters_last_hour": {
            "total": report.dead_letters.total,
            "by_origin": [
                {"topic": topic, "error_kind": kind, "records": count}
                for (topic, kind), count in sorted(report.dead_letters.by_origin.items())
            ],
        },
        "workers": [
            {
                "url": worker.url,
                "ready": worker.ready,
                "reasons": list(worker.reasons),
                "assigned_partitions": worker.assigned_partitions,
            }
            for worker in report.workers
        ],
    }
