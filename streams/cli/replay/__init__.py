"""`sendgate replay ...`: decide recorded traffic again, to audit the gate or try a policy.

- `sendgate replay verify --from T1 --to T2 [--account A]` decides every send request of the
  range again with the policy and the state its decision recorded, and compares the whole
  decision. Any difference is a bug in the gate, shown field by field.
- `sendgate replay what-if --policy NEW.toml --from T1 --to T2` decides the same requests under
  another policy (the state as recorded) and shows the totals before and after, the flips by
  rule and by account, and a sample with both explanations; `--output rows.parquet` (or `.csv`)
  writes one row per request.
- `sendgate replay state ADDRESS --at T` shows what the gate knew about one person at a moment.

A replay reads the topics with no consumer group and writes only to the terminal and to the
file it is given (`streams.replay`). Times are ISO-8601 with an offset, or a date (midnight
UTC), in event time: a request's `requested_at`.

Exit codes: 0 every request was decided again and came out the same (verify) or the what-if
ran; 1 verify found a decision that came out different; 3 verify found no difference but some
requests could not be decided again (each is listed, with why); 2 a usage or sendgate error (one
red line, never a traceback).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from streams.cli.options import JsonOption, parse_moment
from streams.cli.replay.state import state
from streams.cli.terminal import progress_bar, quiet_kafka_client, stdout_console
from streams.core.settings import Settings
from streams.policy import load_policy
from streams.replay.output import open_rows_file
from streams.replay.policies import policy_book
from streams.replay.processes import default_processes, verify_in_processes
from streams.replay.reading import TimeRange
from streams.replay.recorded import ReadProgress, ReplayScope
from streams.replay.render import render_verify, render_what_if, verify_document, what_if_document
from streams.replay.runs import what_if as run_what_if

__all__ = ["EXIT_DIFFERENT", "EXIT_NOT_REPLAYED", "app", "parse_bound"]

EXIT_DIFFERENT = 1
EXIT_NOT_REPLAYED = 3

app = typer.Typer(
    help="Decide recorded traffic again: verify the gate, try another policy, see a person's "
    "state at a moment.",
    no_args_is_help=True,
)


@contextmanager
def reading_progress() -> Iterator[ReadProgress]:
    """A bar on stderr that follows the replay from partition to partition."""
    with progress_bar("replaying") as progress:
        task = progress.add_task("replay", total=None)

        def show(what: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, description=f"reading {what}")

        yield show


@contextmanager
def deciding_progress() -> Iterator[Callable[[int], None]]:
    """A count on stderr of the decisions decided again so far."""
    with progress_bar("deciding again") as progress:
        task = progress.add_task("verify", total=None)

        def show(done: int) -> None:
            progress.update(task, completed=done)

        yield show


def parse_bound(value: str | None, option: str) -> datetime | None:
    """A range's bound (`parse_moment`), or None for an open end."""
    return None if value is None else parse_moment(value, option=option)


_FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="Replay requests from this moment (event time, inclusive): a date or an ISO-8601 "
        "time with offset. Default: the topic's beginning.",
        metavar="TIME",
        show_default=False,
    ),
]
_ToOption = Annotated[
    str | None,
    typer.Option(
        "--to",
        help="... to this moment (exclusive). Default: now.",
        metavar="TIME",
        show_default=False,
    ),
]
_AccountOption = Annotated[
    str | None,
    typer.Option("--account", help="Only this sending account's requests.", show_default=False),
]
_SkewOption = Annotated[
    float,
    typer.Option(
        "--skew-minutes",
        min=0,
        help="How far a request's publish time may be from the time it names (the topics are "
        "read by publish time, widened by this).",
    ),
]
_DecidedWithinOption = Annotated[
    float,
    typer.Option(
        "--decided-within-minutes",
        min=0,
        help="How long after a request its decision is looked for.",
    ),
]

_PoliciesOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--policies",
        help="A policy file, or a folder of them, that past decisions may have used (the "
        "shipped ones and the worker's configured one are always read). Repeatable.",
        show_default=False,
    ),
]


def _scope(
    start: str | None,
    end: str | None,
    account: str | None,
    skew_minutes: float,
    decided_within_minutes: float,
) -> ReplayScope:
    if account is not None and not account.strip():
        raise typer.BadParameter("must not be empty", param_hint="--account")
    return ReplayScope(
        when=TimeRange(parse_bound(start, "--from"), parse_bound(end, "--to")),
        account=account,
        skew=timedelta(minutes=skew_minutes),
        decided_within=timedelta(minutes=decided_within_minutes),
    )


app.command("state")(state)


@app.command()
def verify(
    ctx: typer.Context,
    start: _FromOption = None,
    end: _ToOption = None,
    account: _AccountOption = None,
    policies: _PoliciesOption = None,
    show: Annotated[
        int, typer.Option("--show", min=0, help="Differences and unreplayed requests to list.")
    ] = 20,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            min=1,
            help="Processes to share the partitions among (default: one per core).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    skew_minutes: _SkewOption = 60.0,
    decided_within_minutes: _DecidedWithinOption = 60.0,
) -> None:
    """Decide the range's send requests again on the state and policy each decision recorded,
    and compare every field with the recorded decision; any difference is a bug in the gate."""
    settings = ctx.ensure_object(Settings)
    scope = _scope(start, end, account, skew_minutes, decided_within_minutes)
    book = policy_book(settings, policies or ())
    quiet_kafka_client()
    with deciding_progress() as progress:
        report = asyncio.run(
            verify_in_processes(
                settings,
                scope,
                book,
                processes=processes or default_processes(),
                on_decided=progress,
            )
        )
    console = stdout_console(highlight=False)
    if as_json:
        console.print_json(json.dumps(verify_document(report, show=show)))
    else:
        render_verify(report, console, show=show)
    if report.mismatches:
        raise typer.Exit(EXIT_DIFFERENT)
    if report.not_replayed:
        raise typer.Exit(EXIT_NOT_REPLAYED)


@app.command("what-if")
def what_if(
    ctx: typer.Context,
    policy_file: Annotated[
        Path,
        typer.Option(
            "--policy",
            help="The policy file to decide the recorded requests by.",
            show_default=False,
            metavar="FILE.toml",
        ),
    ],
    start: _FromOption = None,
    end: _ToOption = None,
    account: _AccountOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="Write one row per request (both verdicts, the rules before and after, "
            "account, classification, jurisdiction, provider) to FILE.parquet or FILE.csv.",
            show_default=False,
        ),
    ] = None,
    sample: Annotated[
        int, typer.Option("--sample", min=0, help="Flipped decisions to show in full.")
    ] = 10,
    policies: _PoliciesOption = None,
    as_json: JsonOption = False,
    skew_minutes: _SkewOption = 60.0,
    decided_within_minutes: _DecidedWithinOption = 60.0,
) -> None:
    """Decide the range's send requests again under another policy, on the state each decision
    recorded, and show what would have changed."""
    settings = ctx.ensure_object(Settings)
    scope = _scope(start, end, account, skew_minutes, decided_within_minutes)
    policy = load_policy(policy_file)
    rows = open_rows_file(output) if output is not None else None
    quiet_kafka_client()
    try:
        with reading_progress() as progress:
            report = asyncio.run(
                run_what_if(
                    settings,
                    scope,
                    policy,
                    sample_size=sample,
                    on_row=None if rows is None else rows.write,
                    recorded_policies=policy_book(settings, policies or ()),
                    on_progress=progress,
                )
            )
    finally:
        if rows is not None:
            rows.close()
    console = stdout_console(highlight=False)
    if as_json:
        console.print_json(json.dumps(what_if_document(report)))
    else:
        render_what_if(report, console)
        if rows is not None:
            console.print(f"wrote {rows.rows:,} rows to {rows.path}")
