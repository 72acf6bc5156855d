"""The SMTP intake's handler: hostile MAIL FROM, RCPT TO, HELO names and DATA, no network.

`IntakeHandler` takes its publisher as an argument (the `InboundPublisher` protocol), so the
handler's own decisions are fuzzed with a publisher in memory that keeps the last value, fails
now and then as a broker would (`ServiceUnavailableError`), and nothing else; aiosmtpd's
`Session` and `Envelope` carry the transaction as the server would hand them over. The SMTP
parsing before the handler (line and size limits) is aiosmtpd's. Addresses and HELO names arrive
as aiosmtpd decodes them: UTF-8 with surrogate escapes for bytes that are not, since the intake
enables SMTPUTF8.

One case is one transaction: HELO, MAIL, one or more RCPT, then DATA if a recipient was taken.
Accepted: queued (and the published value decodes to the `InboundMail` that was handed over,
with the very bytes of the message). Rejected, by the reply that ended it: the sender refused
(553), a return path that does not verify (550 5.7.1), a recipient not taken here (550 5.1.1),
too many recipients (452), or the broker unavailable (451; only when the fake publisher failed).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from functools import lru_cache

from aiosmtpd.smtp import Envelope, Session

from fuzzing.engine import Outcome, Target, accepted, rejected
from fuzzing.mutate import mutate_bytes, mutate_text, random_bytes, random_text
from fuzzing.parser import seeds
from fuzzing.tokens import NOW
from streams.core.clock import FrozenClock
from streams.core.errors import ServiceUnavailableError
from streams.core.records import InboundMail
from streams.edges.intake import IntakeHandler
from streams.sending.verp import VerpSigner
from streams.topics import default_codec

__all__ = ["REASONS", "target"]

REASONS = frozenset(
    {
        "sender-refused",
        "bad-return-path",
        "recipient-not-accepted",
        "too-many-recipients",
        "broker-unavailable",
    }
)
_BOUNCE_DOMAIN = "bounce.example"
_UNSUBSCRIBE_DOMAIN = "unsub.example"
_FEEDBACK = "fbl@feedback.example"
_RCPT_REASONS = {
    "550 5.7.1": "bad-return-path",
    "550 5.1.1": "recipient-not-accepted",
    "452 4.5.3": "too-many-recipients",
}


class _Publisher:
    """In memory: keeps the last value, or fails when told to, as a broker that is down."""

    def __init__(self) -> None:
        self.fail = False
        self.last: tuple[bytes, bytes] | None = None

    async def publish(self, key: bytes, value: bytes) -> None:
        if self.fail:
            raise ServiceUnavailableError("the fuzz publisher is down")
        self.last = (key, value)

    async def close(self) -> None:
        return None


class _Intake:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.verp = VerpSigner({3: b"fuzz-verp-key-0123456789"}, 3, _BOUNCE_DOMAIN)
        self.publisher = _Publisher()
        self.codec = default_codec()
        self.handler = IntakeHandler(
            self.verp,
            [_FEEDBACK],
            self.publisher,
            unsubscribe_domain=_UNSUBSCRIBE_DOMAIN,
            clock=FrozenClock(NOW),
            codec=self.codec,
        )


@lru_cache(maxsize=1)
def _intake() -> _Intake:
    return _Intake()


def _escaped(rnd: random.Random, text: str) -> str:
    """What aiosmtpd makes of bytes that are not UTF-8: surrogate escapes."""
    data = text.encode("utf-8", "surrogatepass")
    if rnd.random() < 0.5:
        data = mutate_bytes(rnd, data)
    return data.decode("utf-8", "surrogateescape")


def _address(rnd: random.Random) -> str:
    verp = _intake().verp
    good = rnd.choice(
        (
            verp.return_path(rnd.randbytes(32).hex()),
            _FEEDBACK,
            f"unsubscribe-{rnd.randbytes(6).hex()}@{_UNSUBSCRIBE_DOMAIN}",
            f"postmaster@{_BOUNCE_DOMAIN}",
            f"POSTMASTER@{_UNSUBSCRIBE_DOMAIN}.",
        )
    )
    move = rnd.randrange(10)
    if move <= 2:
        return good
    if move <= 5:
        return mutate_text(rnd, good)
    if move == 6:
        return _escaped(rnd, good)
    if move == 7:  # another case, a signed token under another domain, a forged token
        token = good.partition("@")[0]
        return rnd.choice(
            (
                good.upper(),
                f"{token}@elsewhere.example",
                "b-"
                + base64.b32encode(rnd.randbytes(38)).decode().rstrip("=").lower()
                + f"@{_BOUNCE_DOMAIN}",
                f"<{good}>",
                f"b-@{_BOUNCE_DOMAIN}",
            )
        )
    if move == 8:
        return "x" * rnd.choice((64, 255, 600)) + f"@{_BOUNCE_DOMAIN}"
    return random_text(rnd, 80)


def _sender(rnd: random.Random) -> str:
    return rnd.choice(
        (
            "<>",
            "mailer-daemon@mx.example",
            _escaped(rnd, "bounces@mx.example"),
            random_text(rnd, 60),
            "a" * rnd.choice((256, 500, 512, 513, 530)) + "@mx.example",
        )
    )


def _helo(rnd: random.Random) -> str | None:
    return rnd.choice(
        (
            None,
            "mx.example",
            "[192.0.2.1]",
            "192.0.2.1",
            "2001:db8::1",
            "h" * 400,
            _escaped(rnd, "mx.example"),
            random_text(rnd, 40),
        )
    )


def _data(rnd: random.Random) -> bytes:
    corpus = seeds()
    if corpus and rnd.random() < 0.8:
        return mutate_bytes(rnd, rnd.choice(corpus))
    return random_bytes(rnd, 2048)


def _case(rnd: random.Random) -> dict[str, object]:
    if rnd.random() < 0.97:
        recipients = [_address(rnd) for _ in range(rnd.choice((1, 1, 2, 5)))]
    else:  # past the limit of 100
        verp = _intake().verp
        recipients = [verp.return_path(rnd.randbytes(32).hex()) for _ in range(105)]
    return {
        "helo": _helo(rnd),
        "mail_from": _sender(rnd),
        "rcpt": recipients,
        "data": _data(rnd),
        "broker_down": rnd.random() < 0.05,
    }


async def _transaction(intake: _Intake, case: dict[str, object]) -> Outcome:
    handler = intake.handler
    session = Session(intake.loop)
    session.host_name = case["helo"]  # type: ignore[assignment]
    envelope = Envelope()
    mail_from = case["mail_from"]
    assert isinstance(mail_from, str)
    if hasattr(handler, "handle_MAIL"):
        reply = await handler.handle_MAIL(None, session, envelope, mail_from, [])  # type: ignore[arg-type]
        if not reply.startswith("250"):
            if not reply.startswith("553 5.1.7"):
                raise AssertionError(f"MAIL answered {reply!r}")
            return rejected("sender-refused")
    else:
        envelope.mail_from = mail_from
    last_refusal = ""
    for address in case["rcpt"]:  # type: ignore[attr-defined]
        reply = await handler.handle_RCPT(None, session, envelope, address, [])  # type: ignore[arg-type]
        if reply.startswith("250 2.1.5"):
            continue
        last_refusal = _RCPT_REASONS.get(reply[:9], "")
        if not last_refusal:
            raise AssertionError(f"RCPT answered {reply!r}")
    if not envelope.rcpt_tos:
        return rejected(last_refusal)
    some_refused = len(envelope.rcpt_tos) < len(case["rcpt"])  # type: ignore[arg-type]
    envelope.original_content = case["data"]  # type: ignore[assignment]
    intake.publisher.fail = bool(case["broker_down"])
    intake.publisher.last = None
    reply = await handler.handle_DATA(None, session, envelope)  # type: ignore[arg-type]
    if reply.startswith("451 4.3.0") and intake.publisher.fail:
        return rejected("broker-unavailable")
    if not reply.startswith("250 2.0.0") or intake.publisher.last is None:
        raise AssertionError(f"DATA answered {reply!r}")
    record = intake.codec.decode(intake.publisher.last[1], InboundMail)
    if record.raw != case["data"] or list(record.rcpt_to) != envelope.rcpt_tos:
        raise AssertionError("the published record is not the message handed over")
    return accepted("queued, some recipients refused" if some_refused else "queued")


def _check(case: dict[str, object]) -> Outcome:
    intake = _intake()
    # The handler logs every refused return path; a fuzz run would print thousands.
    logger = logging.getLogger("streams.edges.intake")
    was_disabled, logger.disabled = logger.disabled, True
    try:
        return intake.loop.run_until_complete(_transaction(intake, case))
    finally:
        logger.disabled = was_disabled


def _describe(case: dict[str, object]) -> str:
    data = case["data"]
    assert isinstance(data, bytes)
    return (
        f"HELO {case['helo']!r}, MAIL FROM {case['mail_from']!r}, RCPT {case['rcpt']!r}, "
        f"{len(data)} bytes of DATA, broker down: {case['broker_down']}"
    )


def target() -> Target:
    return Target(
        name="intake",
        what="SMTP intake handler (HELO, MAIL, RCPT, DATA; publisher in memory)",
        reasons=REASONS,
        generate=_case,
        check=_check,
        describe=_describe,
    )
