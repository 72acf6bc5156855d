"""The contenders of the throughput run and how each is run: (a) raw aiokafka in this process,
(b) a faust agent that only forwards, (c) and (d) the real gate, and the gate under cProfile.

Each contender reads all its input from the beginning in its own consumer group and is timed by
its output records' CreateTime span (`harness.consuming.topic_window`), so start-up, group join
and table restore stay outside every figure alike.

The forwarding worker is built by the gate's own `streams.gate.app.new_faust_app`, which applies
the faust start-up fix (`streams/gate/faust_fixes.py`), so (b) runs on equal terms with the gate.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from harness.consuming import OffsetWatcher, TopicWindow, topic_window
from harness.errors import BenchError
from harness.gate import wait_for_decisions
from harness.producing import publish
from harness.profiles import profile_summary
from harness.stats import timeout_for
from harness.system import CpuMeter
from harness.workers import WorkerProcess, start_worker

from streams.core.records import Record, SendRequest
from streams.core.settings import Settings
from streams.topics import (
    CONSENT_EVENTS,
    SEND_DECISIONS,
    SEND_REQUESTS,
    TopicSpec,
    default_codec,
)

__all__ = [
    "BENCH_TOPICS",
    "FORWARDERS",
    "GROUPS",
    "RAW_CLICKS_GROUP",
    "RAW_CLICKS_OUT",
    "RAW_CONSENTS_GROUP",
    "RAW_CONSENTS_OUT",
    "RAW_OUT",
    "WORKER_CODE",
    "GateRun",
    "faust_forward",
    "forward_worker_main",
    "profile_gate",
    "raw_passthrough",
    "run_gate",
]

RAW_GROUP = "bench-raw"
RAW_CONSENTS_GROUP = "bench-raw-consents"
RAW_CLICKS_GROUP = "bench-raw-clicks"
FORWARD_APP = "bench-forward"
RAW_OUT = TopicSpec("bench-out-raw", "benchmark (a): send requests passed through by aiokafka")
RAW_CONSENTS_OUT = TopicSpec(
    "bench-out-raw-consents", "benchmark: consent events passed through by aiokafka"
)
RAW_CLICKS_OUT = TopicSpec(
    "bench-out-raw-clicks", "benchmark: unsubscribe clicks passed through by aiokafka"
)
FORWARD_OUT = TopicSpec("bench-out-forward", "benchmark (b): send requests forwarded by faust")
FORWARD_CONSENTS_APP = "bench-forward-consents"
FORWARD_CONSENTS_OUT = TopicSpec(
    "bench-out-forward-consents", "benchmark: consent events forwarded by faust (keepers' ceiling)"
)
WORKER_CODE = (
    "from streams.core.settings import Settings\n"
    "from streams.gate.worker import run_worker\n"
    "run_worker(Settings(), worker_name={worker_name!r}, loglevel='warning')\n"
)
PROFILED_WORKER_CODE = (
    "import cProfile\n"
    "import threading\n"
    "from streams.core.settings import Settings\n"
    "from streams.gate.worker import run_worker\n"
    "_bootstrap_inner = threading.Thread._bootstrap_inner\n"
    "def _profiled_bootstrap_inner(self):\n"
    "    # faust runs the aiokafka consumer in a thread of its own: profile every thread\n"
    "    thread_profiler = cProfile.Profile()\n"
    "    thread_profiler.enable()\n"
    "    try:\n"
    "        _bootstrap_inner(self)\n"
    "    finally:\n"
    "        thread_profiler.disable()\n"
    "        name = ''.join(c if c.isalnum() else '_' for c in self.name)\n"
    "        thread_profiler.dump_stats({path!r} + '.thread-' + name)\n"
    "threading.Thread._bootstrap_inner = _profiled_bootstrap_inner\n"
    "profiler = cProfile.Profile()\n"
    "profiler.enable()\n"
    "try:\n"
    "    run_worker(Settings(), worker_name={worker_name!r}, loglevel='warning')\n"
    "finally:\n"
    "    profiler.disable()\n"
    "    profiler.dump_stats({path!r})\n"
)
FORWARD_WORKER_CODE = (
    "import sys\n"
    "sys.path.insert(0, {bench_dir!r})\n"
    "from throughput.contenders import forward_worker_main\n"
    "forward_worker_main({source!r})\n"
)
GROUPS = (RAW_GROUP, RAW_CONSENTS_GROUP, RAW_CLICKS_GROUP, FORWARD_APP, FORWARD_CONSENTS_APP)
"""The run's consumer groups besides the gate's, for the group coordinator to answer for."""
BENCH_TOPICS = (RAW_OUT, RAW_CONSENTS_OUT, RAW_CLICKS_OUT, FORWARD_OUT, FORWARD_CONSENTS_OUT)
"""The contenders' output topics, made beside the catalogue's."""


async def raw_passthrough(
    settings: Settings,
    records: int,
    timeout_s: float,
    *,
    source: TopicSpec = SEND_REQUESTS,
    record_type: type[Record] = SendRequest,
    out: TopicSpec = RAW_OUT,
    group: str = RAW_GROUP,
    label: str = "(a) raw aiokafka",
) -> None:
    """(a), and the keepers' baseline: consume `source`, decode each value with our codec,
    produce the same bytes to `out`; until all are acknowledged."""
    codec = default_codec()
    out_topic = out.full_name(settings)
    consumer = AIOKafkaConsumer(
        source.full_name(settings),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.topic(group),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await asyncio.wait_for(consumer.start(), 15)
    await asyncio.wait_for(producer.start(), 15)
    try:

        async def run() -> None:
            consumed = 0
            pending: list[asyncio.Future] = []
            while consumed < records:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for messages in batches.values():
                    for message in messages:
                        codec.decode(message.value, record_type)
                        pending.append(
                            await producer.send(out_topic, value=message.value, key=message.key)
                        )
                    consumed += len(messages)
                if len(pending) >= 20_000:
                    await asyncio.gather(*pending[:10_000])
                    del pending[:10_000]
            await asyncio.gather(*pending)

        try:
            await asyncio.wait_for(run(), timeout_s)
        except TimeoutError:
            raise BenchError(f"{label}: not done after {timeout_s:.0f}s") from None
    finally:
        await producer.stop()
        await consumer.stop()


FORWARDERS = {
    SEND_REQUESTS.name: (SEND_REQUESTS, FORWARD_APP, FORWARD_OUT),
    CONSENT_EVENTS.name: (CONSENT_EVENTS, FORWARD_CONSENTS_APP, FORWARD_CONSENTS_OUT),
}
"""What a forwarding worker can read: (b) over the send requests, and the keepers' ceiling over
the consent events (a faust agent that does nothing but forward, beside the consent keeper)."""


def forward_worker_main(source_name: str = SEND_REQUESTS.name) -> None:
    """(b), run in a worker process: a faust app whose one agent forwards each value.

    It is built by the gate's own `new_faust_app` and `raw_topic` (`streams/gate/app.py`): raw
    bytes, at-least-once, acks from every in-sync replica, the same buffer and poll sizes.
    """
    import faust

    from streams.gate.app import new_faust_app, raw_topic

    spec, app_name, out = FORWARDERS[source_name]
    settings = Settings()
    datadir = Path(tempfile.mkdtemp(prefix="bench-forward-"))
    app = new_faust_app(settings, settings.topic(app_name), store="memory://", datadir=datadir)
    source = raw_topic(app, settings, spec)
    out_topic = out.full_name(settings)

    @app.agent(source, name="forward", concurrency=1)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            await app.producer.send(out_topic, message.key, message.value, None, None, None)

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


async def faust_forward(
    settings: Settings,
    watcher: OffsetWatcher,
    data_dir: Path,
    source_name: str,
    records: int,
    *,
    measure_cpu: bool = False,
    broker: int | None = None,
) -> tuple[TopicWindow, dict[str, float]]:
    """Run a forwarding worker (`forward_worker_main`) over one of `FORWARDERS` until it has
    forwarded all `records` and its group has committed them; returns its output's window and,
    with `measure_cpu`, the CPU it (and the broker, when its pid is known) used."""
    spec, app_name, out = FORWARDERS[source_name]
    code = FORWARD_WORKER_CODE.format(
        bench_dir=str(Path(__file__).resolve().parents[1]), source=source_name
    )
    worker = start_worker(settings, data_dir, f"forward-{source_name}", code)
    cpu = await watcher.wait_for_count(
        out.full_name(settings),
        records,
        timeout_s=timeout_for(records, min_rate=300),
        what=f"faust forwards {spec.name}",
        worker=worker,
        consumed_by=(settings.topic(app_name), spec.full_name(settings)),
        meter=CpuMeter({"contender": worker.process.pid, "broker": broker})
        if measure_cpu
        else None,
    )
    worker.stop()
    window = await topic_window(settings.kafka_bootstrap_servers, out.full_name(settings))
    return window, cpu


@dataclass(frozen=True)
class GateRun:
    """A gate worker that decided a slice of send requests, and how: its output's window, the
    CPU it (and the broker) used meanwhile, the wall time with start-up and restore."""

    worker: WorkerProcess
    window: TopicWindow
    cpu: dict[str, float]
    wall_s: float
    end: dict[int, int]
    """The decisions' end offsets when the last request was done."""


