"""`verify` and `what_if`: the two replays over a time range, as the CLI and notebooks call them.

Both read the range's recorded sends (`streams.replay.recorded`) and decide each again on the
state its decision recorded (`streams.replay.redecide`); `verify` by the decision's own policy
(found by version in a `PolicyBook`), `what_if` by the policy the analyst gives. Neither writes
anything to Kafka or to a table; the rows go to the caller (and from the CLI to a file).
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from streams.core.codec import Codec
from streams.core.errors import SendgateError
from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.policy import Policy
from streams.replay.policies import PolicyBook
from streams.replay.recorded import (
    NotReplayed,
    ReadProgress,
    RecordedSend,
    ReplayScope,
    recorded_sends,
)
from streams.replay.redecide import (
    FieldDifference,
    Unavailable,
    decide_again,
    differences,
    same_decision,
    view_of,
)
from streams.replay.whatif import WhatIfRow, WhatIfTally, stateful_changes, what_if_row
from streams.rules import judge
from streams.rules.memo import ContentFindings
from streams.rules.step import Signing
from streams.sending.signing_keys import read_verp_keys
from streams.sending.unsubscribe_tokens import UnsubscribeTokens
from streams.sending.verp import VerpSigner
from streams.topics import default_codec

__all__ = [
    "Mismatch",
    "VerifyReport",
    "WhatIfReport",
    "replay_signing",
    "verify",
    "what_if",
    "what_if_rows",
]


def replay_signing(settings: Settings, policy: Policy) -> Signing | None:
    """The platform's signing keys as the gate uses them, read (never made: a replay that made
    a key file would sign nothing the gate signed); None when the key files are not here."""
    try:
        verp_keys, verp_current = read_verp_keys(settings.verp_keys_path)
        token_keys, token_current = read_verp_keys(settings.unsubscribe_keys_path, "unsubscribe")
    except SendgateError:
        return None
    return Signing(
        verp=VerpSigner(verp_keys, verp_current, settings.bounce_domain),
        tokens=UnsubscribeTokens(token_keys, token_current, valid_for=_token_validity(policy)),
        unsubscribe_base_url=settings.unsubscribe_base_url,
        bounce_domain=settings.bounce_domain,
    )


def replay_keyer(settings: Settings) -> RecipientKeyer | None:
    """The platform's recipient keyer, when its secret is here (read, never made)."""
    try:
        return RecipientKeyer(settings.recipient_secret())
    except SendgateError:
        return None


def _stand_in_signing(settings: Settings, policy: Policy) -> Signing:
    """Throwaway keys for a replay without the platform's: what they sign is not compared."""
    key = {1: secrets.token_bytes(32)}
    return Signing(
        verp=VerpSigner(key, 1, settings.bounce_domain),
        tokens=UnsubscribeTokens(key, 1, valid_for=_token_validity(policy)),
        unsubscribe_base_url=settings.unsubscribe_base_url,
        bounce_domain=settings.bounce_domain,
    )


def _token_validity(policy: Policy) -> timedelta:
    return timedelta(days=policy.unsubscribe.token_valid_days)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A decision that came out different when made again: a bug in the gate."""

    recorded: SendDecision
    replayed: dict[str, Any]
    differences: tuple[FieldDifference, ...]


@dataclass
class VerifyReport:
    """What a verify found; `ok` only when every request of the range was decided again and
    every decision came out the same."""

    requests: int = 0
    decisions: int = 0
    matched: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    not_replayed: list[NotReplayed] = field(default_factory=list)
    set_aside: list[NotReplayed] = field(default_factory=list)
    """Requests the gate sets aside as dead letters and that the replay finds invalid too (with
    no decision recorded): the same outcome, so no failure."""
    signed_compared: bool = True
    seconds: float = 0.0

    @property
    def not_replayed_by_kind(self) -> Counter[str]:
        return Counter(item.kind for item in self.not_replayed)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.not_replayed

    @property
    def per_second(self) -> float:
        return self.decisions / self.seconds if self.seconds > 0 else 0.0


async def verify(
    settings: Settings,
    scope: ReplayScope,
    policies: PolicyBook,
    *,
    codec: Codec | None = None,
    partitions: Collection[int] | None = None,
    on_progress: ReadProgress | None = None,
    on_decided: Callable[[int], None] | None = None,
    max_mismatches_kept: int = 1000,
) -> VerifyReport:
    """Decide every recorded send of `scope` again by its own policy and compare (`partitions`:
    only these; `on_decided`: told how many decisions are done, every thousand)."""
    codec = codec or default_codec()
    report = VerifyReport()
    signings: dict[str, tuple[Signing, bool]] = {}
    seen_requests: set[str] = set()
    content = ContentFindings()
    started = time.perf_counter()
    async for item in recorded_sends(
        settings,
        scope,
        codec=codec,
        keyer=replay_keyer(settings),
        partitions=partitions,
        on_progress=on_progress,
    ):
        if on_decided is not None and report.decisions % 1000 == 0:
            on_decided(report.decisions)
        if isinstance(item, NotReplayed):
            report.requests += 1
            if item.kind == "invalid-request":
                report.set_aside.append(item)
            else:
                report.not_replayed.append(item)
            continue
        decision = item.decision
        if decision.request_offset not in seen_requests:
            seen_requests.add(decision.request_offset)
            report.requests += 1
        report.decisions += 1
        policy = policies.get(decision.policy_version)
        if policy is None:
            report.not_replayed.append(_not_replayed(item, "no-policy", _no_policy(decision)))
            continue
        if decision.policy_version not in signings:
            real = replay_signing(settings, policy)
            signings[decision.policy_version] = (
                (real, True) if real is not None else (_stand_in_signing(settings, policy), False)
            )
        signing, signed = signings[decision.policy_version]
        report.signed_compared = report.signed_compared and signed
        outcome = decide_again(
            item.request, decision, policy, codec=codec, signing=signing, content=content
        )
        if isinstance(outcome, Unavailable):
            report.not_replayed.append(_not_replayed(item, "no-inputs", outcome.reason))
            continue
        if signed and same_decision(item.value, outcome.decision, codec=codec):
            report.matched += 1
            continue
        found = differences(decision, outcome.decision, compare_signed=signed)
        if not found:
            report.matched += 1
        elif len(report.mismatches) < max_mismatches_kept:
            report.mismatches.append(Mismatch(decision, outcome.decision, found))
        else:
            report.mismatches.append(Mismatch(decision, {}, found))
    report.seconds = time.perf_counter() - started
    if on_decided is not None:
        on_decided(report.decisions)
    return report


def merged(reports: Iterable[VerifyReport], seconds: float) -> VerifyReport:
    """One report of several partitions' (`seconds`: the wall time of them all)."""
    whole = VerifyReport(seconds=seconds)
    for part in reports:
        whole.requests += part.requests
        whole.decisions += part.decisions
        whole.matched += part.matched
        whole.mismatches += part.mismatches
        whole.not_replayed += part.not_replayed
        whole.set_aside += part.set_aside
        whole.signed_compared = whole.signed_compared and part.signed_compared
    return whole


