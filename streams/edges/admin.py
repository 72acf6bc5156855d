"""Create, describe and delete sendgate's topics, and check that the broker answers.

The broker runs with topic auto-creation off, so these are the only functions that make topics.
Every call is bounded in time: aiokafka on its own retries an unreachable broker for a long
while, which at a terminal looks like a hang. Here the connection gets `timeout_s` seconds
(`asyncio.wait_for` around the bootstrap, `request_timeout_ms` for each request) and then
fails with `ServiceUnavailableError` saying where the broker was expected and how to start it.

Topic statuses (`create_topics`, `delete_topics`) are short strings: `created`, `exists`,
`aligned` (it existed with another retention or compaction lag than the catalogue and the
settings ask for, and now has theirs: how long personal data stays is enforced, not advised),
`deleted`, `missing`, or a sentence starting with `problem:`. A topic that exists with another
partition count than asked for is a problem, not an "exists": every topic keyed by recipient key
must have the same count, or faust cannot co-partition the suppressions table with the send
requests that consult it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, for_code

from streams.core.errors import SendgateError, ServiceUnavailableError
from streams.core.settings import Settings
from streams.topics import TOPICS, TopicSpec

__all__ = [
    "ALIGNED",
    "CREATED",
    "DELETED",
    "EXISTS",
    "KAFKA_FAILURES",
    "MISSING",
    "TopicInfo",
    "check_broker",
    "consumed_by_group",
    "create_topics",
    "delete_topics",
    "describe_topics",
    "is_problem",
    "partition_counts",
    "required_partitions",
    "stable_group_members",
    "unreachable",
]

CREATED = "created"
ALIGNED = "aligned"
EXISTS = "exists"
DELETED = "deleted"
MISSING = "missing"
_PROBLEM = "problem: "
_NO_ERROR = 0
_UNKNOWN_TOPIC = 3
_TOPIC_ALREADY_EXISTS = 36
_DEFAULT_TIMEOUT_S = 10.0


def is_problem(status: str) -> bool:
    return status.startswith(_PROBLEM)


@dataclass(frozen=True)
class TopicInfo:
    """One catalogue topic as the broker sees it; `partitions` is None when it does not exist."""

    spec: TopicSpec
    name: str
    partitions: int | None
    cleanup_policy: str | None
    configs: dict[str, str | None] = field(default_factory=dict)
    """The managed configs (`_MANAGED`) as the broker has them."""

    @property
    def exists(self) -> bool:
        return self.partitions is not None


KAFKA_FAILURES = (KafkaError, OSError, TimeoutError)
"""What a Kafka client raises when the broker is down, slow or gone."""


def unreachable(settings: Settings, exc: BaseException) -> ServiceUnavailableError:
    """The error for a broker that refused the connection or did not answer in time: where it
    was expected, and how to start it."""
    if isinstance(exc, TimeoutError):
        reason = "no answer in time"
    elif isinstance(exc, KafkaConnectionError):
        reason = "connection failed"
    else:
        reason = str(exc) or type(exc).__name__
    return ServiceUnavailableError(
        f"Kafka broker at {settings.kafka_bootstrap_servers} is not reachable: {reason}; "
        "start it with scripts/services start"
    )


def _error_name(code: int) -> str:
    return for_code(code).__name__


@asynccontextmanager
async def _admin(settings: Settings, timeout_s: float) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client; every Kafka failure inside becomes one of our errors."""
    client = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="sendgate-admin",
        request_timeout_ms=max(1, int(timeout_s * 1000)),
    )
    try:
        await asyncio.wait_for(client.start(), timeout_s)
    except (KafkaError, OSError, TimeoutError) as exc:
        await client.close()
        raise unreachable(settings, exc) from None
    try:
        yield client
    except (KafkaError, OSError, TimeoutError) as exc:
        raise unreachable(settings, exc) from None
    finally:
        await client.close()


async def check_broker(settings: Settings, timeout_s: float = _DEFAULT_TIMEOUT_S) -> int:
    """Raise `ServiceUnavailableError` unless the broker answers within `timeout_s`.

    Returns how many brokers the cluster has (a replication factor above it cannot work).
    """
    async with _admin(settings, timeout_s) as client:
        cluster = await asyncio.wait_for(client.describe_cluster(), timeout_s)
    return len(cluster["brokers"])


