"""`sendgate replay state ADDRESS --at T [--account A]`: what the gate knew about one person at a
past moment, rebuilt from the topics (`streams.replay.person_reading`), never from a worker's
tables.

Each section says where it came from: the topics, the ledger (where retention took the topic's
older records) or nowhere (unknown, rather than a guess). The address is shown as typed, in the
header on the user's own terminal, beside the first 12 hex digits of its recipient key; it is
never logged. Progress goes to stderr, the result to stdout (tables, or `--format json`).

Exit codes: 0 shown; 2 a usage error or a sendgate error (an unparseable time or address, the
broker unreachable), one line, no traceback.
"""

from __future__ import annotations

import asyncio
import json
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table

from streams.cli.options import LedgerUrlOption, parse_moment, require_text
from streams.cli.terminal import progress_bar, stdout_console, utc_text
from streams.core.records import SuppressionEntry
from streams.core.settings import Settings
from streams.replay.person import PersonState
from streams.replay.person_reading import person_state

__all__ = ["Format", "render_state", "state", "state_document"]

KEY_SHOWN = 12
"""Hex digits of the recipient key shown: enough to find it, not the whole secret-derived key."""


class Format(str, Enum):
    table = "table"
    json = "json"


def state(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="The person's email address.", show_default=False)],
    at: Annotated[
        str,
        typer.Option(
            "--at",
            help="The moment: an ISO date (midnight UTC) or date-time with offset.",
            metavar="TIME",
            show_default=False,
        ),
    ],
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            help="The account whose standing to show (default: every account the person's "
            "consents, suppressions and sends name).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Format, typer.Option("--format", help="table for people, json for scripts.")
    ] = Format.table,
    database_url: LedgerUrlOption = None,
) -> None:
    """Show what the gate knew about ADDRESS at --at: suppressions, consents, send history,
    bounce state and account standing, rebuilt from the topics (the ledger where retention took
    them), without touching any worker."""
    settings = ctx.ensure_object(Settings)
    require_text(account, "--account")
    moment = parse_moment(at, option="--at")
    with progress_bar("reading [bold]{task.fields[what]}[/]") as bar:
        result = asyncio.run(
            person_state(
                settings,
                address,
                moment,
                account,
                _reporting(bar),
                database_url=database_url,
            )
        )
    render_state(result, address, as_json=output is Format.json, console=stdout_console())


