"""The `sendgate` command line: one typer app with a sub-app per area.

Sub-apps live in their own modules under `streams.cli` and are registered below, in one block.
Commands read the settings with `ctx.ensure_object(Settings)`: the root callback puts the
process's settings there, and tests pass their own with `CliRunner().invoke(app, args, obj=...)`.

`main()` is the console script: a `SendgateError` (bad input, broker down, missing secret) ends
the command with a one-line red message on stderr and exit code 2, never a traceback; Ctrl-C
exits 130. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy.exc
import typer
from rich.console import Console
from rich.markup import escape

from streams.cli import accounts, consent, keys, ledger, publish, topics
from streams.cli.check import check
from streams.cli.demo import demo
from streams.cli.intake import intake
from streams.cli.parse import parse
from streams.cli.web import web_command
from streams.cli.worker import worker
from streams.errors import SendgateError
from streams.settings import Settings, get_settings

__all__ = ["EXIT_INTERRUPTED", "EXIT_SENDGATE_ERROR", "app", "main"]

EXIT_SENDGATE_ERROR = 2
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="sendgate",
    help="sendgate: an email-compliance gate that runs as a Kafka stream processor.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold addresses and secrets
)


@app.callback()
def _root(ctx: typer.Context) -> None:
    """Hand every command the settings (unless a test passed its own as `obj`)."""
    if not isinstance(ctx.obj, Settings):
        ctx.obj = get_settings()


# --- sub-apps: register new ones here, one line each ---------------------------------------------
app.add_typer(topics.app, name="topics")
app.add_typer(publish.app, name="publish")
app.add_typer(keys.app, name="keys")
app.command("worker")(worker)
app.add_typer(ledger.app, name="ledger")
app.command("demo")(demo)
app.command("intake")(intake)
app.command("web")(web_command)
app.command("parse")(parse)
app.add_typer(consent.app, name="consent")
app.add_typer(accounts.app, name="accounts")
app.command("check")(check)
# --------------------------------------------------------------------------------------------------


def _report(error: SendgateError) -> None:
    """The error's first line in red, any further lines (a list of problems) below it."""
    first, *rest = str(error).splitlines() or [type(error).__name__]
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(f"[bold red]error:[/] [red]{escape(first)}[/]")
    for line in rest:
        console.print(escape(line))


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI (`argv` defaults to the process arguments) and exit."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="sendgate")
    except SendgateError as error:
        _report(error)
        raise SystemExit(EXIT_SENDGATE_ERROR) from None
    except sqlalchemy.exc.OperationalError as error:
        # The database is down or refuses us; say which problem, not the URL (it has a password).
        reason = str(error.orig).splitlines()[0] if error.orig else type(error).__name__
        _report(SendgateError(f"the ledger database is not reachable: {reason}"))
        raise SystemExit(EXIT_SENDGATE_ERROR) from None
    except KeyboardInterrupt:
        raise SystemExit(EXIT_INTERRUPTED) from None
