"""The broker stopped for a minute (and the time it takes to start again) under `sendgate publish`
and under the producer library: both wait for it (`Settings.publish_retry_s`, 90 s without an
acknowledgement), finish once it is back, and every request is on the topic, a recipient's
requests in their order. Duplicates are allowed: a try that timed out may have been written
before it was sent again.

No gate worker is run to check that each request id is decided once, because the gate does not
promise that: a request on the topic twice is decided twice (its frequency mark, volume count and
misuse report count once; the decision record is written again). The README says so under
"Publishing through an outage".

The broker is the one `scripts/services` runs (a Docker-run broker cannot be stopped from here: the
test then fails and says so, it never skips). Every test starts the broker again however it ends.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from streams.core.records import SendRequest
from streams.core.settings import PROJECT_ROOT, Settings, settings_environment
from streams.edges.admin import check_broker, create_topics, delete_topics
from streams.edges.producer import SendgateProducer
from streams.topics import SEND_REQUESTS, TOPICS, default_codec
from tests.support.personal_data.collected import SESSION

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SERVICES = Path(__file__).resolve().parents[2] / "scripts" / "services"
REQUESTS = 600
RECIPIENTS = 50
OUTAGE_S = 60
FINISH_S = 180
"""How long the publisher may take once the broker is started again (its start included)."""


def services(*args: str) -> str:
    done = subprocess.run(
        [str(SERVICES), *args], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"scripts/services {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def _rows(count: int, prefix: str) -> list[dict[str, Any]]:
    """`count` requests over `RECIPIENTS` people, several each, in request-id order."""
    return [
        {
            "request_id": f"{prefix}-{n:05d}",
            "account_id": "acct-outage",
            "recipient": f"person{n % RECIPIENTS}@example.com",
            "classification": "transactional",
            "from_address": "shop@example.org",
            "subject": f"Receipt {n}",
            "requested_at": "2026-12-07T09:00:00Z",
        }
        for n in range(count)
    ]


def _kafka_running() -> bool:
    status = subprocess.run(
        [str(SERVICES), "status", "kafka"], capture_output=True, text=True, check=False
    )
    return status.returncode == 0


@pytest.fixture
def topics(settings: Settings) -> Iterator[Settings]:
    """The catalogue's topics under this test's prefix, on the broker of `scripts/services`;
    afterwards the broker is started again if the test left it stopped, and the topics go."""
    assert _kafka_running(), (
        "this fault test stops and starts the Kafka broker that scripts/services runs; "
        "it is not running (scripts/services status kafka)"
    )
    asyncio.run(check_broker(settings, timeout_s=10))
    asyncio.run(create_topics(settings))
    try:
        yield settings
    finally:
        if not _kafka_running():
            services("start", "kafka")
        asyncio.run(check_broker(settings, timeout_s=60))
        asyncio.run(delete_topics(settings, TOPICS))


async def _read_requests(
    settings: Settings, expected_ids: set[str], timeout_s: float = 60.0
) -> list[ConsumerRecord]:
    """The send-requests topic from its start, until every expected request id was seen."""
    consumer = AIOKafkaConsumer(
        SEND_REQUESTS.full_name(settings),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    codec = default_codec()
    await consumer.start()
    try:
        records: list[ConsumerRecord] = []
        seen: set[str] = set()
        deadline = time.monotonic() + timeout_s
        while not expected_ids <= seen and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
                seen |= {codec.decode(m.value, SendRequest).request_id for m in batch}
        return records
    finally:
        await consumer.stop()


def _check_all_there_in_order(records: list[ConsumerRecord], expected_ids: list[str]) -> None:
    """Every request is on the topic (maybe more than once), and each key's requests, read by
    where each last appears in its partition, are in the order they were published."""
    codec = default_codec()
    ids = [codec.decode(m.value, SendRequest).request_id for m in records]
    assert set(ids) == set(expected_ids), sorted(set(expected_ids) - set(ids))[:10]
    last_position: dict[str, tuple[int, int]] = {}
    key_of: dict[str, bytes] = {}
    for message, request_id in zip(records, ids, strict=True):
        last_position[request_id] = (message.partition, message.offset)
        key_of[request_id] = message.key
    by_key: dict[bytes, list[str]] = {}
    for request_id in expected_ids:  # published in this order
        by_key.setdefault(key_of[request_id], []).append(request_id)
    for key, published in by_key.items():
        positions = [last_position[request_id] for request_id in published]
        assert len({partition for partition, _ in positions}) == 1, key
        assert positions == sorted(positions), f"order of key {key!r} changed"


def test_sendgate_publish_waits_for_a_stopped_broker(topics: Settings, tmp_path: Path) -> None:
    """The broker is stopped before `sendgate publish` starts and started again a minute later: the
    command waits, then publishes the whole file and exits 0."""
    settings = topics
    rows = _rows(REQUESTS, "cli")
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    for row in rows:  # published by another process: the scan learns them here
        SESSION.values.add_address(row["recipient"])
    out, err = tmp_path / "publish.out", tmp_path / "publish.err"

    services("stop", "kafka")
    with out.open("w") as stdout, err.open("w") as stderr:
        command = subprocess.Popen(
            [sys.executable, "-m", "streams", "publish", "send-requests", str(path)],
            cwd=PROJECT_ROOT,
            env=settings_environment(settings),
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
        try:
            time.sleep(OUTAGE_S)
            assert command.poll() is None, (
                f"sendgate publish gave up during the outage: {out.read_text()}{err.read_text()}"
            )
            restarting = time.monotonic()
            services("start", "kafka")
            restart_s = time.monotonic() - restarting
            returncode = command.wait(timeout=FINISH_S)
        finally:
            if command.poll() is None:
                command.kill()
                command.wait()
    said = out.read_text() + err.read_text()
    SESSION.add_command_errors(err.read_text())
    assert returncode == 0, f"broker away {OUTAGE_S} s + {restart_s:.0f} s to restart: {said}"
    assert f"published {REQUESTS} send requests" in said
    assert "Traceback" not in said

    expected = [row["request_id"] for row in rows]
    records = asyncio.run(_read_requests(settings, set(expected)))
    _check_all_there_in_order(records, expected)


async def test_the_producer_rides_out_a_broker_stopped_mid_publish(topics: Settings) -> None:
    """Half the requests published, the broker stopped, the other half handed to
    `publish_many`, the broker started again a minute later: `publish_many` returns with every
    record acknowledged, none lost, each recipient's in order."""
    settings = topics
    requests = [SendRequest.model_validate(row) for row in _rows(REQUESTS, "lib")]
    first, second = requests[: REQUESTS // 2], requests[REQUESTS // 2 :]
    waits: list[float] = []
    stopped = False
    try:
        async with SendgateProducer(settings, on_retry=waits.append) as producer:
            assert (await producer.publish_many(first)).total == len(first)
            await asyncio.to_thread(services, "stop", "kafka")
            stopped = True
            publishing = asyncio.create_task(producer.publish_many(second))
            await asyncio.sleep(OUTAGE_S)
            assert not publishing.done(), "publish_many ended during the outage" + (
                f": {publishing.exception()!r}" if publishing.done() else ""
            )
            await asyncio.to_thread(services, "start", "kafka")
            stopped = False
            counts = await asyncio.wait_for(publishing, FINISH_S)
    finally:
        if stopped:
            await asyncio.to_thread(services, "start", "kafka")
    assert counts.total == len(second)
    assert waits, "the producer never said it was waiting for the broker"
    assert min(waits) > 0

    expected = [request.request_id for request in requests]
    records = await _read_requests(settings, set(expected))
    _check_all_there_in_order(records, expected)
