"""`sendgate parse [--json] FILE...`: classify saved messages (bounces, feedback reports, replies).

The JSON output is a contract that analysts' scripts rely on: one object per line per readable
file, in input order, with the keys `file`, `kind` (dsn | arf | autoreply | other), `recipients`
(lower-cased addresses), `feedback_type`, `status` and `class` (of the first recipient), `reason`
(the first recipient's bounce reason; for kind `other` why it is other, `reply` for a human reply)
and `per_recipient` (every recipient's detail); further keys (`original`, `feedback`,
`autoreply`, `reply`, `truncated`) may be added, never removed or renamed.

A file that cannot be read (missing, a directory, no permission) gets a one-line error on stderr
and makes the exit code 1, after every other file has been printed. A file that can be read but
not classified is not an error: it is kind `other` with a reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streams.cli.terminal import stdout_console, why_unreadable
from streams.parsing import ParsedMessage, parse_message

__all__ = ["EXIT_UNREADABLE", "parse", "summary"]

EXIT_UNREADABLE = 1


def parse(
    files: Annotated[
        list[Path],
        typer.Argument(help="Raw RFC 5322 message files (.eml, .msg, ...).", show_default=False),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per file and line instead of a table.")
    ] = False,
) -> None:
    """Say what each message is (dsn, arf, autoreply, other) and whom it is about."""
    stderr = Console(stderr=True, soft_wrap=True, highlight=False)
    rows: list[dict[str, Any]] = []
    unreadable = 0
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as error:
            unreadable += 1
            stderr.print(
                f"[red]cannot read {escape(str(path))}: {escape(why_unreadable(error))}[/red]"
            )
            continue
        row = summary(str(path), parse_message(raw))
        if as_json:
            typer.echo(json.dumps(row, ensure_ascii=False))
        else:
            rows.append(row)
    if not as_json and rows:
        _print_table(rows)
    if unreadable:
        raise typer.Exit(EXIT_UNREADABLE)


def summary(file: str, parsed: ParsedMessage) -> dict[str, Any]:
    """The contract's JSON object for one parsed file."""
    first = parsed.first
    return {
        "file": file,
        "kind": parsed.kind,
        "recipients": [recipient.address for recipient in parsed.recipients],
        "feedback_type": parsed.feedback.feedback_type if parsed.feedback else None,
        "status": first.status if first else None,
        "class": first.bounce_class if first else None,
        "reason": (first.reason if first else None) or parsed.reason,
        "per_recipient": [recipient.model_dump(mode="json") for recipient in parsed.recipients],
        "original": parsed.original.model_dump(mode="json"),
        "feedback": parsed.feedback.model_dump(mode="json") if parsed.feedback else None,
        "autoreply": parsed.autoreply.model_dump(mode="json") if parsed.autoreply else None,
        "reply": parsed.reply.model_dump(mode="json") if parsed.reply else None,
        "truncated": parsed.truncated,
    }


def _print_table(rows: list[dict[str, Any]]) -> None:
    table = Table(show_lines=False)
    for column in ("file", "kind", "recipients", "class", "status", "reason / feedback"):
        table.add_column(column, overflow="fold")
    for row in rows:
        recipients = row["recipients"]
        shown = ", ".join(recipients[:3]) + (
            f" (+{len(recipients) - 3})" if len(recipients) > 3 else ""
        )
        detail = row["feedback_type"] or row["reason"] or ""
        if row["reply"] and row["reply"]["unsubscribe_requested"]:
            detail = "reply: unsubscribe"
        table.add_row(
            escape(row["file"]),
            row["kind"],
            escape(shown),
            row["class"] or "",
            row["status"] or "",
            escape(detail),
        )
    stdout_console(soft_wrap=True).print(table)
