"""`sendgate accounts ...`: a sending account's rates, strikes and standing; reinstating it.

- `sendgate accounts status ACCOUNT` reads the changelogs of the rates and standings tables from
  their beginning to their end at call time (no consumer group: nothing is committed, no worker
  is disturbed), keeps the latest value of each of the account's keys (a tombstone deletes), and
  shows the rolling window's rates per provider and account-wide as the enforcer judges them
  (`streams.reputation.account_report`), the standing (strikes, pauses, reviews, reinstatements, a
  transactional suspension and the misuse count), and the account's latest enforcement events
  from the ledger when there is one. `--json` prints the same as one JSON document.
- `sendgate accounts reinstate ACCOUNT --reason ... --by ...` publishes a `ReinstatementRequest`
  to `account-commands`, keyed by the account; the enforcer applies it once per reinstatement id,
  so publishing the same `--id` again changes nothing.

Exit codes: 0 done; 2 a usage error (a missing or blank option, a bad time), or a sendgate error
such as an unreachable broker or a missing topic (one red line, never a traceback).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy.exc
import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.structs import RecordMetadata
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine, inspect, make_url, select

from streams.cli.options import (
    JsonOption,
    LedgerUrlOption,
    bad_parameter,
    parse_time,
    require_text,
)
from streams.cli.terminal import progress_bar, quiet_kafka_client, utc_text
from streams.core.clock import FileClock, SystemClock
from streams.core.errors import (
    CodecError,
    InvalidRecordError,
    SendgateError,
    ServiceUnavailableError,
)
from streams.core.settings import Settings
from streams.edges.admin import describe_topics
from streams.edges.ledger.engine import make_engine
from streams.edges.ledger.models import EnforcementEventRow
from streams.policy import load_policy
from streams.reputation.account_report import (
    AccountStatusView,
    ProviderRates,
    account_status,
    latest_values,
    parse_rates_key,
    percent,
)
from streams.reputation.rates import RateState, Window
from streams.reputation.standing import ReinstatementRequest
from streams.reputation.strikes import AccountStanding
from streams.topics import (
    ACCOUNT_COMMANDS,
    RATES_CHANGELOG,
    STANDINGS_CHANGELOG,
    TopicSpec,
    default_codec,
)

__all__ = [
    "DEFAULT_EVENTS",
    "ChangelogRead",
    "LedgerHistory",
    "app",
    "publish_reinstatement",
    "read_account_tables",
    "recent_enforcement",
    "status_document",
]

DEFAULT_EVENTS = 20
"""Enforcement events from the ledger that `status` shows by default."""
_FETCH_TIMEOUT_MS = 500

app = typer.Typer(
    help="Sending accounts: rates, strikes and standing; reinstatement.", no_args_is_help=True
)

_TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout", min=0.5, help="Seconds to wait for the broker before giving up.", metavar="S"
    ),
]


def _unreachable(settings: Settings, exc: BaseException) -> ServiceUnavailableError:
    reason = "connection failed" if isinstance(exc, KafkaConnectionError) else "no answer in time"
    return ServiceUnavailableError(
        f"Kafka broker at {settings.kafka_bootstrap_servers} is not reachable: {reason}; "
        "start it with scripts/services start"
    )


# --- reinstate ------------------------------------------------------------------------------------

_REQUEST_OPTIONS = {
    "reinstatement_id": "--id",
    "account_id": "ACCOUNT",
    "by": "--by",
    "reason": "--reason",
}


def _request(account: str, *, by: str, reason: str, reinstatement_id: str) -> ReinstatementRequest:
    """The request, or a usage error naming the option that breaks the record's rules."""
    try:
        return ReinstatementRequest(
            reinstatement_id=reinstatement_id,
            account_id=account,
            by=by,
            reason=reason,
            requested_at=SystemClock().now(),
        )
    except ValidationError as exc:
        raise bad_parameter(exc, _REQUEST_OPTIONS) from None


