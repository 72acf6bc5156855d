"""`sendgate subject-access ADDRESS`: everything the platform holds about a person, for them.

The right of access asks a platform to give a person their data, readable. The ledger keeps no
address, so the command keys the address the person gave with the platform secret (as every
producer does) and reads the ledger by that key (`streams.edges.ledger.subject_access`): consents
and their evidence, requests to stop mail, decisions, bounces, complaints, erasure.

Output: tables at the terminal by default; `--format json` (a stable, versioned document,
`document`) or `--format html` (one self-contained page for the person, `page`) on stdout, or in
`--output FILE`, whose suffix (.json, .html, .htm) chooses the format when `--format` does not.
The file is created readable by its owner only, and an existing file is kept unless `--force`
says to replace it: a report about one person must not silently overwrite another's.

The address appears in the report itself (it is the person's), never in a log line: the command
logs nothing about the person. Exit codes: 0 the report was made (also when nothing is held); 2 a
usage error (an invalid address, an unknown format, a file that exists or cannot be written) or
a sendgate error such as an unreachable database, always one line, never a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streams.cli.options import LedgerUrlOption
from streams.cli.subject_access.document import report_document
from streams.cli.subject_access.page import report_page
from streams.cli.subject_access.tables import print_report
from streams.cli.terminal import stdout_console
from streams.core.clock import SystemClock
from streams.core.errors import SendgateError
from streams.core.recipient import RecipientKeyer, is_valid_address
from streams.core.settings import Settings
from streams.edges.ledger.engine import make_engine
from streams.edges.ledger.subject_access import SubjectReport, read_subject

__all__ = [
    "FORMATS",
    "check_output",
    "checked_format",
    "format_of_file",
    "render",
    "subject_access",
    "write_report",
]

FORMATS = ("json", "html")
_SUFFIXES = {".json": "json", ".html": "html", ".htm": "html"}
_EXISTS = "--output {path} exists already; choose another file or add --force to replace it"


def subject_access(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="The person's email address.", show_default=False)],
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="json (a versioned document) or html (one page for the person). Default: "
            "tables at the terminal, or the --output file's suffix.",
            metavar="json|html",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="Write the report to FILE (created readable by you only) instead of stdout. "
            "An existing FILE is refused unless --force.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --output file.")
    ] = False,
    database_url: LedgerUrlOption = None,
) -> None:
    """Everything held about a person (consents, suppressions, decisions, bounces,
    complaints, erasure), for them: tables, JSON or one HTML page.

    Shows what the ledger holds about ADDRESS: consents with their evidence, requests to stop
    mail, decisions, bounces, complaints and erasure. Exit 0 when the report was made, 2 on
    usage errors (a bad address or format, an existing or unwritable file)."""
    settings = ctx.ensure_object(Settings)
    address = address.strip()
    chosen = checked_format(output_format)
    file_format = format_of_file(chosen, output) if output is not None else None
    if output is not None:
        check_output(output, force=force)
    if not is_valid_address(address):
        raise SendgateError(
            "ADDRESS is not a valid email address (checked for syntax as everywhere in "
            "sendgate); give the address the person wrote to you from or signed up with"
        )
    recipient_key = RecipientKeyer(settings.recipient_secret()).key(address)
    engine = make_engine(database_url or settings.database_url.get_secret_value())
    try:
        report = read_subject(engine, recipient_key, now=SystemClock().now())
    finally:
        engine.dispose()
    if output is not None and file_format is not None:
        size = write_report(output, render(report, address, file_format), force=force)
        Console(stderr=True).print(f"wrote {output} ({file_format}, {size:,} bytes)")
    elif chosen is not None:
        stdout_console().file.write(render(report, address, chosen))
    else:
        print_report(report, address, stdout_console())


def checked_format(output_format: str | None) -> str | None:
    """The `--format` asked for, one of `FORMATS`; None when none was asked for."""
    if output_format is None:
        return None
    chosen = output_format.strip().lower()
    if chosen not in FORMATS:
        raise SendgateError(
            f"--format {output_format!r} is not one of {', '.join(FORMATS)} "
            "(leave it out for tables at the terminal)"
        )
    return chosen


def format_of_file(chosen: str | None, output: Path) -> str:
    """The format of the `--output` file: the one asked for, else its suffix's."""
    by_suffix = chosen or _SUFFIXES.get(output.suffix.lower())
    if by_suffix is None:
        raise SendgateError(
            f"--output {output.name}: add --format json or --format html (the file name ends "
            "in neither .json nor .html)"
        )
    return by_suffix


def render(report: SubjectReport, address: str, output_format: str) -> str:
    """The report in one of `FORMATS`, as text ending in a newline."""
    if output_format == "json":
        return json.dumps(report_document(report, address), indent=2, ensure_ascii=False) + "\n"
    return report_page(report, address)


def check_output(path: Path, *, force: bool) -> None:
    """Refuse a file that cannot be written before the ledger is read, so a mistyped path costs
    nothing; `write_report` checks again as it writes (the file may appear in between)."""
    if path.is_dir():
        raise SendgateError(f"--output {path}: cannot write: it is a folder")
    if not path.parent.is_dir():
        raise SendgateError(f"--output {path}: cannot write: its folder does not exist")
    if path.exists() and not force:
        raise SendgateError(_EXISTS.format(path=path))


def write_report(path: Path, content: str, *, force: bool) -> int:
    """Write the report to `path`, readable by its owner only; returns the bytes written.

    Without `force` the file is created exclusively (O_EXCL), so an existing file is never
    overwritten, even one made between a check and the write."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    data = content.encode("utf-8")
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        raise SendgateError(_EXISTS.format(path=path)) from None
    except OSError as error:
        raise SendgateError(f"--output {path}: cannot write: {_why(error)}") from None
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    return len(data)


def _why(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "its folder does not exist"
    if isinstance(error, IsADirectoryError):
        return "it is a folder"
    return error.strerror or type(error).__name__
