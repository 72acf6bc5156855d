"""The real gate under test: its policy, its verified sending domains handed over before the first
send, a first decision awaited before the state goes in, its group settled, its decisions counted.

The waits read the gate's committed offsets and output counts from outside (`OffsetWatcher`), so
they time the worker as it runs in production, in a process of its own.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from harness.consuming import OffsetWatcher, wait_until_consumed
from harness.content import BACKGROUND_ACCOUNT, background_address, commercial_request
from harness.errors import BenchError
from harness.producing import produce_pipelined
from harness.system import CpuMeter
from harness.workers import WorkerProcess
from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings
from streams.demo.content import sender_domains
from streams.edges.admin import stable_group_members
from streams.edges.producer import SendgateProducer
from streams.policy import DEFAULT_POLICY_FILE
from streams.topics import SEND_DECISIONS, SEND_REQUESTS, SENDER_DOMAINS, default_codec

__all__ = [
    "act_at_once_policy",
    "publish_sender_domains",
    "wait_for_decisions",
    "wait_for_members",
    "wait_until_deciding",
]


def act_at_once_policy(folder: Path) -> Path:
    """The default policy, acting on the event that carries a rate over its line rather than
    when the week's window closes, so a strike comes within the run."""
    source = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
    changed, count = re.subn(
        r"(?m)^act_at_once\s*=\s*false\b", "act_at_once = true", source, count=1
    )
    if count != 1:
        raise BenchError(f"no `act_at_once = false` line in {DEFAULT_POLICY_FILE} to switch on")
    path = folder / "policy-act-at-once.toml"
    path.write_text(changed, encoding="utf-8")
    return path


async def publish_sender_domains(
    settings: Settings,
    accounts: Iterable[str],
    watcher: OffsetWatcher,
    worker: WorkerProcess,
    *,
    timeout_s: float = 120.0,
) -> int:
    """Publish each account's verified domain `<account>.example` on `sender-domains` (keyed by
    account, the whole set, as the platform does) and wait until the gate's group has committed
    all of them, so its `keep_sender_domains` agent has them in its table before the first send.
    Returns how many accounts were published."""
    records = sender_domains(sorted(set(accounts)), now=datetime.now(UTC))
    async with SendgateProducer(settings) as producer:
        await producer.publish_many(records)
    await wait_until_consumed(
        watcher,
        settings.app_id,
        SENDER_DOMAINS.full_name(settings),
        timeout_s=timeout_s,
        what="the gate's group takes in the verified sender domains",
        worker=worker,
    )
    return len(records)


async def wait_until_deciding(
    settings: Settings, tag: str, watcher: OffsetWatcher, worker: WorkerProcess
) -> None:
    """Publish one send request and wait for its decision: the worker has joined the group,
    restored its (empty) tables and runs its agents. The state is published only then, so the
    worker does not start on a backlog."""
    address = background_address(tag, 0)
    request = commercial_request(f"warm-up-{tag}", BACKGROUND_ACCOUNT, address)
    key = RecipientKeyer(settings.recipient_secret()).key(address).encode()
    await produce_pipelined(
        settings.kafka_bootstrap_servers,
        [(SEND_REQUESTS.full_name(settings), key, default_codec().encode(request))],
        1,
        "publish a warm-up request",
    )
    await watcher.wait_for_count(
        SEND_DECISIONS.full_name(settings),
        1,
        timeout_s=180,
        what="worker starts and decides it",
        worker=worker,
    )
    await asyncio.sleep(1.0)


async def wait_for_members(
    settings: Settings, workers: list[WorkerProcess], *, timeout_s: float = 120.0
) -> None:
    """Until the gate's group is stable with one member per worker (each has its partitions)."""
    deadline = time.monotonic() + timeout_s
    while await stable_group_members(settings, settings.app_id) != len(workers):
        for worker in workers:
            worker.check_alive()
        if time.monotonic() > deadline:
            raise BenchError(
                f"the gate's group did not settle with {len(workers)} workers in {timeout_s:.0f}s"
            )
        await asyncio.sleep(0.5)


async def wait_for_decisions(
    settings: Settings,
    watcher: OffsetWatcher,
    count: int,
    *,
    timeout_s: float,
    what: str,
    worker: WorkerProcess,
    baseline: int = 0,
    meter: CpuMeter | None = None,
) -> dict[str, float]:
    """Until `count` more decisions are out and the decider has committed every send request:
    an at-least-once gate may decide a request twice, so the count alone could be reached before
    the last request is done. With a `meter`, the CPU shares while it decided."""
    return await watcher.wait_for_count(
        SEND_DECISIONS.full_name(settings),
        count,
        baseline=baseline,
        timeout_s=timeout_s,
        what=what,
        worker=worker,
        consumed_by=(settings.decided_group, SEND_REQUESTS.full_name(settings)),
        meter=meter,
    )