async def publish_reinstatement(
    settings: Settings, request: ReinstatementRequest, *, timeout_s: float = 10.0
) -> RecordMetadata:
    """Publish the request to `account-commands`, keyed by the account id, and wait until every
    in-sync replica has it.

    Not `SendgateProducer`: that one keys records by recipient and needs the recipient key secret,
    which an operator reinstating an account has no use for.
    """
    topic = ACCOUNT_COMMANDS.full_name(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="sendgate-accounts",
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=max(1, int(timeout_s * 1000)),
    )
    try:
        await asyncio.wait_for(producer.start(), timeout_s)
    except (KafkaError, OSError, TimeoutError) as exc:
        await producer.stop()
        raise _unreachable(settings, exc) from None
    try:
        metadata = await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout_s)
        if topic not in metadata.topics():
            raise SendgateError(
                f"topic '{topic}' does not exist on {settings.kafka_bootstrap_servers}; create it "
                "with: sendgate topics create"
            )
        return await asyncio.wait_for(
            producer.send_and_wait(
                topic, default_codec().encode(request), key=request.account_id.encode("utf-8")
            ),
            timeout_s,
        )
    except (KafkaError, OSError, TimeoutError) as exc:
        raise ServiceUnavailableError(
            f"Kafka broker at {settings.kafka_bootstrap_servers} did not acknowledge the "
            f"reinstatement ({type(exc).__name__}); it may or may not have been written: publish "
            "it again with the same --id, which the enforcer applies once"
        ) from None
    finally:
        await producer.stop()


@app.command()
def reinstate(
    ctx: typer.Context,
    account: Annotated[
        str, typer.Argument(help="The sending account.", metavar="ACCOUNT", show_default=False)
    ],
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            help="Why, in words that go on the record (e.g. the best-practice test passed).",
            show_default=False,
        ),
    ],
    by: Annotated[
        str,
        typer.Option(
            "--by", help="Who reinstates: the operator, on the record.", show_default=False
        ),
    ],
    reinstatement_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            help="The reinstatement's id (default: a new random one). Publishing the same id "
            "again changes nothing.",
            show_default=False,
        ),
    ] = None,
    timeout_s: _TimeoutOption = 10.0,
) -> None:
    """Reinstate ACCOUNT: re-enable broadcasts, lift termination, pauses and a transactional
    suspension; strikes stay.

    Publishes a reinstatement request to the account-commands topic, keyed by the account; the
    enforcer applies it and emits a `reinstated` enforcement event naming --by and --reason.
    """
    settings = ctx.ensure_object(Settings)
    require_text(account, "ACCOUNT")
    require_text(reason, "--reason")
    require_text(by, "--by")
    require_text(reinstatement_id, "--id")
    request = _request(
        account, by=by, reason=reason, reinstatement_id=reinstatement_id or uuid.uuid4().hex
    )
    quiet_kafka_client()
    published = asyncio.run(publish_reinstatement(settings, request, timeout_s=timeout_s))
    console = Console(highlight=False)
    console.print(
        f"published reinstatement {escape(request.reinstatement_id)} for account "
        f"{escape(request.account_id)} to {published.topic} "
        f"(partition {published.partition}, offset {published.offset})"
    )
    console.print(f"  by:     {escape(request.by)}")
    console.print(f"  reason: {escape(request.reason)}")
    console.print(f"  at:     {utc_text(request.requested_at)}")


# --- status: reading the tables -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangelogRead:
    """The account's latest values in the rates and standings changelogs, and what reading took."""

    rate_states: dict[str | None, RateState]
    standing: AccountStanding | None
    records_read: int
    undecodable: tuple[str, ...] = ()
    """Keys whose latest value did not decode (the status is shown without them)."""


ProgressCallback = Callable[[int, int], None]
"""(offsets read, offsets to read) over every partition of both changelogs."""


