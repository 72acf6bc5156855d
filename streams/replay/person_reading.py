"""Reading what the gate knew about one person: which topics, which partition, and the ledger
where the topics no longer reach back. The folding is `streams.replay.person`'s.

Only topics: never a worker's tables, RocksDB or changelogs, and no consumer group (the reads go
through `streams.replay.reading.read_between`). The tables' compacted changelogs are not read at
all: they hold each key's latest value, not its past, so they cannot say what was true at a
moment; the input topics can, for as long as retention keeps them.

Every topic about a person is keyed by the recipient key and co-partitioned, so each is read on
one partition: the one aiokafka's default partitioner (murmur2 of the key bytes, as the
producers and the gate's own emits use) gives the key. Account standings are keyed by account,
so `enforcement-events` is read on each asked account's partition.

The address is turned into the recipient key here, with the platform secret, and goes no
further: nothing here logs, and errors name topics and offsets, never the person.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from streams.core.clock import from_epoch_ms
from streams.core.codec import Codec
from streams.core.errors import CodecError, InvalidRecordError, SendgateError
from streams.core.recipient import RecipientKeyer, is_valid_address
from streams.core.records import SendDecision, SendRequest
from streams.core.settings import Settings
from streams.edges.admin import KAFKA_FAILURES, partition_counts, unreachable
from streams.edges.ledger.engine import make_engine
from streams.edges.ledger.models import (
    BounceChangeRow,
    ConsentEventRow,
    SuppressionChangeRow,
    metadata,
)
from streams.policy import Policy, load_policy
from streams.replay.person import (
    DecidedSend,
    PersonState,
    Section,
    Seen,
    accounts_of,
    bounces_from_ledger,
    consents_from_ledger,
    fold_person,
    merge_by_time,
    standings_at,
    suppressions_from_ledger,
)
from streams.replay.reading import CLIENT_ID, TimeRange, read_between
from streams.rules.inputs import DecisionInputs
from streams.topics import (
    CONSENT_DEADLINES,
    CONSENT_EVENTS,
    DELIVERY_EVENTS,
    ENFORCEMENT_EVENTS,
    SEND_DECISIONS,
    SEND_REQUESTS,
    UNSUBSCRIBE_CLICKS,
    TopicSpec,
    default_codec,
)

__all__ = ["PersonProgress", "partition_for", "person_state", "person_state_of_key"]

PersonProgress = Callable[[str, int, int], None]
"""(what is being read, offsets read, offsets to read), for each read in turn."""

_PERSON_SPECS: tuple[TopicSpec, ...] = (
    UNSUBSCRIBE_CLICKS,
    CONSENT_EVENTS,
    CONSENT_DEADLINES,
    DELIVERY_EVENTS,
    SEND_REQUESTS,
    SEND_DECISIONS,
)
_TIMEOUT_S = 10.0


def partition_for(key: bytes, partitions: int) -> int:
    """The partition a keyed record lands on: aiokafka's default partitioner, which the
    producers use when they name no partition (the gate names one only for a record keyed like
    the one it answers, on a co-partitioned topic: the same number)."""
    return int(DefaultPartitioner()(key, list(range(partitions)), list(range(partitions))))


async def person_state(
    settings: Settings,
    address: str,
    at: datetime,
    account: str | None = None,
    on_progress: PersonProgress | None = None,
    *,
    database_url: str | None = None,
    policy: Policy | None = None,
) -> PersonState:
    """What the gate knew about the person at `address` at `at` (aware), and about `account`'s
    standing (None: every account the person's records name). A `SendgateError` for an address
    that does not parse, a missing topic or an unreachable broker."""
    if not is_valid_address(address):
        raise SendgateError("not a valid email address (RFC 5321/5322)")
    recipient_key = RecipientKeyer(settings.recipient_secret()).key(address)
    return await person_state_of_key(
        settings,
        recipient_key,
        at,
        account,
        on_progress,
        database_url=database_url,
        policy=policy,
    )


async def person_state_of_key(
    settings: Settings,
    recipient_key: str,
    at: datetime,
    account: str | None = None,
    on_progress: PersonProgress | None = None,
    *,
    database_url: str | None = None,
    policy: Policy | None = None,
) -> PersonState:
    """`person_state` for a recipient key already computed."""
    if at.tzinfo is None:
        raise ValueError("the moment of a replay must be timezone-aware")
    policy = policy or load_policy(settings.policy_file)
    codec = default_codec()
    key = recipient_key.encode("ascii")
    names = {spec.name: spec.full_name(settings) for spec in (*_PERSON_SPECS, ENFORCEMENT_EVENTS)}
    counts = await partition_counts(settings, list(names.values()), timeout_s=_TIMEOUT_S)
    missing = sorted(name for name in names.values() if counts.get(name) is None)
    if missing:
        raise SendgateError(
            f"topic '{missing[0]}' does not exist on {settings.kafka_bootstrap_servers}; "
            "create the topics with: sendgate topics create"
        )
    where = {spec.name: partition_for(key, counts[names[spec.name]] or 1) for spec in _PERSON_SPECS}
    starts = await _log_starts(
        settings, [TopicPartition(names[name], p) for name, p in where.items()]
    )
    truncated = {name for name, p in where.items() if starts[TopicPartition(names[name], p)] > 0}

    read: dict[str, list[Any]] = {}
    for spec in _PERSON_SPECS:
        read[spec.name] = await _read_keyed(
            settings, names[spec.name], where[spec.name], [key], at, on_progress
        )
    requests = _requests(read.pop(SEND_REQUESTS.name), codec)
    set_aside: list[str] = []
    streams: dict[str, list[Seen]] = {}
    for spec in (UNSUBSCRIBE_CLICKS, CONSENT_EVENTS, CONSENT_DEADLINES, DELIVERY_EVENTS):
        streams[spec.name] = _decoded(read[spec.name], spec, codec, set_aside)
    streams[SEND_DECISIONS.name] = _decisions(read[SEND_DECISIONS.name], codec, requests, set_aside)
    state = fold_person(
        merge_by_time(streams),
        recipient_key=recipient_key,
        at=at,
        policy=policy,
        history_seed=SEND_DECISIONS.name in truncated,
    )
    state = replace(state, set_aside=(*set_aside, *state.set_aside))
    if truncated & {UNSUBSCRIBE_CLICKS.name, CONSENT_EVENTS.name, DELIVERY_EVENTS.name}:
        state = _from_ledger(state, truncated, database_url or _ledger_url(settings), policy)
    if CONSENT_DEADLINES.name in truncated and state.sections["consents"].source == "topics":
        state = _noted(
            state,
            "consents",
            "consent-deadlines no longer reaches back: which expiry notices were sent may be "
            "missing",
        )
    if SEND_REQUESTS.name in truncated:
        state = _noted(state, "send_history", "send-requests no longer reaches back (retention)")
    accounts = [account] if account is not None else _accounts(state, streams)
    return await _with_standings(settings, state, accounts, names, counts, codec, on_progress)


async def _log_starts(
    settings: Settings, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """Where each partition's log starts now: above 0, retention took records."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=CLIENT_ID,
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=int(_TIMEOUT_S * 1000),
    )
    try:
        await asyncio.wait_for(consumer.start(), _TIMEOUT_S)
        return dict(await asyncio.wait_for(consumer.beginning_offsets(partitions), _TIMEOUT_S))
    except KAFKA_FAILURES as exc:
        raise unreachable(settings, exc) from None
    finally:
        await consumer.stop()


