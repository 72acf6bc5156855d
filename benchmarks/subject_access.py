"""How long `sendgate subject-access` takes on the consent benchmark's ledger of a million rows.

The issue asks for a person's whole record in under a second on that ledger. This script:

1. Builds the ledger of `consent_proof.py` (`proof.ledger`: a database of the run's own, the
   ledger's migrations, `--rows` consent events and `--suppression-rows` suppression changes by
   COPY), and adds what subject access also reads, for the same filler recipients:
   `--decision-rows` send decisions, `--repeat-rows` repeated decisions, `--bounce-rows` bounce
   changes and `--report-rows` feedback reports. The person of the proof benchmark gets their
   consent events and opt-outs, and a decision (decided twice), a bounce and a complaint,
   through the real `LedgerWriter`. Then ANALYZE.
2. Picks `--recipients` filler recipients at random, and as many others for the baseline, and
   times, one run per recipient, with p50 / p95 / max:
   - the report as the CLI makes it, minus process start-up: a new engine, `read_subject` (six
     indexed queries, the chain check), the report rendered into memory (JSON; warm also HTML and
     the terminal tables), dispose. Cold is each recipient's first report in the run (its rows
     not read since the load; the OS page cache may hold them), warm the second;
   - baseline: `sendgate consent proof`'s path for the other recipients (cold, then warm), as
     `consent_proof.py` times it: policy, engine, `prove_consent`, the table rendered, dispose;
   - baseline: the bare `SELECT * FROM consent_events WHERE recipient_key = ...` on an open
     connection, for the report's recipients;
   - baseline: the report (JSON, warm) after dropping the index revision 0008 added (on
     `send_decision_repeats.recipient_key`), for `--unindexed-runs` of the recipients.
   Beside them, each of the report's queries' access method (EXPLAIN).
3. Prints the figures and, last, one JSON line of them.

Run: `.venv/bin/python benchmarks/subject_access.py` (PostgreSQL must be running; about three
minutes at full size). `--help` lists the options.
"""

from __future__ import annotations

import io
import platform
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
import typer
from harness.errors import BenchError
from harness.report import console, phase, print_json_line
from harness.stats import percentile
from proof.ledger import (
    add_the_person,
    add_the_persons_mail,
    bench_database,
    bulk_load,
    bulk_load_other_tables,
    libpq,
)
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from streams.cli.consent import render_proof
from streams.cli.subject_access import render
from streams.cli.subject_access.tables import print_report
from streams.core.recipient import RecipientKeyer
from streams.edges.ledger import make_engine
from streams.edges.ledger.proof import prove_consent
from streams.edges.ledger.subject_access import SubjectReport, read_subject
from streams.policy import load_policy

__all__ = ["main"]

DEFAULT_SERVER_URL = "postgresql+psycopg://sendgate:sendgate@127.0.0.1:54329/sendgate"
SECRET = b"subject-access-benchmark-secret-0123456789"
ADDRESS = "proof.person@example.com"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
PROOF_AT = datetime(2025, 6, 1, tzinfo=UTC)
TABLES = (
    ("consent_events", "ORDER BY chain_seq"),
    ("suppression_changes", "ORDER BY id"),
    ("send_decisions", "ORDER BY id"),
    ("send_decision_repeats", "ORDER BY id"),
    ("bounce_changes", "ORDER BY id"),
    ("feedback_reports", "ORDER BY id"),
)
"""The report's queries, as `read_subject` makes them."""


# --- the measurements -----------------------------------------------------------------------------


def report_path(url: str, output: str) -> Callable[[str], SubjectReport]:
    """What `sendgate subject-access` does after start-up for one recipient key, the output
    rendered into memory (`json`, `html` or `table`)."""

    def run(recipient_key: str) -> SubjectReport:
        engine = make_engine(url)
        try:
            report = read_subject(engine, recipient_key, now=NOW)
        finally:
            engine.dispose()
        if output == "table":
            print_report(report, ADDRESS, Console(file=io.StringIO(), width=120))
        else:
            render(report, ADDRESS, output)
        return report

    return run


def proof_path(url: str) -> Callable[[str], Any]:
    """`sendgate consent proof`'s path for one recipient key, as `consent_proof.py` times it."""

    def run(recipient_key: str) -> Any:
        policy = load_policy()
        engine = make_engine(url)
        try:
            proof = prove_consent(engine, recipient_key, "acme", at=PROOF_AT, policy=policy)
        finally:
            engine.dispose()
        render_proof(proof, ADDRESS, as_json=False, console=Console(file=io.StringIO(), width=120))
        return proof

    return run


def records(report: SubjectReport) -> int:
    """The records a report lists (decisions once each, repeats not counted)."""
    return (
        len(report.consent.events)
        + len(report.suppressions)
        + len(report.decisions)
        + len(report.bounces)
        + len(report.complaints)
    )


