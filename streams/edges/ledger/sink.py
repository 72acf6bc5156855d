"""The ledger sink: copy decisions, suppression and bounce changes, feedback reports, consent
events, enforcement events, address corrections and erasure requests and steps into it.

One process reads every partition of the topics in `catalogue.LEDGER_TOPICS` (`send-decisions`,
`suppression-changes`, `bounce-changes`, `feedback-reports`, `consent-events`,
`enforcement-events`, `address-corrections`, `erasure-requests`, `erasure-events`; all must
exist, `sendgate topics create` makes them) by manual assignment (no consumer group): the ledger
keeps its own read positions in `consumer_offsets`, committed in the same transaction as the rows
("Storing Offsets Outside Kafka" in aiokafka's consumer guide), and nothing is committed to Kafka.
On start it seeks each partition to its stored next offset, or to the beginning when it has none.
Rows are unique on their Kafka coordinates, so a crash between two batches, a second sink over the
same topics, or a deliberate replay (delete the `consumer_offsets` rows) never stores a record
twice. A request the gate decided twice is two records, and both are stored, neither as a
conflict: the first decision in `send_decisions`, the other in `send_decision_repeats` (`writer`).

Undecodable values are skipped with a warning that names only their coordinates; their offsets
are committed like any other, since the agent that wrote the topic dead-letters bad input itself.
A record the writer finds in conflict with a stored one (its identity stored with other content)
is the ledger's own finding, so the sink dead-letters it: a `DeadLetter` with the record's origin
and whole message, error kind `invalid` and the writer's reason, on `dead-letters`, acknowledged
by every in-sync replica before the batch's transaction commits. So a conflict is never lost:
if Kafka does not take the letter the batch is not committed and comes back on the next start;
if the commit fails after the letter was sent, the retry sends it again (at least once).
An erasure request the writer carries out is reported the same way, by the same path
(`_before_commit`): its `ledger_erased` step goes to `erasure-events`, acknowledged before the
redaction commits. So the step is never missing for an erasure done; if the commit fails after
Kafka took the step, the retry erases and reports again, with the same event id, which readers
(the ledger's own `erasure_steps` among them) take once. The step is keyed by the recipient key,
like every record about a person, never by anything of the address.
Retention runs in the same loop: every `Settings.retention_interval_s` on the sink's clock (and
once at start) the sink applies the retention policy (`retention.apply_retention`), so consent
evidence and decisions past their period go without a separate scheduler. The clock is the
`Settings.clock_file` when set, like the worker's, so a test moves a running sink years ahead
by writing the file; a clock moved back runs it again too.
Database work runs in a worker thread so the consumer's event loop keeps fetching meanwhile.
Partitions added to a topic while the sink runs are picked up at its next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import ParamSpec, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import InterfaceError, OperationalError

from streams.core.clock import Clock, FileClock, SystemClock
from streams.core.errors import (
    CodecError,
    InvalidRecordError,
    SendgateError,
    ServiceUnavailableError,
)
from streams.core.logs import where
from streams.core.records import DeadLetter, ErasureEvent, Record
from streams.core.settings import Settings
from streams.edges.admin import required_partitions
from streams.edges.ledger.catalogue import LEDGER_TOPICS
from streams.edges.ledger.engine import make_engine
from streams.edges.ledger.erasures import completions_due
from streams.edges.ledger.migrate import upgrade
from streams.edges.ledger.models import metadata
from streams.edges.ledger.retention import RetentionReport, apply_retention
from streams.edges.ledger.writer import LedgerConflict, LedgerItem, LedgerWriter, read_offsets
from streams.privacy.retention import load_retention_policy
from streams.topics import DEAD_LETTERS, ERASURE_EVENTS, default_codec, erasure_horizons

__all__ = [
    "DEAD_LETTER_AGENT",
    "FETCH_MAX_RECORDS",
    "FETCH_TIMEOUT_MS",
    "SinkProgress",
    "ledger_consumer_group",
    "ledger_counts",
    "run_ledger_sink",
]

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

FETCH_TIMEOUT_MS = 500
"""How long one fetch waits for records; also how quickly the sink notices `stop`."""
FETCH_MAX_RECORDS = 2000
"""Records per fetch, and so per ledger transaction."""
DEAD_LETTER_AGENT = "ledger"
"""The `agent` of the dead letters the sink writes."""
COMPLETION_CHECK_INTERVAL_S = 10.0
"""How often the sink looks for erasures that are now complete (`erasures.completions_due`)."""
DEAD_LETTER_TIMEOUT_S = 30.0
"""How long the writer's transaction waits for Kafka to take a batch's dead letters (or its
erasure steps)."""

Publish = Callable[[Sequence[DeadLetter]], Awaitable[None]]
"""Puts dead letters on the dead-letters topic, returning once Kafka has acknowledged them."""
PublishSteps = Callable[[Sequence[ErasureEvent]], Awaitable[None]]
"""Puts erasure steps on the erasure-events topic, returning once Kafka has acknowledged them."""


@dataclass(frozen=True, slots=True)
class SinkProgress:
    """Running totals of one sink run, handed to `on_progress` after every batch."""

    batches: int = 0
    records_read: int = 0
    rows_inserted: int = 0
    """Rows added, in any table: a decision made again is a row too (in the repeats), so on a
    fresh ledger every decodable decision read adds one."""
    undecodable: int = 0
    dead_lettered: int = 0
    """Records not stored because they conflict with a stored row; each went to dead-letters."""


def ledger_consumer_group(settings: Settings) -> str:
    """The name the ledger's offsets are stored under: the app id, so prefixes keep runs apart."""
    return f"{settings.app_id}-ledger"


