"""A ledger of a million consent events to prove consent from, in a database of the run's own.

The database (`sendgate_bench_<hex>`) is made on the PostgreSQL of scripts/services, brought to
the newest schema by the ledger's own migrations (indexes included, so the load fills them as
it goes), and dropped at the end whatever happens. The filler rows go in with COPY, each
recipient's rows numbered and hash-chained exactly as the writer does
(`streams.edges.ledger.chain.link`); the person proved gets their events through the real
`LedgerWriter`, so the rows the proof reads are the writer's own.

`subject_access.py` reads every table by recipient, so it adds the other tables about people to
the same ledger (`bulk_load_other_tables`: decisions and their repeats, bounce changes, feedback
reports for the same filler recipients) and gives the person a decision, a bounce and a
complaint through the writer too (`add_the_persons_mail`).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from harness.errors import BenchError
from harness.report import console, progress_bar
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from streams.core.records import (
    BounceChange,
    ConsentEvent,
    FeedbackReport,
    RuleFailure,
    SendDecision,
    SuppressionChange,
    SuppressionEntry,
)
from streams.edges.ledger import LedgerItem, LedgerWriter, make_engine, upgrade
from streams.edges.ledger.chain import CHAINED_FIELDS, ChainLink, link

__all__ = [
    "add_the_person",
    "add_the_persons_mail",
    "bench_database",
    "bulk_load",
    "bulk_load_other_tables",
    "libpq",
]

ACCOUNTS = ("acme", "globex", "initech")
LISTS = ("news", "deals", "events")
JURISDICTIONS = ("DE", "US", "CA", "GB", "AU", None)
SOURCES = ("form", "checkout", "api", "import")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
TOPIC = "consent-events"
PARTITIONS = 6
T0 = datetime(2023, 1, 1, tzinfo=UTC)
CONSENT_COLUMNS = (*CHAINED_FIELDS, "chain_seq", "prev_hash", "entry_hash")
SUPPRESSION_COLUMNS = (
    "recipient_key",
    "scope",
    "account_id",
    "list_id",
    "reason",
    "outcome",
    "since",
    "changed_at",
    "source",
    "source_event_id",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
)


@contextmanager
def bench_database(server_url: str) -> Iterator[str]:
    """A database of the run's own, migrated; dropped afterwards whatever happens."""
    if make_url(server_url).get_backend_name() != "postgresql":
        raise BenchError("the proof benchmark needs PostgreSQL (--database-url)")
    name = f"sendgate_bench_{uuid.uuid4().hex[:12]}"
    server = make_engine(server_url)
    admin = server.execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        server.dispose()
        raise BenchError(f"cannot create a database on {make_url(server_url).host}: {exc}") from exc
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()
        console.print(f"[dim]dropped database {name}[/]")


def libpq(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection string for psycopg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _filler_events(rows: int, seed: int) -> Iterator[tuple[Any, ...]]:
    """Consent rows for many recipients (1 to 7 events each), chained, in COPY column order."""
    rng = random.Random(seed)
    offsets = [0] * PARTITIONS
    made = 0
    recipient = 0
    while made < rows:
        key = f"{recipient:064x}"  # any 64 hex digits: these people are never proved
        recipient += 1
        partition = recipient % PARTITIONS
        head: ChainLink | None = None
        moment = T0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 700))
        for number in range(min(rng.randint(1, 7), rows - made)):
            kind = "grant" if number == 0 else rng.choice(("grant", "confirm", "withdraw"))
            fields = {
                "event_id": f"fill-{recipient}-{number}",
                "recipient_key": key,
                "kind": kind,
                "account_id": rng.choice(ACCOUNTS),
                "lists": [rng.choice(LISTS)] if rng.random() < 0.7 else [],
                "cadence": "weekly" if rng.random() < 0.2 else None,
                "basis": "express" if kind == "grant" else None,
                "requires_confirmation": rng.random() < 0.3,
                "jurisdiction": rng.choice(JURISDICTIONS),
                "source_kind": rng.choice(SOURCES),
                "source_id": f"src-{rng.randrange(1000)}",
                "wording_hash": f"{rng.getrandbits(256):064x}",
                "wording_version": f"v{rng.randrange(1, 9)}",
                "ip": f"198.51.100.{rng.randrange(1, 255)}",
                "user_agent": rng.choice(USER_AGENTS),
                "occurred_at": moment,
                "kafka_topic": TOPIC,
                "kafka_partition": partition,
                "kafka_offset": offsets[partition],
            }
            offsets[partition] += 1
            moment += timedelta(minutes=rng.randrange(1, 60 * 24 * 30))
            head = link(fields, head)
            made += 1
            yield (
                *(_copy_value(fields[name]) for name in CHAINED_FIELDS),
                head.chain_seq,
                head.prev_hash,
                head.entry_hash,
            )


