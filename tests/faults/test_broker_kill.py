"""The broker killed with SIGKILL mid-stream and restarted 20 s later.

Two workers and the ledger sink run while send requests for suppressed and free recipients stream
in; the broker (the one `scripts/services` runs) is killed with SIGKILL halfway and started again
20 s later. The promises under test: every request is decided (a duplicate decision on the topic
is allowed: at-least-once), the ledger holds each request's decision once and every record of the
topic (a second decision of a request as a repeat), no send to a suppressed recipient is allowed,
and the workers and the sink come back without a restart of their own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision, SuppressionChange
from streams.core.settings import Settings
from streams.edges.admin import consumed_by_group
from streams.edges.ledger import (
    SendDecisionRepeatRow,
    SendDecisionRow,
    make_engine,
    run_ledger_sink,
)
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

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SERVICES = Path(__file__).resolve().parents[2] / "scripts" / "services"
SUPPRESSED = 500
ROUNDS = 6000
OUTAGE_S = 20


def kafka_pid() -> int:
    done = subprocess.run([str(SERVICES), "status", "kafka"], capture_output=True, text=True)
    assert done.returncode == 0, (
        "this fault test kills and restarts the broker that scripts/services runs; it is not "
        f"running: {done.stdout}{done.stderr}"
    )
    return int(done.stdout.split("pid", 1)[1].split()[0])


def start_kafka() -> None:
    done = subprocess.run(
        [str(SERVICES), "start", "kafka"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_a_killed_broker_loses_nothing_and_lets_no_suppressed_send_through(
    kafka_bootstrap: str, ledger_database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"kill{time.time_ns() % 10**10}-",
        topic_partitions=4,
        data_dir=tmp_path / "data",
        recipient_key_secret=SecretStr("broker-kill-test-secret-0123456789"),
        state_fence_timeout_s=180.0,
        database_url=SecretStr(ledger_database_url),
    )
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    sends = SEND_REQUESTS.full_name(settings)
    await create_all_topics(settings)
    producer = await new_producer(settings)
    workers = [GateWorker(settings, f"worker-{n}", tmp_path) for n in ("a", "b")]
    stop_sink = asyncio.Event()
    sink: asyncio.Task | None = None
    killed = False
    try:
        mailed = [f"supp{i}@example.com" for i in range(SUPPRESSED)] + [
            f"free{i}@example.org" for i in range(ROUNDS)
        ]
        for address in mailed:
            grant = consent_event(
                recipient_key=keyer.key(address),
                event_id=f"opt-in-{address}",
                occurred_at=datetime.now(UTC),
            )
            await producer.send(
                CONSENT_EVENTS.full_name(settings),
                key=grant.recipient_key.encode(),
                value=codec.encode(grant),
            )
        for i in range(SUPPRESSED):
            click = unsubscribe_click(
                recipient_key=keyer.key(f"supp{i}@example.com"),
                click_id=f"supp-{i}",
                scope="account",
                clicked_at=datetime.now(UTC),
            )
            await producer.send(
                UNSUBSCRIBE_CLICKS.full_name(settings),
                key=click.recipient_key.encode(),
                value=codec.encode(click),
            )
        await producer.flush()
        for worker in workers:
            worker.start()
        await wait_for(lambda: members_are(settings, 2), 120, "both workers to join the group")
        await wait_until_consumed(
            settings, settings.app_id, CONSENT_EVENTS.full_name(settings), timeout_s=300
        )
        await wait_until_consumed(
            settings, settings.app_id, settings.topic("sender-domains"), timeout_s=120
        )
        async with TopicReader(
            settings, SUPPRESSION_CHANGES.full_name(settings), SuppressionChange
        ) as changes:
            await changes.read_until(lambda got: len(got) >= SUPPRESSED, 120, "all clicks folded")
        sink = asyncio.create_task(run_ledger_sink(settings, stop=stop_sink))
        # The sends wait as a backlog while the workers are stopped, so that the broker can be
        # killed while they are deciding it, whatever their speed.
        for worker in workers:
            worker.stop()
        wanted: set[str] = set()
        for i in range(ROUNDS):
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
                wanted.add(request_id)
        await producer.flush()
        await producer.stop()
        producer = None
        for worker in workers:
            worker.start()

        async def deciding() -> bool:
            done, total = await consumed_by_group(settings, settings.decided_group, sends)
            return done >= total // 10

        # Mid-stream: a tenth of the backlog decided, the rest still to come.
        await wait_for(deciding, 180, "the workers to be deciding the backlog")
        decided_before, published = await consumed_by_group(settings, settings.decided_group, sends)
        os.kill(kafka_pid(), signal.SIGKILL)
        killed = True
        await asyncio.sleep(OUTAGE_S)
        await asyncio.to_thread(start_kafka)
        killed = False

        async with TopicReader(
            settings, SEND_DECISIONS.full_name(settings), SendDecision
        ) as reader:
            decisions = await reader.read_until(
                lambda got: wanted <= {d.request_id for d in got},
                timeout_s=300,
                describe="a decision for every send, after the broker came back",
            )
        engine = make_engine(ledger_database_url)
        topic = SEND_DECISIONS.full_name(settings)

        def ledger_rows() -> tuple[int, int, int]:
            """Decisions kept, distinct request ids among them, and repeats, of this topic."""
            with engine.connect() as connection:
                rows = connection.execute(
                    select(func.count()).where(SendDecisionRow.kafka_topic == topic)
                ).scalar_one()
                distinct = connection.execute(
                    select(func.count(func.distinct(SendDecisionRow.request_id))).where(
                        SendDecisionRow.kafka_topic == topic
                    )
                ).scalar_one()
                repeats = connection.execute(
                    select(func.count()).where(SendDecisionRepeatRow.kafka_topic == topic)
                ).scalar_one()
            return rows, distinct, repeats

        on_topic = len(decisions)

        def all_stored() -> bool:
            rows, _, repeats = ledger_rows()
            return rows + repeats >= on_topic

        await wait_for(
            lambda: _async(all_stored),
            180,
            "the ledger to hold every decision on the topic, repeats included",
        )
        rows, distinct, repeats = await asyncio.to_thread(ledger_rows)
        engine.dispose()
        alive = [worker.alive() for worker in workers]
        sink_running = not sink.done()
    finally:
        if killed:
            await asyncio.to_thread(start_kafka)
        if producer is not None:
            await producer.stop()
        stop_sink.set()
        if sink is not None:
            await asyncio.wait_for(sink, 120)
        for worker in workers:
            worker.stop()
        await delete_all_topics(settings)

    allowed_suppressed = [
        d.request_id for d in decisions if d.request_id.startswith("supp-") and d.verdict == "allow"
    ]
    assert decided_before < published, "the broker was killed after the stream, not during it"
    assert allowed_suppressed == []
    free_denied = [
        d.request_id for d in decisions if d.request_id.startswith("free-") and d.verdict == "deny"
    ]
    assert free_denied == []
    assert alive == [True, True], "a worker died: " + "".join(w.log_tail() for w in workers)
    assert sink_running, "the ledger sink exited"
    assert distinct == len(wanted)
    assert rows == distinct, f"{rows - distinct} requests with two decisions in the ledger"
    # Nothing lost: a request decided twice on the topic has its second decision as a repeat.
    # At least: the topic may have grown since it was read.
    assert rows + repeats >= on_topic


async def _async(condition):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(condition)
