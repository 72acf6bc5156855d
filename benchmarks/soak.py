"""The gate at a steady 80 % of its measured throughput for half an hour, with unsubscribes,
consent events and complaints mixed in: memory per worker, lag, and any suppressed send allowed.

Run from the repository root against the broker of `scripts/services`:

    .venv/bin/python benchmarks/soak.py                                  # 30 minutes, ~33 in all
    .venv/bin/python benchmarks/soak.py --minutes 2 --calibrate-sends 10000 --recipients 10000

Phases (every topic lives under a fresh prefix and is deleted at the end; the workers are stopped
whatever happens):

1. Setup: `--workers` real gate workers (`sendgate worker`, each a process of its own) with the
   default policy acting at once on a rate over its line (`--act-at-once`, so the complaints'
   strike comes within the soak rather than when the week's window closes), the accounts'
   verified sending domains, a first decision, and the group settled with every worker in it.
2. State (`soaking.workload`): every recipient's sign-up, and the flagged account's deliveries,
   taken in by the keepers before the first send.
3. Calibration, the baseline measured in the same run: `--calibrate-sends` send requests of the
   soak's own kind published at once, and the gate's decisions per second over them, from their
   CreateTime stamps once the backlog is all on the broker: the gate with the machine to itself.
   Then, fed (`calibrate_fed`): `--calibrate-fed-s` of sends built and paced by this process at
   that rate, every decision read and checked, as in the soak; the gate's decisions per second
   meanwhile are what it does while the load generator shares its cores. `--rate` skips both and
   sets the soak's rate itself; `--calibrate-fed-s 0` bases the soak on the backlog's figure.
4. Soak: `--minutes` of sends at `--load` times the fed figure, paced
   (`harness.producing.paced_load`), with clicks, consent events, complaints and probes mixed in
   (`soaking.mix`). Every decision is read and checked (`soaking.checks`); each worker's resident
   memory and the decider's lag are sampled every 5 s, and a line printed every minute
   (`soaking.watch`). RSS at start is the first sample, taken as the soak's load starts: after
   the state and the calibration, so the workers' tables and caches already hold the pool.
5. Drain: the load and the mix stop; each group's lag then (as `sendgate status` computes it), and
   how long until the decider has decided everything and both groups' lag is 0.

Ends with tables (throughput beside the calibration, memory per worker, the checks, the mix, the
decisions, the lag, the machine, the workers' logs) and one JSON line of the figures
(`soaking.figures.summary_line`). Exits 1 when a check fails (a suppressed send allowed, a broadcast
allowed after its account's block, a send never decided, a dead letter, a lag over `--max-lag-s`
seconds of load, still growing, or not drained) or a worker dies; 2 on bad arguments or no
broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from os import getpid
from pathlib import Path
from typing import Annotated, Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # this checkout's `streams`, not an installed one

import typer  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402
from aiokafka.errors import KafkaError  # noqa: E402
from harness.broker import create_run_topics, new_settings, wait_for_group_coordinator  # noqa: E402
from harness.consuming import OffsetWatcher, topic_window, wait_until_consumed  # noqa: E402
from harness.content import (  # noqa: E402
    BACKGROUND_ACCOUNT,
    check_content_compliant,
    commercial_request,
)
from harness.errors import BenchError  # noqa: E402
from harness.gate import (  # noqa: E402
    act_at_once_policy,
    publish_sender_domains,
    wait_for_decisions,
    wait_for_members,
    wait_until_deciding,
)
from harness.options import (  # noqa: E402
    Bootstrap,
    JsonOut,
    Partitions,
    WorkerPatch,
    bootstrap_or_default,
)
from harness.producing import Background, paced_load, produce_pipelined  # noqa: E402
from harness.report import console, phase, print_json_line, write_figures  # noqa: E402
from harness.run import check_json_out, require_broker, run_then_clean_up  # noqa: E402
from harness.stats import timeout_for  # noqa: E402
from harness.system import LoadSampler, machine_info  # noqa: E402
from harness.workers import (  # noqa: E402
    WorkerProcess,
    cli_worker_code,
    group_joins,
    keep_worker_log,
    start_worker,
    worker_log_findings,
)
from soaking.checks import Checker, DecisionReader, Registry  # noqa: E402
from soaking.figures import (  # noqa: E402
    failed_checks,
    kept_up,
    rss_figures,
    second_half_slope,
    summary_line,
)
from soaking.mix import Mix, MixRates  # noqa: E402
from soaking.printing import print_results  # noqa: E402
from soaking.watch import Watch, group_lags  # noqa: E402
from soaking.workload import Workload  # noqa: E402

from streams.core.settings import Settings  # noqa: E402
from streams.edges.status import StatusReport, read_status  # noqa: E402
from streams.edges.web.serve import free_loopback_port  # noqa: E402
from streams.policy import load_policy  # noqa: E402
from streams.topics import (  # noqa: E402
    CONSENT_EVENTS,
    DEAD_LETTERS,
    DELIVERY_EVENTS,
    RATE_EVENTS,
    SEND_DECISIONS,
    SEND_REQUESTS,
)

__all__ = ["main"]

DRAIN_POLL_S = 0.5
FED_WARM_UP_S = 5.0
"""Of the fed calibration, the first seconds, left out: the queue fills to its steady depth."""


@dataclass
class Options:
    minutes: float
    load: float
    rate: float | None
    calibrate_sends: int
    calibrate_fed_s: float
    workers: int
    partitions: int
    recipients: int
    clicks_per_s: float
    consents_per_s: float
    complaints_per_s: float
    probes_per_min: float
    max_lag_s: float
    progress_s: float
    act_at_once: bool
    seed: int
    bootstrap: str
    worker_patches: list[str]


@dataclass(frozen=True)
class Gate:
    """The gate under test: its worker processes, their health URLs, the offsets' reader and the
    decisions' reader."""

    workers: list[WorkerProcess]
    urls: tuple[str, ...]
    watcher: OffsetWatcher
    reading: asyncio.Task[None]
    """The decision reader's task: the soak ends if it stops."""


