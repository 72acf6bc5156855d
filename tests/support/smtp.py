"""A real SMTP server for tests (aiosmtpd's threaded `Controller` on 127.0.0.1, a free port)
that keeps every message it is given, so tests see what a relay would have received."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTPUTF8
from typing import Any, Self

from aiosmtpd.controller import Controller

__all__ = ["Received", "RecordingRelay", "free_loopback_port"]


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


def free_loopback_port() -> int:
    """A loopback port nothing listens on now (aiosmtpd's controller needs the number up front)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RecordingRelay:
    """`with RecordingRelay() as relay:` an SMTP server on `relay.port`; `relay.received` holds
    what it accepted, in order. `refuse_with` makes it answer DATA with that reply instead,
    `refuse_recipients_with` every RCPT TO."""

    def __init__(
        self, *, refuse_with: str | None = None, refuse_recipients_with: str | None = None
    ) -> None:
        self.received: list[Received] = []
        self.refuse_with = refuse_with
        self.refuse_recipients_with = refuse_recipients_with
        self._lock = threading.Lock()
        self.port = free_loopback_port()
        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True
        )

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refuse_recipients_with is not None:
            return self.refuse_recipients_with
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_with is not None:
            return self.refuse_with
        message = message_from_bytes(envelope.original_content, policy=SMTPUTF8)
        with self._lock:
            self.received.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), message)  # type: ignore[arg-type]
            )
        return "250 2.0.0 OK"

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        """What it received once it has `count` messages, waiting up to `timeout_s` (without
        blocking the event loop, where the sender may be)."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            if time.monotonic() > deadline:
                raise AssertionError(f"the relay got {len(self.received)} of {count} messages")
            await asyncio.sleep(0.02)

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
