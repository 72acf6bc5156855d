"""The unsubscribe service without Kafka: it starts, answers 503, and connects once Kafka is
back; the producer is a stand-in, except in the last test, where the broker address refuses
connections (a closed loopback port) and the real service answers."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from streams.core.errors import ServiceUnavailableError
from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings
from streams.edges.web import publishing
from streams.edges.web.publishing import WebPublisher
from streams.edges.web.serve import free_loopback_port, serve_unsubscribes
from streams.policy import load_policy
from streams.sending.signing_keys import unsubscribe_tokens
from tests.support.factory import unsubscribe_click

KEYER = RecipientKeyer(b"k" * 32)
CLICK = unsubscribe_click()


class FakeBroker:
    """What the stand-in producers find: down or up, and everything they were asked to do."""

    def __init__(self) -> None:
        self.up = False
        self.hangs = False
        self.starts = 0
        self.options: list[dict[str, Any]] = []
        self.records: list = []
        self.closed = 0


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    fake = FakeBroker()

    class Producer:
        def __init__(self, settings: Settings, **options: Any) -> None:
            fake.options.append(options)

        async def __aenter__(self) -> Producer:
            fake.starts += 1
            await asyncio.sleep(0.01)  # long enough for requests to arrive meanwhile
            if not fake.up:
                raise ServiceUnavailableError("Kafka broker at kafka:9092 is not reachable")
            return self

        async def __aexit__(self, *exc: object) -> None:
            fake.closed += 1

        async def publish(self, record: Any) -> None:
            if fake.hangs:
                await asyncio.Event().wait()
            fake.records.append(record)

    monkeypatch.setattr(publishing, "SendgateProducer", Producer)
    return fake


def publisher(**options: Any) -> WebPublisher:
    return WebPublisher(Settings(kafka_bootstrap_servers="kafka:9092"), keyer=KEYER, **options)


async def test_without_kafka_publishing_fails_and_the_next_request_tries_again(broker) -> None:
    web = publisher()
    with pytest.raises(ServiceUnavailableError):
        await web.publish(CLICK)
    assert not web.connected
    broker.up = True
    await web.publish(CLICK)
    await web.publish(CLICK)
    assert (broker.starts, broker.records, web.connected) == (2, [CLICK, CLICK], True)
    await web.close()
    assert broker.closed == 1


async def test_requests_during_an_outage_share_one_connection_attempt(broker) -> None:
    web = publisher()
    results = await asyncio.gather(*(web.publish(CLICK) for _ in range(20)), return_exceptions=True)
    assert all(isinstance(result, ServiceUnavailableError) for result in results)
    assert broker.starts == 1


async def test_the_producer_is_not_idempotent_so_a_503_is_not_written_later(broker) -> None:
    """The idempotent producer would retry the batch until the broker took it."""
    broker.up = True
    await publisher(ack_timeout_s=7).connect()
    [options] = broker.options
    assert (options["idempotent"], options["request_timeout_ms"]) == (False, 7000)


async def test_a_publish_that_is_never_acknowledged_is_given_up_on(
    broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publishing, "_GRACE_S", 0.0)
    broker.up, broker.hangs = True, True
    with pytest.raises(ServiceUnavailableError, match="did not acknowledge"):
        await publisher(ack_timeout_s=0.05).publish(CLICK)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_service_starts_without_kafka_and_answers_503(tmp_path: Path) -> None:
    """`sendgate web` with the broker down: it listens, the page works, a click is 503."""
    port = free_loopback_port()
    settings = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{closed_port()}",
        topic_prefix="web-unit-",
        data_dir=tmp_path,
        recipient_key_secret=SecretStr("r" * 32),
        unsubscribe_base_url=f"http://127.0.0.1:{port}",
    )
    tokens = unsubscribe_tokens(settings, load_policy(settings.policy_file).unsubscribe)
    link = f"http://127.0.0.1:{port}/u/" + tokens.issue(
        recipient_key="ab" * 32,
        account_id="acme",
        list_id="news",
        request_id="r1",
        issued_at=datetime.now(UTC),
    )
    stop = asyncio.Event()
    listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve_unsubscribes(
            settings, host="127.0.0.1", port=port, stop=stop, on_listening=listening.set_result
        )
    )
    try:
        assert await asyncio.wait_for(listening, 30) == port
        async with aiohttp.ClientSession() as http:
            async with http.get(link) as page:
                assert page.status == 200
            async with http.post(link, data="List-Unsubscribe=One-Click") as click:
                assert click.status == 503
                assert click.headers["Retry-After"] == "30"
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
