"""The throughput run's opening phases as whole steps: the run's topics, the workload, the state
folded and the send requests published, then the gate deciding them as contender (c).

They are steps of their own so that a benchmark measuring something else on the very same
traffic (`replay_speed.py` replays what this gate decided) runs the same phases, not a copy
of them that could drift from what `gate_throughput.py` measures.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from harness.broker import create_run_topics, wait_for_group_coordinator
from harness.consuming import OffsetWatcher
from harness.content import check_content_compliant
from harness.producing import publish
from harness.report import console, phase

from streams.core.settings import Settings
from streams.policy import load_policy
from streams.topics import SEND_REQUESTS, TopicSpec
from throughput.contenders import BENCH_TOPICS, GROUPS, WORKER_CODE, GateRun, run_gate
from throughput.figures import Contender, Keeper
from throughput.keepers import fold_state
from throughput.workload import Workload, build_workload, probe_request

__all__ = ["decide_with_gate", "fold_and_publish", "generate_workload", "set_up_topics"]


async def set_up_topics(
    settings: Settings,
    *,
    extra: tuple[TopicSpec, ...] = BENCH_TOPICS,
    groups: tuple[str, ...] = GROUPS,
) -> list[str]:
    """Wait for the group coordinator, then make the catalogue's topics and `extra` under the
    run's prefix."""
    with phase("setup: group coordinator, topics"):
        await wait_for_group_coordinator(settings, groups=[settings.topic(g) for g in groups])
        names = await create_run_topics(settings, extra)
        console.print(f"created {len(names)} topics under prefix {settings.topic_prefix!r}")
    return names


def generate_workload(
    settings: Settings, *, sends: int, suppressed: int, probes: int, seed: int, now: datetime
) -> Workload:
    """The workload, described, with every kind of its sends checked against the content rules
    (the run fails here, before sending, if any would be denied)."""
    workload = build_workload(
        settings, sends=sends, suppressed=suppressed, probes=probes, seed=seed, now=now
    )
    console.print(workload.description())
    probe_template = probe_request("probe-template", "probe@example.com", datetime.now(UTC))
    kinds = check_content_compliant(
        [*workload.content_kinds.values(), probe_template],
        load_policy(settings.policy_file),
        what="workload",
    )
    console.print(
        f"content: {kinds} kinds of send (account, classification, subject) pass every "
        "content rule with the accounts' verified domains"
    )
    return workload


async def fold_and_publish(
    settings: Settings, watcher: OffsetWatcher, data_dir: Path, workload: Workload
) -> tuple[list[Keeper], int]:
    """The state folded by the real gate worker (`keepers.fold_state`), then the send requests
    published while no gate runs, so the gate starts on them as a backlog. Returns the keepers,
    timed, and how many accounts' verified domains were published."""
    with phase(
        "state: publish consents, verified domains, then clicks; fold them with the gate worker"
    ):
        keepers, published = await fold_state(settings, watcher, data_dir, workload)
    with phase("load: publish send requests"):
        rate = await publish(
            settings.kafka_bootstrap_servers,
            SEND_REQUESTS.full_name(settings),
            workload.sends,
            "publish send requests",
        )
        console.print(f"published {len(workload.sends):,} send requests at {rate:,.0f}/s")
    return keepers, published


async def decide_with_gate(
    settings: Settings,
    watcher: OffsetWatcher,
    data_dir: Path,
    records: int,
    *,
    broker: int | None,
) -> tuple[GateRun, Contender]:
    """(c): a new gate worker restores its tables, then decides the `records` send requests of
    the backlog; timed by its decisions' CreateTime span. The worker keeps running: the caller
    stops it."""
    with phase("(c) the gate (restores suppressions and consents from the changelogs first)"):
        gate = await run_gate(
            settings,
            watcher,
            data_dir,
            name="gate",
            code=WORKER_CODE.format(worker_name="bench-gate"),
            count=records,
            what="gate decides",
            min_rate=150,
            broker=broker,
        )
        window = gate.window
        console.print(f"(c) {window.records:,} decisions, {window.per_second:,.0f}/s")
    return gate, Contender("(c) sendgate gate: decide", window, gate.wall_s, gate.cpu, "gate")
