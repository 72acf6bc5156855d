"""A worker holding a million suppressions and a million consents: restore and takeover.

Run from the repository root against the broker of `scripts/services`:

    .venv/bin/python benchmarks/large_state.py                   # 1,000,000 recipients each
    .venv/bin/python benchmarks/large_state.py --recipients 200000 --partitions 4

In one run, on fresh topics:

1. **Seed.** `--recipients` express consents and as many account suppressions go straight into
   the changelogs of the `consents` and `suppressions` tables (`benchmarks/state/seed.py`: real
   fold output, so every entry decides like one the keepers wrote).
2. **Baseline: a raw read.** An aiokafka consumer reads both changelogs from the first record to
   the last, nothing else: the least any restore must do.
3. **A brand-new worker restores.** One worker with an empty data folder starts; the time from
   its start to `/readyz` answering 200 (tables restored, partitions held) is beside the raw read
   (target: under 2x), and so is its start on empty tables, measured first. Then probe sends
   from every seeded group check the restored state decides as seeded.
4. **Takeover.** A second worker joins and both keep a standby copy of the other's partitions.
   Once both report no standby records left to restore, a steady load of sends to seeded
   recipients runs and the first worker is killed with SIGKILL. For every partition, the longest
   stretch without a decision from a second before the kill is how long it went undecided; the
   takeover is the longest of them (target: 10 s). Every decision of the run is checked against
   the seed: a seeded suppression that was allowed fails the run.

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from harness.broker import (
    create_run_topics,
    delete_run_topics,
    new_settings,
    wait_for_group_coordinator,
)
from harness.consuming import DecisionTimeline, OffsetWatcher, follow_decisions
from harness.content import commercial_request
from harness.errors import BenchError
from harness.gate import publish_sender_domains, wait_for_members
from harness.producing import produce_pipelined
from harness.report import console, print_json_line, progress_bar
from harness.run import require_broker
from harness.seed import ACCOUNTS, SeededState, account_of, address_of, seed_records
from harness.system import machine_info
from harness.workers import WorkerProcess, worker_env
from rich.table import Table

from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings, get_settings
from streams.edges.web.serve import free_loopback_port
from streams.policy import load_policy
from streams.topics import (
    CONSENTS_CHANGELOG,
    SEND_REQUESTS,
    SUPPRESSIONS_CHANGELOG,
    default_codec,
)

__all__ = ["main"]

BULK_LINE = re.compile(r"bulk restore: (\d+) records into (\d+) table partitions in ([\d.]+) s")
PROBES = 300
"""Probe sends per seeded group after the restore."""


def _worker_code(name: str, metrics_port: int) -> str:
    return (
        "from streams.cli import main\n"
        f"main(['worker', '--name', {name!r}, '--loglevel', 'info', '--no-create-topics',"
        f" '--metrics-port', '{metrics_port}'])\n"
    )


@dataclass
class Worker:
    """A gate worker subprocess and the port of its /readyz and /metrics."""

    process: WorkerProcess
    port: int

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def ready(self) -> bool:
        self.process.check_alive()
        return self.get("/readyz")[0] == 200

    def metric(self, line_start: str) -> float | None:
        status, text = self.get("/metrics")
        if status != 200:
            return None
        for line in text.splitlines():
            if line.startswith(line_start + " "):
                return float(line.rsplit(" ", 1)[1])
        return None


def start(settings: Settings, data_dir: Path, name: str) -> Worker:
    port = free_loopback_port()
    process = WorkerProcess(
        name, _worker_code(name, port), worker_env(settings), data_dir / f"{name}.log"
    )
    return Worker(process, port)


async def until(condition: Any, timeout_s: float, what: str, *, blocking: bool = False) -> float:
    """Poll `condition` every 50 ms; the seconds it took. A `blocking` one (HTTP) runs in a
    thread; any other on the event loop, where the decision reader writes what it reads."""
    started = time.monotonic()
    while not (await asyncio.to_thread(condition) if blocking else condition()):
        if time.monotonic() - started > timeout_s:
            raise BenchError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def raw_read(settings: Settings, topics: list[str]) -> tuple[int, float]:
    """Read every record of `topics` from the start with a bare aiokafka consumer: (records,
    seconds)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(settings.topic_partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        total = sum(ends.values())
        started = time.perf_counter()
        await consumer.seek_to_beginning(*tps)
        read = 0
        left = {tp for tp, end in ends.items() if end > 0}
        last_read = time.monotonic()
        with progress_bar() as progress:
            task = progress.add_task("raw read of the changelogs", total=total, rate="")
            while left:
                batches = await consumer.getmany(*left, timeout_ms=500, max_records=10_000)
                for records in batches.values():
                    read += len(records)
                if batches:
                    last_read = time.monotonic()
                for tp in list(left):
                    if await consumer.position(tp) >= ends[tp]:
                        left.discard(tp)
                if time.monotonic() - last_read > 60:
                    raise BenchError(
                        f"the raw read stalled: nothing fetched for 60 s, {read:,} of {total:,} "
                        f"read, {len(left)} partitions short of their end"
                    )
                progress.update(task, completed=read)
        return read, time.perf_counter() - started
    finally:
        await consumer.stop()


def _request(settings: Settings, keyer: RecipientKeyer, request_id: str, index: int) -> Any:
    address = address_of(index)
    request = commercial_request(request_id, account_of(index), address)
    return (
        SEND_REQUESTS.full_name(settings),
        keyer.key(address).encode(),
        default_codec().encode(request),
    )


def check_decisions(decisions: DecisionTimeline, seeded: SeededState) -> dict[str, int]:
    """Every decision against the seed: (kind -> count). A request id carries its recipient's
    seed index after its last dash."""
    counts = {"allowed": 0, "denied": 0, "wrongly_allowed": 0, "wrongly_denied": 0}
    for request_id, copies in decisions.by_request.items():
        index = int(request_id.rsplit("-", 1)[1])
        for decision in copies:
            allowed = decision.verdict == "allow"
            counts["allowed" if allowed else "denied"] += 1
            if allowed and not seeded.allowed(index):
                counts["wrongly_allowed"] += 1
            if not allowed and seeded.allowed(index):
                counts["wrongly_denied"] += 1
    return counts


async def measure(settings: Settings, options: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    seeded = SeededState(options["recipients"])
    keyer = RecipientKeyer(settings.recipient_secret())
    codec = default_codec()
    await wait_for_group_coordinator(settings)
    await create_run_topics(settings)
    results: dict[str, Any] = {"recipients": seeded.recipients}
    changelogs = [
        SUPPRESSIONS_CHANGELOG.full_name(settings),
        CONSENTS_CHANGELOG.full_name(settings),
    ]
    decisions = DecisionTimeline(by_request={})
    stop_reading = asyncio.Event()
    reader: asyncio.Task[None] | None = None
    workers: list[Worker] = []
    try:
        # An empty worker first: the part of a start that is not restoring.
        empty = start(settings, data_dir, "empty-start")
        results["empty_start_s"] = await until(
            empty.ready, 180, "a worker on empty tables", blocking=True
        )
        empty.process.stop()
        shutil.rmtree(settings.data_dir / "faust", ignore_errors=True)

        total = seeded.consents + seeded.suppressions
        results["seed_per_s"] = await produce_pipelined(
            settings.kafka_bootstrap_servers,
            seed_records(
                seeded,
                keyer,
                codec,
                load_policy(settings.policy_file),
                suppressions_topic=changelogs[0],
                consents_topic=changelogs[1],
            ),
            total,
            f"seed {seeded.consents:,} consents and {seeded.suppressions:,} suppressions",
        )
        records, seconds = await raw_read(settings, changelogs)
        if records != total:
            raise BenchError(f"the raw read found {records:,} records, not {total:,}")
        results["raw_read_s"] = seconds

        first = start(settings, data_dir, "worker-a")
        workers.append(first)
        with console.status("a brand-new worker restores the tables"):
            results["fresh_ready_s"] = await until(first.ready, 1800, "the restore", blocking=True)
        results["restore_vs_raw"] = results["fresh_ready_s"] / results["raw_read_s"]
        bulk = BULK_LINE.search(first.process.log_path.read_text(errors="replace"))
        results["bulk_restore"] = (
            {"records": int(bulk[1]), "partitions": int(bulk[2]), "seconds": float(bulk[3])}
            if bulk
            else None
        )
        results["restore_beyond_empty_vs_raw"] = (
            max(results["fresh_ready_s"] - results["empty_start_s"], 0) / results["raw_read_s"]
        )
        async with OffsetWatcher(settings.kafka_bootstrap_servers) as watcher:
            await publish_sender_domains(
                settings, [f"acct-{n}" for n in range(ACCOUNTS)], watcher, first.process
            )
        reader = asyncio.create_task(follow_decisions(settings, decisions, stop_reading))
        rng = random.Random(11)
        half = seeded.recipients // 2
        groups = {
            "consented": range(0, half),
            "consented and suppressed": range(half, seeded.recipients),
            "suppressed only": range(seeded.recipients, seeded.last_index + 1),
        }
        probes = [
            _request(settings, keyer, f"probe-{n}-{index}", index)
            for n, (_, indexes) in enumerate(groups.items())
            for index in rng.sample(indexes, PROBES)
        ]
        await produce_pipelined(settings.kafka_bootstrap_servers, probes, len(probes), "probes")
        await until(
            lambda: sum(k.startswith("probe-") for k in decisions.by_request) >= len(probes),
            120,
            "the probes' decisions",
        )
        results["probes"] = check_decisions(decisions, seeded)

        second = start(settings, data_dir, "worker-b")
        workers.append(second)
        await wait_for_members(settings, [w.process for w in workers], timeout_s=300)

        def standbys_done() -> bool:
            return all(
                w.ready() and w.metric('sendgate_recovery_remaining_records{kind="standby"}') == 0
                for w in workers
            )

        with console.status("both workers restore their partitions and standby copies"):
            results["standby_sync_s"] = await until(
                standbys_done, 1800, "standby copies", blocking=True
            )

        stop_load = asyncio.Event()
        sent = [0]

        async def load() -> None:
            producer = AIOKafkaProducer(
                bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5
            )
            await producer.start()
            loop = asyncio.get_running_loop()
            began = loop.time()
            pool = [rng.randrange(seeded.last_index + 1) for _ in range(20_000)]
            try:
                while not stop_load.is_set():
                    due = int((loop.time() - began) * options["rate"])
                    while sent[0] < due:
                        topic, key, value = _request(
                            settings,
                            keyer,
                            f"load-{sent[0]}-{pool[sent[0] % len(pool)]}",
                            pool[sent[0] % len(pool)],
                        )
                        await producer.send(topic, value, key=key)
                        sent[0] += 1
                    await asyncio.sleep(0.01)
                await producer.flush()
            finally:
                await producer.stop()

        loader = asyncio.create_task(load())
        with console.status("steady load"):
            await asyncio.sleep(options["steady_s"])
        victim, survivor = workers
        killed_at = time.monotonic()
        victim.process.process.kill()
        with console.status("after the SIGKILL"):
            await asyncio.sleep(options["after_s"])
        survivor.process.check_alive()
        stop_load.set()
        await loader
        results["load_sent"] = sent[0]
        await until(
            lambda: sum(k.startswith("load-") for k in decisions.by_request) >= sent[0],
            300,
            "a decision for every load send",
        )
        end = killed_at + options["after_s"]
        gaps = {
            p: decisions.longest_gap(p, killed_at - 1, end)
            for p in range(settings.topic_partitions)
        }
        results["takeover_s"] = max(gaps.values())
        results["gaps_s"] = {p: round(g, 2) for p, g in gaps.items()}
        results["all_decisions"] = check_decisions(decisions, seeded)
    finally:
        stop_reading.set()
        if reader is not None:
            await reader
        for worker in workers:
            worker.process.stop(stop_timeout_s=30)
        await delete_run_topics(settings)
    return results


def main(
    recipients: Annotated[
        int, typer.Option(min=1000, help="Consents seeded, and as many suppressions.")
    ] = 1_000_000,
    partitions: Annotated[int, typer.Option(min=2)] = 6,
    rate: Annotated[
        float, typer.Option(min=1, help="Send requests a second in the takeover.")
    ] = 400.0,
    steady_s: Annotated[float, typer.Option(min=5)] = 15.0,
    after_s: Annotated[float, typer.Option(min=15)] = 30.0,
) -> None:
    """Restore a million-entry table on a fresh worker, and take it over after a SIGKILL."""
    data_dir = Path(tempfile.mkdtemp(prefix="sendgate-large-state-"))
    settings = new_settings(
        bootstrap=get_settings().kafka_bootstrap_servers,
        partitions=partitions,
        data_dir=data_dir,
        name="state",
    )
    require_broker(settings, data_dir)
    options = {"recipients": recipients, "rate": rate, "steady_s": steady_s, "after_s": after_s}
    try:
        results = asyncio.run(measure(settings, options, data_dir))
    except BenchError as exc:
        console.print(f"[red bold]benchmark failed:[/] {exc} (worker logs in {data_dir})")
        raise typer.Exit(1) from None
    finally:
        WorkerProcess.stop_all()
    console.print(f"machine: {machine_info(partitions)}")
    table = Table(
        title=f"{recipients:,} consents + {recipients:,} suppressions, {partitions} partitions"
    )
    for column in ("figure", "seconds", "vs raw read"):
        table.add_column(column, justify="right")
    raw = results["raw_read_s"]
    table.add_row("raw aiokafka read of both changelogs (baseline)", f"{raw:.1f}", "1.00x")
    table.add_row("worker start on empty tables", f"{results['empty_start_s']:.1f}", "")
    table.add_row(
        "brand-new worker: start to ready (restored)",
        f"{results['fresh_ready_s']:.1f}",
        f"{results['restore_vs_raw']:.2f}x",
    )
    table.add_row(
        "  of which restoring (beyond an empty start)",
        f"{max(results['fresh_ready_s'] - results['empty_start_s'], 0):.1f}",
        f"{results['restore_beyond_empty_vs_raw']:.2f}x",
    )
    if results["bulk_restore"]:
        bulk = results["bulk_restore"]
        table.add_row(
            f"  its bulk restore ({bulk['records']:,} records, worker's log)",
            f"{bulk['seconds']:.1f}",
            f"{bulk['seconds'] / raw:.2f}x",
        )
    table.add_row("second worker: standby copies in sync", f"{results['standby_sync_s']:.1f}", "")
    table.add_row("takeover after SIGKILL (longest undecided)", f"{results['takeover_s']:.1f}", "")
    console.print(table)
    console.print(f"decisions checked against the seed: {json.dumps(results['all_decisions'])}")
    shutil.rmtree(data_dir, ignore_errors=True)
    print_json_line(results, default=str)
    if results["all_decisions"]["wrongly_allowed"] or results["probes"]["wrongly_allowed"]:
        console.print("[red bold]a seeded suppression was allowed[/]")
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
