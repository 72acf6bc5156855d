"""A corrected address on the real broker with a real worker: the person signed up under a typo,
`sendgate rectify` corrects it, and the account may then mail the corrected address and no
longer the mistyped one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.topics import (
    ADDRESS_CORRECTIONS,
    CONSENT_EVENTS,
    SEND_DECISIONS,
    SEND_REQUESTS,
    default_codec,
)
from tests.support.factory import consent_event, send_request
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    new_producer,
    publish_consents,
    wait_until_consumed,
)
from tests.support.workers import GateWorker, worker_env

MISTYPED = "lea.tremblay@exmaple.ca"
CORRECTED = "lea.tremblay@example.ca"


async def send(settings: Settings, reader: TopicReader, address: str, request_id: str) -> list[str]:
    """The failed rules of a bulk send of acme's newsletter to `address` (empty: allowed)."""
    keyer = RecipientKeyer(settings.recipient_secret())
    request = send_request(recipient=address, request_id=request_id, requested_at=datetime.now(UTC))
    producer = await new_producer(settings)
    try:
        await producer.send_and_wait(
            SEND_REQUESTS.full_name(settings),
            key=keyer.key(address).encode(),
            value=default_codec().encode(request),
        )
    finally:
        await producer.stop()
    found: Callable[[list[SendDecision]], bool] = lambda got: any(  # noqa: E731
        d.request_id == request_id for d in got
    )
    decisions = await reader.read_until(found, 60, f"the decision on {request_id}")
    [decision] = [d for d in decisions if d.request_id == request_id]
    return [failure.rule for failure in decision.failures]


def rectify(settings: Settings) -> subprocess.CompletedProcess[str]:
    """`sendgate rectify` as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "streams", "rectify", MISTYPED, CORRECTED, "--request-id", "it-1"],
        env=worker_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_a_corrected_address_is_mailed_and_the_mistyped_one_is_not(
    settings: Settings, tmp_path: Path
) -> None:
    keyer = RecipientKeyer(settings.recipient_secret())
    await create_all_topics(settings)
    worker = GateWorker(settings, "rectify-worker", tmp_path).start()
    try:
        async with TopicReader(
            settings, SEND_DECISIONS.full_name(settings), SendDecision
        ) as answers:
            signed_up = datetime.now(UTC) - timedelta(days=40)
            grant = consent_event(
                event_id="signup-1", recipient_key=keyer.key(MISTYPED), occurred_at=signed_up
            )
            await publish_consents(settings, [grant])
            assert await send(settings, answers, MISTYPED, "before-old") == []
            assert await send(settings, answers, CORRECTED, "before-new") == [
                "consent-status-not-mailable"
            ]

            done = await asyncio.to_thread(rectify, settings)
            assert done.returncode == 0, done.stderr
            assert MISTYPED not in done.stdout + done.stderr
            assert CORRECTED not in done.stdout + done.stderr
            for topic in (ADDRESS_CORRECTIONS, CONSENT_EVENTS):
                await wait_until_consumed(settings, settings.app_id, topic.full_name(settings))

            assert await send(settings, answers, CORRECTED, "after-new") == []
            assert await send(settings, answers, MISTYPED, "after-old") == [
                "consent-status-not-mailable"
            ]
    finally:
        worker.stop()
    assert "Traceback" not in worker.log_tail(200), worker.log_tail()