def time_each(function: Callable[[str], Any], keys: list[str]) -> list[float]:
    seconds = []
    for key in keys:
        started = time.perf_counter()
        function(key)
        seconds.append(time.perf_counter() - started)
    return seconds


def access_methods(url: str, recipient_key: str) -> dict[str, str]:
    """Each report query's scan nodes, e.g. 'Index Scan using ix_...'."""
    plans: dict[str, str] = {}
    with psycopg.connect(libpq(url)) as connection:
        for table, order in TABLES:
            plan = connection.execute(
                f"EXPLAIN (FORMAT JSON) SELECT * FROM {table} WHERE recipient_key = %s {order}",
                (recipient_key,),
            ).fetchone()[0][0]["Plan"]
            found: list[str] = []

            def walk(node: dict[str, Any], found: list[str] = found) -> None:
                if "Scan" in node["Node Type"]:
                    index = f" using {node['Index Name']}" if "Index Name" in node else ""
                    found.append(f"{node['Node Type']}{index}")
                for child in node.get("Plans", ()):
                    walk(child)

            walk(plan)
            plans[table] = ", ".join(found) or plan["Node Type"]
    return plans


def load(url: str, options: dict[str, int]) -> dict[str, Any]:
    """The ledger, the person's records through the writer, ANALYZE; the ledger's sizes."""
    started = time.perf_counter()
    recipients = bulk_load(url, options["rows"], options["suppression_rows"], options["seed"])
    bulk_load_other_tables(
        url,
        recipients,
        {
            "decisions": options["decision_rows"],
            "repeats": options["repeat_rows"],
            "bounces": options["bounce_rows"],
            "reports": options["report_rows"],
        },
        options["seed"],
    )
    person = RecipientKeyer(SECRET).key(ADDRESS)
    engine = make_engine(url)
    try:
        add_the_person(engine, person)
        add_the_persons_mail(engine, person)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            counts = {}
            for table, _ in TABLES:
                connection.execute(text(f"ANALYZE {table}"))
                counts[table] = connection.execute(
                    text(f"SELECT count(*) FROM {table}")
                ).scalar_one()
            size, version = connection.execute(
                text(
                    "SELECT pg_size_pretty(pg_database_size(current_database())), "
                    "current_setting('server_version')"
                )
            ).one()
    finally:
        engine.dispose()
    return {
        "recipients": recipients,
        "rows": counts,
        "database_size": size,
        "postgres": version,
        "load_s": time.perf_counter() - started,
    }


def run_benchmark(server_url: str, options: dict[str, int]) -> dict[str, Any]:
    results: dict[str, Any] = {"timings": []}
    with bench_database(server_url) as url:
        with phase("load the ledger"):
            results.update(load(url, options))
        person = RecipientKeyer(SECRET).key(ADDRESS)
        results["person"] = report_path(url, "json")(person)
        results["plans"] = access_methods(url, person)
        rng = random.Random(options["seed"] + 10)
        count = options["recipients"]
        picked = [f"{n:064x}" for n in rng.sample(range(1, results["recipients"] + 1), 3 * count)]
        keys, others, spare = picked[:count], picked[count : 2 * count], picked[2 * count :]
        report_path(url, "json")(person)  # imports, the first connection: not a recipient's
        proof_path(url)(person)
        results["records_per_report"] = sum(
            map(records, map(report_path(url, "json"), spare))
        ) / len(spare)
        with phase(f"time {len(keys)} reports and {len(others)} proofs"):
            cases: list[tuple[str, Callable[[str], Any], list[str]]] = [
                ("subject access, JSON, cold", report_path(url, "json"), keys),
                ("subject access, JSON, warm", report_path(url, "json"), keys),
                ("subject access, HTML, warm", report_path(url, "html"), keys),
                ("subject access, tables, warm", report_path(url, "table"), keys),
                ("baseline: consent proof, cold", proof_path(url), others),
                ("baseline: consent proof, warm", proof_path(url), others),
            ]
            for case, function, chosen in cases:
                results["timings"].append((case, time_each(function, chosen)))
            with psycopg.connect(libpq(url)) as connection:
                query = "SELECT * FROM consent_events WHERE recipient_key = %s ORDER BY chain_seq"
                seconds = time_each(lambda key: connection.execute(query, (key,)).fetchall(), keys)
            results["timings"].append(("baseline: bare SELECT of consent_events", seconds))
        if options["unindexed"]:
            with phase("time the report without revision 0008's index"):
                with psycopg.connect(libpq(url), autocommit=True) as connection:
                    connection.execute("DROP INDEX ix_send_decision_repeats_recipient_key")
                    connection.execute("ANALYZE send_decision_repeats")
                chosen = keys[: options["unindexed"]]
                seconds = time_each(report_path(url, "json"), chosen)
                results["timings"].append(
                    ("baseline: subject access, JSON, without 0008's index", seconds)
                )
                results["unindexed_plan"] = access_methods(url, person)["send_decision_repeats"]
    return results


# --- the figures ----------------------------------------------------------------------------------


