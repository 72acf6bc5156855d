"""The producer rides out a broker that is away: retries with a growing, capped wait, order per
recipient kept, each record acknowledged once, and the accurate error when the budget is spent.
A fake client stands in for aiokafka's and time is a counter, so nothing waits and no broker is
needed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
)
from pydantic import SecretStr
from typer.testing import CliRunner

import streams.cli.publish
from streams.cli.publish import app as publish_app
from streams.cli.publish import write_unacknowledged
from streams.core.errors import SendgateError, ServiceUnavailableError
from streams.core.records import SendRequest
from streams.core.settings import Settings
from streams.edges.producer import SendgateProducer, backoff_delays
from streams.topics import SEND_REQUESTS

SETTINGS = Settings(
    kafka_bootstrap_servers="127.0.0.1:1",
    topic_prefix="retry-unit-",
    recipient_key_secret=SecretStr("producer-retry-unit-test-secret-0123"),
)
TOPIC = SEND_REQUESTS.full_name(SETTINGS)

Script = Callable[[int, bytes], BaseException | None]
"""Given the n-th send (from 0) and the record's value: the failure of that try, or None."""


def _never(n: int, value: bytes) -> BaseException | None:
    return None


class FakeBroker:
    """The topic as a list of (key, value) in the order written, and scripted failures."""

    def __init__(
        self,
        *,
        start_failures: list[BaseException] | None = None,
        enqueue_failure: Script = _never,
        ack_failure: Script = _never,
        hang: Callable[[int], bool] = lambda n: False,
    ) -> None:
        self.log: list[tuple[bytes | None, bytes]] = []
        self.start_failures = list(start_failures or [])
        self.enqueue_failure = enqueue_failure
        self.ack_failure = ack_failure
        self.hang = hang
        self.sends = 0
        self.starts = 0
        self.stops = 0
        self.client_options: dict[str, Any] = {}

    def client(self, **options: Any) -> FakeClient:
        self.client_options = options
        return FakeClient(self)


class FakeClient:
    """What `SendgateProducer` uses of `AIOKafkaProducer`."""

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.client = self

    async def start(self) -> None:
        self.broker.starts += 1
        if self.broker.start_failures:
            raise self.broker.start_failures.pop(0)

    async def stop(self) -> None:
        self.broker.stops += 1

    async def fetch_all_metadata(self) -> Any:
        return SimpleNamespace(topics=lambda: {TOPIC})

    async def send(self, topic: str, *, value: bytes, key: bytes | None) -> asyncio.Future[Any]:
        n = self.broker.sends
        self.broker.sends += 1
        refused = self.broker.enqueue_failure(n, value)
        if refused is not None:
            raise refused
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.broker.hang(n):
            return future
        failure = self.broker.ack_failure(n, value)
        if failure is not None:
            future.set_exception(failure)
        else:
            self.broker.log.append((key, value))
            future.set_result(SimpleNamespace(topic=topic, offset=len(self.broker.log) - 1))
        return future


