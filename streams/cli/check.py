"""`sendgate check TEMPLATE.eml --classification commercial`: the content rules on a message file.

A sender tests a template before sending it: the file is read into the facts a send request
carries (`streams.content.message_facts`), the request is built as the sender's integration
would build it, and every rule of `streams.rules.content.CONTENT_RULES` is run on it, in table
order, with the same code and policy the gate uses. Each rule's outcome is printed with its law
and explanation:

- `pass`: the rule passed (the table says what it checked for);
- `FAIL`: the gate would deny the send; the explanation is the one the decision would carry;
- `not checked`: the outcome turns on a fact the file does not carry, and the caller did not
  give: the account's verified sending domains (`ACCOUNT_STATE_RULES`; give `--verified-domain`),
  the From domain's DMARC policy, which is DNS data (give `--dmarc-policy`), or, for a file with
  no `DKIM-Signature` and no `Return-Path` field (a template rather than a sent message), the
  DKIM and SPF facts the mailer adds. See `run_content_rules` for how that is decided.

Only the content rules run: suppressions, consent, rates and enforcement are about recipients
and accounts, not templates, and the recipient is a placeholder
(`TEMPLATE_CHECK_RECIPIENT`). The policy is `--policy`, else the one the gate is configured with
(`SENDGATE_POLICY_FILE`), else the packaged default. `--jurisdiction` takes a code in either case.

Exit codes: 0 every rule checked passed; 1 a rule failed; 2 a usage error (a bad option value, a
file that cannot be read or is no email message, a bad policy file), as a one-line message with
no traceback. `--json` prints one JSON document with the same content instead of the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import pycountry
import typer
from pydantic import ValidationError
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streams.cli.options import bad_parameter, first_problem
from streams.cli.terminal import NameCell, print_wrapped, stdout_console, why_unreadable
from streams.content.message_facts import (
    MessageFacts,
    UnreadableMessageError,
    facts_from_message,
    request_from_facts,
)
from streams.content.misuse import assess_misuse
from streams.core.clock import SystemClock
from streams.core.errors import PolicyError
from streams.core.records import (
    Classification,
    DmarcPolicy,
    MailAuthentication,
    SenderDomains,
    SendKind,
    SendRequest,
)
from streams.core.settings import Settings
from streams.policy import Policy, load_policy
from streams.rules.base import RecipientView, Rule
from streams.rules.content import ACCOUNT_STATE_RULES, CONTENT_RULES
from streams.rules.misuse import TRANSACTIONAL_MISUSE

__all__ = [
    "CHECKED_RULES",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "Outcome",
    "RuleOutcome",
    "check",
    "check_document",
    "misuse_document",
    "run_content_rules",
]

EXIT_FAILED = 1
"""A rule failed: the gate would deny the send."""
EXIT_USAGE = 2
"""Bad arguments, or a file that cannot be checked."""

Outcome = Literal["pass", "fail", "not_checked"]
_SHOWN: dict[Outcome, str] = {
    "pass": "[green]pass[/]",
    "fail": "[bold red]FAIL[/]",
    "not_checked": "[yellow]not checked[/]",
}
_NEEDS_DOMAINS = (
    "needs the account's verified sending domains, which a file does not say: give them with "
    "--verified-domain"
)
_NEEDS_DMARC = (
    "needs the From domain's DMARC policy, which DNS says and a file does not: give it with "
    "--dmarc-policy"
)
_NEEDS_AUTHENTICATION = (
    "needs the DKIM and SPF facts of the message as the mailer sends it, and this file has no "
    "DKIM-Signature or Return-Path field: check a copy of a sent message, headers and all"
)
_TABLE_FRAME = 10
"""The report table's borders (4) and cell padding (2 for each of 3 columns)."""
_DESCRIPTION_MIN_WIDTH = 20
"""The narrowest the table's description column reads well at, beside whole rule names."""
_DMARC_POLICIES: tuple[DmarcPolicy, ...] = ("none", "quarantine", "reject")
_UNALIGNED_DOMAIN = "unaligned.sendgate-check.invalid"
"""A signer no From domain aligns with (`.invalid`, RFC 2606: no one's domain)."""
_SIGNED_BY_A_GOOD_MAILER = ("from", "subject", "list-unsubscribe", "list-unsubscribe-post")
_OPTIONS = {"account_id": "--account", "list_id": "--list", "jurisdiction": "--jurisdiction"}
"""The options behind the request's fields; its other fields come from the file, whose limits
`facts_from_message` already applied."""


