"""`sendgate ledger ...`: keep the PostgreSQL ledger of decisions and suppression changes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import datetime

import typer
from prometheus_client import start_http_server
from rich.console import Console
from rich.table import Table

from streams.cli.options import parse_moment
from streams.core.clock import FileClock, SystemClock, utc_text
from streams.core.errors import SendgateError
from streams.core.settings import Settings
from streams.edges.ledger import ledger_counts, make_engine, run_ledger_sink, upgrade
from streams.edges.ledger.retention import apply_retention
from streams.edges.ledger.sink import SinkProgress
from streams.privacy.retention import load_retention_policy

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


@app.command()
def retention(
    ctx: typer.Context,
    at: str | None = typer.Option(
        None,
        "--at",
        metavar="TIME",
        help="Run as of this moment: an ISO date (midnight UTC) or date-time with offset "
        "(default: now, or the clock_file setting's time).",
        show_default=False,
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Count what would be redacted or deleted; change nothing."
    ),
) -> None:
    """Apply the retention policy once: consent evidence past its period is redacted (or the
    person's whole chain deleted), decisions past theirs deleted.

    The ledger sink does this by itself every retention_interval_s; this runs it by hand. The
    periods are the retention policy's (retention_policy_file, or the shipped one). Running it
    again at the same moment changes nothing.
    """
    settings = ctx.ensure_object(Settings)
    moment = parse_moment(at, option="--at") if at is not None else _clock_now(settings)
    policy = load_retention_policy(settings.retention_policy_file)
    database_url = settings.database_url.get_secret_value()
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        report = apply_retention(engine, policy, moment, dry_run=dry_run)
    finally:
        engine.dispose()
    title = f"retention as of {utc_text(moment)}"
    if dry_run:
        title += " (dry run: nothing changed)"
    table = Table("table", "action", "rows", "due if at or before", title=title)
    cutoffs = {"consent_events": report.consent_cutoff}
    for count in report.counts:
        cutoff = cutoffs.get(count.table, report.decisions_cutoff)
        action = f"would be {count.action}" if dry_run else count.action
        table.add_row(count.table, action, f"{count.rows:,}", utc_text(cutoff))
    console.print(table)
    console.print(
        f"kept: consent evidence {policy.consent_evidence.describe()} after the last "
        f"relationship event, decisions {policy.decisions.describe()}; people whose whole "
        f"consent chain {'would go' if dry_run else 'went'}: {report.chains_deleted:,}"
    )


def _clock_now(settings: Settings) -> datetime:
    return (FileClock(settings.clock_file) if settings.clock_file else SystemClock()).now()
