"""The one-click endpoint's requests per second on loopback, beside a trivial aiohttp handler
and raw aiokafka produce acknowledgements.

`--rps-requests` POSTs with valid one-click tokens for distinct recipients (issued here with the
run's key file), from an aiohttp client in a separate process at `--concurrency`, against (a)
the real service and (b) a trivial aiohttp handler that reads the body and answers 200 without
Kafka; then (c) raw aiokafka produce -> ack at the same concurrency, with the service producer's
settings (acks=all, idempotent, linger 5 ms) and with linger 0. A separate small check sends 120
POSTs from one source address and reports what the service's per-client limiter does with them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaProducer
from harness.content import list_click
from harness.errors import BenchError
from harness.report import console
from harness.system import LoadSampler

from streams.core.recipient import RecipientKeyer
from streams.core.settings import PROJECT_ROOT, Settings
from streams.edges.web.serve import free_loopback_port
from streams.sending.unsubscribe_tokens import UnsubscribeTokens
from streams.topics import TopicSpec, default_codec
from unsubscribe.posting import FORM, ONE_CLICK_BODY, PER_SOURCE_ADDRESS, source_addresses
from unsubscribe.probes import PROBE_ACCOUNT, PROBE_LIST

__all__ = ["PRODUCE_TOPIC", "client_main", "measure_endpoint"]

SINGLE_SOURCE_REQUESTS = 120
PRODUCE_TOPIC = TopicSpec("bench-produce", "benchmark baseline: raw aiokafka produce -> ack")
CLIENT_CODE = (
    "import sys\n"
    "sys.path.insert(0, {folder!r})\n"
    "from unsubscribe.endpoint import client_main\n"
    "client_main({job!r})\n"
)


def _endpoint_address(tag: str, kind: str, index: int) -> str:
    return f"clicker.{kind}{index}.{tag}@example.net"


def client_main(job_path: str) -> None:
    """The load client, run in its own process: POSTs the job's URLs, writes what it measured."""
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    result = asyncio.run(_client(job))
    Path(job["out"]).write_text(json.dumps(result), encoding="utf-8")