def ledger_counts(engine: Engine) -> dict[str, int]:
    """Rows per ledger table, by table name (for the CLI and the demo)."""
    with engine.connect() as connection:
        return {
            name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in sorted(metadata.tables.items())
        }


async def run_ledger_sink(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[SinkProgress], None] | None = None,
    idle_exit_s: float | None = None,
    clock: Clock | None = None,
) -> SinkProgress:
    """Copy records into the ledger until `stop` is set, or no record came for `idle_exit_s`.

    Brings the ledger's schema to head first (idempotent), so a fresh database needs no
    separate step. Reads the retention policy first too, so a bad file stops the sink at start
    rather than a day later. Returns the run's totals.
    """
    clock = clock or (FileClock(settings.clock_file) if settings.clock_file else SystemClock())
    retention_policy = load_retention_policy(settings.retention_policy_file)
    database_url = settings.database_url.get_secret_value()
    record_types: dict[str, type[Record]] = {
        entry.topic.full_name(settings): entry.record_type for entry in LEDGER_TOPICS
    }
    consumer_group = ledger_consumer_group(settings)
    await _in_thread(upgrade, database_url)
    engine = make_engine(database_url)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="sendgate-ledger",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="sendgate-ledger",
        acks="all",
        enable_idempotence=True,
    )
    dead_letters = DEAD_LETTERS.full_name(settings)
    erasure_events = ERASURE_EVENTS.full_name(settings)
    codec = default_codec()

    async def send(topic: str, messages: Sequence[tuple[bytes | None, Record]]) -> None:
        sent = [
            await producer.send(topic, codec.encode(record), key=key) for key, record in messages
        ]
        await asyncio.gather(*sent)

    async def publish(letters: Sequence[DeadLetter]) -> None:
        await send(dead_letters, [(letter.original_key, letter) for letter in letters])

    async def publish_steps(steps: Sequence[ErasureEvent]) -> None:
        await send(erasure_events, [(step.recipient_key.encode("ascii"), step) for step in steps])

    horizons = erasure_horizons(settings)

    async def retain(now: datetime) -> RetentionReport:
        report = await _in_thread(apply_retention, engine, retention_policy, now)
        if report.total:
            log.info(
                "ledger: retention at %s: %s",
                now.isoformat(),
                ", ".join(f"{c.rows} {c.table} {c.action}" for c in report.counts if c.rows),
            )
        return report

    async def complete_erasures(now: datetime) -> int:
        due = await _in_thread(completions_due, engine, horizons, now)
        if due:
            await publish_steps(due)
            log.info("ledger: %d erasure(s) complete", len(due))
        return len(due)

    try:
        partitions = await required_partitions(
            settings.kafka_bootstrap_servers, list(record_types), client_id="sendgate-ledger"
        )
        try:
            await consumer.start()
            await producer.start()
        except KafkaError as exc:
            raise ServiceUnavailableError(f"Kafka did not answer: {exc!r}") from exc
        consumer.assign(partitions)
        stored = await _until_stored(
            lambda: _in_thread(read_offsets, engine, consumer_group), stop or asyncio.Event()
        )
        if stored is None:
            return SinkProgress()
        await _seek(consumer, partitions, stored)
        return await _copy(
            consumer,
            LedgerWriter(engine),
            consumer_group,
            record_types,
            publish=publish,
            publish_steps=publish_steps,
            complete_erasures=complete_erasures,
            stop=stop or asyncio.Event(),
            on_progress=on_progress,
            idle_exit_s=idle_exit_s,
            clock=clock,
            retain=retain,
            retention_interval_s=settings.retention_interval_s,
        )
    finally:
        await consumer.stop()
        await producer.stop()
        engine.dispose()