async def run_gate(
    settings: Settings,
    watcher: OffsetWatcher,
    data_dir: Path,
    *,
    name: str,
    code: str,
    count: int,
    what: str,
    min_rate: float,
    start: dict[int, int] | None = None,
    broker: int | None = None,
) -> GateRun:
    """Start a gate worker (a fresh data folder: it restores the tables from their changelogs
    first) and wait until it has decided `count` requests after the decisions' offsets `start`
    (default: from the beginning). The worker keeps running: the caller stops it."""
    decisions_topic = SEND_DECISIONS.full_name(settings)
    started = time.monotonic()
    worker = start_worker(settings, data_dir, name, code)
    cpu = await wait_for_decisions(
        settings,
        watcher,
        count,
        baseline=sum(start.values()) if start else 0,
        timeout_s=timeout_for(count, min_rate=min_rate, floor_s=180),
        what=what,
        worker=worker,
        meter=CpuMeter({"contender": worker.process.pid, "broker": broker}),
    )
    wall = time.monotonic() - started
    end = await watcher.end_offsets(decisions_topic)
    window = await topic_window(settings.kafka_bootstrap_servers, decisions_topic, start, end)
    return GateRun(worker, window, cpu, wall, end)


async def profile_gate(
    settings: Settings,
    watcher: OffsetWatcher,
    sends: list[tuple[bytes, bytes]],
    data_dir: Path,
) -> dict[str, Any]:
    """Publish a slice while no gate runs, then let a profiled gate worker decide it."""
    decisions_topic = settings.topic(SEND_DECISIONS.name)
    sends_topic = settings.topic(SEND_REQUESTS.name)
    start = await watcher.end_offsets(decisions_topic)
    await publish(settings.kafka_bootstrap_servers, sends_topic, sends, "publish the profile slice")
    profile_path = data_dir / "gate.prof"
    profiled = await run_gate(
        settings,
        watcher,
        data_dir,
        name="gate-profiled",
        code=PROFILED_WORKER_CODE.format(worker_name="bench-gate", path=str(profile_path)),
        count=len(sends),
        what="profiled gate decides",
        min_rate=60,
        start=start,
    )
    code = profiled.worker.stop()
    if not profile_path.exists():
        raise BenchError(
            f"the profiled worker exited ({code}) without writing {profile_path}:\n"
            f"{profiled.worker.tail()}"
        )
    kept_dir = Path(tempfile.gettempdir()) / f"{settings.topic_prefix}gate-profile"
    kept_dir.mkdir(exist_ok=True)
    threads: dict[str, Any] = {}
    for path in sorted(data_dir.glob("gate.prof*")):
        thread = (
            "main (event loop, agents)"
            if path.name == "gate.prof"
            else path.name.removeprefix("gate.prof.thread-")
        )
        summary = profile_summary(path)
        shutil.copy(path, kept_dir / path.name)
        if thread.startswith("main") or summary["total_s"] >= 1.0:
            threads[thread] = summary
    return {
        "records": len(sends),
        "wall_s_with_startup": profiled.wall_s,
        "profile_dir": str(kept_dir),
        "decisions_per_s_under_profiler": profiled.window.per_second,
        "worker_cpu_cores_under_profiler": profiled.cpu.get("contender"),
        "threads": threads,
    }
