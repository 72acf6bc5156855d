"""A run's isolated place on the broker: its settings, its topics, its group coordinator.

A run lives under a fresh topic prefix (`bench<hex>-`): its own topics, consumer groups and faust
changelogs, so it neither sees nor disturbs anyone else's records on a shared broker, and every
topic it made (including the ones faust declares itself) is found again by that prefix and deleted.

Every benchmark first waits for the broker's group coordinator (`wait_for_group_coordinator`): on
a broker just started it is not there yet, and the run's offset reads do not retry.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, for_code
from pydantic import SecretStr

from harness.errors import BenchError
from harness.report import console
from streams.core.settings import Settings
from streams.edges.admin import create_topics, is_problem
from streams.topics import TOPICS, TopicSpec

__all__ = [
    "create_run_topics",
    "delete_run_topics",
    "new_settings",
    "wait_for_group_coordinator",
]


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
