"""Shared helpers of the benchmark scripts: an isolated run on the real broker, worker processes,
pipelined producing, output-topic timestamps, the machine description and profile summaries, and
the message content every benchmark's sends carry (issue 8).

Every benchmark first waits for the broker's group coordinator (`wait_for_group_coordinator`): on
a broker just started it is not there yet, and the offset reads below do not retry.

A run lives under a fresh topic prefix (`bench<hex>-`): its own topics, consumer groups and faust
changelogs, so it neither sees nor disturbs anyone else's records on a shared broker, and every
topic it made (including the ones faust declares itself) is found again by that prefix and deleted.

Throughput is measured the same way for every contender: from the CreateTime timestamps of the
records it wrote to its output topic, `count / (last - first)`. The producer stamps a record when
the processing code hands it over, so the figure covers the steady state of consume, process and
produce, and leaves out start-up (group join, table restore) that differs between contenders.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import math
import os
import platform
import pstats
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, for_code
from pydantic import SecretStr
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from streams.core.records import SendRequest
from streams.core.settings import PROJECT_ROOT, Settings, settings_environment
from streams.demo.content import compliant_facts, sender_domains
from streams.edges.admin import create_topics, is_problem, stable_group_members
from streams.edges.producer import SendgateProducer
from streams.policy import Policy
from streams.rules import RecipientView
from streams.rules.content import CONTENT_RULES
from streams.rules.misuse import TRANSACTIONAL_MISUSE
from streams.topics import SENDER_DOMAINS, TOPICS, TopicSpec

__all__ = [
    "Background",
    "BenchError",
    "CpuMeter",
    "OffsetWatcher",
    "ProfileRow",
    "TopicWindow",
    "WorkerProcess",
    "background_load",
    "broker_pid",
    "check_content_compliant",
    "code_family",
    "compliant_content",
    "console",
    "create_run_topics",
    "delete_run_topics",
    "json_safe",
    "latency_summary",
    "machine_busy_cpu_seconds",
    "machine_info",
    "new_settings",
    "percentile",
    "phase",
    "produce_pipelined",
    "profile_summary",
    "progress_bar",
    "publish_sender_domains",
    "read_topic",
    "timeout_for",
    "topic_partitions",
    "topic_window",
    "wait_for_group_coordinator",
    "wait_for_members",
    "wait_until_consumed",
    "worker_env",
    "worker_log_findings",
]

console = Console() if sys.stdout.isatty() else Console(width=150)

_PIPELINE_DEPTH = 20_000
"""Records handed to the producer before the oldest acknowledgements are awaited."""


class BenchError(Exception):
    """A benchmark phase failed or ran out of time; the message says which and why."""


def timeout_for(records: int, *, min_rate: float, floor_s: float = 60.0) -> float:
    """A phase's time limit: generous, but a hang ends with an error instead of forever."""
    return floor_s + records / min_rate


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


# --- an isolated run ------------------------------------------------------------------------------


