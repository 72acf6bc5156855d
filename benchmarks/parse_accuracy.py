"""Parser accuracy and speed beside plain flufl.bounce, on the development corpus, in one run.

Run from the repository root (the corpus lives beside the project, never inside it):

    .venv/bin/python benchmarks/parse_accuracy.py                 # rich table
    .venv/bin/python benchmarks/parse_accuracy.py --markdown      # the README table

For each source folder of `../shared/corpora/` and overall, for `streams.parsing.parse_message`
and for flufl.bounce's `all_failures` (parsing with `email.message_from_bytes`, as its docs do):

* recipients found: share of files with stated recipients where every one was found;
* extra: share of those files where an address was reported that is not expected;
* class: share of files with a stated class where the first recipient's class agrees (flufl:
  `hard` if it reports a permanent failure, `soft` if only temporary ones);
* feedback type: share of files with a stated type where it agrees (flufl has no notion of it);
* msgs/s: files parsed per second, best of `--repeat` timed passes over the bytes in memory.

Recipients compare case-insensitively as sets, and a null expectation is "don't care"
(corpus README). The targets are printed below the table.
"""

from __future__ import annotations

import argparse
import email
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flufl.bounce import all_failures
from rich.console import Console
from rich.table import Table

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from streams.parsing import parse_message  # noqa: E402

__all__ = ["Outcome", "Tally", "main"]

DEFAULT_CORPUS = PROJECT_ROOT / ".." / "shared" / "corpora"
OVERALL = "overall"


@dataclass(frozen=True)
class Outcome:
    """What one contender said about one file."""

    recipients: frozenset[str]
    bounce_class: str | None
    feedback_type: str | None


@dataclass
class Tally:
    """Counts for one contender and one folder."""

    with_recipients: int = 0
    all_found: int = 0
    extra: int = 0
    with_class: int = 0
    class_agrees: int = 0
    with_feedback: int = 0
    feedback_agrees: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, expected: dict, outcome: Outcome) -> None:
        if expected["recipients"] is not None:
            wanted = {address.lower() for address in expected["recipients"]}
            self.with_recipients += 1
            self.all_found += wanted <= outcome.recipients
            self.extra += bool(outcome.recipients - wanted)
            if not wanted <= outcome.recipients or outcome.recipients - wanted:
                self.misses.append(expected["file"])
        if expected["class"] is not None:
            self.with_class += 1
            self.class_agrees += outcome.bounce_class == expected["class"]
        if expected["feedback_type"] is not None:
            self.with_feedback += 1
            self.feedback_agrees += outcome.feedback_type == expected["feedback_type"]


def ours(raw: bytes) -> Outcome:
    parsed = parse_message(raw)
    first = parsed.first
    return Outcome(
        frozenset(recipient.address for recipient in parsed.recipients),
        first.bounce_class if first else None,
        parsed.feedback.feedback_type if parsed.feedback else None,
    )


def flufl(raw: bytes) -> Outcome:
    try:
        temporary, permanent = all_failures(email.message_from_bytes(raw))
    except Exception:
        temporary, permanent = set(), set()

    def text(value: bytes | str) -> str:
        return (value.decode("latin-1") if isinstance(value, bytes) else value).lower()

    found = frozenset(text(value) for value in (*temporary, *permanent))
    bounce_class = "hard" if permanent else "soft" if temporary else None
    return Outcome(found, bounce_class, None)


CONTENDERS: dict[str, Callable[[bytes], Outcome]] = {
    "sendgate": ours,
    "flufl.bounce": flufl,
}


def folder_of(file: str) -> str:
    return "/".join(file.split("/")[:2])


def measure(corpus: Path, repeat: int) -> tuple[dict, dict[str, float], int]:
    lines = (corpus / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    expectations = [json.loads(line) for line in lines if line.strip()]
    raws = [(corpus / row["file"]).read_bytes() for row in expectations]
    tallies: dict[str, dict[str, Tally]] = {name: defaultdict(Tally) for name in CONTENDERS}
    speed: dict[str, float] = {}
    for name, contender in CONTENDERS.items():
        best = float("inf")
        outcomes: list[Outcome] = []
        for _ in range(repeat):
            started = time.perf_counter()
            outcomes = [contender(raw) for raw in raws]
            best = min(best, time.perf_counter() - started)
        speed[name] = len(raws) / best
        for row, outcome in zip(expectations, outcomes, strict=True):
            tallies[name][folder_of(row["file"])].add(row, outcome)
            tallies[name][OVERALL].add(row, outcome)
    return tallies, speed, len(raws)


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}% ({part}/{whole})" if whole else "-"


def rows(tallies: dict, speed: dict[str, float]) -> list[list[str]]:
    folders = sorted({folder for per in tallies.values() for folder in per} - {OVERALL})
    table: list[list[str]] = []
    for folder in [*folders, OVERALL]:
        for name in CONTENDERS:
            tally = tallies[name][folder]
            table.append(
                [
                    folder,
                    name,
                    share(tally.all_found, tally.with_recipients),
                    share(tally.extra, tally.with_recipients),
                    share(tally.class_agrees, tally.with_class),
                    share(tally.feedback_agrees, tally.with_feedback),
                    f"{speed[name]:,.0f}" if folder == OVERALL else "",
                ]
            )
    return table


HEADERS = ["folder", "parser", "recipients found", "extra", "class", "feedback type", "msgs/s"]


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    arguments.add_argument("--repeat", type=int, default=5, help="timed passes; best counts")
    arguments.add_argument("--markdown", action="store_true", help="print a Markdown table")
    arguments.add_argument("--misses", action="store_true", help="list files with misses")
    options = arguments.parse_args(argv)
    console = Console()
    if not (options.corpus / "expected.jsonl").is_file():
        console.print(f"[red]no corpus at {options.corpus.resolve()}[/red]")
        return 2
    tallies, speed, count = measure(options.corpus, max(1, options.repeat))
    table_rows = rows(tallies, speed)
    if options.markdown:
        print("| " + " | ".join(HEADERS) + " |")
        print("|" + "---|" * len(HEADERS))
        for row in table_rows:
            print("| " + " | ".join(row) + " |")
    else:
        table = Table(title=f"parse accuracy on {count} corpus files")
        for header in HEADERS:
            table.add_column(header, justify="left" if header in ("folder", "parser") else "right")
        for row in table_rows:
            table.add_row(*row)
        console.print(table)
    overall = tallies["sendgate"][OVERALL]
    checks = {
        "recipients found >= 97%": overall.all_found >= 0.97 * overall.with_recipients,
        "extra <= 1%": overall.extra <= 0.01 * overall.with_recipients,
        "class agreement >= 90%": overall.class_agrees >= 0.90 * overall.with_class,
        "feedback type 100%": overall.feedback_agrees == overall.with_feedback,
        "faster than flufl.bounce": speed["sendgate"] > speed["flufl.bounce"],
    }
    console.print(
        "targets: " + ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in checks.items())
    )
    if options.misses:
        for name in CONTENDERS:
            console.print(f"{name} recipient misses: {tallies[name][OVERALL].misses}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
