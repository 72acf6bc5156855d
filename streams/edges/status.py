"""What `sendgate status` reads: how far each group of workers is behind, how fast and how
recently the gate decided, what was dead-lettered in the last hour, and what each worker's own
health endpoint says.

Everything but the workers' health comes from the broker, so the status works with no worker
running (that is when an operator needs it most): a group's lag is the end offsets of the topics
it reads minus the offsets it committed; the decision rate is the records `send-decisions` took
in the last minute (found with `offsets_for_times`); the last decision's age is the newest record
timestamp of `send-decisions`; dead letters are the records of the last hour on `dead-letters`,
grouped by the topic they came from and the kind of error (their content is never shown).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.core.errors import CodecError
from streams.core.records import DeadLetter
from streams.core.settings import Settings
from streams.edges.admin import partitions_of
from streams.topics import DEAD_LETTERS, SEND_DECISIONS, default_codec

__all__ = [
    "DeadLetterCounts",
    "GroupStatus",
    "StatusReport",
    "TopicLag",
    "WorkerHealth",
    "lags_by_topic",
    "read_status",
    "worker_health",
]

DEAD_LETTER_WINDOW = timedelta(hours=1)
RATE_WINDOW = timedelta(minutes=1)
_MAX_DEAD_LETTERS_READ = 100_000


@dataclass(frozen=True, slots=True)
class TopicLag:
    topic: str
    partitions: int
    lag: int


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """One consumer group: what it is for, how many workers hold its partitions, its lag."""

    name: str
    group: str
    members: int | None
    topics: tuple[TopicLag, ...]

    @property
    def lag(self) -> int:
        return sum(topic.lag for topic in self.topics)


@dataclass(frozen=True, slots=True)
class DeadLetterCounts:
    since: datetime
    by_origin: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(origin topic, error kind) -> records."""

    @property
    def total(self) -> int:
        return sum(self.by_origin.values())


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    url: str
    ready: bool | None
    """None: the endpoint did not answer."""
    reasons: tuple[str, ...]
    assigned_partitions: int | None


@dataclass(frozen=True, slots=True)
class StatusReport:
    at: datetime
    groups: tuple[GroupStatus, ...]
    decisions_last_minute: int
    last_decision_at: datetime | None
    dead_letters: DeadLetterCounts
    workers: tuple[WorkerHealth, ...]

    @property
    def decisions_per_second(self) -> float:
        return self.decisions_last_minute / RATE_WINDOW.total_seconds()

    @property
    def last_decision_age(self) -> timedelta | None:
        return None if self.last_decision_at is None else self.at - self.last_decision_at


def lags_by_topic(
    ends: Mapping[TopicPartition, int], committed: Mapping[TopicPartition, int]
) -> tuple[TopicLag, ...]:
    """Per topic: its partitions and the records past the group's committed offsets (a partition
    the group never committed counts from its start: all of it is behind)."""
    by_topic: dict[str, list[int]] = {}
    for tp, end in ends.items():
        behind = max(0, end - committed.get(tp, 0))
        by_topic.setdefault(tp.topic, []).append(behind)
    return tuple(
        TopicLag(topic, len(behinds), sum(behinds)) for topic, behinds in sorted(by_topic.items())
    )


async def read_status(
    settings: Settings, worker_urls: Iterable[str] = (), *, now: datetime | None = None
) -> StatusReport:
    """The whole report; raises `KafkaError` (the caller words it) when the broker is away."""
    at = now or datetime.now(UTC)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        # A fetch left waiting on the broker when the reading is done would hold up stop().
        fetch_max_wait_ms=10,
    )
    await admin.start()
    await consumer.start()
    try:
        groups = (
            await _group(admin, consumer, "gate workers (keepers, agents)", settings.app_id),
            await _group(admin, consumer, "decider (send requests)", settings.decided_group),
        )
        decisions = SEND_DECISIONS.full_name(settings)
        last_minute, last_at = await _activity(admin, consumer, decisions, at)
        letters = await _dead_letters(admin, consumer, DEAD_LETTERS.full_name(settings), at)
    finally:
        consumer.assign([])  # nothing left to fetch: stop() does not wait on a fetch
        await consumer.stop()
        await admin.close()
    workers = tuple(
        await asyncio.gather(*(asyncio.to_thread(worker_health, url) for url in worker_urls))
    )
    return StatusReport(at, groups, last_minute, last_at, letters, workers)