async def _read_keyed(
    settings: Settings,
    topic: str,
    partition: int,
    keys: Iterable[bytes],
    at: datetime,
    on_progress: PersonProgress | None,
) -> list[Any]:
    """The records on one partition before `at` with one of `keys`."""
    wanted = set(keys)
    label = f"{topic}/{partition}"
    progress = (
        None if on_progress is None else (lambda done, total: on_progress(label, done, total))
    )
    return [
        message
        async for message in read_between(
            settings, topic, TimeRange(None, at), partitions=[partition], on_progress=progress
        )
        if message.key in wanted
    ]


def _coordinates(message: Any) -> str:
    return f"{message.topic}/{message.partition}/{message.offset}"


def _moment(message: Any) -> datetime:
    return from_epoch_ms(message.timestamp)


def _decoded(
    messages: list[Any], spec: TopicSpec, codec: Codec, set_aside: list[str]
) -> list[Seen]:
    """Each message as the keeper decodes it; one it would dead-letter is set aside."""
    assert spec.record is not None
    seen = []
    for message in messages:
        try:
            record = codec.decode(message.value or b"", spec.record)
        except (CodecError, InvalidRecordError) as exc:
            set_aside.append(f"{_coordinates(message)}: {getattr(exc, 'error_kind', 'invalid')}")
            continue
        seen.append(Seen(spec.name, _coordinates(message), _moment(message), record))
    return seen


def _requests(messages: list[Any], codec: Codec) -> dict[str, SendRequest]:
    """The person's send requests by coordinates (a decision names its request's)."""
    found = {}
    for message in messages:
        try:
            request = codec.decode(message.value or b"", SendRequest)
        except (CodecError, InvalidRecordError):
            continue  # the gate dead-lettered it; no decision names it
        found[_coordinates(message)] = request
    return found


def _decisions(
    messages: list[Any],
    codec: Codec,
    requests: Mapping[str, SendRequest],
    set_aside: list[str],
) -> list[Seen]:
    seen = []
    for message in messages:
        try:
            decision = codec.decode(message.value or b"", SendDecision)
            inputs = (
                None if decision.inputs is None else codec.decode(decision.inputs, DecisionInputs)
            )
        except (CodecError, InvalidRecordError) as exc:
            set_aside.append(f"{_coordinates(message)}: {getattr(exc, 'error_kind', 'invalid')}")
            continue
        sent = DecidedSend(decision, requests.get(decision.request_offset), inputs)
        seen.append(Seen(SEND_DECISIONS.name, _coordinates(message), _moment(message), sent))
    return seen