def _reporting(bar: Progress) -> Any:
    tasks: dict[str, TaskID] = {}

    def report(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bar.add_task("", total=total, what=what)
        bar.update(tasks[what], completed=done, total=total)

    return report


# --- output ---------------------------------------------------------------------------------------


def render_state(result: PersonState, address: str, *, as_json: bool, console: Console) -> None:
    if as_json:
        console.file.write(json.dumps(state_document(result, address), indent=2) + "\n")
        return
    console.print(
        f"[bold]What the gate knew about {escape(address)} at {utc_text(result.at)}[/] "
        f"(recipient key {result.recipient_key[:KEY_SHOWN]}…, policy "
        f"{escape(result.policy_version)}, {result.folded} records folded)"
    )
    _section(console, result, "suppressions")
    if result.suppressions:
        console.print(_suppressions_table(result.suppressions))
    elif _known(result, "suppressions"):
        console.print("  none: not suppressed")
    _section(console, result, "consents")
    if result.consents:
        console.print(_consents_table(result))
    elif _known(result, "consents"):
        console.print("  none on record")
    _section(console, result, "send_history")
    history = result.send_history
    if history is not None and history.sends:
        table = Table(title="sends the frequency rules count")
        for column in ("sent (UTC)", "account", "list", "request"):
            table.add_column(column, overflow="fold")
        for mark in history.sends:
            table.add_row(
                utc_text(mark.sent_at),
                escape(mark.account_id),
                escape(mark.list_id or ""),
                escape(mark.request_id),
            )
        console.print(table)
    elif _known(result, "send_history"):
        console.print("  none: no allowed send under a cadence or cap")
    _section(console, result, "bounces")
    bounces = result.bounces
    if bounces is not None:
        last = utc_text(bounces.last_delivery) if bounces.last_delivery else "never"
        console.print(
            f"  hard-bounced: {'[red]yes[/]' if bounces.hard_bounced else 'no'}; soft bounces in "
            f"a row {bounces.consecutive_soft}, in all {bounces.total_soft}; last delivery {last}"
        )
    elif _known(result, "bounces"):
        console.print("  no delivery events")
    if "accounts" in result.sections:
        _section(console, result, "accounts")
        console.print(_accounts_table(result))
    if result.set_aside:
        console.print(f"[yellow]{len(result.set_aside)} record(s) the keepers would set aside:[/]")
        for line in result.set_aside:
            console.print(f"  {escape(line)}")


def _known(result: PersonState, name: str) -> bool:
    return result.sections[name].source != "unknown"


def _section(console: Console, result: PersonState, name: str) -> None:
    section = result.sections[name]
    colour = {"topics": "green", "ledger": "yellow", "unknown": "red"}[section.source]
    console.print(f"\n[bold]{name.replace('_', ' ')}[/] (from [{colour}]{section.source}[/])")
    for note in section.notes:
        console.print(f"  [{colour}]note:[/] {escape(note)}")


def _scope(entry: SuppressionEntry) -> str:
    if entry.scope == "platform":
        return "platform (all accounts)"
    if entry.scope == "list":
        return f"list {entry.list_id} of {entry.account_id}"
    return f"account {entry.account_id}"


def _suppressions_table(entries: tuple[SuppressionEntry, ...]) -> Table:
    table = Table()
    for column in ("scope", "reason", "since (UTC)", "source"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(
            escape(_scope(entry)), entry.reason, utc_text(entry.since), escape(entry.source)
        )
    return table


def _consents_table(result: PersonState) -> Table:
    table = Table()
    columns = ("account", "lists", "status", "basis", "juris.", "granted", "expires", "withdrawn")
    for column in columns:
        table.add_column(column, overflow="fold")
    for entry in result.consents:
        withdrawn = (
            f"{utc_text(entry.withdrawn_at)} ({entry.withdrawn_reason})"
            if entry.withdrawn_at
            else ""
        )
        table.add_row(
            escape(entry.account_id),
            escape(", ".join(entry.lists) or "all"),
            entry.status,
            entry.basis or "",
            entry.jurisdiction or "",
            utc_text(entry.granted_at) if entry.granted_at else "",
            utc_text(entry.expires_at) if entry.expires_at else "",
            withdrawn,
        )
    return table


def _accounts_table(result: PersonState) -> Table:
    table = Table()
    columns = ("account", "status", "strikes", "broadcasts", "paused providers", "as of")
    for column in columns:
        table.add_column(column, overflow="fold")
    for account, snapshot in result.accounts.items():
        if snapshot is None:
            table.add_row(escape(account), "good standing", "0", "allowed", "", "")
            continue
        paused = "all" if snapshot.all_providers_paused else ", ".join(snapshot.paused_providers)
        table.add_row(
            escape(account),
            snapshot.status,
            str(snapshot.strikes),
            "disabled" if snapshot.broadcasts_denied else "allowed",
            escape(paused),
            utc_text(snapshot.as_of),
        )
    return table


def state_document(result: PersonState, address: str) -> dict[str, Any]:
    """The state as JSON-ready values: times as ISO-8601 UTC with milliseconds."""
    return {
        "address": address,
        "recipient_key_prefix": result.recipient_key[:KEY_SHOWN],
        "at": utc_text(result.at),
        "policy_version": result.policy_version,
        "records_folded": result.folded,
        "sections": {
            name: {"source": section.source, "notes": list(section.notes)}
            for name, section in result.sections.items()
        },
        "suppressions": [entry.model_dump(mode="json") for entry in result.suppressions],
        "consents": [entry.model_dump(mode="json") for entry in result.consents],
        "send_history": (
            None
            if result.send_history is None
            else [mark.model_dump(mode="json") for mark in result.send_history.sends]
        ),
        "bounces": None if result.bounces is None else result.bounces.model_dump(mode="json"),
        "accounts": {
            account: None if snapshot is None else snapshot.model_dump(mode="json")
            for account, snapshot in result.accounts.items()
        },
        "set_aside": list(result.set_aside),
    }