async def _group(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, name: str, group: str
) -> GroupStatus:
    try:
        committed_meta = await admin.list_consumer_group_offsets(group)
    except KafkaError as exc:
        if not exc.retriable:
            raise
        committed_meta = {}
    committed = {tp: meta.offset for tp, meta in committed_meta.items() if meta.offset >= 0}
    ends = await consumer.end_offsets(list(committed)) if committed else {}
    members: int | None
    try:
        described = await admin.describe_consumer_groups([group])
        members = len(described[0].groups[0][5])
    except (KafkaError, IndexError):
        members = None
    return GroupStatus(name, group, members, lags_by_topic(ends, committed))


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[TopicPartition]:
    """The topic's partitions as the broker describes them now (none if it does not exist)."""
    return (await partitions_of(admin, [topic]))[topic]


async def _activity(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, topic: str, at: datetime
) -> tuple[int, datetime | None]:
    """Records of `topic` stamped in the last minute, and the newest record's timestamp."""
    partitions = await _partitions(admin, topic)
    if not partitions:
        return 0, None
    ends = await consumer.end_offsets(partitions)
    since_ms = int((at - RATE_WINDOW).timestamp() * 1000)
    starts = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
    recent = sum(
        ends[tp] - (found.offset if found is not None else ends[tp]) for tp, found in starts.items()
    )
    newest: int | None = None
    for tp in partitions:
        if ends[tp] == 0:
            continue
        # One partition at a time, each with its position set: a partition assigned without one
        # sends the fetcher to look it up, and stop() can then wait on that lookup for ever.
        consumer.assign([tp])
        consumer.seek(tp, ends[tp] - 1)
        batch = await consumer.getmany(tp, timeout_ms=2000, max_records=1)
        for record in batch.get(tp, ()):
            newest = record.timestamp if newest is None else max(newest, record.timestamp)
    last = None if newest is None else datetime.fromtimestamp(newest / 1000, UTC)
    return recent, last


async def _dead_letters(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, topic: str, at: datetime
) -> DeadLetterCounts:
    """The last hour's dead letters by origin topic and error kind (decoded, never shown)."""
    since = at - DEAD_LETTER_WINDOW
    partitions = await _partitions(admin, topic)
    counts: Counter[tuple[str, str]] = Counter()
    if not partitions:
        return DeadLetterCounts(since)
    ends = await consumer.end_offsets(partitions)
    starts = await consumer.offsets_for_times(
        {tp: int(since.timestamp() * 1000) for tp in partitions}
    )
    codec = default_codec()
    read = 0
    for tp in partitions:
        found = starts.get(tp)
        if found is None:
            continue
        consumer.assign([tp])
        consumer.seek(tp, found.offset)
        while read < _MAX_DEAD_LETTERS_READ:
            batch = await consumer.getmany(tp, timeout_ms=2000, max_records=5000)
            records = batch.get(tp, [])
            if not records:
                break
            for record in records:
                read += 1
                try:
                    letter = codec.decode(record.value or b"", DeadLetter)
                    counts[(letter.origin_topic, letter.error_kind)] += 1
                except CodecError:
                    counts[("(undecodable dead letter)", "undecodable")] += 1
            if records[-1].offset + 1 >= ends[tp]:
                break
    return DeadLetterCounts(since, dict(counts))


def worker_health(url: str, timeout_s: float = 3.0) -> WorkerHealth:
    """A worker's `/readyz` (a base URL such as http://127.0.0.1:9464)."""
    target = url.rstrip("/") + "/readyz"
    try:
        with urllib.request.urlopen(target, timeout=timeout_s) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            body = json.loads(error.read())
        except ValueError:
            return WorkerHealth(url, None, (f"HTTP {error.code}",), None)
    except (OSError, ValueError) as exc:
        return WorkerHealth(url, None, (f"no answer ({type(exc).__name__})",), None)
    return WorkerHealth(
        url,
        bool(body.get("ready")),
        tuple(str(reason) for reason in body.get("reasons", ())),
        body.get("assigned_partitions"),
    )