async def read_account_tables(
    settings: Settings,
    account: str,
    *,
    timeout_s: float = 10.0,
    on_progress: ProgressCallback | None = None,
) -> ChangelogRead:
    """Read both changelogs from the beginning to their end offsets at the start of the call, and
    keep the latest value of each of the account's keys.

    Manual assignment, no consumer group, nothing committed. `read_committed`, so a record a
    worker's transaction has not committed yet is not taken for state.
    """
    specs = (RATES_CHANGELOG, STANDINGS_CHANGELOG)
    partitions = await _partitions(settings, specs, timeout_s)
    rates_topic, standings_topic = (spec.full_name(settings) for spec in specs)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="sendgate-accounts",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        request_timeout_ms=max(1, int(timeout_s * 1000)),
    )
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
    except (KafkaError, OSError, TimeoutError) as exc:
        await consumer.stop()
        raise _unreachable(settings, exc) from None
    entries: dict[str, list[tuple[bytes | None, bytes | None]]] = {
        rates_topic: [],
        standings_topic: [],
    }
    records_read = 0
    try:
        consumer.assign(partitions)
        starts = await asyncio.wait_for(consumer.beginning_offsets(partitions), timeout_s)
        ends = await asyncio.wait_for(consumer.end_offsets(partitions), timeout_s)
        total = sum(ends[tp] - starts[tp] for tp in partitions)
        pending = {tp for tp in partitions if ends[tp] > starts[tp]}
        if pending:
            await consumer.seek_to_beginning(*pending)
        positions = dict(starts)
        done = 0
        loop = asyncio.get_running_loop()
        moved_at = loop.time()
        while pending:
            if on_progress is not None:
                on_progress(done, total)
            fetched = await consumer.getmany(*pending, timeout_ms=_FETCH_TIMEOUT_MS)
            for tp, messages in fetched.items():
                for message in messages:
                    if message.offset >= ends[tp]:
                        continue  # written after the call started
                    records_read += 1
                    if _belongs_to(account, message.key, tp.topic == rates_topic):
                        entries[tp.topic].append((message.key, message.value))
            for tp in pending:
                # Past compacted-away offsets and transaction markers too, not only records.
                positions[tp] = await consumer.position(tp)
            before, done = done, sum(min(positions[tp], ends[tp]) - starts[tp] for tp in partitions)
            pending = {tp for tp in pending if positions[tp] < ends[tp]}
            if done > before:
                moved_at = loop.time()
            elif loop.time() - moved_at > timeout_s:
                raise ServiceUnavailableError(
                    f"reading the changelogs stalled at {done:,} of {total:,} offsets for "
                    f"{timeout_s:g} s; is the broker at {settings.kafka_bootstrap_servers} healthy?"
                )
        if on_progress is not None:
            on_progress(total, total)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise _unreachable(settings, exc) from None
    finally:
        await consumer.stop()
    return _decoded(
        latest_values(entries[rates_topic]), latest_values(entries[standings_topic]), records_read
    )


def _belongs_to(account: str, key: bytes | None, rates: bool) -> bool:
    """Whether a changelog key is one of the account's: `account|provider` (or `account|*`) in
    the rates changelog, the account id itself in the standings changelog."""
    if key is None:
        return False
    if not rates:
        return key == account.encode("utf-8")
    parsed = parse_rates_key(key)
    return parsed is not None and parsed[0] == account


def _decoded(
    rates: dict[bytes, bytes], standings: dict[bytes, bytes], records_read: int
) -> ChangelogRead:
    codec = default_codec()
    undecodable: list[str] = []
    rate_states: dict[str | None, RateState] = {}
    for key, value in sorted(rates.items()):
        parsed = parse_rates_key(key)
        if parsed is None:
            continue  # not kept by the reader
        try:
            rate_states[parsed[1]] = codec.decode(value, RateState)
        except (CodecError, InvalidRecordError):
            undecodable.append(key.decode("utf-8", "replace"))
    standing = None
    for key, value in standings.items():
        try:
            standing = codec.decode(value, AccountStanding)
        except (CodecError, InvalidRecordError):
            undecodable.append(key.decode("utf-8", "replace"))
    return ChangelogRead(rate_states, standing, records_read, tuple(undecodable))


async def _partitions(
    settings: Settings, specs: tuple[TopicSpec, ...], timeout_s: float
) -> list[TopicPartition]:
    """Every partition of the topics; a missing topic is an error naming the setup step."""
    infos = await describe_topics(settings, specs, timeout_s=timeout_s)
    partitions = []
    for info in infos:
        if info.partitions is None:
            raise SendgateError(
                f"topic '{info.name}' does not exist on {settings.kafka_bootstrap_servers}; "
                "create the topics with: sendgate topics create"
            )
        partitions += [TopicPartition(info.name, n) for n in range(info.partitions)]
    return partitions


