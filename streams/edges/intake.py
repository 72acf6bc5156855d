"""SMTP intake (RFC 5321) for bounces and feedback reports: accept, publish, then answer 250.

Mail infrastructure sends what happened to our mail back to us by SMTP: DSNs to the VERP return
path of each send, ISP feedback-loop reports (ARF) to the feedback address, and list-unsubscribe
mails to `unsubscribe-…`. This intake accepts exactly those recipients and nothing else, and
publishes each accepted message whole (raw bytes plus envelope, an `InboundMail`) to
`inbound-mail`, keyed by a fresh intake id. Parsing happens downstream.

An accepted message is never lost: `250` is answered only after the broker acknowledged the
record with acks=all. If Kafka does not acknowledge in time, the answer is `451 4.3.0` and the
sending MTA keeps the message and retries (RFC 5321 §4.5.4.1). A publish that timed out on our
side may still land, so a retry can duplicate a message: at-least-once, like the rest of sendgate.

Replies (RFC 3463 enhanced codes in the text; ENHANCEDSTATUSCODES is not advertised because
aiosmtpd's own replies do not carry them):

    MAIL  553 5.1.7  a sender address that is not UTF-8 or longer than 512 characters
    RCPT  250 2.1.5  a return path whose VERP token verifies, a feedback address, unsubscribe-…
          550 5.7.1  a return path at the bounce domain whose token does not verify (counted)
          550 5.1.1  anything else
          452 4.5.3  more than `max_recipients` recipients
    MAIL  552 5.3.4  a declared SIZE above the cap (SIZE is advertised, RFC 1870)
    DATA  552 5.3.4  more data than the cap
          250 2.0.0  queued as <intake id>   (after the broker's ack)
          451 4.3.0  Kafka unavailable: not accepted, try again

Serving: aiosmtpd's `Controller` runs the SMTP server on a loop of its own in a thread, so the
Kafka producer would live on another loop and every DATA would hop threads;
`UnthreadedController.begin()` calls `loop.run_until_complete`, which cannot run inside an
already running loop (`asyncio.run`). We therefore do what `UnthreadedController.begin()` does,
`loop.create_server(lambda: SMTP(handler, ...))`, from inside the running loop: SMTP sessions,
the handler and the producer share one loop, and `SmtpIntake.start()`/`stop()` are coroutines.

Personal data: no address and no IP address is logged (aiosmtpd logs both under `mail.log`; the
intake redacts that logger's arguments and drops its records below WARNING). The record keeps
the HELO/EHLO name as `peer`, never the connecting IP; a HELO address literal (`[192.0.2.1]`) or
a bare IP is not kept either.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import uuid
import weakref
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Literal, Protocol, Self

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiosmtpd.smtp import SMTP, Envelope, Session
from prometheus_client import Counter

from streams.core.clock import Clock, SystemClock
from streams.core.codec import Codec
from streams.core.errors import ServiceUnavailableError
from streams.core.records import InboundMail
from streams.core.settings import Settings
from streams.sending.verp import VERP_PREFIX, ForgedVerpError, VerpSigner
from streams.topics import INBOUND_MAIL, default_codec

__all__ = [
    "DEFAULT_MAX_RECIPIENTS",
    "FORGED_VERP",
    "INBOUND_MESSAGES",
    "MAX_SENDER_CHARS",
    "UNSUBSCRIBE_PREFIX",
    "InboundPublisher",
    "IntakeHandler",
    "KafkaInboundPublisher",
    "RecipientKind",
    "SmtpIntake",
    "run_intake",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_RECIPIENTS = 100
"""RFC 5321 §4.5.3.1.8: a server must accept at least 100 recipients."""
UNSUBSCRIBE_PREFIX = "unsubscribe-"
_UNSUBSCRIBE_LOCAL = re.compile(re.escape(UNSUBSCRIBE_PREFIX) + r"[a-z0-9][a-z0-9._=-]{0,51}")
_PEER_MAX_CHARS = 255
MAX_SENDER_CHARS = 512
"""The longest MAIL FROM kept (`InboundMail.mail_from`); RFC 5321 §4.5.3.1.3 allows 256 octets."""
_TEMPORARY_FAILURE = "451 4.3.0 temporary failure, try again"

FORGED_VERP = Counter(
    "sendgate_intake_forged_verp",
    "RCPT TO addresses at the bounce domain whose VERP token did not verify, by reason.",
    ["reason"],
)
REPLIES = Counter(
    "sendgate_intake_replies",
    "Replies the intake gave, by SMTP command and reply code (aiosmtpd's own, such as a 552 for "
    "an oversized message, are not among them).",
    ["command", "code"],
)
INBOUND_MESSAGES = Counter(
    "sendgate_intake_messages",
    "Messages at the end of DATA: queued (published and acknowledged) or temporary_failure.",
    ["outcome"],
)

RecipientKind = Literal["return-path", "feedback", "unsubscribe", "postmaster"]


class InboundPublisher(Protocol):
    """Where accepted messages go; `publish` returns only once the record is durable."""

    async def publish(self, key: bytes, value: bytes) -> None:
        """Raise `ServiceUnavailableError` unless the record was acknowledged."""
        ...

    async def close(self) -> None: ...


class KafkaInboundPublisher:
    """Publishes to `inbound-mail` with acks=all, starting the producer when first needed.

    The SMTP server starts even while Kafka is down: until the producer connects, every message
    is answered `451` and its sender retries, which is what an MTA does best.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        connect_timeout_s: float = 10.0,
        ack_timeout_s: float = 30.0,
    ) -> None:
        self._settings = settings
        self._topic = INBOUND_MAIL.full_name(settings)
        self._connect_timeout_s = connect_timeout_s
        self._ack_timeout_s = ack_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    def _unavailable(self, action: str, exc: BaseException) -> ServiceUnavailableError:
        detail = str(exc) or type(exc).__name__
        return ServiceUnavailableError(
            f"Kafka broker at {self._settings.kafka_bootstrap_servers} did not answer while "
            f"{action}: {detail}"
        )

    async def connect(self) -> None:
        """Start the producer now (idempotent); `ServiceUnavailableError` if the broker is down."""
        async with self._starting:
            if self._producer is not None:
                return
            producer = AIOKafkaProducer(
                bootstrap_servers=self._settings.kafka_bootstrap_servers,
                client_id="sendgate-intake",
                acks="all",
                enable_idempotence=True,
                request_timeout_ms=max(1000, int(self._ack_timeout_s * 1000)),
            )
            try:
                await asyncio.wait_for(producer.start(), self._connect_timeout_s)
            except (KafkaError, OSError, TimeoutError) as exc:
                await producer.stop()
                raise self._unavailable("connecting", exc) from None
            self._producer = producer

    async def publish(self, key: bytes, value: bytes) -> None:
        await self.connect()
        producer = self._producer
        if producer is None:  # closed meanwhile
            raise ServiceUnavailableError("the intake's Kafka producer is closed")
        try:
            async with asyncio.timeout(self._ack_timeout_s):
                acknowledged = await producer.send(self._topic, value=value, key=key)
                await acknowledged
        except (KafkaError, OSError, TimeoutError) as exc:
            raise self._unavailable(f"publishing to '{self._topic}'", exc) from None

    async def close(self) -> None:
        async with self._starting:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


