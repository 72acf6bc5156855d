"""Two workers share the gate; one is killed mid-stream; the other takes over, tables and all.

The promise under test: no send to a suppressed recipient is allowed during or after a takeover.
Worker A is killed with SIGKILL (no commit, no flush, no goodbye to the group) while sends for
suppressed and free recipients stream in; worker B must take A's partitions, restore their
suppressions (from its standby copy or the changelog), and deny every suppressed recipient.

Everyone mailed opted in first (the grants lead the backlog), so B must restore the consents too:
a free recipient whose opt-in B lost would be denied.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision, SuppressionChange
from streams.core.settings import Settings
from streams.topics import (
    CONSENT_EVENTS,
    SEND_DECISIONS,
    SEND_REQUESTS,
    SUPPRESSION_CHANGES,
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
from tests.support.workers import GateWorker, members_are, wait_for

SUPPRESSED = 2000
ROUNDS_BEFORE_KILL = 1500
ROUNDS_AFTER_KILL = 3000
LATE = 200
SENDS_PER_SECOND = 1000


async def test_killed_worker_hands_over_without_letting_a_suppressed_send_through(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """SIGKILL one of two workers mid-stream: every suppressed recipient stays denied."""
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"scale{time.time_ns() % 10**10}-",
        topic_partitions=4,
        data_dir=tmp_path / "data",
        recipient_key_secret="scale-out-test-secret-0123456789",
        worker_session_timeout_s=6.5,
    )
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    clicks = UNSUBSCRIBE_CLICKS.full_name(settings)
    sends = SEND_REQUESTS.full_name(settings)
    await create_all_topics(settings)
    producer = await new_producer(settings)
    worker_a = GateWorker(settings, "worker-a", tmp_path)
    worker_b = GateWorker(settings, "worker-b", tmp_path)
    try:
        # Everyone the test mails opted in to acme before anything else; the suppressed ones
        # unsubscribe after. Whichever of the two a worker folds first, the unsubscribe denies:
        # a later grant re-opts a person in to the consent, never out of a suppression.
        consents = CONSENT_EVENTS.full_name(settings)
        rounds = ROUNDS_BEFORE_KILL + ROUNDS_AFTER_KILL
        mailed = (
            [f"supp{i}@example.com" for i in range(SUPPRESSED)]
            + [f"free{i}@example.org" for i in range(rounds)]
            + [f"late{i}@example.net" for i in range(LATE)]
        )
        for address in mailed:
            grant = consent_event(
                recipient_key=keyer.key(address),
                event_id=f"opt-in-{address}",
                occurred_at=datetime.now(UTC),
            )
            await producer.send(
                consents, key=grant.recipient_key.encode(), value=codec.encode(grant)
            )
        for i in range(SUPPRESSED):
            click = unsubscribe_click(
                recipient_key=keyer.key(f"supp{i}@example.com"),
                click_id=f"supp-{i}",
                scope="account",
                clicked_at=datetime.now(UTC),
            )
            await producer.send(clicks, key=click.recipient_key.encode(), value=codec.encode(click))
        await producer.flush()

        worker_a.start()
        worker_b.start()
        await wait_for(lambda: members_are(settings, 2), 120, "both workers to join the group")
        # Both workers fold the grants and clicks of their partitions before the stream starts.
        await wait_until_consumed(settings, settings.app_id, consents, timeout_s=120)
        # The accounts' verified domains (create_all_topics published them): each worker reads
        # its own copy; the group's keeper only dead-letters what no copy can use.
        await wait_until_consumed(
            settings, settings.app_id, settings.topic("sender-domains"), timeout_s=120
        )
        await asyncio.sleep(3)
        async with TopicReader(
            settings, SUPPRESSION_CHANGES.full_name(settings), SuppressionChange
        ) as changes:
            await changes.read_until(lambda got: len(got) >= SUPPRESSED, 120, "all clicks folded")

        async def publish_round(i: int) -> None:
            for address, request_id in (
                (f"supp{i % SUPPRESSED}@example.com", f"supp-send-{i}"),
                (f"free{i}@example.org", f"free-send-{i}"),
            ):
                request = send_request(
                    recipient=address, request_id=request_id, requested_at=datetime.now(UTC)
                )
                await producer.send(
                    sends, key=keyer.key(address).encode(), value=codec.encode(request)
                )

        async def stream(rounds: range) -> None:
            for i in rounds:
                await publish_round(i)
                if i % 100 == 99:
                    await asyncio.sleep(100 / SENDS_PER_SECOND)

        await stream(range(ROUNDS_BEFORE_KILL))
        assert worker_a.alive() and worker_b.alive(), worker_a.log_tail() + worker_b.log_tail()
        worker_a.kill()
        # Clicks after the kill, for new recipients, each followed by a send at once: the
        # survivor must honour them too (the fence's committed-offset floor after takeover).
        late = []
        for i in range(LATE):
            address = f"late{i}@example.net"
            click = unsubscribe_click(
                recipient_key=keyer.key(address),
                click_id=f"late-{i}",
                scope="account",
                clicked_at=datetime.now(UTC),
            )
            await (
                await producer.send(
                    clicks, key=click.recipient_key.encode(), value=codec.encode(click)
                )
            )
            request = send_request(
                recipient=address, request_id=f"late-send-{i}", requested_at=datetime.now(UTC)
            )
            await producer.send(sends, key=keyer.key(address).encode(), value=codec.encode(request))
            late.append(f"late-send-{i}")
        await stream(range(ROUNDS_BEFORE_KILL, ROUNDS_BEFORE_KILL + ROUNDS_AFTER_KILL))
        await producer.flush()

        wanted = (
            {f"supp-send-{i}" for i in range(rounds)}
            | {f"free-send-{i}" for i in range(rounds)}
            | set(late)
        )
        async with TopicReader(
            settings, SEND_DECISIONS.full_name(settings), SendDecision
        ) as reader:
            decisions = await reader.read_until(
                lambda got: wanted <= {d.request_id for d in got},
                timeout_s=240,
                describe="a decision for every send, after the takeover",
            )
        assert worker_b.alive(), worker_b.log_tail()
    finally:
        await producer.stop()
        worker_a.kill()
        worker_b.stop()
        await delete_all_topics(settings)

    # At-least-once: a send A decided but had not committed is decided again by B; every copy
    # must agree.
    leaked = sorted(
        {
            d.request_id
            for d in decisions
            if d.verdict == "allow" and not d.request_id.startswith("free-")
        }
    )
    assert leaked == [], f"{len(leaked)} sends to suppressed recipients were allowed"
    free = [d for d in decisions if d.request_id.startswith("free-")]
    wrongly_denied = sorted(
        (d.request_id, tuple(f.rule for f in d.failures)) for d in free if d.verdict != "allow"
    )
    assert free and not wrongly_denied, wrongly_denied[:10]
    denied_rules = {
        tuple(f.rule for f in d.failures)
        for d in decisions
        if d.request_id.startswith(("supp-", "late-"))
    }
    assert denied_rules == {("account-unsubscribed",)}
