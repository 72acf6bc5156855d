"""The demo's report: rich tables made from decoded decisions, dead letters and ledger counts.

Pure apart from printing: every function takes records the run has already decoded and returns a
rich renderable, so the report can be checked in tests with a recording console. Nothing here
shows an address: people appear by their recipient key, shortened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from streams.core.records import DeadLetter, SendDecision
from streams.demo.enforcement import enforcement_table
from streams.demo.webhooks import EspRun, NotifyRun, esp_table, notify_table
from streams.reputation.standing import EnforcementEvent
from streams.rules import RULES

__all__ = [
    "EXPLAINED_DENIALS",
    "DemoReport",
    "OneClick",
    "dead_letters_table",
    "decisions_table",
    "explained_denials_table",
    "ledger_table",
    "pick_explained_denials",
    "render_report",
    "short_key",
    "summary_text",
]

EXPLAINED_DENIALS = 14
_KEY_CHARS = 12


@dataclass(frozen=True)
class OneClick:
    """A List-Unsubscribe link taken from an allowed decision and POSTed (RFC 8058)."""

    link: str
    status: int
    answered_ms: float
    before: SendDecision
    after: SendDecision


def one_click_table(one_click: OneClick) -> Table:
    table = Table(title="One-click unsubscribe (sendgate web)", title_justify="left")
    table.add_column("step")
    table.add_column("result", overflow="fold")
    base, _, token = one_click.link.rpartition("/u/")
    table.add_row(
        f"allowed decision {one_click.before.request_id}",
        "List-Unsubscribe: "
        + f"<{base}/u/{token[:16]}…>, <mailto:…>; List-Unsubscribe-Post: "
        + one_click.before.headers.get("List-Unsubscribe-Post", ""),
    )
    table.add_row(
        "POST List-Unsubscribe=One-Click", f"{one_click.status} in {one_click.answered_ms:.0f} ms"
    )
    rules = ", ".join(f.rule for f in one_click.after.failures) or "none"
    table.add_row(
        f"next send to that person and list ({one_click.after.request_id})",
        f"{one_click.after.verdict} ({rules})",
    )
    return table


@dataclass(frozen=True)
class DemoReport:
    """What one demo run found, ready to print."""

    topic_prefix: str
    accounts: tuple[str, ...]
    decisions: Sequence[SendDecision]
    dead_letters: Sequence[DeadLetter]
    ledger_run_counts: Mapping[str, int]
    ledger_total_counts: Mapping[str, int]
    clicks_applied: int
    race_request_ids: frozenset[str] = frozenset()
    mismatched_request_ids: Sequence[str] = ()
    elapsed_s: float = 0.0
    worker_log: Path | None = None
    notes: Sequence[str] = field(default_factory=tuple)
    enforcement: Sequence[EnforcementEvent] = ()
    enforcement_decisions: Sequence[SendDecision] = ()
    one_click: OneClick | None = None
    content_decisions: Sequence[SendDecision] = ()
    """The demo's template sends (`streams.demo.content`), with every content rule they broke."""
    esp: EspRun | None = None
    """The SES complaint and SendGrid bounce posted to the webhook service."""
    esp_decisions: Mapping[str, SendDecision] = field(default_factory=dict)
    notified: NotifyRun | None = None
    """What the demo's receiver got from `sendgate notify`."""


def short_key(recipient_key: str) -> str:
    """Enough of a recipient key to find its records again; never the address."""
    return f"{recipient_key[:_KEY_CHARS]}…"


def _count(number: int) -> str:
    return f"{number:,}" if number else "[dim]0[/]"


