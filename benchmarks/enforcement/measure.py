"""The enforcement measurement: probe after probe with the gate at load, each timed from its
threshold-crossing complaint's acknowledgement, beside a raw one-hop baseline.

For each probe: (a) the baseline, one record produced (acks=all) to a topic of its own and read
by a plain consumer; (b) bulk commercial requests for `probe-k` every few ms, and after 0.25 s
the complaint that carries its rate over the line (2 in 1,000). The probe waits for the
`strike_issued` record and the first decision denied with `account-broadcasts-disabled`, keeps
sending 0.3 s more, then waits until every request of the probe is decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from harness.consuming import OffsetWatcher, read_topic
from harness.content import background_pool, commercial_request, complaint
from harness.errors import BenchError
from harness.gate import wait_for_decisions
from harness.producing import Background, background_load, send_at_interval
from harness.report import console, progress_bar
from harness.system import LoadSampler, broker_pid
from harness.workers import WorkerProcess

from enforcement.chain import (
    HOP_TOPIC,
    PRE_T0_S,
    TAIL_S,
    ChainReader,
    HopReader,
    HopSample,
    Probe,
)
from enforcement.figures import probe_row
from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision, SendRequest
from streams.core.settings import Settings
from streams.topics import FEEDBACK_REPORTS, SEND_DECISIONS, SEND_REQUESTS, default_codec

__all__ = ["Options", "measure"]


@dataclass
class Options:
    probes: int
    background_rate: float
    request_interval_ms: float
    partitions: int
    probe_timeout_s: float
    bootstrap: str
    workers: int = 1


async def measure(
    settings: Settings,
    options: Options,
    probes: list[Probe],
    tag: str,
    worker: WorkerProcess,
    watcher: OffsetWatcher,
) -> dict[str, Any]:
    bootstrap = settings.kafka_bootstrap_servers
    keyer = RecipientKeyer(settings.recipient_secret())
    sends_topic = SEND_REQUESTS.full_name(settings)
    feedback_topic = FEEDBACK_REPORTS.full_name(settings)
    hop_topic = HOP_TOPIC.full_name(settings)
    decisions_topic = SEND_DECISIONS.full_name(settings)
    pool = background_pool(keyer, tag)

    chain = ChainReader(settings, probes)
    hops = HopReader(bootstrap, hop_topic)
    background_producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    requester = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    prober = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    for client in (background_producer, requester, prober):
        await asyncio.wait_for(client.start(), 15)
    await chain.start()
    await hops.start()
    decisions_start = await watcher.end_offsets(decisions_topic)
    decisions_before = sum(decisions_start.values())
    stop_readers, stop_background = asyncio.Event(), asyncio.Event()
    background = Background(target_per_s=options.background_rate)
    request_errors: list[BaseException] = []
    hop_samples: list[HopSample] = []
    probing = LoadSampler(
        {"worker": worker.process.pid, "broker": broker_pid(), "bench": os.getpid()}
    )
    loop = asyncio.get_running_loop()
    tasks = {
        "chain reader": asyncio.create_task(chain.run(stop_readers)),
        "hop reader": asyncio.create_task(hops.run(stop_readers)),
        "background load": asyncio.create_task(
            background_load(background_producer, sends_topic, pool, background, stop_background)
        ),
    }

    def check_tasks() -> None:
        worker.check_alive()
        for name, task in tasks.items():
            if task.done():
                exc = task.exception()
                raise BenchError(f"the {name} stopped: {exc!r}")
        if request_errors:
            raise BenchError(f"a probe request failed: {request_errors[0]!r}")

    async def probe_all() -> None:
        await asyncio.sleep(2.0)  # the background load reaches a steady state first
        check_tasks()
        if options.background_rate > 0 and chain.other_decisions == 0:
            raise BenchError(
                "the gate decided none of the background requests in 2 s; last lines of "
                f"{worker.log_path}:\n{worker.tail()}"
            )
        probing.sample()
        with progress_bar() as progress:
            task = progress.add_task("probes", total=len(probes), rate="")
            for probe in probes:
                check_tasks()
                # (a) the baseline: one produce -> consume hop, same broker, same load.
                key = f"hop-{probe.number}".encode()
                future: asyncio.Future[float] = loop.create_future()
                hops.waiting[key] = future
                sent = time.time()
                await (await prober.send(hop_topic, value=b"x" * 64, key=key))
                acked = time.time()
                try:
                    received = await asyncio.wait_for(future, options.probe_timeout_s)
                except TimeoutError:
                    raise BenchError(f"baseline hop {probe.number}: not read in time") from None
                hop_samples.append(HopSample(sent, acked, received))
                await asyncio.sleep(0.05)
                # (b) the complaint that carries probe-k's rate over the line.
                await run_probe(
                    probe,
                    options,
                    requester=requester,
                    prober=prober,
                    sends_topic=sends_topic,
                    feedback_topic=feedback_topic,
                    request_errors=request_errors,
                    check_tasks=check_tasks,
                )
                latest = (probe.strike_ms or 0) - probe.complaint_ack * 1000
                progress.update(task, advance=1, rate=f"last {latest:,.0f} ms")
        probing.sample()

    try:
        try:
            await probe_all()
        finally:
            stop_background.set()
            # an error of the load was reported by check_tasks, or the run failed anyway
            with contextlib.suppress(Exception):
                await asyncio.wait_for(tasks["background load"], 30)
            for producer in (background_producer, requester, prober):
                await producer.flush()
        probe_requests = sum(len(probe.sent) for probe in probes)
        await wait_for_decisions(
            settings,
            watcher,
            background.sent + probe_requests,
            baseline=decisions_before,
            timeout_s=60 + background.sent / 200,
            what="gate drains the background load",
            worker=worker,
        )
    finally:
        stop_readers.set()
        for name in ("chain reader", "hop reader"):
            try:
                await asyncio.wait_for(tasks[name], 10)
            except Exception as exc:
                console.print(f"[yellow]{name} ended with {exc!r}[/]")
        await chain.stop()
        await hops.stop()
        for producer in (background_producer, requester, prober):
            await producer.stop()

    background_check = await check_background(settings, decisions_start, probes)
    return {
        "probes": [probe_row(probe) for probe in probes],
        "hops": [
            {
                "ack_to_receive_ms": (sample.received - sample.ack) * 1000,
                "send_to_receive_ms": (sample.received - sample.send) * 1000,
                "send_to_ack_ms": (sample.ack - sample.send) * 1000,
            }
            for sample in hop_samples
        ],
        "background": {
            "target_per_s": background.target_per_s,
            "achieved_per_s": background.achieved_per_s,
            "sent": background.sent,
            "seconds": background.stopped - background.started,
            **background_check,
        },
        "cpu_cores_during_probes": probing.shares(),
        "warm_up_decisions": decisions_before,
        "timestamp_types": sorted(chain.timestamp_types),
        "other_enforcement_events": dict(chain.other_enforcement),
    }


async def run_probe(
    probe: Probe,
    options: Options,
    *,
    requester: AIOKafkaProducer,
    prober: AIOKafkaProducer,
    sends_topic: str,
    feedback_topic: str,
    request_errors: list[BaseException],
    check_tasks: Callable[[], None],
) -> None:
    codec = default_codec()
    stop = asyncio.Event()

    def request_for(number: int) -> SendRequest:
        request_id = f"{probe.account}-{probe.run_tag}-{number:05d}"
        return commercial_request(request_id, probe.account, probe.address)

    sender = asyncio.create_task(
        send_at_interval(
            requester,
            sends_topic,
            probe.recipient_key,
            request_for,
            sent=probe.sent,
            interval_s=options.request_interval_ms / 1000,
            stop=stop,
            errors=request_errors,
        )
    )
    try:
        await asyncio.sleep(PRE_T0_S)
        value = codec.encode(complaint(probe.report_id, probe.complainers[1], probe.account))
        key = probe.complainers[1].encode()
        probe.complaint_send = time.time()
        metadata = await (await prober.send(feedback_topic, value=value, key=key))
        probe.complaint_ack = time.time()
        probe.complaint_created_ms = metadata.timestamp if metadata.timestamp != -1 else None
        deadline = time.monotonic() + options.probe_timeout_s
        while not probe.done.is_set():
            check_tasks()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"probe {probe.number} ({probe.account}): after "
                    f"{options.probe_timeout_s:.0f}s, rate event "
                    f"{'seen' if probe.rate_event_ms else 'not seen'}, breach "
                    f"{probe.breach or 'not seen'}, strike "
                    f"{'seen' if probe.strike_ms else 'not seen'}, denied broadcast "
                    f"{'seen' if probe.first_deny_ms else 'not seen'}; enforcement actions "
                    f"{probe.enforcement_actions}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(probe.done.wait(), 0.5)
        await asyncio.sleep(TAIL_S)
    finally:
        stop.set()
        await sender
    deadline = time.monotonic() + options.probe_timeout_s
    while {seen.request_id for seen in probe.decisions} < set(probe.sent):
        check_tasks()
        if time.monotonic() > deadline:
            missing = len(set(probe.sent) - {seen.request_id for seen in probe.decisions})
            raise BenchError(f"probe {probe.number}: {missing} of its requests were not decided")
        await asyncio.sleep(0.05)


async def check_background(
    settings: Settings, start: dict[int, int], probes: list[Probe]
) -> dict[str, Any]:
    """Verdicts of every decision of the measurement that is not a probe's."""
    codec = default_codec()
    probe_keys = {probe.recipient_key for probe in probes}
    rows = await read_topic(
        settings.kafka_bootstrap_servers, SEND_DECISIONS.full_name(settings), start=start
    )
    verdicts: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    for _, key, value, _ in rows:
        if key in probe_keys:
            continue
        decision = codec.decode(value or b"", SendDecision)
        verdicts[decision.verdict] += 1
        rules.update(failure.rule for failure in decision.failures)
    return {
        "decisions": sum(verdicts.values()),
        "allowed": verdicts["allow"],
        "denied": verdicts["deny"],
        "denied_rules": dict(rules),
    }