def _copy_value(value: Any) -> Any:
    """JSON columns get their JSON text; everything else psycopg adapts itself."""
    return json.dumps(value) if isinstance(value, list) else value


def _filler_suppressions(rows: int, recipients: int, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed + 1)
    for number in range(rows):
        account = rng.choice(ACCOUNTS)
        since = T0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 700))
        yield (
            f"{rng.randrange(1, recipients + 1):064x}",
            "list",
            account,
            rng.choice(LISTS),
            "unsubscribe",
            "added",
            since,
            since,
            f"unsubscribe-clicks/0/{number}",
            f"fill-click-{number}",
            "suppression-changes",
            0,
            number,
        )


def bulk_load(url: str, rows: int, suppression_rows: int, seed: int) -> int:
    """COPY the filler rows in; returns the number of recipients they cover."""
    recipients = 0
    with psycopg.connect(libpq(url)) as connection, progress_bar() as progress:
        task = progress.add_task("consent_events (COPY)", total=rows, rate="")
        started = time.perf_counter()
        columns = ", ".join(CONSENT_COLUMNS)
        with connection.cursor().copy(f"COPY consent_events ({columns}) FROM STDIN") as copy:
            for done, row in enumerate(_filler_events(rows, seed), start=1):
                copy.write_row(row)
                if done % 20_000 == 0:
                    rate = done / (time.perf_counter() - started)
                    progress.update(task, completed=done, rate=f"{rate:,.0f}/s")
                recipients = int(row[1], 16)
        progress.update(task, completed=rows)
        task = progress.add_task("suppression_changes (COPY)", total=suppression_rows, rate="")
        columns = ", ".join(SUPPRESSION_COLUMNS)
        with connection.cursor().copy(f"COPY suppression_changes ({columns}) FROM STDIN") as copy:
            for row in _filler_suppressions(suppression_rows, recipients, seed):
                copy.write_row(row)
        progress.update(task, completed=suppression_rows)
    return recipients


