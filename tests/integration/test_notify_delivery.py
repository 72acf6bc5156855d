"""`sendgate notify` on the real broker, to real HTTP receivers on loopback.

A receiver that answers 503 before it takes the event: the notifier tries again with growing
waits, commits nothing until the receiver answered 200 (a notifier stopped before that leaves
the event to the next, which sends it again with the same id and bytes), and the committed event
is not sent again. A receiver that never takes an event, and one that refuses it: each gets the
event's dead letter, with its origin, after the policy's tries (at once for the refusal), and
the offset moves on to the account's next event, which every receiver gets after the first.
Every request is verified with the README's own verifying code.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from contextlib import suppress

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import RecordMetadata
from prometheus_client import REGISTRY
from pydantic import SecretStr

from streams.core.records import DeadLetter
from streams.core.settings import Settings
from streams.edges.admin import consumed_by_group, create_topics, stable_group_members
from streams.edges.notify import Delivery, FailedTry, NotifyTotals, notify_group, run_notifier
from streams.reputation.standing import EnforcementEvent
from streams.topics import CONSENT_NOTICES, DEAD_LETTERS, ENFORCEMENT_EVENTS, default_codec
from tests.support.kafka import TopicReader, new_producer
from tests.support.notifications import ScriptedReceiver, readme_function, strike_event

SECRET = "integration-notify-secret-0123456789"


def notify_settings(settings: Settings, *urls: str, tries: int) -> Settings:
    return settings.model_copy(
        update={
            "notify_urls": urls,
            "notify_secret": SecretStr(SECRET),
            "notify_tries": tries,
            "notify_retry_base_s": 0.05,
            "notify_retry_max_s": 0.2,
            "notify_timeout_s": 5.0,
        }
    )


class Notifier:
    """`run_notifier` in a task, with what it reported."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.deliveries: list[Delivery] = []
        self.failed_tries: list[FailedTry] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[NotifyTotals] | None = None

    def start(self) -> Notifier:
        self._task = asyncio.create_task(
            run_notifier(
                self.settings,
                stop=self._stop,
                on_delivered=self.deliveries.append,
                on_failed_try=self.failed_tries.append,
            )
        )
        return self

    async def stop(self) -> NotifyTotals:
        assert self._task is not None
        self._stop.set()
        return await asyncio.wait_for(self._task, 30)

    def check_running(self) -> None:
        if self._task is not None and self._task.done():
            self._task.result()  # raises what stopped it
            raise AssertionError("the notifier stopped by itself")


