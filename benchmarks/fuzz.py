"""Fuzzing at full size: every input surface that takes outside data, 100,000 cases each.

Run from the repository root (no broker, no database):

    .venv/bin/python benchmarks/fuzz.py                      # 100,000 cases per target
    .venv/bin/python benchmarks/fuzz.py --cases 2000 --targets parser,codec
    .venv/bin/python benchmarks/fuzz.py --help

The targets, their generators and their oracles are in `fuzzing/` (the `fuzz` test tier,
`tests/fuzz`, runs the same ones with a few hundred cases each): the MIME/DSN/ARF parser, the
Avro codec, the unsubscribe token, the one-click POST body, the SMTP intake's handler and
`sendgate publish`'s input files. Each case is generated or mutated from a random generator
seeded by `--seed`, the target and the chunk, so a run is repeatable and a crash can be replayed.

Per target: cases, accepted (by what they were taken for), rejected (by reason), crashes (an
unexpected exception, an unknown reason, or over 1 s; 0 expected), the longest case and the
99th percentile. The process exits 1 if any target crashed, and the last line is the figures as
JSON. Cases run in chunks over `--jobs` processes; the figures are per case, not per process.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # this checkout's `streams`, not an installed one

from fuzzing.engine import CASE_LIMIT_S, Tally, run_case  # noqa: E402
from fuzzing.targets import TARGET_NAMES, get_target  # noqa: E402
from harness.report import console, print_json_line, progress_bar  # noqa: E402
from harness.stats import json_safe  # noqa: E402
from rich.table import Table  # noqa: E402

DEFAULT_CASES = 100_000
CHUNK = 1000


def run_chunk(name: str, seed: int, start: int, count: int) -> tuple[Tally, float, float]:
    """`count` cases of one target from its own generator: (tally, started, ended) wall times."""
    began = time.time()
    target = get_target(name)
    rnd = random.Random(f"{seed}:{name}:{start}")
    tally = Tally(name)
    for _ in range(count):
        run_case(target, target.generate(rnd), tally)
    return tally, began, time.time()


def _chunks(total: int) -> list[tuple[int, int]]:
    return [(start, min(CHUNK, total - start)) for start in range(0, total, CHUNK)]


def run(names: list[str], cases: int, seed: int, jobs: int) -> dict[str, dict[str, Any]]:
    tallies = {name: Tally(name) for name in names}
    windows: dict[str, list[float]] = {name: [] for name in names}
    with progress_bar() as progress, ProcessPoolExecutor(max_workers=jobs) as pool:
        tasks = {name: progress.add_task(name, total=cases, rate="") for name in names}
        pending: list[tuple[str, Future[tuple[Tally, float, float]]]] = [
            (name, pool.submit(run_chunk, name, seed, start, count))
            for name in names
            for start, count in _chunks(cases)
        ]
        for name, future in pending:
            tally, began, ended = future.result()
            tallies[name].add(tally)
            windows[name] += [began, ended]
            crashes = tallies[name].crashes
            progress.update(
                tasks[name], advance=tally.cases, rate=f"crashes {crashes}" if crashes else ""
            )
    figures = {}
    for name in names:
        tally = tallies[name]
        figures[name] = {
            "what": get_target(name).what,
            **tally.figures(),
            "wall_s": max(windows[name]) - min(windows[name]),
            "case_time_s": sum(tally.times),
            "crash_samples": tally.crash_samples,
        }
    return figures


def _ms(value: float) -> str:
    return f"{value:.1f}" if value == value else "-"


def print_tables(figures: dict[str, dict[str, Any]]) -> None:
    summary = Table(
        title=f"Fuzzing: crashes are exceptions, unknown reasons or cases over {CASE_LIMIT_S:.0f} s"
    )
    for column in (
        "target",
        "cases",
        "accepted",
        "rejected",
        "crashes",
        "max ms",
        "p99 ms",
        "wall s",
    ):
        summary.add_column(column, justify="left" if column == "target" else "right")
    for name, row in figures.items():
        summary.add_row(
            name,
            f"{row['cases']:,}",
            f"{row['accepted']:,}",
            f"{row['rejected']:,}",
            f"[red]{row['crashes']:,}[/red]" if row["crashes"] else "0",
            _ms(row["max_ms"]),
            _ms(row["p99_ms"]),
            f"{row['wall_s']:.0f}",
        )
    console.print(summary)
    for name, row in figures.items():
        table = Table(title=f"{name}: {row['what']}", title_justify="left")
        table.add_column("outcome")
        table.add_column("cases", justify="right")
        for label, count in row["accepted_as"].items():
            table.add_row(f"accepted: {label}", f"{count:,}")
        for reason, count in row["rejected_by_reason"].items():
            table.add_row(f"rejected: {reason}", f"{count:,}")
        console.print(table)
        for sample in row["crash_samples"]:
            console.print(f"  [red]crash[/red] {sample}", markup=True, highlight=False)


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--cases", type=int, default=DEFAULT_CASES, help="cases per target")
    arguments.add_argument(
        "--targets", default=",".join(TARGET_NAMES), help=f"of {', '.join(TARGET_NAMES)}"
    )
    arguments.add_argument("--seed", type=int, default=0, help="replays a run")
    arguments.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes")
    options = arguments.parse_args(argv)
    names = [name.strip() for name in options.targets.split(",") if name.strip()]
    unknown = sorted(set(names) - set(TARGET_NAMES))
    if unknown or options.cases < 1:
        arguments.error(f"unknown targets {unknown}" if unknown else "--cases must be positive")
    started = time.monotonic()
    figures = run(names, options.cases, options.seed, max(1, options.jobs))
    print_tables(figures)
    crashes = sum(row["crashes"] for row in figures.values())
    elapsed = time.monotonic() - started
    console.print(
        f"{sum(row['cases'] for row in figures.values()):,} cases in {elapsed:.0f} s over "
        f"{options.jobs} processes, seed {options.seed}: {crashes} crashes"
    )
    line = {
        "benchmark": "fuzz",
        "date": datetime.now(UTC).date().isoformat(),
        "seed": options.seed,
        "cases_per_target": options.cases,
        "elapsed_s": elapsed,
        "crashes": crashes,
        "targets": {
            name: {key: value for key, value in row.items() if key not in ("what", "crash_samples")}
            for name, row in figures.items()
        },
    }
    print_json_line(json_safe(line))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
