"""What several commands read from the command line alike: shared options, and the checks their
values get before any broker or database is asked.

An option two commands share is declared once, as an `Annotated` type a command gives its
parameter, so its name, help and default read the same in every `--help`. A bad value is a usage
error (exit 2) naming the option, never a traceback from deeper down.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated

import typer
from pydantic import ValidationError

__all__ = [
    "JsonOption",
    "LedgerUrlOption",
    "RequestIdOption",
    "RequestedByOption",
    "bad_parameter",
    "first_problem",
    "parse_moment",
    "parse_time",
    "require_text",
]

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document instead of tables.")
]
"""`--json`: a document for scripts instead of the tables a person reads."""

LedgerUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="The ledger to read (default: SENDGATE_DATABASE_URL).",
        show_default=False,
    ),
]
"""`--database-url` of a command that reads the ledger; None: the settings' URL."""

RequestIdOption = Annotated[
    str | None,
    typer.Option(
        "--request-id",
        help="The request's id in your own records (a ticket number); at most 100 characters.",
        metavar="ID",
    ),
]
"""`--request-id` of a person's request (an erasure, a correction); None: not given, which the
command refuses with its own words."""

RequestedByOption = Annotated[
    str,
    typer.Option("--by", help="Who asked for or handled the request.", metavar="WHO"),
]
"""`--by`: who filed a person's request; commands default it to `sendgate-cli`."""


def require_text(value: str | None, option: str) -> None:
    """A usage error for a given but blank value: an empty account, reason or list would go on
    the record as if it named one."""
    if value is not None and not value.strip():
        raise typer.BadParameter("must not be empty", param_hint=option)


def parse_time(value: str, *, option: str = "--at") -> datetime:
    """An ISO-8601 time with its offset (or Z), as aware UTC; a usage error otherwise.

    No offset is refused rather than guessed: a proof at the wrong hour can be a wrong proof.
    """
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO-8601 time (e.g. 2025-03-01T12:00:00Z)", param_hint=option
        ) from None
    if moment.tzinfo is None:
        raise typer.BadParameter(
            f"{value!r} has no time zone; add Z or an offset such as +01:00", param_hint=option
        )
    return moment.astimezone(UTC)


def parse_moment(value: str, *, option: str = "--at") -> datetime:
    """`parse_time`, or a date alone (`2026-12-01`): its midnight, UTC."""
    text = value.strip()
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return parse_time(text, option=option)


def first_problem(error: ValidationError) -> str:
    """The first problem a record's validation found, in pydantic's words without the
    `Value error, ` a validator's own message gets: the caller can act on it as it stands."""
    problem = error.errors(include_input=False, include_url=False)[0]
    return problem["msg"].removeprefix("Value error, ")


def bad_parameter(error: ValidationError, options: Mapping[str, str]) -> typer.BadParameter:
    """The record's first problem as a usage error that names the option its field came from.

    `options` maps the record's field names to the options that fill them; a field without one is
    named as it is. Only the first problem: a person fixes one option at a time.
    """
    location = error.errors(include_input=False, include_url=False)[0]["loc"]
    field = str(location[0]) if location else ""
    return typer.BadParameter(first_problem(error), param_hint=options.get(field, field))
