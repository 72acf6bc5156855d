"""Parser accuracy and speed beside plain flufl.bounce, on every corpus at hand, in one run.

Run from the repository root:

    .venv/bin/python benchmarks/parse_accuracy.py                 # rich table
    .venv/bin/python benchmarks/parse_accuracy.py --markdown      # the README table

Two corpora, each with one `expected.jsonl`:

* `dev`: the development corpus beside the project (`../shared/corpora/`, read in place). Its
  stated class counts every permanent failure as hard (GNU Mailman's reading); where a reader's
  class and reason for a file are in `tests/data/corpus/readings.jsonl` (the words of the report
  that decide them, with this project's definition: hard only for a dead address), those count.
* `public`: permissively licensed real mail kept in the project (`tests/data/mail/public/`,
  sources and licences in its SOURCES.md). What a source's own tests state counts first; where
  they state nothing, the reader's `*_reading` values do.

For each source folder and overall, for `streams.parsing.parse_message` and for flufl.bounce's
`all_failures` (parsing with `email.message_from_bytes`, as its docs do):

* recipients found: share of files with stated recipients where every one was found;
* extra: share of those files where an address was reported that is not expected;
* class: share of files with a stated class where the first recipient's class agrees (flufl:
  `hard` if it reports a permanent failure, `soft` if only temporary ones);
* feedback type: share of files with a stated type where it agrees (flufl has no notion of it);
* reason: share of files with a stated or read reason where the first recipient's agrees
  (sendgate only; flufl.bounce has no reasons);
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

DEV_CORPUS = PROJECT_ROOT / ".." / "shared" / "corpora"
DEV_READINGS = PROJECT_ROOT / "tests" / "data" / "corpus" / "readings.jsonl"
PUBLIC_CORPUS = PROJECT_ROOT / "tests" / "data" / "mail" / "public"
OVERALL = "overall"


@dataclass(frozen=True)
class Outcome:
    """What one contender said about one file."""

    recipients: frozenset[str]
    bounce_class: str | None
    feedback_type: str | None
    reason: str | None = None


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
    with_reason: int = 0
    reason_agrees: int = 0
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
        if expected.get("reason") is not None and outcome.reason is not None:
            self.with_reason += 1
            self.reason_agrees += outcome.reason == expected["reason"]


def ours(raw: bytes) -> Outcome:
    parsed = parse_message(raw)
    first = parsed.first
    return Outcome(
        frozenset(recipient.address for recipient in parsed.recipients),
        first.bounce_class if first else None,
        parsed.feedback.feedback_type if parsed.feedback else None,
        (first.reason or "-") if first else "-",
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


def _rows(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def dev_expectations(corpus: Path, readings: Path) -> list[dict]:
    """The development corpus's statements, with a reader's class and reason where given."""
    read = {row["file"]: row for row in _rows(readings)} if readings.is_file() else {}
    found = []
    for row in _rows(corpus / "expected.jsonl"):
        reading = read.get(row["file"], {})
        found.append(
            {
                **row,
                "class": reading.get("class", row["class"]),
                "reason": reading.get("reason"),
                "folder": "dev:" + "/".join(row["file"].split("/")[:2]),
                "path": corpus / row["file"],
            }
        )
    return found


def public_expectations(corpus: Path) -> list[dict]:
    """The public corpus: what its sources state, else the reader's `*_reading` values."""
    found = []
    for row in _rows(corpus / "expected.jsonl"):
        merged = {
            key: row.get(key) if row.get(key) is not None else row.get(f"{key}_reading")
            for key in ("recipients", "class", "reason", "status", "feedback_type")
        }
        found.append(
            {
                **row,
                **merged,
                "folder": "public:" + row["file"].split("/")[0],
                "path": corpus / row["file"],
            }
        )
    return found


def measure(expectations: list[dict], repeat: int) -> tuple[dict, dict[str, float], int]:
    raws = [row["path"].read_bytes() for row in expectations]
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
            tallies[name][row["folder"]].add(row, outcome)
            tallies[name][row["folder"].split(":")[0] + ": all"].add(row, outcome)
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
                    share(tally.reason_agrees, tally.with_reason),
                    f"{speed[name]:,.0f}" if folder == OVERALL else "",
                ]
            )
    return table


HEADERS = [
    "folder",
    "parser",
    "recipients found",
    "extra",
    "class",
    "feedback type",
    "reason",
    "msgs/s",
]


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--dev", type=Path, default=DEV_CORPUS, help="development corpus")
    arguments.add_argument("--public", type=Path, default=PUBLIC_CORPUS, help="public corpus")
    arguments.add_argument("--repeat", type=int, default=5, help="timed passes; best counts")
    arguments.add_argument("--markdown", action="store_true", help="print a Markdown table")
    arguments.add_argument("--misses", action="store_true", help="list files with misses")
    options = arguments.parse_args(argv)
    console = Console()
    for corpus in (options.dev, options.public):
        if not (corpus / "expected.jsonl").is_file():
            console.print(f"[red]no corpus at {corpus.resolve()} (expected.jsonl missing)[/red]")
            return 2
    expectations = dev_expectations(options.dev, DEV_READINGS) + public_expectations(options.public)
    tallies, speed, count = measure(expectations, max(1, options.repeat))
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
    for scope in ("public: all", OVERALL):
        _print_targets(console, scope, tallies["sendgate"][scope], speed)
    if options.misses:
        for name in CONTENDERS:
            console.print(f"{name} recipient misses: {tallies[name][OVERALL].misses}")
    print(json.dumps(_figures(tallies, speed, count)))
    return 0


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _figures(tallies: dict, speed: dict[str, float], count: int) -> dict:
    """The run's figures as one JSON object (the last line of the output)."""
    figures: dict = {"benchmark": "parse_accuracy", "files": count}
    for name in CONTENDERS:
        for scope in ("dev: all", "public: all", OVERALL):
            tally = tallies[name][scope]
            figures[f"{name}|{scope}"] = {
                "recipients_found": _ratio(tally.all_found, tally.with_recipients),
                "extra": _ratio(tally.extra, tally.with_recipients),
                "class": _ratio(tally.class_agrees, tally.with_class),
                "feedback_type": _ratio(tally.feedback_agrees, tally.with_feedback),
                "reason": _ratio(tally.reason_agrees, tally.with_reason),
            }
        figures[f"{name}|msgs_per_s"] = round(speed[name], 1)
    return figures


def _print_targets(console: Console, scope: str, tally: Tally, speed: dict[str, float]) -> None:
    checks = {
        "recipients found >= 97%": tally.all_found >= 0.97 * tally.with_recipients,
        "extra <= 1%": tally.extra <= 0.01 * tally.with_recipients,
        "class agreement >= 90%": tally.class_agrees >= 0.90 * tally.with_class,
        "feedback type 100%": tally.feedback_agrees == tally.with_feedback,
        "faster than flufl.bounce": speed["sendgate"] > speed["flufl.bounce"],
    }
    console.print(
        f"targets ({scope}): "
        + ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in checks.items())
    )


if __name__ == "__main__":
    raise SystemExit(main())
