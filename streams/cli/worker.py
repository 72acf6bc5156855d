"""`sendgate worker`: run one gate worker (keeper + gate agents) until stopped."""

from __future__ import annotations

import asyncio

import typer

from streams.core.errors import SendgateError
from streams.core.settings import Settings
from streams.edges.admin import check_broker, create_topics, is_problem
from streams.gate.faust_fixes import UnsupportedFaustVersionError, check_faust_versions
from streams.gate.worker import run_worker

__all__ = ["worker"]


def worker(
    ctx: typer.Context,
    name: str = typer.Option(
        "worker-1",
        "--name",
        help="Worker name; each worker on one machine needs its own (it names the table folder).",
    ),
    loglevel: str = typer.Option("warning", "--loglevel", help="debug, info, warning or error."),
    create: bool = typer.Option(
        True, "--create-topics/--no-create-topics", help="Create missing topics before starting."
    ),
) -> None:
    """Run a gate worker: fold unsubscribes into suppressions and decide send requests.

    Start several with the same settings to share the partitions; stop with Ctrl-C or SIGTERM.
    """
    settings = ctx.ensure_object(Settings)
    try:
        # Before the broker: a worker that may not run should not create topics either.
        check_faust_versions()
    except UnsupportedFaustVersionError as error:
        raise SendgateError(str(error)) from None
    asyncio.run(check_broker(settings))
    if create:
        problems = {
            name: status
            for name, status in asyncio.run(create_topics(settings)).items()
            if is_problem(status)
        }
        if problems:
            # A topic with another partition count breaks co-partitioning: the gate would look
            # for a recipient's suppressions on the wrong worker.
            raise SendgateError(
                "topics are not as the gate needs them: "
                + "; ".join(f"{name}: {status}" for name, status in problems.items())
            )
    run_worker(settings, worker_name=name, loglevel=loglevel)