def _accounts(state: PersonState, streams: Mapping[str, list[Seen]]) -> list[str]:
    """The accounts the person's state names, and those that sent to them before `at`."""
    sent = {
        seen.record.decision.account_id
        for seen in streams.get(SEND_DECISIONS.name, ())
        if isinstance(seen.record, DecidedSend) and seen.at < state.at
    }
    return sorted(set(accounts_of(state)) | sent)


async def _with_standings(
    settings: Settings,
    state: PersonState,
    accounts: list[str],
    names: Mapping[str, str],
    counts: Mapping[str, int | None],
    codec: Codec,
    on_progress: PersonProgress | None,
) -> PersonState:
    """Each account's standing from its partition of `enforcement-events` (kept for ever)."""
    topic = names[ENFORCEMENT_EVENTS.name]
    if not accounts:
        return replace(
            state, accounts={}, sections={**state.sections, "accounts": Section("topics")}
        )
    by_partition: dict[int, list[bytes]] = {}
    for account in accounts:
        keyed = account.encode()
        by_partition.setdefault(partition_for(keyed, counts[topic] or 1), []).append(keyed)
    starts = await _log_starts(settings, [TopicPartition(topic, p) for p in by_partition])
    seen: list[Seen] = []
    set_aside: list[str] = []
    for partition, keys in sorted(by_partition.items()):
        messages = await _read_keyed(settings, topic, partition, keys, state.at, on_progress)
        seen += _decoded(messages, ENFORCEMENT_EVENTS, codec, set_aside)
    standings, refused = standings_at(seen, accounts, state.at)
    section = Section("topics")
    short = sorted(p for p in by_partition if starts[TopicPartition(topic, p)] > 0)
    if short:
        section = Section(
            "unknown",
            (
                f"enforcement-events partition(s) {', '.join(map(str, short))} no longer reach "
                "back, although the topic is meant to be kept for ever; the ledger keeps only "
                "each event's status word, not what it denied",
            ),
        )
    return replace(
        state,
        accounts=standings,
        sections={**state.sections, "accounts": section},
        set_aside=(*state.set_aside, *set_aside, *refused),
    )


def _noted(state: PersonState, name: str, note: str) -> PersonState:
    return replace(state, sections={**state.sections, name: state.sections[name].noted(note)})


# --- the ledger -----------------------------------------------------------------------------------


def _ledger_url(settings: Settings) -> str:
    return settings.database_url.get_secret_value()


def _rows(engine: Engine, row_type: Any, recipient_key: str) -> list[dict[str, Any]]:
    table = metadata.tables[row_type.__tablename__]
    with engine.connect() as connection:
        query = select(table).where(table.c.recipient_key == recipient_key)
        return [dict(row) for row in connection.execute(query).mappings()]


def _from_ledger(state: PersonState, truncated: set[str], url: str, policy: Policy) -> PersonState:
    """The sections whose topics lost records to retention, from the ledger instead; where the
    ledger cannot be read either, the section is unknown rather than folded from what is left."""
    clicks_short = UNSUBSCRIBE_CLICKS.name in truncated
    consents_short = clicks_short or CONSENT_EVENTS.name in truncated
    bounces_short = DELIVERY_EVENTS.name in truncated
    sections = dict(state.sections)
    engine = make_engine(url)
    try:
        suppression_rows = _rows(engine, SuppressionChangeRow, state.recipient_key)
        consent_rows = _rows(engine, ConsentEventRow, state.recipient_key) if consents_short else []
        bounce_rows = _rows(engine, BounceChangeRow, state.recipient_key) if bounces_short else []
    except SQLAlchemyError as exc:
        reason = f"the ledger could not be read either ({type(exc).__name__})"
        for name, short in (
            ("suppressions", clicks_short),
            ("consents", consents_short),
            ("bounces", bounces_short),
        ):
            if short:
                sections[name] = Section(
                    "unknown", (f"{name}: topics no longer reach back; {reason}",)
                )
        return replace(
            state,
            suppressions=() if clicks_short else state.suppressions,
            consents=() if consents_short else state.consents,
            bounces=None if bounces_short else state.bounces,
            sections=sections,
        )
    finally:
        engine.dispose()
    suppressions, consents, bounces = state.suppressions, state.consents, state.bounces
    if clicks_short:
        suppressions, sections["suppressions"] = suppressions_from_ledger(
            suppression_rows, state.at
        )
    if consents_short:
        try:
            consents, sections["consents"] = consents_from_ledger(
                consent_rows, suppression_rows, state.at, policy
            )
        except ValidationError:
            consents = ()
            sections["consents"] = Section(
                "unknown", ("a stored consent event no longer reads as a valid record",)
            )
    if bounces_short:
        bounces, sections["bounces"] = bounces_from_ledger(bounce_rows, state.at)
    return replace(
        state, suppressions=suppressions, consents=consents, bounces=bounces, sections=sections
    )
