"""The one place that builds the faust App, its topics and its table.

`build_gate(settings)` returns a `Gate`: the app plus everything the agents need (codec, policy,
key checker, the state fence). Agents are registered by `streams.gate.agents.register_agents`.

Choices made here:
- Values are raw bytes at the faust level and decoded by our codec inside the agents, so an
  undecodable record reaches our code (and the dead-letter topic) instead of faust's decode error
  handler, which would drop it.
- At-least-once processing; every effect is idempotent (a replayed record changes nothing twice:
  keyed table writes, ids on every emitted record, ledger rows unique by Kafka coordinates).
- Tables (suppressions, bounces, consents) keyed by recipient key, co-partitioned with
  send-requests and every topic about a person (same key, same partition count); faust's
  assignor gives partition N of all of them to one worker, with one standby replica for fast
  failover. send-requests itself is read beside faust by `streams.gate.decider`, on the partitions
  faust gave the worker: `send_requests` here names the topic, no agent iterates it.
- The faust web server is off: nothing is served from the workers (the HTTP service is its own
  process), and two workers on one machine then need no port of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import faust

from streams.consent.deadlines import DeadlineIndex
from streams.core.clock import Clock, FileClock, SystemClock
from streams.core.codec import Codec
from streams.core.providers import ProviderMap, load_providers
from streams.core.recipient import RecipientKeyer
from streams.core.records import BounceState, ConsentState, Record, SuppressionState
from streams.core.settings import Settings
from streams.gate.broadcast import BroadcastState, TopicCopy
from streams.gate.copies import account_of_record, domains_of_record
from streams.gate.emit import Emitter, ProducerEmitter
from streams.gate.faust_fixes import apply_faust_fixes
from streams.gate.fence import BrokerOffsets, OffsetSource, StateFence
from streams.gate.progress import PartitionProgress
from streams.gate.restored import RestoreFence
from streams.gate.tables import RecordTable
from streams.policy import Policy, load_policy
from streams.reputation.rate_inputs import RecipientRates
from streams.reputation.rates import RateState
from streams.reputation.standing import AccountSnapshot
from streams.reputation.strikes import AccountStanding
from streams.rules.step import Signing
from streams.sending.frequency import SendHistory
from streams.sending.signing_keys import unsubscribe_tokens, verp_signer
from streams.topics import (
    ACCOUNT_COMMANDS,
    ADDRESS_CORRECTIONS,
    BOUNCE_CHANGES,
    BOUNCES_CHANGELOG,
    CONSENT_DEADLINES,
    CONSENT_DEADLINES_CHANGELOG,
    CONSENT_EVENTS,
    CONSENT_NOTICES,
    CONSENTS_CHANGELOG,
    CONTENT_MISUSE,
    DEAD_LETTERS,
    DELIVERY_EVENTS,
    ENFORCEMENT_EVENTS,
    ERASURE_EVENTS,
    ERASURE_REQUESTS,
    ESP_WEBHOOKS,
    FEEDBACK_REPORTS,
    INBOUND_MAIL,
    RATE_BREACHES,
    RATE_EVENTS,
    RATE_INPUTS_CHANGELOG,
    RATE_TICKS,
    RATES_CHANGELOG,
    SEND_DECISIONS,
    SEND_HISTORY_CHANGELOG,
    SEND_REQUESTS,
    SENDER_DOMAINS,
    STANDINGS_CHANGELOG,
    SUPPRESSION_CHANGES,
    SUPPRESSIONS_CHANGELOG,
    UNSUBSCRIBE_CLICKS,
    TopicSpec,
    default_codec,
)

__all__ = [
    "Enforcement",
    "Gate",
    "build_gate",
    "heartbeat_interval_s",
    "new_faust_app",
    "raw_topic",
]


@dataclass
class Enforcement:
    """The rate keeper's and enforcer's topics and tables (`streams.gate.enforcer`).

    Three stages, each keyed where its state lives: per recipient (`rate_inputs`, co-partitioned
    with delivery events and feedback reports: each event is handed on once), per (account,
    provider) (`rates`, fed by `rate-events` and the timer's `rate-ticks`), per account
    (`standings`, fed by `rate-breaches` and `account-commands`). The enforcement events that
    come out reach every gate worker through its own copy (`Gate.accounts`,
    `streams.gate.broadcast`).
    """

    providers: ProviderMap
    rate_keeper_inputs: faust.TopicT
    enforcer_inputs: faust.TopicT
    enforcement_events: faust.TopicT
    rate_inputs: RecordTable[RecipientRates]
    rates: RecordTable[RateState]
    standings: RecordTable[AccountStanding]
    last_tick_bucket: Any = None
    """The day (bucket start) the rate keeper's timer last nudged every key in."""


@dataclass
class Gate:
    """A faust app with the gate's topics, table and collaborators."""

    settings: Settings
    policy: Policy
    app: faust.App
    codec: Codec
    keyer: RecipientKeyer
    clock: Clock
    emitter: Emitter
    signing: Signing
    """The VERP return paths and unsubscribe links signed into allowed sends (and checked when
    they come back)."""
    progress: PartitionProgress
    offsets: OffsetSource
    fence: StateFence
    erasure_fence: StateFence
    """The same promise for erasure requests published straight to `erasure-requests` (the
    erasure agent turns each into a suppression on the clicks topic): asked before `fence`, and
    each request read ahead counts as its suppression (`streams.gate.deciding`)."""
    send_requests: faust.TopicT
    unsubscribe_clicks: faust.TopicT
    suppressions: RecordTable[SuppressionState]
    delivery_events: faust.TopicT
    feedback_reports: faust.TopicT
    inbound_mail: faust.TopicT
    esp_webhooks: faust.TopicT
    bounces: RecordTable[BounceState]
    consent_events: faust.TopicT
    consent_deadlines: faust.TopicT
    consents: RecordTable[ConsentState]
    erasure_requests: faust.TopicT
    address_corrections: faust.TopicT
    deadline_table: faust.Table
    """recipient key -> next consent notice due, epoch ms (`streams.gate.keepers.keep_deadline`)."""
    send_history: RecordTable[SendHistory]
    """recipient key -> SendHistory (`streams.sending.frequency`), written by the gate itself."""
    enforcement: Enforcement
    sender_domains_topic: faust.TopicT
    sender_domains: TopicCopy[frozenset[str]]
    """account -> its verified domains: every worker's own copy of the whole topic, as every
    gate worker judges every account's From addresses (`streams.gate.sender_domains`)."""
    accounts: TopicCopy[AccountSnapshot]
    """account -> what enforcement left it allowed: every worker's own copy of the
    enforcement-events topic (`streams.gate.copies.account_of_record`)."""
    broadcast: BroadcastState
    """Keeps `sender_domains` and `accounts` current, and fences each batch of decisions on them."""
    restored: RestoreFence
    """Holds each newly assigned partition back until the tables the gate reads are restored."""
    deadlines: DeadlineIndex = field(default_factory=DeadlineIndex)
    agents: dict[str, Any] = field(default_factory=dict)
    decider: Any = None
    """Decides the send requests beside faust (`streams.gate.decider.SendDecider`), once the agents
    are registered."""

    def topic_name(self, spec: TopicSpec) -> str:
        return spec.full_name(self.settings)

    async def emit(
        self,
        spec: TopicSpec,
        record: Record,
        *,
        partition: int | None = None,
        out: Emitter | None = None,
    ) -> None:
        """Encode `record` and emit it to the topic of `spec`, keyed as the catalogue keys that
        topic (a record the topic does not carry is a `TypeError`), through `out` where a batch
        collects what it writes, else the gate's emitter."""
        key = spec.key_of(record, self.keyer)
        value = self.codec.encode(record)
        await (out or self.emitter).emit(self.topic_name(spec), key, value, partition=partition)

    @property
    def decisions_topic(self) -> str:
        return self.topic_name(SEND_DECISIONS)

    @property
    def dead_letters_topic(self) -> str:
        return self.topic_name(DEAD_LETTERS)

    @property
    def suppression_changes_topic(self) -> str:
        return self.topic_name(SUPPRESSION_CHANGES)

    @property
    def clicks_topic(self) -> str:
        return self.topic_name(UNSUBSCRIBE_CLICKS)

    @property
    def bounce_changes_topic(self) -> str:
        return self.topic_name(BOUNCE_CHANGES)

    @property
    def delivery_events_topic(self) -> str:
        return self.topic_name(DELIVERY_EVENTS)

    @property
    def feedback_reports_topic(self) -> str:
        return self.topic_name(FEEDBACK_REPORTS)

    @property
    def consent_notices_topic(self) -> str:
        return self.topic_name(CONSENT_NOTICES)

    @property
    def consent_deadlines_topic(self) -> str:
        return self.topic_name(CONSENT_DEADLINES)

    @property
    def rate_events_topic(self) -> str:
        return self.topic_name(RATE_EVENTS)

    @property
    def rate_ticks_topic(self) -> str:
        return self.topic_name(RATE_TICKS)

    @property
    def rate_breaches_topic(self) -> str:
        return self.topic_name(RATE_BREACHES)

    @property
    def content_misuse_topic(self) -> str:
        return self.topic_name(CONTENT_MISUSE)

    @property
    def erasure_events_topic(self) -> str:
        return self.topic_name(ERASURE_EVENTS)

    @property
    def enforcement_events_topic(self) -> str:
        return self.topic_name(ENFORCEMENT_EVENTS)


def raw_topic(app: faust.App, settings: Settings, *specs: TopicSpec) -> faust.TopicT:
    """A topic (or several, co-partitioned, read by one agent) whose keys and values reach agents
    as bytes (our codec decodes them)."""
    return app.topic(
        *(spec.full_name(settings) for spec in specs),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )


def _raw_table(
    app: faust.App, settings: Settings, name: str, help_text: str, *, table: Any = None
) -> Any:
    return (table or app.Table)(
        name,
        default=None,
        key_type=bytes,  # bytes means the raw codec in faust tables; values are our Avro
        value_type=bytes,
        partitions=settings.topic_partitions,
        help=help_text,
    )


def _broker_url(settings: Settings) -> list[str]:
    return [f"kafka://{host.strip()}" for host in settings.kafka_bootstrap_servers.split(",")]


def heartbeat_interval_s(session_timeout_s: float) -> float:
    """How often a worker tells the group it is alive."""
    return min(3.0, session_timeout_s / 6)


def new_faust_app(settings: Settings, app_id: str, *, store: str, datadir: Path) -> faust.App:
    """A faust App configured the way the gate runs (the benchmark's baseline reuses it)."""
    apply_faust_fixes()
    return faust.App(
        app_id,
        broker=_broker_url(settings),
        store=store,
        datadir=str(datadir),
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # No producer linger: 5 ms made a forward-only agent 1.5x faster (0.21x -> 0.32x of raw
        # aiokafka) but not the gate, which is CPU-bound on its own work (0.11x -> 0.10x), and it
        # added about 6 ms to the click-to-effective p50 (paired runs, benchmarks/README.md).
        # Bounded stream buffers and polls: faust pauses a partition at its buffer's high-pressure
        # mark (maxsize / 1.25); a poll never brings more than the headroom above it.
        stream_buffer_maxsize=4096,
        broker_max_poll_records=500,
        table_standby_replicas=1,
        broker_session_timeout=settings.worker_session_timeout_s,
        # A killed worker is noticed after the session timeout; the survivor hears of the
        # rebalance at its next heartbeat. Six heartbeats a session keep that second short and
        # leave five to be late before a loaded worker is thrown out (none were, at 400 and
        # 800 sends/s on 2 cores: benchmarks/takeover.py).
        broker_heartbeat_interval=heartbeat_interval_s(settings.worker_session_timeout_s),
        logging_config=None,
    )


def build_gate(
    settings: Settings,
    *,
    policy: Policy | None = None,
    worker_name: str = "worker-1",
    clock: Clock | None = None,
    emitter: Emitter | None = None,
    offsets: OffsetSource | None = None,
    erasure_offsets: OffsetSource | None = None,
    datadir: Path | None = None,
) -> Gate:
    """Build the app; `emitter`, `offsets` and `erasure_offsets` are replaced only by agent
    tests (which script both topics' offsets or neither)."""
    policy = policy or load_policy(settings.policy_file)
    datadir = datadir or settings.data_dir / "faust" / settings.app_id / worker_name
    datadir.mkdir(parents=True, exist_ok=True)
    app = new_faust_app(settings, settings.app_id, store=settings.table_store, datadir=datadir)
    codec = default_codec()

    def table(changelog: TopicSpec[Any], *, trusted: bool = True) -> Any:
        """The table whose changelog the catalogue names, of the record type it holds."""
        if changelog.record is None:
            raise TypeError(f"the catalogue names no record for {changelog.name}")
        raw = _raw_table(app, settings, changelog.table_name(), changelog.carries)
        return RecordTable(raw, codec, changelog.record, trusted=trusted)

    suppressions = table(SUPPRESSIONS_CHANGELOG)
    bounces = table(BOUNCES_CHANGELOG)
    consents = table(CONSENTS_CHANGELOG)
    send_history = table(SEND_HISTORY_CHANGELOG)
    deadlines = CONSENT_DEADLINES_CHANGELOG
    deadline_table = _raw_table(app, settings, deadlines.table_name(), deadlines.carries)
    # The rate keeper's and enforcer's states change with nearly every event: nothing to reuse.
    enforcement = Enforcement(
        providers=load_providers(),
        rate_keeper_inputs=raw_topic(app, settings, RATE_EVENTS, RATE_TICKS),
        enforcer_inputs=raw_topic(app, settings, RATE_BREACHES, ACCOUNT_COMMANDS, CONTENT_MISUSE),
        enforcement_events=raw_topic(app, settings, ENFORCEMENT_EVENTS),
        rate_inputs=table(RATE_INPUTS_CHANGELOG, trusted=False),
        rates=table(RATES_CHANGELOG, trusted=False),
        standings=table(STANDINGS_CHANGELOG, trusted=False),
    )
    clicks_topic = UNSUBSCRIBE_CLICKS.full_name(settings)
    progress = PartitionProgress()
    offsets = offsets or BrokerOffsets(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=clicks_topic,
        group_id=settings.app_id,
    )
    fence = StateFence(
        offsets,
        progress,
        timeout_s=settings.state_fence_timeout_s,
        state_topic=clicks_topic,
    )
    erasures_topic = ERASURE_REQUESTS.full_name(settings)
    erasure_fence = StateFence(
        erasure_offsets
        or BrokerOffsets(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=erasures_topic,
            group_id=settings.app_id,
        ),
        progress,
        timeout_s=settings.state_fence_timeout_s,
        state_topic=erasures_topic,
    )
    sender_domains = TopicCopy(
        SENDER_DOMAINS.full_name(settings), partial(domains_of_record, codec)
    )
    accounts = TopicCopy(ENFORCEMENT_EVENTS.full_name(settings), partial(account_of_record, codec))
    return Gate(
        settings=settings,
        policy=policy,
        app=app,
        codec=codec,
        keyer=RecipientKeyer(settings.recipient_secret()),
        signing=Signing(
            verp=verp_signer(settings),
            tokens=unsubscribe_tokens(settings, policy.unsubscribe),
            unsubscribe_base_url=settings.unsubscribe_base_url,
            bounce_domain=settings.bounce_domain,
        ),
        clock=clock or _clock(settings),
        emitter=emitter or ProducerEmitter(app),
        progress=progress,
        offsets=offsets,
        fence=fence,
        erasure_fence=erasure_fence,
        send_requests=raw_topic(app, settings, SEND_REQUESTS),
        unsubscribe_clicks=raw_topic(app, settings, UNSUBSCRIBE_CLICKS),
        suppressions=suppressions,
        delivery_events=raw_topic(app, settings, DELIVERY_EVENTS),
        feedback_reports=raw_topic(app, settings, FEEDBACK_REPORTS),
        inbound_mail=raw_topic(app, settings, INBOUND_MAIL),
        esp_webhooks=raw_topic(app, settings, ESP_WEBHOOKS),
        bounces=bounces,
        consent_events=raw_topic(app, settings, CONSENT_EVENTS),
        consent_deadlines=raw_topic(app, settings, CONSENT_DEADLINES),
        consents=consents,
        erasure_requests=raw_topic(app, settings, ERASURE_REQUESTS),
        address_corrections=raw_topic(app, settings, ADDRESS_CORRECTIONS),
        deadline_table=deadline_table,
        send_history=send_history,
        enforcement=enforcement,
        sender_domains_topic=raw_topic(app, settings, SENDER_DOMAINS),
        sender_domains=sender_domains,
        accounts=accounts,
        broadcast=BroadcastState(
            settings.kafka_bootstrap_servers,
            settings.topic_partitions,
            (sender_domains, accounts),
            offsets=offsets,
            timeout_s=settings.state_fence_timeout_s,
        ),
        restored=RestoreFence(
            (suppressions.table, consents.table, send_history.table),
            offsets,
            timeout_s=settings.state_fence_timeout_s,
        ),
    )


def _clock(settings: Settings) -> Clock:
    return FileClock(settings.clock_file) if settings.clock_file else SystemClock()