async def wait_for_broker(
    settings: Settings,
    wait_s: float,
    *,
    say: Callable[[str], None],
    retry_every_s: float = 2.0,
    say_every_s: float = 15.0,
) -> int:
    """`check_broker`, tried again for up to `wait_s` seconds: a worker started with its broker
    (a machine booting, `docker compose up`) waits for it instead of exiting. `say` hears the
    first failure and then one line every `say_every_s` with the attempts so far, never one per
    attempt; the last failure is raised once the time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    attempts = 0
    said_at: float | None = None
    while True:
        attempts += 1
        try:
            return await check_broker(settings, timeout_s=min(_DEFAULT_TIMEOUT_S, max(wait_s, 1)))
        except ServiceUnavailableError as exc:
            now = loop.time()
            if now + retry_every_s > deadline:
                raise
            if said_at is None or now - said_at >= say_every_s:
                say(f"{exc} (attempt {attempts}; waiting up to {deadline - now:.0f} s more)")
                said_at = now
            await asyncio.sleep(retry_every_s)


async def partitions_of(
    client: AIOKafkaAdminClient, topics: list[str]
) -> dict[str, list[TopicPartition]]:
    """Each topic's partitions, in order, as the broker describes them now; a topic it does not
    have, or cannot describe, has none."""
    described = await client.describe_topics(topics)
    found: dict[str, list[TopicPartition]] = {topic: [] for topic in topics}
    for entry in described:
        if entry["topic"] in found and not entry["error_code"]:
            numbers = sorted(part["partition"] for part in entry["partitions"])
            found[entry["topic"]] = [TopicPartition(entry["topic"], n) for n in numbers]
    return found


async def required_partitions(
    bootstrap_servers: str, topics: list[str], *, client_id: str
) -> list[TopicPartition]:
    """Every partition of the topics, from the broker's metadata, for a reader that must not
    start on a missing topic (a consumer would wait for it in silence): `SendgateError` naming
    the first missing one, `ServiceUnavailableError` when Kafka does not answer."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id=client_id)
    try:
        await admin.start()
        described = await partitions_of(admin, topics)
    except KafkaError as exc:
        raise ServiceUnavailableError(f"Kafka did not answer: {exc!r}") from exc
    finally:
        await admin.close()
    missing = [topic for topic, partitions in described.items() if not partitions]
    if missing:
        raise SendgateError(
            f"topic {missing[0]} is not available (the broker does not have it, or could not "
            "describe it); create the topics first (sendgate topics create)"
        )
    return sorted(tp for partitions in described.values() for tp in partitions)


async def partition_counts(
    settings: Settings, names: list[str], *, timeout_s: float = _DEFAULT_TIMEOUT_S
) -> dict[str, int | None]:
    """How many partitions each topic (full name) has; None for one the broker does not have."""
    async with _admin(settings, timeout_s) as client:
        return await _partition_counts(client, names, timeout_s)


async def _partition_counts(
    client: AIOKafkaAdminClient, names: list[str], timeout_s: float
) -> dict[str, int | None]:
    described = await asyncio.wait_for(client.describe_topics(names), timeout_s)
    counts: dict[str, int | None] = dict.fromkeys(names)
    for topic in described:
        if topic["error_code"] == _NO_ERROR:
            counts[topic["topic"]] = len(topic["partitions"])
        elif topic["error_code"] != _UNKNOWN_TOPIC:
            raise SendgateError(
                f"cannot describe topic '{topic['topic']}': {_error_name(topic['error_code'])}"
            )
    return counts


_MANAGED = ("cleanup.policy", "retention.ms", "segment.ms", "max.compaction.lag.ms")
"""The topic configs the catalogue sets (`TopicSpec.kafka_config`)."""


async def _topic_configs(
    client: AIOKafkaAdminClient, names: list[str], timeout_s: float
) -> dict[str, dict[str, str | None]]:
    if not names:
        return {}
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, name, dict.fromkeys(_MANAGED)) for name in names
    ]
    responses = await asyncio.wait_for(client.describe_configs(resources), timeout_s)
    configs: dict[str, dict[str, str | None]] = {name: {} for name in names}
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"] != _NO_ERROR:
                continue
            for entry in resource["config_entries"]:
                if entry["config_names"] in _MANAGED:
                    configs[resource["resource_name"]][entry["config_names"]] = entry[
                        "config_value"
                    ]
    return configs


