"""Producing at a rate: many records with as many in flight as the broker takes, a steady
background load of send requests, and a probe's sends at a fixed interval.

Producers here never wait for one acknowledgement before the next send: a failed send is
collected from its acknowledgement and ends the phase, so a rate is never held back by the
round trip it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer

from harness.errors import BenchError
from harness.report import progress_bar
from streams.core.records import SendRequest
from streams.topics import default_codec

__all__ = [
    "Background",
    "background_load",
    "collect_errors",
    "paced_load",
    "produce_pipelined",
    "publish",
    "send_at_interval",
]

_PIPELINE_DEPTH = 20_000
"""Records handed to the producer before the oldest acknowledgements are awaited."""


def collect_errors(errors: list[BaseException]) -> Callable[[asyncio.Future], None]:
    """A done-callback for a send's acknowledgement that keeps its error, if any, in `errors`."""

    def on_ack(future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            errors.append(future.exception())  # type: ignore[arg-type]

    return on_ack


async def produce_pipelined(
    bootstrap: str,
    records: Iterable[tuple[str, bytes, bytes]],
    total: int,
    description: str,
) -> float:
    """Publish (topic, key, value) records, many in flight, with a progress bar; acks=all.

    Returns the records per second it reached.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        request_timeout_ms=60_000,
    )
    await asyncio.wait_for(producer.start(), 15)
    started = time.perf_counter()
    acked = 0
    try:
        with progress_bar() as progress:
            task = progress.add_task(description, total=total, rate="")
            in_flight: list[asyncio.Future] = []

            async def settle() -> None:
                nonlocal acked
                await asyncio.gather(*in_flight)
                acked += len(in_flight)
                in_flight.clear()
                rate = acked / max(time.perf_counter() - started, 1e-9)
                progress.update(task, completed=acked, rate=f"{rate:,.0f}/s")

            for topic, key, value in records:
                in_flight.append(await producer.send(topic, value=value, key=key))
                if len(in_flight) >= _PIPELINE_DEPTH:
                    await settle()
            await settle()
    finally:
        await producer.stop()
    return acked / max(time.perf_counter() - started, 1e-9)


async def publish(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], description: str
) -> float:
    """Publish (key, value) records to one topic with `produce_pipelined`; the records/s."""
    return await produce_pipelined(
        bootstrap, ((topic, key, value) for key, value in records), len(records), description
    )


@dataclass
class Background:
    target_per_s: float
    sent: int = 0
    started: float = 0.0
    stopped: float = 0.0
    errors: list[BaseException] = field(default_factory=list)

    @property
    def achieved_per_s(self) -> float:
        return self.sent / max(self.stopped - self.started, 1e-9)


async def background_load(
    producer: AIOKafkaProducer,
    topic: str,
    pool: list[tuple[bytes, bytes]],
    state: Background,
    stop: asyncio.Event,
) -> None:
    """`state.target_per_s` requests a second from `pool` (over and over), pipelined, until
    `stop`."""
    await paced_load(producer, topic, lambda number: pool[number % len(pool)], state, stop)


async def paced_load(
    producer: AIOKafkaProducer,
    topic: str,
    record_for: Callable[[int], tuple[bytes, bytes]],
    state: Background,
    stop: asyncio.Event,
) -> None:
    """`state.target_per_s` records a second, (key, value) = `record_for(0)`, `record_for(1)`,
    ..., pipelined, until `stop`. Behind schedule (a slow acknowledgement, a busy machine), it
    catches up at once, so the rate offered over the run is the target."""
    on_ack = collect_errors(state.errors)
    loop = asyncio.get_running_loop()
    state.started = loop.time()
    try:
        while not stop.is_set():
            due = int((loop.time() - state.started) * state.target_per_s)
            while state.sent < due:
                key, value = record_for(state.sent)
                (await producer.send(topic, value=value, key=key)).add_done_callback(on_ack)
                state.sent += 1
            if state.errors:
                raise BenchError(f"background load failed: {state.errors[0]!r}")
            await asyncio.sleep(0.005)
    finally:
        state.stopped = loop.time()


async def send_at_interval(
    producer: AIOKafkaProducer,
    topic: str,
    key: bytes,
    request_for: Callable[[int], SendRequest],
    *,
    sent: dict[str, float],
    interval_s: float,
    stop: asyncio.Event,
    errors: list[BaseException],
) -> None:
    """`request_for(0)`, `request_for(1)`, ... every `interval_s` from at once until `stop`, each
    request's wall time before its send kept in `sent` by request id. No catching up: a late tick
    is skipped, never sent in a burst, so the gate sees the pace the probe promises."""
    codec = default_codec()
    on_ack = collect_errors(errors)
    loop = asyncio.get_running_loop()
    started = loop.time()
    number = 0
    while not stop.is_set():
        request = request_for(number)
        value = codec.encode(request)
        sent[request.request_id] = time.time()
        (await producer.send(topic, value=value, key=key)).add_done_callback(on_ack)
        number += 1
        next_tick = started + number * interval_s
        now = loop.time()
        if next_tick < now:  # behind: skip the missed ticks
            next_tick = started + (int((now - started) / interval_s) + 1) * interval_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(next_tick - loop.time(), 0))