def _peer_name(helo_name: str | None) -> str | None:
    """The HELO/EHLO name to keep: None for an address literal or an IP (no IPs are kept), and
    for a name that is not UTF-8 (aiosmtpd hands such bytes over as surrogate escapes, which no
    record can hold)."""
    if not helo_name or helo_name.startswith("[") or not _is_utf8(helo_name):
        return None
    try:
        ipaddress.ip_address(helo_name)
    except ValueError:
        return helo_name[:_PEER_MAX_CHARS]
    return None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _normalised(address: str) -> str:
    """Case-folded address with the domain's trailing dot dropped, for comparing our own."""
    local, _, domain = address.strip().rpartition("@")
    return f"{local.lower()}@{domain.rstrip('.').lower()}"


class IntakeHandler:
    """The aiosmtpd handler: which recipients we accept, and publishing at the end of DATA.

    `forged_verp_total` counts this handler's refused VERP tokens (the Prometheus counter
    `FORGED_VERP` counts them for the whole process, by reason).
    """

    def __init__(
        self,
        verp: VerpSigner,
        feedback_addresses: Iterable[str],
        publisher: InboundPublisher,
        *,
        unsubscribe_domain: str | None = None,
        max_recipients: int = DEFAULT_MAX_RECIPIENTS,
        clock: Clock | None = None,
        codec: Codec | None = None,
    ) -> None:
        self._verp = verp
        self._feedback = frozenset(_normalised(address) for address in feedback_addresses)
        self._publisher = publisher
        self._unsubscribe_domain = (unsubscribe_domain or verp.domain).rstrip(".").lower()
        self._max_recipients = max_recipients
        self._clock = clock or SystemClock()
        self._codec = codec or default_codec()
        self.forged_verp_total = 0
        self._publishing = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def classify(self, address: str) -> RecipientKind | None:
        """What a recipient is to us, or None if we do not take mail for it.

        Raises `ForgedVerpError` for a would-be return path (our prefix at the bounce domain)
        whose token does not verify.
        """
        local, at, domain = address.rpartition("@")
        if not at or not local:
            return None
        if _normalised(address) in self._feedback:
            return "feedback"
        domain = domain.rstrip(".").lower()
        local = local.lower()
        if domain == self._verp.domain and local.startswith(VERP_PREFIX):
            self._verp.verify(address)
            return "return-path"
        # Unsubscribe mailto tokens are checked syntactically only: verifying them belongs to
        # the unsubscribe agents (`streams.suppression.mailto`); whatever arrives here is published
        # for them.
        if domain == self._unsubscribe_domain and _UNSUBSCRIBE_LOCAL.fullmatch(local):
            return "unsubscribe"
        # RFC 5321 section 4.5.1: a domain that receives mail MUST accept mail for postmaster.
        if local == "postmaster" and domain in {self._verp.domain, self._unsubscribe_domain}:
            return "postmaster"
        return None

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """Refuse, at once and for good, a sender the `InboundMail` record cannot hold: one not
        in UTF-8, or longer than its field. Taken at DATA, it would fail there as a temporary
        error, and the sending MTA would retry the message for days."""
        if len(address) > MAX_SENDER_CHARS or not _is_utf8(address):
            return _reply("MAIL", "553 5.1.7 sender address not accepted")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return _reply("MAIL", "250 OK")

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= self._max_recipients:
            return _reply("RCPT", "452 4.5.3 too many recipients")
        try:
            kind = self.classify(address)
        except ForgedVerpError as error:
            self.forged_verp_total += 1
            FORGED_VERP.labels(reason=error.reason).inc()
            log.warning("refused a VERP return path that does not verify (%s)", error.reason)
            return _reply("RCPT", f"550 5.7.1 <{address}>: return path not valid")
        if kind is None:
            return _reply("RCPT", f"550 5.1.1 <{address}>: recipient not accepted here")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return _reply("RCPT", "250 2.1.5 recipient ok")

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        intake_id = str(uuid.uuid4())
        record = InboundMail(
            intake_id=intake_id,
            received_at=self._clock.now(),
            mail_from=envelope.mail_from or "<>",
            rcpt_to=tuple(envelope.rcpt_tos),
            raw=envelope.original_content or b"",
            peer=_peer_name(session.host_name),
        )
        value = self._codec.encode(record)
        self._publishing += 1
        self._idle.clear()
        try:
            await self._publisher.publish(intake_id.encode("ascii"), value)
        except ServiceUnavailableError as error:
            INBOUND_MESSAGES.labels(outcome="temporary_failure").inc()
            log.warning("message not accepted (sender will retry): %s", error)
            return _reply("DATA", _TEMPORARY_FAILURE)
        finally:
            self._publishing -= 1
            if not self._publishing:
                self._idle.set()
        INBOUND_MESSAGES.labels(outcome="queued").inc()
        log.debug("queued inbound mail %s", intake_id)
        return _reply("DATA", f"250 2.0.0 queued as {intake_id}")

    async def handle_exception(self, error: Exception) -> str:
        """Any other failure in a session: a temporary refusal, logged without its data."""
        log.error("SMTP session failed: %s", type(error).__name__)
        return _reply("session", _TEMPORARY_FAILURE)

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no DATA is being published; False if that took longer than `timeout_s`."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True