def figures(results: dict[str, Any]) -> dict[str, Any]:
    return {
        "benchmark": "subject_access",
        "ledger_rows": results["rows"],
        "recipients": results["recipients"],
        "records_per_report": round(results["records_per_report"], 1),
        "cases": {
            case: {
                "n": len(seconds),
                "p50_ms": round(percentile(seconds, 50) * 1000, 2),
                "p95_ms": round(percentile(seconds, 95) * 1000, 2),
                "max_ms": round(max(seconds) * 1000, 2),
            }
            for case, seconds in results["timings"]
        },
        "plans": results["plans"],
    }


def print_results(results: dict[str, Any]) -> dict[str, Any]:
    summary = figures(results)
    rows = results["rows"]
    console.print(
        "ledger: "
        + ", ".join(f"{count:,} {table}" for table, count in rows.items())
        + f" ({sum(rows.values()):,} rows, {results['database_size']}) for "
        f"{results['recipients']:,} recipients; loaded in {results['load_s']:.0f}s. "
        f"PostgreSQL {results['postgres']}."
    )
    person: SubjectReport = results["person"]
    console.print(
        f"the person: {len(person.consent.events)} consent events (chain "
        f"{'verified' if person.consent.chain.verified else 'BROKEN'}), "
        f"{len(person.suppressions)} suppressions, {len(person.decisions)} decision "
        f"({sum(len(d.repeats) for d in person.decisions)} repeat), {len(person.bounces)} "
        f"bounce, {len(person.complaints)} complaint; a filler recipient's report holds "
        f"{summary['records_per_report']:.1f} records on average."
    )
    table = Table(title="subject access latency, one run per recipient")
    for column in ("case", "n", "p50 ms", "p95 ms", "max ms"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for case, values in summary["cases"].items():
        table.add_row(
            case,
            str(values["n"]),
            f"{values['p50_ms']:.2f}",
            f"{values['p95_ms']:.2f}",
            f"{values['max_ms']:.2f}",
        )
    console.print(table)
    plans = Table(title="the report's queries (EXPLAIN, the person's key)")
    plans.add_column("table")
    plans.add_column("access method")
    for name, plan in results["plans"].items():
        plans.add_row(name, plan)
    console.print(plans)
    worst = max(
        values["max_ms"] for case, values in summary["cases"].items() if case.startswith("subject")
    )
    if "unindexed_plan" in results:
        console.print(f"without 0008's index, send_decision_repeats: {results['unindexed_plan']}")
        summary["unindexed_plan"] = results["unindexed_plan"]
    verdict = "[green]met[/]" if worst < 1000 else "[red]NOT met[/]"
    console.print(f"target (a report under 1 s on a million rows): {verdict}, max {worst:.0f} ms")
    console.print(
        f"[dim]{platform.python_version()} on {platform.system()} {platform.release()}, "
        f"psycopg {psycopg.__version__}[/]"
    )
    return summary


def main(
    rows: Annotated[int, typer.Option(min=1000, help="Filler consent events.")] = 1_000_000,
    suppression_rows: Annotated[int, typer.Option(min=0, help="Filler suppressions.")] = 100_000,
    decision_rows: Annotated[int, typer.Option(min=0, help="Filler decisions.")] = 1_000_000,
    repeat_rows: Annotated[int, typer.Option(min=0, help="Filler repeated decisions.")] = 20_000,
    bounce_rows: Annotated[int, typer.Option(min=0, help="Filler bounce changes.")] = 200_000,
    report_rows: Annotated[int, typer.Option(min=0, help="Filler feedback reports.")] = 50_000,
    recipients: Annotated[
        int, typer.Option(min=10, help="Recipients timed (and as many for the baseline).")
    ] = 200,
    unindexed_runs: Annotated[
        int, typer.Option(min=0, help="Reports timed without 0008's index (0: skip).")
    ] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the generated ledger.")] = 2026,
    database_url: Annotated[
        str, typer.Option(help="A PostgreSQL server the run may create a database on.")
    ] = DEFAULT_SERVER_URL,
) -> None:
    """Time `sendgate subject-access` on the consent benchmark's ledger (a million consent
    events, plus decisions, bounces and complaints), beside the consent proof and a bare
    indexed SELECT. Needs the PostgreSQL of scripts/services."""
    options = {
        "rows": rows,
        "suppression_rows": suppression_rows,
        "decision_rows": decision_rows,
        "repeat_rows": repeat_rows,
        "bounce_rows": bounce_rows,
        "report_rows": report_rows,
        "recipients": recipients,
        "unindexed": min(unindexed_runs, recipients),
        "seed": seed,
    }
    try:
        results = run_benchmark(database_url, options)
    except BenchError as exc:
        console.print(f"[red bold]benchmark failed:[/] {exc}")
        raise typer.Exit(1) from None
    summary = print_results(results)
    print_json_line(summary)


if __name__ == "__main__":
    typer.run(main)
