"""An account's strike reaches every worker, at once: two workers over six partitions.

The account reaches strike 1 the real way (1,000 deliveries at Gmail, then two feedback-loop
complaints: 0.2 % over the 0.1 % line). The moment the `broadcasts_disabled` event can be read
from `enforcement-events` (so Kafka has acknowledged it), the test publishes broadcasts to
recipients on every partition, without waiting for anything: each worker must deny every one of
them (the broadcast fence, `streams.gate.broadcast`), while a receipt to the same people still goes.

With the accounts in a faust GlobalTable, 286 to 312 of 600 such broadcasts were allowed in every
one of five runs, all by the worker that did not own the event's partition, still 35 s later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.core.clock import FileClock
from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.reputation.standing import EnforcementEvent
from streams.topics import ENFORCEMENT_EVENTS, SEND_DECISIONS, SEND_REQUESTS, default_codec
from tests.support.enforcement import Mailer, act_at_once_policy
from tests.support.factory import consent_event, send_request
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    delete_all_topics,
    new_producer,
    publish_consents,
)
from tests.support.workers import GateWorker, members_are, wait_for

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
READERS = 300
PARTITIONS = 6


async def test_a_strike_denies_broadcasts_on_every_worker_the_moment_it_is_acknowledged(
    settings: Settings, tmp_path: Path
) -> None:
    clock_file = tmp_path / "clock"
    FileClock.write(clock_file, NOW)
    settings = settings.model_copy(
        update={
            "topic_partitions": PARTITIONS,
            "clock_file": clock_file,
            "policy_file": act_at_once_policy(tmp_path),
            "worker_session_timeout_s": 6.5,
        }
    )
    keyer = RecipientKeyer(settings.recipient_secret())
    codec = default_codec()
    readers = [f"reader{i}@example.org" for i in range(READERS)]
    await create_all_topics(settings)
    worker_a = GateWorker(settings, "worker-a", tmp_path).start()
    worker_b = GateWorker(settings, "worker-b", tmp_path).start()
    producer = await new_producer(settings)
    try:
        await wait_for(
            lambda: members_are(settings, 2), 120, "both workers to join the gate's group"
        )
        await publish_consents(
            settings,
            [
                consent_event(
                    recipient_key=keyer.key(reader),
                    event_id=f"grant-{i}",
                    occurred_at=NOW - timedelta(days=60),
                )
                for i, reader in enumerate(readers)
            ],
            timeout_s=120,
        )

        async def publish(kind: str, classification: str) -> set[str]:
            ids = set()
            for i, reader in enumerate(readers):
                request = send_request(
                    recipient=reader,
                    request_id=f"{kind}-{i}",
                    classification=classification,
                    requested_at=datetime.now(UTC),
                )
                await producer.send(
                    SEND_REQUESTS.full_name(settings),
                    codec.encode(request),
                    key=keyer.key(reader).encode(),
                )
                ids.add(request.request_id)
            await producer.flush()
            return ids

        async with (
            TopicReader(
                settings, ENFORCEMENT_EVENTS.full_name(settings), EnforcementEvent
            ) as enforcement,
            TopicReader(settings, SEND_DECISIONS.full_name(settings), SendDecision) as answers,
        ):
            before = await publish("before", "commercial")
            decided = await answers.read_until(
                lambda ds: before <= {d.request_id for d in ds}, 120, "the broadcasts before"
            )
            assert {d.verdict for d in decided if d.request_id in before} == {"allow"}

            mailer = Mailer(settings)
            await mailer.deliver(1, "gmail.com", 1000, NOW - timedelta(hours=3))
            await mailer.complain(1, 0, NOW - timedelta(hours=1))
            await mailer.complain(1, 1, NOW - timedelta(minutes=30))
            await enforcement.read_until(
                lambda es: "broadcasts_disabled" in [e.action for e in es], 120, "strike 1"
            )
            # No sleep here: the event is acknowledged, so every later broadcast is denied.
            after = await publish("after", "commercial")
            receipts = await publish("receipt", "transactional")
            decided = await answers.read_until(
                lambda ds: after | receipts <= {d.request_id for d in ds},
                120,
                "the broadcasts and receipts after strike 1",
            )
        assert worker_a.alive() and worker_b.alive(), worker_a.log_tail() + worker_b.log_tail()
    finally:
        await producer.stop()
        worker_a.stop()
        worker_b.stop()
        await delete_all_topics(settings)

    broadcasts = [d for d in decided if d.request_id in after]
    allowed = sorted(d.request_id for d in broadcasts if d.verdict == "allow")
    assert allowed == [], f"{len(allowed)} of {READERS} broadcasts allowed after strike 1"
    assert {tuple(f.rule for f in d.failures) for d in broadcasts} == {
        ("account-broadcasts-disabled",)
    }
    partitions = {int(d.request_offset.split("/")[-2]) for d in broadcasts}
    assert partitions == set(range(PARTITIONS))  # both workers' partitions, all of them
    receipt_verdicts = {d.verdict for d in decided if d.request_id in receipts}
    assert receipt_verdicts == {"allow"}
