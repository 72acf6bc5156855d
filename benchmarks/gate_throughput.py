"""Gate throughput beside two baselines from the same run, with template and with personalised
bodies; the state keepers' fold rate beside raw aiokafka; click-to-effective latency; a profile.

Run from the repository root against the broker of `scripts/services` (a broker started a moment
ago is fine: the run first waits, up to a minute, for its group coordinator, which a new broker
only sets up on first use and without which the run's offset reads fail):

    .venv/bin/python benchmarks/gate_throughput.py            # full size, about 12 minutes
    .venv/bin/python benchmarks/gate_throughput.py --sends 20000 --suppressed 10000 --skip-profile

The last line printed is one JSON object of the headline figures
(`throughput.figures.summary_line`), for scripts that compare runs; its keys are only ever added
to.

Message content. Every send request carries the content facts of a compliant sender's template
(`harness.content.compliant_content`), and the accounts' verified domains are on `sender-domains`
before the first send, so the content rules deny nothing and the denials stay the ones the
workload plans (suppressions, consent, role addresses); the run fails before sending if the pure
content rules would deny any kind of send of the workload, and the decision check reports any
denial by a rule the workload does not target. The records carry these content facts (about
0.4 KB more each) for all contenders alike: figures are not comparable with runs from before
content facts.

Phases (each bounded in time; every topic lives under a fresh prefix and is deleted at the end):

1. State (`throughput.keepers`): the consents, folded by the real gate worker, then the five
   accounts' verified sending domains; the worker stops, the unsubscribe clicks for
   `--suppressed` recipients are published, and it starts again on them. Both keepers start on
   a backlog, as the contenders do, and are timed by their output records.
2. Load (`throughput.workload`): `--sends` send requests. Half of their recipients are
   suppressed somewhere, and half of those are mailed by the very account or list they left;
   3 % of the commercial ones have no opt-in; a few go to role addresses.
3. Throughput (`throughput.contenders`), each contender consuming all its input from the
   beginning in its own group: (a) raw aiokafka in this process: consume, decode with our codec,
   produce the same bytes (the same over consent-events and unsubscribe-clicks is the keepers'
   baseline, and a faust agent that only forwards the consent events their ceiling); (b) a faust
   agent that only forwards; (c) the gate, a new worker that first restores its tables. All are
   measured the same way: records on the output topic over the span of their CreateTime stamps,
   which leaves out start-up, group join and restore.
4. Click-to-effective latency with the gate at load (`throughput.click_latency`).
5. Personalised bodies (unless --no-personalised): (d) a new gate worker decides a twin of every
   send whose subject, text and links differ per recipient (`throughput.personalise`), measured
   and checked as (c).
6. Profile (unless --skip-profile): the gate worker under cProfile over a further slice of send
   requests, summarised by whose code the time is spent in.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from harness.broker import new_settings
from harness.consuming import OffsetWatcher, topic_window
from harness.gate import wait_for_decisions
from harness.options import Bootstrap, Partitions, bootstrap_or_default
from harness.producing import publish
from harness.report import console, phase, print_json_line
from harness.run import run_then_clean_up
from harness.stats import timeout_for
from harness.system import CpuMeter, broker_pid, machine_info
from harness.workers import WorkerProcess
from throughput.click_latency import latency_figures, measure_latency
from throughput.contenders import (
    RAW_OUT,
    WORKER_CODE,
    faust_forward,
    profile_gate,
    raw_passthrough,
    run_gate,
)
from throughput.figures import (
    Contender,
    check_decisions,
    keeper_figures,
    summary_line,
    throughput_figures,
)
from throughput.keepers import keepers_ceiling, raw_keepers
from throughput.personalise import personalised_sends
from throughput.phases import (
    decide_with_gate,
    fold_and_publish,
    generate_workload,
    set_up_topics,
)
from throughput.printing import print_results

from streams.core.settings import Settings
from streams.policy import load_policy
from streams.topics import DEAD_LETTERS, SEND_DECISIONS, SEND_REQUESTS

__all__ = ["main"]


@dataclass
class Options:
    sends: int
    suppressed: int
    partitions: int
    probes: int
    background_rate: float
    profile_sends: int
    skip_profile: bool
    personalised: bool
    seed: int
    bootstrap: str
    worker_patches: list[str]


async def run_benchmark(settings: Settings, options: Options, data_dir: Path) -> dict[str, Any]:
    bootstrap = settings.kafka_bootstrap_servers
    topic = settings.topic
    broker = broker_pid()
    results: dict[str, Any] = {"options": options.__dict__, "topic_prefix": settings.topic_prefix}

    await set_up_topics(settings)

    now = datetime.now(UTC)
    with phase("workload: generate"):
        workload = generate_workload(
            settings,
            sends=options.sends,
            suppressed=options.suppressed,
            probes=options.probes,
            seed=options.seed,
            now=now,
        )
        personalised: list[tuple[bytes, bytes]] = []
        if options.personalised:
            personalised = personalised_sends(
                workload.sends, seed=options.seed, policy=load_policy(settings.policy_file)
            )
            console.print(
                f"personalised bodies: {len(personalised):,} twins of the send requests, each "
                "with its own subject, text and links, pass every content rule"
            )
    results["workload"] = workload.figures(personalised=len(personalised))

    async with OffsetWatcher(bootstrap) as watcher:
        keepers, published = await fold_and_publish(settings, watcher, data_dir, workload)
        results["workload"]["sender_domains"] = published
        sends_topic = topic(SEND_REQUESTS.name)
        records = len(workload.sends)
        contenders: list[Contender] = []

        with phase("(a) raw aiokafka consume-decode-produce"):
            started = time.monotonic()
            meter = CpuMeter({"contender": os.getpid(), "broker": broker})
            meter.sample()
            await raw_passthrough(settings, records, timeout_for(records, min_rate=300))
            meter.sample()
            wall = time.monotonic() - started
            window = await topic_window(bootstrap, topic(RAW_OUT.name))
            contenders.append(
                Contender(
                    "(a) raw aiokafka: consume, decode, produce",
                    window,
                    wall,
                    meter.share(),
                    "raw",
                )
            )
            console.print(f"(a) {window.records:,} records, {window.per_second:,.0f}/s")

        with phase("keepers' baseline: raw aiokafka over consent-events, then unsubscribe-clicks"):
            await raw_keepers(settings, watcher, keepers)
        with phase("keepers' ceiling: a faust agent that only forwards the consent events"):
            ceiling = await keepers_ceiling(settings, watcher, data_dir)
        results["keepers"] = keeper_figures(keepers, ceiling)

        with phase("(b) faust agent that only forwards"):
            started = time.monotonic()
            window, cpu = await faust_forward(
                settings,
                watcher,
                data_dir,
                SEND_REQUESTS.name,
                records,
                measure_cpu=True,
                broker=broker,
            )
            wall = time.monotonic() - started
            contenders.append(
                Contender("(b) faust agent: forward only", window, wall, cpu, "forward")
            )
            console.print(f"(b) {window.records:,} records, {window.per_second:,.0f}/s")

        decisions_topic = topic(SEND_DECISIONS.name)
        gate, contender = await decide_with_gate(
            settings, watcher, data_dir, records, broker=broker
        )
        contenders.append(contender)

        background_rate = min(options.background_rate, 0.5 * gate.window.per_second)
        with phase(
            f"latency: {options.probes} probes at {background_rate:,.0f} sends/s background"
        ):
            before = await watcher.count(decisions_topic)
            latency = await measure_latency(
                settings,
                workload.sends,
                probe_addresses=workload.probe_addresses,
                background_rate=background_rate,
                worker=gate.worker,
            )
            await wait_for_decisions(
                settings,
                watcher,
                latency.background_sent + latency.probes,
                baseline=before,
                timeout_s=timeout_for(latency.background_sent, min_rate=150),
                what="gate drains the background load",
                worker=gate.worker,
            )
            gate.worker.stop()
        results["latency"] = latency_figures(latency)

        with phase("(c) check the gate's decisions"):
            results["gate_decisions"] = await check_decisions(
                settings, gate.end, records, workload.expected_denials
            )
            results["gate_decisions"]["dead_letters"] = await watcher.count(
                topic(DEAD_LETTERS.name)
            )

        if personalised:
            with phase("(d) the gate again, over personalised bodies (restores the tables first)"):
                twins_start = await watcher.end_offsets(decisions_topic)
                rate = await publish(
                    bootstrap, sends_topic, personalised, "publish personalised send requests"
                )
                console.print(
                    f"published {len(personalised):,} personalised send requests at {rate:,.0f}/s"
                )
                # A worker of its own (fresh data folder), so it restores the tables as (c) did.
                twins = await run_gate(
                    settings,
                    watcher,
                    data_dir,
                    name="gate-personalised",
                    code=WORKER_CODE.format(worker_name="bench-gate-personalised"),
                    count=len(personalised),
                    what="gate decides personalised",
                    min_rate=150,
                    start=twins_start,
                    broker=broker,
                )
                twins.worker.stop()
                window = twins.window
                contenders.append(
                    Contender(
                        "(d) sendgate gate, personalised bodies: decide",
                        window,
                        twins.wall_s,
                        twins.cpu,
                        "personalised",
                    )
                )
                console.print(f"(d) {window.records:,} decisions, {window.per_second:,.0f}/s")
            with phase("(d) check the personalised decisions"):
                results["personalised_decisions"] = await check_decisions(
                    settings,
                    twins.end,
                    len(personalised),
                    workload.expected_denials,
                    start=twins_start,
                )
                results["personalised_decisions"]["dead_letters"] = await watcher.count(
                    topic(DEAD_LETTERS.name)
                )
        results["throughput"] = throughput_figures(contenders)

        if not options.skip_profile:
            slice_size = min(options.profile_sends, records)
            with phase(f"profile: the gate under cProfile over {slice_size:,} more send requests"):
                results["profile"] = await profile_gate(
                    settings,
                    watcher,
                    workload.sends[:slice_size],
                    data_dir,
                )
    return results


# --- command line ---------------------------------------------------------------------------------


def main(
    sends: Annotated[int, typer.Option(min=1000, help="Send requests to pre-produce.")] = 200_000,
    suppressed: Annotated[
        int, typer.Option(min=100, help="Recipients with an unsubscribe (clicks: ~1.1 each).")
    ] = 100_000,
    partitions: Partitions = 6,
    probes: Annotated[int, typer.Option(min=1, help="Click-to-effective latency probes.")] = 200,
    background_rate: Annotated[
        float,
        typer.Option(
            min=0, help="Background sends/s during the latency probes (at most half the gate's)."
        ),
    ] = 3000.0,
    profile_sends: Annotated[
        int, typer.Option(min=1000, help="Send requests in the profiled slice.")
    ] = 50_000,
    skip_profile: Annotated[
        bool, typer.Option("--skip-profile", help="Skip the cProfile run.")
    ] = False,
    personalised: Annotated[
        bool,
        typer.Option(
            "--personalised/--no-personalised",
            help="Run the gate a second time, (d), over a twin of every send request whose "
            "subject, text and links differ per recipient.",
        ),
    ] = True,
    json_out: Annotated[
        Path | None, typer.Option(help="Also write the figures to this JSON file.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated workload.")] = 2026,
    worker_patch: Annotated[
        list[Path] | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Python file each worker process runs first, to try a change without editing "
            "streams/ (repeatable; (b) and (c) only).",
        ),
    ] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Gate throughput beside raw aiokafka and a forwarding faust agent, with template and with
    personalised bodies; the state keepers' fold rate beside raw aiokafka; click-to-effective
    latency at load; and where the gate's time goes. Needs the broker of scripts/services.
    The last line printed is the headline figures as one JSON object."""
    options = Options(
        sends=sends,
        suppressed=suppressed,
        partitions=partitions,
        probes=probes,
        background_rate=background_rate,
        profile_sends=profile_sends,
        skip_profile=skip_profile,
        personalised=personalised,
        seed=seed,
        worker_patches=[str(path) for path in worker_patch or ()],
        bootstrap=bootstrap_or_default(bootstrap),
    )
    WorkerProcess.patches = tuple(path.resolve() for path in worker_patch or ())
    data_dir = Path(tempfile.mkdtemp(prefix="sendgate-bench-"))
    settings = new_settings(bootstrap=options.bootstrap, partitions=partitions, data_dir=data_dir)
    results = run_then_clean_up(
        settings,
        data_dir,
        lambda: run_benchmark(settings, options, data_dir),
        kept="worker logs",
        stop_on_interrupt=False,
        # Still one JSON line last, all figures null, so a script reading it learns why.
        on_failure=lambda error: print_json_line({**summary_line({}), "error": error}),
    )
    machine = machine_info(partitions)
    results["machine"] = machine
    results["summary"] = summary_line(results)
    print_results(results, machine)
    if json_out is not None:
        json_out.write_text(
            json.dumps(results, indent=2, default=_jsonable) + "\n", encoding="utf-8"
        )
        console.print(f"figures written to {json_out}")
    print_json_line(results["summary"])


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return value.__dict__
    return str(value)


if __name__ == "__main__":
    typer.run(main)
