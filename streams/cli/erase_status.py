"""`sendgate erase --status ID`: how far one erasure got, from the ledger alone.

Its own module so that `sendgate erase` (which only publishes) never imports the ledger. The
status reads the `erasures` and `erasure_steps` tables (`streams.edges.ledger.erasures`), so it
answers without a broker and says the same long after the topics have moved on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError

from streams.cli.terminal import stdout_console, utc_text
from streams.core.errors import SendgateError
from streams.core.settings import Settings
from streams.edges.ledger.engine import make_engine
from streams.edges.ledger.erasures import ErasureStatus, erasure_status
from streams.topics import erasure_horizons

__all__ = ["EXIT_NOT_FOUND", "render_status", "show_status"]

EXIT_NOT_FOUND = 1


def show_status(settings: Settings, request_id: str) -> None:
    """Print the erasure's steps and places; exit 1 when the ledger knows no such request."""
    engine = make_engine(settings.database_url.get_secret_value())
    try:
        status = erasure_status(engine, request_id)
    except (OperationalError, ProgrammingError) as exc:  # away, or never migrated
        raise SendgateError(
            f"could not read the erasure from the ledger ({type(exc.orig).__name__}); is the "
            "database up and migrated (`sendgate ledger migrate`)?"
        ) from None
    finally:
        engine.dispose()
    if status is None:
        Console(stderr=True).print(
            f"[red]error:[/] the ledger holds no erasure with request id {escape(request_id)} "
            "(is `sendgate ledger run` running, and was the request published?)"
        )
        raise typer.Exit(EXIT_NOT_FOUND)
    horizon = max(erasure_horizons(settings).values())
    topics_gone_by = (
        status.requested_at + timedelta(seconds=horizon) if status.requested_at else None
    )
    render_status(status, stdout_console(), topics_gone_by=topics_gone_by)


def render_status(
    status: ErasureStatus, console: Console, *, topics_gone_by: datetime | None
) -> None:
    """The request, its steps (those awaited too), the places they reported, and where it
    stands; `topics_gone_by` is when the topics' retention has taken the last of the person's
    records, which only the `completed` step lists as places."""
    console.print(
        f"[bold]Erasure {escape(status.request_id)}[/] for recipient key "
        f"{status.recipient_key[:12]}…"
    )
    if status.requested_at is not None:
        console.print(
            f"requested {utc_text(status.requested_at)} by {escape(status.requested_by or '')}"
        )
    steps = Table("step", "reported at", title="steps")
    for step in status.steps:
        steps.add_row(step.kind, utc_text(step.at))
    for kind in status.awaited:
        steps.add_row(kind, "[yellow]awaited[/]")
    console.print(steps)
    if status.places:
        places = Table("place", "what became of it", "entries", "done by", "note", title="places")
        for line in status.places:
            places.add_row(
                escape(line.place),
                line.action,
                str(line.count) if line.action != "expires" else "",
                utc_text(line.done_by),
                escape(line.note or ""),
            )
        console.print(places)
    if status.completed_at is not None:
        console.print(f"[green]Complete[/] at {utc_text(status.completed_at)}.")
    elif topics_gone_by is not None:
        console.print(
            "Not complete yet: the topics' records about the person expire by "
            f"{utc_text(topics_gone_by)}; the erasure completes once they have and the worker "
            "and the ledger have reported."
        )
    else:
        console.print("Not complete yet: the ledger has not read the request itself yet.")
