"""The SMTP intake against the real broker: what is accepted is on inbound-mail before the 250.

Each test runs an intake on a free port of 127.0.0.1 and talks to it with the standard library's
`smtplib` (in a thread, so the intake keeps the loop). The `settings` fixture gives each test its
own topic prefix; an unreachable broker fails the test, it never skips it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import smtplib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from streams.core.records import InboundMail
from streams.core.settings import Settings
from streams.edges.admin import CREATED, create_topics, delete_topics
from streams.edges.intake import SmtpIntake
from streams.sending.verp import VerpSigner
from streams.topics import INBOUND_MAIL, default_codec

pytestmark = pytest.mark.integration

T = TypeVar("T")

BOUNCE_DOMAIN = "bounces.example.net"
FEEDBACK_ADDRESS = "fbl@feedback.example.net"
HELO_NAME = "mta.example.org"
MAX_MESSAGE_BYTES = 50_000
VERP = VerpSigner({1: b"integration-verp-key-0123456789"}, 1, BOUNCE_DOMAIN)
RECIPIENT_KEY = hashlib.sha256(b"integration recipient").hexdigest()
RETURN_PATH = VERP.return_path(RECIPIENT_KEY)

# An RFC 3464 DSN as a reporting MTA sends it: CRLF lines, a line that starts with a dot (SMTP
# dot-stuffing must be undone exactly) and one 8-bit byte sequence (UTF-8) in a comment.
DSN = (
    b"From: Mail Delivery System <mailer-daemon@mx.example.org>\r\n"
    b"To: " + RETURN_PATH.encode() + b"\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"Date: Fri, 28 Feb 2025 10:00:00 +0000\r\n"
    b"Message-ID: <dsn-1@mx.example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Delivery to the following recipient failed permanently (d\xc3\xa9finitif).\r\n"
    b".this line starts with a dot\r\n"
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: message/delivery-status\r\n"
    b"\r\n"
    b"Reporting-MTA: dns; mx.example.org\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822; someone@example.com\r\n"
    b"Action: failed\r\n"
    b"Status: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/rfc822-headers\r\n"
    b"\r\n"
    b"X-Sendgate-Request-Id: req-intake-1\r\n"
    b"Subject: Autumn offers\r\n"
    b"\r\n"
    b"--b1--\r\n"
)


@pytest.fixture
def inbound_topic(settings: Settings) -> Iterator[Settings]:
    """This test's inbound-mail topic; deleted afterwards."""
    statuses = asyncio.run(create_topics(settings, [INBOUND_MAIL]))
    assert statuses == {INBOUND_MAIL.full_name(settings): CREATED}
    yield settings
    asyncio.run(delete_topics(settings, [INBOUND_MAIL]))


def new_intake(settings: Settings) -> SmtpIntake:
    """An intake on a free port (use with `async with`; an async fixture would run on another
    event loop than the test)."""
    return SmtpIntake(
        settings,
        host="127.0.0.1",
        port=0,
        verp=VERP,
        feedback_addresses=[FEEDBACK_ADDRESS],
        max_message_bytes=MAX_MESSAGE_BYTES,
    )


async def smtp(port: int, steps: Callable[[smtplib.SMTP], T], helo: str = HELO_NAME) -> T:
    """Run `steps` on an EHLO'd smtplib client, in a thread."""

    def session() -> T:
        with smtplib.SMTP("127.0.0.1", port, local_hostname=helo, timeout=60) as client:
            client.ehlo()
            return steps(client)

    return await asyncio.to_thread(session)


def deliver(
    recipients: list[str], message: bytes, mail_from: str = ""
) -> Callable[[smtplib.SMTP], dict[str, Any]]:
    """MAIL (no SIZE), RCPT for each recipient, DATA if one was accepted: every reply."""

    def steps(client: smtplib.SMTP) -> dict[str, Any]:
        replies: dict[str, Any] = {"mail": client.mail(mail_from)}
        replies["rcpt"] = [client.rcpt(recipient) for recipient in recipients]
        if any(code == 250 for code, _ in replies["rcpt"]):
            replies["data"] = client.data(message)
        return replies

    return steps


async def published(settings: Settings, count: int) -> list[tuple[bytes, InboundMail]]:
    """The first `count` records of inbound-mail with their keys (fails after 30 s)."""
    consumer = AIOKafkaConsumer(
        INBOUND_MAIL.full_name(settings),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[tuple[bytes, InboundMail]] = []
    try:
        async with asyncio.timeout(30):
            while len(found) < count:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    found += [
                        (m.key, default_codec().decode(m.value, InboundMail)) for m in messages
                    ]
    finally:
        await consumer.stop()
    return found


async def records_on_topic(settings: Settings) -> int:
    """How many records inbound-mail holds (the sum of its partitions' end offsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        topic = INBOUND_MAIL.full_name(settings)
        partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        ends = await consumer.end_offsets(partitions)
        return sum(ends.values())
    finally:
        await consumer.stop()


def intake_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the intake and aiosmtpd logged (the Kafka client's own DEBUG output dumps records)."""
    return "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("streams") or record.name == "mail.log"
    )


def forged_count(reason: str) -> float:
    return REGISTRY.get_sample_value("sendgate_intake_forged_verp_total", {"reason": reason}) or 0