async def run_benchmark(settings: Settings, options: Options, data_dir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"options": asdict(options), "topic_prefix": settings.topic_prefix}
    tag = uuid.uuid4().hex[:8]
    workload = Workload(settings, tag, recipients=options.recipients, seed=options.seed)
    check_content_compliant(
        [
            commercial_request(f"check-{account}", account, "check@example.com")
            for account in workload.accounts
        ],
        load_policy(settings.policy_file),
        what="the soak's sends",
    )

    with phase(f"setup: topics, {options.workers} gate workers"):
        await wait_for_group_coordinator(settings)
        names = await create_run_topics(settings)
        console.print(f"created {len(names)} topics under prefix {settings.topic_prefix!r}")
        console.print(f"policy: {settings.policy_file}")
        # Each its own metrics and health port: /readyz for the status lines, and no worker
        # fails to bind a port another (or anyone's on this machine) holds.
        ports = [free_loopback_port() for _ in range(options.workers)]
        workers = [
            start_worker(
                settings.model_copy(update={"worker_metrics_port": port}),
                data_dir,
                f"gate-{number}",
                cli_worker_code(f"bench-soak-{number}", loglevel="info"),
            )
            for number, port in enumerate(ports, start=1)
        ]
        worker_urls = tuple(f"http://{settings.metrics_host}:{port}" for port in ports)
        first = workers[0]

    async with OffsetWatcher(settings.kafka_bootstrap_servers) as watcher:
        with phase("setup: verified sending domains, a first decision, the group settled"):
            await publish_sender_domains(
                settings, [*workload.accounts, BACKGROUND_ACCOUNT], watcher, first, timeout_s=180
            )
            await wait_until_deciding(settings, tag, watcher, first)
            await wait_for_members(settings, workers)

        with phase(
            f"state: {len(workload.recipients):,} recipients' sign-ups, the flagged account's "
            f"{len(workload.flagged):,} readers and deliveries"
        ):
            await produce_pipelined(
                settings.kafka_bootstrap_servers,
                workload.state_records(datetime.now(UTC)),
                workload.state_size,
                "publish sign-ups and deliveries",
            )
            for spec, what in (
                (CONSENT_EVENTS, "consent keeper takes in the sign-ups"),
                (DELIVERY_EVENTS, "bounce keeper takes in the deliveries"),
                (RATE_EVENTS, "rate keeper counts the deliveries"),
            ):
                await wait_until_consumed(
                    watcher,
                    settings.app_id,
                    spec.full_name(settings),
                    timeout_s=timeout_for(workload.state_size, min_rate=200),
                    what=what,
                    worker=first,
                )

        registry = Registry()
        checker = Checker(registry, workload.sends)
        reader = DecisionReader(settings, checker)
        await reader.start()
        stop_reader = asyncio.Event()
        reading = asyncio.create_task(reader.run(stop_reader))
        try:
            gate = Gate(workers, worker_urls, watcher, reading)
            results["calibration"] = await calibrate(settings, options, workload, watcher, first)
            results["fed"] = await calibrate_fed(
                settings, options, workload, gate, results["calibration"]["per_s"]
            )
            basis = results["fed"]["per_s"] or results["calibration"]["per_s"]
            rate = options.rate or options.load * basis
            figures, at_end = await soak(settings, options, workload, checker, gate, rate)
            results.update(figures)
            results["end"] = await drain(settings, rate, workload, checker, gate, at_end)
        finally:
            stop_reader.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reading, 10)
            await reader.stop()
        results["checks"] = checker.figures()
        results["end"]["dead_letters"] = await watcher.count(DEAD_LETTERS.full_name(settings))

    results["workers"] = {}
    soak_span = (
        datetime.fromtimestamp(results["soak"]["started_at"]),
        datetime.fromtimestamp(results["soak"]["ended_at"]),
    )
    for worker in workers:
        alive = worker.alive
        code = worker.stop()
        log = keep_worker_log(worker, settings)
        results["workers"][worker.name] = {
            "alive_at_end": alive,
            "exit_code": code,
            "log": log,
            "log_during_soak": worker_log_findings(Path(log["path"]), between=soak_span),
        }
    return results


