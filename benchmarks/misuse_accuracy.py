"""Precision and recall of the transactional-misuse detector on the labelled set.

An accuracy measurement, not a speed benchmark: it needs no Kafka, no database and no services;
it runs the pure detector (`streams.content.misuse.assess_misuse`, default `MisusePolicy`) over
`tests/data/content/transactional_misuse.jsonl` and compares its verdicts with the labels.

    .venv/bin/python benchmarks/misuse_accuracy.py                  # dev and heldout side by side
    .venv/bin/python benchmarks/misuse_accuracy.py --split dev      # one split
    .venv/bin/python benchmarks/misuse_accuracy.py --json           # the same figures as JSON

A message labelled "marketing" is transactional misuse (the positive class); "transactional" is a
clean transactional message. Printed: precision, recall, F1 and the confusion matrix per split;
the errors per message kind; and every misclassified message with its score and the signals that
fired. The detector's signals, weights and threshold were set by reading the dev split only; the
heldout split measures how that holds on messages the tuning never saw.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from streams.content.misuse import MisuseAssessment, MisusePolicy, assess_misuse  # noqa: E402
from streams.core.records import BodyLink, MessageBody  # noqa: E402

__all__ = ["Outcome", "Tally", "load", "main", "measure"]

DEFAULT_DATA = PROJECT_ROOT / "tests" / "data" / "content" / "transactional_misuse.jsonl"
SPLITS = ("dev", "heldout")
POSITIVE = "marketing"


@dataclass(frozen=True)
class Outcome:
    """One labelled message and what the detector said about it."""

    id: str
    split: str
    kind: str
    label: str
    assessment: MisuseAssessment

    @property
    def predicted(self) -> str:
        return POSITIVE if self.assessment.is_misuse else "transactional"

    @property
    def correct(self) -> bool:
        return self.predicted == self.label


@dataclass
class Tally:
    """The confusion matrix of one split (positive: misuse, i.e. labelled marketing)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    errors_by_kind: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: Outcome) -> None:
        positive = outcome.label == POSITIVE
        if outcome.assessment.is_misuse:
            self.tp += positive
            self.fp += not positive
        else:
            self.fn += positive
            self.tn += not positive
        if not outcome.correct:
            self.errors_by_kind[outcome.kind] += 1

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.total,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "confusion": {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn},
            "errors_by_kind": dict(sorted(self.errors_by_kind.items())),
        }


def load(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def measure(
    rows: list[dict[str, Any]], splits: tuple[str, ...], policy: MisusePolicy
) -> list[Outcome]:
    outcomes = []
    for row in rows:
        if row["split"] not in splits:
            continue
        body = MessageBody(
            text=row["text"],
            links=tuple(BodyLink(url=link["url"], text=link["text"]) for link in row["links"]),
        )
        outcomes.append(
            Outcome(
                id=row["id"],
                split=row["split"],
                kind=row["kind"],
                label=row["label"],
                assessment=assess_misuse(row["subject"], body, policy),
            )
        )
    return outcomes


def tallies(outcomes: list[Outcome], splits: tuple[str, ...]) -> dict[str, Tally]:
    per_split = {split: Tally() for split in splits}
    for outcome in outcomes:
        per_split[outcome.split].add(outcome)
    return per_split


def _signals(assessment: MisuseAssessment) -> str:
    return "; ".join(
        f"{s.name}({s.weight}): {', '.join(repr(e) for e in s.evidence)}"
        for s in assessment.signals
    )


def print_tables(console: Console, per_split: dict[str, Tally], outcomes: list[Outcome]) -> None:
    splits = list(per_split)
    scores = Table(title="transactional-misuse detector: scores (positive = misuse)")
    scores.add_column("measure")
    for split in splits:
        scores.add_column(f"{split} ({per_split[split].total})", justify="right")
    for name in ("precision", "recall", "f1"):
        scores.add_row(name, *(f"{getattr(per_split[s], name):.3f}" for s in splits))
    console.print(scores)

    confusion = Table(title="confusion matrix (rows: label, columns: detector)")
    confusion.add_column("label")
    for split in splits:
        confusion.add_column(f"{split}: misuse", justify="right")
        confusion.add_column(f"{split}: transactional", justify="right")
    confusion.add_row(
        "marketing", *(str(v) for s in splits for v in (per_split[s].tp, per_split[s].fn))
    )
    confusion.add_row(
        "transactional", *(str(v) for s in splits for v in (per_split[s].fp, per_split[s].tn))
    )
    console.print(confusion)

    kinds = sorted({outcome.kind for outcome in outcomes})
    by_kind = Table(title="errors per kind of message")
    by_kind.add_column("kind")
    for split in splits:
        by_kind.add_column(f"{split} errors / messages", justify="right")
    counts = Counter((o.split, o.kind) for o in outcomes)
    for kind in kinds:
        by_kind.add_row(
            kind,
            *(f"{per_split[s].errors_by_kind[kind]} / {counts[(s, kind)]}" for s in splits),
        )
    console.print(by_kind)

    wrong = [outcome for outcome in outcomes if not outcome.correct]
    misses = Table(title=f"misclassified messages ({len(wrong)})")
    for header in ("split", "id", "label", "score"):
        misses.add_column(header, justify="right" if header == "score" else "left", no_wrap=True)
    misses.add_column("signals that fired", overflow="fold")
    for outcome in wrong:
        misses.add_row(
            outcome.split,
            outcome.id,
            outcome.label,
            str(outcome.assessment.score),
            _signals(outcome.assessment) or "-",
        )
    console.print(misses)


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the labelled set")
    arguments.add_argument(
        "--split", choices=(*SPLITS, "all"), default="all", help="which split (default: both)"
    )
    arguments.add_argument("--json", action="store_true", help="print JSON instead of tables")
    options = arguments.parse_args(argv)
    console = Console()
    if not options.data.is_file():
        console.print(f"[red]no labelled set at {options.data}[/red]")
        return 2
    splits = SPLITS if options.split == "all" else (options.split,)
    policy = MisusePolicy()
    outcomes = measure(load(options.data), splits, policy)
    per_split = tallies(outcomes, splits)
    if options.json:
        report = {
            "threshold": policy.threshold,
            "splits": {split: tally.as_dict() for split, tally in per_split.items()},
            "misclassified": [
                {
                    "id": o.id,
                    "split": o.split,
                    "kind": o.kind,
                    "label": o.label,
                    "score": o.assessment.score,
                    "signals": [s.model_dump() for s in o.assessment.signals],
                }
                for o in outcomes
                if not o.correct
            ],
        }
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_tables(console, per_split, outcomes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
