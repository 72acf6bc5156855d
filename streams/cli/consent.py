"""`sendgate consent ...`: prove from the ledger what a person agreed to, and when.

`sendgate consent proof ADDRESS --account A` shows the person's consent history for the account as
the ledger stored it, whether the stored chain of their consent events verifies, and whether bulk
commercial mail from the account was permitted at a given time (default now), with the reasons in
the gate's own words (`streams.edges.ledger.proof`). `--json` prints the same as one JSON document,
every stored column included (IP address and user agent too: they are part of the proof, until
the person's data is erased; an erased row shows as erased, with the date, and still counts).

The address is turned into the recipient key with the platform secret, as the producer does; it
appears in the command's own output (the header, the JSON's `address`), never in a log line.

Exit codes: 0 the chain verifies (whatever the verdict: a proof that consent was missing is still
a proof); 1 the chain does not verify (a row was edited, deleted or moved; the output says where);
2 a usage error, or a sendgate error such as an unreachable database or a missing secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streams.cli.options import JsonOption, LedgerUrlOption, parse_time, require_text
from streams.cli.terminal import stdout_console, utc_text
from streams.core.clock import SystemClock
from streams.core.recipient import RecipientKeyer, is_valid_address
from streams.core.settings import Settings
from streams.edges.ledger.engine import make_engine
from streams.edges.ledger.proof import ConsentProof, ProofLine, prove_consent
from streams.policy import load_policy

__all__ = ["EXIT_CHAIN_BROKEN", "app", "proof_document", "render_proof"]

EXIT_CHAIN_BROKEN = 1

app = typer.Typer(help="Consent: the proof of what a person agreed to.", no_args_is_help=True)


@app.command()
def proof(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="The person's email address.", show_default=False)],
    account: Annotated[
        str, typer.Option("--account", help="The sending account.", show_default=False)
    ],
    list_id: Annotated[
        str | None,
        typer.Option(
            "--list", help="The list the mail would go to (default: none, the account as a whole)."
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", help="The time to judge, ISO-8601 with offset (default: now).", metavar="TIME"
        ),
    ] = None,
    as_json: JsonOption = False,
    database_url: LedgerUrlOption = None,
) -> None:
    """Show the consent history of ADDRESS for an account, whether its stored chain verifies,
    and whether bulk commercial mail was permitted at --at. Exit 0 when the chain verifies, 1
    when it does not, 2 on usage errors."""
    settings = ctx.ensure_object(Settings)
    require_text(account, "--account")
    require_text(list_id, "--list")
    moment = parse_time(at) if at is not None else SystemClock().now()
    if not is_valid_address(address):
        Console(stderr=True).print(
            "[yellow]warning:[/] not a valid address; keyed on its trimmed, lower-cased text"
        )
    recipient_key = RecipientKeyer(settings.recipient_secret()).key(address)
    policy = load_policy(settings.policy_file)
    engine = make_engine(database_url or settings.database_url.get_secret_value())
    try:
        result = prove_consent(
            engine, recipient_key, account, list_id=list_id, at=moment, policy=policy
        )
    finally:
        engine.dispose()
    render_proof(result, address, as_json=as_json, console=stdout_console())
    if not result.chain.verified:
        raise typer.Exit(EXIT_CHAIN_BROKEN)


# --- output ---------------------------------------------------------------------------------------


def render_proof(proof: ConsentProof, address: str, *, as_json: bool, console: Console) -> None:
    """Print the proof: one JSON document, or a header, the history table and the two verdicts."""
    if as_json:
        console.file.write(json.dumps(proof_document(proof, address), indent=2) + "\n")
        return
    scope = f"account {proof.account_id}" + (f", list {proof.list_id}" if proof.list_id else "")
    console.print(f"[bold]Consent proof for {escape(address)}[/] ({escape(scope)})")
    console.print(f"recipient key {proof.recipient_key}; policy {escape(proof.policy_version)}")
    if proof.empty:
        console.print(
            "The ledger holds no consent event and no suppression change for this recipient."
        )
    elif not proof.history:
        console.print(
            f"No consent event or opt-out for account {escape(proof.account_id)}; the recipient "
            f"has {proof.consent_events} consent event(s) and {proof.suppression_changes} "
            "suppression change(s) for other accounts."
        )
    else:
        console.print(_history_table(proof))
    verdict = proof.verdict
    word = "[green]PERMITTED[/]" if verdict.permitted else "[red]NOT PERMITTED[/]"
    console.print(f"At {utc_text(proof.at)}: bulk commercial mail {word}.")
    console.print(escape(verdict.explanation))
    for failure in verdict.failures:
        console.print(f"  - {escape(failure.rule)} ({escape(failure.law)})")
    chain = proof.chain
    if chain.verified:
        head = f", head {chain.head_hash}" if chain.head_hash else ""
        console.print(f"Chain: [green]verified[/] ({chain.entries} entries{head}).")
        if chain.erased:
            console.print(
                f"Erased: entries {_seqs(chain.erased)} (the person's IP address, user agent and "
                "source id are gone; the rest of each entry is still checked against its hash)."
            )
        if chain.unchecked:
            console.print(
                f"Entries {_seqs(chain.unchecked)} were stored before the chain's commitment "
                "format and then erased: their own contents can no longer be checked (the ledger "
                "checked them just before erasing); their place and links still are."
            )
    else:
        console.print(
            f"Chain: [red]BROKEN at entry {chain.first_bad_seq}[/] of {chain.entries} "
            f"({chain.problem}): {escape(chain.explanation)}"
        )


def _seqs(seqs: tuple[int, ...]) -> str:
    return ", ".join(str(seq) for seq in seqs)


def _history_table(proof: ConsentProof) -> Table:
    table = Table(title=f"history ({len(proof.history)} rows; dim: after {utc_text(proof.at)})")
    table.add_column("time (UTC)", no_wrap=True)
    for column in ("event", "lists", "basis", "status after", "outcome", "source", "wording"):
        table.add_column(column, overflow="fold")
    table.add_column("seq", justify="right", no_wrap=True)
    for line in proof.history:
        cells = (
            line.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            line.event,
            ", ".join(line.lists) or ("all" if line.account_id else "all accounts"),
            line.basis or "",
            line.status_after or "none",
            line.outcome,
            line.source,
            line.wording_version or "",
            "" if line.chain_seq is None else str(line.chain_seq),
        )
        table.add_row(*map(escape, cells), style=None if line.counted else "dim")
    return table


def proof_document(proof: ConsentProof, address: str) -> dict[str, Any]:
    """The proof as JSON-ready values: times as ISO-8601 UTC with milliseconds."""
    verdict, chain = proof.verdict, proof.chain
    return {
        "address": address,
        "recipient_key": proof.recipient_key,
        "account_id": proof.account_id,
        "list_id": proof.list_id,
        "at": utc_text(proof.at),
        "policy_version": proof.policy_version,
        "stored": {
            "consent_events": proof.consent_events,
            "suppression_changes": proof.suppression_changes,
        },
        "verdict": {
            "bulk_commercial_permitted": verdict.permitted,
            "explanation": verdict.explanation,
            "jurisdiction": verdict.jurisdiction,
            "regimes": list(verdict.regimes),
            "failures": [failure.model_dump(mode="json") for failure in verdict.failures],
            "consent": verdict.entry.model_dump(mode="json") if verdict.entry else None,
        },
        "chain": {
            "verified": chain.verified,
            "entries": chain.entries,
            "head_hash": chain.head_hash,
            "first_bad_seq": chain.first_bad_seq,
            "problem": chain.problem,
            "explanation": chain.explanation,
            "erased": list(chain.erased),
            "unchecked": list(chain.unchecked),
        },
        "history": [_line_document(line) for line in proof.history],
    }


def _line_document(line: ProofLine) -> dict[str, Any]:
    return {
        "at": utc_text(line.at),
        "event": line.event,
        "account_id": line.account_id,
        "lists": list(line.lists),
        "basis": line.basis,
        "status_after": line.status_after,
        "outcome": line.outcome,
        "source": line.source,
        "wording_version": line.wording_version,
        "chain_seq": line.chain_seq,
        "counted": line.counted,
        "erased_at": utc_text(line.erased_at) if line.erased_at else None,
        "stored": _jsonable(line.stored),
    }


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: utc_text(value) if isinstance(value, datetime) else value
        for name, value in row.items()
    }
