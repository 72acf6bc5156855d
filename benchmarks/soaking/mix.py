"""What the soak mixes into its load of sends, each kind at its own rate (Poisson arrivals, so
the gate also sees bursts): unsubscribe clicks, consent grants and withdrawals, complaints, and
probes.

Clicks, consent events and complaints go through `WebPublisher`, the unsubscribe service's own
path to Kafka (`sendgate web`), so each is published as a person's click would be and is known
from its acknowledgement. A record the broker did not acknowledge in time (the service would
answer 503) is counted, not retried: nothing was promised for it.

- A click (`clicks_per_s`): a recipient of the pool leaves one list of their account (70 %), the
  whole account (20 %) or all mail through the platform (10 %); the pool keeps mailing them.
- A consent event (`consents_per_s`): half are sign-ups of new people, who join the pool once
  acknowledged; half are withdrawals of a pool recipient's consent to their account.
- A complaint (`complaints_per_s`): an abuse report about a pool recipient's account; every
  `FLAGGED_EVERY`-th is about the flagged account (`soaking.workload`), whose second complaint
  carries it over the complaint line. Each implies an account suppression, which the gate writes
  as a click of its own (`soaking.checks`).
- A probe (`probes_per_min`): a list click for a recipient with no suppression yet, then, once it
  is acknowledged, `PROBE_SENDS` sends to that person and list every `PROBE_INTERVAL_S`: the race
  the state fence is there for. Every one of them must be denied.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from harness.content import complaint, consent_grant, list_click
from harness.producing import collect_errors

from soaking.checks import ProbeRecord, Registry, Suppression
from soaking.workload import LISTS, Recipient, Workload
from streams.core.errors import SendgateError
from streams.core.records import (
    ConsentEvent,
    FeedbackReport,
    SuppressionScope,
    UnsubscribeClick,
)
from streams.core.settings import Settings
from streams.edges.web.publishing import WebPublisher
from streams.topics import SEND_REQUESTS

__all__ = ["FLAGGED_EVERY", "PROBE_INTERVAL_S", "PROBE_SENDS", "Mix", "MixRates"]

FLAGGED_EVERY = 10
"""Every this many complaints, one is about the flagged account (the first of all is)."""
PROBE_SENDS = 10
PROBE_INTERVAL_S = 0.02
SCOPES: tuple[tuple[SuppressionScope, float], ...] = (
    ("list", 0.7),
    ("account", 0.2),
    ("platform", 0.1),
)


@dataclass(frozen=True)
class MixRates:
    clicks_per_s: float
    consents_per_s: float
    complaints_per_s: float
    probes_per_min: float


@dataclass
class MixCounts:
    clicks: Counter[str] = field(default_factory=Counter)
    """By scope."""
    grants: int = 0
    withdrawals: int = 0
    complaints: int = 0
    flagged_complaints: int = 0
    probes: int = 0
    probe_sends: int = 0
    not_acknowledged: Counter[str] = field(default_factory=Counter)
    """By kind: records the broker did not acknowledge in time."""


class Mix:
    """The side traffic of the soak; `run` until `stop`."""

    def __init__(
        self, settings: Settings, workload: Workload, registry: Registry, rates: MixRates
    ) -> None:
        self.settings = settings
        self.workload = workload
        self.registry = registry
        self.rates = rates
        self.rng = random.Random(workload.rng.random())
        self.counts = MixCounts()
        self.errors: list[BaseException] = []
        self.publisher = WebPublisher(settings, keyer=workload.keyer)
        self.probe_producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=0
        )
        self._probes: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.wait_for(self.probe_producer.start(), 15)
        try:
            await asyncio.gather(
                self._every(self.rates.clicks_per_s, self._click, stop),
                self._every(self.rates.consents_per_s, self._consent, stop),
                self._every(self.rates.complaints_per_s, self._complaint, stop),
                self._every(self.rates.probes_per_min / 60, self._start_probe, stop),
            )
            if self._probes:
                await asyncio.gather(*self._probes)
        finally:
            await self.probe_producer.stop()
            await self.publisher.close()

    async def _every(
        self, per_s: float, action: Callable[[int], Awaitable[None]], stop: asyncio.Event
    ) -> None:
        """`action(0)`, `action(1)`, ... at Poisson arrivals of `per_s` a second, until `stop`."""
        if per_s <= 0:
            return
        number = 0
        while True:
            try:
                await asyncio.wait_for(stop.wait(), self.rng.expovariate(per_s))
                return
            except TimeoutError:
                pass
            await action(number)
            number += 1

    async def _publish(
        self, record: UnsubscribeClick | ConsentEvent | FeedbackReport, kind: str
    ) -> float | None:
        """Publish as the web service does; the wall time of the acknowledgement, None if none
        came in time."""
        try:
            await self.publisher.publish(record)
        except SendgateError:
            self.counts.not_acknowledged[kind] += 1
            return None
        return time.time()

    def _pool_pick(self) -> Recipient:
        pool = self.workload.recipients
        return pool[self.rng.randrange(len(pool))]

    def _scope(self) -> SuppressionScope:
        draw = self.rng.random()
        for scope, share in SCOPES:
            if draw < share:
                return scope
            draw -= share
        return SCOPES[-1][0]

    async def _click(self, number: int) -> None:
        person, scope = self._pool_pick(), self._scope()
        list_id = LISTS[self.rng.randrange(len(LISTS))] if scope == "list" else None
        click = UnsubscribeClick(
            click_id=f"soak-{self.workload.tag}-click-{number}",
            recipient_key=person.key.decode(),
            scope=scope,
            account_id=person.account if scope != "platform" else None,
            list_id=list_id,
            method="one_click",
            clicked_at=datetime.now(UTC),
        )
        acked = await self._publish(click, "click")
        if acked is not None:
            self.counts.clicks[scope] += 1
            self.registry.suppress(
                person.key, Suppression(scope, click.account_id, list_id, acked, "click")
            )

    async def _consent(self, number: int) -> None:
        tag, now = self.workload.tag, datetime.now(UTC)
        if self.rng.random() < 0.5:
            person = self.workload.sign_up()
            event = consent_grant(
                self.workload.keyer, person.address, person.account, f"soak-{tag}-c{number}", now
            )
            if await self._publish(event, "consent grant") is not None:
                self.counts.grants += 1
                self.workload.recipients.append(person)
            return
        person = self._pool_pick()
        event = ConsentEvent(
            event_id=f"soak-{tag}-c{number}",
            recipient_key=person.key.decode(),
            kind="withdraw",
            account_id=person.account,
            source_kind="form",
            source_id=f"{person.account}-preferences",
            occurred_at=now,
        )
        acked = await self._publish(event, "consent withdrawal")
        if acked is not None:
            self.counts.withdrawals += 1
            self.registry.withdrawn.setdefault((person.key, person.account), acked)

    async def _complaint(self, number: int) -> None:
        flagged = number % FLAGGED_EVERY == 0
        pool = self.workload.flagged if flagged else self.workload.recipients
        person = pool[self.rng.randrange(len(pool))]
        report = complaint(
            f"soak-{self.workload.tag}-arf-{number}", person.key.decode(), person.account
        )
        if await self._publish(report, "complaint") is not None:
            self.counts.complaints += 1
            self.counts.flagged_complaints += flagged

    async def _start_probe(self, number: int) -> None:
        task = asyncio.create_task(self._probe(number))
        self._probes.add(task)
        task.add_done_callback(self._probes.discard)
        task.add_done_callback(self._keep_error)

    def _keep_error(self, task: asyncio.Task[None]) -> None:
        """A probe that failed ends the soak (the watch reads `errors`), not silently."""
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(task.exception())  # type: ignore[arg-type]

    async def _probe(self, number: int) -> None:
        person = self._pool_pick()
        for _ in range(100):  # someone nothing has stopped yet: the click alone must deny
            if self.registry.is_clear(person.key, person.account):
                break
            person = self._pool_pick()
        else:
            return
        list_index = self.rng.randrange(len(LISTS))
        list_id = LISTS[list_index]
        click = list_click(
            f"soak-{self.workload.tag}-probe-{number}",
            person.key.decode(),
            person.account,
            list_id,
            datetime.now(UTC),
        )
        probe = self.registry.probes[person.key] = ProbeRecord(person.account, list_id)
        acked = await self._publish(click, "probe click")
        if acked is None:
            del self.registry.probes[person.key]
            return
        probe.acked = acked
        self.registry.suppress(
            person.key, Suppression("list", person.account, list_id, acked, "probe")
        )
        self.counts.probes += 1
        topic = SEND_REQUESTS.full_name(self.settings)
        on_ack = collect_errors(self.errors)
        for _ in range(PROBE_SENDS):
            key, value = self.workload.request(person, list_index)
            (await self.probe_producer.send(topic, value=value, key=key)).add_done_callback(on_ack)
            self.counts.probe_sends += 1
            await asyncio.sleep(PROBE_INTERVAL_S)