def decisions_table(decisions: Iterable[SendDecision], accounts: Sequence[str]) -> Table:
    """Failed rules (rows, in rule-table order) by account (columns), then allowed and totals.

    A denial that fails two rules counts in both rule rows, once in "denied".
    """
    by_rule: Counter[tuple[str, str]] = Counter()
    by_verdict: Counter[tuple[str, str]] = Counter()
    for decision in decisions:
        by_verdict[(decision.verdict, decision.account_id)] += 1
        for failure in decision.failures:
            by_rule[(failure.rule, decision.account_id)] += 1
    columns = list(accounts) + sorted(
        {account for _, account in by_verdict} - set(accounts)
    )  # an unexpected account still shows
    table = Table(title="Send decisions by rule and account", title_justify="left", show_edge=False)
    table.add_column("failed rule / verdict", no_wrap=True)
    for account in columns:
        table.add_column(account, justify="right")
    table.add_column("all", justify="right", style="bold")

    def row(label: str, counts: Counter[tuple[str, str]], key: str, **style: str) -> None:
        cells = [counts[(key, account)] for account in columns]
        table.add_row(label, *map(_count, cells), _count(sum(cells)), **style)

    for rule in RULES:
        row(rule.name, by_rule, rule.name)
    table.add_section()
    row("denied (requests)", by_verdict, "deny", style="red")
    row("allowed", by_verdict, "allow", style="green")
    totals = Counter({("all", account): by_verdict[("allow", account)] for account in columns})
    totals.update({("all", account): by_verdict[("deny", account)] for account in columns})
    table.add_section()
    row("total", totals, "all", style="bold")
    return table


def pick_explained_denials(
    decisions: Sequence[SendDecision], limit: int = EXPLAINED_DENIALS
) -> list[SendDecision]:
    """One denial per rule that fired (rule-table order), then one that fails several rules."""
    denials = sorted(
        (decision for decision in decisions if decision.verdict == "deny"),
        key=lambda decision: (decision.request_id.startswith("race-"), decision.request_id),
    )  # ordinary sends first: the summary line speaks for the racing ones
    picked: dict[str, SendDecision] = {}
    for rule in RULES:
        for decision in denials:
            named = any(failure.rule == rule.name for failure in decision.failures)
            if named and decision.request_id not in picked:
                picked[decision.request_id] = decision
                break
    several = next((decision for decision in denials if len(decision.failures) > 1), None)
    if several is not None and several.request_id not in picked:
        picked[several.request_id] = several
    return list(picked.values())[:limit]


def explained_denials_table(
    decisions: Sequence[SendDecision],
    limit: int = EXPLAINED_DENIALS,
    title: str = "Explained denials",
) -> Table:
    """A few denials as a support agent would read them: rule, law and explanation."""
    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column("request", no_wrap=True)
    table.add_column("account", no_wrap=True)
    table.add_column("recipient key", no_wrap=True)
    table.add_column("why (rule · explanation · law)", ratio=1)
    for decision in pick_explained_denials(decisions, limit):
        why = Text()
        for number, failure in enumerate(decision.failures):
            if number:
                why.append("\n\n")
            why.append(failure.rule, style="bold red")
            why.append("\n" + failure.explanation)
            why.append("\n" + failure.law, style="dim")
        table.add_row(
            decision.request_id, decision.account_id, short_key(decision.recipient_key), why
        )
    return table


def _rules(count: int) -> str:
    return f"{count} rule" if count == 1 else f"{count} rules"


def template_failures_table(decisions: Sequence[SendDecision]) -> Table:
    """Every rule each template send broke, as the sender fixing the template reads them: two
    columns, so a narrow terminal still shows whole sentences."""
    table = Table(
        title="Templates sent as they are (streams/demo/templates): every rule they broke",
        title_justify="left",
        show_lines=True,
    )
    table.add_column("request · rule", no_wrap=True, max_width=36)
    table.add_column("explanation · law", ratio=1)
    for decision in decisions:
        table.add_row(
            Text(
                f"{decision.request_id}\n{decision.verdict}: {_rules(len(decision.failures))}",
                style="bold",
            ),
            Text(f"{decision.account_id}, recipient {short_key(decision.recipient_key)}"),
        )
        for failure in decision.failures:
            why = Text(failure.explanation)
            why.append("\n" + failure.law, style="dim")
            table.add_row(Text(failure.rule, style="red"), why)
    return table