async def _copy(
    consumer: AIOKafkaConsumer,
    writer: LedgerWriter,
    consumer_group: str,
    record_types: Mapping[str, type[Record]],
    *,
    publish: Publish,
    stop: asyncio.Event,
    on_progress: Callable[[SinkProgress], None] | None,
    idle_exit_s: float | None,
    clock: Clock | None = None,
    publish_steps: PublishSteps | None = None,
    complete_erasures: Callable[[datetime], Awaitable[int]] | None = None,
    retain: Callable[[datetime], Awaitable[object]] | None = None,
    retention_interval_s: float = 86_400.0,
) -> SinkProgress:
    loop = asyncio.get_running_loop()
    clock = clock or SystemClock()
    totals = SinkProgress()
    last_record_at = loop.time()
    dead_lettered = 0
    completions_checked_at: float | None = None
    retained_at: datetime | None = None

    async def retain_when_due() -> None:
        """Run the retention job when it never ran, or `retention_interval_s` has passed on the
        clock since, or the clock was moved back before the last run."""
        nonlocal retained_at
        if retain is None:
            return
        now = clock.now()
        if retained_at is not None and (
            retained_at <= now < retained_at + timedelta(seconds=retention_interval_s)
        ):
            return
        if await _until_stored(partial(retain, now), stop) is not None:
            retained_at = now

    async def check_completions() -> None:
        """Every `COMPLETION_CHECK_INTERVAL_S`, and before an idle exit: publish the erasures
        now complete. A step published again before its copy is read back (at least once) is
        one step to its readers, the ledger's own `erasure_steps` among them."""
        nonlocal completions_checked_at
        completions_checked_at = loop.time()
        if complete_erasures is not None:
            await _until_stored(partial(complete_erasures, clock.now()), stop)

    def dead_letter(conflicts: Sequence[LedgerConflict]) -> None:
        """Called by the writer in its thread, inside the batch's transaction: publish on the
        event loop and wait for the acknowledgements, so the batch commits only after them."""
        nonlocal dead_lettered
        now = clock.now()
        letters = [_dead_letter(conflict, now) for conflict in conflicts]
        _before_commit(loop, publish(letters), "dead letters")
        for conflict in conflicts:
            item = conflict.item
            log.warning(
                "ledger: dead-lettered %s/%d/%d (conflict)", item.topic, item.partition, item.offset
            )
        dead_lettered += len(conflicts)

    def report_erasures(steps: Sequence[ErasureEvent]) -> None:
        """Called by the writer in its thread, inside the transaction that erased: the steps
        are on erasure-events before the erasure commits."""
        if publish_steps is None:
            raise SendgateError("the ledger sink was given nowhere to report erasures")
        _before_commit(loop, publish_steps(steps), "erasure steps")
        log.info("ledger: carried out %d erasure request(s)", len(steps))

    while not stop.is_set():
        await retain_when_due()
        if (
            completions_checked_at is None
            or loop.time() - completions_checked_at >= COMPLETION_CHECK_INTERVAL_S
        ):
            await check_completions()
        fetched = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS, max_records=FETCH_MAX_RECORDS)
        items = [
            _item(message, record_types[message.topic])
            for messages in fetched.values()
            for message in messages
        ]
        due = (
            completions_checked_at is None
            or loop.time() - completions_checked_at >= COMPLETION_CHECK_INTERVAL_S
        )
        if not items:
            if idle_exit_s is not None and loop.time() - last_record_at >= idle_exit_s:
                await check_completions()
                break
            if due:
                await check_completions()
            continue
        dead_lettered = 0
        inserted = await _until_stored(
            partial(
                _in_thread,
                writer.write_batch,
                consumer_group,
                items,
                on_conflicts=dead_letter,
                on_erasures=report_erasures,
            ),
            stop,
        )
        if inserted is None:  # stopped while the database was away: read again on next start
            break
        last_record_at = loop.time()
        _count_batch(fetched, consumer, items, inserted, dead_lettered)
        totals = replace(
            totals,
            batches=totals.batches + 1,
            records_read=totals.records_read + len(items),
            rows_inserted=totals.rows_inserted + inserted,
            undecodable=totals.undecodable + sum(item.record is None for item in items),
            dead_lettered=totals.dead_lettered + dead_lettered,
        )
        if on_progress is not None:
            on_progress(totals)
    return totals


