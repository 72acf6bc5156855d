"""Proof of consent: a recipient's stored history, its chain checked and folded again.

`prove_consent` reads one recipient's rows from the ledger (two indexed queries: the whole
consent chain, which verification needs, and the suppression changes); `build_proof`, pure, does
the rest:
- `verify_chain` on every consent event of the recipient, whatever the account;
- the history: consent events and suppression changes in event time (consent events with equal
  times in chain order, then the suppression changes), folded with `streams.consent.fold` as the
  consent keeper folds them (a suppression change counts as the opt-out it records);
- the verdict at `at`: the state folded from what happened up to then, judged by the gate's own
  consent rules for a bulk commercial message of the account (and list) under the jurisdiction
  the consent was given in. So the proof and the gate cannot disagree about what the rules say.

The history shown is the account's (its consent events and opt-outs, plus platform-wide
opt-outs); the fold uses every row, so a platform-wide opt-out made through another account
still counts. A row that no longer reads as a valid record (edited by hand, say) is listed as
unreadable and not folded; the chain verdict says whether the rows can be trusted at all.

A consent event whose person's data was erased is still folded: what it did to the consent
(its kind, account, lists, basis, time) is kept, only where and how it was given (IP address,
user agent, source id) is gone, and the line says when (`ProofLine.erased_at`). The chain still
verifies over it (`streams.edges.ledger.chain`: the hash covers a commitment to those fields).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from streams.consent.fold import apply_consent_event, apply_opt_out
from streams.consent.lookup import consent_for
from streams.core.errors import SendgateError
from streams.core.records import (
    ConsentEntry,
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    RuleFailure,
    SendRequest,
    UnsubscribeClick,
    UnsubscribeMethod,
)
from streams.edges.ledger.chain import ChainVerdict, verify_chain
from streams.edges.ledger.models import ConsentEventRow, SuppressionChangeRow, metadata
from streams.policy import Policy, Regime
from streams.privacy.erasure import ERASED_SOURCE_ID
from streams.rules import RULES, RecipientView
from streams.rules.consent import CONSENT_RULES

__all__ = ["ConsentProof", "ProofLine", "ProofVerdict", "build_proof", "prove_consent"]

_CONSENT_EVENTS = metadata.tables[ConsentEventRow.__tablename__]
_SUPPRESSION_CHANGES = metadata.tables[SuppressionChangeRow.__tablename__]
_CONSENT_RULES = tuple(rule for rule in RULES if rule in CONSENT_RULES)
"""The gate's consent rules, in the rule table's order."""
_EVENT_FIELDS = tuple(ConsentEvent.model_fields)
_STORED_METHOD: UnsubscribeMethod = "manual"
"""`suppression_changes` does not keep how the person opted out; `apply_opt_out` does not ask."""
_PROOF_REQUEST_ID = "consent-proof"
_PROOF_ADDRESS = "recipient@proof.invalid"
"""The consent rules never read the request's addresses; the proof does not pass the real one."""


@dataclass(frozen=True, slots=True)
class ProofLine:
    """One stored row of the history, and the status it left the consent at."""

    at: datetime
    event: str
    """The consent event's kind, or `opt_out (<reason>)` for a suppression change."""
    account_id: str | None
    """None for a platform-wide opt-out (it reaches every account)."""
    lists: tuple[str, ...]
    """The lists the row is about; none: all of the account's mail."""
    basis: str | None
    status_after: ConsentStatus | None
    """The status of the consent at the row's own scope after it, else of the consent that
    speaks for the proof's account and list; None when there is none."""
    outcome: str
    """What the fold did (`granted`, `kept_withdrawal`, ...), a suppression change's recorded
    outcome, or `unreadable` for a row that is no longer a valid record."""
    source: str
    wording_version: str | None
    chain_seq: int | None
    """The entry's place in the recipient's chain; None for suppression changes (not chained)."""
    counted: bool
    """Whether the row happened by the proof's time, and so counts for the verdict."""
    stored: Mapping[str, Any]
    """Every column of the ledger row, as stored."""
    erased_at: datetime | None = None
    """When the person's data in the row was erased (a consent event's IP address, user agent
    and source id); None while it is kept, and for suppression changes, which hold none."""


@dataclass(frozen=True, slots=True)
class ProofVerdict:
    """Whether bulk commercial mail from the account (to the list) was permitted, and why."""

    permitted: bool
    entry: ConsentEntry | None
    """The consent that spoke for the message at the time (`consent_for`), if any."""
    jurisdiction: str | None
    regimes: tuple[Regime, ...]
    failures: tuple[RuleFailure, ...]
    """Each consent rule the message would have failed, in the rule table's order."""
    explanation: str