def _unaligned(info: TopicInfo, settings: Settings) -> dict[str, str] | None:
    """The whole managed config of a personal topic or person table's changelog whose retention
    or compaction lag differs from the catalogue's; None when it matches (or is not managed)."""
    wanted = info.spec.kafka_config(settings)
    timing = {name: value for name, value in wanted.items() if name != "cleanup.policy"}
    if not (info.spec.personal or "max.compaction.lag.ms" in wanted):
        return None
    if all(info.configs.get(name) == value for name, value in timing.items()):
        return None
    return wanted


async def _align(
    client: AIOKafkaAdminClient, settings: Settings, infos: list[TopicInfo], timeout_s: float
) -> dict[str, str]:
    """Give existing topics the retention the settings ask for (AlterConfigs replaces a topic's
    whole dynamic config, so it is given all of the catalogue's)."""
    changes = {info.name: wanted for info in infos if (wanted := _unaligned(info, settings))}
    if not changes:
        return {}
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, name, wanted) for name, wanted in changes.items()
    ]
    responses = await asyncio.wait_for(client.alter_configs(resources), timeout_s)
    statuses = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            name, code = resource["resource_name"], resource["error_code"]
            statuses[name] = (
                ALIGNED
                if code == _NO_ERROR
                else f"{_PROBLEM}cannot set its retention: {_error_name(code)}"
            )
    return statuses


async def _describe(
    client: AIOKafkaAdminClient, settings: Settings, specs: Iterable[TopicSpec], timeout_s: float
) -> list[TopicInfo]:
    specs = list(specs)
    names = [spec.full_name(settings) for spec in specs]
    counts = await _partition_counts(client, names, timeout_s)
    configs = await _topic_configs(
        client, [name for name in names if counts[name] is not None], timeout_s
    )
    return [
        TopicInfo(
            spec,
            name,
            counts[name],
            configs.get(name, {}).get("cleanup.policy"),
            configs.get(name, {}),
        )
        for spec, name in zip(specs, names, strict=True)
    ]


async def _not_yet_served(
    client: AIOKafkaAdminClient, names: list[str], timeout_s: float
) -> list[str]:
    """Wait until new topics have a leader for every partition; return those that do not.

    The controller answers CreateTopics before every broker's metadata has the topic, and a
    producer started in that gap would be told the topic does not exist.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    waiting = list(names)
    while waiting:
        described = await asyncio.wait_for(client.describe_topics(waiting), timeout_s)
        served = {
            topic["topic"]
            for topic in described
            if topic["error_code"] == _NO_ERROR
            and topic["partitions"]
            and all(partition["leader"] >= 0 for partition in topic["partitions"])
        }
        waiting = [name for name in waiting if name not in served]
        if not waiting or asyncio.get_running_loop().time() >= deadline:
            break
        await asyncio.sleep(0.1)
    return waiting


async def describe_topics(
    settings: Settings,
    specs: Iterable[TopicSpec] = TOPICS,
    *,
    timeout_s: float = _DEFAULT_TIMEOUT_S,
) -> list[TopicInfo]:
    """The catalogue's topics as they are on the broker, missing ones included."""
    async with _admin(settings, timeout_s) as client:
        return await _describe(client, settings, specs, timeout_s)


def _mismatch(info: TopicInfo, partitions: int) -> str | None:
    """Why an existing topic is not what the catalogue asks for, or None if it is."""
    wanted_policy = "compact" if info.spec.compacted else "delete"
    if info.partitions != partitions:
        return (
            f"{_PROBLEM}exists with {info.partitions} partitions, expected {partitions}: "
            "co-partitioned topics need one count (delete and recreate, or pass --partitions)"
        )
    if info.cleanup_policy is not None and info.cleanup_policy != wanted_policy:
        return (
            f"{_PROBLEM}exists with cleanup.policy={info.cleanup_policy}, expected {wanted_policy}"
        )
    return None