async def eventually(
    condition: Callable[[], bool], describe: str, notifier: Notifier, timeout_s: float = 30.0
) -> None:
    """Until `condition` holds (the timeout only keeps a broken run from hanging)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        notifier.check_running()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {describe}")
        await asyncio.sleep(0.05)


async def publish(settings: Settings, *events: EnforcementEvent) -> list[RecordMetadata]:
    producer = await new_producer(settings)
    codec = default_codec()
    try:
        return [
            await producer.send_and_wait(
                ENFORCEMENT_EVENTS.full_name(settings),
                codec.encode(event),
                key=event.account_id.encode(),
            )
            for event in events
        ]
    finally:
        await producer.stop()


async def publish_bytes(settings: Settings, key: bytes, value: bytes) -> RecordMetadata:
    producer = await new_producer(settings)
    try:
        return await producer.send_and_wait(ENFORCEMENT_EVENTS.full_name(settings), value, key=key)
    finally:
        await producer.stop()


async def committed(settings: Settings, partition: TopicPartition) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(notify_group(settings))
    finally:
        await admin.close()
    found = offsets.get(partition)
    return None if found is None or found.offset < 0 else found.offset


async def until_committed(
    settings: Settings, partition: TopicPartition, offset: int, notifier: Notifier
) -> None:
    deadline = time.monotonic() + 30
    while (await committed(settings, partition)) != offset:
        notifier.check_running()
        if time.monotonic() > deadline:
            raise AssertionError(f"{partition} not committed at {offset}")
        await asyncio.sleep(0.1)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_retried_with_backoff_and_committed_only_once_delivered(settings: Settings) -> None:
    await create_topics(settings, [ENFORCEMENT_EVENTS, DEAD_LETTERS, CONSENT_NOTICES])
    receiver = await ScriptedReceiver(SECRET.encode(), {"/hook": [503]}).start()
    host = f"127.0.0.1:{receiver.port}"
    failed_before = sample("sendgate_notify_failed_attempts_total", host=host, failure="503")
    settings = notify_settings(settings, receiver.url("/hook"), tries=50)
    strike = strike_event(1)
    started: list[Notifier] = []

    def notifier() -> Notifier:
        started.append(Notifier(settings).start())
        return started[-1]

    try:
        (sent,) = await publish(settings, strike)
        partition = TopicPartition(sent.topic, sent.partition)
        lag = {"topic": sent.topic, "partition": str(sent.partition)}

        # The receiver is down: the first notifier tries, and tries again, and commits nothing.
        first = notifier()
        await eventually(lambda: len(receiver.received) >= 2, "two tries", first)
        await eventually(lambda: sample("sendgate_notify_lag", **lag) == 1, "lag 1", first)
        assert await committed(settings, partition) is None
        await first.stop()
        assert first.deliveries == []
        assert await committed(settings, partition) is None
        tries_before_restart = len(receiver.received)

        # The next notifier starts from the uncommitted event: two more 503s, then a 200.
        receiver.scripts["/hook"] = [503, 503, 200]
        second = notifier()
        await eventually(lambda: len(second.deliveries) == 1, "the delivery", second)
        await until_committed(settings, partition, sent.offset + 1, second)
        await eventually(lambda: sample("sendgate_notify_lag", **lag) == 0, "lag 0", second)

        (delivery,) = second.deliveries
        assert (delivery.outcome, delivery.event_id, delivery.attempts) == (
            "delivered",
            strike.event_id,
            3,
        )
        # Each wait is a point of its step's equal-jitter range: 0.05 s, then 0.1 s.
        first_wait, second_wait = delivery.waits_s
        assert 0.025 <= first_wait <= 0.05
        assert 0.05 <= second_wait <= 0.1
        requests = receiver.at("/hook")
        assert [r.status for r in requests[tries_before_restart:]] == [503, 503, 200]
        assert all(r.status == 503 for r in requests[:tries_before_restart])
        # Every try, before and after the restart: the same id, the same bytes, a good signature.
        assert {r.event_id for r in requests} == {strike.event_id}
        assert len({r.body for r in requests}) == 1
        assert all(r.verified for r in requests)
        body = json.loads(requests[-1].body)
        assert (body["id"], body["type"], body["account_id"]) == (
            strike.event_id,
            "enforcement.strike_issued",
            "acme",
        )
        assert body["data"]["rate"] == "0.002000000"
        assert body["occurred_at"] == "2025-03-10T06:00:00.000Z"
        # The receiver dedupes by id: one event taken, however often it was offered.
        assert [r.event_id for r in requests if r.status == 200] == [strike.event_id]
        failed = sample("sendgate_notify_failed_attempts_total", host=host, failure="503")
        assert failed - failed_before == len(requests) - 1

        # Committed means done: the next event of the account comes, the first does not again.
        receiver.scripts["/hook"] = [200]
        (later,) = await publish(settings, strike_event(2))
        await eventually(lambda: len(second.deliveries) == 2, "the second delivery", second)
        await second.stop()
        # The README's way to run it until one event is done with, as the demo does.
        strike_3 = strike_event(3)
        notify_until_done_with = readme_function("notify_until_done_with")
        third = asyncio.create_task(notify_until_done_with(settings, strike_3.event_id))
        (last,) = await publish(settings, strike_3)
        totals = await asyncio.wait_for(third, 60)
        assert await committed(settings, partition) == last.offset + 1
        assert (totals.events, totals.delivered, totals.dead_lettered) == (1, 1, 0)
        taken = [r.event_id for r in receiver.at("/hook") if r.status == 200]
        assert taken == [strike.event_id, "strike-acme-2", strike_3.event_id]
        assert later.partition == last.partition == sent.partition
    finally:
        for running in started:
            with suppress(Exception):
                await running.stop()
        await receiver.stop()


async def test_a_receiver_that_never_takes_an_event_gets_a_dead_letter_and_the_offset_moves_on(
    settings: Settings,
) -> None:
    await create_topics(settings, [ENFORCEMENT_EVENTS, DEAD_LETTERS, CONSENT_NOTICES])
    billing = await ScriptedReceiver(SECRET.encode(), {"/billing": [200]}).start()
    support = await ScriptedReceiver(SECRET.encode(), {"/support": [503], "/gone": [410]}).start()
    support_host = f"127.0.0.1:{support.port}"
    before = {
        "failed_503": sample(
            "sendgate_notify_failed_attempts_total", host=support_host, failure="503"
        ),
        "failed_410": sample(
            "sendgate_notify_failed_attempts_total", host=support_host, failure="410"
        ),
        "lettered": sample(
            "sendgate_notify_deliveries_total", host=support_host, outcome="dead_lettered"
        ),
        "exhausted": sample("sendgate_notify_dead_letters_total", cause="retries_exhausted"),
        "refused": sample("sendgate_notify_dead_letters_total", cause="refused"),
        "undecodable": sample("sendgate_notify_dead_letters_total", cause="undecodable"),
    }
    settings = notify_settings(
        settings,
        billing.url("/billing"),
        support.url("/support") + "?token=hunter2-never-shown",
        support.url("/gone"),
        tries=3,
    )
    first, third = strike_event(1), strike_event(3)
    notifier = Notifier(settings)
    try:
        sent = await publish(settings, first)
        garbled = await publish_bytes(settings, b"acme", b"no avro here")
        sent += await publish(settings, third)
        partition = TopicPartition(sent[0].topic, sent[0].partition)
        assert sent[1].partition == garbled.partition == partition.partition
        notifier.start()
        await until_committed(settings, partition, sent[1].offset + 1, notifier)
        lag = {"topic": partition.topic, "partition": str(partition.partition)}
        await eventually(lambda: sample("sendgate_notify_lag", **lag) == 0, "lag 0", notifier)
        totals = await notifier.stop()

        ids = [first.event_id, third.event_id]
        # Billing took both, in the account's order.
        assert [r.event_id for r in billing.at("/billing")] == ids
        assert all(r.verified for r in billing.received + support.received)
        # Support failed each event three times (the policy's tries), one event after the other;
        # the path that refuses was asked once per event.
        assert [r.event_id for r in support.at("/support")] == [ids[0]] * 3 + [ids[1]] * 3
        assert [r.event_id for r in support.at("/gone")] == ids
        # Each failed try as it happened: numbered, a wait before each next one, none after the
        # last, and none after a refusal.
        tries = [
            (t.event_id, t.receiver.rsplit("/", 1)[1], t.attempt, t.next_wait_s is None)
            for t in notifier.failed_tries
        ]
        for event_id in ids:
            assert [t for t in tries if t[:2] == (event_id, "support")] == [
                (event_id, "support", 1, False),
                (event_id, "support", 2, False),
                (event_id, "support", 3, True),
            ]
            assert [t for t in tries if t[:2] == (event_id, "gone")] == [
                (event_id, "gone", 1, True)
            ]
        waits = [t.next_wait_s for t in notifier.failed_tries if t.next_wait_s is not None]
        assert all(0.025 <= wait <= 0.1 for wait in waits)

        async with TopicReader(settings, DEAD_LETTERS.full_name(settings), DeadLetter) as reader:
            letters = await reader.read_until(lambda got: len(got) >= 5, 30, "5 dead letters")
        assert len(letters) == 5
        # The record that could not be read: set aside as the codec found it, sent to no one.
        (unreadable,) = [letter for letter in letters if letter.origin_offset == garbled.offset]
        assert (unreadable.error_kind, unreadable.agent) == ("undecodable", "notify")
        assert unreadable.original_value == b"no avro here"
        letters = [letter for letter in letters if letter is not unreadable]
        codec = default_codec()
        for letter in letters:
            assert (letter.origin_topic, letter.origin_partition) == tuple(partition)
            assert (letter.agent, letter.error_kind) == ("notify", "invalid")
            assert letter.original_key == b"acme"
            assert "hunter2" not in letter.reason
        by_offset = {(letter.origin_offset, "/gone" in letter.reason): letter for letter in letters}
        for metadata, event in zip(sent, (first, third), strict=True):
            exhausted = by_offset[(metadata.offset, False)]
            refused = by_offset[(metadata.offset, True)]
            assert codec.decode(exhausted.original_value or b"", EnforcementEvent) == event
            assert exhausted.reason == (
                f"POST http://{support_host}/support failed 3 times: 503 Service Unavailable"
            )
            assert refused.reason.startswith(f"POST http://{support_host}/gone refused: 410 Gone")

        outcomes = sorted((d.event_id, d.receiver, d.outcome) for d in notifier.deliveries)
        assert outcomes == sorted(
            [(event_id, billing.url("/billing"), "delivered") for event_id in ids]
            + [(event_id, support.url("/support"), "dead_lettered") for event_id in ids]
            + [(event_id, support.url("/gone"), "dead_lettered") for event_id in ids]
        )
        assert (totals.events, totals.delivered, totals.dead_lettered) == (3, 2, 5)
        after = {
            "failed_503": sample(
                "sendgate_notify_failed_attempts_total", host=support_host, failure="503"
            ),
            "failed_410": sample(
                "sendgate_notify_failed_attempts_total", host=support_host, failure="410"
            ),
            "lettered": sample(
                "sendgate_notify_deliveries_total", host=support_host, outcome="dead_lettered"
            ),
            "exhausted": sample("sendgate_notify_dead_letters_total", cause="retries_exhausted"),
            "refused": sample("sendgate_notify_dead_letters_total", cause="refused"),
            "undecodable": sample("sendgate_notify_dead_letters_total", cause="undecodable"),
        }
        assert {name: after[name] - before[name] for name in before} == {
            "failed_503": 6,
            "failed_410": 2,
            "lettered": 4,
            "exhausted": 2,
            "refused": 2,
            "undecodable": 1,
        }
    finally:
        with suppress(Exception):
            await notifier.stop()
        await billing.stop()
        await support.stop()


async def test_a_notifier_joining_the_group_takes_partitions_and_order_holds(
    settings: Settings,
) -> None:
    """Events of five accounts wait on a receiver that answers 503 while a second notifier joins
    the group: the first gives up what it had in flight for the partitions it loses, and once
    the receiver takes events every one arrives, each account's in order, and every partition
    is committed to its end."""
    await create_topics(settings, [ENFORCEMENT_EVENTS, DEAD_LETTERS, CONSENT_NOTICES])
    receiver = await ScriptedReceiver(SECRET.encode(), {"/hook": [503]}).start()
    settings = notify_settings(settings, receiver.url("/hook"), tries=1000)
    accounts = ("acme", "maple", "globex", "initech", "blastmail")
    events = [strike_event(n, account_id=account) for account in accounts for n in (1, 2, 3)]
    sent = await publish(settings, *events)
    partitions = {metadata.partition for metadata in sent}
    assert len(partitions) > 1
    first, second = Notifier(settings), Notifier(settings)
    try:
        first.start()
        await eventually(
            lambda: len({r.event_id for r in receiver.received}) == len(partitions),
            "a try of each partition's first event",
            first,
        )
        second.start()
        group = notify_group(settings)
        deadline = time.monotonic() + 30
        while await stable_group_members(settings, group) != 2:
            assert time.monotonic() < deadline, "the group did not settle on two notifiers"
            await asyncio.sleep(0.2)
        receiver.scripts["/hook"] = [200]
        topic = ENFORCEMENT_EVENTS.full_name(settings)
        deadline = time.monotonic() + 30
        while (done := await consumed_by_group(settings, group, topic)) != (15, 15):
            first.check_running()
            second.check_running()
            assert time.monotonic() < deadline, f"committed {done}"
            await asyncio.sleep(0.2)
    finally:
        with suppress(Exception):
            await first.stop()
        with suppress(Exception):
            await second.stop()
        await receiver.stop()

    taken = [r.event_id for r in receiver.received if r.status == 200]
    assert set(taken) == {event.event_id for event in events}
    for account in accounts:
        # At least once: a rebalance after a 200 but before the commit sends the event again
        # (receivers dedupe on its id); the order promised is that of first arrivals.
        firsts = dict.fromkeys(e for e in taken if e.startswith(f"strike-{account}-"))
        assert list(firsts) == sorted(firsts), account
    assert all(r.verified for r in receiver.received)
    assert first.deliveries and second.deliveries
