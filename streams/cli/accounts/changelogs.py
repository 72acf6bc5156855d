"""Reading one account's rates and standing from the changelogs of the rates and standings tables.

The changelogs are faust's copies of the tables on Kafka, so a command can read the state the
workers keep without asking a worker. Reading goes from each partition's beginning to the end
offset it had when the call started, with no consumer group (nothing is committed, no worker is
disturbed), and keeps the latest value of each of the account's keys (a tombstone deletes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from streams.core.errors import CodecError, InvalidRecordError
from streams.core.settings import Settings
from streams.replay.reading import TimeRange, read_between
from streams.reputation.account_report import is_account_key, latest_values, parse_rates_key
from streams.reputation.rates import RateState
from streams.reputation.strikes import AccountStanding
from streams.topics import RATES_CHANGELOG, STANDINGS_CHANGELOG, default_codec

__all__ = ["ChangelogRead", "ProgressCallback", "read_account_tables"]


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
    rates_topic, standings_topic = (spec.full_name(settings) for spec in specs)
    entries: dict[str, list[tuple[bytes | None, bytes | None]]] = {
        rates_topic: [],
        standings_topic: [],
    }
    progress: dict[str, tuple[int, int]] = {}
    records_read = 0
    for topic in (rates_topic, standings_topic):

        def show(done: int, total: int, topic: str = topic) -> None:
            progress[topic] = (done, total)
            if on_progress is not None:
                on_progress(
                    sum(read for read, _ in progress.values()),
                    sum(whole for _, whole in progress.values()),
                )

        async for message in read_between(
            settings, topic, TimeRange(), timeout_s=timeout_s, on_progress=show
        ):
            records_read += 1
            if is_account_key(account, message.key, rates=topic == rates_topic):
                entries[topic].append((message.key, message.value))
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
