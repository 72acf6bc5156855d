"""`sendgate topics`: create the catalogue's topics on the broker, and list them.

The broker runs with topic auto-creation off, so `topics create` is a setup step (run it again
at any time: existing topics are left alone and checked). Both commands refuse with a one-line
error and a non-zero exit when the broker does not answer within `--timeout`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streams.cli.terminal import quiet_kafka_client, stdout_console
from streams.core.settings import Settings
from streams.edges.admin import create_topics, describe_topics, is_problem

__all__ = ["app"]

app = typer.Typer(
    help="Create and list sendgate's Kafka topics (auto-creation is off on the broker).",
    no_args_is_help=True,
)

_TimeoutOption = Annotated[
    float,
    typer.Option("--timeout", min=0.5, help="Seconds to wait for the broker before giving up."),
]


@app.command("create")
def create(
    ctx: typer.Context,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            min=1,
            help="Partitions per topic (default: SENDGATE_TOPIC_PARTITIONS). Every topic gets "
            "the same count, so the tables stay co-partitioned with their streams.",
            show_default=False,
        ),
    ] = None,
    timeout_s: _TimeoutOption = 10.0,
) -> None:
    """Create every missing topic; report on existing ones (exit 1 if one does not match)."""
    settings = ctx.ensure_object(Settings)
    quiet_kafka_client()
    statuses = asyncio.run(create_topics(settings, partitions=partitions, timeout_s=timeout_s))
    table = Table("topic", "status")
    table.columns[0].overflow = "fold"
    for name, status in statuses.items():
        table.add_row(name, f"[red]{status}[/]" if is_problem(status) else status)
    stdout_console().print(table)
    problems = sum(is_problem(status) for status in statuses.values())
    if problems:
        Console(stderr=True).print(f"[red]{problems} topic(s) are not as sendgate needs them[/]")
        raise typer.Exit(1)


@app.command("list")
def list_(ctx: typer.Context, timeout_s: _TimeoutOption = 10.0) -> None:
    """Show sendgate's topics with their partition count and cleanup policy."""
    settings = ctx.ensure_object(Settings)
    quiet_kafka_client()
    infos = asyncio.run(describe_topics(settings, timeout_s=timeout_s))
    table = Table("topic", "partitions", "cleanup policy")
    table.columns[0].overflow = "fold"
    for info in infos:
        if info.exists:
            table.add_row(info.name, str(info.partitions), info.cleanup_policy or "?")
        else:
            table.add_row(info.name, "[red]missing[/]", "")
    stdout_console().print(table)
    missing = sum(not info.exists for info in infos)
    if missing:
        Console(stderr=True).print(f"{missing} topic(s) missing: run 'sendgate topics create'")