async def create_topics(
    settings: Settings,
    specs: Iterable[TopicSpec] = TOPICS,
    partitions: int | None = None,
    *,
    timeout_s: float = _DEFAULT_TIMEOUT_S,
) -> dict[str, str]:
    """Create the topics that are missing; report on the others. Safe to run again.

    Returns full topic name -> status (see the module docstring).
    """
    specs = list(specs)
    partitions = partitions or settings.topic_partitions
    by_name = {spec.full_name(settings): spec for spec in specs}
    new_topics = [
        NewTopic(
            name,
            partitions,
            settings.topic_replication_factor,
            topic_configs=spec.kafka_config(settings),
        )
        for name, spec in by_name.items()
    ]
    statuses: dict[str, str] = {}
    async with _admin(settings, timeout_s) as client:
        response = await asyncio.wait_for(client.create_topics(new_topics), timeout_s)
        existing = []
        for name, code, *detail in response.topic_errors:
            message = detail[0] if detail else None
            if code == _NO_ERROR:
                statuses[name] = CREATED
            elif code == _TOPIC_ALREADY_EXISTS:
                existing.append(by_name[name])
            else:
                statuses[name] = f"{_PROBLEM}{_error_name(code)}: {message or 'no detail'}"
        described = await _describe(client, settings, existing, timeout_s)
        for info in described:
            statuses[info.name] = _mismatch(info, partitions) or EXISTS
        fine = [info for info in described if statuses[info.name] == EXISTS]
        statuses |= await _align(client, settings, fine, timeout_s)
        created = [name for name, status in statuses.items() if status == CREATED]
        for name in await _not_yet_served(client, created, timeout_s):
            statuses[name] = f"{_PROBLEM}created, but not served by the brokers after {timeout_s} s"
    return {name: statuses[name] for name in by_name}


async def delete_topics(
    settings: Settings,
    specs: Iterable[TopicSpec],
    *,
    timeout_s: float = _DEFAULT_TIMEOUT_S,
) -> dict[str, str]:
    """Delete topics (their records are gone for good); missing ones are reported, not errors."""
    names = [spec.full_name(settings) for spec in specs]
    statuses: dict[str, str] = {}
    async with _admin(settings, timeout_s) as client:
        response = await asyncio.wait_for(client.delete_topics(names), timeout_s)
        for name, code in response.topic_error_codes:
            if code == _NO_ERROR:
                statuses[name] = DELETED
            elif code == _UNKNOWN_TOPIC:
                statuses[name] = MISSING
            else:
                statuses[name] = f"{_PROBLEM}{_error_name(code)}"
    return {name: statuses[name] for name in names}


async def stable_group_members(
    settings: Settings, group: str, *, timeout_s: float = _DEFAULT_TIMEOUT_S
) -> int:
    """How many workers hold partitions in `group` now: its members once the group is stable,
    else 0 (a rebalance in flight, or a fresh broker with no group coordinator yet, which is a
    retriable error). Tests and benchmarks wait on it before they load a group of workers."""
    async with _admin(settings, timeout_s) as admin:
        try:
            described = await admin.describe_consumer_groups([group])
        except KafkaError as exc:
            if not exc.retriable:
                raise
            return 0
    _, _, state, _, _, members, *_ = described[0].groups[0]
    return len(members) if state == "Stable" else 0


async def consumed_by_group(
    settings: Settings, group: str, topic: str, *, timeout_s: float = _DEFAULT_TIMEOUT_S
) -> tuple[int, int]:
    """(records of `topic` the consumer group has committed, records in `topic`), now.

    How a caller waits for a worker to have applied what it published: Kafka orders nothing
    across topics, so "applied" is the worker's group having committed the topic's end. A fresh
    broker has no group coordinator for a moment (a retriable error): that counts as nothing
    committed yet.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async with _admin(settings, timeout_s) as admin:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
            ends = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
        try:
            committed = await admin.list_consumer_group_offsets(group)
        except KafkaError as exc:
            if not exc.retriable:
                raise
            committed = {}
    done = sum(min(committed[tp].offset, end) for tp, end in ends.items() if tp in committed)
    return done, sum(ends.values())
