"""What a benchmark shows: the console, progress bars, timed phases, the machine table, the
worker log's findings, and the figures as a JSON file or as the one JSON line printed last.

Every script prints through the one `console`, so a run's output keeps one width: the
terminal's, or 150 columns when the output goes to a file.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from harness.stats import json_safe

__all__ = [
    "console",
    "latency_cells",
    "ms",
    "phase",
    "print_json_line",
    "print_machine",
    "print_worker_log",
    "progress_bar",
    "write_figures",
]

console = Console() if sys.stdout.isatty() else Console(width=150)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


@contextmanager
def phase(title: str) -> Iterator[None]:
    """Announce a phase and how long it took."""
    console.rule(f"[bold]{title}")
    started = time.monotonic()
    yield
    console.print(f"[dim]{title}: {time.monotonic() - started:.1f}s[/]")


def ms(value: float | None) -> str:
    """Milliseconds as a table cell: one decimal, "-" for a figure not measured."""
    return "-" if value is None or math.isnan(value) else f"{value:,.1f}"


def latency_cells(figures: Mapping[str, float]) -> list[str]:
    """A `stats.latency_summary` as table cells: n, p50, p95, p99, max and mean in ms."""
    return [
        str(figures["n"]),
        *(ms(figures[key]) for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")),
    ]


def print_machine(machine: Mapping[str, str]) -> None:
    """The machine the figures were measured on, as a two-column table."""
    table = Table(title="Machine")
    table.add_column("")
    table.add_column("")
    for name, value in machine.items():
        table.add_row(name, value)
    console.print(table)


def print_worker_log(before: str, exit_code: int | None, log: Mapping[str, Any]) -> None:
    """The worker's exit code and what its log holds (`workers.keep_worker_log`), after the text
    `before`; then each kind of problem line with its count."""
    console.print(
        f"{before}Worker exit code {exit_code}; "
        f"its log ({log.get('lines', '?')} lines, kept at {log['path']}): "
        f"{log.get('tracebacks', '?')} tracebacks, {log.get('problem_lines', '?')} lines with "
        "warnings or errors"
    )
    for text, count in log.get("problem_kinds", {}).items():
        console.print(f"  [dim]{count:>5} x {escape(text)}[/]")


def write_figures(path: Path, results: Any) -> None:
    """Every figure of the run to `path` (`--json-out`), NaN as null."""
    path.write_text(
        json.dumps(json_safe(results), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    console.print(f"figures written to {path}")


def print_json_line(
    figures: Mapping[str, Any], *, allow_nan: bool = False, default: Any = None
) -> None:
    """The figures as one line, last, outside rich: a console would wrap it at its width, and
    the scripts that compare runs read that line."""
    console.file.flush()
    print(json.dumps(figures, allow_nan=allow_nan, default=default), flush=True)
