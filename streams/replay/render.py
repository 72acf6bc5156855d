"""How a replay shows its findings (`sendgate replay`, the demo): tables for people, one JSON
document for scripts."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streams.core.clock import utc_text
from streams.replay.recorded import NotReplayed
from streams.replay.runs import Mismatch, VerifyReport, WhatIfReport
from streams.replay.whatif import WhatIfRow

__all__ = [
    "render_verify",
    "render_what_if",
    "verify_document",
    "what_if_document",
]


def _not_replayed_table(items: list[NotReplayed], show: int) -> Table:
    table = Table(title=f"Not decided again (first {min(show, len(items)):,} of {len(items):,})")
    for column in ("request", "request id", "account", "why"):
        table.add_column(column, overflow="fold")
    for item in items[:show]:
        table.add_row(
            escape(item.request_offset),
            escape(item.request_id or "-"),
            escape(item.account_id or "-"),
            escape(item.reason),
        )
    return table


def _mismatch_table(mismatch: Mismatch) -> Table:
    decision = mismatch.recorded
    table = Table(
        title=f"Different: request {escape(decision.request_id)} of "
        f"{escape(decision.account_id)} ({escape(decision.request_offset)})"
    )
    for column in ("field", "recorded", "decided again"):
        table.add_column(column, overflow="fold")
    for difference in mismatch.differences:
        table.add_row(
            difference.field,
            escape(str(difference.recorded)),
            escape(str(difference.replayed)),
        )
    return table


def render_verify(report: VerifyReport, console: Console, *, show: int) -> None:
    summary = Table(title="Replay verify")
    for column in (
        "requests",
        "decisions",
        "same",
        "different",
        "not decided again",
        "dead letters",
        "per s",
    ):
        summary.add_column(column, justify="right")
    summary.add_row(
        f"{report.requests:,}",
        f"{report.decisions:,}",
        f"{report.matched:,}",
        f"{len(report.mismatches):,}",
        f"{len(report.not_replayed):,}",
        f"{len(report.set_aside):,}",
        f"{report.per_second:,.0f}",
    )
    console.print(summary)
    if not report.signed_compared:
        console.print(
            "The platform's signing key files are not here: return paths and unsubscribe "
            "links were not compared."
        )
    for kind, count in sorted(report.not_replayed_by_kind.items()):
        console.print(f"  not decided again, {kind}: {count:,}")
    for mismatch in report.mismatches[:show]:
        console.print(_mismatch_table(mismatch))
    if report.not_replayed and show:
        console.print(_not_replayed_table(report.not_replayed, show))
    if report.ok:
        console.print(f"[green]All {report.decisions:,} decisions came out the same.[/green]")
    elif report.mismatches:
        console.print(
            f"[red]{len(report.mismatches):,} decisions came out different: a bug in the "
            "gate.[/red]"
        )
    else:
        console.print(
            f"[yellow]No decision came out different, but {len(report.not_replayed):,} "
            "requests could not be decided again.[/yellow]"
        )


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def render_what_if(report: WhatIfReport, console: Console) -> None:
    tally = report.tally
    totals = Table(title=f"What if: {escape(report.policy_version)}")
    for column in ("", "allowed", "denied", "denied share"):
        totals.add_column(column, justify="right")
    totals.add_row(
        "recorded",
        f"{tally.allowed_before:,}",
        f"{tally.denied_before:,}",
        _share(tally.denied_before, tally.requests),
    )
    totals.add_row(
        "new policy",
        f"{tally.allowed_after:,}",
        f"{tally.denied_after:,}",
        _share(tally.denied_after, tally.requests),
    )
    console.print(totals)
    flips = tally.flips
    console.print(
        f"{tally.requests:,} requests: {flips.newly_denied:,} newly denied, "
        f"{flips.newly_allowed:,} newly allowed, {tally.rules_changed:,} with other rules but "
        "the same verdict"
    )
    if report.not_replayed:
        console.print(f"{len(report.not_replayed):,} requests could not be decided again")
    if report.set_aside:
        console.print(f"{len(report.set_aside):,} requests the gate set aside as dead letters")
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    by_rule = Table(title="Flips by rule")
    for column in ("rule", "newly denied", "newly allowed"):
        by_rule.add_column(column, justify="left" if column == "rule" else "right")
    for rule, counts in tally.rules_by_flips():
        by_rule.add_row(rule, f"{counts.newly_denied:,}", f"{counts.newly_allowed:,}")
    by_account = Table(title="Flips by account")
    for column in ("account", "newly denied", "newly allowed"):
        by_account.add_column(column, justify="left" if column == "account" else "right")
    for account, counts in tally.accounts_by_flips():
        by_account.add_row(escape(account), f"{counts.newly_denied:,}", f"{counts.newly_allowed:,}")
    if tally.by_rule:
        console.print(by_rule)
        console.print(by_account)
    if tally.sample:
        sample = Table(title="Flipped decisions (sample)")
        for column in ("request", "account", "recorded", "new policy"):
            sample.add_column(column, overflow="fold")
        for row in tally.sample:
            sample.add_row(
                escape(row.request_id),
                escape(row.account_id),
                _verdict_text(row.verdict_before, row.explanations_before),
                _verdict_text(row.verdict_after, row.explanations_after),
            )
        console.print(sample)


def _verdict_text(verdict: str, explanations: tuple[str, ...]) -> str:
    return "\n".join([verdict, *(escape(text) for text in explanations)])


def _row_document(row: WhatIfRow) -> dict[str, Any]:
    return {
        "request_id": row.request_id,
        "account_id": row.account_id,
        "request_offset": row.request_offset,
        "decided_at": utc_text(row.decided_at),
        "before": {"verdict": row.verdict_before, "failures": list(row.explanations_before)},
        "after": {"verdict": row.verdict_after, "failures": list(row.explanations_after)},
    }


def _not_replayed_document(item: NotReplayed) -> dict[str, Any]:
    return {
        "request_offset": item.request_offset,
        "request_id": item.request_id,
        "account_id": item.account_id,
        "kind": item.kind,
        "reason": item.reason,
    }


def verify_document(report: VerifyReport, *, show: int) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "requests": report.requests,
        "decisions": report.decisions,
        "same": report.matched,
        "different": len(report.mismatches),
        "not_replayed": len(report.not_replayed),
        "not_replayed_by_kind": dict(report.not_replayed_by_kind),
        "dead_letters": len(report.set_aside),
        "signed_fields_compared": report.signed_compared,
        "decisions_per_s": round(report.per_second, 1),
        "differences": [
            {
                "request_offset": mismatch.recorded.request_offset,
                "request_id": mismatch.recorded.request_id,
                "account_id": mismatch.recorded.account_id,
                "fields": [
                    {"field": d.field, "recorded": d.recorded, "replayed": d.replayed}
                    for d in mismatch.differences
                ],
            }
            for mismatch in report.mismatches[:show]
        ],
        "not_replayed_requests": [_not_replayed_document(item) for item in report.not_replayed],
    }


def what_if_document(report: WhatIfReport) -> dict[str, Any]:
    tally = report.tally
    return {
        "policy": report.policy_version,
        "requests": tally.requests,
        "before": {"allowed": tally.allowed_before, "denied": tally.denied_before},
        "after": {"allowed": tally.allowed_after, "denied": tally.denied_after},
        "newly_denied": tally.flips.newly_denied,
        "newly_allowed": tally.flips.newly_allowed,
        "rules_changed_same_verdict": tally.rules_changed,
        "by_rule": {
            rule: {"newly_denied": c.newly_denied, "newly_allowed": c.newly_allowed}
            for rule, c in tally.rules_by_flips()
        },
        "by_account": {
            account: {"newly_denied": c.newly_denied, "newly_allowed": c.newly_allowed}
            for account, c in tally.accounts_by_flips()
        },
        "sample": [_row_document(row) for row in tally.sample],
        "not_replayed": [_not_replayed_document(item) for item in report.not_replayed],
        "dead_letters": len(report.set_aside),
        "notes": report.notes,
    }