# --- status: reading the ledger -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerHistory:
    """The account's latest enforcement events in the ledger, or why there are none to show."""

    events: tuple[dict[str, Any], ...] = ()
    note: str | None = None
    """Set when the ledger was not read (not asked, no database, not migrated, not reachable)."""
    limit: int = DEFAULT_EVENTS
    read: bool = False


def recent_enforcement(engine: Engine, account: str, limit: int) -> list[dict[str, Any]]:
    """The account's `limit` newest enforcement rows, newest first, every column but the id."""
    table = EnforcementEventRow.__table__
    query = (
        select(table)
        .where(table.c.account_id == account)
        .order_by(table.c.at.desc(), table.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [{name: value for name, value in row.items() if name != "id"} for row in rows]


def _ledger_history(database_url: str, account: str, limit: int) -> LedgerHistory:
    """Read the ledger if there is one; never create it (a status call writes nothing)."""
    try:
        parsed = make_url(database_url)
    except sqlalchemy.exc.ArgumentError:
        raise typer.BadParameter(
            "not a database URL", param_hint="--database-url / SENDGATE_DATABASE_URL"
        ) from None
    database = parsed.database or ""
    if (
        parsed.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and not database.startswith("file:")
        and not Path(database).expanduser().exists()
    ):
        return LedgerHistory(note=f"no ledger database at {database}", limit=limit)
    try:
        engine = make_engine(database_url)
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError):
        raise typer.BadParameter(
            "not a database URL sendgate can open",
            param_hint="--database-url / SENDGATE_DATABASE_URL",
        ) from None
    try:
        if not inspect(engine).has_table(EnforcementEventRow.__tablename__):
            return LedgerHistory(
                note="the ledger has no enforcement_events table yet: run sendgate ledger migrate",
                limit=limit,
            )
        rows = recent_enforcement(engine, account, limit)
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        # Which problem, never the URL: it may carry a password.
        reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
        return LedgerHistory(note=f"the ledger database is not reachable: {reason}", limit=limit)
    finally:
        engine.dispose()
    return LedgerHistory(events=tuple(rows), limit=limit, read=True)


# --- status: the command --------------------------------------------------------------------------


def _now(settings: Settings) -> datetime:
    """The workers' now: their clock file when one is configured, else the wall clock."""
    if settings.clock_file is None:
        return SystemClock().now()
    try:
        return FileClock(settings.clock_file).now()
    except (OSError, ValueError):
        raise SendgateError(
            f"cannot read the clock file {settings.clock_file} (SENDGATE_CLOCK_FILE); pass --at"
        ) from None


@app.command()
def status(
    ctx: typer.Context,
    account: Annotated[
        str, typer.Argument(help="The sending account.", metavar="ACCOUNT", show_default=False)
    ],
    as_json: JsonOption = False,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="The time whose rolling window to show, ISO-8601 with offset (default: now). "
            "Past windows show only what the rates table still holds; the standing is always "
            "the table's current one.",
            metavar="TIME",
        ),
    ] = None,
    events: Annotated[
        int,
        typer.Option(
            "--events", min=0, help="Enforcement events to show from the ledger (0: none)."
        ),
    ] = DEFAULT_EVENTS,
    database_url: LedgerUrlOption = None,
    no_ledger: Annotated[bool, typer.Option("--no-ledger", help="Do not read the ledger.")] = False,
    timeout_s: _TimeoutOption = 10.0,
) -> None:
    """Show ACCOUNT's rates, standing and latest enforcement events.

    Rates per provider and account-wide in the rolling window at --at, as the enforcer judges
    them; the standing (status, strikes, pauses, reinstatements) from the standings table; the
    latest enforcement events from the ledger, when there is one.
    """
    settings = ctx.ensure_object(Settings)
    require_text(account, "ACCOUNT")
    moment = parse_time(at) if at is not None else _now(settings)
    policy = load_policy(settings.policy_file)
    if no_ledger or events == 0:
        history = LedgerHistory(note="not read (--no-ledger or --events 0)", limit=events)
    else:
        url = database_url or settings.database_url.get_secret_value()
        history = _ledger_history(url, account, events)
    quiet_kafka_client()
    read = asyncio.run(_read_with_progress(settings, account, timeout_s))
    view = account_status(
        account, rate_states=read.rate_states, standing=read.standing, at=moment, policy=policy
    )
    if as_json:
        document = status_document(view, history, read)
        Console().file.write(json.dumps(document, indent=2) + "\n")
        return
    _render(view, history, read, Console(highlight=False))


