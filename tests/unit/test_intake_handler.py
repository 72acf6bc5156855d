"""The SMTP intake handler's MAIL and HELO handling, without a server or a broker.

Found by fuzzing: a sender address or HELO name that aiosmtpd hands over with surrogate escapes
(bytes that are not UTF-8; the intake enables SMTPUTF8), or a sender longer than the record's
field, failed at DATA when the `InboundMail` was built. aiosmtpd answers such a failure 451, so
the sending MTA would have retried the message for days instead of being told no at once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiosmtpd.smtp import Envelope, Session

from streams.core.clock import FrozenClock
from streams.core.records import InboundMail
from streams.edges.intake import MAX_SENDER_CHARS, IntakeHandler
from streams.sending.verp import VerpSigner
from streams.topics import default_codec

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
