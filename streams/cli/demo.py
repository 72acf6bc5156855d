"""`sendgate demo`: a realistic scenario through a real gate worker, then what the gate decided.

Registered in `streams.cli` as `app.command("demo")(demo)`. The work is in `streams.demo.run`;
this module only turns options into `DemoOptions`, quiets the Kafka client (the errors we raise
say once what its retries would say many times) and maps a disagreement between the gate and
the policy's expected outcome to exit code 1.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from streams.cli.terminal import quiet_kafka_client
from streams.core.settings import Settings
from streams.demo.run import DemoOptions, run_demo
from streams.demo.scenario import DEFAULT_SEED, DEFAULT_SENDS, MIN_SENDS

__all__ = ["EXIT_MISMATCH", "demo"]

EXIT_MISMATCH = 1
"""The gate decided something else than the policy says it should have, or a decision came out
different when the replay decided it again."""


def demo(
    ctx: typer.Context,
    sends: Annotated[
        int,
        typer.Option("--sends", min=MIN_SENDS, max=200_000, help="Send requests to publish."),
    ] = DEFAULT_SENDS,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the scenario: same seed, same records.")
    ] = DEFAULT_SEED,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            min=1,
            help="Partitions per topic (default: SENDGATE_TOPIC_PARTITIONS).",
            show_default=False,
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Ledger database, e.g. postgresql+psycopg://sendgate:sendgate@127.0.0.1:54329/"
            "sendgate (default: SQLite file .data/demo-ledger.sqlite3).",
            show_default=False,
        ),
    ] = None,
    topic_prefix: Annotated[
        str | None,
        typer.Option(
            "--topic-prefix",
            help="Prefix of the run's topics (default: demo-<UTC yyyymmddHHMMSS>-).",
            show_default=False,
        ),
    ] = None,
    keep_topics: Annotated[
        bool,
        typer.Option("--keep-topics", help="Keep the run's topics and worker state afterwards."),
    ] = False,
    timeout_s: Annotated[
        float,
        typer.Option("--timeout", min=1.0, help="Seconds to wait for the gate's answers."),
    ] = 90.0,
) -> None:
    """Publish a realistic scenario, let a gate worker decide it, and report what it decided.

    Three accounts, thousands of sends, unsubscribes at every scope, role
    and malformed addresses and undecodable records go to fresh topics;
    a gate worker started here decides them, the ledger sink stores them.

    Prints decisions by rule and account, explained denials, dead letters
    and ledger rows, then stops the worker and deletes the topics.
    Needs Kafka running (scripts/demo starts it, then runs this command).
    """
    settings = ctx.ensure_object(Settings)
    quiet_kafka_client()
    options = DemoOptions(
        sends=sends,
        seed=seed,
        partitions=partitions,
        database_url=database_url,
        topic_prefix=topic_prefix,
        keep_topics=keep_topics,
        timeout_s=timeout_s,
    )
    result = asyncio.run(run_demo(settings, options))
    if result.report.mismatched_request_ids or not result.replayed.verified.ok:
        raise typer.Exit(EXIT_MISMATCH)