CHECKED_RULES = (*CONTENT_RULES, TRANSACTIONAL_MISUSE)
"""What a message file can answer: every content rule, in table order, then the misuse rule."""


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """One rule's result on the template."""

    rule: Rule
    outcome: Outcome
    explanation: str | None
    """Why the rule failed (the explanation a decision would carry), or what it needs to be
    checked; None for a pass."""


def run_content_rules(
    request: SendRequest, view: RecipientView, policy: Policy
) -> tuple[RuleOutcome, ...]:
    """Every content rule on `request`, in table order, then the transactional-misuse rule (a
    message that sells, sent as transactional), each outcome only where the file decides it.

    Some facts a rule reads do not come from a template, and a rule that needs one the caller
    did not give is `not_checked`, never failed for want of it nor passed by default:
    - the account's verified domains (`view.sender_domains`): the rules in
      `ACCOUNT_STATE_RULES` are not run without them;
    - the From domain's DMARC policy (DNS data), when the request names none;
    - the DKIM and SPF facts, when the file carries neither (a template, not a sent message).
    For the last two the rule itself is asked: it is run on the request with every DMARC policy
    and with authentication aligned with the From domain and not (`_fillings`). It fails when it
    fails on all of them, passes when it passes on all, and is not checked otherwise. That stays
    right whichever rules read these facts, with no list of rule names to keep up to date.
    """
    fillings = _fillings(request)
    outcomes = []
    for rule in CHECKED_RULES:
        if rule.name in ACCOUNT_STATE_RULES and view.sender_domains is None:
            outcomes.append(RuleOutcome(rule, "not_checked", _NEEDS_DOMAINS))
            continue
        grid = [[rule.evaluate(filled, view, policy) is None for filled in row] for row in fillings]
        failure = rule.evaluate(request, view, policy)
        if all(all(row) for row in grid):
            outcomes.append(RuleOutcome(rule, "pass", None))
        elif failure is not None and not any(any(row) for row in grid):
            outcomes.append(RuleOutcome(rule, "fail", failure.explanation))
        else:
            needs = []
            if any(len(set(row)) > 1 for row in grid):
                needs.append(_NEEDS_DMARC)
            if any(len(set(column)) > 1 for column in zip(*grid, strict=True)):
                needs.append(_NEEDS_AUTHENTICATION)
            outcomes.append(RuleOutcome(rule, "not_checked", "; it also ".join(needs)))
    return tuple(outcomes)


def _fillings(request: SendRequest) -> tuple[tuple[SendRequest, ...], ...]:
    """The request with each value of the facts it lacks: rows vary the DKIM and SPF facts (the
    file's; when it has none, also a good mailer's, aligned with From and signing the list
    headers, and a bad one's), columns the DMARC policy (the request's; else none, and each
    policy). `[0][0]` is the request itself."""
    known = request.authentication or MailAuthentication()
    dmarcs = (known.dmarc_policy,) if known.dmarc_policy is not None else (None, *_DMARC_POLICIES)
    signers = [known]
    if not (known.dkim_domain or known.spf_domain):
        from_domain = parseaddr(request.from_address)[1].rpartition("@")[2].lower()
        signers += [
            MailAuthentication(
                dkim_domain=from_domain or _UNALIGNED_DOMAIN,
                dkim_signed_headers=_SIGNED_BY_A_GOOD_MAILER,
                spf_domain=from_domain or _UNALIGNED_DOMAIN,
            ),
            MailAuthentication(
                dkim_domain=_UNALIGNED_DOMAIN,
                dkim_signed_headers=("from",),
                spf_domain=_UNALIGNED_DOMAIN,
            ),
        ]
    return tuple(
        tuple(_with_authentication(request, signer, dmarc) for dmarc in dmarcs)
        for signer in signers
    )


def _with_authentication(
    request: SendRequest, signer: MailAuthentication, dmarc: DmarcPolicy | None
) -> SendRequest:
    facts = signer.model_copy(update={"dmarc_policy": dmarc})
    authentication = None if facts == MailAuthentication() else facts
    if authentication == request.authentication:
        return request
    return request.model_copy(update={"authentication": authentication})


