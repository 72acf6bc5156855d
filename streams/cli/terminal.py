"""How the commands speak at the terminal, alike in each: instants, progress, a file that cannot
be read, and a Kafka client that keeps its retries to itself.

stdout carries a command's result (a table, or JSON a script reads); everything about the work
in progress goes to stderr. A result printed into a pipe, a file or a CI log is as wide as
`COLUMNS` says, else 80 columns (`stdout_console`), and wraps rather than cuts what it shows.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from rich.cells import cell_len, chop_cells
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.segment import Segment
from rich.text import Text

from streams.core.clock import utc_text

__all__ = [
    "PIPE_WIDTH",
    "NameCell",
    "print_wrapped",
    "progress_bar",
    "quiet_kafka_client",
    "stdout_console",
    "utc_text",
    "why_unreadable",
]

PIPE_WIDTH = 80
"""How wide a result is when stdout is no terminal and `COLUMNS` does not say."""


def progress_bar(description: str) -> Progress:
    """A bar with a count and the time taken, on stderr so that stdout stays the command's output,
    and gone once the work is done."""
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def stdout_console(**options: Any) -> Console:
    """The console a command prints its result on (`options` as for `Console`).

    On a terminal rich measures the window. Into a pipe, a file or a CI log it would measure
    whichever of stdin and stderr is still a terminal, so the same command wrote lines as wide as
    the window it happened to be run from, and a log read at 80 columns showed them broken.
    There `COLUMNS` decides, else `PIPE_WIDTH`. Colour is left to rich, which adds none unless
    stdout is a terminal or `FORCE_COLOR` / `TTY_COMPATIBLE` ask for it.
    """
    console = Console(**options)
    if "width" not in options and not _is_tty(console.file):
        columns = os.environ.get("COLUMNS", "")
        console.width = int(columns) if columns.isdigit() and int(columns) > 0 else PIPE_WIDTH
    return console


def print_wrapped(console: Console, markup: str, *, indent: int = 0) -> None:
    """`markup` wrapped to the console's width, each line `indent` columns in (the wrapped ones
    too, so a paragraph reads as one block under what it explains), none ending in the space
    it was broken at: rich keeps that space, and a log or a diff shows it."""
    lines = Text.from_markup(markup).wrap(console, max(console.width - indent, 1))
    for line in lines:
        line.rstrip()
        console.print(Text.assemble(" " * indent, line) if line else line, soft_wrap=True)


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or already closed
        return False


class NameCell:
    """A name made of words joined by hyphens or underscores (a rule's, an action's), for a
    table cell: it takes its whole length when the table has room and otherwise breaks after a
    joiner, so a narrow terminal shows every word of it and never `…`. Rich breaks text at
    spaces only: in a cell that folds, it would cut such a name mid-word; in one that does not,
    it would drop the name's end."""

    _PARTS = re.compile(r"[^-_]*[-_]+|[^-_]+$")

    def __init__(self, name: str) -> None:
        self.name = name
        self._parts = self._PARTS.findall(name) or [name]

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        longest = max(cell_len(part) for part in self._parts)
        return Measurement(longest, cell_len(self.name)).clamp(max_width=options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(options.max_width, 1)
        line = ""
        lines: list[str] = []
        for part in self._parts:
            if line and cell_len(line + part) > width:
                lines.append(line)
                line = ""
            line += part
            while cell_len(line) > width:  # one word wider than the cell: fold it
                head, *_ = chop_cells(line, width)
                lines.append(head)
                line = line[len(head) :]
        lines.append(line)
        for text in lines:
            yield Segment(text)
            yield Segment.line()


def why_unreadable(error: OSError) -> str:
    """Why a file could not be read, in a few words a person can act on."""
    if isinstance(error, IsADirectoryError):
        return "is a directory"
    if isinstance(error, FileNotFoundError):
        return "no such file"
    return error.strerror or type(error).__name__


def quiet_kafka_client() -> None:
    """Silence aiokafka's log: it reports each failed connection attempt, and the error the
    command raises says it once."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
