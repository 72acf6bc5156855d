"""Complaint-to-enforcement latency with the gate at load, beside a raw one-hop baseline.

Run from the repository root against the broker of `scripts/services`:

    .venv/bin/python benchmarks/enforcement_latency.py                # 30 probes, 3 to 4 minutes
    .venv/bin/python benchmarks/enforcement_latency.py --probes 10 --background-rate 500

With the gate at load, time a spam complaint from the ARF report's produce to the enforcement
event, and to the first denied broadcast; target p99 under 1 second after the threshold-crossing
complaint when the policy acts at once.

Message content: every send request carries a compliant commercial template's content facts
(`harness.content.compliant_content`), and every account's verified domain is on
`sender-domains` before its first send, so the only denial the probes expect is
`account-broadcasts-disabled`; the run fails before sending if the pure content rules would deny
the requests it sends. Figures are not comparable with runs from before content facts.

Phases (each bounded in time; every topic lives under a fresh prefix and is deleted at the end):

1. Setup: the default policy with `act_at_once = true` (a copy in the run's folder, handed to the
   worker as SENDGATE_POLICY_FILE), `--workers` real gate workers (`sendgate worker`); the
   verified sending domains of the background account and of every probe account, waited for
   until the gate's group has committed them, before the worker's first (warm-up) request.
2. State, for every probe at once (`enforcement.state`): 1,000 deliveries at Gmail and one
   complaint on the 0.1 % line per probe account, and the consents; the run waits until the
   consent keeper has committed the consents, the rate keeper has counted every rate event and
   every first complaint's fine is out.
3. Measurement (`enforcement.measure`), with a steady background load of `--background-rate`
   send requests per second to the opted-in recipients of an account that is never struck: per
   probe, the one-hop baseline, then the threshold-crossing complaint while the probe account
   sends a broadcast every `--request-interval-ms`. t0 = the complaint's acknowledgement.
   Latencies use the output records' CreateTime minus t0, and this process's receive time minus
   t0; the intermediate records give a per-stage breakdown (`enforcement.chain`).
4. Checks (`enforcement.figures`): no probe decision is denied before the strike record, and
   none is allowed after the first denial; a request sent before the complaint is allowed unless
   the gate decided it after the strike; broadcasts allowed after the strike record are counted;
   the gate's own latency for the probe requests is shown, since the first denial waits for it;
   the background decisions are all allows; dead letters; the worker's log, grouped.
"""

from __future__ import annotations

import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from enforcement.chain import (
    CHAIN,
    DELIVERIES,
    HOP_TOPIC,
    HOPS_TO_ENFORCEMENT,
    HOPS_TO_TABLE,
    Probe,
    reader_address,
)
from enforcement.figures import summarise
from enforcement.measure import Options, measure
from enforcement.printing import print_results
from enforcement.state import prepare_state
from harness.broker import create_run_topics, new_settings, wait_for_group_coordinator
from harness.consuming import OffsetWatcher, read_topic
from harness.content import (
    BACKGROUND_ACCOUNT,
    check_content_compliant,
    commercial_request,
    subscriber_address,
)
from harness.gate import (
    act_at_once_policy,
    publish_sender_domains,
    wait_for_members,
    wait_until_deciding,
)
from harness.options import (
    Bootstrap,
    JsonOut,
    Partitions,
    ProbeTimeout,
    bootstrap_or_default,
)
from harness.report import console, phase, write_figures
from harness.run import check_json_out, require_broker, run_then_clean_up
from harness.system import machine_info
from harness.workers import cli_worker_code, keep_worker_log, start_worker

from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings
from streams.policy import load_policy
from streams.reputation.standing import EnforcementEvent
from streams.topics import DEAD_LETTERS, ENFORCEMENT_EVENTS, default_codec

__all__ = ["main"]