class FakeTime:
    """A monotonic clock that only `sleep` moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _producer(broker: FakeBroker, clock: FakeTime, **options: Any) -> SendgateProducer:
    return SendgateProducer(
        SETTINGS,
        client_factory=broker.client,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        **options,
    )


def _requests(recipients: list[str]) -> list[SendRequest]:
    return [
        SendRequest(
            request_id=f"req-{n}",
            account_id="acct-1",
            recipient=f"{recipient}@example.com",
            classification="transactional",
            from_address="shop@example.org",
            subject="Your receipt",
            requested_at="2026-12-07T09:00:00Z",
        )
        for n, recipient in enumerate(recipients)
    ]


def _request_ids(broker: FakeBroker, producer: SendgateProducer) -> list[str]:
    return [producer._codec.decode(value, SendRequest).request_id for _, value in broker.log]


def _fails_first_try_of(*request_ids: str, error: Callable[[], BaseException]) -> Script:
    """Fail the first try of each named request (its value holds its id), not later ones."""
    pending = {request_id.encode() for request_id in request_ids}

    def script(n: int, value: bytes) -> BaseException | None:
        for request_id in list(pending):
            if request_id in value:
                pending.discard(request_id)
                return error()
        return None

    return script


# --- backoff --------------------------------------------------------------------------------------


def test_backoff_doubles_and_is_capped() -> None:
    delays: Iterator[float] = backoff_delays()
    assert [next(delays) for _ in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]


async def test_start_retries_with_growing_capped_waits_within_the_budget() -> None:
    """A broker refusing connections for 20 s: tries until it answers, waits growing then
    capped, and on_retry hears the seconds left each time."""
    broker = FakeBroker(start_failures=[KafkaConnectionError("refused")] * 7)
    clock = FakeTime()
    told: list[float] = []
    async with _producer(broker, clock, retry_for_s=90, on_retry=told.append):
        pass
    assert broker.starts == 8
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert told == sorted(told, reverse=True) and told[0] == 90
    assert broker.stops == 8  # each failed client is stopped, and the one that worked at the end
    assert broker.client_options["enable_idempotence"] is True
    assert broker.client_options["acks"] == "all"


async def test_the_retry_setting_is_the_default_budget() -> None:
    assert SendgateProducer(SETTINGS).retry_for_s == SETTINGS.publish_retry_s == 90.0
    settings = SETTINGS.model_copy(update={"publish_retry_s": 5.0})
    assert SendgateProducer(settings).retry_for_s == 5.0
    assert SendgateProducer(settings, retry_for_s=0).retry_for_s == 0


# --- giving up ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (KafkaConnectionError("refused"), "connection failed"),
        (OSError(111, "Connection refused"), "connection failed"),
        (TimeoutError(), "no answer in time"),
        (KafkaTimeoutError(), "no answer in time"),
    ],
)
async def test_start_gives_up_after_the_budget_with_the_accurate_error(
    failure: BaseException, reason: str
) -> None:
    broker = FakeBroker(start_failures=[failure] * 1000)
    clock = FakeTime()
    with pytest.raises(ServiceUnavailableError) as excinfo:
        async with _producer(broker, clock, retry_for_s=30):
            pass
    message = str(excinfo.value)
    assert f"is not reachable: {reason} (retried for 30 s)" in message
    assert "scripts/services start" in message
    assert sum(clock.sleeps) == pytest.approx(30)
    assert max(clock.sleeps) <= 8.0


async def test_start_refused_by_the_broker_is_not_retried() -> None:
    broker = FakeBroker(start_failures=[KafkaError("UnsupportedVersion")])
    clock = FakeTime()
    with pytest.raises(SendgateError, match="Kafka refused connecting") as excinfo:
        async with _producer(broker, clock, retry_for_s=30):
            pass
    assert not isinstance(excinfo.value, ServiceUnavailableError)
    assert broker.starts == 1 and clock.sleeps == []


@pytest.mark.parametrize(
    ("error", "wording"),
    [
        (KafkaTimeoutError, "timed out while publishing"),
        (NotLeaderForPartitionError, "could not be reached while publishing"),
        (lambda: KafkaConnectionError("gone"), "could not be reached while publishing"),
    ],
)
async def test_publishing_gives_up_after_the_budget_with_the_accurate_error(
    error: Callable[[], BaseException], wording: str
) -> None:
    broker = FakeBroker(ack_failure=lambda n, value: error())
    clock = FakeTime()
    producer = _producer(broker, clock, retry_for_s=20)
    async with producer:
        with pytest.raises(ServiceUnavailableError, match=wording):
            await producer.publish(_requests(["ann"])[0])
        with pytest.raises(ServiceUnavailableError, match=wording) as excinfo:
            await producer.publish_many(_requests(["ann", "bob"]))
    assert "after 0 records were acknowledged" in str(excinfo.value)
    assert broker.log == []
    assert sum(clock.sleeps) == pytest.approx(40)  # each call had its own 20 s


async def test_a_refusal_is_not_retried() -> None:
    """A record the broker refuses (too large) fails at once, as a refusal."""
    broker = FakeBroker(ack_failure=lambda n, value: MessageSizeTooLargeError())
    clock = FakeTime()
    producer = _producer(broker, clock, retry_for_s=20)
    async with producer:
        with pytest.raises(SendgateError, match="Kafka refused publishing") as excinfo:
            await producer.publish_many(_requests(["ann", "bob"]))
    assert not isinstance(excinfo.value, ServiceUnavailableError)
    assert clock.sleeps == []


async def test_an_acknowledgement_that_never_comes_times_out() -> None:
    """The client keeps retrying an idempotent batch on its own; the producer waits for it no
    longer than the budget (real time here, a fifth of a second) and says it timed out."""
    broker = FakeBroker(hang=lambda n: True)
    producer = SendgateProducer(SETTINGS, client_factory=broker.client, retry_for_s=0.2)
    with pytest.raises(ServiceUnavailableError, match="timed out while publishing"):
        async with producer:
            await producer.publish(_requests(["ann"])[0])
    assert broker.stops == 1


# --- riding it out --------------------------------------------------------------------------------


async def test_transient_failures_then_success_publish_each_record_once_in_order() -> None:
    """Connection refused twice at start, one record's try timed out, the buffer full once:
    every record is on the topic once, progress counted once each."""
    recipients = [f"person{n}" for n in range(10)]
    broker = FakeBroker(
        start_failures=[KafkaConnectionError("refused")] * 2,
        ack_failure=_fails_first_try_of("req-3", error=KafkaTimeoutError),
        enqueue_failure=_fails_first_try_of("req-6", error=KafkaTimeoutError),
    )
    clock = FakeTime()
    progress: list[int] = []
    acknowledged: set[int] = set()
    producer = _producer(broker, clock, retry_for_s=90)
    async with producer:
        counts = await producer.publish_many(
            _requests(recipients), on_progress=progress.append, acknowledged=acknowledged
        )
    published = _request_ids(broker, producer)
    assert sorted(published) == sorted(f"req-{n}" for n in range(10))
    assert len(published) == len(set(published))
    assert counts.total == 10 and counts.by_topic == {TOPIC: 10}
    assert sum(progress) == 10
    assert acknowledged == set(range(10))
    assert clock.sleeps == [0.5, 1.0, 0.5]  # the budget restarted with the acknowledgements


async def test_a_recipients_records_keep_their_order_across_a_retry() -> None:
    """ann's first record fails while her second is acknowledged: the retry sends both again,
    so her records end the partition in her order; bob's are not sent twice."""
    broker = FakeBroker(ack_failure=_fails_first_try_of("req-0", error=NotLeaderForPartitionError))
    clock = FakeTime()
    producer = _producer(broker, clock, retry_for_s=90)
    async with producer:
        counts = await producer.publish_many(_requests(["ann", "bob", "ann", "bob"]))
    published = _request_ids(broker, producer)
    assert published == ["req-1", "req-2", "req-3", "req-0", "req-2"]
    anns = [request_id for request_id in published if request_id in {"req-0", "req-2"}]
    assert anns[-2:] == ["req-0", "req-2"]
    assert published.count("req-1") == published.count("req-3") == 1
    assert counts.total == 4