def add_the_person(engine: Engine, recipient_key: str) -> int:
    """Ten consent events and two opt-outs for the person proved, through the real writer."""
    at = datetime(2024, 3, 1, 10, tzinfo=UTC)

    def event(n: int, kind: str, days: int, **fields: Any) -> ConsentEvent:
        values: dict[str, Any] = {
            "event_id": f"person-{n}",
            "recipient_key": recipient_key,
            "kind": kind,
            "account_id": "acme",
            "lists": ("news",),
            "source_kind": "form",
            "jurisdiction": "DE",
            "ip": "192.0.2.10",
            "user_agent": USER_AGENTS[0],
            "wording_version": "news-v3",
            "occurred_at": at + timedelta(days=days),
        }
        if kind == "grant":
            values["basis"] = "express"
        return ConsentEvent.model_validate({**values, **fields})

    events = [
        event(1, "grant", 0, requires_confirmation=True),
        event(2, "confirm", 0, source_kind="confirmation_link"),
        event(3, "grant", 10, account_id="globex", lists=(), basis="implied_purchase"),
        event(4, "grant", 20, lists=("deals",)),
        event(5, "withdraw", 40, lists=("deals",)),
        event(6, "grant", 50, account_id="initech", source_kind="api"),
        event(7, "grant", 90, lists=("events",)),
        event(8, "confirm", 90, lists=("events",), source_kind="confirmation_link"),
        event(9, "withdraw", 200, account_id="globex", lists=()),
        event(10, "grant", 300, lists=("news",), requires_confirmation=False),
    ]
    clicks = [
        SuppressionChange(
            recipient_key=recipient_key,
            entry=SuppressionEntry(
                scope="list",
                account_id="acme",
                list_id="news",
                reason="unsubscribe",
                since=at + timedelta(days=days),
                source=f"unsubscribe-clicks/3/{n}",
                source_event_id=f"person-click-{n}",
            ),
            outcome="added",
            changed_at=at + timedelta(days=days),
        )
        for n, days in ((1, 100), (2, 400))
    ]
    items = [LedgerItem(TOPIC, 3, 10_000_000 + n, record) for n, record in enumerate(events)]
    items += [LedgerItem("suppression-changes", 3, 10_000_000 + n, c) for n, c in enumerate(clicks)]
    return LedgerWriter(engine).write_batch("bench", items)


DECISION_COLUMNS = (
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "request_id",
    "account_id",
    "recipient_key",
    "verdict",
    "policy_version",
    "decided_at",
    "failures",
    "failed_rules",
    "flags",
    "suppressions_seen",
    "state_offsets",
    "request_offset",
)
BOUNCE_COLUMNS = (
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "recipient_key",
    "event_id",
    "outcome",
    "consecutive_soft_before",
    "consecutive_soft_after",
    "policy",
    "source",
    "changed_at",
)
FEEDBACK_COLUMNS = (
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "report_id",
    "recipient_key",
    "feedback_type",
    "reporter",
    "account_id",
    "request_id",
    "list_id",
    "original_message_id",
    "arrival_date",
    "received_at",
    "source",
)
_DENIED = json.dumps(
    [{"rule": "list-unsubscribed", "law": "CAN-SPAM", "explanation": "The recipient unsubscribed."}]
)


def _filler_decisions(rows: int, recipients: int, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed + 2)
    for number in range(rows):
        deny = rng.random() < 0.2
        decided = T0 + timedelta(seconds=rng.randrange(0, 700 * 86_400))
        yield (
            "send-decisions",
            number % PARTITIONS,
            number,
            f"fill-req-{number}",
            rng.choice(ACCOUNTS),
            f"{rng.randrange(1, recipients + 1):064x}",
            "deny" if deny else "allow",
            "2026.1+bench",
            decided,
            _DENIED if deny else "[]",
            "list-unsubscribed" if deny else "",
            None,
            "[]",
            '{"suppressions": 1}',
            f"send-requests/{number % PARTITIONS}/{number}",
        )


def _filler_repeats(
    decisions: int, repeats: int, recipients: int, seed: int
) -> Iterator[tuple[Any, ...]]:
    """Later decisions of filler requests: the same request, recipient and verdict again."""
    chosen = set(random.Random(seed + 3).sample(range(decisions), min(repeats, decisions)))
    made = 0
    for number, first in enumerate(_filler_decisions(decisions, recipients, seed)):
        if number not in chosen:
            continue
        yield (
            first[0],
            first[1],
            decisions + made,
            *first[3:8],
            first[8] + timedelta(minutes=5),
            *first[9:],
            True,
        )
        made += 1


def _filler_bounces(rows: int, recipients: int, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed + 4)
    for number in range(rows):
        before = rng.randrange(0, 3)
        changed = T0 + timedelta(seconds=rng.randrange(0, 700 * 86_400))
        yield (
            "bounce-changes",
            0,
            number,
            f"{rng.randrange(1, recipients + 1):064x}",
            f"fill-delivery-{number}",
            "counted",
            before,
            before + 1,
            "consecutive(4)",
            f"delivery-events/0/{number}",
            changed,
        )