def new_settings(
    *, bootstrap: str, partitions: int, data_dir: Path, name: str = "bench"
) -> Settings:
    """Settings of one run: a fresh topic prefix, its own data folder and key secret."""
    return Settings(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=f"{name}{uuid.uuid4().hex[:8]}-",
        topic_partitions=partitions,
        data_dir=data_dir,
        recipient_key_secret=SecretStr(f"{name}-secret-{uuid.uuid4().hex}"),
    )


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment a worker subprocess reads the run's settings from: every one of them
    (`streams.core.settings.settings_environment`), and no other SENDGATE_* of this process."""
    if settings.recipient_key_secret is None:
        raise BenchError("benchmark settings need an explicit recipient key secret")
    return settings_environment(settings, leave_out=frozenset({"database_url"}))


async def create_run_topics(settings: Settings, extra: Iterable[TopicSpec] = ()) -> list[str]:
    """Create the catalogue's topics and `extra` ones under the run's prefix; all must be new."""
    statuses = await create_topics(settings, [*TOPICS, *extra])
    failed = {name: status for name, status in statuses.items() if status != "created"}
    if failed:
        kind = "could not be created" if any(map(is_problem, failed.values())) else "already exist"
        raise BenchError(f"benchmark topics {kind}: {failed}")
    return list(statuses)


async def wait_for_group_coordinator(
    settings: Settings, *, groups: Iterable[str] = (), timeout_s: float = 60.0
) -> float:
    """Return once the broker's group coordinator answers for the gate's group and `groups`;
    the seconds it took.

    A brand-new broker (`scripts/services start`) makes `__consumer_offsets` only when a client
    first needs a group coordinator, and answers "coordinator not available" or "loading" until
    that topic is ready. The benchmark's own offset reads fail on that answer, where the workers'
    consumers retry, so a first run would die a few seconds in. Waiting once, before any group is
    used, makes it a pause instead; a broker that has not answered within `timeout_s` is broken,
    not busy, and the run says so.
    """
    wanted = list(dict.fromkeys([settings.app_id, settings.decided_group, *groups]))
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=10_000
    )
    await asyncio.wait_for(admin.start(), 15)
    started = time.monotonic()
    last_error = ""
    try:
        with console.status("waiting for the broker's group coordinator"):
            while wanted:
                try:
                    described = await asyncio.wait_for(
                        admin.describe_consumer_groups([wanted[0]]), 15
                    )
                    code = described[0].groups[0][0]  # (error_code, group_id, state, ...)
                    if code == 0:
                        wanted.pop(0)
                        continue
                    error = for_code(code)
                    name, retriable = error.__name__, error.retriable
                except KafkaError as exc:
                    name, retriable = type(exc).__name__, exc.retriable
                except TimeoutError:
                    name, retriable = "no answer in time", True
                last_error = f"{name} for group {wanted[0]!r}"
                if not retriable:
                    raise BenchError(f"the broker's group coordinator refused: {last_error}")
                if time.monotonic() - started > timeout_s:
                    raise BenchError(
                        f"the broker at {settings.kafka_bootstrap_servers} has no group "
                        f"coordinator after {timeout_s:.0f}s (last answer: {last_error}); is "
                        "it still starting? See `scripts/services status`."
                    )
                await asyncio.sleep(0.5)
    finally:
        await admin.close()
    waited = time.monotonic() - started
    if last_error:
        console.print(f"group coordinator ready after {waited:.1f}s (until then: {last_error})")
    return waited


async def wait_for_members(
    settings: Settings, workers: list[WorkerProcess], *, timeout_s: float = 120.0
) -> None:
    """Until the gate's group is stable with one member per worker (each has its partitions)."""
    deadline = time.monotonic() + timeout_s
    while await stable_group_members(settings, settings.app_id) != len(workers):
        for worker in workers:
            worker.check_alive()
        if time.monotonic() > deadline:
            raise BenchError(
                f"the gate's group did not settle with {len(workers)} workers in {timeout_s:.0f}s"
            )
        await asyncio.sleep(0.5)


async def delete_run_topics(settings: Settings) -> list[str]:
    """Delete every topic under the run's prefix, the ones faust declared itself included."""
    if not settings.topic_prefix:
        raise BenchError("refusing to delete topics without a run prefix")
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=30_000
    )
    await asyncio.wait_for(admin.start(), 15)
    try:
        names = [
            name for name in await admin.list_topics() if name.startswith(settings.topic_prefix)
        ]
        if names:
            await asyncio.wait_for(admin.delete_topics(names), 60)
        return names
    finally:
        await admin.close()


# --- worker processes -----------------------------------------------------------------------------