@dataclass(frozen=True, slots=True)
class ConsentProof:
    """Everything `sendgate consent proof` shows or exports."""

    recipient_key: str
    account_id: str
    list_id: str | None
    at: datetime
    policy_version: str
    consent_events: int
    """The recipient's stored consent events, for every account."""
    suppression_changes: int
    """The recipient's stored suppression changes, for every account."""
    history: tuple[ProofLine, ...]
    chain: ChainVerdict
    verdict: ProofVerdict

    @property
    def empty(self) -> bool:
        """Whether the ledger holds nothing at all about the recipient."""
        return not (self.consent_events or self.suppression_changes)


def prove_consent(
    engine: Engine,
    recipient_key: str,
    account_id: str,
    *,
    list_id: str | None = None,
    at: datetime,
    policy: Policy,
) -> ConsentProof:
    """Read the recipient's rows from the ledger and build the proof (`build_proof`)."""
    consent_query = (
        select(_CONSENT_EVENTS)
        .where(_CONSENT_EVENTS.c.recipient_key == recipient_key)
        .order_by(_CONSENT_EVENTS.c.chain_seq)
    )
    suppression_query = (
        select(_SUPPRESSION_CHANGES)
        .where(_SUPPRESSION_CHANGES.c.recipient_key == recipient_key)
        .order_by(_SUPPRESSION_CHANGES.c.since, _SUPPRESSION_CHANGES.c.id)
    )
    with engine.connect() as connection:
        try:
            consent_rows = connection.execute(consent_query).mappings().all()
            suppression_rows = connection.execute(suppression_query).mappings().all()
        except (ProgrammingError, OperationalError):
            connection.rollback()
            if not inspect(connection).has_table(_CONSENT_EVENTS.name):
                raise SendgateError(
                    "the ledger has no consent_events table yet: run `sendgate ledger migrate` "
                    "(or `sendgate ledger run`, which migrates first)"
                ) from None
            raise
    return build_proof(
        [dict(row) for row in consent_rows],
        [dict(row) for row in suppression_rows],
        recipient_key=recipient_key,
        account_id=account_id,
        list_id=list_id,
        at=at,
        policy=policy,
    )


def build_proof(
    consent_rows: Sequence[Mapping[str, Any]],
    suppression_rows: Sequence[Mapping[str, Any]],
    *,
    recipient_key: str,
    account_id: str,
    list_id: str | None,
    at: datetime,
    policy: Policy,
) -> ConsentProof:
    """The proof from one recipient's stored rows (all of them, for every account)."""
    chain = verify_chain(consent_rows)
    steps = sorted(
        [(row["occurred_at"], 0, row["chain_seq"], "consent", row) for row in consent_rows]
        + [(row["since"], 1, row["id"], "opt_out", row) for row in suppression_rows],
        key=lambda step: step[:3],
    )
    state = ConsentState()
    state_at_time = state
    lines: list[ProofLine] = []
    for moment, _, _, kind, row in steps:
        if kind == "consent":
            state, line = _fold_consent(state, row, policy, account_id, list_id)
        else:
            state, line = _fold_opt_out(state, row, account_id, list_id)
        counted = moment <= at
        if counted:
            state_at_time = state
        if line.account_id == account_id or (kind == "opt_out" and row["scope"] == "platform"):
            lines.append(replace(line, counted=counted))
    return ConsentProof(
        recipient_key=recipient_key,
        account_id=account_id,
        list_id=list_id,
        at=at,
        policy_version=policy.policy_version,
        consent_events=len(consent_rows),
        suppression_changes=len(suppression_rows),
        history=tuple(lines),
        chain=chain,
        verdict=_verdict(state_at_time, account_id, list_id, at, policy),
    )


def _fold_consent(
    state: ConsentState,
    row: Mapping[str, Any],
    policy: Policy,
    account_id: str,
    list_id: str | None,
) -> tuple[ConsentState, ProofLine]:
    erased_at = row.get("erased_at")
    if erased_at is not None:
        source = f"{row['source_kind']} (source erased on {erased_at.date().isoformat()})"
    else:
        source = row["source_kind"] + (f" {row['source_id']}" if row["source_id"] else "")
    outcome: str
    event = _event_of(row)
    if event is None:
        outcome = "unreadable"
    else:
        fold = apply_consent_event(state, event, policy.consent)
        state, outcome = fold.state, fold.outcome
    lists = tuple(sorted(row["lists"] or ()))
    line = ProofLine(
        at=row["occurred_at"],
        event=row["kind"],
        account_id=row["account_id"],
        lists=lists,
        basis=row["basis"],
        status_after=_status_after(state, row["account_id"], lists, account_id, list_id),
        outcome=outcome,
        source=source,
        wording_version=row["wording_version"],
        chain_seq=row["chain_seq"],
        counted=True,
        stored=row,
        erased_at=erased_at,
    )
    return state, line


