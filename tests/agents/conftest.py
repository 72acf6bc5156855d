"""Agent tests: the real agents in faust's test_context, with an in-memory table, a collecting
emitter and a scripted view of the broker's offsets. No Kafka here; tests/integration has that."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.core.settings import Settings
from streams.gate.agents import register_agents
from streams.gate.app import Gate, build_gate
from streams.gate.deciding import decide_batch
from streams.gate.emit import CollectingEmitter, Emitted
from tests.support.factory import SECRET, sender_domains


class ScriptedOffsets:
    """The broker's end and committed offsets of the clicks topic, as a test says they are."""

    def __init__(self) -> None:
        self.end: dict[int, int] = {}
        self.committed: dict[int, int] = {}
        self.records: dict[int, list[tuple[int, bytes, bytes]]] = {}

    async def end_offsets(self, partitions: Iterable[int]) -> Mapping[int, int]:
        return {p: self.end.get(p, 0) for p in partitions}

    async def committed_offsets(self, partitions: Iterable[int]) -> Mapping[int, int]:
        return {p: self.committed[p] for p in partitions if p in self.committed}

    async def end_offsets_of(self, tps: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return {(t, p): self.end.get(p, 0) for t, p in tps}

    async def committed_offsets_of(
        self, tps: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        return {(t, p): self.committed.get(p, 0) for t, p in tps}

    async def read_range(
        self, partition: int, start: int, end: int
    ) -> AsyncIterator[tuple[int, bytes, bytes]]:
        """The scripted records; a range the script does not hold is a broker that cannot
        serve it (the real reader would run into the fence's timeout)."""
        held = {offset for offset, _, _ in self.records.get(partition, [])}
        if not set(range(start, end)) <= held:
            raise TimeoutError
        for record in self.records.get(partition, []):
            if start <= record[0] < end:
                yield record

    async def close(self) -> None:
        return None


@pytest.fixture
def offsets() -> ScriptedOffsets:
    return ScriptedOffsets()


@pytest.fixture
def erasure_offsets() -> ScriptedOffsets:
    """The erasure-requests topic's offsets, as a test says they are (none by default)."""
    return ScriptedOffsets()


@pytest.fixture
def emitter() -> CollectingEmitter:
    return CollectingEmitter()


@pytest.fixture
def gate(
    tmp_path: Path,
    offsets: ScriptedOffsets,
    erasure_offsets: ScriptedOffsets,
    emitter: CollectingEmitter,
) -> Gate:
    """The gate, keying recipients under the factory's secret (`tests.support.factory.KEY` is
    the key of its `RECIPIENT` here)."""
    settings = Settings(
        topic_prefix="agenttest-",
        topic_partitions=2,
        table_store="memory://",
        data_dir=tmp_path,
        recipient_key_secret=SecretStr(SECRET),
        state_fence_timeout_s=2.0,
    )
    gate = build_gate(settings, emitter=emitter, offsets=offsets, erasure_offsets=erasure_offsets)
    register_agents(gate)
    gate.app.finalize()
    gate.app.conf.store = "memory://"
    verify_test_domains(gate)
    return gate


VERIFIED_ACCOUNTS = ("acme", "maple", "blastmail")


def verify_test_domains(gate: Gate) -> None:
    """The platform verified each test account's domain `<account>.example` (the
    `sender-domains` topic): put in the worker's copy directly, as reading the topic needs a
    broker (tests/integration), and the fence over the copies then has nothing to wait for."""
    gate.broadcast = CopiesAlwaysCurrent()  # type: ignore[assignment]
    for account in VERIFIED_ACCOUNTS:
        record = sender_domains(account_id=account, changed_at=datetime(2026, 1, 1, tzinfo=UTC))
        gate.sender_domains.apply(account.encode(), gate.codec.encode(record))


class CopiesAlwaysCurrent:
    """The broadcast state without a broker: the tests put records into the copies directly, so
    the copies hold everything the test acknowledged (tests/integration has the real fence)."""

    async def run(self) -> None:
        return None

    async def current(self) -> dict[object, int]:
        return {}


async def emitted_until(
    emitter: CollectingEmitter,
    done: Callable[[list[Emitted]], bool],
    timeout_s: float = 5.0,
) -> list[Emitted]:
    deadline = time.monotonic() + timeout_s
    while not done(emitter.emitted):
        if time.monotonic() > deadline:
            raise AssertionError(f"agents emitted only {emitter.emitted!r}")
        await asyncio.sleep(0.01)
    return emitter.emitted


@dataclass(frozen=True)
class RequestRecord:
    """A send request as the decider reads it from Kafka (the fields the gate uses)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Deciding:
    """Hands send requests to the gate's batch decision (`streams.gate.deciding.decide_batch`)
    as the decider does after reading them, one batch per `put`; offsets count up per
    partition."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._next: dict[int, int] = {}

    async def put(
        self, value: bytes | None, *, key: bytes | None, partition: int = 0, wait: bool = True
    ) -> None:
        offset = self._next.get(partition, 0)
        self._next[partition] = offset + 1
        topic = self._gate.send_requests.get_topic_name()
        decided = await decide_batch(
            self._gate, [RequestRecord(topic, partition, offset, key, value)], still_ours(True)
        )
        assert decided, "a batch nothing moved under was dropped"


def still_ours(ours: bool) -> Callable[[], AbstractAsyncContextManager[bool]]:
    """The decider's hold on a batch, as a test says it is (no rebalance, or one)."""

    @asynccontextmanager
    async def hold() -> AsyncIterator[bool]:
        yield ours

    return hold


@asynccontextmanager
async def deciding(gate: Gate) -> AsyncIterator[Deciding]:
    """The gate deciding send requests, as `gate.agents[...].test_context()` gives an agent."""
    yield Deciding(gate)