class WorkerProcess:
    """A Python subprocess (a faust worker) with its output in a log file.

    `stop()` sends SIGTERM, which faust answers by shutting down cleanly (flush, commit, exit);
    after `stop_timeout_s` it is killed. Every started worker is stopped by `stop_all()`.
    """

    _running: list[WorkerProcess] = []  # noqa: RUF012 - process-wide registry on purpose

    patches: tuple[Path, ...] = ()
    """Python files every worker runs before it starts (`--worker-patch`): try a change to the
    gate or to faust without editing `streams/`."""

    def __init__(self, name: str, code: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        prelude = [
            f"exec(compile(open({str(path)!r}).read(), {str(path)!r}, 'exec'))\n"
            for path in WorkerProcess.patches
        ]
        code = "".join(prelude) + code
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C at the terminal reaches us, we stop it
        )
        self.started_at = time.monotonic()
        WorkerProcess._running.append(self)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if not self.alive:
            raise BenchError(
                f"worker {self.name} exited with code {self.process.returncode}; "
                f"last lines of {self.log_path}:\n{self.tail()}"
            )

    def stop(self, stop_timeout_s: float = 60.0) -> int:
        """SIGTERM, wait, SIGKILL if needed; returns the exit code."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(stop_timeout_s)
            except subprocess.TimeoutExpired:
                console.print(f"[yellow]worker {self.name} ignored SIGTERM; killing it[/]")
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        if self in WorkerProcess._running:
            WorkerProcess._running.remove(self)
        return self.process.returncode

    @classmethod
    def stop_all(cls) -> None:
        for worker in list(cls._running):
            worker.stop(stop_timeout_s=30.0)


# --- CPU use --------------------------------------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux /proc), None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def machine_busy_cpu_seconds() -> float | None:
    """CPU seconds all cores together have spent busy since boot (Linux /proc/stat: everything
    but idle and iowait), None if unknown. Two samples tell how loaded the whole machine was,
    other people's processes included."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, IndexError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / _CLOCK_TICKS


def broker_pid() -> int | None:
    """The local Kafka broker's process id, if it runs on this machine."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"kafka.Kafka" in command:
            return int(entry.name)
    return None


class CpuMeter:
    """Samples the CPU time of some processes, to tell a busy process from a waiting one."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self._pids = {name: pid for name, pid in pids.items() if pid is not None}
        self.samples: list[tuple[float, dict[str, float]]] = []

    def sample(self) -> None:
        cpu = {name: process_cpu_seconds(pid) for name, pid in self._pids.items()}
        self.samples.append(
            (time.monotonic(), {name: value for name, value in cpu.items() if value is not None})
        )

    def share(self, first: int = 0, last: int = -1) -> dict[str, float]:
        """Per process, CPU seconds per wall second between two samples (1.0 = one full core)."""
        (start, before), (end, after) = self.samples[first], self.samples[last]
        wall = max(end - start, 1e-9)
        return {name: (after[name] - before[name]) / wall for name in after if name in before}


# --- producing and reading ------------------------------------------------------------------------


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


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


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """A topic's partitions, asking the broker if the consumer has no metadata for it yet."""
    found = consumer.partitions_for_topic(topic)
    if not found:
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
    if not found:
        raise BenchError(f"topic {topic} has no partitions (does it exist?)")
    return [TopicPartition(topic, partition) for partition in sorted(found)]


