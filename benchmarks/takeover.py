"""How long a killed worker's partitions go undecided, and whether load alone causes rebalances.

Run from the repository root against the broker of `scripts/services`:

    .venv/bin/python benchmarks/takeover.py                    # session timeouts 30 s and 6 s
    .venv/bin/python benchmarks/takeover.py --session-timeouts 6 --rate 1000

For each session timeout (the first is the baseline, faust's and our old default), in the same
run and on fresh topics:

1. Two gate workers join one group over `--partitions` partitions.
2. A steady load of `--rate` send requests a second runs for `--steady-s` seconds. Every
   "Joined group" line the workers log during it is a rebalance that load alone caused (a worker
   whose heartbeats were late, for instance): there must be none.
3. One worker is killed with SIGKILL (no goodbye to the group) and the load goes on for
   `--after-s` seconds. For every partition, the longest stretch without a decision, from a
   second before the kill to the end, is how long that partition went undecided; the takeover is
   the longest of them. It is the session timeout (the group notices the silence), plus the
   survivor's rejoin (at its next heartbeat), plus restoring the dead worker's tables (from the
   survivor's standby copy).

Every decision is counted, deny or allow: the workload has no consents, so the gate denies every
send, which costs it a little less than an allow; the takeover is about the group, not the rules.
Ends with one JSON line of the figures.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaProducer
from harness.broker import (
    create_run_topics,
    delete_run_topics,
    new_settings,
    wait_for_group_coordinator,
)
from harness.consuming import DecisionTimeline, follow_decisions
from harness.content import compliant_content
from harness.errors import BenchError
from harness.gate import wait_for_members
from harness.report import console, print_json_line
from harness.system import machine_info
from harness.workers import WorkerProcess, cli_worker_code, group_joins, worker_env
from rich.table import Table

from streams.core.recipient import RecipientKeyer
from streams.core.records import SendRequest
from streams.core.settings import Settings, get_settings
from streams.gate.app import heartbeat_interval_s
from streams.topics import SEND_REQUESTS, default_codec

__all__ = ["main"]

ADDRESSES = 6000


async def _load(settings: Settings, rate: float, stop: asyncio.Event, sent: list[int]) -> None:
    """`rate` send requests a second, to recipients spread over every partition."""
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    content = compliant_content("acme", commercial=True)
    rng = random.Random(7)
    pool = []
    for index in range(ADDRESSES):
        address = f"reader{index}@example.org"
        pool.append((address, keyer.key(address).encode()))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    topic = SEND_REQUESTS.full_name(settings)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        while not stop.is_set():
            due = int((loop.time() - started) * rate)
            while sent[0] < due:
                address, key = pool[rng.randrange(ADDRESSES)]
                request = SendRequest(
                    request_id=f"takeover-{sent[0]}",
                    account_id="acme",
                    list_id="news",
                    recipient=address,
                    classification="commercial",
                    subject="Autumn offers",
                    requested_at=datetime.now(UTC),
                    **content,
                )
                await producer.send(topic, codec.encode(request), key=key)
                sent[0] += 1
            await asyncio.sleep(0.01)
        await producer.flush()
    finally:
        await producer.stop()


async def measure(
    bootstrap: str, session_timeout_s: float, options: dict[str, Any], data_dir: Path
) -> dict[str, Any]:
    settings = new_settings(
        bootstrap=bootstrap,
        partitions=options["partitions"],
        data_dir=data_dir / f"session-{session_timeout_s:g}",
        name="takeover",
    ).model_copy(update={"worker_session_timeout_s": session_timeout_s})
    await wait_for_group_coordinator(settings)
    await create_run_topics(settings)
    workers = [
        WorkerProcess(
            name,
            cli_worker_code(name, loglevel="info"),
            worker_env(settings),
            data_dir / f"{name}-{session_timeout_s:g}.log",
        )
        for name in ("worker-a", "worker-b")
    ]
    stop_load, stop_read = asyncio.Event(), asyncio.Event()
    timeline, sent = DecisionTimeline(), [0]
    try:
        await wait_for_members(settings, workers)
        reader = asyncio.create_task(follow_decisions(settings, timeline, stop_read))
        load = asyncio.create_task(_load(settings, options["rate"], stop_load, sent))
        await asyncio.sleep(5)  # past the first assignments' recoveries
        joins_before = sum(group_joins(w) for w in workers)
        with console.status(f"session timeout {session_timeout_s:g} s: steady load"):
            await asyncio.sleep(options["steady_s"])
        false_rebalances = sum(group_joins(w) for w in workers) - joins_before
        victim, survivor = workers
        killed_at = time.monotonic()
        victim.process.kill()
        with console.status(f"session timeout {session_timeout_s:g} s: after the kill"):
            await asyncio.sleep(options["after_s"])
        survivor.check_alive()
        stop_load.set()
        await load
        await asyncio.sleep(2)
        stop_read.set()
        await reader
        end = killed_at + options["after_s"]
        gaps = {
            p: timeline.longest_gap(p, killed_at - 1, end) for p in range(settings.topic_partitions)
        }
    finally:
        stop_load.set()
        stop_read.set()
        for worker in workers:
            worker.stop(stop_timeout_s=30)
        await delete_run_topics(settings)
    return {
        "session_timeout_s": session_timeout_s,
        "heartbeat_s": heartbeat_interval_s(session_timeout_s),
        "sent": sent[0],
        "rate_per_s": options["rate"],
        "false_rebalances": false_rebalances,
        "takeover_s": max(gaps.values()),
        "gaps_s": gaps,
    }


def main(
    session_timeouts: Annotated[
        str, typer.Option(help="Comma-separated session timeouts (s); the first is the baseline.")
    ] = "30,6",
    partitions: Annotated[int, typer.Option(min=2)] = 6,
    rate: Annotated[float, typer.Option(min=1, help="Send requests a second.")] = 600.0,
    steady_s: Annotated[float, typer.Option(min=5)] = 20.0,
    after_s: Annotated[float, typer.Option(min=10)] = 45.0,
) -> None:
    """Measure takeover after SIGKILL, and rebalances under load, per session timeout."""
    try:
        timeouts = [float(part) for part in session_timeouts.split(",") if part.strip()]
    except ValueError:
        console.print(f"[red]error:[/] --session-timeouts {session_timeouts!r} is not numbers")
        raise typer.Exit(2) from None
    if not timeouts or any(t < 6 for t in timeouts):
        console.print("[red]error:[/] session timeouts must be >= 6 s (the broker's minimum)")
        raise typer.Exit(2)
    bootstrap = get_settings().kafka_bootstrap_servers
    options = {
        "partitions": partitions,
        "rate": rate,
        "steady_s": steady_s,
        "after_s": max(after_s, max(timeouts) + 10),
    }
    data_dir = Path(tempfile.mkdtemp(prefix="sendgate-takeover-"))
    results = []
    try:
        for timeout in timeouts:
            results.append(asyncio.run(measure(bootstrap, timeout, options, data_dir)))
    except BenchError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    finally:
        WorkerProcess.stop_all()
    machine = machine_info(partitions)
    console.print(f"machine: {machine}")
    table = Table(title=f"takeover after SIGKILL, 2 workers, {partitions} partitions")
    for column in (
        "session timeout",
        "heartbeat",
        "load/s",
        "rebalances under load",
        "takeover (longest undecided)",
        "vs baseline",
    ):
        table.add_column(column, justify="right")
    base = results[0]["takeover_s"]
    for result in results:
        table.add_row(
            f"{result['session_timeout_s']:g} s",
            f"{result['heartbeat_s']:g} s",
            f"{result['rate_per_s']:,.0f}",
            str(result["false_rebalances"]),
            f"{result['takeover_s']:.1f} s",
            f"{result['takeover_s'] / base:.2f}x",
        )
    console.print(table)
    shutil.rmtree(data_dir, ignore_errors=True)
    print_json_line(
        {
            "baseline_session_timeout_s": results[0]["session_timeout_s"],
            "baseline_takeover_s": round(base, 2),
            "takeover_s": round(results[-1]["takeover_s"], 2),
            "session_timeout_s": results[-1]["session_timeout_s"],
            "false_rebalances": sum(r["false_rebalances"] for r in results),
            "runs": results,
        },
        allow_nan=True,
        default=str,
    )


if __name__ == "__main__":
    typer.run(main)