async def calibrate(
    settings: Settings,
    options: Options,
    workload: Workload,
    watcher: OffsetWatcher,
    worker: WorkerProcess,
) -> dict[str, Any]:
    """The baseline: the gate's decisions per second over a backlog of the soak's sends."""
    if options.rate is not None:
        console.print(f"calibration skipped: --rate {options.rate:,.0f} sends/s")
        return {"skipped": True, "per_s": None}
    decisions = SEND_DECISIONS.full_name(settings)
    count = options.calibrate_sends
    with phase(f"calibration: {count:,} sends at once, the gate's decisions per second"):
        # Encoded first, so the backlog reaches the broker as fast as it takes records and the
        # gate decides most of it alone, without this process's encoding beside it.
        backlog = list(workload.sends_for_calibration(count))
        before = await watcher.count(decisions)
        published_per_s = await produce_pipelined(
            settings.kafka_bootstrap_servers, backlog, count, "publish the calibration backlog"
        )
        backlog_on_broker = await watcher.end_offsets(decisions)
        await wait_for_decisions(
            settings,
            watcher,
            count,
            baseline=before,
            timeout_s=timeout_for(count, min_rate=100),
            what="gate decides the backlog",
            worker=worker,
        )
        window = await topic_window(
            settings.kafka_bootstrap_servers, decisions, start=backlog_on_broker
        )
    if window.records < count / 4:
        raise BenchError(
            f"calibration: only {window.records:,} of {count:,} decisions came after the backlog "
            "was published; give more --calibrate-sends"
        )
    console.print(
        f"calibration: {window.records:,} decisions in {window.seconds:.1f} s after the backlog "
        f"was on the broker: [bold]{window.per_second:,.0f}/s[/]"
    )
    return {
        "sends": count,
        "published_per_s": published_per_s,
        "measured_decisions": window.records,
        "seconds": window.seconds,
        "per_s": window.per_second,
    }


