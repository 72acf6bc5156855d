"""The unsubscribe measurement: probe after probe, first without and then with the background
load, then the endpoint's throughput, and the drain until the gate has decided everything.

Per probe: the RFC 8058 POST (`List-Unsubscribe=One-Click`) to its link; t0 = when the 200
answer arrives. From then a send request for that recipient and list every
`--request-interval-ms` until one is decided `deny` with `list-unsubscribed`, and 0.1 s more.
Once all probes are done, the run waits until every probe request is decided: every send
requested after t0 must be denied, and any allow is a violation, reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from harness.consuming import OffsetWatcher
from harness.content import background_pool
from harness.errors import BenchError
from harness.gate import wait_for_decisions
from harness.producing import Background, background_load, send_at_interval
from harness.report import phase, progress_bar
from harness.system import LoadSampler, broker_pid
from harness.workers import WorkerProcess

from streams.core.recipient import RecipientKeyer
from streams.core.records import SendRequest
from streams.core.settings import Settings
from streams.sending.unsubscribe_tokens import UnsubscribeTokens
from streams.topics import SEND_DECISIONS, SEND_REQUESTS
from unsubscribe.endpoint import measure_endpoint
from unsubscribe.figures import probe_row
from unsubscribe.posting import Poster
from unsubscribe.probes import (
    DENY_RULE,
    PROBE_ACCOUNT,
    TAIL_S,
    Probe,
    Reader,
    prepare_links,
    probe_request,
)

__all__ = ["Options", "measure"]


@dataclass
class Options:
    probes: int
    idle_probes: int
    background_rate: float
    rps_requests: int
    concurrency: int
    request_interval_ms: float
    partitions: int
    probe_timeout_s: float
    endpoint_load: bool
    bootstrap: str


async def run_probe(
    probe: Probe,
    options: Options,
    *,
    producer: AIOKafkaProducer,
    sends_topic: str,
    poster: Poster,
    request_errors: list[BaseException],
    check_tasks: Callable[[], None],
) -> None:
    """The one-click POST; t0 = its 200; then sends every few ms until one is denied (and a
    little longer). Their decisions are checked once every probe is done."""
    probe.post_sent = time.time()
    status = await poster.post(probe.link)
    probe.t0 = time.time()
    if status != 200:
        raise BenchError(f"probe {probe.number}: the one-click POST answered {status}, not 200")
    stop = asyncio.Event()

    def request_for(number: int) -> SendRequest:
        request_id = f"probe-{probe.run_tag}-{probe.number}-{number:05d}"
        return probe_request(request_id, PROBE_ACCOUNT, probe.address)

    sender = asyncio.create_task(
        send_at_interval(
            producer,
            sends_topic,
            probe.key,
            request_for,
            sent=probe.sent,
            interval_s=options.request_interval_ms / 1000,
            stop=stop,
            errors=request_errors,
        )
    )
    try:
        deadline = time.monotonic() + options.probe_timeout_s
        while not probe.denied.is_set():
            check_tasks()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"probe {probe.number}: no send denied with {DENY_RULE} "
                    f"{options.probe_timeout_s:.0f}s after the click's 200; decided: "
                    f"{Counter(seen.verdict for seen in probe.decisions.values())}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(probe.denied.wait(), 0.5)
        await asyncio.sleep(TAIL_S)
    finally:
        stop.set()
        await sender


async def wait_all_decided(
    probes: list[Probe], timeout_s: float, check_tasks: Callable[[], None]
) -> None:
    """Until every request a probe sent after its click has its decision read."""
    total = sum(len(probe.sent) for probe in probes)
    deadline = time.monotonic() + timeout_s
    with progress_bar() as progress:
        task = progress.add_task("probe requests decided", total=total, rate="")
        while True:
            missing = sum(len(set(probe.sent) - set(probe.decisions)) for probe in probes)
            progress.update(task, completed=total - missing)
            if not missing:
                return
            check_tasks()
            if time.monotonic() > deadline:
                raise BenchError(f"{missing} probe requests were not decided in {timeout_s:.0f}s")
            await asyncio.sleep(0.1)


async def measure(
    settings: Settings,
    options: Options,
    probes: list[Probe],
    idle_probes: list[Probe],
    tag: str,
    worker: WorkerProcess,
    watcher: OffsetWatcher,
    tokens: UnsubscribeTokens,
    service_port: int,
    folder: Path,
) -> dict[str, Any]:
    bootstrap = settings.kafka_bootstrap_servers
    keyer = RecipientKeyer(settings.recipient_secret())
    sends_topic = SEND_REQUESTS.full_name(settings)
    decisions_topic = SEND_DECISIONS.full_name(settings)
    pool = background_pool(keyer, tag)

    reader = Reader(settings, idle_probes + probes)
    background_producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    requester = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    for client in (background_producer, requester):
        await asyncio.wait_for(client.start(), 15)
    await reader.start()
    stop_reader, stop_background = asyncio.Event(), asyncio.Event()
    background = Background(target_per_s=options.background_rate)
    request_errors: list[BaseException] = []
    pids = {"gate worker": worker.process.pid, "kafka broker": broker_pid()}
    probing = LoadSampler({**pids, "bench (service, load)": os.getpid()})
    poster = Poster(second_octet=66)
    results: dict[str, Any] = {}
    tasks = {"reader": asyncio.create_task(reader.run(stop_reader))}

    def check_tasks() -> None:
        worker.check_alive()
        for name, task in tasks.items():
            if task.done():
                if (name == "background load" and stop_background.is_set()) or (
                    name == "reader" and stop_reader.is_set()
                ):
                    continue
                raise BenchError(f"the {name} stopped: {task.exception()!r}")
        if request_errors:
            raise BenchError(f"a probe request failed: {request_errors[0]!r}")

    async def run_probes(group: list[Probe], what: str) -> None:
        with progress_bar() as progress:
            task = progress.add_task(what, total=len(group), rate="")
            for probe in group:
                check_tasks()
                await run_probe(
                    probe,
                    options,
                    producer=requester,
                    sends_topic=sends_topic,
                    poster=poster,
                    request_errors=request_errors,
                    check_tasks=check_tasks,
                )
                assert probe.first_deny is not None
                latest = probe.first_deny.created_ms - probe.t0 * 1000
                progress.update(task, advance=1, rate=f"last {latest:,.0f} ms")
        await wait_all_decided(group, 60 + options.probe_timeout_s, check_tasks)

    decisions_before = 0
    try:
        try:
            with phase(f"links: one allowed send per probe ({len(idle_probes) + len(probes)})"):
                results["link_request_to_decision"] = await prepare_links(
                    settings, idle_probes + probes, requester, 120, worker
                )
            if idle_probes:
                with phase(f"baseline: {len(idle_probes)} probes without background load"):
                    await run_probes(idle_probes, "probes, no load")
            decisions_before = await watcher.count(decisions_topic)
            tasks["background load"] = asyncio.create_task(
                background_load(background_producer, sends_topic, pool, background, stop_background)
            )
            with phase(
                f"measure: {len(probes)} probes at {options.background_rate:,.0f} background "
                "sends/s"
            ):
                seen_before = reader.other_decisions
                await asyncio.sleep(2.0)  # the background load reaches a steady state first
                check_tasks()
                if options.background_rate > 0 and reader.other_decisions == seen_before:
                    raise BenchError(
                        "the gate decided none of the background requests in 2 s; last lines of "
                        f"{worker.log_path}:\n{worker.tail()}"
                    )
                results["load_average_before_probes"] = list(os.getloadavg())
                probing.sample()
                await run_probes(probes, "probes at load")
                probing.sample()
                results["load_average_after_probes"] = list(os.getloadavg())
            stop_reader.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(tasks["reader"], 10)
            if not options.endpoint_load:
                stop_background.set()
                await asyncio.wait_for(tasks["background load"], 30)
            load = (
                f"at {options.background_rate:,.0f} background sends/s"
                if options.endpoint_load
                else "without background load"
            )
            with phase(
                f"endpoint: {options.rps_requests:,} one-click POSTs at concurrency "
                f"{options.concurrency}, {load}"
            ):
                results["endpoint"] = await measure_endpoint(
                    settings,
                    tokens,
                    service_port,
                    tag,
                    folder,
                    {**pids, "bench (service)": os.getpid()},
                    requests=options.rps_requests,
                    concurrency=options.concurrency,
                )
            check_tasks()
        finally:
            stop_background.set()
            stop_reader.set()
            await poster.close()
            for task in tasks.values():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 30)
            for producer in (background_producer, requester):
                await producer.flush()
        with phase("drain: the gate decides every request"):
            await wait_for_decisions(
                settings,
                watcher,
                background.sent + sum(len(probe.sent) for probe in probes),
                baseline=decisions_before,
                timeout_s=60 + background.sent / 200,
                what="gate drains the background load",
                worker=worker,
            )
    finally:
        await reader.stop()
        for producer in (background_producer, requester):
            await producer.stop()

    results.update(
        {
            "probes": [probe_row(probe) for probe in probes],
            "idle_probes": [probe_row(probe) for probe in idle_probes],
            "background": {
                "target_per_s": background.target_per_s,
                "achieved_per_s": background.achieved_per_s,
                "sent": background.sent,
                "seconds": background.stopped - background.started,
                "decisions_read_during_probes": reader.other_decisions,
                "sampled_verdicts": dict(reader.sampled_verdicts),
                "sampled_denial_rules": dict(reader.sampled_rules),
            },
            "cpu_cores_during_probes": probing.shares(),
            "probe_requests_per_s_during_probes": (
                sum(len(probe.sent) for probe in probes)
                / max(probing.wall[-1] - probing.wall[0], 1e-9)
                if len(probing.wall) >= 2
                else math.nan
            ),
            "timestamp_types": sorted(reader.timestamp_types),
        }
    )
    return results