async def test_dsn_to_a_return_path_is_published_before_250(
    inbound_topic: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A DSN to a valid return path gets 250 with its intake id; raw bytes and envelope are kept."""
    async with new_intake(inbound_topic) as intake:
        caplog.set_level(logging.DEBUG)
        replies = await smtp(intake.port, deliver([RETURN_PATH], DSN))
        assert replies["rcpt"] == [(250, b"2.1.5 recipient ok")]
        code, text = replies["data"]
        assert code == 250
        assert text.startswith(b"2.0.0 queued as ")
        intake_id = text.decode().removeprefix("2.0.0 queued as ")
        assert await records_on_topic(inbound_topic) == 1  # durable before the 250 was sent

        [(key, record)] = await published(inbound_topic, 1)
        assert key == intake_id.encode("ascii")
        assert record.intake_id == intake_id
        assert record.raw == DSN
        assert record.mail_from == "<>"
        assert record.rcpt_to == (RETURN_PATH,)
        assert record.peer == HELO_NAME
        assert record.received_at.utcoffset() is not None
        assert VERP.verify(record.rcpt_to[0]) == RECIPIENT_KEY
        assert RETURN_PATH.split("@")[0] not in intake_log(caplog)
        assert HELO_NAME not in intake_log(caplog)


async def test_feedback_and_unsubscribe_addresses_are_accepted(inbound_topic: Settings) -> None:
    """The feedback address and unsubscribe-<token> are accepted; a HELO IP literal is not kept."""
    async with new_intake(inbound_topic) as intake:
        recipients = [FEEDBACK_ADDRESS.upper(), f"unsubscribe-abc123@{BOUNCE_DOMAIN}"]
        message = b"From: fbl@isp.example.com\r\nSubject: complaint\r\n\r\nreport\r\n"
        replies = await smtp(
            intake.port,
            deliver(recipients, message, mail_from="fbl@isp.example.com"),
            helo="[192.0.2.7]",
        )
        assert [code for code, _ in replies["rcpt"]] == [250, 250]
        assert replies["data"][0] == 250
        [(_, record)] = await published(inbound_topic, 1)
        assert record.rcpt_to == tuple(recipients)
        assert record.mail_from == "fbl@isp.example.com"
        assert record.raw == message
        assert record.peer is None


async def test_unknown_recipient_is_refused_and_nothing_published(inbound_topic: Settings) -> None:
    """A recipient we take no mail for gets 550 5.1.1 and nothing reaches inbound-mail."""
    async with new_intake(inbound_topic) as intake:
        for recipient in (
            "postmaster@example.com",
            f"someone@{BOUNCE_DOMAIN}",
            "b-abc@example.com",
        ):
            replies = await smtp(intake.port, deliver([recipient], DSN))
            [(code, text)] = replies["rcpt"]
            assert code == 550
            assert text.startswith(b"5.1.1 ")
            assert "data" not in replies
        assert intake.handler.forged_verp_total == 0
        assert await records_on_topic(inbound_topic) == 0


async def test_forged_token_is_refused_and_counted(
    inbound_topic: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """An altered VERP token gets 550 5.7.1 and is counted; the address is not logged."""
    async with new_intake(inbound_topic) as intake:
        caplog.set_level(logging.DEBUG)
        local, domain = RETURN_PATH.split("@")
        position = len(local) - 3
        altered = "a" if local[position] != "a" else "b"
        forged = f"{local[:position]}{altered}{local[position + 1 :]}@{domain}"
        before = forged_count("bad-tag")

        replies = await smtp(intake.port, deliver([forged], DSN))

        [(code, text)] = replies["rcpt"]
        assert code == 550
        assert text.startswith(b"5.7.1 ")
        assert intake.handler.forged_verp_total == 1
        assert forged_count("bad-tag") == before + 1
        assert await records_on_topic(inbound_topic) == 0
        assert "bad-tag" in intake_log(caplog)
        assert forged.split("@")[0] not in intake_log(caplog)


async def test_oversized_message_is_refused_with_552(inbound_topic: Settings) -> None:
    """SIZE is advertised; a message over the cap gets 552 5.3.4, declared or not."""
    async with new_intake(inbound_topic) as intake:
        big = b"Subject: big\r\n\r\n" + b"x" * 998 + b"\r\n" + (b"y" * 78 + b"\r\n") * 1000

        def declared(client: smtplib.SMTP) -> tuple[str, smtplib.SMTPSenderRefused]:
            size = client.esmtp_features["size"]
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                client.sendmail("", [RETURN_PATH], big)  # smtplib sends SIZE=<length>
            return size, refused.value

        size, refused = await smtp(intake.port, declared)
        assert size == str(MAX_MESSAGE_BYTES)
        assert refused.smtp_code == 552
        assert refused.smtp_error.startswith(b"5.3.4 ")

        replies = await smtp(intake.port, deliver([RETURN_PATH], big))
        code, text = replies["data"]
        assert code == 552
        assert text.startswith(b"5.3.4 ")
        assert await records_on_topic(inbound_topic) == 0


async def test_unreachable_broker_gives_a_temporary_failure(inbound_topic: Settings) -> None:
    """With Kafka unreachable the intake still answers, with 451 4.3.0: the sender retries."""
    broken = inbound_topic.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    async with SmtpIntake(
        broken,
        verp=VERP,
        feedback_addresses=[FEEDBACK_ADDRESS],
        max_message_bytes=MAX_MESSAGE_BYTES,
    ) as intake:

        def steps(client: smtplib.SMTP) -> smtplib.SMTPDataError:
            with pytest.raises(smtplib.SMTPDataError) as failed:
                client.sendmail("", [RETURN_PATH], DSN)
            return failed.value

        failure = await smtp(intake.port, steps)
    assert failure.smtp_code == 451
    assert failure.smtp_error.startswith(b"4.3.0 ")
    assert await records_on_topic(inbound_topic) == 0
