"""Reading one account's rates and standing from the changelogs of the rates and standings tables.

The changelogs are faust's copies of the tables on Kafka, so a command can read the state the
workers keep without asking a worker. Reading goes from each partition's beginning to the end
offset it had when the call started, with no consumer group (nothing is committed, no worker is
disturbed), and keeps the latest value of each of the account's keys (a tombstone deletes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.cli.accounts.broker import CLIENT_ID, KAFKA_FAILURES, start_within, unreachable
from streams.core.errors import (
    CodecError,
    InvalidRecordError,
    SendgateError,
    ServiceUnavailableError,
)
from streams.core.settings import Settings
from streams.edges.admin import describe_topics
from streams.reputation.account_report import is_account_key, latest_values, parse_rates_key
from streams.reputation.rates import RateState
from streams.reputation.strikes import AccountStanding
from streams.topics import RATES_CHANGELOG, STANDINGS_CHANGELOG, TopicSpec, default_codec

__all__ = ["ChangelogRead", "ProgressCallback", "read_account_tables"]

_FETCH_TIMEOUT_MS = 500


@dataclass(frozen=True, slots=True)
class ChangelogRead:
    """The account's latest values in the rates and standings changelogs, and what reading took."""

    rate_states: dict[str | None, RateState]
    standing: AccountStanding | None
    records_read: int
    undecodable: tuple[str, ...] = ()
    """Keys whose latest value did not decode (the status is shown without them)."""


ProgressCallback = Callable[[int, int], None]
"""(offsets read, offsets to read) over every partition of both changelogs."""


async def read_account_tables(
    settings: Settings,
    account: str,
    *,
    timeout_s: float = 10.0,
    on_progress: ProgressCallback | None = None,
) -> ChangelogRead:
    """Read both changelogs from the beginning to their end offsets at the start of the call, and
    keep the latest value of each of the account's keys.

    Manual assignment, no consumer group, nothing committed. `read_committed`, so a record a
    worker's transaction has not committed yet is not taken for state.
    """
    specs = (RATES_CHANGELOG, STANDINGS_CHANGELOG)
    partitions = await _partitions(settings, specs, timeout_s)
    rates_topic, standings_topic = (spec.full_name(settings) for spec in specs)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=CLIENT_ID,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        request_timeout_ms=max(1, int(timeout_s * 1000)),
    )
    await start_within(consumer, settings, timeout_s)
    entries: dict[str, list[tuple[bytes | None, bytes | None]]] = {
        rates_topic: [],
        standings_topic: [],
    }
    records_read = 0
    try:
        consumer.assign(partitions)
        starts = await asyncio.wait_for(consumer.beginning_offsets(partitions), timeout_s)
        ends = await asyncio.wait_for(consumer.end_offsets(partitions), timeout_s)
        total = sum(ends[tp] - starts[tp] for tp in partitions)
        pending = {tp for tp in partitions if ends[tp] > starts[tp]}
        if pending:
            await consumer.seek_to_beginning(*pending)
        positions = dict(starts)
        done = 0
        loop = asyncio.get_running_loop()
        moved_at = loop.time()
        while pending:
            if on_progress is not None:
                on_progress(done, total)
            fetched = await consumer.getmany(*pending, timeout_ms=_FETCH_TIMEOUT_MS)
            for tp, messages in fetched.items():
                for message in messages:
                    if message.offset >= ends[tp]:
                        continue  # written after the call started
                    records_read += 1
                    if is_account_key(account, message.key, rates=tp.topic == rates_topic):
                        entries[tp.topic].append((message.key, message.value))
            for tp in pending:
                # Past compacted-away offsets and transaction markers too, not only records.
                positions[tp] = await consumer.position(tp)
            before, done = done, sum(min(positions[tp], ends[tp]) - starts[tp] for tp in partitions)
            pending = {tp for tp in pending if positions[tp] < ends[tp]}
            if done > before:
                moved_at = loop.time()
            elif loop.time() - moved_at > timeout_s:
                raise ServiceUnavailableError(
                    f"reading the changelogs stalled at {done:,} of {total:,} offsets for "
                    f"{timeout_s:g} s; is the broker at {settings.kafka_bootstrap_servers} healthy?"
                )
        if on_progress is not None:
            on_progress(total, total)
    except KAFKA_FAILURES as exc:
        raise unreachable(settings, exc) from None
    finally:
        await consumer.stop()
    return _decoded(
        latest_values(entries[rates_topic]), latest_values(entries[standings_topic]), records_read
    )


def _decoded(
    rates: dict[bytes, bytes], standings: dict[bytes, bytes], records_read: int
) -> ChangelogRead:
    codec = default_codec()
    undecodable: list[str] = []
    rate_states: dict[str | None, RateState] = {}
    for key, value in sorted(rates.items()):
        parsed = parse_rates_key(key)
        if parsed is None:
            continue  # not kept by the reader
        try:
            rate_states[parsed[1]] = codec.decode(value, RateState)
        except (CodecError, InvalidRecordError):
            undecodable.append(key.decode("utf-8", "replace"))
    standing = None
    for key, value in standings.items():
        try:
            standing = codec.decode(value, AccountStanding)
        except (CodecError, InvalidRecordError):
            undecodable.append(key.decode("utf-8", "replace"))
    return ChangelogRead(rate_states, standing, records_read, tuple(undecodable))


async def _partitions(
    settings: Settings, specs: tuple[TopicSpec, ...], timeout_s: float
) -> list[TopicPartition]:
    """Every partition of the topics; a missing topic is an error naming the setup step."""
    infos = await describe_topics(settings, specs, timeout_s=timeout_s)
    partitions = []
    for info in infos:
        if info.partitions is None:
            raise SendgateError(
                f"topic '{info.name}' does not exist on {settings.kafka_bootstrap_servers}; "
                "create the topics with: sendgate topics create"
            )
        partitions += [TopicPartition(info.name, n) for n in range(info.partitions)]
    return partitions