def _no_policy(decision: SendDecision) -> str:
    return (
        f"its policy {decision.policy_version} is not among the policy files given "
        "(name its file or folder with --policies)"
    )


def _not_replayed(item: RecordedSend, kind: Any, reason: str) -> NotReplayed:
    return NotReplayed(
        item.decision.request_offset,
        kind,
        reason,
        item.decision.request_id,
        item.decision.account_id,
    )


@dataclass
class WhatIfReport:
    """The tallies of a what-if, and what could not be decided again."""

    tally: WhatIfTally
    not_replayed: list[NotReplayed] = field(default_factory=list)
    set_aside: list[NotReplayed] = field(default_factory=list)
    """Requests the gate set aside as dead letters (no decision to compare)."""
    notes: list[str] = field(default_factory=list)
    """What the what-if cannot show about the new policy (`stateful_changes`)."""
    policy_version: str = ""
    seconds: float = 0.0


async def what_if_rows(
    settings: Settings,
    scope: ReplayScope,
    policy: Policy,
    report: WhatIfReport,
    *,
    codec: Codec | None = None,
    recorded_policies: PolicyBook | None = None,
    on_progress: ReadProgress | None = None,
) -> AsyncIterator[WhatIfRow]:
    """Each recorded decision of `scope` beside `policy`'s, as rows; `report` is filled as the
    rows go (a request decided twice counts once: its first decision)."""
    codec = codec or default_codec()
    report.policy_version = policy.policy_version
    seen: set[str] = set()
    content = ContentFindings()
    started = time.perf_counter()
    async for item in recorded_sends(
        settings, scope, codec=codec, keyer=replay_keyer(settings), on_progress=on_progress
    ):
        if isinstance(item, NotReplayed):
            (report.set_aside if item.kind == "invalid-request" else report.not_replayed).append(
                item
            )
            continue
        if item.decision.request_offset in seen:
            continue
        seen.add(item.decision.request_offset)
        view = view_of(item.decision, codec)
        if isinstance(view, Unavailable):
            report.not_replayed.append(_not_replayed(item, "no-inputs", view.reason))
            continue
        judgement = judge(item.request, view, policy, at=item.decision.decided_at, content=content)
        row = what_if_row(item.request, item.decision, judgement, policy.policy_version)
        report.tally.add(row)
        yield row
    report.seconds = time.perf_counter() - started
    if recorded_policies is not None:
        known = [recorded_policies.get(version) for version in report.tally.policies_before]
        report.notes = stateful_changes(policy, [old for old in known if old is not None])


async def what_if(
    settings: Settings,
    scope: ReplayScope,
    policy: Policy,
    *,
    sample_size: int = 10,
    on_row: Callable[[WhatIfRow], None] | None = None,
    recorded_policies: PolicyBook | None = None,
    on_progress: ReadProgress | None = None,
) -> WhatIfReport:
    """The whole what-if; each row also goes to `on_row` (a file writer) when given."""
    report = WhatIfReport(WhatIfTally(sample_size=sample_size))
    async for row in what_if_rows(
        settings,
        scope,
        policy,
        report,
        recorded_policies=recorded_policies,
        on_progress=on_progress,
    ):
        if on_row is not None:
            on_row(row)
    return report