RECORDS_READ = Counter(
    "sendgate_ledger_records_read", "Records the ledger sink read, by topic.", ["topic"]
)
ROWS_WRITTEN = Counter(
    "sendgate_ledger_rows_written",
    "New rows the ledger sink wrote, in any table (a decision's repeats included).",
)
UNDECODABLE = Counter("sendgate_ledger_undecodable", "Records the ledger sink could not decode.")
CONFLICTS = Counter(
    "sendgate_ledger_dead_lettered",
    "Records in conflict with a stored row, set aside on dead-letters by the ledger sink.",
)
SINK_LAG = Gauge(
    "sendgate_ledger_sink_lag",
    "Records on the broker the ledger sink has not stored yet, as of its last batch.",
    ["topic", "partition"],
)
LAST_BATCH = Gauge(
    "sendgate_ledger_last_batch_timestamp_seconds", "When the ledger sink last wrote a batch."
)


def _count_batch(
    fetched: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]],
    consumer: AIOKafkaConsumer,
    items: Sequence[LedgerItem],
    inserted: int,
    dead_lettered: int,
) -> None:
    for messages in fetched.values():
        if not messages:
            continue
        last = messages[-1]
        RECORDS_READ.labels(last.topic).inc(len(messages))
        try:
            highwater = consumer.highwater(TopicPartition(last.topic, last.partition))
        except Exception:  # no figure this batch (a partition just moved): the next one has it
            highwater = None
        if highwater is not None:
            SINK_LAG.labels(last.topic, str(last.partition)).set(
                max(0, highwater - last.offset - 1)
            )
    ROWS_WRITTEN.inc(inserted)
    UNDECODABLE.inc(sum(item.record is None for item in items))
    CONFLICTS.inc(dead_lettered)
    LAST_BATCH.set_to_current_time()


def _item(message: ConsumerRecord[bytes, bytes], record_type: type[Record]) -> LedgerItem:
    """Decode one message; an undecodable one becomes an item without a record."""
    record: Record | None = None
    if message.value is None:
        log.warning(
            "ledger: empty value at %s[%d]@%d skipped",
            message.topic,
            message.partition,
            message.offset,
            extra=where(message),
        )
    else:
        try:
            record = default_codec().decode(message.value, record_type)
        except (CodecError, InvalidRecordError) as exc:
            log.warning(
                "ledger: undecodable value at %s[%d]@%d skipped (%s)",
                message.topic,
                message.partition,
                message.offset,
                type(exc).__name__,
                extra=where(message),
            )
    return LedgerItem(
        message.topic, message.partition, message.offset, record, message.key, message.value
    )