def _event_of(row: Mapping[str, Any]) -> ConsentEvent | None:
    """The stored row as the event it records; None if it no longer reads as one. An erased
    import or review lacks the source id its kind needs, and reads with a stand-in for it."""
    values = {name: row[name] for name in _EVENT_FIELDS}
    try:
        return ConsentEvent.model_validate(values)
    except ValidationError:
        if row.get("erased_at") is None or values["source_id"] is not None:
            return None
    try:
        return ConsentEvent.model_validate({**values, "source_id": ERASED_SOURCE_ID})
    except ValidationError:
        return None


def _fold_opt_out(
    state: ConsentState, row: Mapping[str, Any], account_id: str, list_id: str | None
) -> tuple[ConsentState, ProofLine]:
    outcome = row["outcome"]
    try:
        click = UnsubscribeClick(
            click_id=row["source_event_id"],
            recipient_key=row["recipient_key"],
            scope=row["scope"],
            account_id=row["account_id"],
            list_id=row["list_id"],
            method=_STORED_METHOD,
            reason=row["reason"],
            clicked_at=row["since"],
        )
    except ValidationError:
        outcome = "unreadable"
    else:
        state = apply_opt_out(state, click)
    lists = (row["list_id"],) if row["list_id"] else ()
    line = ProofLine(
        at=row["since"],
        event=f"opt_out ({row['reason']})",
        account_id=row["account_id"],
        lists=lists,
        basis=None,
        status_after=_status_after(state, row["account_id"], lists, account_id, list_id),
        outcome=outcome,
        source=row["source"],
        wording_version=None,
        chain_seq=None,
        counted=True,
        stored=row,
    )
    return state, line


def _status_after(
    state: ConsentState,
    row_account: str | None,
    row_lists: tuple[str, ...],
    account_id: str,
    list_id: str | None,
) -> ConsentStatus | None:
    exact = next(
        (entry for entry in state.entries if entry.scope() == (row_account, row_lists)), None
    )
    entry = exact or consent_for(state.entries, account_id, list_id)
    return entry.status if entry else None


def _verdict(
    state: ConsentState, account_id: str, list_id: str | None, at: datetime, policy: Policy
) -> ProofVerdict:
    entry = consent_for(state.entries, account_id, list_id)
    jurisdiction = entry.jurisdiction if entry else None
    request = SendRequest(
        request_id=_PROOF_REQUEST_ID,
        account_id=account_id,
        list_id=list_id,
        recipient=_PROOF_ADDRESS,
        jurisdiction=jurisdiction,
        classification="commercial",
        send_kind="bulk",
        from_address=_PROOF_ADDRESS,
        subject="",
        requested_at=at,
    )
    view = RecipientView(consents=state.entries, at=at)
    failures = tuple(
        failure
        for rule in _CONSENT_RULES
        if (failure := rule.evaluate(request, view, policy)) is not None
    )
    regimes = policy.consent.regimes_for(jurisdiction)
    return ProofVerdict(
        permitted=not failures,
        entry=entry,
        jurisdiction=jurisdiction,
        regimes=regimes,
        failures=failures,
        explanation=_explain(entry, failures, regimes, account_id, list_id),
    )


def _explain(
    entry: ConsentEntry | None,
    failures: tuple[RuleFailure, ...],
    regimes: tuple[Regime, ...],
    account_id: str,
    list_id: str | None,
) -> str:
    scope = f"list {list_id} of account {account_id}" if list_id else f"account {account_id}"
    if failures:
        return " ".join(failure.explanation for failure in failures)
    if entry is None:  # the status rule denies this; said here too in case a policy does not
        return f"No consent to mail from {scope} is on record."
    since = entry.confirmed_at or entry.granted_at
    when = (
        f" since {since.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}" if since else ""
    )
    basis = f", basis {entry.basis}" if entry.basis else ""
    laws = ", ".join(regimes)
    return (
        f"The recipient's consent to mail from {scope} had status {entry.status}{when}{basis}; "
        f"every consent rule passed ({laws})."
    )
