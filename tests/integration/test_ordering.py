"""Ordering across topics: an acknowledged unsubscribe beats every later send for that person.

Kafka orders nothing across topics, and the worker may fetch a send before a click that was
acknowledged earlier. The state fence (streams.gate.fence) is what keeps the promise; this test
races the two on the real broker, many at once, while other sends keep the gate busy.

Racers and controls opted in to acme first (and the keeper has applied it), so a raced send the
click did not reach would be allowed: only the click can deny it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
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

RACES = 1000
CONCURRENT_RACES = 50
BACKGROUND_SENDS_PER_BATCH = 200
BACKGROUND_CLICKS_PER_BATCH = 1000
CLICK_BACKLOG = 40_000


async def test_an_acknowledged_click_denies_every_later_send(
    settings: Settings, tmp_path: Path
) -> None:
    """1,000 click-then-send races under load: every raced send is denied, controls allowed."""
    # A slow machine must not turn a correct wait into a fail-closed denial with another rule.
    settings = settings.model_copy(update={"state_fence_timeout_s": 120.0})
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    clicks = UNSUBSCRIBE_CLICKS.full_name(settings)
    sends = SEND_REQUESTS.full_name(settings)
    await create_all_topics(settings)
    worker = GateWorker(settings, "race-worker", tmp_path).start()
    producer = await new_producer(settings)
    stop_load = asyncio.Event()
    opt_ins = [
        consent_event(
            recipient_key=keyer.key(f"{who}{i}@example.{tld}"),
            event_id=f"opt-in-{who}-{i}",
            occurred_at=datetime.now(UTC),
        )
        for i in range(RACES)
        for who, tld in (("racer", "com"), ("control", "net"))
    ]

    async def publish_send(address: str, request_id: str) -> None:
        request = send_request(
            recipient=address, request_id=request_id, requested_at=datetime.now(UTC)
        )
        await producer.send(sends, key=keyer.key(address).encode(), value=codec.encode(request))

    async def background_load() -> None:
        """Unrelated clicks and sends for as long as the races run.

        The clicks give the suppression keeper a backlog, so a raced click often sits behind
        others while its send is at the head of its own topic: the case the fence exists for.
        """
        for batch in itertools.count():
            if stop_load.is_set():
                return
            for n in range(BACKGROUND_CLICKS_PER_BATCH):
                other = unsubscribe_click(
                    recipient_key=keyer.key(f"loadclick{batch}-{n}@example.org"),
                    click_id=f"lc-{batch}-{n}",
                    clicked_at=datetime.now(UTC),
                )
                await producer.send(
                    clicks, key=other.recipient_key.encode(), value=codec.encode(other)
                )
            for n in range(BACKGROUND_SENDS_PER_BATCH):
                await publish_send(f"load{batch}-{n}@example.org", f"load-{batch}-{n}")
            await asyncio.sleep(0.05)

    async def race(i: int) -> None:
        address = f"racer{i}@example.com"
        click = unsubscribe_click(
            recipient_key=keyer.key(address), click_id=f"click-{i}", clicked_at=datetime.now(UTC)
        )
        ack = await producer.send(
            clicks, key=click.recipient_key.encode(), value=codec.encode(click)
        )
        await ack  # Kafka has acknowledged the click ...
        await publish_send(address, f"race-{i}")  # ... so this send comes after it.
        await publish_send(f"control{i}@example.net", f"control-{i}")

    semaphore = asyncio.Semaphore(CONCURRENT_RACES)

    async def bounded_race(i: int) -> None:
        async with semaphore:
            await race(i)

    load: asyncio.Task[None] | None = None
    try:
        # Everyone who races or controls has opted in before anything else happens.
        await publish_consents(settings, opt_ins, timeout_s=180)
        # A burst of unrelated clicks first: the keeper is still working through it while the
        # races start, so raced clicks queue behind it while raced sends find an idle gate.
        for n in range(CLICK_BACKLOG):
            other = unsubscribe_click(
                recipient_key=keyer.key(f"backlog{n}@example.org"),
                click_id=f"backlog-{n}",
                clicked_at=datetime.now(UTC),
            )
            await producer.send(clicks, key=other.recipient_key.encode(), value=codec.encode(other))
        load = asyncio.create_task(background_load())
        await asyncio.gather(*(bounded_race(i) for i in range(RACES)))
        stop_load.set()
        await load
        await producer.flush()
        wanted = {f"race-{i}" for i in range(RACES)} | {f"control-{i}" for i in range(RACES)}
        async with TopicReader(
            settings, SEND_DECISIONS.full_name(settings), SendDecision
        ) as reader:
            decisions = await reader.read_until(
                lambda got: wanted <= {d.request_id for d in got},
                timeout_s=240,
                describe="a decision for every raced and control send",
            )
    finally:
        stop_load.set()
        if load is not None:
            with contextlib.suppress(Exception):
                await load
        await producer.stop()
        worker.stop()
        await delete_all_topics(settings)

    by_request = {d.request_id: d for d in decisions if d.request_id in wanted}
    allowed_races = [
        r for r in by_request if r.startswith("race-") and by_request[r].verdict != "deny"
    ]
    assert allowed_races == [], f"{len(allowed_races)} sends went out after an acknowledged click"
    for i in range(RACES):
        assert [f.rule for f in by_request[f"race-{i}"].failures] == ["list-unsubscribed"]
        assert by_request[f"control-{i}"].verdict == "allow"
