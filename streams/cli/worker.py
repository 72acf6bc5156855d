"""`sendgate worker`: run one gate worker (keeper + gate agents) until stopped."""

from __future__ import annotations

import asyncio

import typer

from streams.core.errors import SendgateError
from streams.core.settings import Settings
from streams.edges.admin import create_topics, is_problem, wait_for_broker
from streams.gate.faust_fixes import UnsupportedFaustVersionError, check_faust_versions
from streams.gate.worker import run_worker

__all__ = ["worker"]


def say_waiting(line: str) -> None:
    """A worker's start-up line on stderr, before its logging is set up."""
    typer.echo(f"waiting for the broker: {line}", err=True)


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
    wait_for_broker_s: float = typer.Option(
        60.0,
        "--wait-for-broker",
        min=0,
        help="Seconds to wait for the Kafka broker at start before giving up (0: not at all).",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=0,
        max=65535,
        help="Serve /metrics, /healthz and /readyz here (default: the worker_metrics_port "
        "setting, 9464; 0: none). Each worker on one machine needs its own.",
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
    asyncio.run(wait_for_broker(settings, wait_for_broker_s, say=say_waiting))
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
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    run_worker(settings, worker_name=name, loglevel=loglevel, metrics_port=port)