class _IntakeSMTP(SMTP):
    """aiosmtpd's SMTP with RFC 3463 codes on its size refusals (it sends none there)."""

    _SIZE_REFUSALS = frozenset(
        {
            "552 Error: Too much mail data",
            "552 Error: message size exceeds fixed maximum message size",
        }
    )

    async def push(self, status: str | bytes) -> None:
        if isinstance(status, str) and status in self._SIZE_REFUSALS:
            status = (
                f"552 5.3.4 message exceeds the fixed maximum size of {self.data_size_limit} octets"
            )
        await super().push(status)


class _RedactSmtpLog(logging.Filter):
    """aiosmtpd's `mail.log` logs peer IPs and addresses: drop its chatter, redact the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple("<redacted>" for _ in args)
        return True


_SMTP_LOG_FILTER = _RedactSmtpLog()


def _redact_aiosmtpd_log() -> None:
    smtp_log = logging.getLogger("mail.log")
    if _SMTP_LOG_FILTER not in smtp_log.filters:
        smtp_log.addFilter(_SMTP_LOG_FILTER)


def _reply(command: str, reply: str) -> str:
    """Count the reply by command and code, and give it back."""
    REPLIES.labels(command, reply[:3]).inc()
    return reply


class SmtpIntake:
    """The SMTP intake server on the running loop; `async with`, or `start()` and `stop()`.

    `port=0` binds a free port; `start()` returns the bound one. Unless a `publisher` is given,
    the intake makes (and closes) a `KafkaInboundPublisher` for `settings`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        verp: VerpSigner,
        feedback_addresses: Iterable[str],
        max_message_bytes: int,
        unsubscribe_domain: str | None = None,
        server_hostname: str | None = None,
        publisher: InboundPublisher | None = None,
        clock: Clock | None = None,
        drain_timeout_s: float = 30.0,
    ) -> None:
        if max_message_bytes < 1:
            raise ValueError("max_message_bytes must be positive")
        self._host = host
        self._port = port
        self._max_message_bytes = max_message_bytes
        self._server_hostname = server_hostname or verp.domain
        self._owns_publisher = publisher is None
        self._publisher: InboundPublisher = publisher or KafkaInboundPublisher(settings)
        self._drain_timeout_s = drain_timeout_s
        self.handler = IntakeHandler(
            verp,
            feedback_addresses,
            self._publisher,
            unsubscribe_domain=unsubscribe_domain,
            clock=clock,
        )
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    @property
    def port(self) -> int:
        """The bound port (after `start()`)."""
        if self._server is None:
            raise RuntimeError("the intake is not started")
        return int(self._server.sockets[0].getsockname()[1])

    def _new_session(self) -> SMTP:
        session = _IntakeSMTP(
            self.handler,
            data_size_limit=self._max_message_bytes,
            hostname=self._server_hostname,
            ident="sendgate intake",
            enable_SMTPUTF8=True,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.add(session)
        return session

    async def start(self) -> int:
        """Listen, then try to connect to Kafka (a broker that is down only delays acceptance)."""
        if self._server is not None:
            raise RuntimeError("the intake is already started")
        _redact_aiosmtpd_log()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_session, self._host, self._port)
        if isinstance(self._publisher, KafkaInboundPublisher):
            try:
                await self._publisher.connect()
            except ServiceUnavailableError as error:
                log.warning("intake runs without Kafka; mail is refused with 451: %s", error)
        return self.port

    async def stop(self) -> None:
        """Stop listening, let publishes in flight finish, close sessions and the producer."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if not await self.handler.wait_idle(self._drain_timeout_s):
            log.warning("stopping with publishes still in flight; their senders will retry")
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await server.wait_closed()
        if self._owns_publisher:
            await self._publisher.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


async def run_intake(
    settings: Settings,
    *,
    host: str,
    port: int,
    verp: VerpSigner,
    feedback_addresses: Iterable[str],
    max_message_bytes: int,
    stop: asyncio.Event,
    unsubscribe_domain: str | None = None,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Serve the intake until `stop` is set; `on_listening(port)` once it accepts connections."""
    async with SmtpIntake(
        settings,
        host=host,
        port=port,
        verp=verp,
        feedback_addresses=feedback_addresses,
        max_message_bytes=max_message_bytes,
        unsubscribe_domain=unsubscribe_domain,
    ) as intake:
        log.info("SMTP intake listening on %s port %d", host, intake.port)
        if on_listening is not None:
            on_listening(intake.port)
        await stop.wait()