class OffsetWatcher:
    """Counts records on topics (sum of end offsets) and reads groups' committed offsets, without
    joining any consumer group."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def __aenter__(self) -> OffsetWatcher:
        await asyncio.wait_for(self._consumer.start(), 15)
        await asyncio.wait_for(self._admin.start(), 15)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        """The group's committed offset per partition of `topic` (0 where none)."""
        tps = await self.partitions(topic)
        found = await asyncio.wait_for(
            self._admin.list_consumer_group_offsets(group, partitions=tps), 30
        )
        return {
            tp.partition: max(found[tp].offset, 0) if found.get(tp) is not None else 0 for tp in tps
        }

    async def lag(self, group: str, topic: str) -> int:
        """Records of `topic` the group has not committed yet."""
        ends = await self.end_offsets(topic)
        committed = await self.committed(group, topic)
        return sum(max(end - committed.get(partition, 0), 0) for partition, end in ends.items())

    async def partitions(self, topic: str) -> list[TopicPartition]:
        if topic not in self._partitions:
            self._partitions[topic] = await topic_partitions(self._consumer, topic)
        return self._partitions[topic]

    async def end_offsets(self, topic: str) -> dict[int, int]:
        ends = await self._consumer.end_offsets(await self.partitions(topic))
        return {tp.partition: offset for tp, offset in ends.items()}

    async def count(self, topic: str) -> int:
        return sum((await self.end_offsets(topic)).values())

    async def wait_for_count(
        self,
        topic: str,
        target: int,
        *,
        timeout_s: float,
        what: str,
        worker: WorkerProcess | None = None,
        baseline: int = 0,
        consumed_by: tuple[str, str] | None = None,
        meter: CpuMeter | None = None,
    ) -> dict[str, float]:
        """Poll until `topic` holds `baseline + target` records, with a progress bar.

        With `consumed_by=(group, input_topic)` also wait until the group has committed every
        record of its input: a worker may write some records twice (at-least-once), so a count
        alone can be reached before the last input record is done.

        With a `meter`, returns each metered process's CPU share (1.0 = one core) from the first
        poll that saw output to the one that saw the target reached.
        """
        deadline = time.monotonic() + timeout_s
        started = time.monotonic()
        lag = 0
        first_output: int | None = None
        reached: int | None = None
        with progress_bar() as progress:
            task = progress.add_task(what, total=target, rate="")
            while True:
                done = await self.count(topic) - baseline
                if meter is not None:
                    meter.sample()
                    if done > 0 and first_output is None:
                        first_output = len(meter.samples) - 1
                    if done >= target and reached is None:
                        reached = len(meter.samples) - 1
                rate = done / max(time.monotonic() - started, 1e-9)
                progress.update(task, completed=min(done, target), rate=f"{rate:,.0f}/s")
                if done >= target:
                    lag = await self.lag(*consumed_by) if consumed_by else 0
                    if lag == 0:
                        if meter is None or first_output is None or reached == first_output:
                            return {}
                        return meter.share(first_output, reached)
                if worker is not None:
                    worker.check_alive()
                if time.monotonic() > deadline:
                    waiting_for = (
                        f"{consumed_by[0]} still has {lag:,} records of {consumed_by[1]} to commit"
                        if done >= target and consumed_by
                        else f"only {done:,} of {target:,} records on {topic}"
                    )
                    raise BenchError(
                        f"{what}: {waiting_for} after {timeout_s:.0f}s"
                        + (f"; last lines of {worker.log_path}:\n{worker.tail()}" if worker else "")
                    )
                await asyncio.sleep(0.5)


@dataclass(frozen=True)
class TopicWindow:
    """A topic's records between two offsets per partition, and their timestamp span."""

    records: int
    first_ms: int
    last_ms: int

    @property
    def seconds(self) -> float:
        return (self.last_ms - self.first_ms) / 1000

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")


