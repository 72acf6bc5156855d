"""The broker stopped under the two services that take input from outside: the unsubscribe
service (`sendgate web`) and the SMTP intake.

- Web: a one-click POST while the broker is stopped gets 503 with `Retry-After`; once the broker
  is started again, the mailbox provider's retry gets 200 and the click is on `unsubscribe-clicks`
  exactly once (the service's producer drops a batch the broker never got, so the 503'd attempt
  does not land later beside its retry).
- Intake: a DSN while the broker is stopped gets 451; once the broker is back, the sending MTA's
  resend gets 250 and the gate worker applies the bounce once: one bounce history change that
  counts and one suppression. The intake's idempotent producer may still deliver the 451'd copy
  after the restart, so `inbound-mail` can hold the message twice; both copies give the same event
  ids (`streams.bounces.inbound.inbound_id`), and the second is a replay.

The broker is the one `scripts/services` runs; if it is not running, the tests fail and say so
(they never skip). Each test starts it again on the way out if it stopped it.
"""

from __future__ import annotations

import asyncio
import smtplib
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.core.errors import ServiceUnavailableError
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    BounceChange,
    InboundMail,
    Record,
    SuppressionChange,
    UnsubscribeClick,
)
from streams.core.settings import Settings
from streams.edges.admin import check_broker
from streams.edges.intake import SmtpIntake
from streams.edges.web.app import REFUSED
from streams.edges.web.serve import free_loopback_port
from streams.policy import load_policy
from streams.sending.signing_keys import unsubscribe_tokens, verp_signer
from streams.suppression.unsubscribe import action_id
from streams.topics import (
    BOUNCE_CHANGES,
    INBOUND_MAIL,
    SUPPRESSION_CHANGES,
    UNSUBSCRIBE_CLICKS,
    default_codec,
)
from tests.support.kafka import create_all_topics, delete_all_topics
from tests.support.mail import dsn
from tests.support.web import serving_unsubscribes
from tests.support.workers import GateWorker, members_are, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]

R = TypeVar("R", bound=Record)

SERVICES = Path(__file__).resolve().parents[2] / "scripts" / "services"
ONE_CLICK = "List-Unsubscribe=One-Click"
ADDRESS = "maya.lopez@example.org"
RECOVERY_S = 180


