"""How the unsubscribe and webhook services hand their records to Kafka, also while Kafka is
down.

A person who clicks while the broker is down must be told the truth (503: not confirmed, try
again) and the service must still be there to tell them, and to take the retry once the broker is
back. So the producer connects when first needed rather than before the service listens, and a
failed connection is tried again by the next request (requests arriving meanwhile share the one
attempt instead of queueing their own).

Once connected, the producer is not idempotent on purpose (`SendgateProducer(idempotent=False)`):
the idempotent one retries a batch until the broker takes it, so a click answered 503 during an
outage would still land when the broker comes back, and its retry would land again. Here a batch
the broker never got fails after `ack_timeout_s` and is dropped, so a 503 nearly always means
the record is not there. Nearly: a broker that wrote the batch and died before answering leaves it
written, which is why the answer says "not confirmed" and not "not recorded". The records are
safe to write twice anyway (a click's or report's id comes from the token and the
choice), so the rare duplicate a retried produce request can leave changes nothing downstream.
"""

from __future__ import annotations

import asyncio
import logging

from streams.core.errors import ServiceUnavailableError
from streams.core.recipient import RecipientKeyer
from streams.core.records import Record
from streams.core.settings import Settings
from streams.edges.producer import SendgateProducer

__all__ = ["WebPublisher"]

log = logging.getLogger(__name__)

_GRACE_S = 5.0
"""Beyond `ack_timeout_s`, how long a publish may take before it is given up on regardless."""


class WebPublisher:
    """Publishes the service's records, connecting (again) whenever it has to."""

    def __init__(
        self,
        settings: Settings,
        *,
        keyer: RecipientKeyer,
        connect_timeout_s: float = 5.0,
        ack_timeout_s: float = 10.0,
    ) -> None:
        self._settings = settings
        self._keyer = keyer
        self._connect_timeout_s = connect_timeout_s
        self._ack_timeout_s = ack_timeout_s
        self._producer: SendgateProducer | None = None
        self._connecting: asyncio.Task[SendgateProducer] | None = None

    @property
    def connected(self) -> bool:
        return self._producer is not None

    async def _start(self) -> SendgateProducer:
        producer = SendgateProducer(
            self._settings,
            keyer=self._keyer,
            connect_timeout_s=self._connect_timeout_s,
            request_timeout_ms=max(1000, int(self._ack_timeout_s * 1000)),
            idempotent=False,
            # A person is waiting on the page: answer 503 within seconds, not after the
            # producer's patience for a file being published.
            retry_for_s=5.0,
        )
        await producer.__aenter__()
        return producer

    async def connect(self) -> SendgateProducer:
        """The connected producer; `ServiceUnavailableError` while the broker cannot be reached."""
        if self._producer is not None:
            return self._producer
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.create_task(self._start())
            # Read the outcome even if every waiter hung up, so a failure is never left unread.
            self._connecting.add_done_callback(lambda task: task.cancelled() or task.exception())
        attempt = self._connecting
        # Shielded: a client that hangs up must not cancel the attempt others are waiting for.
        producer = await asyncio.shield(attempt)
        if self._producer is None:
            self._producer = producer
            log.info("connected to Kafka at %s", self._settings.kafka_bootstrap_servers)
        return self._producer

    async def publish(self, record: Record) -> None:
        """Return once Kafka has acknowledged `record`; `ServiceUnavailableError` otherwise."""
        producer = await self.connect()
        try:
            async with asyncio.timeout(self._ack_timeout_s + _GRACE_S):
                await producer.publish(record)
        except TimeoutError:
            raise ServiceUnavailableError(
                f"Kafka broker at {self._settings.kafka_bootstrap_servers} did not acknowledge "
                f"within {self._ack_timeout_s + _GRACE_S:.0f} s"
            ) from None

    async def close(self) -> None:
        attempt, self._connecting = self._connecting, None
        if attempt is not None and not attempt.done():
            attempt.cancel()
            await asyncio.gather(attempt, return_exceptions=True)
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.__aexit__(None, None, None)