async def calibrate_fed(
    settings: Settings,
    options: Options,
    workload: Workload,
    gate: Gate,
    backlog_per_s: float | None,
) -> dict[str, Any]:
    """The gate's decisions per second while this process feeds it as the soak will: sends
    built one by one and paced at the backlog's rate, every decision read and checked.

    On a machine whose cores the load generator shares with the workers (two cores here), the
    backlog's figure is the gate with the machine to itself; feeding it costs this process a
    share of a core, which the soak pays for its whole length. The soak's rate is a share of
    this figure, so that share means the same headroom it would on a machine of the gate's own.
    The gate cannot decide faster than it is fed, so a gate that keeps up shows the backlog's
    rate here.
    """
    seconds = options.calibrate_fed_s
    if backlog_per_s is None or seconds == 0:
        return {"skipped": True, "per_s": None}
    watcher, decisions = gate.watcher, SEND_DECISIONS.full_name(settings)
    load = Background(target_per_s=backlog_per_s)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5
    )
    await asyncio.wait_for(producer.start(), 15)
    stop = asyncio.Event()
    cpu = LoadSampler(
        {worker.name: worker.process.pid for worker in gate.workers} | {"soak": getpid()}
    )
    with phase(
        f"calibration, fed: {seconds:g} s of sends paced at {backlog_per_s:,.0f}/s by this "
        "process, decisions read and checked"
    ):
        before = await watcher.count(decisions)
        task = asyncio.create_task(
            paced_load(producer, SEND_REQUESTS.full_name(settings), workload.next_send, load, stop)
        )
        watched = {"fed load": task, "decision reader": gate.reading}
        try:
            with console.status("calibration, fed: the queue fills"):
                await _wait_watching(FED_WARM_UP_S, gate.workers, watched)
                first, started = await watcher.count(decisions), time.monotonic()
                cpu.sample()
            with console.status(f"calibration, fed: counting decisions for {seconds:g} s"):
                await _wait_watching(seconds - FED_WARM_UP_S, gate.workers, watched)
                last, ended = await watcher.count(decisions), time.monotonic()
                cpu.sample()
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
            await producer.flush()
            await producer.stop()
        await wait_for_decisions(
            settings,
            watcher,
            load.sent,
            baseline=before,
            timeout_s=timeout_for(load.sent, min_rate=100),
            what="gate decides what the fed calibration left",
            worker=gate.workers[0],
        )
    per_s = (last - first) / (ended - started)
    console.print(
        f"calibration, fed: {last - first:,} decisions in {ended - started:.1f} s while this "
        f"process fed {load.achieved_per_s:,.0f}/s: [bold]{per_s:,.0f}/s[/] "
        f"({per_s / backlog_per_s:.2f}x of the backlog's)"
    )
    return {
        "seconds": ended - started,
        "offered_per_s": backlog_per_s,
        "achieved_per_s": load.achieved_per_s,
        "decisions": last - first,
        "per_s": per_s,
        "cpu_cores": cpu.shares(),
    }


