"""What `sendgate accounts` prints: the status as tables a person reads or as one JSON document a
script reads, the confirmation of a published reinstatement, and progress while the changelogs
are read.

Both forms of the status carry the same facts. Times are ISO-8601 UTC with milliseconds; rates
are shown as percentages with three significant digits (`percent`: for reading, never compared),
and in JSON also as fractions of 1 beside them; decimals (the policy's lines, fines) lose the
trailing zeros Avro's fixed scale adds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from aiokafka.structs import RecordMetadata
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streams.cli.accounts.changelogs import ChangelogRead, ProgressCallback
from streams.cli.accounts.ledger import LedgerHistory
from streams.cli.terminal import NameCell, progress_bar, utc_text
from streams.reputation.account_report import AccountStatusView, ProviderRates, percent
from streams.reputation.rates import Window
from streams.reputation.standing import ReinstatementRequest

__all__ = ["reading_progress", "render_reinstatement", "render_status", "status_document"]

_STATUS_STYLE = {
    "active": "green",
    "warned": "yellow",
    "broadcasts_disabled": "red",
    "terminated": "bold red",
}


@contextmanager
def reading_progress() -> Iterator[ProgressCallback]:
    """A progress bar on stderr for the changelog reader to move while it reads."""
    with progress_bar("reading the rates and standings changelogs") as progress:
        task = progress.add_task("changelogs", total=None)

        def show(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield show


def render_reinstatement(
    request: ReinstatementRequest, published: RecordMetadata, console: Console
) -> None:
    """Where the request went (topic, partition, offset) and what it puts on the record."""
    console.print(
        f"published reinstatement {escape(request.reinstatement_id)} for account "
        f"{escape(request.account_id)} to {published.topic} "
        f"(partition {published.partition}, offset {published.offset})"
    )
    console.print(f"  by:     {escape(request.by)}")
    console.print(f"  reason: {escape(request.reason)}")
    console.print(f"  at:     {utc_text(request.requested_at)}")


def render_status(
    view: AccountStatusView, history: LedgerHistory, read: ChangelogRead, console: Console
) -> None:
    """The status as a person reads it: the rates table and the lines it is judged by, then the
    standing, then the ledger's latest events (or why they are missing)."""
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
    for table in _rates_tables(view, console.width):
        console.print(table)
    rates = policy.rates
    console.print(
        f"Complaint rate judged {_scope(rates.complaint_scope)} (strike line "
        f"{_line(rates.complaint_line)}, from {rates.min_delivered_for_complaint_rate:,} "
        f"delivered); bounce rate judged {_scope(rates.bounce_scope)} (strike line "
        f"{_line(rates.bounce_line)}, from {rates.min_attempted_for_bounce_rate:,} attempted); "
        f"block rate (bounces that refused the sender, never held against the recipient) judged "
        f"{_scope(rates.block_scope)} (review {_line(rates.block_review_line)}, strike line "
        f"{_line(rates.block_line)}, from {rates.min_attempted_for_block_rate:,} attempted). "
        "* below that volume: shown, not judged.",
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
    """Counts and rates in one table on a wide terminal; at 80 columns its nine columns would
    break every word, so `_rates_tables` splits it in two there."""
    return _table(view, counts=True, rates=True)


def _rates_tables(view: AccountStatusView, width: int) -> tuple[Table, ...]:
    if width >= _ONE_TABLE_WIDTH:
        return (_rates_table(view),)
    return (_table(view, counts=True, rates=False), _table(view, counts=False, rates=True))


_ONE_TABLE_WIDTH = 120
"""Columns from which counts and rates share one table."""


def _table(view: AccountStatusView, *, counts: bool, rates: bool) -> Table:
    days = view.policy.rates.window_days
    what = "counts and rates" if counts and rates else "counts" if counts else "rates"
    table = Table(title=f"{what} in {view.window.id} (the rolling {days}-day window)")
    table.add_column("provider", overflow="fold", min_width=9)
    if counts:
        for column in ("delivered", "hard bounced", "blocked", "complaints"):
            table.add_column(column, justify="right", no_wrap=True)
    if rates:
        for column in ("complaint rate", "bounce rate", "block rate"):
            table.add_column(column, justify="right", no_wrap=True)
        table.add_column("over a line", overflow="fold", ratio=1)
    rows = [*view.providers, view.account_wide]
    for row in rows:
        snapshot = row.snapshot
        cells = [escape(_provider_name(row.provider))]
        if counts:
            cells += [
                f"{snapshot.delivered:,}",
                f"{snapshot.hard_bounced:,}",
                f"{snapshot.blocked:,}",
                f"{snapshot.complained:,}",
            ]
        if rates:
            cells += [
                _rate(snapshot.complaint_rate, snapshot.complaint_volume_enough),
                _rate(snapshot.bounce_rate, snapshot.bounce_volume_enough),
                _rate(snapshot.block_rate, snapshot.block_volume_enough),
                "\n".join(f"{b.kind} {b.level} ({_line(b.line)})" for b in row.breaches) or "-",
            ]
        table.add_row(
            *cells,
            style="bold" if row.provider is None else None,
            end_section=row is rows[-2] if len(rows) > 1 else False,
        )
    return table


def _rate(rate: Fraction | None, enough: bool) -> str:
    """The rate, marked `*` while its volume is below the minimum its lines need."""
    shown = percent(rate)
    return shown if enough or rate is None else f"{shown}*"


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
            NameCell(row["action"]),
            "" if row["strike_number"] is None else str(row["strike_number"]),
            escape(row["provider"] or ("all providers" if row["breach_kind"] else "")),
            escape(_detail(row)),
            NameCell(row["status_after"] or ""),
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
    complaint, bounce, block = snapshot.complaint_rate, snapshot.bounce_rate, snapshot.block_rate
    return {
        "provider": snapshot.provider,
        "counted": rates.counted,
        "delivered": snapshot.delivered,
        "hard_bounced": snapshot.hard_bounced,
        "complained": snapshot.complained,
        "blocked": snapshot.blocked,
        "attempted": snapshot.attempted,
        "complaint_rate": None if complaint is None else float(complaint),
        "complaint_rate_percent": percent(complaint),
        "bounce_rate": None if bounce is None else float(bounce),
        "bounce_rate_percent": percent(bounce),
        "block_rate": None if block is None else float(block),
        "block_rate_percent": percent(block),
        "complaint_volume_enough": snapshot.complaint_volume_enough,
        "bounce_volume_enough": snapshot.bounce_volume_enough,
        "block_volume_enough": snapshot.block_volume_enough,
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