async def _read_with_progress(settings: Settings, account: str, timeout_s: float) -> ChangelogRead:
    with progress_bar("reading the rates and standings changelogs") as progress:
        task = progress.add_task("changelogs", total=None)

        def show(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return await read_account_tables(settings, account, timeout_s=timeout_s, on_progress=show)


# --- output ---------------------------------------------------------------------------------------

_STATUS_STYLE = {
    "active": "green",
    "warned": "yellow",
    "broadcasts_disabled": "red",
    "terminated": "bold red",
}


def _render(
    view: AccountStatusView, history: LedgerHistory, read: ChangelogRead, console: Console
) -> None:
    policy = view.policy
    console.print(
        f"[bold]Account {escape(view.account_id)}[/] at {utc_text(view.at)} "
        f"(policy {escape(policy.policy_version)})"
    )
    if not view.known:
        console.print(
            f"The rates and standings tables hold nothing for account {escape(view.account_id)} "
            f"({read.records_read:,} changelog records read): no mail counted, no enforcement."
        )
    for key in read.undecodable:
        console.print(f"[yellow]warning:[/] the latest value of key {escape(key)} did not decode")
    console.print(_rates_table(view))
    rates = policy.rates
    console.print(
        f"Complaint rate judged {_scope(rates.complaint_scope)} (strike line "
        f"{_line(rates.complaint_line)}, from {rates.min_delivered_for_complaint_rate:,} "
        f"delivered); bounce rate judged {_scope(rates.bounce_scope)} (strike line "
        f"{_line(rates.bounce_line)}, from {rates.min_attempted_for_bounce_rate:,} attempted).",
        style="dim",
    )
    _render_standing(view, console)
    _render_history(history, console)


def _scope(scope: str) -> str:
    return "per provider" if scope == "provider" else "account-wide"


def _line(line: Decimal | None) -> str:
    return "none" if line is None else f"{(line * 100).normalize():f}%"


def _provider_name(provider: str | None) -> str:
    return "all providers" if provider is None else provider


def _rates_table(view: AccountStatusView) -> Table:
    days = view.policy.rates.window_days
    table = Table(title=f"rates in {view.window.id} (the rolling {days}-day window)")
    table.add_column("provider", overflow="fold")
    for column in ("delivered", "hard bounces", "complaints", "complaint rate", "bounce rate"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("enough volume", no_wrap=True)
    table.add_column("over a line", overflow="fold")
    rows = [*view.providers, view.account_wide]
    for rates in rows:
        snapshot = rates.snapshot
        table.add_row(
            escape(_provider_name(rates.provider)),
            f"{snapshot.delivered:,}",
            f"{snapshot.hard_bounced:,}",
            f"{snapshot.complained:,}",
            percent(snapshot.complaint_rate),
            percent(snapshot.bounce_rate),
            _volume(rates),
            ", ".join(f"{b.kind} {b.level} ({_line(b.line)})" for b in rates.breaches) or "-",
            style="bold" if rates.provider is None else None,
            end_section=rates is rows[-2] if len(rows) > 1 else False,
        )
    return table


def _volume(rates: ProviderRates) -> str:
    snapshot = rates.snapshot
    complaints = "yes" if snapshot.complaint_volume_enough else "no"
    bounces = "yes" if snapshot.bounce_volume_enough else "no"
    return f"complaints {complaints}, bounces {bounces}"


def _render_standing(view: AccountStatusView, console: Console) -> None:
    style = _STATUS_STYLE.get(view.status, "bold")
    ladder = view.policy.strikes.ladder
    console.print(
        f"Standing: [{style}]{view.status}[/]; {view.strikes_in_period} strike(s) count in the "
        f"last {view.policy.strikes.strike_period_days} days (ladder: {', '.join(ladder)})"
    )
    _render_misuse(view, console)
    standing = view.standing
    if standing is None:
        console.print("No enforcement on record in the standings table.")
        return
    if standing.strikes:
        table = Table(title="strikes")
        table.add_column("#", justify="right")
        for column in ("kind", "provider", "window", "count / volume", "rate", "line", "when"):
            table.add_column(column, overflow="fold")
        for strike in standing.strikes:
            table.add_row(
                str(strike.number),
                strike.kind,
                escape(_provider_name(strike.provider)),
                strike.window.id,
                f"{strike.count:,} / {strike.volume:,}",
                percent(_fraction(strike.count, strike.volume)),
                _line(strike.line),
                utc_text(strike.at),
            )
        console.print(table)
    active = standing.active_pauses
    if active:
        table = Table(title="active pauses")
        for column in ("provider", "kind", "window", "count / volume", "line", "since"):
            table.add_column(column, overflow="fold")
        for pause in active:
            table.add_row(
                escape(_provider_name(pause.provider)),
                pause.kind,
                pause.window.id,
                f"{pause.count:,} / {pause.volume:,}",
                _line(pause.line),
                utc_text(pause.at),
            )
        console.print(table)
    else:
        console.print("Active pauses: none.")
    if standing.reviews:
        reviews = ", ".join(
            f"{r.kind} {_provider_name(r.provider)} {r.window.id}" for r in standing.reviews
        )
        console.print(f"Reviews flagged: {escape(reviews)}.")
    if standing.reinstatements:
        table = Table(title="reinstatements")
        for column in ("when", "by", "reason", "restored"):
            table.add_column(column, overflow="fold")
        for reinstatement in standing.reinstatements:
            table.add_row(
                utc_text(reinstatement.at),
                escape(reinstatement.by),
                escape(reinstatement.reason),
                escape(", ".join(reinstatement.restored) or "nothing was restricted"),
            )
        console.print(table)


def _render_misuse(view: AccountStatusView, console: Console) -> None:
    misuse = view.policy.enforcement
    counted = (
        f"{view.misuse_in_window} transactional send(s) denied as marketing in the last "
        f"{misuse.misuse_window_days} days"
    )
    if view.transactional_suspended:
        console.print(
            f"Transactional sending: [bold red]suspended[/] until the account is reinstated "
            f"({counted})."
        )
    elif view.misuse_in_window:
        limit = (
            f"suspended at {misuse.misuse_suspend_after}"
            if misuse.misuse_suspend_after
            else "never suspended by this policy"
        )
        console.print(f"Transactional sending: allowed; {counted} ({limit}).")


def _render_history(history: LedgerHistory, console: Console) -> None:
    if history.note is not None:
        console.print(f"Ledger: {escape(history.note)}.", style="dim")
        return
    if not history.events:
        console.print("Ledger: no enforcement event for this account.")
        return
    table = Table(title=f"latest enforcement events in the ledger (up to {history.limit})")
    table.add_column("when (UTC)", no_wrap=True)
    for column in ("action", "strike", "provider", "detail", "status after"):
        table.add_column(column, overflow="fold")
    for row in history.events:
        table.add_row(
            row["at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            escape(row["action"]),
            "" if row["strike_number"] is None else str(row["strike_number"]),
            escape(row["provider"] or ("all providers" if row["breach_kind"] else "")),
            escape(_detail(row)),
            escape(row["status_after"] or ""),
        )
    console.print(table)


def _detail(row: dict[str, Any]) -> str:
    if row["action"] == "reinstated":
        restored = ", ".join(row["restored"] or ()) or "nothing was restricted"
        return f"by {row['by']}: {row['reason']} (restored: {restored})"
    if row["action"] == "fine_assessed":
        amount = _decimal(row["fine_amount"]) if row["fine_amount"] is not None else "?"
        return f"{amount} {row['fine_currency']} (report {row['report_id']})"
    if row["breach_kind"] is not None:
        rate = percent(_fraction(row["count"], row["volume"]))
        return (
            f"{row['breach_kind']} {row['count']:,} / {row['volume']:,} ({rate}) over the "
            f"{row['breach_level']} line {_line(row['line'])} in "
            f"{Window(start=row['window_start'], end=row['window_end']).id}"
        )
    return row["explanation"]


def _fraction(count: int | None, volume: int | None) -> Fraction | None:
    return Fraction(count, volume) if count is not None and volume else None


def status_document(
    view: AccountStatusView, history: LedgerHistory, read: ChangelogRead
) -> dict[str, Any]:
    """The status as JSON-ready values: times ISO-8601 UTC with milliseconds, rates as fractions
    of 1 (floats, for display) beside their percentages, decimals as strings."""
    standing = view.standing
    return {
        "account_id": view.account_id,
        "at": utc_text(view.at),
        "policy_version": view.policy.policy_version,
        "window": _window(view.window),
        "rates": [_rates_document(rates) for rates in (*view.providers, view.account_wide)],
        "standing": {
            "status": view.status,
            "strikes_in_period": view.strikes_in_period,
            "strike_period_days": view.policy.strikes.strike_period_days,
            "ladder": list(view.policy.strikes.ladder),
            "transactional_suspended": view.transactional_suspended,
            "misuse_in_window": view.misuse_in_window,
            "misuse_window_days": view.policy.enforcement.misuse_window_days,
            "misuse_suspend_after": view.policy.enforcement.misuse_suspend_after,
            "on_record": standing is not None,
            "strikes": [
                {**_episode(strike), "number": strike.number}
                for strike in (standing.strikes if standing else ())
            ],
            "active_pauses": [
                _episode(pause) for pause in (standing.active_pauses if standing else ())
            ],
            "reviews": [_episode(review) for review in (standing.reviews if standing else ())],
            "reinstatements": [
                {
                    "reinstatement_id": r.reinstatement_id,
                    "at": utc_text(r.at),
                    "by": r.by,
                    "reason": r.reason,
                    "restored": list(r.restored),
                }
                for r in (standing.reinstatements if standing else ())
            ],
        },
        "ledger": {
            "read": history.read,
            "note": history.note,
            "events": [_jsonable(row) for row in history.events],
        },
        "changelogs": {"records_read": read.records_read, "undecodable": list(read.undecodable)},
    }


def _rates_document(rates: ProviderRates) -> dict[str, Any]:
    snapshot = rates.snapshot
    complaint, bounce = snapshot.complaint_rate, snapshot.bounce_rate
    return {
        "provider": snapshot.provider,
        "counted": rates.counted,
        "delivered": snapshot.delivered,
        "hard_bounced": snapshot.hard_bounced,
        "complained": snapshot.complained,
        "attempted": snapshot.attempted,
        "complaint_rate": None if complaint is None else float(complaint),
        "complaint_rate_percent": percent(complaint),
        "bounce_rate": None if bounce is None else float(bounce),
        "bounce_rate_percent": percent(bounce),
        "complaint_volume_enough": snapshot.complaint_volume_enough,
        "bounce_volume_enough": snapshot.bounce_volume_enough,
        "breaches": [
            {
                "kind": breach.kind,
                "level": breach.level,
                "line": _decimal(breach.line),
                "count": breach.count,
                "volume": breach.volume,
            }
            for breach in rates.breaches
        ],
    }


def _episode(episode: Any) -> dict[str, Any]:
    return {
        "breach_id": episode.breach_id,
        "kind": episode.kind,
        "provider": episode.provider,
        "window": _window(episode.window),
        "count": episode.count,
        "volume": episode.volume,
        "line": _decimal(episode.line),
        "at": utc_text(episode.at),
    }


def _window(window: Window) -> dict[str, str]:
    return {"id": window.id, "start": utc_text(window.start), "end": utc_text(window.end)}


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    def value(item: Any) -> Any:
        if isinstance(item, datetime):
            return utc_text(item)
        if isinstance(item, Decimal):
            return _decimal(item)
        return item

    return {name: value(item) for name, item in row.items()}


def _decimal(value: Decimal) -> str:
    """Without the trailing zeros Avro's fixed scale adds: `0.001`, not `0.001000000`."""
    return f"{value.normalize():f}"