def check(
    ctx: typer.Context,
    template: Annotated[
        Path,
        typer.Argument(
            help="The message file: RFC 5322 with its MIME parts (.eml), as the mailer would "
            "send it.",
            metavar="TEMPLATE",
            show_default=False,
        ),
    ],
    classification: Annotated[
        Classification,
        typer.Option(
            "--classification",
            help="What the send request will say the message is.",
            show_default=False,
        ),
    ],
    jurisdiction: Annotated[
        str | None,
        typer.Option(
            "--jurisdiction",
            help="The recipients' country, ISO 3166-1 alpha-2 (CA, US, DE, ...): rules that "
            "apply in one country only run for it.",
            metavar="CC",
            show_default=False,
        ),
    ] = None,
    send_kind: Annotated[
        SendKind, typer.Option("--send-kind", help="How the message will be sent.")
    ] = "bulk",
    account: Annotated[
        str, typer.Option("--account", help="The sending account the request names.")
    ] = "template-check",
    list_id: Annotated[
        str | None,
        typer.Option("--list", help="The list the message goes to.", metavar="LIST"),
    ] = None,
    verified_domains: Annotated[
        list[str] | None,
        typer.Option(
            "--verified-domain",
            help="A sending domain verified for the account (repeat for several). Without "
            "any, the rules that need them are reported as not checked.",
            metavar="DOMAIN",
            show_default=False,
        ),
    ] = None,
    dmarc_policy: Annotated[
        DmarcPolicy | None,
        typer.Option(
            "--dmarc-policy",
            help="The From domain's published DMARC policy (DNS says it; a file does not).",
            show_default=False,
        ),
    ] = None,
    policy_file: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="The policy file (default: the gate's configured policy, else the packaged one).",
            metavar="PATH",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document instead of the table.")
    ] = False,
) -> None:
    """Run the content rules on a message file and say which pass and which fail, and why.

    Test a template before sending it: exit 0 when every rule that could be checked passes,
    1 when any fails (the gate would deny the send), 2 when the arguments or the file are bad.
    """
    settings = ctx.ensure_object(Settings)
    country = _jurisdiction(jurisdiction)
    requested_at = SystemClock().now()
    domains = _verified_domains(verified_domains, requested_at)
    try:
        policy = load_policy(policy_file or settings.policy_file)
    except PolicyError as error:
        _usage_error(str(error))
    facts = _read_facts(template)
    try:
        request = request_from_facts(
            facts,
            account_id=account,
            classification=classification,
            jurisdiction=country,
            send_kind=send_kind,
            list_id=list_id,
            requested_at=requested_at,
            dmarc_policy=dmarc_policy,
        )
    except ValidationError as error:
        raise bad_parameter(error, _OPTIONS) from None
    view = RecipientView(at=requested_at, sender_domains=domains)
    outcomes = run_content_rules(request, view, policy)
    if as_json:
        document = check_document(str(template), request, facts, outcomes, policy)
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        _print_report(str(template), request, facts, outcomes, policy)
    if any(outcome.outcome == "fail" for outcome in outcomes):
        raise typer.Exit(EXIT_FAILED)


# --- arguments ------------------------------------------------------------------------------------


def _jurisdiction(code: str | None) -> str | None:
    if code is None:
        return None
    wanted = code.strip().upper()
    if len(wanted) != 2 or not wanted.isalpha() or pycountry.countries.get(alpha_2=wanted) is None:
        raise typer.BadParameter(
            f"{code!r} is not an ISO 3166-1 alpha-2 country code (CA, US, DE, ...)",
            param_hint="--jurisdiction",
        )
    return wanted


def _verified_domains(domains: list[str] | None, at: datetime) -> frozenset[str] | None:
    """The domains as the gate keeps them (`SenderDomains`: lower-case IDNA, no root dot)."""
    if not domains:
        return None
    try:
        record = SenderDomains(
            account_id="template-check", domains=tuple(domains), changed_at=at, source="check"
        )
    except ValidationError as error:
        raise typer.BadParameter(first_problem(error), param_hint="--verified-domain") from None
    return frozenset(record.domains)


def _read_facts(template: Path) -> MessageFacts:
    try:
        raw = template.read_bytes()
    except OSError as error:
        _usage_error(f"cannot read {template}: {why_unreadable(error)}")
    try:
        return facts_from_message(raw)
    except UnreadableMessageError as error:
        _usage_error(f"{template} is not an email message sendgate can check: {error}")


def _usage_error(message: str) -> NoReturn:
    """One red line on stderr and exit 2: the caller can fix this, a traceback would not help."""
    Console(stderr=True, soft_wrap=True, highlight=False).print(
        f"[bold red]error:[/] [red]{escape(message)}[/]"
    )
    raise typer.Exit(EXIT_USAGE)


# --- output ---------------------------------------------------------------------------------------


def _counts(outcomes: tuple[RuleOutcome, ...]) -> dict[Outcome, int]:
    counts: dict[Outcome, int] = {"pass": 0, "fail": 0, "not_checked": 0}
    for outcome in outcomes:
        counts[outcome.outcome] += 1
    return counts


def _summary(outcomes: tuple[RuleOutcome, ...]) -> str:
    counts = _counts(outcomes)
    total = len(outcomes)
    parts = [f"{counts['fail']} of {total} rules failed", f"{counts['pass']} passed"]
    if counts["not_checked"]:
        parts.append(f"{counts['not_checked']} not checked (the table says what they need)")
    verdict = "the gate would deny this send" if counts["fail"] else "no rule failed"
    return f"{', '.join(parts)}: {verdict}."


