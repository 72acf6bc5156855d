"""How long `sendgate consent proof` takes on a ledger of a million consent events.

The issue asks for an answer in under a second on a ledger of a million rows. This script:

1. Creates a database of its own on the PostgreSQL of scripts/services (`sendgate_bench_<hex>`),
   brings it to the newest schema with the ledger's own migrations, and drops it at the end.
2. Bulk-loads `--rows` consent events (default 1,000,000) for about a quarter as many recipients
   (1 to 7 events each, three accounts, realistic field sizes), each recipient's rows numbered and
   hash-chained exactly as the writer does (`streams.edges.ledger.chain.link`), with COPY; and
   `--suppression-rows` suppression changes (default 100,000) the same way. Then the person being
   proved gets ten consent events and two opt-outs through the real `LedgerWriter`, and ANALYZE.
3. Times, `--runs` times each, with p50 / p95 / max:
   - the proof as the CLI runs it, minus process start-up: load the policy, key the address,
     open an engine, `prove_consent` (two queries, chain check, fold, the consent rules), render
     the tables (or the JSON document) into memory, dispose of the engine;
   - baseline: a new engine (connection, as the CLI opens one), the same recipient's bare
     `SELECT ... ORDER BY chain_seq`, dispose: the proof's database cost without its Python;
   - baseline: that SELECT alone, on an open connection;
   - baseline: the proof again after dropping the index it uses (the unique constraint on
     (recipient_key, chain_seq)), `--unindexed-runs` times, since each run scans the table.
   Beside each, the access method of the consent query's plan (EXPLAIN).

Run: `.venv/bin/python benchmarks/consent_proof.py` (PostgreSQL must be running; about two
minutes at full size). `--help` lists the options.
"""

from __future__ import annotations

import io
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
import typer
from harness.errors import BenchError
from harness.report import console, phase, progress_bar
from harness.stats import percentile
from proof.ledger import add_the_person, bench_database, bulk_load, libpq
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from streams.cli.consent import render_proof
from streams.core.recipient import RecipientKeyer
from streams.edges.ledger import make_engine
from streams.edges.ledger.proof import ConsentProof, prove_consent
from streams.policy import load_policy

__all__ = ["main"]

DEFAULT_SERVER_URL = "postgresql+psycopg://sendgate:sendgate@127.0.0.1:54329/sendgate"
SECRET = b"consent-proof-benchmark-secret-0123456789"
ADDRESS = "proof.person@example.com"
PROOF_AT = datetime(2025, 6, 1, tzinfo=UTC)
CONSENT_QUERY = "SELECT * FROM consent_events WHERE recipient_key = %s ORDER BY chain_seq"


@dataclass(frozen=True)
class Timing:
    case: str
    runs: int
    seconds: list[float]
    plan: str

    def ms(self, q: float) -> float:
        return percentile(self.seconds, q) * 1000


# --- the measurements -----------------------------------------------------------------------------


def cli_path(url: str, *, as_json: bool) -> Callable[[], ConsentProof]:
    """What `sendgate consent proof` does after start-up, output rendered into memory."""

    def run() -> ConsentProof:
        policy = load_policy()
        recipient_key = RecipientKeyer(SECRET).key(ADDRESS)
        engine = make_engine(url)
        try:
            proof = prove_consent(
                engine, recipient_key, "acme", list_id="news", at=PROOF_AT, policy=policy
            )
        finally:
            engine.dispose()
        render_proof(
            proof, ADDRESS, as_json=as_json, console=Console(file=io.StringIO(), width=120)
        )
        return proof

    return run


def time_runs(what: str, function: Callable[[], Any], runs: int) -> list[float]:
    function()  # warm-up: imports, the policy file in the page cache, the plan cache
    seconds = []
    with progress_bar() as progress:
        task = progress.add_task(what, total=runs, rate="")
        for _ in range(runs):
            started = time.perf_counter()
            function()
            seconds.append(time.perf_counter() - started)
            progress.advance(task)
    return seconds


def access_methods(url: str, recipient_key: str) -> str:
    """The scan nodes of the consent query's plan, e.g. 'Index Scan using uq_...'."""
    with psycopg.connect(libpq(url)) as connection:
        plan = connection.execute(
            "EXPLAIN (FORMAT JSON) " + CONSENT_QUERY, (recipient_key,)
        ).fetchone()[0][0]["Plan"]
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if "Scan" in node["Node Type"]:
            index = f" using {node['Index Name']}" if "Index Name" in node else ""
            found.append(f"{node['Node Type']}{index}")
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan)
    return ", ".join(found) or plan["Node Type"]


def bare_select(url: str, recipient_key: str) -> tuple[Callable[[], Any], Callable[[], None]]:
    connection = psycopg.connect(libpq(url))

    def run() -> Any:
        return connection.execute(CONSENT_QUERY, (recipient_key,)).fetchall()

    return run, connection.close


def connect_and_select(url: str, recipient_key: str) -> Callable[[], Any]:
    """The database part of the CLI path alone: a new engine, one SELECT, dispose."""

    def run() -> Any:
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                return connection.exec_driver_sql(
                    CONSENT_QUERY.replace("%s", "%(key)s"), {"key": recipient_key}
                ).all()
        finally:
            engine.dispose()

    return run


