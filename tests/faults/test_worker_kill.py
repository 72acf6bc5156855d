"""A worker killed with SIGKILL in the middle of restoring its tables, and another right after a
rebalance gave it partitions.

The tables hold a few hundred thousand seeded entries (written straight into the changelogs, as
the large-state benchmark does), plus suppressions and consents the keepers folded from real
clicks and grants. Sends wait as a backlog while a brand-new worker restores; it is killed once it
has restored part of its tables and not the rest, and started again on the store it left half
written. Later a third worker joins, is killed as soon as the group gave it partitions, and the
second takes everything back, while sends, and unsubscribes followed by sends to the same people,
keep coming. The promises under test: every request is decided, no send to a suppressed
recipient is allowed (seeded, folded before, or unsubscribed during the faults), no opted-in
recipient is denied, and every click is applied.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision, SuppressionChange
from streams.core.settings import Settings
from streams.edges.web.serve import free_loopback_port
from streams.policy import load_policy
from streams.topics import (
    CONSENT_EVENTS,
    CONSENTS_CHANGELOG,
    SEND_DECISIONS,
    SEND_REQUESTS,
    SUPPRESSION_CHANGES,
    SUPPRESSIONS_CHANGELOG,
    UNSUBSCRIBE_CLICKS,
    default_codec,
)
from tests.support.factory import consent_event, send_request, unsubscribe_click
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    delete_all_topics,
    new_producer,
    wait_until_consumed,
)
from tests.support.workers import GateWorker, http_get, members_are, wait_for

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from harness.seed import SeededState, account_of, address_of, seed_records  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SEEDED = 150_000
"""Seeded consents (and as many suppressions): enough that a restore takes a while."""
FOLDED = 300
"""Recipients unsubscribed through real clicks before the faults."""
FREE = 300
"""Opted-in recipients who must keep being allowed."""
DURING = 100
"""Recipients who unsubscribe while the faults happen, each mailed right after."""
SUPPRESSION_RULES = {"account-unsubscribed", "list-unsubscribed", "platform-suppressed"}
REMAINING = re.compile(r'^sendgate_recovery_remaining_records\{kind="active"\} (\S+)$', re.M)


def remaining_to_restore(worker: GateWorker) -> float | None:
    """The worker's active records still to restore, from its /metrics; None if it has none to
    tell yet (not serving, or recovery not built)."""
    status, text = get(worker, "/metrics")
    found = REMAINING.search(text) if status == 200 else None
    return float(found[1]) if found else None


def get(worker: GateWorker, path: str) -> tuple[int, str]:
    return http_get(worker.metrics_port, path, timeout_s=2)


async def ready(worker: GateWorker) -> bool:
    assert worker.alive(), worker.log_tail()
    status, _ = await asyncio.to_thread(get, worker, "/readyz")
    return status == 200


async def assigned(worker: GateWorker) -> bool:
    """Whether the group gave the worker partitions (its /readyz says how many)."""
    assert worker.alive(), worker.log_tail()
    status, body = await asyncio.to_thread(get, worker, "/readyz")
    return status in (200, 503) and json.loads(body)["assigned_partitions"] > 0


async def kill_mid_restore(worker: GateWorker, timeout_s: float = 180.0) -> tuple[float, float]:
    """SIGKILL `worker` once it has restored part of its tables but not all: (the most records it
    had to restore, the records left when it was killed)."""
    most = 0.0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert worker.alive(), worker.log_tail()
        left = await asyncio.to_thread(remaining_to_restore, worker)
        if left is not None:
            most = max(most, left)
            if 0 < left < most * 0.9:
                worker.kill()
                return most, left
            if most > 0 and left == 0:
                raise AssertionError(f"the worker restored all {most:.0f} records before a poll")
        await asyncio.sleep(0.01)
    raise AssertionError(f"the worker never started restoring: {worker.log_tail()}")


async def test_workers_killed_while_restoring_and_after_a_rebalance_lose_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"wkill{time.time_ns() % 10**10}-",
        topic_partitions=4,
        data_dir=tmp_path / "data",
        recipient_key_secret=SecretStr("worker-kill-test-secret-0123456789"),
        state_fence_timeout_s=180.0,
    )
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    seeded = SeededState(SEEDED)
    sends_topic = SEND_REQUESTS.full_name(settings)
    await create_all_topics(settings)
    producer = await new_producer(settings)
    workers: list[GateWorker] = []
    wanted: dict[str, bool] = {}
    """Every request id published, and whether it must be allowed."""

    async def send(address: str, request_id: str, *, allowed: bool, **fields: object) -> None:
        request = send_request(
            recipient=address, request_id=request_id, requested_at=datetime.now(UTC), **fields
        )
        await producer.send(sends_topic, codec.encode(request), key=keyer.key(address).encode())
        wanted[request_id] = allowed

    async def click(address: str, click_id: str) -> None:
        unsubscribe = unsubscribe_click(
            recipient_key=keyer.key(address),
            click_id=click_id,
            scope="account",
            clicked_at=datetime.now(UTC),
        )
        await (
            await producer.send(
                UNSUBSCRIBE_CLICKS.full_name(settings),
                codec.encode(unsubscribe),
                key=unsubscribe.recipient_key.encode(),
            )
        )

    def worker(name: str) -> GateWorker:
        started = GateWorker(settings, name, tmp_path, metrics_port=free_loopback_port())
        workers.append(started)
        return started

    try:
        for topic, key, value in seed_records(
            seeded,
            keyer,
            codec,
            load_policy(settings.policy_file),
            suppressions_topic=SUPPRESSIONS_CHANGELOG.full_name(settings),
            consents_topic=CONSENTS_CHANGELOG.full_name(settings),
        ):
            await producer.send(topic, value, key=key)
        folded = [f"folded{i}@example.com" for i in range(FOLDED)]
        free = [f"free{i}@example.org" for i in range(FREE)]
        during = [f"during{i}@example.com" for i in range(DURING)]
        for address in folded + free + during:
            grant = consent_event(
                recipient_key=keyer.key(address),
                event_id=f"opt-in-{address}",
                occurred_at=datetime.now(UTC),
            )
            await producer.send(
                CONSENT_EVENTS.full_name(settings),
                codec.encode(grant),
                key=grant.recipient_key.encode(),
            )
        for i, address in enumerate(folded):
            await click(address, f"folded-{i}")
        await producer.flush()

        first = worker("worker-a").start()
        await wait_until_consumed(
            settings, settings.app_id, CONSENT_EVENTS.full_name(settings), timeout_s=300
        )
        async with TopicReader(
            settings, SUPPRESSION_CHANGES.full_name(settings), SuppressionChange
        ) as changes:
            await changes.read_until(lambda got: len(got) >= FOLDED, 180, "the clicks folded")
        first.stop()

        # A backlog for a brand-new worker, which must restore every table before deciding it.
        for i in range(FREE):
            await send(free[i], f"free-before-{i}", allowed=True)
            await send(folded[i], f"folded-before-{i}", allowed=False)
        for n, index in enumerate(range(SEEDED // 2, seeded.last_index + 1, 997)):
            await send(
                address_of(index), f"seeded-before-{n}", allowed=False, account_id=account_of(index)
            )
        await producer.flush()

        restoring = worker("worker-b").start()
        most, left = await kill_mid_restore(restoring)
        restoring.start()  # the same store, half restored
        await wait_for(lambda: ready(restoring), 180, "worker-b restored and deciding again")
        await wait_for(lambda: members_are(settings, 1), 180, "worker-b alone in the group")

        # Now a newcomer, killed as soon as the group hands it partitions, while mail flows.
        newcomer = worker("worker-c").start()
        await wait_for(lambda: members_are(settings, 2), 180, "worker-c to join")
        await wait_for(lambda: assigned(newcomer), 60, "worker-c to be given partitions")
        newcomer.kill()
        for i in range(DURING):
            await click(during[i], f"during-{i}")  # acknowledged: every later send is denied
            await send(during[i], f"during-after-click-{i}", allowed=False)
            await send(free[i], f"free-during-{i}", allowed=True)
            await send(folded[i], f"folded-during-{i}", allowed=False)
        await producer.flush()

        async with TopicReader(
            settings, SEND_DECISIONS.full_name(settings), SendDecision
        ) as reader:
            decisions = await reader.read_until(
                lambda got: set(wanted) <= {d.request_id for d in got},
                timeout_s=300,
                describe="a decision for every send after the kills",
            )
        async with TopicReader(
            settings, SUPPRESSION_CHANGES.full_name(settings), SuppressionChange
        ) as changes:
            applied = await changes.read_until(
                lambda got: {f"during-{i}" for i in range(DURING)}
                <= {c.entry.source_event_id for c in got},
                120,
                "every click made during the faults applied",
            )
        survivor_alive = restoring.alive()
    finally:
        await producer.stop()
        for started in workers:
            started.stop()
        await delete_all_topics(settings)

    assert most > 0 and 0 < left < most, "worker-b was not killed in the middle of its restore"
    wrongly_allowed = sorted(
        d.request_id for d in decisions if d.verdict == "allow" and not wanted[d.request_id]
    )
    assert wrongly_allowed == []
    wrongly_denied = sorted(
        d.request_id for d in decisions if d.verdict == "deny" and wanted[d.request_id]
    )
    assert wrongly_denied == []
    not_for_suppression = sorted(
        d.request_id
        for d in decisions
        if not wanted[d.request_id]
        and not SUPPRESSION_RULES & {failure.rule for failure in d.failures}
    )
    assert not_for_suppression == [], "denied, but not for the suppression the test made"
    assert survivor_alive, restoring.log_tail()
    assert len({c.entry.source_event_id for c in applied}) >= FOLDED + DURING
