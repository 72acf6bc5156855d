"""One-click unsubscribe: click-to-effective latency with the gate at load, and the endpoint's
requests per second on loopback, each beside a baseline measured in the same run.

Run from the repository root against the broker of `scripts/services`:

    .venv/bin/python benchmarks/unsubscribe_latency.py                 # 200 probes, 5,000 POSTs
    .venv/bin/python benchmarks/unsubscribe_latency.py --probes 30 --rps-requests 1000

With the gate deciding sends at the same time, the latency from the one-click POST's 200 answer
to the first later send for that recipient being denied (p50, p99; target p99 under 250 ms), and
the one-click endpoint's requests per second on loopback.

Message content: every send request carries a compliant commercial template's content facts
(`harness.content.compliant_content`), and both accounts' verified domains are on
`sender-domains` before the first send, so a probe's sends are denied by `list-unsubscribed`
only and the background's are allowed; the run fails before sending if the pure content rules
would deny the requests it sends. Figures are not comparable with runs from before content facts.

Phases (each bounded in time; every topic lives under a fresh prefix and is deleted at the end;
the worker is stopped even when a phase fails):

1. Setup: fresh topics, the unsubscribe signing key file made in the run's data folder (the
   worker and the service read the same file), one real gate worker (`sendgate worker`, told
   SENDGATE_UNSUBSCRIBE_BASE_URL of the service) and the real unsubscribe service
   (`streams.edges.web.serve.serve_unsubscribes`, the code behind `sendgate web`) in this
   process on a free loopback port. The probed and the background account's verified sending
   domains are published, and the run waits until the gate's group has committed them, then
   until the worker decides a first request.
2. State, for all probes at once (`unsubscribe.probes`): each probe's fresh recipient opts in to
   the probed account, 1,000 background recipients to theirs; the run waits until the gate's
   group has committed all of them. Then one commercial send to list "news" per probe, all at
   once; each allowed decision carries the probe's List-Unsubscribe link.
3. Baseline: `--idle-probes` probes as below, without the background load, so the click's own
   path can be told from the gate's queueing at load.
4. Measurement (`unsubscribe.measure`), with `--background-rate` send requests per second
   (pipelined, allowed commercial mail of another account) from here to the end. Beside the
   click-to-effective latency: the POST's round trip, the click record's CreateTime, the
   suppression keeper's change record (the fence may deny before the keeper has applied the
   click), the gate's own request -> decision latency for the same requests, and the rate the
   probes' own sends add.
5. Endpoint throughput (`unsubscribe.endpoint`): the real service beside a trivial aiohttp
   handler and raw aiokafka produce -> ack. By default the background load keeps running during
   this phase (`--no-endpoint-load` turns it off for the three contenders alike).
6. Results: tables, the machine, the CPU each process used, the target check; `--json-out`.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from harness.broker import create_run_topics, new_settings, wait_for_group_coordinator
from harness.consuming import OffsetWatcher
from harness.content import (
    BACKGROUND_ACCOUNT,
    BACKGROUND_RECIPIENTS,
    check_content_compliant,
    subscriber_address,
)
from harness.errors import BenchError
from harness.gate import publish_sender_domains, wait_until_deciding
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
from unsubscribe.endpoint import PRODUCE_TOPIC
from unsubscribe.figures import summarise
from unsubscribe.measure import Options, measure
from unsubscribe.printing import print_results
from unsubscribe.probes import PROBE_ACCOUNT, Probe, probe_request, publish_consents

from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings
from streams.edges.web.serve import free_loopback_port, serve_unsubscribes
from streams.policy import load_policy
from streams.sending.signing_keys import unsubscribe_tokens
from streams.topics import DEAD_LETTERS

__all__ = ["main"]


async def run_benchmark(settings: Settings, options: Options, data_dir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "options": options.__dict__,
        "topic_prefix": settings.topic_prefix,
        "load_average_at_start": list(os.getloadavg()),
    }
    tag = uuid.uuid4().hex[:8]
    keyer = RecipientKeyer(settings.recipient_secret())
    loop = asyncio.get_running_loop()
    probes = [
        Probe(
            number=number,
            address=subscriber_address(tag, number),
            recipient_key=keyer.key(subscriber_address(tag, number)),
            run_tag=tag,
            link_decision=loop.create_future(),
        )
        for number in range(options.probes + options.idle_probes)
    ]
    idle_probes, probes = probes[: options.idle_probes], probes[options.idle_probes :]
    stop_service = asyncio.Event()
    service: asyncio.Task | None = None
    port = int(settings.unsubscribe_base_url.rsplit(":", 1)[1])
    try:
        with phase("setup: topics, key file, one gate worker, the unsubscribe service"):
            await wait_for_group_coordinator(settings)
            names = await create_run_topics(settings, [PRODUCE_TOPIC])
            console.print(f"created {len(names)} topics under prefix {settings.topic_prefix!r}")
            # Made here, before the worker and the service start, so both read this very file.
            tokens = unsubscribe_tokens(settings, load_policy(settings.policy_file).unsubscribe)
            console.print(f"unsubscribe key file: {settings.unsubscribe_keys_path}")
            worker = start_worker(settings, data_dir, "gate", cli_worker_code("bench-unsubscribe"))
            listening: asyncio.Future[int] = loop.create_future()
            service = asyncio.create_task(
                serve_unsubscribes(
                    settings,
                    host="127.0.0.1",
                    port=port,
                    stop=stop_service,
                    on_listening=listening.set_result,
                )
            )
            await asyncio.wait({listening, service}, timeout=30, return_when="FIRST_COMPLETED")
            if service.done():
                raise BenchError(f"the unsubscribe service stopped: {service.exception()!r}")
            if not listening.done():
                raise BenchError("the unsubscribe service did not listen within 30 s")
            console.print(f"unsubscribe service on {settings.unsubscribe_base_url} (in process)")

        accounts = [PROBE_ACCOUNT, BACKGROUND_ACCOUNT]
        check_content_compliant(
            [
                probe_request(f"check-{account}", account, subscriber_address(tag, 0))
                for account in accounts
            ],
            load_policy(settings.policy_file),
            what="probe and background requests",
        )
        async with OffsetWatcher(settings.kafka_bootstrap_servers) as watcher:
            with phase(
                "setup: verified sending domains, then wait until the worker decides a first "
                "request"
            ):
                results["sender_domains"] = await publish_sender_domains(
                    settings, accounts, watcher, worker, timeout_s=180
                )
                await wait_until_deciding(settings, tag, watcher, worker)
            with phase(
                f"state: consent grants for {len(idle_probes) + len(probes)} probe recipients and "
                f"{BACKGROUND_RECIPIENTS:,} background recipients"
            ):
                results["consent_events"] = await publish_consents(
                    settings, idle_probes + probes, tag, watcher, worker
                )
            measured = await measure(
                settings,
                options,
                probes,
                idle_probes,
                tag,
                worker,
                watcher,
                tokens,
                port,
                data_dir,
            )
            if service.done():
                raise BenchError(f"the unsubscribe service stopped: {service.exception()!r}")
            results.update(measured)
            results["dead_letters"] = await watcher.count(DEAD_LETTERS.full_name(settings))
    finally:
        stop_service.set()
        if service is not None:
            try:
                await asyncio.wait_for(service, 30)
            except Exception as exc:
                console.print(f"[yellow]the unsubscribe service ended with {exc!r}[/]")
    results["summary"] = summarise(results)
    for row in results["probes"] + results["idle_probes"]:
        del row["gate_lags_ms"]  # thousands of numbers: the summary has their percentiles
    for figures in results.get("endpoint", {}).values():
        if isinstance(figures, dict):
            figures.pop("latencies_ms", None)
    results["worker_exit_code"] = worker.stop()
    results["worker_log"] = keep_worker_log(worker, settings)
    results["load_average_at_end"] = list(os.getloadavg())
    return results


def main(
    probes: Annotated[
        int, typer.Option(min=1, max=2000, help="One-click unsubscribes to time.")
    ] = 200,
    idle_probes: Annotated[
        int,
        typer.Option(min=0, max=500, help="Baseline probes first, without the background load."),
    ] = 10,
    background_rate: Annotated[
        float,
        typer.Option(min=0, max=20_000, help="Background send requests per second, throughout."),
    ] = 1000.0,
    rps_requests: Annotated[
        int,
        typer.Option(min=100, max=200_000, help="One-click POSTs for the endpoint throughput."),
    ] = 5000,
    concurrency: Annotated[
        int, typer.Option(min=1, max=1000, help="Requests in flight in the endpoint test.")
    ] = 32,
    request_interval_ms: Annotated[
        float,
        typer.Option(min=1, max=100, help="Interval between a probe's sends after the click."),
    ] = 5.0,
    endpoint_load: Annotated[
        bool,
        typer.Option(help="Keep the background load running during the endpoint test."),
    ] = True,
    partitions: Partitions = 6,
    probe_timeout_s: ProbeTimeout = 30.0,
    json_out: JsonOut = None,
    bootstrap: Bootstrap = None,
) -> None:
    """One-click unsubscribe click-to-effective latency with the gate at load (the real worker,
    the real unsubscribe service on loopback), and the endpoint's requests per second beside a
    trivial aiohttp handler and raw aiokafka produce acks. Needs the broker of scripts/services."""
    check_json_out(json_out)
    options = Options(
        probes=probes,
        idle_probes=idle_probes,
        background_rate=background_rate,
        rps_requests=rps_requests,
        concurrency=concurrency,
        request_interval_ms=request_interval_ms,
        partitions=partitions,
        probe_timeout_s=probe_timeout_s,
        endpoint_load=endpoint_load,
        bootstrap=bootstrap_or_default(bootstrap),
    )
    data_dir = Path(tempfile.mkdtemp(prefix="sendgate-bench-unsubscribe-"))
    settings = new_settings(bootstrap=options.bootstrap, partitions=partitions, data_dir=data_dir)
    settings = settings.model_copy(
        update={
            "unsubscribe_base_url": f"http://127.0.0.1:{free_loopback_port()}",
            "unsubscribe_key_file": data_dir / "unsubscribe-keys",
        }
    )
    require_broker(settings, data_dir)
    results = run_then_clean_up(
        settings,
        data_dir,
        lambda: run_benchmark(settings, options, data_dir),
        kept="worker log and client jobs",
    )
    results["machine"] = machine_info(partitions)
    print_results(results)
    if json_out is not None:
        write_figures(json_out, results)


if __name__ == "__main__":
    typer.run(main)