async def read_topic(
    bootstrap: str,
    topic: str,
    start: dict[int, int] | None = None,
    end: dict[int, int] | None = None,
    *,
    timeout_s: float = 300.0,
) -> list[tuple[int, bytes | None, bytes | None, int]]:
    """(partition, key, value, timestamp ms) of every record from `start` up to `end`.

    Defaults: from the beginning to the end offsets at the time of the call. Read without a group.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await asyncio.wait_for(consumer.start(), 15)
    rows: list[tuple[int, bytes | None, bytes | None, int]] = []
    try:
        tps = await topic_partitions(consumer, topic)
        if end is None:
            end = {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
        start = start or {}
        wanted = [tp for tp in tps if end.get(tp.partition, 0) > start.get(tp.partition, 0)]
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, start.get(tp.partition, 0))
        remaining = {tp.partition for tp in wanted}
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"reading {topic}: partitions {sorted(remaining)} not read in time"
                )
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for tp, messages in batches.items():
                stop = end[tp.partition]
                for message in messages:
                    if message.offset < stop:
                        rows.append((tp.partition, message.key, message.value, message.timestamp))
                if messages and messages[-1].offset >= stop - 1:
                    remaining.discard(tp.partition)
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return rows


async def topic_window(
    bootstrap: str,
    topic: str,
    start: dict[int, int] | None = None,
    end: dict[int, int] | None = None,
) -> TopicWindow:
    """The records in a range and the span of their timestamps, from each partition's first and
    last record in the range (CreateTime stamps rise within a partition)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await asyncio.wait_for(consumer.start(), 15)
    try:
        tps = await topic_partitions(consumer, topic)
        if end is None:
            end = {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
        start = start or {}
        records = sum(end[tp.partition] - start.get(tp.partition, 0) for tp in tps)
        stamps: list[int] = []
        for tp in tps:
            first, stop = start.get(tp.partition, 0), end[tp.partition]
            if stop <= first:
                continue
            for offset in sorted({first, stop - 1}):
                stamps.append(await _timestamp_at(consumer, tp, offset))
        if not stamps:
            raise BenchError(f"{topic} has no records in the range")
        return TopicWindow(records=records, first_ms=min(stamps), last_ms=max(stamps))
    finally:
        await consumer.stop()


async def _timestamp_at(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> int:
    consumer.assign([tp])
    consumer.seek(tp, offset)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        batches = await consumer.getmany(tp, timeout_ms=1000, max_records=1)
        for message in batches.get(tp, []):
            if message.offset == offset:
                return message.timestamp
    raise BenchError(f"could not read {tp.topic}/{tp.partition} at offset {offset}")


# --- the machine ----------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def _kafka_version() -> str:
    """The broker version from the jars scripts/services runs (`kafka_2.13-X.Y.Z.jar`)."""
    jars = sorted((PROJECT_ROOT / ".data" / "kafka" / "libs").glob("kafka_2.*-*.jar"))
    for jar in jars:
        version = jar.stem.split("-", 1)[1]
        if version[:1].isdigit():
            return version
    return "unknown (not the scripts/services broker)"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def machine_info(partitions: int) -> dict[str, str]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu cores (os.cpu_count)": str(os.cpu_count()),
        "cpu model": _cpu_model(),
        "ram": f"{_ram_gib():.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "kafka broker": f"{_kafka_version()} (KRaft, one node, on the same machine)",
        "partitions": str(partitions),
        "libraries": ", ".join(
            f"{name} {_version(name)}"
            for name in ("faust-streaming", "aiokafka", "fastavro", "pydantic", "rocksdict")
        ),
        "load average at end (1/5/15 min)": " ".join(f"{value:.2f}" for value in load),
    }


# --- profiles -------------------------------------------------------------------------------------

_OUR_CODE = str(PROJECT_ROOT / "streams") + os.sep


def code_family(filename: str, function: str) -> str:
    """Whose code a profile entry is: ours, a library's, the event loop's, or idle waiting."""
    if filename == "~":  # a C function: tell by its name
        for marker, family in (
            ("'poll' of 'select.epoll'", "idle (epoll wait)"),
            ("'acquire' of '_thread.lock'", "idle (lock wait)"),
            ("fastavro", "fastavro"),
            ("pydantic_core", "pydantic"),
            ("rocksdict", "rocksdict"),
            ("hmac", "stdlib"),
            ("_hashlib", "stdlib"),
            ("socket", "sockets"),
        ):
            if marker in function:
                return family
        return "builtins"
    if filename.startswith(_OUR_CODE):
        return "sendgate (streams/)"
    for marker, family in (
        ("/faust/", "faust"),
        ("/aiokafka/", "aiokafka"),
        ("/kafka/", "aiokafka"),
        ("/mode/", "mode"),
        ("/fastavro/", "fastavro"),
        ("/pydantic/", "pydantic"),
        ("/pydantic_core/", "pydantic"),
        ("/email_validator/", "email-validator"),
        ("/rocksdict/", "rocksdict"),
        ("/asyncio/", "asyncio"),
    ):
        if marker in filename:
            return family
    if "site-packages" in filename:
        return "other libraries"
    return "stdlib"


@dataclass(frozen=True)
class ProfileRow:
    family: str
    function: str
    calls: int
    tottime: float
    cumtime: float


def profile_summary(path: Path) -> dict[str, object]:
    """Self time per code family, and the top functions by self and cumulative time."""
    stats = pstats.Stats(str(path))
    rows = []
    for (filename, line, function), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        family = code_family(filename, function)
        where = function if filename == "~" else f"{_short_path(filename)}:{line}({function})"
        rows.append(ProfileRow(family, where, calls, tottime, cumtime))
    by_family: dict[str, float] = defaultdict(float)
    for row in rows:
        by_family[row.family] += row.tottime
    total = sum(by_family.values())
    idle = sum(seconds for family, seconds in by_family.items() if family.startswith("idle"))
    ours = [row for row in rows if row.family == "sendgate (streams/)"]
    return {
        "total_s": total,
        "busy_s": total - idle,
        "by_family": dict(sorted(by_family.items(), key=lambda item: -item[1])),
        "top_tottime": sorted(rows, key=lambda row: -row.tottime)[:15],
        "top_cumtime_ours": sorted(ours, key=lambda row: -row.cumtime)[:15],
        "top_cumtime_libraries": sorted(
            (
                row
                for row in rows
                if row.family != "sendgate (streams/)" and not row.family.startswith("idle")
            ),
            key=lambda row: -row.cumtime,
        )[:15],
    }


def _short_path(filename: str) -> str:
    for marker in ("site-packages/", str(PROJECT_ROOT) + os.sep, "/lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


@contextmanager
def phase(title: str) -> Iterator[None]:
    """Announce a phase and how long it took."""
    console.rule(f"[bold]{title}")
    started = time.monotonic()
    yield
    console.print(f"[dim]{title}: {time.monotonic() - started:.1f}s[/]")


# --- message content (issue 8) --------------------------------------------------------------------
#
# Every send request needs content facts (From, body, authentication) and a From at a domain the
# account has verified on `sender-domains`, or a content rule denies it. A benchmark about
# suppressions, consent or enforcement sends what a compliant sender's template would: the demo's
# facts (`streams.demo.content`: From, DKIM and SPF on `<account>.example`, a footer with a postal
# address and an unsubscribe link, or a receipt's text), and publishes each account's verified
# domain `<account>.example` before its first send. Its planned denials then come from the rules
# it targets only.


@cache
def compliant_content(account: str, *, commercial: bool) -> Mapping[str, Any]:
    """SendRequest fields (`from_address`, `body`, `authentication`) of the account's ordinary
    commercial or transactional mail, From its verified domain `<account>.example` (frozen
    records in a read-only mapping, so one copy per account and kind serves every request)."""
    return MappingProxyType(compliant_facts(account, commercial=commercial))


def _verified_domains(accounts: Iterable[str]) -> dict[str, frozenset[str]]:
    return {
        record.account_id: frozenset(record.domains)
        for record in sender_domains(sorted(set(accounts)), now=datetime.now(UTC))
    }


def check_content_compliant(requests: Iterable[SendRequest], policy: Policy, *, what: str) -> int:
    """Fail before anything is sent when a content rule or transactional-misuse would deny one of
    `requests` (the accounts' verified domains on record, as `publish_sender_domains` puts them):
    the benchmark's planned denials must come from the rules it targets. Pass one request per
    kind of send (account, classification, subject); returns how many were checked."""
    requests = list(requests)
    verified = _verified_domains(request.account_id for request in requests)
    problems = []
    for request in requests:
        view = RecipientView(sender_domains=verified[request.account_id])
        for rule in (*CONTENT_RULES, TRANSACTIONAL_MISUSE):
            failure = rule.evaluate(request, view, policy)
            if failure is not None and failure.rule not in policy.content.flag_only_rules:
                problems.append(
                    f"{request.account_id} {request.classification} {request.subject!r}: "
                    f"{failure.rule}"
                )
    if problems:
        raise BenchError(
            f"{what}: sends the content rules would deny, so the workload's denials would not be "
            f"the ones it plans: {'; '.join(problems[:10])}"
        )
    return len(requests)


async def publish_sender_domains(
    settings: Settings,
    accounts: Iterable[str],
    watcher: OffsetWatcher,
    worker: WorkerProcess,
    *,
    timeout_s: float = 120.0,
) -> int:
    """Publish each account's verified domain `<account>.example` on `sender-domains` (keyed by
    account, the whole set, as the platform does) and wait until the gate's group has committed
    all of them, so its `keep_sender_domains` agent has them in its table before the first send.
    Returns how many accounts were published."""
    records = sender_domains(sorted(set(accounts)), now=datetime.now(UTC))
    async with SendgateProducer(settings) as producer:
        await producer.publish_many(records)
    await wait_until_consumed(
        watcher,
        settings.app_id,
        SENDER_DOMAINS.full_name(settings),
        timeout_s=timeout_s,
        what="the gate's group takes in the verified sender domains",
        worker=worker,
    )
    return len(records)


# --- shared by the latency benchmarks -------------------------------------------------------------

_LOG_PROBLEM = re.compile(r"\b(Traceback|ERROR|CRITICAL|WARNING|Exception)\b")
_LOG_PREFIX = re.compile(r"^\[[^\]]*\]\s*\[\d+\]\s*")


async def wait_until_consumed(
    watcher: OffsetWatcher,
    group: str,
    topic: str,
    *,
    timeout_s: float,
    what: str,
    worker: WorkerProcess,
) -> None:
    """Poll until `group` has committed every record of `topic`, with a progress bar.

    For an input with no output topic to count (the consent keeper writes only its table), the
    group's committed offsets are the sign that the records were applied, as with
    `wait_for_count(consumed_by=...)`.
    """
    total = await watcher.count(topic)
    deadline = time.monotonic() + timeout_s
    started = time.monotonic()
    with progress_bar() as progress:
        task = progress.add_task(what, total=total, rate="")
        while True:
            lag = await watcher.lag(group, topic)
            done = total - lag
            rate = done / max(time.monotonic() - started, 1e-9)
            progress.update(task, completed=done, rate=f"{rate:,.0f}/s")
            if lag == 0:
                return
            worker.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{what}: {group} still has {lag:,} records of {topic} to commit after "
                    f"{timeout_s:.0f}s; last lines of {worker.log_path}:\n{worker.tail()}"
                )
            await asyncio.sleep(0.5)


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
    """`state.target_per_s` requests a second, pipelined, until `stop`."""

    def on_ack(future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            state.errors.append(future.exception())  # type: ignore[arg-type]

    loop = asyncio.get_running_loop()
    state.started = loop.time()
    try:
        while not stop.is_set():
            due = int((loop.time() - state.started) * state.target_per_s)
            while state.sent < due:
                key, value = pool[state.sent % len(pool)]
                (await producer.send(topic, value=value, key=key)).add_done_callback(on_ack)
                state.sent += 1
            if state.errors:
                raise BenchError(f"background load failed: {state.errors[0]!r}")
            await asyncio.sleep(0.005)
    finally:
        state.stopped = loop.time()


def latency_summary(values: list[float]) -> dict[str, float]:
    """Percentiles (ms) of the measured values; NaN (not measured) left out."""
    values = [value for value in values if not math.isnan(value)]
    return {
        "n": len(values),
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values) if values else math.nan,
        "mean_ms": statistics.fmean(values) if values else math.nan,
    }


def worker_log_findings(path: Path) -> dict[str, Any]:
    """Tracebacks, errors and warnings in the worker's log, grouped by their text with the numbers
    taken out, most frequent first."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {"read": False}
    hits = [line for line in lines if _LOG_PROBLEM.search(line)]
    kinds = Counter(re.sub(r"\d+", "N", _LOG_PREFIX.sub("", line)).strip()[:160] for line in hits)
    return {
        "read": True,
        "lines": len(lines),
        "tracebacks": sum("Traceback" in line for line in lines),
        "problem_lines": len(hits),
        "problem_kinds": dict(kinds.most_common(15)),
    }


def json_safe(value: Any) -> Any:
    """NaN (a figure that could not be measured) as null; anything else unknown as text."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)