def _before_commit(loop: asyncio.AbstractEventLoop, publishing: Awaitable[None], what: str) -> None:
    """Run `publishing` on the sink's event loop from the writer's thread and wait until Kafka
    acknowledged it: the writer calls this inside its transaction, so the batch commits only after
    what it reports is on the topic. A Kafka failure or timeout is an outage: nothing of the
    batch is committed, and it is read and reported again."""
    sent = asyncio.run_coroutine_threadsafe(_awaited(publishing), loop)
    try:
        sent.result(timeout=DEAD_LETTER_TIMEOUT_S)
    except (KafkaError, TimeoutError) as exc:
        sent.cancel()
        raise ServiceUnavailableError(
            f"Kafka did not take the ledger's {what} ({type(exc).__name__}); "
            "the batch is not committed and is read again on the next start"
        ) from exc


async def _awaited(publishing: Awaitable[None]) -> None:
    await publishing


def _dead_letter(conflict: LedgerConflict, now: datetime) -> DeadLetter:
    """The conflicting record set aside whole, with its origin: `invalid`, as it decoded but the
    ledger cannot take it (the schema's kinds name no other fitting one)."""
    item = conflict.item
    return DeadLetter(
        origin_topic=item.topic,
        origin_partition=item.partition,
        origin_offset=item.offset,
        original_key=item.key,
        original_value=item.value,
        error_kind="invalid",
        reason=conflict.reason,
        agent=DEAD_LETTER_AGENT,
        failed_at=now,
    )


async def _seek(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    stored: Mapping[tuple[str, int], int],
) -> None:
    """Resume each partition at its stored next offset, or at its beginning."""
    fresh = []
    for partition in partitions:
        next_offset = stored.get((partition.topic, partition.partition))
        if next_offset is None:
            fresh.append(partition)
        else:
            consumer.seek(partition, next_offset)
    if fresh:
        await consumer.seek_to_beginning(*fresh)


RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
"""Backoff while the database (or Kafka, for dead letters) is away: 1 s, doubling, at most 30 s."""
DATABASE_UP = Gauge(
    "sendgate_ledger_database_up", "1 while the ledger database answers the sink, 0 while not."
)
OUTAGE_RETRIES = Counter(
    "sendgate_ledger_outage_retries",
    "Attempts the ledger sink made to store a batch while its database (or Kafka) was away.",
)


async def _until_stored(attempt: Callable[[], Awaitable[T]], stop: asyncio.Event) -> T | None:
    """`attempt` until it succeeds, backing off while it fails with a retriable outage; None if
    `stop` is set first. An outage is logged once when it starts and once when it ends (the
    metrics count the attempts), so a long one does not flood the log, and the sink never exits
    over it: nothing is committed while it lasts, so the batch is stored whole once it is over."""
    loop = asyncio.get_running_loop()
    delay = RETRY_FIRST_S
    down_since: float | None = None
    while True:
        try:
            result = await attempt()
        except ServiceUnavailableError as exc:
            OUTAGE_RETRIES.inc()
            DATABASE_UP.set(0)
            if down_since is None:
                down_since = loop.time()
                log.error(
                    "ledger: %s; the sink waits and retries (every %.0f s at most) until it "
                    "answers; nothing is lost meanwhile",
                    exc,
                    RETRY_MAX_S,
                )
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            return None
        DATABASE_UP.set(1)
        if down_since is not None:
            log.warning(
                "ledger: storing again after %.0f s of outage; the sink went on where it stopped",
                loop.time() - down_since,
            )
        return result


async def _in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking database work off the event loop; an unreachable database is retriable."""
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except (OperationalError, InterfaceError) as exc:
        raise ServiceUnavailableError(
            f"the ledger database did not answer ({type(exc.orig or exc).__name__})"
        ) from exc
