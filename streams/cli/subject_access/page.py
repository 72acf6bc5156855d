"""The subject-access report as one self-contained HTML page the person can open and keep.

One file, no scripts, no links out, the style inline: it opens the same in any browser, offline,
years later. Every value that came from the ledger is stored text a sender or a mailbox provider
chose (a list name, a user agent, a report's reporter), so each one goes through `html.escape`
on its way into the page (`_text`), attributes included; nothing is ever put in unescaped.
"""

from __future__ import annotations

from html import escape

from streams.cli.subject_access.layout import Cell, SectionView, report_sections
from streams.cli.subject_access.wording import INTRODUCTION, NOTHING_HELD, day_time
from streams.edges.ledger.subject_access import SubjectReport

__all__ = ["report_page"]

_STYLE = """
body { font-family: system-ui, sans-serif; line-height: 1.45; margin: 2em auto; max-width: 75em;
       padding: 0 1em; color: #1b1b1b; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f2f2f2; overflow-wrap: normal; }
.key { font-family: monospace; overflow-wrap: anywhere; }
.none { color: #555; font-style: italic; }
"""


def report_page(report: SubjectReport, address: str) -> str:
    """The whole page, as text."""
    title = _text(f"What we hold about {address}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{title}</h1>",
        f"<p>{_text(INTRODUCTION)}</p>",
        "<p>Fingerprint of your address (recipient key): "
        f'<span class="key">{_text(report.recipient_key)}</span><br>'
        f"Report made: {_text(day_time(report.generated_at))}</p>",
    ]
    if report.empty:
        parts.append(f"<p><strong>{_text(NOTHING_HELD)}</strong></p>")
    for view in report_sections(report):
        parts += _section(view)
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _section(view: SectionView) -> list[str]:
    section = view.section
    parts = [
        f'<h2 id="{_text(section.key)}">{_text(section.title)} ({len(view.rows)})</h2>',
        f"<p>{_text(section.purpose)}</p>",
    ]
    if not view.rows:
        parts.append(f'<p class="none">{_text(section.empty)}</p>')
    else:
        head = "".join(f"<th>{_text(header)}</th>" for header in view.headers)
        parts += ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
        parts += [
            "<tr>" + "".join(f"<td>{_cell(cell)}</td>" for cell in row) + "</tr>"
            for row in view.rows
        ]
        parts += ["</tbody>", "</table>"]
    parts += [f"<p>{_text(note)}</p>" for note in view.notes]
    return parts


def _cell(cell: Cell) -> str:
    return "<br>".join(_text(line) for line in cell)


def _text(value: str) -> str:
    """Stored or given text, safe anywhere in the page (element content and quoted attributes)."""
    return escape(value, quote=True)
