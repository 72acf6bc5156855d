"""Click-to-effective latency with the gate at load: how soon after an unsubscribe click is
acknowledged the gate denies that person's next send.

For fresh recipients (opted in to the probed account in the workload, and never mailed), publish
a list-scope click (acks=all), then at once a send request for that recipient and list, and time
from the click's acknowledgement until this process reads the decision. An allow is a violation
of the gate's promise (README, "Ordering across topics: the state fence").
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from harness.consuming import follow_from_end
from harness.content import list_click
from harness.errors import BenchError
from harness.producing import Background, background_load
from harness.stats import percentile
from harness.workers import WorkerProcess

from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.topics import SEND_DECISIONS, SEND_REQUESTS, UNSUBSCRIBE_CLICKS, default_codec
from throughput.workload import PROBE_ACCOUNT, PROBE_LIST, probe_request

__all__ = ["LatencyResult", "latency_figures", "measure_latency"]


@dataclass
class LatencyResult:
    probes: int
    latencies_ms: list[float]
    violations: int
    other_denials: int
    background_target_per_s: float
    background_sent: int
    background_seconds: float


async def measure_latency(
    settings: Settings,
    pool: list[tuple[bytes, bytes]],
    *,
    probe_addresses: list[str],
    background_rate: float,
    worker: WorkerProcess,
    probe_timeout_s: float = 60.0,
) -> LatencyResult:
    """Probes while a background producer keeps the gate busy; see the module docstring.

    Each probe's recipient opted in to the probed account beforehand (`build_workload`), so only
    the click can deny the probe's send.
    """
    probes = len(probe_addresses)
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    bootstrap = settings.kafka_bootstrap_servers
    clicks_topic = UNSUBSCRIBE_CLICKS.full_name(settings)
    sends_topic = SEND_REQUESTS.full_name(settings)
    decisions_topic = SEND_DECISIONS.full_name(settings)
    loop = asyncio.get_running_loop()
    waiting: dict[bytes, tuple[str, asyncio.Future[tuple[SendDecision, float]]]] = {}

    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    background_producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    prober = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    for client in (reader, background_producer, prober):
        await asyncio.wait_for(client.start(), 15)
    stop = asyncio.Event()
    background = Background(target_per_s=background_rate)
    try:
        await follow_from_end(reader, [decisions_topic])

        async def read_decisions() -> None:
            while not stop.is_set() or waiting:
                batches = await reader.getmany(timeout_ms=200)
                read_at = time.perf_counter()
                for messages in batches.values():
                    for message in messages:
                        entry = waiting.get(message.key)
                        if entry is None:
                            continue
                        decision = codec.decode(message.value, SendDecision)
                        request_id, future = entry
                        if decision.request_id == request_id and not future.done():
                            future.set_result((decision, read_at))

        reader_task = asyncio.create_task(read_decisions())
        load_task = asyncio.create_task(
            background_load(background_producer, sends_topic, pool, background, stop)
        )
        await asyncio.sleep(2.0)  # let the background load reach a steady state first
        latencies: list[float] = []
        violations = other_denials = 0
        run_tag = uuid.uuid4().hex[:8]
        rng = random.Random(7)
        try:
            for number in range(probes):
                worker.check_alive()
                if load_task.done():
                    load_task.result()  # raises what stopped the background load
                address = probe_addresses[number]
                recipient_key = keyer.key(address)
                key = recipient_key.encode()
                now = datetime.now(UTC)
                click = list_click(
                    f"probe-{run_tag}-{number}", recipient_key, PROBE_ACCOUNT, PROBE_LIST, now
                )
                request = probe_request(f"probe-{run_tag}-{number}", address, now)
                click_bytes, request_bytes = codec.encode(click), codec.encode(request)
                future: asyncio.Future[tuple[SendDecision, float]] = loop.create_future()
                waiting[key] = (request.request_id, future)
                await (await prober.send(clicks_topic, value=click_bytes, key=key))
                clicked_at = time.perf_counter()
                await prober.send(sends_topic, value=request_bytes, key=key)
                try:
                    decision, read_at = await asyncio.wait_for(future, probe_timeout_s)
                except TimeoutError:
                    raise BenchError(
                        f"latency probe {number}: no decision after {probe_timeout_s:.0f}s"
                    ) from None
                finally:
                    waiting.pop(key, None)
                latencies.append((read_at - clicked_at) * 1000)
                rules = {failure.rule for failure in decision.failures}
                if decision.verdict == "allow":
                    violations += 1
                elif "list-unsubscribed" not in rules:
                    other_denials += 1
                await asyncio.sleep(rng.uniform(0.01, 0.05))
        finally:
            stop.set()
            await load_task
            await reader_task
        await background_producer.flush()
        return LatencyResult(
            probes=probes,
            latencies_ms=latencies,
            violations=violations,
            other_denials=other_denials,
            background_target_per_s=background_rate,
            background_sent=background.sent,
            background_seconds=background.stopped - background.started,
        )
    finally:
        for client in (reader, background_producer, prober):
            await client.stop()


def latency_figures(latency: LatencyResult) -> dict[str, Any]:
    values = latency.latencies_ms
    return {
        "probes": latency.probes,
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values) if values else float("nan"),
        "mean_ms": statistics.fmean(values) if values else float("nan"),
        "violations_allowed": latency.violations,
        "denied_for_another_reason": latency.other_denials,
        "background_target_per_s": latency.background_target_per_s,
        "background_achieved_per_s": latency.background_sent
        / max(latency.background_seconds, 1e-9),
        "background_sent": latency.background_sent,
    }