async def _wait_watching(
    seconds: float, workers: list[WorkerProcess], tasks: dict[str, asyncio.Task[None]]
) -> None:
    """Sleep `seconds`, ending the run at once if a worker dies or a task stops."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        for worker in workers:
            worker.check_alive()
        for name, task in tasks.items():
            if task.done():
                error = None if task.cancelled() else task.exception()
                raise BenchError(f"the {name} stopped: {error!r}")
        await asyncio.sleep(min(left, 1.0))


async def soak(
    settings: Settings,
    options: Options,
    workload: Workload,
    checker: Checker,
    gate: Gate,
    rate: float,
) -> tuple[dict[str, Any], StatusReport]:
    """The load and the mix for `options.minutes`, watched; the figures, and the status (lag,
    workers' health) as the load stopped."""
    workers, watcher = gate.workers, gate.watcher
    rates = MixRates(
        clicks_per_s=options.clicks_per_s,
        consents_per_s=options.consents_per_s,
        complaints_per_s=options.complaints_per_s,
        probes_per_min=options.probes_per_min,
    )
    mix = Mix(settings, workload, checker.registry, rates)
    watch = Watch(
        settings, workers, watcher, checker, mix, gate.urls, progress_s=options.progress_s
    )
    cpu = LoadSampler({worker.name: worker.process.pid for worker in workers} | {"soak": getpid()})
    decisions = SEND_DECISIONS.full_name(settings)
    load = Background(target_per_s=rate)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5
    )
    await asyncio.wait_for(producer.start(), 15)
    stop = asyncio.Event()
    seconds = options.minutes * 60
    title = (
        f"soak: {options.minutes:g} min at {rate:,.0f} sends/s"
        + ("" if options.rate else f" ({options.load:.0%} of the calibration's)")
        + f", {options.clicks_per_s:g} clicks/s, {options.consents_per_s:g} consent events/s, "
        f"{options.complaints_per_s:g} complaints/s, {options.probes_per_min:g} probes/min"
    )
    with phase(title):
        joins_before = sum(group_joins(worker) for worker in workers)
        sends_before = len(workload.sends)
        decisions_before = await watcher.count(decisions)
        started_wall = time.time()
        watch.sample_rss(0.0)
        cpu.sample()
        tasks = {
            "load": asyncio.create_task(
                paced_load(
                    producer, SEND_REQUESTS.full_name(settings), workload.next_send, load, stop
                )
            ),
            "mix": asyncio.create_task(mix.run(stop)),
        }
        watched = {**tasks, "decision reader": gate.reading}
        try:
            await watch.run(seconds, watched)
            # Read while the load still runs: the lag it left, not what is left a moment later.
            at_end = await read_status(settings, gate.urls)
        finally:
            stop.set()
            for name, task in tasks.items():
                try:
                    await asyncio.wait_for(task, 60)
                except Exception as exc:
                    console.print(f"[yellow]the {name} ended with {exc!r}[/]")
            await producer.flush()
            await producer.stop()
        cpu.sample()
        soak_seconds = time.time() - started_wall
        decided = await watcher.count(decisions) - decisions_before
        rebalances = sum(group_joins(worker) for worker in workers) - joins_before
    lags = [lag for _, lag in watch.lags]
    figures = {
        "soak": {
            "started_at": started_wall,
            "ended_at": started_wall + soak_seconds,
            "minutes": soak_seconds / 60,
            "offered_per_s": rate,
            "achieved_per_s": load.achieved_per_s,
            "load_sends": load.sent,
            "sends": len(workload.sends) - sends_before,
            "decided_per_s": decided / soak_seconds,
            "cpu_cores": cpu.shares(),
            "lag_max": max(lags, default=None),
            "lag_slope_per_s": second_half_slope(watch.lags),
            "lag_samples": watch.lags,
            "progress": watch.lines,
        },
        "mix": {
            "clicks": dict(mix.counts.clicks),
            "grants": mix.counts.grants,
            "withdrawals": mix.counts.withdrawals,
            "complaints": mix.counts.complaints,
            "flagged_complaints": mix.counts.flagged_complaints,
            "probes": mix.counts.probes,
            "probe_sends": mix.counts.probe_sends,
            "not_acknowledged": dict(mix.counts.not_acknowledged),
            "pool_at_end": len(workload.recipients),
        },
        "rss": rss_figures(watch.rss),
        "rss_samples": {name: series for name, series in watch.rss.items()},
        "rebalances": rebalances,
    }
    return figures, at_end


