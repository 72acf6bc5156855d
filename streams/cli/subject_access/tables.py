"""The subject-access report at the terminal: a header, then one rich table per section.

What the page shows, in the same words (`layout`), for the operator who runs the command with
the person; every stored value is escaped as rich markup, so a stored `[bold]` is printed as it
is, not obeyed.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streams.cli.subject_access.layout import report_sections
from streams.cli.subject_access.wording import NOTHING_HELD, day_time
from streams.cli.terminal import print_wrapped
from streams.edges.ledger.subject_access import SubjectReport

__all__ = ["print_report"]


def print_report(report: SubjectReport, address: str, console: Console) -> None:
    console.print(f"[bold]What the platform holds about {escape(address)}[/]")
    console.print(f"recipient key {report.recipient_key}; made {day_time(report.generated_at)}")
    if report.empty:
        console.print(NOTHING_HELD)
    for view in report_sections(report):
        section = view.section
        console.print()
        console.print(f"[bold underline]{escape(section.title)}[/] ({len(view.rows)})")
        print_wrapped(console, f"[dim]{escape(section.purpose)}[/]")
        if view.rows:
            table = Table(show_lines=True)
            for header in view.headers:
                table.add_column(escape(header), overflow="fold")
            for row in view.rows:
                table.add_row(*(escape("\n".join(cell)) for cell in row))
            console.print(table)
        else:
            console.print(escape(section.empty))
        for note in view.notes:
            print_wrapped(console, escape(note))
