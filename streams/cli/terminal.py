"""How the commands speak at the terminal, alike in each: instants, progress, a file that cannot
be read, and a Kafka client that keeps its retries to itself.

stdout carries a command's result (a table, or JSON a script reads); everything about the work
in progress goes to stderr.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["progress_bar", "quiet_kafka_client", "utc_text", "why_unreadable"]


def utc_text(moment: datetime) -> str:
    """An instant as ISO-8601 UTC with milliseconds and `Z` (`2025-05-14T12:00:00.000Z`): one
    spelling in tables and JSON alike, whatever zone the value came in."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