async def drain(
    settings: Settings,
    gate_per_s: float,
    workload: Workload,
    checker: Checker,
    gate: Gate,
    report: StatusReport,
) -> dict[str, Any]:
    """Each group's lag as the load stopped (`report`), then how long until the gate has decided
    every send and both groups have committed everything."""
    watcher = gate.watcher
    lags = group_lags(report)
    decider_lag = lags.get(settings.decided_group, 0)
    # Generous: the backlog at a quarter of the rate the gate showed, and a minute more.
    timeout_s = 60 + decider_lag / max(gate_per_s / 4, 100.0)
    sends_topic = SEND_REQUESTS.full_name(settings)
    started = time.monotonic()
    drain_s: float | None = None
    keepers_drain_s: float | None = None
    keepers_lag = lags.get(settings.app_id, 0)
    with phase(f"drain: decider lag {decider_lag:,}, keepers' lag {keepers_lag:,}"):
        while time.monotonic() - started < timeout_s:
            if gate.reading.done():
                raise BenchError(f"the decision reader stopped: {gate.reading.exception()!r}")
            elapsed = time.monotonic() - started
            if drain_s is None:
                lag = await watcher.lag(settings.decided_group, sends_topic)
                if lag == 0 and checker.distinct >= len(workload.sends):
                    drain_s = elapsed
            if keepers_drain_s is None:
                with contextlib.suppress(KafkaError, OSError, TimeoutError):
                    status = await asyncio.wait_for(read_status(settings), 30)
                    if group_lags(status).get(settings.app_id, 0) == 0:
                        keepers_drain_s = elapsed
            if drain_s is not None and keepers_drain_s is not None:
                break
            await asyncio.sleep(DRAIN_POLL_S)
        console.print(
            f"decider drained in {'-' if drain_s is None else f'{drain_s:.1f} s'}, keepers in "
            f"{'-' if keepers_drain_s is None else f'{keepers_drain_s:.1f} s'}"
        )
    drained = {settings.decided_group: drain_s, settings.app_id: keepers_drain_s}
    return {
        "groups": [
            {
                "name": group.name,
                "group": group.group,
                "members": group.members,
                "lag_at_end": group.lag,
                "lag_by_topic": {topic.topic: topic.lag for topic in group.topics},
                "drained_after_s": drained.get(group.group),
            }
            for group in report.groups
        ],
        "workers_health": [asdict(worker) for worker in report.workers],
        "decider_lag_at_end": decider_lag,
        "keepers_lag_at_end": keepers_lag,
        "drain_s": drain_s,
        "keepers_drain_s": keepers_drain_s,
        "drain_timeout_s": timeout_s,
        "sends": len(workload.sends),
        "undecided": len(workload.sends) - checker.distinct,
    }


# --- command line ---------------------------------------------------------------------------------