async def test_a_publish_retries_then_succeeds() -> None:
    broker = FakeBroker(ack_failure=lambda n, value: KafkaTimeoutError() if n < 3 else None)
    clock = FakeTime()
    producer = _producer(broker, clock, retry_for_s=90)
    async with producer:
        metadata = await producer.publish(_requests(["ann"])[0])
    assert metadata.topic == TOPIC
    assert _request_ids(broker, producer) == ["req-0"]
    assert clock.sleeps == [0.5, 1.0, 2.0]


# --- sendgate publish -----------------------------------------------------------------------------


def _request_rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "request_id": f"req-{n}",
            "account_id": "acct-1",
            "recipient": f"user{n}@example.com",
            "classification": "transactional",
            "from_address": "shop@example.org",
            "subject": "Your receipt",
            "requested_at": "2026-12-07T09:00:00Z",
        }
        for n in range(count)
    ]


def _patch_producer(monkeypatch: pytest.MonkeyPatch, broker: FakeBroker, clock: FakeTime) -> None:
    monkeypatch.setattr(
        streams.cli.publish,
        "SendgateProducer",
        partial(
            SendgateProducer,
            client_factory=broker.client,
            sleep=clock.sleep,
            monotonic=clock.monotonic,
        ),
    )


def test_publish_command_rides_out_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = FakeBroker(
        start_failures=[KafkaConnectionError("refused")] * 3,
        ack_failure=_fails_first_try_of("req-4", error=KafkaTimeoutError),
    )
    _patch_producer(monkeypatch, broker, FakeTime())
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in _request_rows(8)))
    result = CliRunner().invoke(publish_app, ["send-requests", str(path)], obj=SETTINGS)
    assert result.exit_code == 0, result.output
    assert f"published 8 send requests to {TOPIC}" in result.stdout
    assert len(broker.log) == 8


def test_publish_command_gives_up_and_leaves_the_rest_in_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records 0-4 acknowledged, then the broker is gone: the error is the accurate one, and the
    five not acknowledged are in a file beside the input, in its format."""
    broker = FakeBroker(
        ack_failure=lambda n, value: KafkaConnectionError("gone") if n >= 5 else None
    )
    _patch_producer(monkeypatch, broker, FakeTime())
    path = tmp_path / "requests.jsonl"
    rows = _request_rows(10)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = CliRunner().invoke(publish_app, ["send-requests", str(path)], obj=SETTINGS)
    assert isinstance(result.exception, ServiceUnavailableError)
    assert "could not be reached while publishing" in str(result.exception)
    remainder = tmp_path / "requests.unacknowledged.jsonl"
    assert f"5 of the 10 send requests in {path} were acknowledged" in result.stdout
    assert str(remainder) in result.stdout
    kept = [json.loads(line) for line in remainder.read_text().splitlines()]
    assert kept == rows[5:]


def test_the_rest_of_a_csv_file_is_csv(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text('request_id,subject\nreq-0,"two\nlines"\nreq-1,plain\nreq-2,"a, b"\n')
    remainder = write_unacknowledged(path, {1})
    assert remainder == tmp_path / "requests.unacknowledged.csv"
    assert remainder.read_bytes().decode() == (
        'request_id,subject\r\nreq-0,"two\nlines"\r\nreq-2,"a, b"\r\n'
    )
