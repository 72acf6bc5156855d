"""Publishing a reinstatement: one `ReinstatementRequest` on `account-commands`, keyed by the
account, acknowledged by every in-sync replica before the command says it is done."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from streams.cli.accounts.broker import CLIENT_ID, KAFKA_FAILURES, start_within
from streams.core.errors import SendgateError, ServiceUnavailableError
from streams.core.settings import Settings
from streams.reputation.standing import ReinstatementRequest
from streams.topics import ACCOUNT_COMMANDS, default_codec

__all__ = ["publish_reinstatement"]


async def publish_reinstatement(
    settings: Settings, request: ReinstatementRequest, *, timeout_s: float = 10.0
) -> RecordMetadata:
    """Publish the request to `account-commands`, keyed by the account id, and wait until every
    in-sync replica has it.

    Not `SendgateProducer`: that one keys records by recipient and needs the recipient key secret,
    which an operator reinstating an account has no use for.
    """
    topic = ACCOUNT_COMMANDS.full_name(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=CLIENT_ID,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=max(1, int(timeout_s * 1000)),
    )
    await start_within(producer, settings, timeout_s)
    try:
        metadata = await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout_s)
        if topic not in metadata.topics():
            raise SendgateError(
                f"topic '{topic}' does not exist on {settings.kafka_bootstrap_servers}; create it "
                "with: sendgate topics create"
            )
        return await asyncio.wait_for(
            producer.send_and_wait(
                topic, default_codec().encode(request), key=request.account_id.encode("utf-8")
            ),
            timeout_s,
        )
    except KAFKA_FAILURES as exc:
        raise ServiceUnavailableError(
            f"Kafka broker at {settings.kafka_bootstrap_servers} did not acknowledge the "
            f"reinstatement ({type(exc).__name__}); it may or may not have been written: publish "
            "it again with the same --id, which the enforcer applies once"
        ) from None
    finally:
        await producer.stop()