def main(
    minutes: Annotated[
        float, typer.Option(min=0.5, max=24 * 60, help="How long the soak's load runs.")
    ] = 30.0,
    load: Annotated[
        float,
        typer.Option(
            min=0.05, max=1.5, help="The soak's send rate, as a share of the calibration."
        ),
    ] = 0.8,
    calibrate_sends: Annotated[
        int,
        typer.Option(
            min=2000, max=2_000_000, help="Send requests in the calibration backlog (the baseline)."
        ),
    ] = 30_000,
    calibrate_fed_s: Annotated[
        float,
        typer.Option(
            min=0,
            max=600,
            help="Then seconds of sends fed by this process at the backlog's rate; the soak's "
            "rate is --load times the gate's decisions/s meanwhile (0: times the backlog's).",
        ),
    ] = 30.0,
    rate: Annotated[
        float | None,
        typer.Option(
            min=1, max=100_000, help="Send requests a second; skips the calibration and --load."
        ),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=4, help="Gate worker processes.")] = 2,
    partitions: Partitions = 6,
    recipients: Annotated[
        int, typer.Option(min=1000, max=2_000_000, help="Opted-in recipients the load mails.")
    ] = 50_000,
    clicks_per_s: Annotated[
        float,
        typer.Option(min=0, max=200, help="Unsubscribe clicks a second (list, account, all)."),
    ] = 2.0,
    consents_per_s: Annotated[
        float, typer.Option(min=0, max=200, help="Consent events a second: sign-ups, withdrawals.")
    ] = 2.0,
    complaints_per_s: Annotated[
        float, typer.Option(min=0, max=50, help="Spam complaints a second.")
    ] = 0.2,
    probes_per_min: Annotated[
        float,
        typer.Option(
            min=0, max=600, help="Probes a minute: a click, then sends to that person at once."
        ),
    ] = 20.0,
    max_lag_s: Annotated[
        float,
        typer.Option(
            min=1,
            max=600,
            help="Kept up: the decider at most this many seconds of load behind at the end.",
        ),
    ] = 10.0,
    progress_s: Annotated[
        float, typer.Option(min=5, max=3600, help="Seconds between progress lines.")
    ] = 60.0,
    act_at_once: Annotated[
        bool,
        typer.Option(
            "--act-at-once/--no-act-at-once",
            help="The policy acts on the complaint that carries a rate over its line, so a "
            "strike comes within the soak (off: the default policy, no strike for days).",
        ),
    ] = True,
    seed: Annotated[int, typer.Option(help="Seed of the workload and the mix.")] = 2026,
    worker_patch: WorkerPatch = None,
    json_out: JsonOut = None,
    bootstrap: Bootstrap = None,
) -> None:
    """The gate at a steady share of its measured throughput for a long time, with unsubscribes,
    consent events and complaints mixed in: memory per worker, lag at the end, and any
    suppressed send allowed (must be 0). Needs the broker of scripts/services. The last line
    printed is the figures as one JSON object."""
    check_json_out(json_out)
    if 0 < calibrate_fed_s < 2 * FED_WARM_UP_S:
        raise typer.BadParameter(
            f"0 (skip) or at least {2 * FED_WARM_UP_S:g} s: the first {FED_WARM_UP_S:g} s are "
            "left out",
            param_hint="--calibrate-fed-s",
        )
    options = Options(
        minutes=minutes,
        load=load,
        rate=rate,
        calibrate_sends=calibrate_sends,
        calibrate_fed_s=calibrate_fed_s,
        workers=workers,
        partitions=partitions,
        recipients=recipients,
        clicks_per_s=clicks_per_s,
        consents_per_s=consents_per_s,
        complaints_per_s=complaints_per_s,
        probes_per_min=probes_per_min,
        max_lag_s=max_lag_s,
        progress_s=progress_s,
        act_at_once=act_at_once,
        seed=seed,
        bootstrap=bootstrap_or_default(bootstrap),
        worker_patches=[str(path) for path in worker_patch or ()],
    )
    WorkerProcess.patches = tuple(path.resolve() for path in worker_patch or ())
    data_dir = Path(tempfile.mkdtemp(prefix="sendgate-bench-soak-"))
    settings = new_settings(
        bootstrap=options.bootstrap, partitions=partitions, data_dir=data_dir, name="soak"
    )
    require_broker(settings, data_dir)

    async def scenario() -> dict[str, Any]:
        policy = act_at_once_policy(data_dir) if act_at_once else settings.policy_file
        return await run_benchmark(
            settings.model_copy(update={"policy_file": policy}), options, data_dir
        )

    results = run_then_clean_up(
        settings,
        data_dir,
        scenario,
        kept="worker logs",
        on_failure=lambda error: print_json_line({**summary_line({}), "error": error}),
    )
    results["kept_up"] = kept_up(
        results["end"]["decider_lag_at_end"],
        results["soak"]["lag_slope_per_s"],
        results["soak"]["offered_per_s"],
        max_lag_s,
        results["soak"]["minutes"] * 60,
        results["end"]["drain_s"] is not None,
    )
    failures = failed_checks(results)
    results["failed_checks"] = failures
    results["passed"] = not failures
    results["machine"] = machine_info(partitions)
    results["summary"] = summary_line(results)
    print_results(results)
    if json_out is not None:
        write_figures(json_out, results)
    print_json_line(results["summary"])
    if failures:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
