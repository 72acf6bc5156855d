"""A worker started with its broker waits for it, saying so now and then, not at every attempt."""

from __future__ import annotations

import pytest

from streams.core.errors import ServiceUnavailableError
from streams.core.settings import Settings
from streams.edges import admin


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each next broker check answers; the last repeats."""
    script: list[bool] = []

    async def check_broker(settings: Settings, timeout_s: float = 10.0) -> int:
        up = script.pop(0) if len(script) > 1 else script[0]
        if not up:
            raise ServiceUnavailableError("Kafka broker at 127.0.0.1:1 is not reachable")
        return 1

    monkeypatch.setattr(admin, "check_broker", check_broker)
    return script


async def test_a_broker_that_comes_up_is_waited_for(answers: list[bool]) -> None:
    answers[:] = [False, False, False, True]
    said: list[str] = []

    brokers = await admin.wait_for_broker(
        Settings(), 5, say=said.append, retry_every_s=0.01, say_every_s=60
    )

    assert brokers == 1
    assert len(said) == 1  # the first failure, not one line per attempt
    assert "attempt 1" in said[0]


async def test_a_broker_that_stays_down_fails_with_its_reason(answers: list[bool]) -> None:
    answers[:] = [False]
    said: list[str] = []

    with pytest.raises(ServiceUnavailableError, match="not reachable"):
        await admin.wait_for_broker(
            Settings(), 0.2, say=said.append, retry_every_s=0.01, say_every_s=0.05
        )

    assert 1 <= len(said) <= 5


async def test_no_wait_means_one_attempt(answers: list[bool]) -> None:
    answers[:] = [False, True]

    with pytest.raises(ServiceUnavailableError):
        await admin.wait_for_broker(Settings(), 0, say=lambda line: None)
