"""`sendgate accounts ...`: a sending account's rates, strikes and standing; reinstating it.

- `sendgate accounts status ACCOUNT` reads the changelogs of the rates and standings tables from
  their beginning to their end at call time (no consumer group: nothing is committed, no worker
  is disturbed), keeps the latest value of each of the account's keys (a tombstone deletes), and
  shows the rolling window's rates per provider and account-wide as the enforcer judges them
  (`streams.reputation.account_report`), the standing (strikes, pauses, reviews, reinstatements, a
  transactional suspension and the misuse count), and the account's latest enforcement events
  from the ledger when there is one. `--json` prints the same as one JSON document.
- `sendgate accounts reinstate ACCOUNT --reason ... --by ...` publishes a `ReinstatementRequest`
  to `account-commands`, keyed by the account; the enforcer applies it once per reinstatement id,
  so publishing the same `--id` again changes nothing.

This module holds the typer app and its two commands, which check their arguments and hand over:
`changelogs` reads the tables from Kafka, `ledger` the enforcement history from the database,
`reinstatement` publishes, `render` prints, and `broker` is what the two Kafka modules share.

Exit codes: 0 done; 2 a usage error (a missing or blank option, a bad time), or a sendgate error
such as an unreachable broker or a missing topic (one red line, never a traceback).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from streams.cli.accounts.changelogs import ChangelogRead, read_account_tables
from streams.cli.accounts.ledger import (
    DEFAULT_EVENTS,
    LedgerHistory,
    ledger_history,
    recent_enforcement,
)
from streams.cli.accounts.reinstatement import publish_reinstatement
from streams.cli.accounts.render import (
    reading_progress,
    render_reinstatement,
    render_status,
    status_document,
)
from streams.cli.options import (
    JsonOption,
    LedgerUrlOption,
    bad_parameter,
    parse_time,
    require_text,
)
from streams.cli.terminal import quiet_kafka_client, stdout_console
from streams.core.clock import FileClock, SystemClock
from streams.core.errors import SendgateError
from streams.core.settings import Settings
from streams.policy import load_policy
from streams.reputation.account_report import account_status
from streams.reputation.standing import ReinstatementRequest

__all__ = [
    "DEFAULT_EVENTS",
    "ChangelogRead",
    "LedgerHistory",
    "app",
    "publish_reinstatement",
    "read_account_tables",
    "recent_enforcement",
    "status_document",
]

app = typer.Typer(
    help="Sending accounts: rates, strikes and standing; reinstatement.", no_args_is_help=True
)

_AccountArgument = Annotated[
    str, typer.Argument(help="The sending account.", metavar="ACCOUNT", show_default=False)
]
_TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout", min=0.5, help="Seconds to wait for the broker before giving up.", metavar="S"
    ),
]


# --- reinstate ------------------------------------------------------------------------------------

_REQUEST_OPTIONS = {
    "reinstatement_id": "--id",
    "account_id": "ACCOUNT",
    "by": "--by",
    "reason": "--reason",
}


def _request(account: str, *, by: str, reason: str, reinstatement_id: str) -> ReinstatementRequest:
    """The request, or a usage error naming the option that breaks the record's rules."""
    try:
        return ReinstatementRequest(
            reinstatement_id=reinstatement_id,
            account_id=account,
            by=by,
            reason=reason,
            requested_at=SystemClock().now(),
        )
    except ValidationError as exc:
        raise bad_parameter(exc, _REQUEST_OPTIONS) from None


@app.command()
def reinstate(
    ctx: typer.Context,
    account: _AccountArgument,
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            help="Why, in words that go on the record (e.g. the best-practice test passed).",
            show_default=False,
        ),
    ],
    by: Annotated[
        str,
        typer.Option(
            "--by", help="Who reinstates: the operator, on the record.", show_default=False
        ),
    ],
    reinstatement_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            help="The reinstatement's id (default: a new random one). Publishing the same id "
            "again changes nothing.",
            show_default=False,
        ),
    ] = None,
    timeout_s: _TimeoutOption = 10.0,
) -> None:
    """Reinstate ACCOUNT: re-enable broadcasts, lift termination, pauses and a transactional
    suspension; strikes stay.

    Publishes a reinstatement request to the account-commands topic, keyed by the account; the
    enforcer applies it and emits a `reinstated` enforcement event naming --by and --reason.
    """
    settings = ctx.ensure_object(Settings)
    require_text(account, "ACCOUNT")
    require_text(reason, "--reason")
    require_text(by, "--by")
    require_text(reinstatement_id, "--id")
    request = _request(
        account, by=by, reason=reason, reinstatement_id=reinstatement_id or uuid.uuid4().hex
    )
    quiet_kafka_client()
    published = asyncio.run(publish_reinstatement(settings, request, timeout_s=timeout_s))
    render_reinstatement(request, published, stdout_console(highlight=False))


# --- status ---------------------------------------------------------------------------------------


def _now(settings: Settings) -> datetime:
    """The workers' now: their clock file when one is configured, else the wall clock."""
    if settings.clock_file is None:
        return SystemClock().now()
    try:
        return FileClock(settings.clock_file).now()
    except (OSError, ValueError):
        raise SendgateError(
            f"cannot read the clock file {settings.clock_file} (SENDGATE_CLOCK_FILE); pass --at"
        ) from None


@app.command()
def status(
    ctx: typer.Context,
    account: _AccountArgument,
    as_json: JsonOption = False,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="The time whose rolling window to show, ISO-8601 with offset (default: now). "
            "Past windows show only what the rates table still holds; the standing is always "
            "the table's current one.",
            metavar="TIME",
        ),
    ] = None,
    events: Annotated[
        int,
        typer.Option(
            "--events", min=0, help="Enforcement events to show from the ledger (0: none)."
        ),
    ] = DEFAULT_EVENTS,
    database_url: LedgerUrlOption = None,
    no_ledger: Annotated[bool, typer.Option("--no-ledger", help="Do not read the ledger.")] = False,
    timeout_s: _TimeoutOption = 10.0,
) -> None:
    """Show ACCOUNT's rates, standing and latest enforcement events.

    Rates per provider and account-wide in the rolling window at --at, as the enforcer judges
    them; the standing (status, strikes, pauses, reinstatements) from the standings table; the
    latest enforcement events from the ledger, when there is one.
    """
    settings = ctx.ensure_object(Settings)
    require_text(account, "ACCOUNT")
    moment = parse_time(at) if at is not None else _now(settings)
    policy = load_policy(settings.policy_file)
    if no_ledger or events == 0:
        history = LedgerHistory(note="not read (--no-ledger or --events 0)", limit=events)
    else:
        url = database_url or settings.database_url.get_secret_value()
        history = ledger_history(url, account, events)
    quiet_kafka_client()
    with reading_progress() as show:
        read = asyncio.run(
            read_account_tables(settings, account, timeout_s=timeout_s, on_progress=show)
        )
    view = account_status(
        account, rate_states=read.rate_states, standing=read.standing, at=moment, policy=policy
    )
    if as_json:
        document = status_document(view, history, read)
        Console().file.write(json.dumps(document, indent=2) + "\n")
        return
    render_status(view, history, read, stdout_console(highlight=False))
