"""How fast the replay decides recorded traffic again, beside the live gate that decided it and a
raw aiokafka read of the same two topics, all from the same run; what-if under two policies;
where the replay's time goes.

Run from the repository root against the broker of `scripts/services`:

    .venv/bin/python benchmarks/replay_speed.py                    # full size, about 10-11 minutes
    .venv/bin/python benchmarks/replay_speed.py --sends 3000 --suppressed 1500 --skip-profile

Phases (every topic lives under a fresh prefix and is deleted at the end):

1. Traffic, by `gate_throughput.py`'s own phases (`throughput.phases`): its workload (the same
   consents, verified domains and clicks, `--sends` send requests), the state folded by the real
   gate worker, the requests published, then (c): a new gate worker decides them all, timed as
   there by its decisions' CreateTime span. It is stopped before anything else runs, and its
   decisions are checked against the workload's own reckoning.
2. Raw read (`replaying.raw`): send-requests and send-decisions consumed with no group and each
   value decoded with our codec, timed in this process: what reading alone costs.
3. Verify (`replaying.replays`): `streams.replay.runs.verify` in this process over the range of
   the run's requests, with the run's settings, policy and signing keys (the gate worker made
   them in the run's data folder), so the signed fields are compared too. Timed by its own
   clock, from its first read to its last comparison. It must come out 100 % identical: every
   decision decided again and equal byte for byte, nothing left unreplayed, nothing set aside
   but what the gate dead-lettered; otherwise the run fails.
4. What-if over the same range: under the policy that decided (no decision may flip), then
   under a stricter one (a shipped one judging unknown jurisdictions by every regime, else the
   default with `[consent]` on the `strictest-when-unknown` preset, made in the data folder).
5. Profile (unless --skip-profile): verify once more under cProfile, its time split by stage
   (`replaying.stages`) and by whose code it is.

Ends with the tables and one JSON line of the figures (`replaying.figures.summary_line`; keys
only ever added; a failed run prints the same keys, null, with "error").
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # this checkout's `streams`, not an installed one

import typer  # noqa: E402
from harness.broker import new_settings  # noqa: E402
from harness.consuming import OffsetWatcher  # noqa: E402
from harness.errors import BenchError  # noqa: E402
from harness.options import Bootstrap, JsonOut, Partitions, bootstrap_or_default  # noqa: E402
from harness.profiles import profile_summary  # noqa: E402
from harness.report import console, phase, print_json_line, write_figures  # noqa: E402
from harness.run import check_json_out, require_broker, run_then_clean_up  # noqa: E402
from harness.stats import timeout_for  # noqa: E402
from harness.system import LoadSampler, broker_pid, machine_info  # noqa: E402
from replaying.figures import (  # noqa: E402
    summary_line,
    verify_figures,
    verify_problems,
    what_if_figures,
)
from replaying.printing import print_results  # noqa: E402
from replaying.raw import raw_read  # noqa: E402
from replaying.replays import (  # noqa: E402
    profiled_verify,
    stricter_policy,
    timed_verify,
    timed_verify_in_processes,
    timed_what_if,
)
from replaying.stages import stage_times  # noqa: E402
from throughput.figures import check_decisions  # noqa: E402
from throughput.phases import (  # noqa: E402
    decide_with_gate,
    fold_and_publish,
    generate_workload,
    set_up_topics,
)

from streams.core.settings import Settings  # noqa: E402
from streams.policy import DEFAULT_POLICY_FILE, load_policy  # noqa: E402
from streams.replay.policies import policy_book  # noqa: E402
from streams.replay.processes import default_processes  # noqa: E402
from streams.replay.reading import TimeRange  # noqa: E402
from streams.replay.recorded import ReplayScope  # noqa: E402
from streams.topics import DEAD_LETTERS, SEND_DECISIONS, SEND_REQUESTS  # noqa: E402

__all__ = ["main"]

STATE_PROBES = 200
"""gate_throughput's latency probes' recipients opt in with the state; they do here too, so the
consents the gate holds are the same (no probe is sent)."""


@dataclass
class Options:
    sends: int
    suppressed: int
    partitions: int
    skip_profile: bool
    seed: int
    bootstrap: str


async def run_benchmark(settings: Settings, options: Options, data_dir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"options": asdict(options), "topic_prefix": settings.topic_prefix}
    broker = broker_pid()
    await set_up_topics(settings, extra=(), groups=())
    started_at = datetime.now(UTC)
    with phase("workload: generate"):
        workload = generate_workload(
            settings,
            sends=options.sends,
            suppressed=options.suppressed,
            probes=STATE_PROBES,
            seed=options.seed,
            now=started_at,
        )
    results["workload"] = workload.figures(personalised=0)
    records = len(workload.sends)

    async with OffsetWatcher(settings.kafka_bootstrap_servers) as watcher:
        _, published = await fold_and_publish(settings, watcher, data_dir, workload)
        results["workload"]["sender_domains"] = published
        gate, _ = await decide_with_gate(settings, watcher, data_dir, records, broker=broker)
        exit_code = gate.worker.stop()
        console.print(f"gate worker stopped (exit code {exit_code}); nothing else decides now")
        results["gate"] = {
            "decisions": gate.window.records,
            "seconds": gate.window.seconds,
            "per_s": gate.window.per_second,
            "worker_cpu_cores": gate.cpu.get("contender"),
            "broker_cpu_cores": gate.cpu.get("broker"),
            "phase_wall_s_with_startup": gate.wall_s,
        }
        with phase("check the live gate's decisions"):
            checks = await check_decisions(settings, gate.end, records, workload.expected_denials)
            checks["dead_letters"] = await watcher.count(DEAD_LETTERS.full_name(settings))
            results["gate_decisions"] = checks
        decisions = await watcher.count(SEND_DECISIONS.full_name(settings))
        offsets = decisions + await watcher.count(SEND_REQUESTS.full_name(settings))

    # Every request names `started_at` (to the millisecond, so a second's margin before it).
    scope = ReplayScope(TimeRange(started_at - timedelta(seconds=1), datetime.now(UTC)))
    results["range"] = {"from": scope.when.start, "to": scope.when.end}
    limit = timeout_for(offsets, min_rate=500)

    with phase("raw aiokafka: read and decode send-requests, then send-decisions"):
        load = _sampling(broker)
        raw = await raw_read(settings, timeout_s=limit)
        results["raw_read"] = {
            "cpu_cores": _shares(load),
            "requests": raw.requests,
            "decisions": raw.decisions,
            "records": raw.records,
            "seconds": raw.seconds,
            "per_s": raw.per_second,
            "records_per_s": raw.records_per_second,
        }
        console.print(
            f"raw read: {raw.records:,} records in {raw.seconds:.2f}s, "
            f"{raw.per_second:,.0f} decisions/s ({raw.records_per_second:,.0f} records/s)"
        )

    book = policy_book(settings, [settings.policy_file] if settings.policy_file else [])
    processes = default_processes()
    with phase(f"replay: verify every recorded decision, {processes} processes (as the CLI)"):
        load = _sampling(broker)
        wall = time.perf_counter()
        report = await timed_verify_in_processes(
            settings, scope, book, processes=processes, decisions=decisions
        )
        wall = time.perf_counter() - wall
        results["verify"] = {
            **verify_figures(report),
            "processes": processes,
            "wall_s_with_policy_keys": wall,
            "cpu_cores": _shares(load),
        }
        console.print(
            f"verify: {report.decisions:,} decisions in {report.seconds:.2f}s, "
            f"{report.per_second:,.0f}/s; {report.matched:,} identical"
        )
    problems = verify_problems(
        report, requests=records, decisions=decisions, dead_letters=checks["dead_letters"]
    )
    results["verify_problems"] = problems
    if problems:
        raise BenchError(
            "the replay is not 100 % identical to what the gate decided: " + "; ".join(problems)
        )
    with phase("replay: verify every recorded decision in this one process"):
        load = _sampling(broker)
        wall = time.perf_counter()
        report = await timed_verify(settings, scope, book, offsets=offsets)
        wall = time.perf_counter() - wall
        results["verify_one_process"] = {
            **verify_figures(report),
            "processes": 1,
            "wall_s_with_policy_keys": wall,
            "cpu_cores": _shares(load),
        }
        problems = verify_problems(
            report,
            requests=records,
            decisions=decisions,
            dead_letters=checks["dead_letters"],
        )
        results["verify_problems"] += problems
        console.print(
            f"verify: {report.decisions:,} decisions in {report.seconds:.2f}s, "
            f"{report.per_second:,.0f}/s; {report.matched:,} identical"
        )
    if problems:
        raise BenchError(
            "the replay is not 100 % identical to what the gate decided: " + "; ".join(problems)
        )

    decided_by = load_policy(settings.policy_file)
    stricter, stricter_path = stricter_policy(data_dir)
    results["what_if"] = {}
    for key, policy, path in (
        ("default", decided_by, settings.policy_file or DEFAULT_POLICY_FILE),
        ("stricter", stricter, stricter_path),
    ):
        with phase(f"what-if under {policy.policy_version}"):
            load = _sampling(broker)
            found = await timed_what_if(
                settings, scope, policy, offsets=offsets, label=policy.policy_version
            )
            figures = {**what_if_figures(found, str(path)), "cpu_cores": _shares(load)}
            results["what_if"][key] = figures
            console.print(
                f"what-if: {figures['requests']:,} requests in {figures['seconds']:.2f}s, "
                f"{figures['per_s']:,.0f}/s; {figures['flips']:,} flips"
            )
        if key == "default" and (figures["flips"] or figures["not_replayed"]):
            raise BenchError(
                f"what-if under the policy that decided flipped {figures['flips']:,} decisions "
                f"and left {figures['not_replayed']:,} unreplayed: it must change nothing"
            )

    if not options.skip_profile:
        with phase("profile: verify under cProfile"):
            path = Path(tempfile.gettempdir()) / f"{settings.topic_prefix}replay.prof"
            profiled = await profiled_verify(settings, scope, book, path, offsets=offsets)
            results["profile"] = {
                "path": str(path),
                "decisions": profiled.decisions,
                "per_s": profiled.per_second,
                "stages": stage_times(path),
                "by_code": profile_summary(path),
            }
    return results


def _sampling(broker: int | None) -> LoadSampler:
    """CPU from now on: this process (the replay), the broker, and everybody else, who should
    be idle (a busy machine makes the figure low, and the table says so)."""
    load = LoadSampler({"this process": os.getpid(), "broker": broker})
    load.sample()
    return load


def _shares(load: LoadSampler) -> dict[str, float]:
    load.sample()
    return load.shares()


# --- command line ---------------------------------------------------------------------------------


def main(
    sends: Annotated[
        int, typer.Option(min=1000, help="Send requests the gate decides, then the replay.")
    ] = 200_000,
    suppressed: Annotated[
        int, typer.Option(min=100, help="Recipients with an unsubscribe (clicks: ~1.1 each).")
    ] = 100_000,
    partitions: Partitions = 6,
    skip_profile: Annotated[
        bool, typer.Option("--skip-profile", help="Skip the verify under cProfile.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the generated workload.")] = 2026,
    json_out: JsonOut = None,
    bootstrap: Bootstrap = None,
) -> None:
    """The replay's decisions per second (sendgate replay verify, in this process) beside the
    live gate's over the same traffic and a raw aiokafka read of the same topics; what-if under
    the shipped and a stricter policy; and where the replay's time goes. Needs the broker of
    scripts/services. The last line printed is the headline figures as one JSON object."""
    check_json_out(json_out)
    options = Options(
        sends=sends,
        suppressed=suppressed,
        partitions=partitions,
        skip_profile=skip_profile,
        seed=seed,
        bootstrap=bootstrap_or_default(bootstrap),
    )
    data_dir = Path(tempfile.mkdtemp(prefix="sendgate-bench-replay-"))
    settings = new_settings(
        bootstrap=options.bootstrap, partitions=partitions, data_dir=data_dir, name="replay"
    )
    require_broker(settings, data_dir)
    results = run_then_clean_up(
        settings,
        data_dir,
        lambda: run_benchmark(settings, options, data_dir),
        kept="worker logs",
        on_failure=lambda error: print_json_line({**summary_line({}), "error": error}),
    )
    machine = machine_info(partitions)
    results["machine"] = machine
    results["summary"] = summary_line(results)
    print_results(results, machine)
    if json_out is not None:
        write_figures(json_out, json.loads(json.dumps(results, default=_jsonable)))
    print_json_line(results["summary"])


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)


if __name__ == "__main__":
    typer.run(main)
