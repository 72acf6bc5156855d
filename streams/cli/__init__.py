"""The `sendgate` command line: one typer app, a sub-app per area, each imported when it runs.

Sub-apps live in their own modules under `streams.cli` and are listed below, in one table, with
the one line `sendgate --help` shows for each. The table names a module and an attribute, not an
object, so `sendgate publish` never imports the worker (faust), `sendgate web` never imports the
ledger, and `sendgate --help` imports none of them; a test checks each line against the command
it names. Commands read the settings with `ctx.ensure_object(Settings)`: the root callback puts
the process's settings there, and tests pass their own with `CliRunner().invoke(app, args,
obj=...)`.

`main()` is the console script: a `SendgateError` (bad input, broker down, missing secret) ends
the command with a one-line red message on stderr and exit code 2, never a traceback; Ctrl-C
exits 130. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from streams.core.errors import SendgateError
from streams.core.logs import configure_process_logging
from streams.core.settings import Settings, get_settings

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_SENDGATE_ERROR",
    "SUBCOMMANDS",
    "Subcommand",
    "app",
    "load_subcommand",
    "main",
]

EXIT_SENDGATE_ERROR = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Subcommand:
    """Where a subcommand lives (`module`, and its typer app or command function `attribute`)
    and the line `sendgate --help` shows for it."""

    module: str
    attribute: str
    help: str


# --- subcommands: register new ones here, one line each -------------------------------------------
SUBCOMMANDS: dict[str, Subcommand] = {
    "worker": Subcommand(
        "streams.cli.worker",
        "worker",
        "Run a gate worker: fold unsubscribes into suppressions and decide send requests.",
    ),
    "demo": Subcommand(
        "streams.cli.demo",
        "demo",
        "Publish a realistic scenario, let a gate worker decide it, and report what it decided.",
    ),
    "intake": Subcommand(
        "streams.cli.intake",
        "intake",
        "Accept DSNs, feedback reports and unsubscribe mails by SMTP; publish them to "
        "inbound-mail.",
    ),
    "web": Subcommand(
        "streams.cli.web",
        "web_command",
        "Serve the one-click unsubscribe links (RFC 8058) and the page behind them.",
    ),
    "webhooks": Subcommand(
        "streams.cli.webhooks",
        "webhooks_command",
        "Take bounces, complaints and deliveries from SES (SNS), SendGrid, Mailgun and Postmark.",
    ),
    "parse": Subcommand(
        "streams.cli.parse",
        "parse",
        "Say what each message is (dsn, arf, autoreply, other) and whom it is about.",
    ),
    "check": Subcommand(
        "streams.cli.check",
        "check",
        "Run the content rules on a message file and say which pass and which fail, and why.",
    ),
    "topics": Subcommand(
        "streams.cli.topics",
        "app",
        "Create and list sendgate's Kafka topics (auto-creation is off on the broker).",
    ),
    "publish": Subcommand(
        "streams.cli.publish",
        "app",
        "Validate an input file (.jsonl or .csv) as a whole, then publish it to Kafka.",
    ),
    "keys": Subcommand(
        "streams.cli.keys", "app", "Recipient keys (HMAC-SHA-256 of the normalised address)."
    ),
    "ledger": Subcommand(
        "streams.cli.ledger", "app", "The durable ledger (PostgreSQL; SQLite for the demo)."
    ),
    "consent": Subcommand(
        "streams.cli.consent", "app", "Consent: the proof of what a person agreed to."
    ),
    "subject-access": Subcommand(
        "streams.cli.subject_access",
        "subject_access",
        "Everything held about a person (consents, suppressions, decisions, bounces, "
        "complaints, erasure), for them: tables, JSON or one HTML page.",
    ),
    "status": Subcommand(
        "streams.cli.status",
        "status",
        "Show lag, decision rate, last decision and dead letters per group of workers.",
    ),
    "accounts": Subcommand(
        "streams.cli.accounts",
        "app",
        "Sending accounts: rates, strikes and standing; reinstatement.",
    ),
    "rectify": Subcommand(
        "streams.cli.rectify",
        "rectify",
        "Correct a person's address (GDPR Art. 16): move their consent to the new address.",
    ),
    "erase": Subcommand(
        "streams.cli.erase",
        "erase",
        "Erase what sendgate holds about a person (GDPR Art. 17) and stop their mail; follow it.",
    ),
    "notify": Subcommand(
        "streams.cli.notify",
        "notify",
        "POST enforcement events, signed, to HTTP receivers; retry, then dead-letter.",
    ),
    "replay": Subcommand(
        "streams.cli.replay",
        "app",
        "Decide recorded traffic again: verify the gate, try another policy, see a person's "
        "state at a moment.",
    ),
}
# --------------------------------------------------------------------------------------------------


class _Listed(TyperCommand):
    """A subcommand as the help lists it, before its module is imported."""


def load_subcommand(name: str) -> click.Command:
    """Import the subcommand's module and build its click command under `name`."""
    sub = SUBCOMMANDS[name]
    target = getattr(importlib.import_module(sub.module), sub.attribute)
    if isinstance(target, typer.Typer):
        command: click.Command = typer.main.get_group(target)
    else:
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class _LazyGroup(TyperGroup):
    """The root group: lists every subcommand from `SUBCOMMANDS`, imports the one that runs."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, sub in SUBCOMMANDS.items():
            self.commands.setdefault(name, _Listed(name=name, help=sub.help))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else None
        if name in SUBCOMMANDS and isinstance(self.commands.get(name), _Listed):
            self.commands[name] = load_subcommand(name)
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="sendgate",
    cls=_LazyGroup,
    help="sendgate: an email-compliance gate that runs as a Kafka stream processor.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold addresses and secrets
)


@app.callback()
def _root(ctx: typer.Context) -> None:
    """Hand every command the settings (unless a test passed its own as `obj`)."""
    if not isinstance(ctx.obj, Settings):
        ctx.obj = get_settings()
    # Every command logs the same way; `sendgate worker` refines it with the worker's name.
    configure_process_logging(ctx.obj, service=ctx.invoked_subcommand or "sendgate")


def _database_unreachable(error: BaseException) -> str | None:
    """Why the ledger database refused us, if `error` says so (SQLAlchemy's OperationalError);
    only a command that imported SQLAlchemy can raise one, so this never imports it."""
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is None or not isinstance(error, exc.OperationalError):
        return None
    # Say which problem, not the URL (it has a password).
    return str(error.orig).splitlines()[0] if error.orig else type(error).__name__


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
    except KeyboardInterrupt:
        raise SystemExit(EXIT_INTERRUPTED) from None
    except Exception as error:
        reason = _database_unreachable(error)
        if reason is None:
            raise
        _report(SendgateError(f"the ledger database is not reachable: {reason}"))
        raise SystemExit(EXIT_SENDGATE_ERROR) from None
