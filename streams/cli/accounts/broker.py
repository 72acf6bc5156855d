"""The broker as `sendgate accounts` meets it: a client started within the caller's time, and one
error that says where the broker was expected and how to start it.

aiokafka on its own retries an unreachable broker for a long while, which at a terminal looks
like a hang; both the changelog reader and the reinstatement publisher give up after `--timeout`.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.core.settings import Settings
from streams.edges.admin import KAFKA_FAILURES, unreachable

__all__ = ["CLIENT_ID", "KAFKA_FAILURES", "start_within", "unreachable"]

CLIENT_ID = "sendgate-accounts"
"""How the broker's logs name these commands' clients."""


async def start_within(
    client: AIOKafkaConsumer | AIOKafkaProducer, settings: Settings, timeout_s: float
) -> None:
    """Start the client, or stop it again and raise `ServiceUnavailableError` when the broker
    does not answer within `timeout_s`: a half-started client would keep retrying behind us."""
    try:
        await asyncio.wait_for(client.start(), timeout_s)
    except KAFKA_FAILURES as exc:
        await client.stop()
        raise unreachable(settings, exc) from None
