"""A worker that starts on a backlog decides every record in it and applies every click first.

faust-streaming as shipped drops records buffered at the end of table recovery (see
streams.gate.faust_fixes); a worker that starts while its topics hold records is exactly that case.

Everyone mailed opted in beforehand. The state fence orders clicks before sends, not consents, so
the grants come first in a backlog of their own, which a first worker applies before it stops;
the worker under test then starts on the clicks and sends with a fresh data folder, restoring the
consents table from its changelog while the backlog waits in its buffers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.topics import SEND_DECISIONS, SEND_REQUESTS, UNSUBSCRIBE_CLICKS, default_codec
from tests.support.factory import consent_event, send_request, unsubscribe_click
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    delete_all_topics,
    new_producer,
    publish_consents,
)
from tests.support.workers import GateWorker

CLICKS = 5_000
SENDS = 30_000


async def test_worker_started_on_a_backlog_loses_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    """Every send of a backlog is decided, and every earlier click is honoured."""
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    await create_all_topics(settings)
    producer = await new_producer(settings)
    addresses = [
        f"out{i % CLICKS}@example.com" if i % 2 else f"in{i}@example.org" for i in range(SENDS)
    ]
    try:
        # Earlier, everyone mailed opted in, those who unsubscribe later included: a send is
        # allowed unless a click denies it.
        opt_ins = [
            consent_event(
                recipient_key=keyer.key(a), event_id=f"opt-in-{a}", occurred_at=datetime.now(UTC)
            )
            for a in sorted(set(addresses))
        ]
        with GateWorker(settings, "consent-worker", tmp_path):
            await publish_consents(settings, opt_ins, timeout_s=180)
        for i in range(CLICKS):
            click = unsubscribe_click(
                recipient_key=keyer.key(f"out{i}@example.com"),
                click_id=f"c-{i}",
                scope="account",
                clicked_at=datetime.now(UTC),
            )
            await producer.send(
                UNSUBSCRIBE_CLICKS.full_name(settings),
                key=click.recipient_key.encode(),
                value=codec.encode(click),
            )
        await producer.flush()
        for i, address in enumerate(addresses):
            await producer.send(
                SEND_REQUESTS.full_name(settings),
                key=keyer.key(address).encode(),
                value=codec.encode(
                    send_request(
                        recipient=address, request_id=f"s-{i}", requested_at=datetime.now(UTC)
                    )
                ),
            )
        await producer.flush()
        with GateWorker(settings, "backlog-worker", tmp_path):
            async with TopicReader(
                settings, SEND_DECISIONS.full_name(settings), SendDecision
            ) as reader:
                decisions = await reader.read_until(
                    lambda got: len({d.request_id for d in got}) >= SENDS,
                    timeout_s=300,
                    describe="a decision for every send of the backlog",
                )
    finally:
        await producer.stop()
        await delete_all_topics(settings)
    by_request = {d.request_id: d for d in decisions}
    assert len(by_request) == SENDS
    for i in range(SENDS):
        expected = "deny" if i % 2 else "allow"
        assert by_request[f"s-{i}"].verdict == expected, f"s-{i}"