async def run_benchmark(settings: Settings, options: Options, data_dir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "options": options.__dict__,
        "topic_prefix": settings.topic_prefix,
        "chain": CHAIN,
        "hops_to_enforcement_event": HOPS_TO_ENFORCEMENT,
        "hops_to_accounts_table": HOPS_TO_TABLE,
    }
    tag = uuid.uuid4().hex[:8]
    keyer = RecipientKeyer(settings.recipient_secret())
    probes = []
    for number in range(options.probes):
        address = subscriber_address(tag, number)
        probes.append(
            Probe(
                number=number,
                account=f"probe-{number}",
                address=address,
                recipient_key=keyer.key(address).encode(),
                complainers=(
                    keyer.key(reader_address(tag, number, 0)),
                    keyer.key(reader_address(tag, number, 1)),
                ),
                run_tag=tag,
            )
        )

    with phase(f"setup: topics, act-at-once policy, {options.workers} gate worker(s)"):
        await wait_for_group_coordinator(settings)
        names = await create_run_topics(settings, [HOP_TOPIC])
        console.print(f"created {len(names)} topics under prefix {settings.topic_prefix!r}")
        console.print(f"policy: {settings.policy_file} (the default with act_at_once = true)")
        worker = start_worker(settings, data_dir, "gate", cli_worker_code("bench-enforcement"))
        # More workers share the partitions: the strike is then read by one worker's enforcer
        # and must reach the others' copies (the broadcast fence) for their probes' broadcasts.
        others = [
            start_worker(
                settings, data_dir, f"gate-{number}", cli_worker_code(f"bench-enforcement-{number}")
            )
            for number in range(2, options.workers + 1)
        ]

    accounts = [BACKGROUND_ACCOUNT, *(probe.account for probe in probes)]
    check_content_compliant(
        [
            commercial_request(f"check-{account}", account, subscriber_address(tag, 0))
            for account in accounts
        ],
        load_policy(settings.policy_file),
        what="probe and background requests",
    )
    async with OffsetWatcher(settings.kafka_bootstrap_servers) as watcher:
        with phase(
            f"setup: verified sending domains of {len(accounts)} accounts, then wait until the "
            "worker decides a first request"
        ):
            results["sender_domains"] = await publish_sender_domains(
                settings, accounts, watcher, worker, timeout_s=180
            )
            await wait_until_deciding(settings, tag, watcher, worker)
            await wait_for_members(settings, [worker, *others])
        with phase(
            f"state: {options.probes} probe accounts x {DELIVERIES:,} deliveries at Gmail and "
            "one complaint each (on the line), consents"
        ):
            results["state"] = await prepare_state(settings, probes, tag, watcher, worker)

        with phase(
            f"measure: {options.probes} probes at {options.background_rate:,.0f} background sends/s"
        ):
            measured = await measure(settings, options, probes, tag, worker, watcher)
        results.update(measured)
        results["summary"] = summarise(measured)
        for row in results["probes"]:
            del row["gate_lags_ms"]  # thousands of numbers: the summary has their percentiles
        results["dead_letters"] = await watcher.count(DEAD_LETTERS.full_name(settings))
        enforcement = await read_topic(
            settings.kafka_bootstrap_servers, ENFORCEMENT_EVENTS.full_name(settings)
        )
        codec = default_codec()
        results["enforcement_events"] = dict(
            Counter(
                codec.decode(value or b"", EnforcementEvent).action for *_, value, _ in enforcement
            )
        )
    code = worker.stop()
    for other in others:
        other.check_alive()
        other.stop()
    results["workers"] = options.workers
    results["worker_exit_code"] = code
    results["worker_log"] = keep_worker_log(worker, settings)
    return results


def main(
    probes: Annotated[
        int, typer.Option(min=1, max=500, help="Threshold-crossing complaints to time.")
    ] = 30,
    background_rate: Annotated[
        float,
        typer.Option(min=0, max=20_000, help="Background send requests per second during probes."),
    ] = 1000.0,
    request_interval_ms: Annotated[
        float,
        typer.Option(min=1, max=100, help="Interval between a probe account's send requests."),
    ] = 5.0,
    partitions: Partitions = 6,
    workers: Annotated[
        int, typer.Option(min=1, max=4, help="Gate workers sharing the partitions.")
    ] = 2,
    probe_timeout_s: ProbeTimeout = 30.0,
    json_out: JsonOut = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Complaint-to-enforcement latency (to the strike record and to the first denied broadcast)
    with the gate at load and the policy acting at once, beside a raw aiokafka one-hop baseline.
    Needs the broker of scripts/services."""
    check_json_out(json_out)
    options = Options(
        probes=probes,
        background_rate=background_rate,
        request_interval_ms=request_interval_ms,
        partitions=partitions,
        workers=workers,
        probe_timeout_s=probe_timeout_s,
        bootstrap=bootstrap_or_default(bootstrap),
    )
    data_dir = Path(tempfile.mkdtemp(prefix="sendgate-bench-enforcement-"))
    settings = new_settings(bootstrap=options.bootstrap, partitions=partitions, data_dir=data_dir)
    require_broker(settings, data_dir)

    async def scenario() -> dict[str, Any]:
        policy_file = act_at_once_policy(data_dir)
        acting_at_once = settings.model_copy(update={"policy_file": policy_file})
        return await run_benchmark(acting_at_once, options, data_dir)

    results = run_then_clean_up(settings, data_dir, scenario, kept="worker log and policy")
    results["machine"] = machine_info(partitions)
    print_results(results)
    if json_out is not None:
        write_figures(json_out, results)


if __name__ == "__main__":
    typer.run(main)