def _print_report(
    file: str,
    request: SendRequest,
    facts: MessageFacts,
    outcomes: tuple[RuleOutcome, ...],
    policy: Policy,
) -> None:
    console = stdout_console(highlight=False)
    where = f" to a recipient in {request.jurisdiction}" if request.jurisdiction else ""
    print_wrapped(
        console,
        f"Checked {escape(file)} as a {request.classification} {request.send_kind} send{where} "
        f"under policy {escape(policy.policy_version)}.",
    )
    console.print(f"  From:    {escape(facts.from_address)}")
    console.print(f"  Subject: {escape(facts.subject)}")
    for warning in facts.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    # One row per rule, short enough for a terminal; what failed (or could not be checked) is
    # then spelled out below with its law, as a support agent would paste it. Nothing is cut:
    # where the description keeps a readable width beside them (80 columns do) the rule names
    # keep their whole length, one line each; narrower, they break after a hyphen (`NameCell`).
    longest = max(cell_len(outcome.rule.name) for outcome in outcomes)
    room = console.width - longest - cell_len("not checked") - _TABLE_FRAME
    table = Table()
    table.add_column("rule", no_wrap=room >= _DESCRIPTION_MIN_WIDTH)
    table.add_column("outcome", overflow="fold")
    table.add_column("fails when", overflow="fold")
    for outcome in outcomes:
        table.add_row(
            NameCell(outcome.rule.name),
            _SHOWN[outcome.outcome],
            escape(outcome.rule.description),
            style="dim" if outcome.outcome == "pass" else None,
        )
    console.print(table)
    for outcome in outcomes:
        if outcome.outcome == "pass":
            continue
        style = "bold red" if outcome.outcome == "fail" else "bold yellow"
        console.print(f"[{style}]{escape(outcome.rule.name)}[/]: {_SHOWN[outcome.outcome]}")
        print_wrapped(console, escape(outcome.explanation or ""), indent=2)
        print_wrapped(console, f"[dim]law: {escape(outcome.rule.law)}[/]", indent=2)
    if request.classification == "transactional":
        misuse = misuse_document(request, policy)
        signals = ", ".join(signal["label"] for signal in misuse["signals"]) or "none"
        print_wrapped(
            console,
            f"Marketing signals (transactional-misuse): score {misuse['score']} of the "
            f"{misuse['threshold']} that make it marketing; {escape(signals)}.",
        )
    style = "bold red" if _counts(outcomes)["fail"] else "bold"
    print_wrapped(console, f"[{style}]{escape(_summary(outcomes))}[/]")


def misuse_document(request: SendRequest, policy: Policy) -> dict[str, Any]:
    """What the marketing detector read in the message (`streams.content.misuse`): the score,
    the threshold at which transactional mail counts as marketing, and each signal with the
    words that showed it. The transactional-misuse rule judges transactional mail only."""
    assessment = assess_misuse(request.subject, request.body, policy.misuse)
    return {
        "applies": request.classification == "transactional" and not request.commercial,
        "score": assessment.score,
        "threshold": assessment.threshold,
        "signals": [
            {
                "name": signal.name,
                "label": signal.label,
                "weight": signal.weight,
                "evidence": list(signal.evidence),
            }
            for signal in assessment.signals
        ],
    }


def check_document(
    file: str,
    request: SendRequest,
    facts: MessageFacts,
    outcomes: tuple[RuleOutcome, ...],
    policy: Policy,
) -> dict[str, Any]:
    """The report as JSON-ready values: the request as checked, the facts read, each rule."""
    counts = _counts(outcomes)
    return {
        "file": file,
        "policy_version": policy.policy_version,
        "request": {
            "account_id": request.account_id,
            "list_id": request.list_id,
            "classification": request.classification,
            "jurisdiction": request.jurisdiction,
            "send_kind": request.send_kind,
        },
        "facts": facts.model_dump(mode="json", exclude={"warnings"}),
        "warnings": list(facts.warnings),
        "misuse": misuse_document(request, policy),
        "rules": [
            {
                "rule": outcome.rule.name,
                "law": outcome.rule.law,
                "description": outcome.rule.description,
                "outcome": outcome.outcome,
                "explanation": outcome.explanation,
            }
            for outcome in outcomes
        ],
        "summary": {
            "passed": counts["pass"],
            "failed": counts["fail"],
            "not_checked": counts["not_checked"],
            "exit_code": EXIT_FAILED if counts["fail"] else 0,
        },
    }