def services(*args: str) -> str:
    done = subprocess.run(
        [str(SERVICES), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"scripts/services {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def require_services_kafka() -> None:
    status = subprocess.run([str(SERVICES), "status", "kafka"], capture_output=True, text=True)
    assert status.returncode == 0, (
        "this fault test stops and starts the broker that scripts/services runs; "
        f"it is not running: {status.stdout}{status.stderr}"
    )


async def broker_back(settings: Settings) -> None:
    deadline = time.monotonic() + RECOVERY_S
    while True:
        try:
            await check_broker(settings, timeout_s=5)
            return
        except ServiceUnavailableError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def everything_on(settings: Settings, topic: str, record_type: type[R]) -> list[R]:
    """Every record on `topic` now, from the beginning to the end offsets read first."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        # Every topic has the settings' partition count (`sendgate topics create`); aiokafka's
        # `partitions_for_topic` can still answer None right after `topics()`.
        partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        codec = default_codec()
        records: list[R] = []
        deadline = time.monotonic() + 60

        async def behind() -> bool:
            for tp in partitions:
                if await consumer.position(tp) < ends[tp]:
                    return True
            return False

        while await behind():
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records.extend(codec.decode(m.value, record_type) for m in messages)
        return records
    finally:
        await consumer.stop()


async def until(check, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    """Poll the coroutine function `check` until it returns something true; return that."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(1)


# --- the unsubscribe service ---------------------------------------------------------------------


async def one_click(http: aiohttp.ClientSession, link: str) -> tuple[int, str | None]:
    async with http.post(
        link, data=ONE_CLICK, headers={"Content-Type": "application/x-www-form-urlencoded"}
    ) as response:
        await response.read()
        return response.status, response.headers.get("Retry-After")


async def test_a_click_while_the_broker_is_stopped_is_503_and_its_retry_lands_once(
    settings: Settings,
) -> None:
    require_services_kafka()
    await create_all_topics(settings)
    port = free_loopback_port()
    settings = settings.model_copy(update={"unsubscribe_base_url": f"http://127.0.0.1:{port}"})
    keyer = RecipientKeyer(settings.recipient_secret())
    tokens = unsubscribe_tokens(settings, load_policy(settings.policy_file).unsubscribe)
    now = datetime.now(UTC)

    def link(list_id: str) -> tuple[str, str]:
        """The link of a message of acme's `list_id` list, and the id its click will have."""
        text = tokens.issue(
            recipient_key=keyer.key(ADDRESS),
            account_id="acme",
            list_id=list_id,
            request_id=f"req-{list_id}",
            issued_at=now,
        )
        click_id = action_id(tokens.verify(text, now=now), "list")
        return f"{settings.unsubscribe_base_url}/u/{text}", click_id

    warm_up, warm_up_id = link("news")
    during, during_id = link("offers")
    refused_before = REFUSED.labels("kafka-unavailable")._value.get()
    stopped = False
    try:
        async with (
            serving_unsubscribes(settings),
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http,
        ):
            # A click before the outage: the producer is connected and knows the topic, so the
            # click during the outage goes into its buffer, the way it would in production.
            assert await one_click(http, warm_up) == (200, None)

            await asyncio.to_thread(services, "stop", "kafka")
            stopped = True
            status, retry_after = await one_click(http, during)
            assert status == 503
            assert retry_after is not None and int(retry_after) > 0
            assert REFUSED.labels("kafka-unavailable")._value.get() == refused_before + 1

            await asyncio.to_thread(services, "start", "kafka")
            stopped = False
            await broker_back(settings)
            statuses: list[int] = []

            async def retried() -> bool:
                statuses.append((await one_click(http, during))[0])
                return statuses[-1] == 200

            await until(retried, RECOVERY_S, "the retried click to be taken")
            assert set(statuses[:-1]) <= {503}, statuses
        # The service has stopped and its producer is closed: nothing is left to land later.
        clicks = await everything_on(
            settings, UNSUBSCRIBE_CLICKS.full_name(settings), UnsubscribeClick
        )
        ids = [click.click_id for click in clicks]
        # No click lost. The attempt answered 503 may still have reached the broker before it
        # died (its reply lost with it), so a second copy of the retried click can be on the
        # topic: same id, and the suppression keeper applies an id once.
        assert set(ids) == {warm_up_id, during_id}
        assert ids.count(warm_up_id) == 1 and ids.count(during_id) <= 2
    finally:
        if stopped:
            services("start", "kafka")
            await broker_back(settings)
        await delete_all_topics(settings)


# --- the SMTP intake -----------------------------------------------------------------------------


def smtp_send(port: int, rcpt: str, data: bytes) -> tuple[int, bytes]:
    """Send as a sending MTA does (null sender, one recipient): the reply to DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
        client.ehlo("mta.example.org")
        client.mail("")
        code, text = client.rcpt(rcpt)
        assert code == 250, (code, text)
        try:
            return client.data(data)
        except smtplib.SMTPDataError as refused:
            return refused.smtp_code, refused.smtp_error


async def test_a_bounce_while_the_broker_is_stopped_is_451_and_its_resend_counts_once(
    settings: Settings, tmp_path: Path
) -> None:
    require_services_kafka()
    settings = settings.model_copy(update={"state_fence_timeout_s": 180.0})
    keyer = RecipientKeyer(settings.recipient_secret())
    verp = verp_signer(settings)  # makes the key file the worker will read too
    await create_all_topics(settings)
    gone, full = "gone@example.org", "full@example.org"
    hard = dsn(
        gone,
        status="5.1.1",
        action="failed",
        account="acme",
        request_id="r-outage",
        return_path=verp.return_path(keyer.key(gone)),
    )
    warm_up = dsn(
        full,
        status="4.2.2",
        action="failed",
        account="acme",
        request_id="r-before",
        return_path=verp.return_path(keyer.key(full)),
    )
    worker = GateWorker(settings, "outage-worker", tmp_path).start()
    intake = SmtpIntake(settings, verp=verp, feedback_addresses=[], max_message_bytes=1_000_000)
    port = await intake.start()
    stopped = False
    try:
        # The worker checks the broker as it starts: it must be in its group before the outage.
        await wait_for(lambda: members_are(settings, 1), 120, "the worker to join its group")
        # A message before the outage: the intake's producer is connected and knows the topic.
        code, _ = await asyncio.to_thread(
            smtp_send, port, verp.return_path(keyer.key(full)), warm_up
        )
        assert code == 250

        await asyncio.to_thread(services, "stop", "kafka")
        stopped = True
        code, text = await asyncio.to_thread(
            smtp_send, port, verp.return_path(keyer.key(gone)), hard
        )
        assert (code, text[:6]) == (451, b"4.3.0 ")

        await asyncio.to_thread(services, "start", "kafka")
        stopped = False
        await broker_back(settings)
        replies: list[int] = []

        async def resent() -> bool:
            code, _ = await asyncio.to_thread(
                smtp_send, port, verp.return_path(keyer.key(gone)), hard
            )
            replies.append(code)
            return code == 250

        await until(resent, RECOVERY_S, "the resent bounce to be accepted")
        assert set(replies[:-1]) <= {451}, replies

        async def copies() -> int:
            inbound = await everything_on(settings, INBOUND_MAIL.full_name(settings), InboundMail)
            return sum(mail.raw == hard for mail in inbound)

        # The 451'd copy may land after the restart beside the resent one: one or two records.
        await asyncio.sleep(10)
        on_topic = await copies()
        assert 1 <= on_topic <= 2, on_topic

        key = keyer.key(gone)

        async def changes_for_gone() -> list[BounceChange]:
            changes = await everything_on(
                settings, BOUNCE_CHANGES.full_name(settings), BounceChange
            )
            mine = [change for change in changes if change.recipient_key == key]
            return mine if len(mine) >= on_topic else []

        bounce_changes = await until(changes_for_gone, RECOVERY_S, "the worker to read each copy")
        assert len({change.event_id for change in bounce_changes}) == 1
        assert sorted(change.outcome for change in bounce_changes) == sorted(
            ["hard_bounce"] + ["replayed"] * (on_topic - 1)
        )
        await asyncio.sleep(5)  # a second suppression, if there were one, would be out by now
        suppressions = [
            change
            for change in await everything_on(
                settings, SUPPRESSION_CHANGES.full_name(settings), SuppressionChange
            )
            if change.recipient_key == key
        ]
        assert [change.outcome for change in suppressions] == ["added"], suppressions
        assert worker.alive(), worker.log_tail()
    finally:
        if stopped:
            services("start", "kafka")
            await broker_back(settings)
        await intake.stop()
        worker.stop()
        await delete_all_topics(settings)