def run_benchmark(server_url: str, options: dict[str, int]) -> dict[str, Any]:
    recipient_key = RecipientKeyer(SECRET).key(ADDRESS)
    results: dict[str, Any] = {"timings": []}
    with bench_database(server_url) as url:
        with phase(f"load {options['rows']:,} consent events"):
            started = time.perf_counter()
            recipients = bulk_load(
                url, options["rows"], options["suppression_rows"], options["seed"]
            )
            engine = make_engine(url)
            try:
                added = add_the_person(engine, recipient_key)
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("ANALYZE consent_events"))
                    connection.execute(text("ANALYZE suppression_changes"))
                    sizes = connection.execute(
                        text(
                            "SELECT (SELECT count(*) FROM consent_events), "
                            "pg_size_pretty(pg_total_relation_size('consent_events')), "
                            "pg_size_pretty(pg_relation_size('uq_consent_events_chain')), "
                            "(SELECT count(*) FROM suppression_changes), "
                            "current_setting('server_version')"
                        )
                    ).one()
            finally:
                engine.dispose()
            results.update(
                recipients=recipients,
                person_rows=added,
                consent_rows=sizes[0],
                table_size=sizes[1],
                index_size=sizes[2],
                suppression_rows=sizes[3],
                postgres=sizes[4],
                load_s=time.perf_counter() - started,
            )
        proof = cli_path(url, as_json=False)()
        results["proof"] = proof
        indexed_plan = access_methods(url, recipient_key)
        with phase("time the proof"):
            runs = options["runs"]
            for case, function in (
                ("proof, table output (CLI path)", cli_path(url, as_json=False)),
                ("proof, --json (CLI path)", cli_path(url, as_json=True)),
            ):
                results["timings"].append(
                    Timing(case, runs, time_runs(case, function, runs), indexed_plan)
                )
            case = "baseline: new engine + the same SELECT + dispose"
            seconds = time_runs(case, connect_and_select(url, recipient_key), runs)
            results["timings"].append(Timing(case, runs, seconds, indexed_plan))
            select_once, close = bare_select(url, recipient_key)
            try:
                case = "baseline: bare SELECT of the chain (open connection)"
                results["timings"].append(
                    Timing(case, runs, time_runs(case, select_once, runs), indexed_plan)
                )
            finally:
                close()
        if options["unindexed_runs"]:
            with phase("time the proof without its index"):
                with psycopg.connect(libpq(url), autocommit=True) as connection:
                    connection.execute(
                        "ALTER TABLE consent_events DROP CONSTRAINT uq_consent_events_chain"
                    )
                    connection.execute("ANALYZE consent_events")
                case = "baseline: proof with the (recipient_key, chain_seq) index dropped"
                runs = options["unindexed_runs"]
                seconds = time_runs(case, cli_path(url, as_json=False), runs)
                plan = access_methods(url, recipient_key)
                results["timings"].append(Timing(case, runs, seconds, plan))
    return results


def print_results(results: dict[str, Any]) -> None:
    proof: ConsentProof = results["proof"]
    console.print(
        f"ledger: {results['consent_rows']:,} consent events for {results['recipients']:,} "
        f"recipients ({results['table_size']} with indexes; the chain index "
        f"{results['index_size']}), {results['suppression_rows']:,} suppression changes; "
        f"loaded in {results['load_s']:.0f}s. PostgreSQL {results['postgres']}."
    )
    console.print(
        f"the person proved: {proof.consent_events} consent events, "
        f"{proof.suppression_changes} suppression changes; chain "
        f"{'verified' if proof.chain.verified else 'BROKEN'} ({proof.chain.entries} entries); "
        f"at {PROOF_AT.date()} bulk mail to acme/news "
        f"{'permitted' if proof.verdict.permitted else 'not permitted'}."
    )
    table = Table(title="consent proof latency")
    for column in ("case", "runs", "p50 ms", "p95 ms", "max ms", "consent query plan"):
        table.add_column(
            column, justify="left" if column in ("case", "consent query plan") else "right"
        )
    for timing in results["timings"]:
        table.add_row(
            timing.case,
            f"{timing.runs}",
            f"{timing.ms(50):.2f}",
            f"{timing.ms(95):.2f}",
            f"{max(timing.seconds) * 1000:.2f}",
            timing.plan,
        )
    console.print(table)
    worst = max(max(timing.seconds) for timing in results["timings"][:2])
    verdict = "[green]met[/]" if worst < 1.0 else "[red]NOT met[/]"
    console.print(
        f"target (the proof under 1 s on a million rows): {verdict}, max {worst * 1000:.0f} ms"
    )
    console.print(
        f"[dim]{platform.python_version()} on {platform.system()} {platform.release()}, "
        f"psycopg {psycopg.__version__}[/]"
    )


def main(
    rows: Annotated[int, typer.Option(min=1000, help="Filler consent events to load.")] = 1_000_000,
    suppression_rows: Annotated[
        int, typer.Option(min=0, help="Filler suppression changes to load.")
    ] = 100_000,
    runs: Annotated[int, typer.Option(min=5, help="Timed runs per indexed case.")] = 200,
    unindexed_runs: Annotated[
        int, typer.Option(min=0, help="Timed runs without the index (0: skip).")
    ] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the generated ledger.")] = 2026,
    database_url: Annotated[
        str, typer.Option(help="A PostgreSQL server the run may create a database on.")
    ] = DEFAULT_SERVER_URL,
) -> None:
    """Time `sendgate consent proof` on a ledger of a million consent events, beside a bare
    indexed SELECT and the proof without its index. Needs the PostgreSQL of scripts/services."""
    options = {
        "rows": rows,
        "suppression_rows": suppression_rows,
        "runs": runs,
        "unindexed_runs": unindexed_runs,
        "seed": seed,
    }
    try:
        results = run_benchmark(database_url, options)
    except BenchError as exc:
        console.print(f"[red bold]benchmark failed:[/] {exc}")
        raise typer.Exit(1) from None
    print_results(results)


if __name__ == "__main__":
    typer.run(main)
