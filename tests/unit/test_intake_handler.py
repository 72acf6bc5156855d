"""The SMTP intake handler's MAIL and HELO handling, and a message retried after a 451, without
a server or a broker.

Found by fuzzing: a sender address or HELO name that aiosmtpd hands over with surrogate escapes
(bytes that are not UTF-8; the intake enables SMTPUTF8), or a sender longer than the record's
field, failed at DATA when the `InboundMail` was built. aiosmtpd answers such a failure 451, so
the sending MTA would have retried the message for days instead of being told no at once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.smtp import Envelope, Session

from streams.bounces.inbound import read_inbound
from streams.core.clock import FrozenClock
from streams.core.errors import ServiceUnavailableError
from streams.core.records import InboundMail
from streams.edges.intake import MAX_SENDER_CHARS, IntakeHandler
from streams.sending.verp import VerpSigner
from streams.topics import default_codec
from tests.support.mail import dsn

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
VERP = VerpSigner({1: b"unit-test-verp-key-0123456789"}, 1, "bounce.example")


class Kept:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    async def publish(self, key: bytes, value: bytes) -> None:
        self.values.append(value)

    async def close(self) -> None:
        return None


@pytest.fixture
def kept() -> Kept:
    return Kept()


@pytest.fixture
def handler(kept: Kept) -> IntakeHandler:
    return IntakeHandler(VERP, ["fbl@feedback.example"], kept, clock=FrozenClock(NOW))


def _session(helo: str | None = "mx.example") -> Session:
    session = Session(asyncio.get_running_loop())
    session.host_name = helo
    return session


@pytest.mark.parametrize(
    "sender",
    ["bounces@mx.ex\udcffample", "a" * (MAX_SENDER_CHARS - 11) + "@mx.example.x"],
    ids=["not-utf-8", "too-long"],
)
async def test_a_sender_no_record_can_hold_is_refused_at_mail(
    handler: IntakeHandler, sender: str
) -> None:
    envelope = Envelope()
    reply = await handler.handle_MAIL(None, _session(), envelope, sender, [])  # type: ignore[arg-type]
    assert reply == "553 5.1.7 sender address not accepted"
    assert envelope.mail_from is None


async def test_an_ordinary_sender_is_taken_with_its_options(handler: IntakeHandler) -> None:
    envelope = Envelope()
    reply = await handler.handle_MAIL(None, _session(), envelope, "<>", ["BODY=8BITMIME"])  # type: ignore[arg-type]
    assert reply == "250 OK"
    assert (envelope.mail_from, envelope.mail_options) == ("<>", ["BODY=8BITMIME"])


async def test_a_helo_name_that_is_not_utf8_is_not_kept(handler: IntakeHandler, kept: Kept) -> None:
    session = _session("mx.\udcffexample")
    envelope = Envelope()
    await handler.handle_MAIL(None, session, envelope, "<>", [])  # type: ignore[arg-type]
    address = VERP.return_path("ab" * 32)
    assert (
        await handler.handle_RCPT(None, session, envelope, address, []) == "250 2.1.5 recipient ok"
    )  # type: ignore[arg-type]
    envelope.original_content = b"Subject: x\r\n\r\nbody\r\n"
    reply = await handler.handle_DATA(None, session, envelope)  # type: ignore[arg-type]
    assert reply.startswith("250 2.0.0 queued as ")
    [value] = kept.values
    record = default_codec().decode(value, InboundMail)
    assert (record.peer, record.mail_from, record.rcpt_to) == (None, "<>", (address,))


# --- Kafka down, then back: the sender's retry is accepted and counted once ---------------------


class Outage:
    """Kafka down for the first `failures` publishes. With `lands`, a failed publish is written
    all the same (it timed out on our side after the broker took it): the sender gets 451 and
    retries a message that is already on the topic."""

    def __init__(self, failures: int, *, lands: bool = False) -> None:
        self.failures, self.lands = failures, lands
        self.values: list[bytes] = []

    async def publish(self, key: bytes, value: bytes) -> None:
        if self.failures:
            self.failures -= 1
            if self.lands:
                self.values.append(value)
            raise ServiceUnavailableError("Kafka broker at kafka:9092 did not answer")
        self.values.append(value)

    async def close(self) -> None:
        return None


async def deliver(handler: IntakeHandler, rcpt: str, raw: bytes) -> str:
    """One SMTP transaction as a sending MTA makes it, up to the reply to DATA."""
    session, envelope = _session(), Envelope()
    await handler.handle_MAIL(None, session, envelope, "<>", [])  # type: ignore[arg-type]
    await handler.handle_RCPT(None, session, envelope, rcpt, [])  # type: ignore[arg-type]
    envelope.original_content = raw
    return await handler.handle_DATA(None, session, envelope)  # type: ignore[arg-type]


def bounce_ids(value: bytes, offset: int) -> list[str]:
    mail = default_codec().decode(value, InboundMail)
    outcome = read_inbound(
        mail,
        keywords=None,
        source=f"inbound-mail/0/{offset}",
        recipient_key=lambda address: "cd" * 32,
        verp_recipient_key=lambda token: "ab" * 32,
    )
    return [event.event_id for event in outcome.delivery_events]


RETURN_PATH = VERP.return_path("ab" * 32)
BOUNCE = dsn(
    "gone@example.org",
    status="5.1.1",
    action="failed",
    account="acme",
    request_id="r-1",
    return_path=RETURN_PATH,
)


@pytest.mark.parametrize("lands", [False, True], ids=["not-written", "written-anyway"])
async def test_a_message_refused_while_kafka_is_down_is_taken_on_retry_and_counted_once(
    lands: bool,
) -> None:
    outage = Outage(failures=2, lands=lands)
    clock = FrozenClock(NOW)
    handler = IntakeHandler(VERP, [], outage, clock=clock)

    for _ in range(2):
        refused = await deliver(handler, RETURN_PATH, BOUNCE)
        assert refused == "451 4.3.0 temporary failure, try again"
        clock.advance(timedelta(minutes=15))  # the sending MTA's retry interval
    accepted = await deliver(handler, RETURN_PATH, BOUNCE)

    assert accepted.startswith("250 2.0.0 queued as ")
    assert len(outage.values) == (3 if lands else 1)
    records = [default_codec().decode(value, InboundMail) for value in outage.values]
    assert accepted.removeprefix("250 2.0.0 queued as ") == records[-1].intake_id
    # Each copy on the topic is its own record, but they are one message: one set of event ids,
    # which the bounce history, the rate inputs and the suppressions apply once.
    assert len({record.intake_id for record in records}) == len(records)
    ids = {tuple(bounce_ids(value, offset)) for offset, value in enumerate(outage.values)}
    assert len(ids) == 1
    assert len(next(iter(ids))) == 1