def _filler_reports(rows: int, recipients: int, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed + 5)
    for number in range(rows):
        received = T0 + timedelta(seconds=rng.randrange(0, 700 * 86_400))
        yield (
            "feedback-reports",
            0,
            number,
            f"fill-report-{number}",
            f"{rng.randrange(1, recipients + 1):064x}",
            "abuse",
            "fbl.example.net",
            rng.choice(ACCOUNTS),
            None,
            rng.choice(LISTS),
            f"<fill-{number}@mail.example.com>",
            received - timedelta(hours=1),
            received,
            "fbl",
        )


def bulk_load_other_tables(url: str, recipients: int, sizes: dict[str, int], seed: int) -> None:
    """COPY filler decisions, repeats, bounce changes and feedback reports for the filler
    recipients (1 .. `recipients`); `sizes` holds each table's row count."""
    loads = (
        (
            "send_decisions",
            DECISION_COLUMNS,
            _filler_decisions(sizes["decisions"], recipients, seed),
        ),
        (
            "send_decision_repeats",
            (*DECISION_COLUMNS, "same_decision"),
            _filler_repeats(sizes["decisions"], sizes["repeats"], recipients, seed),
        ),
        ("bounce_changes", BOUNCE_COLUMNS, _filler_bounces(sizes["bounces"], recipients, seed)),
        ("feedback_reports", FEEDBACK_COLUMNS, _filler_reports(sizes["reports"], recipients, seed)),
    )
    totals = dict(
        zip(
            ("send_decisions", "send_decision_repeats", "bounce_changes", "feedback_reports"),
            (sizes["decisions"], sizes["repeats"], sizes["bounces"], sizes["reports"]),
            strict=True,
        )
    )
    with psycopg.connect(libpq(url)) as connection, progress_bar() as progress:
        for table, columns, rows in loads:
            task = progress.add_task(f"{table} (COPY)", total=totals[table], rate="")
            with connection.cursor().copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            ) as copy:
                for done, row in enumerate(rows, start=1):
                    copy.write_row(row)
                    if done % 20_000 == 0:
                        progress.update(task, completed=done)
            progress.update(task, completed=totals[table])


def add_the_persons_mail(engine: Engine, recipient_key: str) -> int:
    """A decision (decided twice), a bounce and a complaint for the person, through the writer."""
    at = datetime(2024, 6, 1, 10, tzinfo=UTC)

    def decision(minutes: int) -> SendDecision:
        return SendDecision(
            request_id="person-req-1",
            account_id="acme",
            recipient_key=recipient_key,
            verdict="deny",
            failures=(
                RuleFailure(rule="list-unsubscribed", law="CAN-SPAM", explanation="Unsubscribed."),
            ),
            policy_version="2026.1+bench",
            decided_at=at + timedelta(minutes=minutes),
            request_offset="send-requests/3/1",
        )

    bounce = BounceChange(
        recipient_key=recipient_key,
        event_id="person-delivery-1",
        outcome="counted",
        consecutive_soft_before=0,
        consecutive_soft_after=1,
        policy="consecutive(4)",
        source="delivery-events/3/1",
        changed_at=at,
    )
    report = FeedbackReport(
        report_id="person-report-1",
        recipient_key=recipient_key,
        feedback_type="abuse",
        reporter="fbl.example.net",
        account_id="acme",
        list_id="news",
        received_at=at,
        source="fbl",
    )
    items = [
        LedgerItem("send-decisions", 3, 10_000_000, decision(0)),
        LedgerItem("send-decisions", 3, 10_000_001, decision(5)),
        LedgerItem("bounce-changes", 3, 10_000_000, bounce),
        LedgerItem("feedback-reports", 3, 10_000_000, report),
    ]
    return LedgerWriter(engine).write_batch("bench", items)
