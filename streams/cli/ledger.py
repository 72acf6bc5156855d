"""`sendgate ledger ...`: keep the PostgreSQL ledger of decisions and suppression changes."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import typer
from prometheus_client import start_http_server
from rich.console import Console
from rich.table import Table

from streams.core.errors import SendgateError
from streams.core.settings import Settings
from streams.edges.ledger import ledger_counts, make_engine, run_ledger_sink, upgrade
from streams.edges.ledger.sink import SinkProgress

__all__ = ["app"]

app = typer.Typer(
    help="The durable ledger (PostgreSQL; SQLite for the demo).", no_args_is_help=True
)
console = Console()


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Bring the ledger's schema to the newest Alembic revision (safe to run again)."""
    settings = ctx.ensure_object(Settings)
    upgrade(settings.database_url.get_secret_value())
    console.print("ledger schema is at the newest revision")


@app.command()
def run(
    ctx: typer.Context,
    until_idle: float | None = typer.Option(
        None, "--until-idle", help="Stop after this many seconds without a new record."
    ),
    metrics_port: int = typer.Option(
        0,
        "--metrics-port",
        min=0,
        max=65535,
        help="Serve Prometheus metrics (rows written, records read, sink lag) on this port of "
        "the metrics_host setting (0: off).",
    ),
) -> None:
    """Copy decisions, suppression and bounce changes, feedback reports and consent events in.

    Rows are unique by Kafka topic, partition and offset and written in one transaction with the
    ledger's own read positions, so a restart or a replay writes nothing twice. A record whose
    event is stored with other content goes to dead-letters with the reason.
    """
    settings = ctx.ensure_object(Settings)
    if metrics_port:
        try:
            start_http_server(metrics_port, addr=settings.metrics_host)
        except OSError as exc:
            raise SendgateError(
                f"cannot serve metrics on {settings.metrics_host} port {metrics_port}: "
                f"{exc.strerror or exc}"
            ) from None

    async def sink() -> SinkProgress:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        with console.status("copying records into the ledger") as status:

            def show(progress: SinkProgress) -> None:
                status.update(
                    f"read {progress.records_read:,} records, "
                    f"wrote {progress.rows_inserted:,} new rows"
                )

            return await run_ledger_sink(
                settings, stop=stop, on_progress=show, idle_exit_s=until_idle
            )

    progress = asyncio.run(sink())
    console.print(
        f"read {progress.records_read:,} records, wrote {progress.rows_inserted:,} new rows "
        f"({progress.undecodable:,} undecodable skipped, {progress.dead_lettered:,} in conflict "
        "with stored rows dead-lettered)"
    )


@app.command()
def counts(ctx: typer.Context) -> None:
    """Rows per ledger table (migrates an empty ledger first)."""
    settings = ctx.ensure_object(Settings)
    upgrade(settings.database_url.get_secret_value())
    table = Table("table", "rows", title="ledger")
    for name, count in ledger_counts(make_engine(settings.database_url.get_secret_value())).items():
        table.add_row(name, f"{count:,}")
    console.print(table)
