"""The ledger sink rides out an outage of its database: it backs off, says so once when the
outage starts and once when it ends, and stores the batch whole afterwards."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streams.core.errors import ServiceUnavailableError
from streams.edges.ledger import sink


async def test_retries_until_the_database_answers_and_logs_the_outage_twice(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sink, "RETRY_FIRST_S", 0.01)
    monkeypatch.setattr(sink, "RETRY_MAX_S", 0.02)
    attempts = []

    async def attempt() -> int:
        attempts.append(1)
        if len(attempts) <= 5:
            raise ServiceUnavailableError("the ledger database did not answer (OperationalError)")
        return 7

    before = sink.OUTAGE_RETRIES._value.get()
    with caplog.at_level(logging.WARNING, logger=sink.log.name):
        stored = await sink._until_stored(attempt, asyncio.Event())
    assert stored == 7 and len(attempts) == 6
    assert sink.OUTAGE_RETRIES._value.get() == before + 5
    assert sink.DATABASE_UP._value.get() == 1
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "did not answer" in messages[0] and "storing again" in messages[1]


async def test_a_stop_during_the_outage_returns_without_storing() -> None:
    stop = asyncio.Event()

    async def attempt() -> int:
        stop.set()
        raise ServiceUnavailableError("the ledger database did not answer (OperationalError)")

    assert await sink._until_stored(attempt, stop) is None
    assert sink.DATABASE_UP._value.get() == 0


def test_the_producer_says_timed_out_apart_from_refused_and_unreachable() -> None:
    """A publish that was never acknowledged in time is not a refusal (the record may or may
    not be written); an unreachable broker is not one either; a real refusal is."""
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, RecordTooLargeError
    from pydantic import SecretStr

    from streams.core.errors import SendgateError
    from streams.core.settings import Settings
    from streams.edges.producer import _kafka_failure

    settings = Settings(recipient_key_secret=SecretStr("s" * 40))
    timed_out = _kafka_failure(settings, "publishing to 'x'", KafkaTimeoutError())
    assert isinstance(timed_out, ServiceUnavailableError) and "timed out" in str(timed_out)
    unreachable = _kafka_failure(settings, "publishing to 'x'", KafkaConnectionError("refused"))
    assert isinstance(unreachable, ServiceUnavailableError)
    assert "could not be reached" in str(unreachable)
    refused = _kafka_failure(settings, "publishing to 'x'", RecordTooLargeError())
    assert type(refused) is SendgateError and "refused" in str(refused)