def dead_letters_table(letters: Iterable[DeadLetter], topic_prefix: str = "") -> Table:
    """Each dead letter with where it came from and why; never its content."""
    table = Table(
        title=f"Dead letters (topics without their prefix {topic_prefix!r})"
        if topic_prefix
        else "Dead letters",
        title_justify="left",
    )
    table.add_column("origin (topic/partition/offset)", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("reason", ratio=1)
    ordered = sorted(
        letters,
        key=lambda letter: (letter.origin_topic, letter.origin_partition, letter.origin_offset),
    )
    for letter in ordered:
        topic = letter.origin_topic.removeprefix(topic_prefix)
        origin = f"{topic}/{letter.origin_partition}/{letter.origin_offset}"
        table.add_row(origin, letter.error_kind, Text(letter.reason))
    return table


def ledger_table(run_counts: Mapping[str, int], total_counts: Mapping[str, int]) -> Table:
    """Rows per ledger table: written by this run, and in the whole ledger."""
    table = Table(title="Ledger rows", title_justify="left")
    table.add_column("table")
    table.add_column("from this run", justify="right")
    table.add_column("whole ledger", justify="right")
    for name in sorted(set(run_counts) | set(total_counts)):
        table.add_row(name, _count(run_counts.get(name, 0)), _count(total_counts.get(name, 0)))
    return table


def summary_text(report: DemoReport) -> Text:
    """The run in one line; red when the gate disagreed with the expected outcome."""
    decisions = report.decisions
    denied = sum(decision.verdict == "deny" for decision in decisions)
    rules = {failure.rule for decision in decisions for failure in decision.failures}
    race = [decision for decision in decisions if decision.request_id in report.race_request_ids]
    race_denied = sum(decision.verdict == "deny" for decision in race)
    parts = [
        f"{len(decisions):,} send requests decided ({report.elapsed_s:.1f} s from the start): "
        f"{len(decisions) - denied:,} allowed, {denied:,} denied by {len(rules)} rules",
        f"{report.clicks_applied:,} unsubscribes applied",
    ]
    if race:
        parts.append(f"{race_denied}/{len(race)} racing sends honoured their click")
    parts.append(f"{len(report.dead_letters)} dead letters")
    strikes = [event for event in report.enforcement if event.action == "strike_issued"]
    if report.enforcement:
        parts.append(
            f"{len(strikes)} strike(s) and {len(report.enforcement) - len(strikes)} other "
            "enforcement events"
        )
    decisions_in_ledger = report.ledger_run_counts.get("send_decisions", 0)
    repeats_in_ledger = report.ledger_run_counts.get("send_decision_repeats", 0)
    in_ledger = f"{decisions_in_ledger:,} decisions in the ledger"
    if repeats_in_ledger:
        in_ledger += f" (and {repeats_in_ledger:,} repeats of requests decided twice)"
    parts.append(in_ledger)
    line = Text("; ".join(parts) + ". ")
    if report.mismatched_request_ids:
        shown = ", ".join(report.mismatched_request_ids[:5])
        line.append(
            f"{len(report.mismatched_request_ids)} decisions differ from the policy's expected "
            f"outcome (e.g. {shown}).",
            style="bold red",
        )
    else:
        line.append("Every decision matches the policy's expected outcome.", style="bold green")
    return line


def render_report(report: DemoReport, console: Console) -> None:
    """Print the whole report: decisions, explained denials, dead letters, ledger, summary."""
    console.print()
    console.print(
        Group(
            decisions_table(report.decisions, report.accounts),
            Text(),
            explained_denials_table(report.decisions),
            Text(),
            dead_letters_table(report.dead_letters, report.topic_prefix),
            Text(),
            enforcement_table(list(report.enforcement)),
            Text(),
            notify_table(report.notified) if report.notified else Text(),
            Text(),
            one_click_table(report.one_click) if report.one_click else Text(),
            Text(),
            explained_denials_table(report.enforcement_decisions)
            if report.enforcement_decisions
            else Text(),
            Text(),
            template_failures_table(report.content_decisions)
            if report.content_decisions
            else Text(),
            Text(),
            esp_table(report.esp.case, report.esp.statuses, report.esp_decisions)
            if report.esp
            else Text(),
            Text(),
            ledger_table(report.ledger_run_counts, report.ledger_total_counts),
        )
    )
    console.print()
    for note in report.notes:
        console.print(Text(note, style="dim"))
    console.print(summary_text(report))