async def _client(job: dict[str, Any]) -> dict[str, Any]:
    urls: list[str] = job["urls"]
    warmup: int = job["warmup"]
    concurrency: int = job["concurrency"]
    per_source: int = job["per_source"]
    sources = (
        itertools.repeat(f"127.{job['second_octet']}.0.1")
        if job["one_address"]
        else source_addresses(job["second_octet"])
    )
    latencies: dict[int, list[float]] = {}
    errors: Counter[str] = Counter()
    timeout = aiohttp.ClientTimeout(total=60)

    async def run(batch: list[str], record: bool) -> None:
        position = 0

        async def one_connection() -> None:
            nonlocal position
            session: aiohttp.ClientSession | None = None
            used = 0
            try:
                while position < len(batch):
                    url = batch[position]
                    position += 1
                    if session is None or used >= per_source:
                        if session is not None:
                            await session.close()
                        connector = aiohttp.TCPConnector(local_addr=(next(sources), 0), limit=1)
                        session = aiohttp.ClientSession(connector=connector, timeout=timeout)
                        used = 0
                    used += 1
                    started = time.perf_counter()
                    try:
                        async with session.post(
                            url, data=ONE_CLICK_BODY, headers=FORM, allow_redirects=False
                        ) as response:
                            await response.read()
                            status = response.status
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        errors[type(exc).__name__] += 1
                        continue
                    if record:
                        latencies.setdefault(status, []).append(
                            (time.perf_counter() - started) * 1000
                        )
            finally:
                if session is not None:
                    await session.close()

        await asyncio.gather(*(one_connection() for _ in range(min(concurrency, len(batch)))))

    await run(urls[:warmup], record=False)
    print("START", flush=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    await run(urls[warmup:], record=True)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    print("END", flush=True)
    return {
        "requests": len(urls) - warmup,
        "warmup": warmup,
        "seconds": seconds,
        "client_cpu_cores": cpu / max(seconds, 1e-9),
        "statuses": {str(status): len(values) for status, values in sorted(latencies.items())},
        "latencies_ms": latencies.get(200, []),
        "errors": dict(errors),
    }


async def run_client_job(
    name: str,
    urls: list[str],
    *,
    warmup: int,
    concurrency: int,
    per_source: int,
    second_octet: int,
    folder: Path,
    pids: dict[str, int | None],
    one_address: bool = False,
) -> dict[str, Any]:
    """Run the load client in a new process (so it does not share the service's event loop) and
    meter the CPU of every process over its measured part."""
    job = folder / f"client-{name}.json"
    out = folder / f"client-{name}.out.json"
    job.write_text(
        json.dumps(
            {
                "urls": urls,
                "warmup": warmup,
                "concurrency": concurrency,
                "per_source": per_source,
                "second_octet": second_octet,
                "one_address": one_address,
                "out": str(out),
            }
        ),
        encoding="utf-8",
    )
    code = CLIENT_CODE.format(folder=str(Path(__file__).resolve().parents[1]), job=str(job))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    sampler = LoadSampler({**pids, "load client": process.pid})
    other: list[str] = []

    async def follow() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if line in ("START", "END"):
                sampler.sample()
            else:
                other.append(line)
        await process.wait()

    timeout_s = 120 + len(urls) / 20
    try:
        with console.status(f"{name}: {len(urls) - warmup:,} POSTs at concurrency {concurrency}"):
            await asyncio.wait_for(follow(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BenchError(f"load client {name}: not done after {timeout_s:.0f}s") from None
    if process.returncode != 0 or not out.exists():
        raise BenchError(
            f"load client {name} exited with {process.returncode}:\n" + "\n".join(other[-25:])
        )
    result = json.loads(out.read_text(encoding="utf-8"))
    result["cpu_cores"] = sampler.shares()
    result["client_output"] = other[-10:]
    return result


async def trivial_server(port: int) -> web.AppRunner:
    """The baseline: the same route, reads the body and answers 200; no token, no Kafka."""

    async def one_click(request: web.Request) -> web.Response:
        await request.text()
        return web.Response(text="unsubscribed\n", status=200)

    app = web.Application(client_max_size=4096)
    app.router.add_post("/u/{token}", one_click)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def raw_produce(
    settings: Settings,
    records: list[tuple[bytes, bytes]],
    *,
    warmup: int,
    concurrency: int,
    linger_ms: int,
) -> dict[str, Any]:
    """Raw aiokafka: `concurrency` tasks, each producing one record and awaiting its ack."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
    )
    await asyncio.wait_for(producer.start(), 15)
    topic = PRODUCE_TOPIC.full_name(settings)
    latencies: list[float] = []
    try:

        async def run(batch: list[tuple[bytes, bytes]], record: bool) -> None:
            position = 0

            async def one() -> None:
                nonlocal position
                while position < len(batch):
                    key, value = batch[position]
                    position += 1
                    started = time.perf_counter()
                    await producer.send_and_wait(topic, value=value, key=key)
                    if record:
                        latencies.append((time.perf_counter() - started) * 1000)

            await asyncio.gather(*(one() for _ in range(min(concurrency, len(batch)))))

        await run(records[:warmup], record=False)
        started, cpu_started = time.perf_counter(), time.process_time()
        await run(records[warmup:], record=True)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        await producer.stop()
    return {
        "requests": len(records) - warmup,
        "seconds": seconds,
        "statuses": {"acked": len(latencies)},
        "latencies_ms": latencies,
        "bench_cpu_cores": cpu / max(seconds, 1e-9),
    }


async def measure_endpoint(
    settings: Settings,
    tokens: UnsubscribeTokens,
    service_port: int,
    tag: str,
    folder: Path,
    pids: dict[str, int | None],
    *,
    requests: int,
    concurrency: int,
) -> dict[str, Any]:
    """The three contenders, one after the other, and the single-source check."""
    keyer = RecipientKeyer(settings.recipient_secret())
    codec = default_codec()
    count = requests
    warmup = min(200, max(count // 10, 10))
    now = datetime.now(UTC)

    def paths(kind: str, total: int) -> tuple[list[str], list[str]]:
        """One-click paths with valid tokens for `total` new recipients, and their keys."""
        found, keys = [], []
        for index in range(total):
            key = keyer.key(_endpoint_address(tag, kind, index))
            token = tokens.issue(
                recipient_key=key,
                account_id=PROBE_ACCOUNT,
                list_id=PROBE_LIST,
                request_id=f"{kind}-{tag}-{index}",
                issued_at=now,
            )
            found.append(f"/u/{token}")
            keys.append(key)
        return found, keys

    rps_paths, rps_keys = paths("rps", warmup + count)
    single_paths, _ = paths("one", SINGLE_SOURCE_REQUESTS)
    service = f"http://127.0.0.1:{service_port}"
    trivial_port = free_loopback_port()
    runner = await trivial_server(trivial_port)
    trivial = f"http://127.0.0.1:{trivial_port}"
    results: dict[str, Any] = {"warmup": warmup, "requests": count}
    try:
        results["service"] = await run_client_job(
            "service",
            [service + path for path in rps_paths],
            warmup=warmup,
            concurrency=concurrency,
            per_source=PER_SOURCE_ADDRESS,
            second_octet=77,
            folder=folder,
            pids=pids,
        )
        results["trivial"] = await run_client_job(
            "trivial",
            [trivial + path for path in rps_paths],
            warmup=warmup,
            concurrency=concurrency,
            per_source=PER_SOURCE_ADDRESS,
            second_octet=78,
            folder=folder,
            pids=pids,
        )
    finally:
        await runner.cleanup()
    # Records of the size the service publishes: a one-click UnsubscribeClick.
    clicks = [
        (
            key.encode(),
            codec.encode(
                list_click(f"web-{uuid.uuid4().hex}", key, PROBE_ACCOUNT, PROBE_LIST, now)
            ),
        )
        for key in rps_keys
    ]
    results["click_record_bytes"] = len(clicks[0][1])
    for linger in (5, 0):
        with console.status(f"raw aiokafka produce -> ack, linger {linger} ms"):
            results[f"raw_produce_linger_{linger}"] = await raw_produce(
                settings, clicks, warmup=warmup, concurrency=concurrency, linger_ms=linger
            )
    # What the per-client limiter does with one busy source address (not part of the figures).
    results["single_source"] = await run_client_job(
        "single-source",
        [service + path for path in single_paths],
        warmup=0,
        concurrency=4,
        per_source=SINGLE_SOURCE_REQUESTS,
        second_octet=99,
        folder=folder,
        pids=pids,
        one_address=True,
    )
    return results
