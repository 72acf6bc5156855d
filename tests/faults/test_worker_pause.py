"""A worker frozen past its session timeout (SIGSTOP: a VM paused, a long GC, a laptop lid) and
then let go.

The group gives up on it while it is frozen; when it runs again its next commit is refused
("unknown member"), it rejoins and gets its partitions back. The promise under test: afterwards
it goes on folding and committing, so clicks and consents published after the pause take effect
and the state fence can confirm them, and no send to a recipient who unsubscribed is allowed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.edges.web.serve import free_loopback_port
from streams.topics import (
    CONSENT_EVENTS,
    SEND_DECISIONS,
    SEND_REQUESTS,
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

pytestmark = [pytest.mark.integration, pytest.mark.faults]

READERS = 200
PAUSE_S = 12
"""Twice the session timeout (6 s): the group certainly gives up on the frozen worker."""


async def test_a_worker_frozen_past_its_session_rejoins_and_keeps_committing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"pause{time.time_ns() % 10**10}-",
        topic_partitions=4,
        data_dir=tmp_path / "data",
        recipient_key_secret=SecretStr("worker-pause-test-secret-0123456789"),
    )
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    await create_all_topics(settings)
    producer = await new_producer(settings)
    worker = GateWorker(settings, "worker-p", tmp_path, metrics_port=free_loopback_port())

    async def grant(address: str) -> None:
        event = consent_event(
            recipient_key=keyer.key(address),
            event_id=f"opt-in-{address}",
            occurred_at=datetime.now(UTC),
        )
        await producer.send(
            CONSENT_EVENTS.full_name(settings),
            codec.encode(event),
            key=event.recipient_key.encode(),
        )

    try:
        before = [f"before{i}@example.org" for i in range(READERS)]
        after = [f"after{i}@example.org" for i in range(READERS)]
        for address in before:
            await grant(address)
        await producer.flush()
        worker.start()
        await wait_until_consumed(
            settings, settings.app_id, CONSENT_EVENTS.full_name(settings), timeout_s=180
        )

        assert worker.process is not None
        os.kill(worker.process.pid, signal.SIGSTOP)
        try:
            await wait_for(lambda: members_are(settings, 0), 60, "the group to give up on it")
            await asyncio.sleep(PAUSE_S - 6)
        finally:
            os.kill(worker.process.pid, signal.SIGCONT)

        # After the pause: new grants for some, unsubscribes for the others.
        for address in after:
            await grant(address)
        for i, address in enumerate(before):
            click = unsubscribe_click(
                recipient_key=keyer.key(address),
                click_id=f"after-pause-{i}",
                scope="account",
                clicked_at=datetime.now(UTC),
            )
            await producer.send(
                UNSUBSCRIBE_CLICKS.full_name(settings),
                codec.encode(click),
                key=click.recipient_key.encode(),
            )
        await producer.flush()
        await wait_until_consumed(
            settings, settings.app_id, CONSENT_EVENTS.full_name(settings), timeout_s=120
        )
        await wait_until_consumed(
            settings, settings.app_id, UNSUBSCRIBE_CLICKS.full_name(settings), timeout_s=120
        )
        wanted = {}
        for i, address in enumerate(before + after):
            request_id = f"send-{i}"
            request = send_request(
                recipient=address, request_id=request_id, requested_at=datetime.now(UTC)
            )
            await producer.send(
                SEND_REQUESTS.full_name(settings),
                codec.encode(request),
                key=keyer.key(address).encode(),
            )
            wanted[request_id] = address.startswith("after")
        await producer.flush()
        async with TopicReader(
            settings, SEND_DECISIONS.full_name(settings), SendDecision
        ) as reader:
            decisions = await reader.read_until(
                lambda got: set(wanted) <= {d.request_id for d in got}, 180, "every decision"
            )
        alive = worker.alive()
    finally:
        await producer.stop()
        worker.stop()
        await delete_all_topics(settings)

    assert alive, worker.log_tail()
    wrong = sorted(
        d.request_id for d in decisions if (d.verdict == "allow") != wanted[d.request_id]
    )
    assert wrong == [], f"{len(wrong)} decided against their state: {wrong[:5]}"
